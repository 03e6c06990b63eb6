/* alloc_sweep.h: the allocation-failure sweep for tests (nghttp2's and SQLite's "fail the k-th
 * malloc"): a scenario runs once to count its allocations N, then once for each k = 1..N with the
 * k-th allocation failing. Each run must end in success or WEFT_ENOMEM, never anything else, and
 * give back every block it took. The program must call weft_test_allocator_install() first. */
#ifndef WEFT_TESTS_ALLOC_SWEEP_H
#define WEFT_TESTS_ALLOC_SWEEP_H

#include <stdint.h>

#include "check.h"
#include "weft/alloc.h"
#include "weft/errors.h"
#include "weft/log.h"

/* A scenario builds, runs and frees everything it uses. It returns 0 when everything it checked
 * went as it should, WEFT_ENOMEM when some step reported running out of memory (an error code or
 * a Failure with that code), or another code for a wrong outcome. arg is the test's. */
typedef int (*alloc_scenario)(void *arg);

/* modes 1: only the k-th allocation fails; 2: then also the k-th and every later one.
 * With the k-th allocation failing, a scenario may still succeed (its checks all passed) when the
 * allocation was for something the outcome did not need, e.g. the WEFT_ECANCELED Failure of an
 * input a race cancels and consumes (weft then uses its static out-of-memory Failure, which the
 * race consumes just the same): such runs are counted as "absorbed". */
static inline void alloc_sweep_modes(const char *name, alloc_scenario fn, void *arg, int modes) {
  check_current = name;
  weft_test_alloc_stats st;
  weft_test_allocator_stats(&st);
  int64_t live0 = st.live;
  weft_test_allocator_fail_at(0, false);
  int rc = fn(arg);
  weft_test_allocator_stats(&st);
  uint64_t n = st.calls;
  if (rc != 0 || st.live != live0) {
    CHECK_FAIL_("%s: the run without failures returned %d (%s) and left %lld block(s)", name, rc,
                weft_strerror(rc), (long long)(st.live - live0));
    return;
  }
  int bad = 0;
  unsigned long long absorbed = 0;
  /* the k-th allocation fails alone (the code goes on with memory again: recovery paths), then
   * it and every later one (nothing can be allocated any more: cleanup paths) */
  for (int every = 0; every < modes; every++) {
    for (uint64_t k = 1; k <= n && bad < 5; k++) {
      weft_test_allocator_fail_at(k, every);
      rc = fn(arg);
      weft_test_allocator_stats(&st);
      weft_test_allocator_fail_at(0, false);
      bool failed = st.failed > 0;
      if (failed && rc == 0) absorbed++;
      if ((rc != 0 && (!failed || rc != WEFT_ENOMEM)) || st.live != live0) {
        CHECK_FAIL_("%s: failing allocation %llu%s of %llu returned %d (%s) and left %lld block(s)", name,
                    (unsigned long long)k, every ? " and later ones" : "", (unsigned long long)n, rc,
                    weft_strerror(rc), (long long)(st.live - live0));
        bad++;
        live0 = st.live; /* so that the next runs report their own leaks, not this one's */
      }
    }
  }
  fprintf(stderr, "     %s: %llu allocation(s) swept, %llu absorbed\n", name, (unsigned long long)n, absorbed);
}

/* A log observer that drops everything: the sweep's "Unhandled error in Deferred" reports are
 * expected and would only bury the test's own output. */
static inline void alloc_sweep_quiet(const weft_log_event *ev, void *user) {
  (void)ev;
  (void)user;
}

/* Both modes: the k-th allocation failing alone, then with every later one. */
static inline void alloc_sweep(const char *name, alloc_scenario fn, void *arg) { alloc_sweep_modes(name, fn, arg, 2); }

#endif
