/* Tests src/async/failure.c: creation, formatting, reference counting, cause chains and their
 * text, check(), user data, cycle refusal, deep chains and the out-of-memory Failure. */
#include <pthread.h>
#include <string.h>

#include "async/failure_internal.h"
#include "check.h"
#include "weft/failure.h"

/* Counts destructor calls, so a test sees when (and how often) a Failure is freed. */
typedef struct counter {
  int destroyed;
} counter;

static void count_destroy(void *p) { ((counter *)p)->destroyed++; }

static weft_failure *counted(const char *domain, int code, counter *c) {
  weft_failure *f = weft_failure_new(domain, code, "counted %d", code);
  weft_failure_set_data(f, c, count_destroy);
  return f;
}

static void test_new_records_place_and_fields(void) {
  weft_failure *f = weft_failure_new("weft.test", 42, "x=%d y=%s", 7, "why"); int line = __LINE__;
  REQUIRE(f != NULL);
  CHECK_STR(weft_failure_domain(f), "weft.test");
  CHECK_INT(weft_failure_code(f), 42);
  CHECK_STR(weft_failure_message(f), "x=7 y=why");
  CHECK_STR(weft_failure_file(f), __FILE__);
  CHECK_INT(weft_failure_line(f), line);
  CHECK_STR(weft_failure_func(f), __func__);
  CHECK(weft_failure_cause(f) == NULL);
  CHECK(weft_failure_data(f) == NULL);
  weft_failure_unref(f);
}

static void test_long_message(void) {
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  weft_failure *f = weft_failure_new("weft.test", 1, "<%s|%d>", big, 12345);
  const char *m = weft_failure_message(f);
  CHECK_INT(strlen(m), 1 + 2999 + 1 + 5 + 1);
  CHECK(m[0] == '<' && m[1] == 'a' && m[2999] == 'a');
  CHECK_STR(m + 3000, "|12345>");
  weft_failure_unref(f);
}

static void test_null_format_and_domain(void) {
  /* Called through a pointer: the format attribute would (rightly) object to a NULL format. */
  weft_failure *(*make)(const char *, int, const char *, const char *, int, const char *, ...) =
      weft_failure_new_at;
  weft_failure *f = make(NULL, 0, NULL, NULL, 3, NULL);
  CHECK_STR(weft_failure_message(f), "");
  CHECK_STR(weft_failure_domain(f), "");
  CHECK(weft_failure_file(f) == NULL);
  CHECK(weft_failure_func(f) == NULL);
  char buf[64];
  CHECK_INT(weft_failure_text(f, buf, sizeof buf), 2);
  CHECK_STR(buf, "/3");
  weft_failure_unref(f);
}

static void test_from_error(void) {
  weft_failure *f = weft_failure_from_error(WEFT_ECONNREFUSED); int line = __LINE__;
  CHECK_STR(weft_failure_domain(f), WEFT_FAILURE_DOMAIN);
  CHECK_INT(weft_failure_code(f), WEFT_ECONNREFUSED);
  CHECK_STR(weft_failure_message(f), "connection refused");
  CHECK_INT(weft_failure_line(f), line);
  CHECK(weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_ECONNREFUSED));
  weft_failure_unref(f);
}

static void test_refcounting(void) {
  counter c = {0};
  weft_failure *f = counted("weft.test", 1, &c);
  CHECK(weft_failure_ref(f) == f);
  CHECK(weft_failure_ref(f) == f);
  weft_failure_unref(f);
  weft_failure_unref(f);
  CHECK_INT(c.destroyed, 0);
  CHECK_STR(weft_failure_message(f), "counted 1"); /* still alive: ASan would catch a free */
  weft_failure_unref(f);
  CHECK_INT(c.destroyed, 1);
  CHECK(weft_failure_ref(NULL) == NULL);
  weft_failure_unref(NULL);
}

static void test_cause_chain_text(void) {
  weft_failure *inner = weft_failure_new_at("src/net/connector.c", 50, "finish", WEFT_FAILURE_DOMAIN,
                                            WEFT_ECONNREFUSED, "%s", "connection refused");
  weft_failure *outer = weft_failure_new_at("/home/build/weft/src/net/dns.c", 120, "resolve_done", "weft.dns",
                                            -3008, "no address for %s", "example.invalid");
  CHECK(weft_failure_set_cause(outer, inner) == outer);
  CHECK(weft_failure_cause(outer) == inner);
  char buf[256];
  const char *want = "weft.dns/-3008: no address for example.invalid (at dns.c:120 in resolve_done)\n"
                     "  caused by: weft/-111: connection refused (at connector.c:50 in finish)";
  CHECK_INT(weft_failure_text(outer, buf, sizeof buf), strlen(want));
  CHECK_STR(buf, want);
  weft_failure_unref(outer); /* frees inner too (ASan reports a leak otherwise) */
}

static void test_text_partial_place_and_empty_message(void) {
  char buf[128];
  weft_failure *a = weft_failure_new_at("a.c", 3, NULL, "x", 1, "%s", "");
  weft_failure *b = weft_failure_new_at(NULL, 0, "fn", "x", 2, "m");
  weft_failure *c = weft_failure_new_at(NULL, 0, NULL, "x", 3, "m%d", 3);
  weft_failure_set_cause(b, c);
  weft_failure_set_cause(a, b);
  weft_failure_text(a, buf, sizeof buf);
  CHECK_STR(buf, "x/1 (at a.c:3)\n  caused by: x/2: m (in fn)\n  caused by: x/3: m3");
  weft_failure_unref(a);
  CHECK_INT(weft_failure_text(NULL, buf, sizeof buf), 0);
  CHECK_STR(buf, "");
}

static void test_text_truncates_like_snprintf(void) {
  weft_failure *f = weft_failure_new_at("f.c", 1, "g", "weft.test", 5, "first");
  weft_failure_set_cause(f, weft_failure_new_at("h.c", 2, "i", "weft.test", 6, "second"));
  char full[256];
  size_t total = weft_failure_text(f, full, sizeof full);
  CHECK_INT(total, strlen(full));
  CHECK_INT(weft_failure_text(f, NULL, 0), total);
  for (size_t size = 0; size <= total + 2; size++) {
    char buf[256];
    memset(buf, '#', sizeof buf);
    CHECK_INT(weft_failure_text(f, buf, size), total);
    if (size == 0) {
      CHECK(buf[0] == '#'); /* nothing written at all */
      continue;
    }
    size_t kept = size - 1 < total ? size - 1 : total;
    CHECK_INT(strlen(buf), kept);
    CHECK(memcmp(buf, full, kept) == 0);
    CHECK(buf[kept + 1] == '#'); /* nothing written past the terminator */
  }
  weft_failure_unref(f);
}

static weft_failure *chain_of(int n) {
  weft_failure *head = NULL;
  for (int i = n; i >= 1; i--) head = weft_failure_set_cause(weft_failure_new_at(NULL, 0, NULL, "d", i, "m"), head);
  return head;
}

static size_t count_lines(const char *s) {
  size_t n = 1;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static void test_text_depth_limit(void) {
  static char buf[4096];
  weft_failure *f = chain_of(32);
  CHECK(weft_failure_text(f, buf, sizeof buf) < sizeof buf);
  CHECK_INT(count_lines(buf), 32);
  CHECK(strstr(buf, "more cause") == NULL);
  weft_failure_unref(f);

  f = chain_of(33);
  weft_failure_text(f, buf, sizeof buf);
  CHECK_INT(count_lines(buf), 33);
  CHECK(strstr(buf, "  caused by: d/32: m\n  ... 1 more cause") != NULL);
  CHECK(strcmp(buf + strlen(buf) - strlen("1 more cause"), "1 more cause") == 0);
  weft_failure_unref(f);

  f = chain_of(40);
  weft_failure_text(f, buf, sizeof buf);
  CHECK_INT(count_lines(buf), 33);
  CHECK(strstr(buf, "  caused by: d/32: m\n  ... 8 more causes") != NULL);
  weft_failure_unref(f);
}

static void test_check(void) {
  weft_failure *f = weft_failure_new("weft.dns", -3008, "no address");
  char same[] = "weft.dns"; /* equal by string, not by pointer */
  CHECK(weft_failure_check(f, same, -3008));
  CHECK(weft_failure_check(f, "weft.dns", WEFT_FAILURE_ANY_CODE));
  CHECK(!weft_failure_check(f, "weft.dns", -3009));
  CHECK(!weft_failure_check(f, "weft", -3008));
  CHECK(!weft_failure_check(f, "weft", WEFT_FAILURE_ANY_CODE));
  CHECK(!weft_failure_check(f, NULL, WEFT_FAILURE_ANY_CODE));
  CHECK(!weft_failure_check(NULL, "weft.dns", WEFT_FAILURE_ANY_CODE));
  /* only f itself counts, not its causes */
  weft_failure_set_cause(f, weft_failure_from_error(WEFT_ETIMEDOUT));
  CHECK(!weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT));
  weft_failure_unref(f);
}

static void test_data_destructor(void) {
  counter a = {0}, b = {0};
  weft_failure *f = weft_failure_new("weft.test", 1, "data");
  weft_failure_set_data(f, &a, count_destroy);
  CHECK(weft_failure_data(f) == &a);
  weft_failure_set_data(f, &b, count_destroy); /* replacing destroys the previous data once */
  CHECK_INT(a.destroyed, 1);
  CHECK(weft_failure_data(f) == &b);
  weft_failure_set_data(f, &b, count_destroy); /* the same pointer again is not destroyed */
  CHECK_INT(b.destroyed, 0);
  weft_failure_ref(f);
  weft_failure_unref(f);
  CHECK_INT(b.destroyed, 0);
  weft_failure_unref(f);
  CHECK_INT(a.destroyed, 1);
  CHECK_INT(b.destroyed, 1);

  weft_failure *g = weft_failure_new("weft.test", 2, "no destructor");
  weft_failure_set_data(g, &a, NULL);
  CHECK(weft_failure_data(g) == &a);
  weft_failure_unref(g);
  CHECK_INT(a.destroyed, 1);
}

static void test_set_cause_replaces_and_clears(void) {
  counter first = {0}, second = {0};
  weft_failure *f = weft_failure_new("weft.test", 1, "outer");
  weft_failure_set_cause(f, counted("weft.test", 2, &first));
  weft_failure *keep = weft_failure_ref((weft_failure *)weft_failure_cause(f));
  weft_failure_set_cause(f, counted("weft.test", 3, &second));
  CHECK_INT(first.destroyed, 0); /* still referenced by keep */
  weft_failure_unref(keep);
  CHECK_INT(first.destroyed, 1);
  CHECK_INT(weft_failure_code(weft_failure_cause(f)), 3);
  weft_failure_set_cause(f, NULL);
  CHECK_INT(second.destroyed, 1);
  CHECK(weft_failure_cause(f) == NULL);
  weft_failure_unref(f);
}

static void test_cycles_refused(void) {
  counter ca = {0}, cb = {0}, cc = {0}, cz = {0};
  weft_failure *a = counted("weft.test", 1, &ca);
  weft_failure *z = counted("weft.test", 26, &cz);
  weft_failure_set_cause(a, z);

  /* directly: f as its own cause (with a reference of its own to give) */
  CHECK(weft_failure_set_cause(a, weft_failure_ref(a)) == a);
  CHECK(weft_failure_cause(a) == z);

  /* through a chain: c -> b -> a, then a -> c */
  weft_failure *b = weft_failure_set_cause(counted("weft.test", 2, &cb), weft_failure_ref(a));
  weft_failure *c = weft_failure_set_cause(counted("weft.test", 3, &cc), weft_failure_ref(b));
  CHECK(weft_failure_set_cause(a, weft_failure_ref(c)) == a);
  CHECK(weft_failure_cause(a) == z);
  CHECK_INT(cz.destroyed, 0);
  char buf[512];
  weft_failure_text(c, buf, sizeof buf);
  CHECK_INT(count_lines(buf), 4); /* c, b, a, z: the chain stayed finite */

  /* a shared Failure may still take an unrelated cause */
  weft_failure *y = weft_failure_new("weft.test", 25, "unrelated");
  weft_failure_set_cause(z, y);
  CHECK(weft_failure_cause(z) == y);

  weft_failure_unref(b);
  weft_failure_unref(c);
  CHECK_INT(cc.destroyed, 1);
  CHECK_INT(cb.destroyed, 1);
  CHECK_INT(ca.destroyed, 0);
  /* the caller's only reference passed as the cause too: refused without freeing a under it */
  weft_failure_set_cause(a, a);
  CHECK(weft_failure_cause(a) == z);
  weft_failure_unref(a);
  CHECK_INT(ca.destroyed, 1);
  CHECK_INT(cz.destroyed, 1); /* references were balanced: everything is gone */
}

/* Freed on a thread with a small stack, so a recursive free (one frame per Failure) would overflow
 * it: the loop in weft_failure_unref is what this test checks. */
static void *unref_on_small_stack(void *f) {
  weft_failure_unref(f);
  return NULL;
}

static void test_deep_chain_freed_without_recursion(void) {
  enum { DEPTH = 100000 };
  counter c = {0};
  weft_failure *head = NULL;
  for (int i = 0; i < DEPTH; i++) head = weft_failure_set_cause(counted("weft.test", i, &c), head);
  char buf[8192];
  size_t need = weft_failure_text(head, buf, sizeof buf);
  CHECK(need < sizeof buf);
  CHECK(strstr(buf, "\n  ... 99968 more causes") != NULL);

  pthread_attr_t attr;
  pthread_t t;
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, 256 * 1024) == 0);
  REQUIRE(pthread_create(&t, &attr, unref_on_small_stack, head) == 0);
  REQUIRE(pthread_join(t, NULL) == 0);
  pthread_attr_destroy(&attr);
  CHECK_INT(c.destroyed, DEPTH);
}

static int allocs;
static size_t last_alloc_size;
static void *counting_alloc(size_t size) {
  allocs++;
  last_alloc_size = size;
  return malloc(size);
}
static void *failing_alloc(size_t size) {
  (void)size;
  allocs++;
  return NULL;
}

static void test_one_allocation_per_failure(void) {
  char big[2000];
  memset(big, 'b', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  allocs = 0;
  weft__failure_set_alloc(counting_alloc);
  weft_failure *f = weft_failure_new("weft.test", 1, "%s", big);
  weft__failure_set_alloc(NULL);
  CHECK_INT(allocs, 1);
  CHECK(last_alloc_size > strlen(big));
  CHECK_INT(strlen(weft_failure_message(f)), strlen(big));
  weft_failure_unref(f);
}

static void test_out_of_memory_failure(void) {
  allocs = 0;
  weft__failure_set_alloc(failing_alloc);
  weft_failure *f = weft_failure_new("weft.test", 7, "lost %d", 7);
  weft_failure *g = weft_failure_from_error(WEFT_ECANCELED);
  weft__failure_set_alloc(NULL);
  CHECK_INT(allocs, 2);
  REQUIRE(f != NULL);
  CHECK(f == g);
  CHECK(f == weft__failure_oom());
  CHECK(weft__failure_is_oom(f));
  CHECK(weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_ENOMEM));
  CHECK_STR(weft_failure_message(f), "out of memory");
  CHECK(weft_failure_file(f) == NULL);
  CHECK(weft_failure_func(f) == NULL);
  CHECK_INT(weft_failure_line(f), 0);

  /* reference counting does nothing: many unrefs leave it intact */
  CHECK(weft_failure_ref(f) == f);
  for (int i = 0; i < 5; i++) weft_failure_unref(f);
  CHECK_STR(weft_failure_message(f), "out of memory");

  /* a cause given to it is released at once, and so is data */
  counter cause = {0}, data = {0};
  CHECK(weft_failure_set_cause(f, counted("weft.test", 1, &cause)) == f);
  CHECK_INT(cause.destroyed, 1);
  CHECK(weft_failure_cause(f) == NULL);
  weft_failure_set_data(f, &data, count_destroy);
  CHECK_INT(data.destroyed, 1);
  CHECK(weft_failure_data(f) == NULL);

  char buf[64];
  weft_failure_text(f, buf, sizeof buf);
  CHECK_STR(buf, "weft/-12: out of memory");

  /* as a cause it is harmless too: freeing the chain leaves it alone */
  weft_failure *outer = weft_failure_new("weft.test", 2, "wrapper");
  weft_failure_set_cause(outer, f);
  weft_failure_unref(outer);
  CHECK_STR(weft_failure_message(f), "out of memory");
}

static void test_null_failure_is_harmless(void) {
  counter cause = {0}, data = {0};
  CHECK(weft_failure_domain(NULL) == NULL);
  CHECK_INT(weft_failure_code(NULL), 0);
  CHECK_STR(weft_failure_message(NULL), "");
  CHECK(weft_failure_cause(NULL) == NULL);
  CHECK(weft_failure_data(NULL) == NULL);
  CHECK(weft_failure_set_cause(NULL, counted("weft.test", 1, &cause)) == NULL);
  CHECK_INT(cause.destroyed, 1);
  weft_failure_set_data(NULL, &data, count_destroy);
  CHECK_INT(data.destroyed, 1);
}

int main(void) {
  RUN(test_new_records_place_and_fields);
  RUN(test_long_message);
  RUN(test_null_format_and_domain);
  RUN(test_from_error);
  RUN(test_refcounting);
  RUN(test_cause_chain_text);
  RUN(test_text_partial_place_and_empty_message);
  RUN(test_text_truncates_like_snprintf);
  RUN(test_text_depth_limit);
  RUN(test_check);
  RUN(test_data_destructor);
  RUN(test_set_cause_replaces_and_clears);
  RUN(test_cycles_refused);
  RUN(test_deep_chain_freed_without_recursion);
  RUN(test_one_allocation_per_failure);
  RUN(test_out_of_memory_failure);
  RUN(test_null_failure_is_harmless);
  return CHECK_DONE();
}
