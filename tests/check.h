/* check.h: the whole test "framework": a test file is a program whose main calls RUN(fn) for each
 * test; CHECK* report file:line and the values, and the program exits non-zero if any failed.
 * ctest runs each program; no dependency beyond libc. */
#ifndef WEFT_TESTS_CHECK_H
#define WEFT_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static const char *check_current;

#define CHECK_FAIL_(...)                                                                          \
  do {                                                                                            \
    fprintf(stderr, "%s:%d: in %s: ", __FILE__, __LINE__, check_current ? check_current : "?");   \
    fprintf(stderr, __VA_ARGS__);                                                                 \
    fputc('\n', stderr);                                                                          \
    check_failures++;                                                                             \
  } while (0)

/* CHECK(cond): cond must hold. */
#define CHECK(cond)                                                                               \
  do {                                                                                            \
    if (!(cond)) CHECK_FAIL_("CHECK(%s) failed", #cond);                                          \
  } while (0)

/* CHECK_INT(a, b): a == b, both shown on failure. */
#define CHECK_INT(a, b)                                                                           \
  do {                                                                                            \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                               \
    if (check_a_ != check_b_) CHECK_FAIL_("%s == %s failed: %lld != %lld", #a, #b, check_a_, check_b_); \
  } while (0)

/* CHECK_STR(a, b): equal C strings (NULL only equals NULL). */
#define CHECK_STR(a, b)                                                                           \
  do {                                                                                            \
    const char *check_a_ = (a), *check_b_ = (b);                                                  \
    if (!check_a_ || !check_b_ ? check_a_ != check_b_ : strcmp(check_a_, check_b_) != 0)          \
      CHECK_FAIL_("%s == %s failed: \"%s\" != \"%s\"", #a, #b, check_a_ ? check_a_ : "(null)",    \
                  check_b_ ? check_b_ : "(null)");                                                \
  } while (0)

/* CHECK_MEM(p, n, q, m): the byte strings (p, n) and (q, m) are equal. */
#define CHECK_MEM(p, n, q, m)                                                                     \
  do {                                                                                            \
    size_t check_n_ = (n), check_m_ = (m);                                                        \
    if (check_n_ != check_m_ || memcmp((p), (q), check_n_) != 0)                                  \
      CHECK_FAIL_("%s (%zu bytes) != %s (%zu bytes)", #p, check_n_, #q, check_m_);                \
  } while (0)

/* REQUIRE(cond): like CHECK, but stops the test program at once (for setup that must work). */
#define REQUIRE(cond)                                                                             \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      CHECK_FAIL_("REQUIRE(%s) failed", #cond);                                                   \
      exit(1);                                                                                    \
    }                                                                                             \
  } while (0)

#define RUN(fn)                                                                                   \
  do {                                                                                            \
    int check_before_ = check_failures;                                                           \
    check_current = #fn;                                                                          \
    fn();                                                                                         \
    fprintf(stderr, "%s %s\n", check_failures == check_before_ ? "ok  " : "FAIL", #fn);           \
  } while (0)

#define CHECK_DONE() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)

#endif
