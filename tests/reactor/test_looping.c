/* Tests src/reactor/looping.c (Twisted's LoopingCall with withCount): counts, the fixed grid,
 * stopping and freeing from inside the callback, argument checks. */
#include <math.h>

#include "fixture.h"

typedef struct looper {
  weft_reactor *r;
  int calls;
  uint64_t counts[64];
  double times[64];
  int stop_at, free_at, restart_at; /* act on that call number (1-based), 0: never */
  int stop_rc;
} looper;

static void on_tick(weft_looping_call *lc, uint64_t count, void *arg) {
  looper *l = arg;
  REQUIRE(l->calls < 64);
  l->counts[l->calls] = count;
  l->times[l->calls] = weft_reactor_seconds(l->r);
  l->calls++;
  if (l->calls == l->stop_at) l->stop_rc = weft_looping_call_stop(lc);
  if (l->calls == l->restart_at) {
    CHECK_INT(weft_looping_call_stop(lc), 0);
    CHECK_INT(weft_looping_call_start(lc, 2.0, false), 0);
  }
  if (l->calls == l->free_at) weft_looping_call_free(lc);
}

static weft_looping_call *new_looper(weft_reactor *r, looper *l) {
  weft_looping_call *lc = NULL;
  l->r = r;
  REQUIRE(weft_looping_call_new(&lc, r, on_tick, l) == 0 && lc);
  CHECK(!weft_looping_call_running(lc));
  return lc;
}

static void test_start_now_fires_at_once_with_count_one(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {0};
  weft_looping_call *lc = new_looper(r, &l);
  double t0 = weft_reactor_seconds(r);
  CHECK_INT(weft_looping_call_start(lc, 1.0, true), 0);
  CHECK(weft_looping_call_running(lc));
  weft_reactor_iterate(r, 0); /* no time passes */
  CHECK_INT(l.calls, 1);
  CHECK_INT(l.counts[0], 1);
  CHECK(l.times[0] == t0);
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 2);
  CHECK_INT(l.counts[1], 1);
  CHECK(l.times[1] == t0 + 1.0);
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

static void test_on_time_calls_count_one(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {0};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 0.5, false), 0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 0); /* not at once */
  for (int i = 1; i <= 10; i++) {
    manual_advance(&c, 0.499);
    weft_reactor_iterate(r, 0);
    CHECK_INT(l.calls, i - 1);
    manual_advance(&c, 0.001);
    weft_reactor_iterate(r, 0);
    CHECK_INT(l.calls, i);
    CHECK_INT(l.counts[i - 1], 1);
  }
  CHECK_INT(weft_reactor_open_handles(r), 1); /* its pending call */
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

static void test_late_reactor_counts_skipped_intervals_and_keeps_grid(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {0};
  weft_looping_call *lc = new_looper(r, &l);
  double t0 = weft_reactor_seconds(r);
  CHECK_INT(weft_looping_call_start(lc, 1.0, false), 0);
  manual_advance(&c, 3.5); /* the reactor was busy for three and a half intervals */
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 1);
  CHECK_INT(l.counts[0], 3);
  /* the next call is at t0 + 4 (the grid), not at t0 + 4.5 (drift) */
  manual_advance(&c, 0.499);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 1);
  manual_advance(&c, 0.001);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 2);
  CHECK_INT(l.counts[1], 1);
  CHECK(l.times[1] == t0 + 4.0);
  /* late again, by a little under two intervals: count 1 then back on the grid */
  manual_advance(&c, 1.9);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 3);
  CHECK_INT(l.counts[2], 1);
  manual_advance(&c, 0.1);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 4);
  CHECK_INT(l.counts[3], 1);
  CHECK(l.times[3] == t0 + 6.0);
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

static void test_stop_inside_fn(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {.stop_at = 2};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 1.0, true), 0);
  for (int i = 0; i < 5; i++) {
    weft_reactor_iterate(r, 0);
    manual_advance(&c, 1.0);
  }
  CHECK_INT(l.calls, 2);
  CHECK_INT(l.stop_rc, 0);
  CHECK(!weft_looping_call_running(lc));
  CHECK_INT(weft_looping_call_stop(lc), WEFT_EALREADY);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  /* a stopped call can start again */
  CHECK_INT(weft_looping_call_start(lc, 1.0, false), 0);
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 3);
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

static void test_restart_inside_fn_schedules_once(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {.restart_at = 1};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 1.0, true), 0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 1);
  CHECK_INT(weft_reactor_open_handles(r), 1); /* one pending call, not two */
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 1); /* the new interval (2 s) applies */
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 2);
  CHECK_INT(l.counts[1], 1);
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

static void test_free_inside_fn(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {.free_at = 3};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 1.0, false), 0);
  for (int i = 0; i < 6; i++) {
    manual_advance(&c, 1.0);
    weft_reactor_iterate(r, 0);
  }
  CHECK_INT(l.calls, 3); /* ASan would see a use after free here */
  CLOSE_CLEAN(r);
}

static void test_free_while_running_cancels(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {0};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 1.0, true), 0);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  weft_looping_call_free(lc);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  manual_advance(&c, 5.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 0);
  weft_looping_call_free(NULL);
  CLOSE_CLEAN(r);
}

static void test_start_twice_is_ealready(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {0};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 1.0, false), 0);
  CHECK_INT(weft_looping_call_start(lc, 2.0, true), WEFT_EALREADY);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  manual_advance(&c, 1.0); /* the first start's interval still applies */
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 1);
  CHECK_INT(weft_looping_call_stop(lc), 0);
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

static void test_bad_interval_is_einval(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  looper l = {0};
  weft_looping_call *lc = new_looper(r, &l);
  CHECK_INT(weft_looping_call_start(lc, 0.0, false), WEFT_EINVAL);
  CHECK_INT(weft_looping_call_start(lc, -1.0, true), WEFT_EINVAL);
  CHECK_INT(weft_looping_call_start(lc, NAN, true), WEFT_EINVAL);
  CHECK_INT(weft_looping_call_start(lc, INFINITY, true), WEFT_EINVAL);
  CHECK(!weft_looping_call_running(lc));
  CHECK_INT(weft_reactor_open_handles(r), 0);
  /* a huge interval is not an error, just a call that never comes */
  CHECK_INT(weft_looping_call_start(lc, 1e300, false), 0);
  manual_advance(&c, 1e6);
  weft_reactor_iterate(r, 0);
  CHECK_INT(l.calls, 0);
  CHECK_INT(weft_looping_call_stop(lc), 0);
  weft_looping_call *none = NULL;
  CHECK_INT(weft_looping_call_new(&none, r, NULL, NULL), WEFT_EINVAL);
  weft_looping_call_free(lc);
  CLOSE_CLEAN(r);
}

int main(void) {
  RUN(test_start_now_fires_at_once_with_count_one);
  RUN(test_on_time_calls_count_one);
  RUN(test_late_reactor_counts_skipped_intervals_and_keeps_grid);
  RUN(test_stop_inside_fn);
  RUN(test_restart_inside_fn_schedules_once);
  RUN(test_free_inside_fn);
  RUN(test_free_while_running_cancels);
  RUN(test_start_twice_is_ealready);
  RUN(test_bad_interval_is_einval);
  return CHECK_DONE();
}
