/* Tests src/async/timeouts.c: addTimeout (fires first, times out first, cancelled, freed unfired,
 * waiting on an inner Deferred), sleep and deferLater, all on the test kit's manual clock. */
#include <math.h>

#include "check.h"
#include "weft/defer_time.h"
#include "weft/errors.h"
#include "weft/testing.h"

/* A reactor on a manual clock, with its error log captured so an unexpected unhandled error
 * fails the test (and an expected one can be flushed). */
typedef struct fixture {
  weft_test_clock *clock;
  weft_reactor *r;
  weft_logged_errors *errors;
} fixture;

static fixture open_fixture(void) {
  fixture f;
  REQUIRE(weft_test_clock_new(&f.clock) == 0);
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.clock = weft_test_clock_clock(f.clock);
  REQUIRE(weft_reactor_new(&f.r, &o) == 0);
  f.errors = weft_logged_errors_capture(weft_reactor_log(f.r));
  REQUIRE(f.errors != NULL);
  return f;
}

static void advance(fixture *f, double s) { CHECK(weft_test_clock_advance(f->clock, f->r, s) >= 0); }

static void close_fixture(fixture *f) {
  CHECK_INT(weft_logged_errors_count(f->errors), 0);
  for (size_t i = 0; weft_logged_errors_text(f->errors, i); i++)
    fprintf(stderr, "  unexpected: %s\n", weft_logged_errors_text(f->errors, i));
  weft_logged_errors_free(f->errors);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  CHECK_INT(weft_reactor_free(f->r), 0);
  weft_test_clock_free(f->clock);
}

static char why[2048];

#define CHECK_NO_RESULT(d) \
  do { \
    if (!weft_assert_no_result((d), why, sizeof why)) CHECK_FAIL_("%s", why); \
  } while (0)

static int64_t success_int(weft_deferred *d) {
  weft_value v;
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) {
    CHECK_FAIL_("%s", why);
    return -1;
  }
  CHECK_INT(v.kind, WEFT_VALUE_INT);
  return v.kind == WEFT_VALUE_INT ? v.v.i : -1;
}

static bool success_none(weft_deferred *d) {
  weft_value v;
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) {
    CHECK_FAIL_("%s", why);
    return false;
  }
  weft_value_release(v);
  return v.kind == WEFT_VALUE_NONE;
}

/* Takes d's Failure, which must be weft/code; returns it (caller unrefs) or NULL. */
static weft_failure *failure_of(weft_deferred *d, int code) {
  weft_failure *f = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, code, why, sizeof why);
  if (!f) CHECK_FAIL_("%s", why);
  return f;
}

static int cancels;
static void count_cancel(weft_deferred *d, void *arg) {
  (void)d;
  (void)arg;
  cancels++;
}
static void cancel_with_value(weft_deferred *d, void *arg) {
  (void)arg;
  cancels++;
  weft_deferred_callback(d, weft_int(5));
}
static void cancel_with_other_failure(weft_deferred *d, void *arg) {
  (void)arg;
  cancels++;
  weft_deferred_errback(d, weft_failure_new("test.app", 9, "gave up"));
}

/* ---- addTimeout ---- */

static void test_timeout_result_first_removes_timer(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new_cancellable(weft_reactor_log(f.r), count_cancel, NULL);
  cancels = 0;
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 5), 0);
  CHECK_INT(weft_reactor_open_handles(f.r), 1);
  advance(&f, 4.9);
  CHECK_NO_RESULT(d);
  CHECK_INT(weft_deferred_callback(d, weft_int(7)), 0);
  CHECK_INT(weft_reactor_open_handles(f.r), 0); /* the timer went with the result */
  advance(&f, 10);
  CHECK_INT(cancels, 0);
  CHECK_INT(success_int(d), 7);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_failure_first_passes_unchanged(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new(weft_reactor_log(f.r));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 5), 0);
  weft_deferred_errback(d, weft_failure_from_error(WEFT_ECONNREFUSED));
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_failure_unref(failure_of(d, WEFT_ECONNREFUSED));
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_expires_cancels_and_fails_timedout(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new_cancellable(weft_reactor_log(f.r), count_cancel, NULL);
  cancels = 0;
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 5), 0);
  advance(&f, 4.999);
  CHECK_NO_RESULT(d);
  CHECK_INT(cancels, 0);
  advance(&f, 0.001); /* exactly at the deadline */
  CHECK_INT(cancels, 1);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_failure *fl = failure_of(d, WEFT_ETIMEDOUT);
  if (fl) {
    CHECK(strstr(weft_failure_message(fl), "timed out after 5 seconds") != NULL);
    /* the cancellation it came from is its cause, as the log will show */
    CHECK(weft_failure_check(weft_failure_cause(fl), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
    weft_failure_unref(fl);
  }
  /* the operation finishing late is refused, as on any fired Deferred */
  CHECK_INT(weft_deferred_callback(d, weft_int(1)), WEFT_EALREADY);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_without_canceller_eats_late_result(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new(weft_reactor_log(f.r));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 1), 0);
  advance(&f, 1);
  weft_failure_unref(failure_of(d, WEFT_ETIMEDOUT));
  /* as a plain cancel: the firer that knew nothing of the timeout is not told off */
  CHECK_INT(weft_deferred_callback(d, weft_int(1)), 0);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_canceller_result_is_kept(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new_cancellable(weft_reactor_log(f.r), cancel_with_value, NULL);
  cancels = 0;
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 2), 0);
  advance(&f, 2);
  CHECK_INT(cancels, 1);
  CHECK_INT(success_int(d), 5); /* a value the canceller chose is not a timeout */
  weft_deferred_unref(d);

  d = weft_deferred_new_cancellable(weft_reactor_log(f.r), cancel_with_other_failure, NULL);
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 2), 0);
  advance(&f, 2);
  weft_failure *fl = weft_failure_result_of(d, "test.app", 9, why, sizeof why);
  if (!fl) CHECK_FAIL_("%s", why);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_cancel_before_deadline_stays_cancelled(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new(weft_reactor_log(f.r));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 5), 0);
  advance(&f, 1);
  weft_deferred_cancel(d);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_failure_unref(failure_of(d, WEFT_ECANCELED));
  advance(&f, 10);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_on_fired_deferred_schedules_nothing(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_succeed(weft_reactor_log(f.r), weft_int(3));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 5), 0);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  CHECK_INT(success_int(d), 3);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_freed_unfired_times_out_and_reports(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new_cancellable(weft_reactor_log(f.r), count_cancel, NULL);
  cancels = 0;
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 3), 0);
  weft_deferred_unref(d); /* nobody holds it but the timer */
  CHECK_INT(weft_reactor_open_handles(f.r), 1);
  advance(&f, 3);
  CHECK_INT(cancels, 1);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  /* nobody handled the timeout: reported when the timer let go of the Deferred */
  CHECK_INT(weft_logged_errors_flush(f.errors, "timed out after 3 seconds"), 1);
  close_fixture(&f);
}

static weft_value return_inner(weft_value v, void *arg) {
  weft_value_release(v);
  return weft_chain(weft_deferred_ref(arg));
}

static void test_timeout_cancels_inner_deferred_waited_on(void) {
  fixture f = open_fixture();
  weft_deferred *inner = weft_deferred_new_cancellable(weft_reactor_log(f.r), count_cancel, NULL);
  weft_deferred *d = weft_deferred_new(weft_reactor_log(f.r));
  cancels = 0;
  weft_deferred_add_callback(d, return_inner, inner);
  weft_deferred_callback(d, weft_none());
  CHECK(weft_deferred_paused(d));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 2), 0);
  advance(&f, 2);
  CHECK_INT(cancels, 1); /* the inner operation was stopped */
  weft_failure_unref(failure_of(d, WEFT_ETIMEDOUT));
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_deferred_unref(inner);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_shortest_of_two_wins(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new(weft_reactor_log(f.r));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 5), 0);
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 1), 0);
  CHECK_INT(weft_reactor_open_handles(f.r), 2);
  advance(&f, 1);
  CHECK_INT(weft_reactor_open_handles(f.r), 0); /* the longer one went with the result */
  weft_failure *fl = failure_of(d, WEFT_ETIMEDOUT);
  if (fl) CHECK(strstr(weft_failure_message(fl), "after 1 seconds") != NULL);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_timeout_invalid_arguments(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_deferred_new(weft_reactor_log(f.r));
  CHECK_INT(weft_deferred_add_timeout(d, f.r, -1), WEFT_EINVAL);
  CHECK_INT(weft_deferred_add_timeout(d, f.r, NAN), WEFT_EINVAL);
  CHECK_INT(weft_deferred_add_timeout(NULL, f.r, 1), WEFT_EINVAL);
  CHECK_INT(weft_deferred_add_timeout(d, NULL, 1), WEFT_EINVAL);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_deferred_callback(d, weft_int(1));
  CHECK_INT(success_int(d), 1);
  weft_deferred_unref(d);
  close_fixture(&f);
}

/* ---- sleep ---- */

static void test_sleep_fires_with_none_after_delay(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_sleep(f.r, 2);
  REQUIRE(d != NULL);
  CHECK_INT(weft_reactor_open_handles(f.r), 1);
  advance(&f, 1.5);
  CHECK_NO_RESULT(d);
  advance(&f, 0.5);
  CHECK(success_none(d));
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_sleep_zero_fires_next_turn(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_sleep(f.r, 0);
  CHECK_NO_RESULT(d); /* never inside the call */
  advance(&f, 0);
  CHECK(success_none(d));
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_sleep_cancel_removes_timer(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_sleep(f.r, 2);
  weft_deferred_cancel(d);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_failure_unref(failure_of(d, WEFT_ECANCELED));
  advance(&f, 5);
  weft_deferred_cancel(d); /* fired: nothing more happens */
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_sleep_freed_unfired_still_fires_cleanly(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_sleep(f.r, 2);
  weft_deferred_unref(d);
  CHECK_INT(weft_reactor_open_handles(f.r), 1);
  advance(&f, 2);
  CHECK_INT(weft_reactor_open_handles(f.r), 0); /* fired and freed: nothing left, nothing logged */
  close_fixture(&f);
}

static void test_sleep_with_timeout_shorter(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_sleep(f.r, 10);
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 1), 0);
  advance(&f, 1);
  weft_failure_unref(failure_of(d, WEFT_ETIMEDOUT));
  CHECK_INT(weft_reactor_open_handles(f.r), 0); /* the sleep's own timer was cancelled too */
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_sleep_invalid_delay_fails(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_sleep(f.r, -1);
  REQUIRE(d != NULL);
  weft_failure_unref(failure_of(d, WEFT_EINVAL));
  weft_deferred_unref(d);
  d = weft_sleep(f.r, NAN);
  weft_failure_unref(failure_of(d, WEFT_EINVAL));
  weft_deferred_unref(d);
  CHECK(weft_sleep(NULL, 1) == NULL);
  close_fixture(&f);
}

/* ---- deferLater ---- */

static int fn_calls;
static weft_value answer(weft_value v, void *arg) {
  CHECK_INT(v.kind, WEFT_VALUE_NONE);
  fn_calls++;
  return weft_int((int64_t)(intptr_t)arg);
}
static weft_value refuse(weft_value v, void *arg) {
  (void)v;
  (void)arg;
  fn_calls++;
  return weft_failed(weft_failure_from_error(WEFT_ECONNREFUSED));
}
static weft_value sleep_more(weft_value v, void *arg) {
  (void)v;
  fn_calls++;
  return weft_chain(weft_sleep(arg, 3));
}
static int destroyed;
static void count_destroy(void *p) {
  (void)p;
  destroyed++;
}
static weft_value make_ptr(weft_value v, void *arg) {
  (void)v;
  (void)arg;
  fn_calls++;
  return weft_ptr(&destroyed, count_destroy);
}

static void test_defer_later_calls_fn_and_fires_with_result(void) {
  fixture f = open_fixture();
  fn_calls = 0;
  weft_deferred *d = weft_defer_later(f.r, 1, answer, (void *)(intptr_t)42);
  advance(&f, 0.5);
  CHECK_INT(fn_calls, 0);
  CHECK_NO_RESULT(d);
  advance(&f, 0.5);
  CHECK_INT(fn_calls, 1);
  CHECK_INT(success_int(d), 42);
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_defer_later_failure_goes_to_errbacks(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_defer_later(f.r, 1, refuse, NULL);
  advance(&f, 1);
  weft_failure_unref(failure_of(d, WEFT_ECONNREFUSED));
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_defer_later_returned_deferred_is_chained(void) {
  fixture f = open_fixture();
  fn_calls = 0;
  weft_deferred *d = weft_defer_later(f.r, 1, sleep_more, f.r);
  advance(&f, 1);
  CHECK_INT(fn_calls, 1);
  CHECK(weft_deferred_paused(d));
  CHECK_NO_RESULT(d);
  advance(&f, 3);
  CHECK(success_none(d));
  weft_deferred_unref(d);

  /* cancelling while it waits cancels the inner sleep (and its timer) */
  d = weft_defer_later(f.r, 1, sleep_more, f.r);
  advance(&f, 1);
  CHECK_INT(weft_reactor_open_handles(f.r), 1);
  weft_deferred_cancel(d);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  weft_failure_unref(failure_of(d, WEFT_ECANCELED));
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_defer_later_cancel_before_run_skips_fn(void) {
  fixture f = open_fixture();
  fn_calls = 0;
  weft_deferred *d = weft_defer_later(f.r, 1, answer, NULL);
  weft_deferred_cancel(d);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  advance(&f, 2);
  CHECK_INT(fn_calls, 0);
  weft_failure_unref(failure_of(d, WEFT_ECANCELED));
  weft_deferred_unref(d);
  close_fixture(&f);
}

static void test_defer_later_freed_unfired_runs_and_frees_result(void) {
  fixture f = open_fixture();
  fn_calls = destroyed = 0;
  weft_deferred *d = weft_defer_later(f.r, 1, make_ptr, NULL);
  weft_deferred_unref(d);
  advance(&f, 1);
  CHECK_INT(fn_calls, 1);  /* as Twisted: the call still happens */
  CHECK_INT(destroyed, 1); /* and its result is freed with the Deferred */
  close_fixture(&f);
}

static void test_defer_later_without_fn_and_timeout(void) {
  fixture f = open_fixture();
  weft_deferred *d = weft_defer_later(f.r, 1, NULL, NULL);
  advance(&f, 1);
  CHECK(success_none(d));
  weft_deferred_unref(d);

  /* a timeout shorter than the delay: fn never runs */
  fn_calls = 0;
  d = weft_defer_later(f.r, 5, answer, NULL);
  CHECK_INT(weft_deferred_add_timeout(d, f.r, 2), 0);
  advance(&f, 2);
  weft_failure_unref(failure_of(d, WEFT_ETIMEDOUT));
  advance(&f, 5);
  CHECK_INT(fn_calls, 0);
  weft_deferred_unref(d);
  close_fixture(&f);
}

int main(void) {
  RUN(test_timeout_result_first_removes_timer);
  RUN(test_timeout_failure_first_passes_unchanged);
  RUN(test_timeout_expires_cancels_and_fails_timedout);
  RUN(test_timeout_without_canceller_eats_late_result);
  RUN(test_timeout_canceller_result_is_kept);
  RUN(test_timeout_cancel_before_deadline_stays_cancelled);
  RUN(test_timeout_on_fired_deferred_schedules_nothing);
  RUN(test_timeout_freed_unfired_times_out_and_reports);
  RUN(test_timeout_cancels_inner_deferred_waited_on);
  RUN(test_timeout_shortest_of_two_wins);
  RUN(test_timeout_invalid_arguments);
  RUN(test_sleep_fires_with_none_after_delay);
  RUN(test_sleep_zero_fires_next_turn);
  RUN(test_sleep_cancel_removes_timer);
  RUN(test_sleep_freed_unfired_still_fires_cleanly);
  RUN(test_sleep_with_timeout_shorter);
  RUN(test_sleep_invalid_delay_fails);
  RUN(test_defer_later_calls_fn_and_fires_with_result);
  RUN(test_defer_later_failure_goes_to_errbacks);
  RUN(test_defer_later_returned_deferred_is_chained);
  RUN(test_defer_later_cancel_before_run_skips_fn);
  RUN(test_defer_later_freed_unfired_runs_and_frees_result);
  RUN(test_defer_later_without_fn_and_timeout);
  return CHECK_DONE();
}
