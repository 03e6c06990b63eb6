/* Tests src/async/deferred_list.c: DeferredList, gather and race (Twisted's DeferredList,
 * gatherResults, race), with the book's fastest_of_two and its five tests. No reactor needed:
 * Deferreds are plain objects; a log publisher of each test's own observes "Unhandled error". */
#include "check.h"
#include "weft/deferred_list.h"
#include "weft/errors.h"

/* ---- fixtures ---- */

static int destroyed;
static void count_destroy(void *p) {
  (void)p;
  destroyed++;
}
static int tags[8]; /* PTR values point at these, so a test can tell which value it got */
static weft_value tagged(int i) { return weft_ptr(&tags[i], count_destroy); }

static int unhandled;
static char unhandled_text[1024];
static void capture(const weft_log_event *ev, void *user) {
  (void)user;
  char text[1024];
  weft_log_format_message(ev, text, sizeof text);
  if (strcmp(ev->ns, "weft.defer") == 0 && strstr(text, "Unhandled error in Deferred")) {
    unhandled++;
    memcpy(unhandled_text, text, sizeof text);
  }
}

static int cancels;
static bool cancelled_flag[8];
static void mark_cancel(weft_deferred *d, void *arg) {
  (void)d;
  cancels++;
  *(bool *)arg = true;
}

/* A log whose unhandled-error reports this test counts; resets the counters. */
static weft_log_publisher *test_log(void) {
  weft_log_publisher *log;
  REQUIRE(weft_log_publisher_new(&log) == 0);
  REQUIRE(weft_log_add_observer(log, WEFT_LOG_DEBUG, capture, NULL) == 0);
  unhandled = cancels = destroyed = 0;
  memset(cancelled_flag, 0, sizeof cancelled_flag);
  return log;
}

/* n unfired inputs, each with a canceller marking cancelled_flag[i]; in[i] is the test's (the
 * firer's) reference and pass[i] the one handed to the function under test. */
static void make_inputs(weft_log_publisher *log, weft_deferred **in, weft_deferred **pass, size_t n) {
  for (size_t i = 0; i < n; i++) {
    in[i] = weft_deferred_new_cancellable(log, mark_cancel, &cancelled_flag[i]);
    REQUIRE(in[i]);
    pass[i] = weft_deferred_ref(in[i]);
  }
}

static void unref_all(weft_deferred **d, size_t n) {
  for (size_t i = 0; i < n; i++) weft_deferred_unref(d[i]);
}

static weft_failure *boom(int code) { return weft_failure_new("test.app", code, "boom %d", code); }

static weft_value take(weft_deferred *d) {
  weft_value v;
  CHECK_INT(weft_deferred_take_result(d, &v), 0);
  return v;
}

static bool is_fail(weft_value v, const char *domain, int code) {
  return weft_value_is_failure(v) && weft_failure_check(v.v.f, domain, code);
}

/* ---- DeferredList ---- */

static void test_list_keeps_input_order_whatever_the_firing_order(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *dl = weft_deferred_list(log, pass, 3, 0);
  REQUIRE(dl);
  weft_deferred_callback(in[2], tagged(2));
  weft_deferred_callback(in[0], weft_int(10));
  CHECK(!weft_deferred_called(dl)); /* waits for all */
  weft_deferred_callback(in[1], weft_str("one"));
  CHECK(weft_deferred_called(dl));
  weft_value v = take(dl);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK_INT(weft_result_list_count(l), 3);
  for (size_t i = 0; i < 3; i++) CHECK(weft_result_list_ok(l, i));
  CHECK_INT(weft_result_list_get(l, 0).v.i, 10);
  CHECK_STR(weft_result_list_get(l, 1).v.s, "one");
  CHECK(weft_result_list_get(l, 2).v.p == &tags[2]);
  CHECK_INT(weft_result_list_get(l, 3).kind, WEFT_VALUE_NONE); /* out of range */
  CHECK(!weft_result_list_ok(l, 3));
  /* a value has one owner: the list took it, the input goes on with NONE */
  CHECK_INT(weft_deferred_result(in[2]).kind, WEFT_VALUE_NONE);
  CHECK_INT(destroyed, 0);
  weft_value_release(v);
  CHECK_INT(destroyed, 1);
  unref_all(in, 3);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_list_of_already_fired_inputs_fires_at_once(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *ds[2] = {weft_succeed(log, tagged(0)), weft_fail(log, boom(1))};
  weft_deferred *dl = weft_deferred_list(log, ds, 2, WEFT_CONSUME_ERRORS);
  REQUIRE(dl);
  CHECK(weft_deferred_called(dl)); /* inside the call */
  weft_value v = take(dl);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK(weft_result_list_ok(l, 0) && weft_result_list_get(l, 0).v.p == &tags[0]);
  CHECK(!weft_result_list_ok(l, 1) && is_fail(weft_result_list_get(l, 1), "test.app", 1));
  /* moving a value out of the list: ours now, not freed with the list */
  weft_value moved = weft_result_list_take(l, 0);
  CHECK_INT(weft_result_list_get(l, 0).kind, WEFT_VALUE_NONE);
  CHECK(weft_result_list_ok(l, 0));
  weft_value_release(v);
  CHECK_INT(destroyed, 0);
  weft_value_release(moved);
  CHECK_INT(destroyed, 1);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_list_failures_without_consume_stay_unhandled_in_inputs(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[2], *pass[2];
  make_inputs(log, in, pass, 2);
  weft_deferred *dl = weft_deferred_list(log, pass, 2, 0);
  weft_failure *f = boom(2);
  weft_deferred_errback(in[0], f);
  weft_deferred_callback(in[1], weft_int(1));
  weft_value v = take(dl);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK(!weft_result_list_ok(l, 0));
  CHECK(weft_result_list_get(l, 0).v.f == f); /* shared, not copied */
  CHECK(weft_deferred_result(in[0]).v.f == f); /* the input keeps its failure (Twisted) */
  weft_value_release(v);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_deferred_unref(in[1]);
  weft_deferred_unref(in[0]); /* nobody handled it: reported as Twisted does */
  CHECK_INT(unhandled, 1);
  CHECK(strstr(unhandled_text, "boom 2") != NULL);
  weft_log_publisher_free(log);
}

static void test_list_consume_errors_leaves_inputs_with_none(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[2], *pass[2];
  make_inputs(log, in, pass, 2);
  weft_deferred *dl = weft_deferred_list(log, pass, 2, WEFT_CONSUME_ERRORS);
  weft_deferred_errback(in[0], boom(3));
  weft_deferred_errback(in[1], boom(4));
  CHECK_INT(weft_deferred_result(in[0]).kind, WEFT_VALUE_NONE);
  CHECK_INT(weft_deferred_result(in[1]).kind, WEFT_VALUE_NONE);
  weft_value v = take(dl);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK(is_fail(weft_result_list_get(l, 0), "test.app", 3));
  CHECK(is_fail(weft_result_list_get(l, 1), "test.app", 4));
  weft_value_release(v);
  unref_all(in, 2);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_list_fire_on_one_callback(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *dl = weft_deferred_list(log, pass, 3, WEFT_FIRE_ON_ONE_CALLBACK | WEFT_CONSUME_ERRORS);
  weft_deferred_errback(in[0], boom(5)); /* a failure does not fire it */
  CHECK(!weft_deferred_called(dl));
  weft_deferred_callback(in[1], tagged(1));
  CHECK(weft_deferred_called(dl));
  weft_value v = take(dl);
  CHECK(weft_result_list_of(v) == NULL);
  weft_indexed_value *first = weft_indexed_value_of(v);
  REQUIRE(first);
  CHECK_INT(first->index, 1);
  CHECK(first->value.v.p == &tags[1]);
  CHECK_INT(cancels, 0); /* DeferredList does not cancel the rest unless asked */
  /* a late success stays with its input, whose owner frees it */
  weft_deferred_callback(in[2], tagged(2));
  CHECK(weft_deferred_result(in[2]).v.p == &tags[2]);
  CHECK_INT(destroyed, 0);
  weft_deferred_unref(in[2]);
  CHECK_INT(destroyed, 1);
  weft_value_release(v); /* the pair and its value */
  CHECK_INT(destroyed, 2);
  weft_deferred_unref(in[0]);
  weft_deferred_unref(in[1]);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_list_fire_on_one_callback_when_all_fail_fires_the_list(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *ds[2] = {weft_fail(log, boom(1)), weft_fail(log, boom(2))};
  weft_deferred *dl = weft_deferred_list(log, ds, 2, WEFT_FIRE_ON_ONE_CALLBACK | WEFT_CONSUME_ERRORS);
  weft_value v = take(dl);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l); /* as Twisted: no success, so the whole list */
  CHECK(!weft_result_list_ok(l, 0) && !weft_result_list_ok(l, 1));
  weft_value_release(v);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_list_fire_on_one_errback(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *dl = weft_deferred_list(log, pass, 3, WEFT_FIRE_ON_ONE_ERRBACK);
  weft_deferred_callback(in[0], tagged(0)); /* kept for the list, until it fails */
  CHECK_INT(destroyed, 0);
  weft_failure *f = boom(6);
  weft_deferred_errback(in[1], f);
  CHECK(weft_deferred_called(dl));
  CHECK_INT(destroyed, 1); /* the list fired early: what it had gathered is released */
  weft_value v = take(dl);
  REQUIRE(weft_value_is_failure(v));
  CHECK(weft_failure_check(v.v.f, WEFT_FAILURE_DOMAIN, WEFT_EFIRSTERROR));
  size_t index = 99;
  CHECK(weft_first_error_index(v.v.f, &index));
  CHECK_INT(index, 1);
  CHECK(weft_failure_cause(v.v.f) == f); /* the original, as cause */
  CHECK(strstr(weft_failure_message(v.v.f), "#1") != NULL);
  char text[512];
  weft_failure_text(v.v.f, text, sizeof text);
  CHECK(strstr(text, "caused by: test.app/6: boom 6") != NULL);
  weft_value_release(v);
  /* a late failure, not consumed: stays in its input, reported when that is freed */
  weft_deferred_errback(in[2], boom(7));
  unref_all(in, 3);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 2); /* boom 6 and boom 7: neither input's failure was consumed */
  weft_log_publisher_free(log);
}

static void test_list_cancel_rest_cancels_and_consumes_the_losers(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *dl = weft_deferred_list(log, pass, 3, WEFT_FIRE_ON_ONE_CALLBACK | WEFT_CANCEL_REST);
  weft_deferred_callback(in[2], weft_int(2));
  CHECK_INT(cancels, 2);
  CHECK(cancelled_flag[0] && cancelled_flag[1] && !cancelled_flag[2]);
  /* the cancelled inputs' failures were the list's doing: consumed, even without the flag */
  CHECK_INT(weft_deferred_result(in[0]).kind, WEFT_VALUE_NONE);
  weft_indexed_value *first = weft_indexed_value_of(weft_deferred_result(dl));
  REQUIRE(first);
  CHECK_INT(first->index, 2);
  CHECK_INT(first->value.v.i, 2);
  unref_all(in, 3);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_list_with_one_deferred_twice(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *d = weft_deferred_new(log);
  weft_deferred *ds[2] = {weft_deferred_ref(d), weft_deferred_ref(d)};
  weft_deferred *dl = weft_deferred_list(log, ds, 2, 0);
  weft_deferred_callback(d, tagged(0));
  weft_value v = take(dl);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK(weft_result_list_get(l, 0).v.p == &tags[0]);
  CHECK_INT(weft_result_list_get(l, 1).kind, WEFT_VALUE_NONE); /* what the first step left */
  weft_value_release(v);
  CHECK_INT(destroyed, 1);
  weft_deferred_unref(d);
  weft_deferred_unref(dl);
  weft_log_publisher_free(log);
}

/* ---- gather ---- */

static void test_gather_values_in_input_order(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *g = weft_gather(log, pass, 3, 0);
  REQUIRE(g);
  weft_deferred_callback(in[1], tagged(1));
  weft_deferred_callback(in[2], tagged(2));
  CHECK(!weft_deferred_called(g));
  weft_deferred_callback(in[0], tagged(0));
  weft_value v = take(g);
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK_INT(weft_result_list_count(l), 3);
  for (size_t i = 0; i < 3; i++) CHECK(weft_result_list_ok(l, i) && weft_result_list_get(l, i).v.p == &tags[i]);
  weft_value_release(v);
  CHECK_INT(destroyed, 3);
  unref_all(in, 3);
  weft_deferred_unref(g);
  weft_log_publisher_free(log);
}

static void test_gather_first_failure(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *g = weft_gather(log, pass, 3, WEFT_CONSUME_ERRORS);
  weft_deferred_callback(in[0], tagged(0));
  weft_failure *f = boom(8);
  weft_deferred_errback(in[2], f);
  weft_value v = take(g);
  CHECK(is_fail(v, WEFT_FAILURE_DOMAIN, WEFT_EFIRSTERROR));
  size_t index;
  CHECK(weft_first_error_index(v.v.f, &index) && index == 2);
  CHECK(weft_failure_cause(v.v.f) == f);
  CHECK_INT(destroyed, 1);  /* in[0]'s value, gathered then released */
  CHECK_INT(cancels, 0);    /* the rest goes on unless asked */
  CHECK(!weft_deferred_called(in[1]));
  weft_deferred_errback(in[1], boom(9)); /* late, consumed */
  weft_value_release(v);
  unref_all(in, 3);
  weft_deferred_unref(g);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_gather_cancel_rest_on_failure(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *g = weft_gather(log, pass, 3, WEFT_CANCEL_REST);
  weft_deferred_errback(in[1], boom(10));
  CHECK_INT(cancels, 2);
  CHECK(cancelled_flag[0] && cancelled_flag[2] && !cancelled_flag[1]);
  weft_value v = take(g);
  size_t index;
  CHECK(weft_first_error_index(v.v.f, &index) && index == 1);
  weft_value_release(v);
  unref_all(in, 3);
  weft_deferred_unref(g);
  /* only the failure nobody cancelled stays unhandled (no CONSUME_ERRORS): the cancelled ones
   * were the gather's doing */
  CHECK_INT(unhandled, 1);
  CHECK(strstr(unhandled_text, "boom 10") != NULL);
  weft_log_publisher_free(log);
}

/* ---- race ---- */

static int cancels_seen_by_callback;
static weft_value note_cancels(weft_value v, void *arg) {
  (void)arg;
  cancels_seen_by_callback = cancels;
  return v;
}

static void test_race_first_success_wins_and_losers_are_cancelled(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *r = weft_race(log, pass, 3);
  REQUIRE(r);
  weft_deferred_add_callback(r, note_cancels, NULL);
  cancels_seen_by_callback = -1;
  weft_deferred_callback(in[1], tagged(1));
  CHECK(cancelled_flag[0] && cancelled_flag[2] && !cancelled_flag[1]);
  CHECK_INT(cancels_seen_by_callback, 2); /* losers cancelled before the winner is announced */
  weft_value v = take(r);
  weft_indexed_value *w = weft_indexed_value_of(v);
  REQUIRE(w);
  CHECK_INT(w->index, 1);
  CHECK(w->value.v.p == &tags[1]);
  CHECK_INT(weft_deferred_result(in[1]).kind, WEFT_VALUE_NONE); /* the value moved to the winner */
  weft_value_release(v);
  CHECK_INT(destroyed, 1);
  unref_all(in, 3);
  weft_deferred_unref(r);
  CHECK_INT(unhandled, 0); /* the losers' cancellations were consumed */
  weft_log_publisher_free(log);
}

static void test_race_failures_before_a_winner_are_consumed(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *ds[3] = {weft_fail(log, boom(1)), weft_succeed(log, weft_int(7)), weft_succeed(log, weft_int(8))};
  weft_deferred *r = weft_race(log, ds, 3);
  weft_indexed_value *w = weft_indexed_value_of(weft_deferred_result(r));
  REQUIRE(w);
  CHECK_INT(w->index, 1); /* both had fired: the first in list order wins */
  CHECK_INT(w->value.v.i, 7);
  weft_deferred_unref(r);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_race_fails_only_when_all_fail(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *r = weft_race(log, pass, 3);
  weft_failure *f[3] = {boom(20), boom(21), boom(22)};
  weft_deferred_errback(in[2], f[2]);
  weft_deferred_errback(in[0], f[0]);
  CHECK(!weft_deferred_called(r));
  weft_deferred_errback(in[1], f[1]);
  weft_value v = take(r);
  REQUIRE(is_fail(v, WEFT_FAILURE_DOMAIN, WEFT_EALLFAILED));
  CHECK(weft_failure_cause(v.v.f) == f[0]);
  CHECK_INT(cancels, 0);
  const weft_result_list *all = weft_race_failures(v.v.f);
  REQUIRE(all);
  CHECK_INT(weft_result_list_count(all), 3);
  for (size_t i = 0; i < 3; i++) {
    CHECK(!weft_result_list_ok(all, i));
    CHECK(weft_result_list_get(all, i).v.f == f[i]); /* input order, not firing order */
  }
  CHECK(!weft_first_error_index(v.v.f, NULL));
  weft_value_release(v);
  unref_all(in, 3);
  weft_deferred_unref(r);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

/* ---- cancelling the aggregate ---- */

static void test_cancelling_a_list_cancels_unfired_inputs(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[3], *pass[3];
  make_inputs(log, in, pass, 3);
  weft_deferred *dl = weft_deferred_list(log, pass, 3, 0);
  weft_deferred_callback(in[1], weft_int(1));
  weft_deferred_cancel(dl);
  CHECK_INT(cancels, 2);
  CHECK(cancelled_flag[0] && !cancelled_flag[1] && cancelled_flag[2]);
  weft_value v = take(dl); /* as Twisted: the list fires from its cancelled inputs */
  weft_result_list *l = weft_result_list_of(v);
  REQUIRE(l);
  CHECK(is_fail(weft_result_list_get(l, 0), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  CHECK(weft_result_list_ok(l, 1));
  CHECK(is_fail(weft_result_list_get(l, 2), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  weft_value_release(v);
  weft_deferred_cancel(dl); /* fired: nothing */
  CHECK_INT(cancels, 2);
  unref_all(in, 3);
  weft_deferred_unref(dl);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_cancelling_gather_and_race_cancels_their_inputs(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[2], *pass[2];
  make_inputs(log, in, pass, 2);
  weft_deferred *g = weft_gather(log, pass, 2, 0);
  weft_deferred_cancel(g);
  CHECK_INT(cancels, 2);
  weft_value v = take(g);
  CHECK(is_fail(v, WEFT_FAILURE_DOMAIN, WEFT_EFIRSTERROR));
  CHECK(weft_failure_check(weft_failure_cause(v.v.f), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  weft_value_release(v);
  unref_all(in, 2);
  weft_deferred_unref(g);

  make_inputs(log, in, pass, 2);
  weft_deferred *r = weft_race(log, pass, 2);
  weft_deferred_cancel(r);
  CHECK_INT(cancels, 4);
  v = take(r);
  CHECK(is_fail(v, WEFT_FAILURE_DOMAIN, WEFT_EALLFAILED));
  CHECK(weft_failure_check(weft_failure_cause(v.v.f), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  weft_value_release(v);
  unref_all(in, 2);
  weft_deferred_unref(r);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

/* An input whose chain is running when the aggregate is cancelled cannot fire then: the
 * aggregate fails with ECANCELED itself, and the input's result arrives late. */
static weft_deferred *to_cancel;
static weft_value cancel_aggregate(weft_value v, void *arg) {
  (void)arg;
  weft_deferred_cancel(to_cancel);
  return v;
}

static void test_cancel_while_an_input_is_running(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[2], *pass[2];
  make_inputs(log, in, pass, 2);
  weft_deferred_add_callback(in[0], cancel_aggregate, NULL); /* runs before the list's step */
  to_cancel = weft_deferred_list(log, pass, 2, 0);
  weft_deferred_callback(in[0], tagged(0));
  CHECK(is_fail(weft_deferred_result(to_cancel), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  CHECK(cancelled_flag[1]);
  CHECK(weft_deferred_result(in[0]).v.p == &tags[0]); /* late: left to its input */
  weft_value v = take(to_cancel);
  weft_value_release(v);
  unref_all(in, 2);
  CHECK_INT(destroyed, 1);
  weft_deferred_unref(to_cancel);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

/* ---- edge cases and ownership ---- */

static void test_empty_inputs_fire_at_once(void) {
  weft_log_publisher *log = test_log();
  unsigned flag_sets[] = {0, WEFT_FIRE_ON_ONE_CALLBACK, WEFT_FIRE_ON_ONE_ERRBACK};
  for (size_t k = 0; k < 3; k++) {
    weft_deferred *dl = weft_deferred_list(log, NULL, 0, flag_sets[k]);
    REQUIRE(dl);
    weft_result_list *l = weft_result_list_of(weft_deferred_result(dl));
    REQUIRE(l);
    CHECK_INT(weft_result_list_count(l), 0);
    weft_deferred_unref(dl);
  }
  weft_deferred *g = weft_gather(log, NULL, 0, 0);
  CHECK(weft_result_list_of(weft_deferred_result(g)) != NULL);
  weft_deferred_unref(g);
  weft_deferred *r = weft_race(log, NULL, 0);
  weft_value v = take(r);
  CHECK(is_fail(v, WEFT_FAILURE_DOMAIN, WEFT_EALLFAILED));
  CHECK(weft_failure_cause(v.v.f) == NULL);
  CHECK_INT(weft_result_list_count(weft_race_failures(v.v.f)), 0);
  weft_value_release(v);
  weft_deferred_unref(r);
  CHECK_INT(unhandled, 0);
  weft_log_publisher_free(log);
}

static void test_results_freed_with_the_aggregate(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *in[2], *pass[2];
  make_inputs(log, in, pass, 2);
  weft_deferred *dl = weft_deferred_list(log, pass, 2, 0);
  weft_deferred_callback(in[0], tagged(0));
  weft_deferred_callback(in[1], tagged(1));
  unref_all(in, 2);
  CHECK_INT(destroyed, 0);
  weft_deferred_unref(dl); /* the list inside it goes, with its values */
  CHECK_INT(destroyed, 2);

  make_inputs(log, in, pass, 2);
  dl = weft_deferred_list(log, pass, 2, WEFT_FIRE_ON_ONE_CALLBACK);
  weft_deferred_callback(in[1], tagged(1));
  weft_deferred_unref(dl); /* the (index, value) pair goes, while in[0] still pends */
  CHECK_INT(destroyed, 3);
  weft_deferred_callback(in[0], tagged(0)); /* late, after the aggregate is gone */
  unref_all(in, 2);
  CHECK_INT(destroyed, 4);

  /* the aggregate dropped before it fires: the inputs still complete it, nothing leaks */
  make_inputs(log, in, pass, 2);
  dl = weft_deferred_list(log, pass, 2, 0);
  weft_deferred_unref(dl);
  weft_deferred_callback(in[0], tagged(0));
  weft_deferred_errback(in[1], boom(1));
  CHECK_INT(destroyed, 5);
  unref_all(in, 2);
  CHECK_INT(unhandled, 1); /* in[1]'s failure, not consumed */
  weft_log_publisher_free(log);
}

static void test_accessors_reject_other_values(void) {
  CHECK(weft_result_list_of(weft_int(1)) == NULL);
  CHECK(weft_result_list_of(weft_ptr(&tags[0], count_destroy)) == NULL);
  CHECK(weft_indexed_value_of(weft_none()) == NULL);
  weft_failure *f = boom(1);
  CHECK(!weft_first_error_index(f, NULL));
  CHECK(weft_race_failures(f) == NULL);
  weft_failure_unref(f);
  CHECK(!weft_first_error_index(NULL, NULL));
  CHECK_STR(weft_err_name(WEFT_EFIRSTERROR), "EFIRSTERROR");
  CHECK_STR(weft_err_name(WEFT_EALLFAILED), "EALLFAILED");
}

/* ---- the book's fastest_of_two ---- */

/* The first of two Deferreds to fire decides: its value with its index, or its failure wrapped
 * as the first error; the other's failure is consumed. The book's helper, over DeferredList. */
static weft_deferred *fastest_of_two(weft_deferred *d1, weft_deferred *d2) {
  weft_deferred *ds[2] = {d1, d2};
  return weft_deferred_list(NULL, ds, 2, WEFT_FIRE_ON_ONE_CALLBACK | WEFT_FIRE_ON_ONE_ERRBACK | WEFT_CONSUME_ERRORS);
}

static void test_fastest_of_two_no_result(void) {
  weft_deferred *d1 = weft_deferred_new(NULL), *d2 = weft_deferred_new(NULL);
  weft_deferred *d = fastest_of_two(weft_deferred_ref(d1), weft_deferred_ref(d2));
  CHECK(!weft_deferred_called(d));
  weft_deferred_callback(d1, weft_none()); /* let it finish, for a clean end */
  weft_deferred_callback(d2, weft_none());
  weft_deferred_unref(d);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void test_fastest_of_two_first_fires(void) {
  weft_deferred *d1 = weft_deferred_new(NULL), *d2 = weft_deferred_new(NULL);
  weft_deferred *d = fastest_of_two(weft_deferred_ref(d1), weft_deferred_ref(d2));
  weft_deferred_callback(d1, weft_str("d1"));
  weft_indexed_value *r = weft_indexed_value_of(weft_deferred_result(d));
  REQUIRE(r);
  CHECK_INT(r->index, 0);
  CHECK_STR(r->value.v.s, "d1");
  weft_deferred_callback(d2, weft_str("d2")); /* too late to matter */
  CHECK_STR(r->value.v.s, "d1");
  weft_deferred_unref(d);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void test_fastest_of_two_already_fired_first(void) {
  weft_deferred *d2 = weft_deferred_new(NULL);
  weft_deferred *d = fastest_of_two(weft_succeed(NULL, weft_str("d1")), weft_deferred_ref(d2));
  weft_indexed_value *r = weft_indexed_value_of(weft_deferred_result(d));
  REQUIRE(r);
  CHECK_INT(r->index, 0);
  CHECK_STR(r->value.v.s, "d1");
  weft_deferred_callback(d2, weft_none());
  weft_deferred_unref(d);
  weft_deferred_unref(d2);
}

static void test_fastest_of_two_both_fired_first_in_list_order_wins(void) {
  weft_deferred *d = fastest_of_two(weft_succeed(NULL, weft_str("d1")), weft_succeed(NULL, weft_str("d2")));
  weft_indexed_value *r = weft_indexed_value_of(weft_deferred_result(d));
  REQUIRE(r);
  CHECK_INT(r->index, 0);
  CHECK_STR(r->value.v.s, "d1");
  weft_deferred_unref(d);
}

static void test_fastest_of_two_failure_is_first_error_with_original_cause(void) {
  weft_log_publisher *log = test_log();
  weft_deferred *d1 = weft_deferred_new(log), *d2 = weft_deferred_new(log);
  weft_deferred *d = fastest_of_two(weft_deferred_ref(d1), weft_deferred_ref(d2));
  weft_failure *original = weft_failure_new("test.app", 42, "d1 failed");
  weft_deferred_errback(d1, original);
  weft_value v = take(d);
  REQUIRE(is_fail(v, WEFT_FAILURE_DOMAIN, WEFT_EFIRSTERROR));
  size_t index;
  CHECK(weft_first_error_index(v.v.f, &index) && index == 0);
  CHECK(weft_failure_cause(v.v.f) == original);
  CHECK(weft_failure_check(weft_failure_cause(v.v.f), "test.app", 42));
  weft_value_release(v);
  weft_deferred_errback(d2, boom(2)); /* late, consumed */
  weft_deferred_unref(d);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
  CHECK_INT(unhandled, 0); /* CONSUME_ERRORS: neither input reports */
  weft_log_publisher_free(log);
}

int main(void) {
  RUN(test_list_keeps_input_order_whatever_the_firing_order);
  RUN(test_list_of_already_fired_inputs_fires_at_once);
  RUN(test_list_failures_without_consume_stay_unhandled_in_inputs);
  RUN(test_list_consume_errors_leaves_inputs_with_none);
  RUN(test_list_fire_on_one_callback);
  RUN(test_list_fire_on_one_callback_when_all_fail_fires_the_list);
  RUN(test_list_fire_on_one_errback);
  RUN(test_list_cancel_rest_cancels_and_consumes_the_losers);
  RUN(test_list_with_one_deferred_twice);
  RUN(test_gather_values_in_input_order);
  RUN(test_gather_first_failure);
  RUN(test_gather_cancel_rest_on_failure);
  RUN(test_race_first_success_wins_and_losers_are_cancelled);
  RUN(test_race_failures_before_a_winner_are_consumed);
  RUN(test_race_fails_only_when_all_fail);
  RUN(test_cancelling_a_list_cancels_unfired_inputs);
  RUN(test_cancelling_gather_and_race_cancels_their_inputs);
  RUN(test_cancel_while_an_input_is_running);
  RUN(test_empty_inputs_fire_at_once);
  RUN(test_results_freed_with_the_aggregate);
  RUN(test_accessors_reject_other_values);
  RUN(test_fastest_of_two_no_result);
  RUN(test_fastest_of_two_first_fires);
  RUN(test_fastest_of_two_already_fired_first);
  RUN(test_fastest_of_two_both_fired_first_in_list_order_wins);
  RUN(test_fastest_of_two_failure_is_first_error_with_original_cause);
  return CHECK_DONE();
}
