/* Tests src/async/deferred.c: chains, errbacks, ownership of results, chaining, deep chains,
 * cancellation, unhandled-error reports. No reactor needed: Deferreds are plain objects. */
#include <time.h>

#include "check.h"
#include "weft/deferred.h"
#include "weft/errors.h"

static weft_value add_one(weft_value v, void *arg) {
  (void)arg;
  return weft_int(v.v.i + 1);
}
static weft_value times(weft_value v, void *arg) { return weft_int(v.v.i * (int64_t)(intptr_t)arg); }
static weft_value fail_if_big(weft_value v, void *arg) {
  if (v.v.i > (int64_t)(intptr_t)arg) return weft_failed(weft_failure_new("test", 7, "too big: %lld", (long long)v.v.i));
  return v;
}
static weft_value recover(weft_value v, void *arg) {
  CHECK(weft_value_is_failure(v));
  weft_value_release(v);
  return weft_int((int64_t)(intptr_t)arg);
}
static int unexpected_calls;
static weft_value unexpected(weft_value v, void *arg) {
  (void)arg;
  unexpected_calls++;
  return v;
}

static int64_t take_int(weft_deferred *d) {
  weft_value v;
  CHECK_INT(weft_deferred_take_result(d, &v), 0);
  CHECK_INT(v.kind, WEFT_VALUE_INT);
  return v.kind == WEFT_VALUE_INT ? v.v.i : -1;
}

static void test_callbacks_run_in_order_and_transform(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_callback(weft_deferred_add_callback(d, add_one, NULL), times, (void *)(intptr_t)10);
  CHECK(!weft_deferred_called(d));
  CHECK_INT(weft_deferred_callback(d, weft_int(1)), 0);
  CHECK_INT(take_int(d), 20); /* (1 + 1) * 10 */
  weft_deferred_unref(d);
}

static void test_errback_switch_and_recovery(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  unexpected_calls = 0;
  weft_deferred_add_callback(d, fail_if_big, (void *)(intptr_t)5);
  weft_deferred_add_callback(d, unexpected, NULL); /* skipped: the chain is failing */
  weft_deferred_add_errback(d, recover, (void *)(intptr_t)99);
  weft_deferred_add_errback(d, unexpected, NULL); /* skipped: recovered */
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_callback(d, weft_int(6));
  CHECK_INT(take_int(d), 100);
  CHECK_INT(unexpected_calls, 0);
  weft_deferred_unref(d);
}

static void test_callback_on_fired_deferred_runs_at_once(void) {
  weft_deferred *d = weft_succeed(NULL, weft_int(1));
  CHECK(weft_deferred_called(d));
  weft_deferred_add_callback(d, add_one, NULL);
  /* the book's "ReadyOK" trap: it already ran, inside the add call */
  CHECK_INT(weft_deferred_result(d).v.i, 2);
  weft_deferred_unref(d);
}

static int destroyed;
static void count_destroy(void *p) {
  (void)p;
  destroyed++;
}

static void test_fire_twice_is_ealready_and_releases(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  destroyed = 0;
  CHECK_INT(weft_deferred_callback(d, weft_ptr(&destroyed, count_destroy)), 0);
  CHECK_INT(weft_deferred_callback(d, weft_ptr(&destroyed, count_destroy)), WEFT_EALREADY);
  CHECK_INT(destroyed, 1); /* the refused value was released */
  CHECK_INT(weft_deferred_callback(d, weft_chain(weft_deferred_new(NULL))), WEFT_EINVAL);
  weft_deferred_unref(d);
  CHECK_INT(destroyed, 2); /* the result, when the Deferred went */
}

static void test_ptr_result_freed_once_through_chain(void) {
  destroyed = 0;
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_both(d, unexpected, NULL); /* passes through */
  weft_deferred_callback(d, weft_ptr(&destroyed, count_destroy));
  CHECK_INT(destroyed, 0);
  weft_value v;
  CHECK_INT(weft_deferred_take_result(d, &v), 0);
  weft_deferred_unref(d);
  CHECK_INT(destroyed, 0); /* taken out: ours now */
  weft_value_release(v);
  CHECK_INT(destroyed, 1);
}

/* ---- chaining ---- */

static weft_value return_deferred(weft_value v, void *arg) {
  weft_value_release(v);
  return weft_chain(weft_deferred_ref(arg));
}

static void test_callback_returning_unfired_deferred_pauses(void) {
  weft_deferred *outer = weft_deferred_new(NULL), *inner = weft_deferred_new(NULL);
  weft_deferred_add_callback(inner, times, (void *)(intptr_t)3);
  weft_deferred_add_callback(outer, return_deferred, inner);
  weft_deferred_add_callback(outer, add_one, NULL);
  weft_deferred_callback(outer, weft_int(0));
  CHECK(weft_deferred_paused(outer));
  char text[200];
  weft_deferred_describe(outer, text, sizeof text);
  CHECK(strstr(text, "waiting on Deferred") != NULL);
  weft_deferred_callback(inner, weft_int(5));
  CHECK(!weft_deferred_paused(outer));
  CHECK_INT(take_int(outer), 16); /* inner's final result (15) went on through outer's chain */
  CHECK_INT(weft_deferred_result(inner).kind, WEFT_VALUE_NONE); /* Twisted leaves None behind */
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void test_callback_returning_fired_deferred_continues(void) {
  weft_deferred *outer = weft_deferred_new(NULL), *inner = weft_succeed(NULL, weft_int(41));
  weft_deferred_add_callback(outer, return_deferred, inner);
  weft_deferred_add_callback(outer, add_one, NULL);
  weft_deferred_callback(outer, weft_int(0));
  CHECK_INT(take_int(outer), 42);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static weft_value return_self(weft_value v, void *arg) {
  weft_value_release(v);
  return weft_chain(weft_deferred_ref(arg));
}

static void test_callback_returning_own_deferred_fails(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_callback(d, return_self, d);
  weft_deferred_callback(d, weft_int(0));
  weft_value v;
  weft_deferred_take_result(d, &v);
  CHECK(weft_value_is_failure(v) && weft_failure_code(v.v.f) == WEFT_EINVAL);
  weft_value_release(v);
  weft_deferred_unref(d);
}

#define DEEP 100000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* d[i]'s callback returns d[i+1]; firing the innermost last resolves 100,000 levels. */
static void test_deep_nesting_uses_no_stack(void) {
  weft_deferred **d = malloc(DEEP * sizeof *d);
  REQUIRE(d);
  double t0 = now_s();
  for (int i = 0; i < DEEP; i++) d[i] = weft_deferred_new(NULL);
  for (int i = 0; i + 1 < DEEP; i++) weft_deferred_add_callback(d[i], return_deferred, d[i + 1]);
  for (int i = 0; i + 1 < DEEP; i++) weft_deferred_callback(d[i], weft_int(0));
  CHECK(weft_deferred_paused(d[0]));
  weft_deferred_callback(d[DEEP - 1], weft_int(7));
  CHECK(!weft_deferred_paused(d[0]));
  CHECK_INT(take_int(d[0]), 7);
  for (int i = 0; i < DEEP; i++) weft_deferred_unref(d[i]);
  double t = now_s() - t0;
  CHECK(t < 2.0); /* linear: 100k levels take milliseconds; quadratic would take minutes */
  fprintf(stderr, "  %d nested levels in %.3f s\n", DEEP, t);
  free(d);
}

static weft_value return_fired(weft_value v, void *arg) {
  (void)arg;
  return weft_chain(weft_succeed(NULL, weft_int(v.v.i + 1)));
}

static void test_long_chain_of_fired_inner_deferreds(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  for (int i = 0; i < DEEP; i++) weft_deferred_add_callback(d, return_fired, NULL);
  double t0 = now_s();
  weft_deferred_callback(d, weft_int(0));
  CHECK_INT(take_int(d), DEEP);
  CHECK(now_s() - t0 < 2.0);
  weft_deferred_unref(d);
}

/* A step that unrefs the last outside reference must not free the Deferred under the chain. */
static weft_value drop_last_ref(weft_value v, void *arg) {
  weft_deferred_unref(arg);
  return v;
}

static void test_unref_inside_callback(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_callback(d, drop_last_ref, d);
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_callback(d, weft_int(1)); /* ASan checks the rest */
}

static void test_chain_to(void) {
  weft_deferred *a = weft_deferred_new(NULL), *b = weft_deferred_new(NULL);
  weft_deferred_add_callback(b, add_one, NULL);
  weft_deferred_chain_to(a, b);
  weft_deferred_callback(a, weft_int(1));
  CHECK_INT(take_int(b), 2);
  CHECK_INT(weft_deferred_result(a).kind, WEFT_VALUE_NONE);
  weft_deferred_unref(a);
  weft_deferred_unref(b);
}

/* ---- cancellation ---- */

static int cancels;
static void canceller(weft_deferred *d, void *arg) {
  (void)d;
  (void)arg;
  cancels++;
}
static void firing_canceller(weft_deferred *d, void *arg) {
  (void)arg;
  weft_deferred_callback(d, weft_int(-1));
}

static bool is_cancelled(weft_deferred *d) {
  weft_value v = weft_deferred_result(d);
  return weft_value_is_failure(v) && weft_failure_check(v.v.f, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED);
}

static weft_value trap_cancel(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED)) return v;
  weft_value_release(v);
  return weft_str("cancelled");
}

static int trapped_a, trapped_b;
static weft_value except_a(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, "app", 1)) return v;
  trapped_a++;
  weft_value_release(v);
  return weft_str("handled a");
}
static weft_value except_b(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, "app", WEFT_FAILURE_ANY_CODE)) return v;
  trapped_b++;
  weft_value_release(v);
  return weft_str("handled b");
}

static void test_trap_reads_like_except_clauses(void) {
  trapped_a = trapped_b = 0;
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_errback(weft_deferred_add_errback(d, except_a, NULL), except_b, NULL);
  weft_deferred_errback(d, weft_failure_new("app", 2, "second kind"));
  CHECK_INT(trapped_a, 0); /* code 2 is not a's: re-failed on to b */
  CHECK_INT(trapped_b, 1);
  CHECK_STR(weft_deferred_result(d).v.s, "handled b");
  weft_deferred_unref(d);
  /* a value is never trapped */
  CHECK(!weft_trap(weft_int(1), "app", WEFT_FAILURE_ANY_CODE));
}

static void test_cancel_calls_canceller_then_fails(void) {
  cancels = 0;
  weft_deferred *d = weft_deferred_new_cancellable(NULL, canceller, NULL);
  weft_deferred_cancel(d);
  CHECK_INT(cancels, 1);
  CHECK(is_cancelled(d));
  weft_deferred_cancel(d); /* fired: nothing */
  CHECK_INT(cancels, 1);
  CHECK_INT(weft_deferred_callback(d, weft_int(1)), WEFT_EALREADY); /* it had a canceller */
  weft_deferred_add_errback(d, trap_cancel, NULL);
  CHECK_STR(weft_deferred_result(d).v.s, "cancelled");
  weft_deferred_unref(d);
}

static void test_cancel_without_canceller_eats_late_fire(void) {
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_cancel(d);
  CHECK(is_cancelled(d));
  CHECK_INT(weft_deferred_callback(d, weft_int(1)), 0);              /* the late firer is not punished */
  CHECK_INT(weft_deferred_callback(d, weft_int(1)), WEFT_EALREADY);  /* but only once */
  weft_deferred_add_errback(d, trap_cancel, NULL);
  weft_deferred_unref(d);
}

static void test_canceller_may_fire(void) {
  weft_deferred *d = weft_deferred_new_cancellable(NULL, firing_canceller, NULL);
  weft_deferred_cancel(d);
  CHECK_INT(take_int(d), -1);
  weft_deferred_unref(d);
}

static void test_cancel_waiting_outer_cancels_inner(void) {
  cancels = 0;
  weft_deferred *outer = weft_deferred_new(NULL);
  weft_deferred *inner = weft_deferred_new_cancellable(NULL, canceller, NULL);
  weft_deferred_add_callback(outer, return_deferred, inner);
  weft_deferred_callback(outer, weft_int(0));
  CHECK(weft_deferred_paused(outer));
  weft_deferred_cancel(outer);
  CHECK_INT(cancels, 1);
  CHECK(!weft_deferred_paused(outer));
  CHECK(is_cancelled(outer)); /* the inner failure flowed into the outer chain */
  weft_deferred_add_errback(outer, trap_cancel, NULL);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

/* ---- unhandled errors ---- */

static int unhandled;
static char unhandled_text[512];
static void capture(const weft_log_event *ev, void *user) {
  (void)user;
  if (strcmp(ev->ns, "weft.defer") == 0) {
    unhandled++;
    weft_log_format_message(ev, unhandled_text, sizeof unhandled_text);
  }
}

static void test_unhandled_failure_logged_at_free(void) {
  weft_log_publisher *log;
  REQUIRE(weft_log_publisher_new(&log) == 0);
  weft_log_add_observer(log, WEFT_LOG_DEBUG, capture, NULL);
  unhandled = 0;
  weft_deferred *d = weft_deferred_new(log);
  weft_deferred_errback(d, weft_failure_new("test.app", 3, "boom"));
  CHECK_INT(unhandled, 0); /* only when freed */
  weft_deferred_unref(d);
  CHECK_INT(unhandled, 1);
  CHECK(strstr(unhandled_text, "Unhandled error in Deferred") != NULL);
  CHECK(strstr(unhandled_text, "boom") != NULL);
  /* handled: nothing logged */
  d = weft_deferred_new(log);
  weft_deferred_add_errback(d, recover, NULL);
  weft_deferred_errback(d, weft_failure_new("test.app", 3, "boom"));
  weft_deferred_unref(d);
  CHECK_INT(unhandled, 1);
  /* freed unfired: nothing logged, nothing leaked */
  d = weft_deferred_new(log);
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_unref(d);
  CHECK_INT(unhandled, 1);
  weft_log_publisher_free(log);
}

static void test_describe(void) {
  char text[200];
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_describe(d, text, sizeof text);
  CHECK(strstr(text, "(not fired)") != NULL);
  weft_deferred_callback(d, weft_int(42));
  size_t n = weft_deferred_describe(d, text, sizeof text);
  CHECK(strstr(text, "current result: int 42") != NULL);
  CHECK_INT(n, strlen(text));
  weft_deferred_unref(d);
}

int main(void) {
  RUN(test_callbacks_run_in_order_and_transform);
  RUN(test_errback_switch_and_recovery);
  RUN(test_callback_on_fired_deferred_runs_at_once);
  RUN(test_fire_twice_is_ealready_and_releases);
  RUN(test_ptr_result_freed_once_through_chain);
  RUN(test_callback_returning_unfired_deferred_pauses);
  RUN(test_callback_returning_fired_deferred_continues);
  RUN(test_callback_returning_own_deferred_fails);
  RUN(test_deep_nesting_uses_no_stack);
  RUN(test_long_chain_of_fired_inner_deferreds);
  RUN(test_unref_inside_callback);
  RUN(test_chain_to);
  RUN(test_trap_reads_like_except_clauses);
  RUN(test_cancel_calls_canceller_then_fails);
  RUN(test_cancel_without_canceller_eats_late_fire);
  RUN(test_canceller_may_fire);
  RUN(test_cancel_waiting_outer_cancels_inner);
  RUN(test_unhandled_failure_logged_at_free);
  RUN(test_describe);
  return CHECK_DONE();
}
