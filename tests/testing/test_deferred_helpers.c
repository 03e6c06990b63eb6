/* Tests src/testing/deferred_helpers.c: assert_no_result, success_result_of and failure_result_of
 * (their verdicts, messages and what they take out of the Deferred) and the logged-error capture
 * (collect, count, flush by substring, free). */
#include "check.h"
#include "weft/errors.h"
#include "weft/testing.h"

static char why[2048];

static int destroyed;
static void count_destroy(void *p) {
  (void)p;
  destroyed++;
}

/* A publisher whose errors are captured, so a test sees whether a helper left a Failure to be
 * reported as unhandled. */
static weft_log_publisher *log_;
static weft_logged_errors *errors;
static void open_log(void) {
  REQUIRE(weft_log_publisher_new(&log_) == 0);
  errors = weft_logged_errors_capture(log_);
  REQUIRE(errors != NULL);
}
static void close_log(void) {
  CHECK_INT(weft_logged_errors_count(errors), 0);
  weft_logged_errors_free(errors);
  weft_log_publisher_free(log_);
}

static weft_value return_inner(weft_value v, void *arg) {
  weft_value_release(v);
  return weft_chain(weft_deferred_ref(arg));
}

/* ---- assert_no_result ---- */

static void test_no_result_on_unfired_and_paused(void) {
  open_log();
  weft_deferred *d = weft_deferred_new(log_);
  strcpy(why, "stale");
  CHECK(weft_assert_no_result(d, why, sizeof why));
  CHECK_STR(why, ""); /* cleared when the expectation holds */
  /* fired but waiting on an inner Deferred: no result yet, as in Twisted */
  weft_deferred *inner = weft_deferred_new(log_);
  weft_deferred_add_callback(d, return_inner, inner);
  weft_deferred_callback(d, weft_none());
  CHECK(weft_deferred_paused(d));
  CHECK(weft_assert_no_result(d, why, sizeof why));
  weft_deferred_callback(inner, weft_int(1));
  CHECK(!weft_assert_no_result(d, why, sizeof why));
  CHECK_STR(why, "expected no result, the Deferred has one: int 1");
  weft_deferred_unref(inner);
  weft_deferred_unref(d);
  close_log();
}

static void test_no_result_fails_on_value_and_keeps_it(void) {
  open_log();
  weft_deferred *d = weft_succeed(log_, weft_str("hello"));
  CHECK(!weft_assert_no_result(d, why, sizeof why));
  CHECK_STR(why, "expected no result, the Deferred has one: str \"hello\"");
  CHECK_INT(weft_deferred_result(d).kind, WEFT_VALUE_STR); /* a value stays */
  weft_deferred_unref(d);
  CHECK(!weft_assert_no_result(NULL, why, sizeof why));
  CHECK_STR(why, "expected a Deferred, got NULL");
  close_log();
}

static void test_no_result_fails_on_failure_and_consumes_it(void) {
  open_log();
  weft_deferred *d = weft_fail(log_, weft_failure_new("test.app", 7, "boom"));
  CHECK(!weft_assert_no_result(d, why, sizeof why));
  const char *head = "expected no result, the Deferred has one: "
                     "failure test.app/7: boom (at test_deferred_helpers.c:";
  CHECK(strncmp(why, head, strlen(head)) == 0);
  weft_deferred_unref(d);
  CHECK_INT(weft_logged_errors_count(errors), 0); /* reported once, through why */
  close_log();
}

/* ---- success_result_of ---- */

static void test_success_result_of_takes_value(void) {
  open_log();
  destroyed = 0;
  weft_deferred *d = weft_succeed(log_, weft_ptr(&destroyed, count_destroy));
  weft_value v;
  strcpy(why, "stale");
  CHECK_INT(weft_success_result_of(d, &v, why, sizeof why), 0);
  CHECK_STR(why, "");
  CHECK_INT(v.kind, WEFT_VALUE_PTR);
  CHECK(v.v.p == &destroyed);
  weft_deferred_unref(d);
  CHECK_INT(destroyed, 0); /* the caller owns it now */
  weft_value_release(v);
  CHECK_INT(destroyed, 1);

  /* out NULL: the value is released */
  d = weft_succeed(log_, weft_ptr(&destroyed, count_destroy));
  CHECK_INT(weft_success_result_of(d, NULL, NULL, 0), 0);
  CHECK_INT(destroyed, 2);
  CHECK_INT(weft_deferred_result(d).kind, WEFT_VALUE_NONE);
  weft_deferred_unref(d);
  CHECK_INT(destroyed, 2);
  close_log();
}

static void test_success_result_of_without_result(void) {
  open_log();
  weft_deferred *d = weft_deferred_new(log_);
  weft_value v = weft_int(9);
  CHECK_INT(weft_success_result_of(d, &v, why, sizeof why), WEFT_ESTATE);
  CHECK_STR(why, "expected a result, the Deferred has not fired");
  CHECK_INT(v.kind, WEFT_VALUE_NONE);
  weft_deferred *inner = weft_deferred_new(log_);
  weft_deferred_add_callback(d, return_inner, inner);
  weft_deferred_callback(d, weft_none());
  CHECK_INT(weft_success_result_of(d, &v, why, sizeof why), WEFT_ESTATE);
  CHECK_STR(why, "expected a result, the Deferred is waiting on another Deferred");
  weft_deferred_callback(inner, weft_int(4));
  CHECK_INT(weft_success_result_of(d, &v, why, sizeof why), 0);
  CHECK_INT(v.v.i, 4);
  CHECK_INT(weft_success_result_of(NULL, &v, why, sizeof why), WEFT_EINVAL);
  weft_deferred_unref(inner);
  weft_deferred_unref(d);
  close_log();
}

static void test_success_result_of_failure_message(void) {
  open_log();
  weft_failure *f = weft_failure_new("weft.app", 1, "could not connect");
  weft_failure_set_cause(f, weft_failure_from_error(WEFT_ECONNREFUSED));
  weft_deferred *d = weft_fail(log_, f);
  weft_value v;
  CHECK_INT(weft_success_result_of(d, &v, why, sizeof why), WEFT_EINVAL);
  CHECK_INT(v.kind, WEFT_VALUE_NONE);
  const char *head = "expected success, got failure weft.app/1: could not connect (at test_deferred_helpers.c:";
  CHECK(strncmp(why, head, strlen(head)) == 0);
  CHECK(strstr(why, "\n  caused by: weft/-111: connection refused (at test_deferred_helpers.c:") != NULL);
  weft_deferred_unref(d);
  CHECK_INT(weft_logged_errors_count(errors), 0); /* consumed: not reported again */
  close_log();
}

static void test_messages_are_truncated_safely(void) {
  open_log();
  weft_deferred *d = weft_deferred_new(log_);
  weft_value v;
  char small[10];
  memset(small, 'x', sizeof small);
  CHECK_INT(weft_success_result_of(d, &v, small, sizeof small), WEFT_ESTATE);
  CHECK_STR(small, "expected ");
  CHECK_INT(weft_success_result_of(d, &v, NULL, 0), WEFT_ESTATE);
  CHECK(weft_failure_result_of(d, NULL, 0, NULL, 0) == NULL);
  weft_deferred_unref(d);
  close_log();
}

/* ---- failure_result_of ---- */

static void test_failure_result_of_matching(void) {
  open_log();
  weft_deferred *d = weft_fail(log_, weft_failure_from_error(WEFT_ETIMEDOUT));
  strcpy(why, "stale");
  weft_failure *f = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT, why, sizeof why);
  CHECK(f != NULL);
  CHECK_STR(why, "");
  CHECK_INT(weft_failure_code(f), WEFT_ETIMEDOUT);
  CHECK_INT(weft_deferred_result(d).kind, WEFT_VALUE_NONE); /* taken out: d reports nothing */
  weft_deferred_unref(d);
  weft_failure_unref(f); /* the caller's reference */

  d = weft_fail(log_, weft_failure_new("test.app", 3, "x"));
  f = weft_failure_result_of(d, "test.app", WEFT_FAILURE_ANY_CODE, why, sizeof why);
  CHECK(f != NULL);
  weft_failure_unref(f);
  weft_deferred_unref(d);

  d = weft_fail(log_, weft_failure_new("test.app", 3, "x"));
  f = weft_failure_result_of(d, NULL, 0, why, sizeof why); /* any Failure */
  CHECK(f != NULL);
  weft_failure_unref(f);
  weft_deferred_unref(d);
  close_log();
}

static void test_failure_result_of_mismatches(void) {
  open_log();
  destroyed = 0;
  weft_deferred *d = weft_succeed(log_, weft_ptr(&destroyed, count_destroy));
  CHECK(weft_failure_result_of(d, "test.app", 7, why, sizeof why) == NULL);
  CHECK(strncmp(why, "expected failure test.app/7, got success: ptr ", 46) == 0);
  CHECK_INT(destroyed, 1); /* taken out and released */
  weft_deferred_unref(d);
  CHECK_INT(destroyed, 1);

  d = weft_succeed(log_, weft_int(3));
  CHECK(weft_failure_result_of(d, NULL, 0, why, sizeof why) == NULL);
  CHECK_STR(why, "expected a failure, got success: int 3");
  weft_deferred_unref(d);

  d = weft_fail(log_, weft_failure_from_error(WEFT_ECONNREFUSED));
  CHECK(weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT, why, sizeof why) == NULL);
  CHECK(strncmp(why, "expected failure weft/-110, got failure weft/-111: connection refused (at ", 73) == 0);
  weft_deferred_unref(d);

  d = weft_fail(log_, weft_failure_from_error(WEFT_ECONNREFUSED));
  CHECK(weft_failure_result_of(d, "other", WEFT_FAILURE_ANY_CODE, why, sizeof why) == NULL);
  CHECK(strncmp(why, "expected failure other/(any code), got failure weft/-111", 56) == 0);
  weft_deferred_unref(d);

  d = weft_deferred_new(log_);
  CHECK(weft_failure_result_of(d, "test.app", 7, why, sizeof why) == NULL);
  CHECK_STR(why, "expected failure test.app/7, the Deferred has not fired");
  weft_deferred_errback(d, weft_failure_new("test.app", 7, "later")); /* d was left unchanged */
  weft_failure_unref(weft_failure_result_of(d, "test.app", 7, why, sizeof why));
  weft_deferred_unref(d);
  CHECK(weft_failure_result_of(NULL, NULL, 0, why, sizeof why) == NULL);
  CHECK_STR(why, "expected a Deferred, got NULL");
  CHECK_INT(weft_logged_errors_count(errors), 0); /* everything met was consumed */
  close_log();
}

/* ---- logged-error capture ---- */

static void test_capture_collects_unhandled_errors(void) {
  weft_log_publisher *p;
  REQUIRE(weft_log_publisher_new(&p) == 0);
  weft_logged_errors *c = weft_logged_errors_capture(p);
  REQUIRE(c != NULL);
  CHECK_INT(weft_logged_errors_count(c), 0);
  weft_deferred_unref(weft_fail(p, weft_failure_from_error(WEFT_ECONNREFUSED)));
  CHECK_INT(weft_logged_errors_count(c), 1);
  const char *t = weft_logged_errors_text(c, 0);
  CHECK(t && strncmp(t, "Unhandled error in Deferred: weft/-111: connection refused", 58) == 0);
  CHECK(weft_logged_errors_text(c, 1) == NULL);
  /* other error-level events too, but not warnings */
  weft_log_emit(p, WEFT_LOG_ERROR, "app", "disk {n} failed", WEFT_LOG_INT("n", 2), WEFT_LOG_END);
  weft_log_emit(p, WEFT_LOG_CRITICAL, "app", "on fire", WEFT_LOG_END);
  weft_log_emit(p, WEFT_LOG_WARN, "app", "just a warning", WEFT_LOG_END);
  CHECK_INT(weft_logged_errors_count(c), 3);
  CHECK_STR(weft_logged_errors_text(c, 1), "disk 2 failed");
  weft_logged_errors_free(c);
  weft_log_publisher_free(p);
}

static void test_flush_by_substring_and_all(void) {
  weft_log_publisher *p;
  REQUIRE(weft_log_publisher_new(&p) == 0);
  weft_logged_errors *c = weft_logged_errors_capture(p);
  REQUIRE(c != NULL);
  weft_deferred_unref(weft_fail(p, weft_failure_from_error(WEFT_ECONNREFUSED)));
  weft_deferred_unref(weft_fail(p, weft_failure_from_error(WEFT_ETIMEDOUT)));
  weft_deferred_unref(weft_fail(p, weft_failure_from_error(WEFT_ECONNREFUSED)));
  CHECK_INT(weft_logged_errors_count(c), 3);
  CHECK_INT(weft_logged_errors_flush(c, "connection refused"), 2);
  CHECK_INT(weft_logged_errors_count(c), 1);
  CHECK(strstr(weft_logged_errors_text(c, 0), "timed out") != NULL); /* order of the rest kept */
  CHECK_INT(weft_logged_errors_flush(c, "no such text"), 0);
  CHECK_INT(weft_logged_errors_flush(c, NULL), 1);
  CHECK_INT(weft_logged_errors_count(c), 0);
  CHECK_INT(weft_logged_errors_flush(c, NULL), 0);
  weft_logged_errors_free(c);
  weft_log_publisher_free(p);
}

static void test_two_captures_and_free_removes_observer(void) {
  weft_log_publisher *p;
  REQUIRE(weft_log_publisher_new(&p) == 0);
  weft_logged_errors *a = weft_logged_errors_capture(p), *b = weft_logged_errors_capture(p);
  REQUIRE(a && b);
  weft_log_emit(p, WEFT_LOG_ERROR, "app", "one", WEFT_LOG_END);
  CHECK_INT(weft_logged_errors_count(a), 1);
  CHECK_INT(weft_logged_errors_count(b), 1);
  weft_logged_errors_free(a);
  /* a is gone: were it still observing, ASan would catch the write into freed memory */
  weft_log_emit(p, WEFT_LOG_ERROR, "app", "two", WEFT_LOG_END);
  CHECK_INT(weft_logged_errors_count(b), 2);
  weft_logged_errors_free(b);
  CHECK(weft_logged_errors_capture(NULL) == NULL);
  CHECK_INT(weft_logged_errors_count(NULL), 0);
  CHECK_INT(weft_logged_errors_flush(NULL, NULL), 0);
  weft_logged_errors_free(NULL);
  weft_log_publisher_free(p);
}

static void test_capture_on_reactor_log(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  weft_logged_errors *c = weft_logged_errors_capture(weft_reactor_log(r));
  REQUIRE(c != NULL);
  weft_deferred_unref(weft_fail(weft_reactor_log(r), weft_failure_new("test.app", 1, "expected")));
  CHECK_INT(weft_logged_errors_flush(c, "test.app/1: expected"), 1);
  weft_logged_errors_free(c);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

int main(void) {
  RUN(test_no_result_on_unfired_and_paused);
  RUN(test_no_result_fails_on_value_and_keeps_it);
  RUN(test_no_result_fails_on_failure_and_consumes_it);
  RUN(test_success_result_of_takes_value);
  RUN(test_success_result_of_without_result);
  RUN(test_success_result_of_failure_message);
  RUN(test_messages_are_truncated_safely);
  RUN(test_failure_result_of_matching);
  RUN(test_failure_result_of_mismatches);
  RUN(test_capture_collects_unhandled_errors);
  RUN(test_flush_by_substring_and_all);
  RUN(test_two_captures_and_free_removes_observer);
  RUN(test_capture_on_reactor_log);
  return CHECK_DONE();
}
