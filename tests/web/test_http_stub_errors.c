/* test_http_stub_errors.c: failing and misbehaving handlers seen through the in-memory client: a
 * Deferred that fails gives a 500 with a generic body while the Failure goes to the log only; a
 * handler that never answers has its Deferred cancelled when the client gives up (cancel or
 * timeout on the clock); a Deferred that fires with no answer is a 500; a failure after the
 * response started streaming closes the connection, so the client's body fails. */
#include <stdio.h>
#include <string.h>

#include "http_stub_fixture.h"
#include "weft/coro.h"
#include "weft/http_router.h"

/* ---- the app: routes by path, each misbehaving in one way ---- */

typedef struct app {
  weft_reactor *r;
  int calls;
  int cancels;              /* cancellers of the never-answering Deferreds that ran */
  weft_deferred *pending;   /* the last never-answering Deferred (its reference is the server's) */
  weft_http_request *held;  /* the streaming request, to fail later */
} app;

static void on_cancel(weft_deferred *d, void *arg) {
  app *a = arg;
  a->cancels++;
  weft_deferred_errback(d, weft_failure_from_error(WEFT_ECANCELED));
}

static weft_deferred *handle(weft_http_request *req, void *user) {
  app *a = user;
  a->calls++;
  size_t pl;
  const char *p = weft_http_request_path(req, &pl);
  char path[128];
  snprintf(path, sizeof path, "%.*s", (int)pl, p);
  weft_log_publisher *log = weft_reactor_log(a->r);
  if (!strcmp(path, "/fail"))
    return weft_fail(log, weft_failure_new("app.test", WEFT_EIO, "the disk at /srv/secret is on fire"));
  if (!strcmp(path, "/never")) {
    a->pending = weft_deferred_new_cancellable(log, on_cancel, a);
    return a->pending;
  }
  if (!strcmp(path, "/none")) return weft_succeed(log, weft_none()); /* forgot to answer */
  if (!strcmp(path, "/int")) return weft_succeed(log, weft_int(7));  /* no answer either */
  if (!strcmp(path, "/stream-then-fail")) {
    /* starts a streamed answer, then (later) the Deferred fails: the status has gone */
    weft_http_response_start(req, 200);
    weft_http_response_write(req, "partial", 7);
    a->pending = weft_deferred_new(log);
    return a->pending;
  }
  return weft_succeed(log, weft_str("fine"));
}

static void setup(stub *s, app *a) {
  stub_init(s, NULL);
  memset(a, 0, sizeof *a);
  a->r = s->r;
  weft_http_server_set_deferred_handler(s->srv, handle, a);
}

static const char generic[] = "Internal Server Error\n";

static void test_failure_is_500_and_logged(void) {
  stub s;
  app a;
  setup(&s, &a);
  stub_answer r;
  stub_fetch(&s, "GET", "http://app.test/fail?q=1", NULL, &r);
  CHECK_INT(r.status, 500);
  CHECK_STR(r.body, generic);
  CHECK(strstr(r.body, "fire") == NULL && strstr(r.body, "/srv/secret") == NULL);
  for (size_t i = 0; i < weft_http_response_header_count(r.resp); i++) {
    const char *n, *v;
    CHECK_INT(weft_http_response_header_at(r.resp, i, &n, &v), 0);
    CHECK(strstr(v, "fire") == NULL); /* nor in a header */
  }
  stub_answer_free(&r);
  /* the Failure is in the log, with the request it belongs to */
  CHECK_INT(weft_logged_errors_count(s.errors), 1);
  const char *text = weft_logged_errors_text(s.errors, 0);
  REQUIRE(text);
  CHECK(strstr(text, "GET /fail?q=1") != NULL);
  CHECK(strstr(text, "the handler failed") != NULL);
  CHECK(strstr(text, "the disk at /srv/secret is on fire") != NULL);
  CHECK_INT(weft_logged_errors_flush(s.errors, "on fire"), 1);
  /* the connection survives a 500: the next request goes on it */
  stub_fetch(&s, "GET", "http://app.test/ok", NULL, &r);
  CHECK_INT(r.status, 200);
  CHECK_STR(r.body, "fine");
  stub_answer_free(&r);
  CHECK_INT(weft_http_agent_connections_made(s.agent), 1);
  stub_done(&s);
}

static void test_no_answer_is_500(void) {
  stub s;
  app a;
  setup(&s, &a);
  stub_answer r;
  stub_fetch(&s, "GET", "http://app.test/none", NULL, &r);
  CHECK_INT(r.status, 500);
  CHECK_STR(r.body, generic);
  stub_answer_free(&r);
  CHECK_INT(weft_logged_errors_flush(s.errors, "fired without an answer"), 1);
  stub_fetch(&s, "GET", "http://app.test/int", NULL, &r);
  CHECK_INT(r.status, 500);
  CHECK_STR(r.body, generic);
  stub_answer_free(&r);
  CHECK_INT(weft_logged_errors_flush(s.errors, "a value that is no answer"), 1);
  stub_done(&s);
}

static void test_client_cancel_cancels_handler(void) {
  stub s;
  app a;
  setup(&s, &a);
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/never", NULL);
  stub_turns(&s, 10);
  CHECK_INT(a.calls, 1);
  CHECK(!weft_deferred_called(d));
  CHECK_INT(a.cancels, 0);
  CHECK_INT(weft_http_server_connections(s.srv), 1);
  weft_deferred_cancel(d); /* the client gives up: its connection closes */
  weft_failure *f = weft_failure_result_of(d, NULL, WEFT_FAILURE_ANY_CODE, NULL, 0);
  REQUIRE(f);
  CHECK_INT(weft_failure_code(f), WEFT_ECANCELED);
  weft_failure_unref(f);
  weft_deferred_unref(d);
  stub_turns(&s, 5);
  CHECK_INT(a.cancels, 1); /* the server cancelled the handler's Deferred */
  CHECK_INT(weft_http_server_connections(s.srv), 0);
  /* and did not log its own cancel as a failed handler (stub_done checks the log is empty) */
  stub_done(&s);
}

static void test_client_timeout_cancels_handler(void) {
  stub s;
  app a;
  setup(&s, &a);
  weft_http_opts o;
  weft_http_opts_init(&o);
  o.timeout = 10;
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/never", &o);
  stub_turns(&s, 10);
  stub_advance(&s, 9.5);
  CHECK(!weft_deferred_called(d));
  CHECK_INT(a.cancels, 0);
  stub_advance(&s, 1);
  weft_failure *f = stub_failure_of(&s, d);
  REQUIRE(f);
  CHECK_INT(weft_failure_code(f), WEFT_ETIMEDOUT);
  weft_failure_unref(f);
  stub_turns(&s, 5);
  CHECK_INT(a.cancels, 1);
  stub_done(&s);
}

static void test_failure_after_streaming_started(void) {
  stub s;
  app a;
  setup(&s, &a);
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/stream-then-fail", NULL);
  REQUIRE(stub_wait(&s, d));
  weft_value v;
  REQUIRE(weft_success_result_of(d, &v, NULL, 0) == 0);
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  CHECK_INT(weft_http_response_status(resp), 200); /* the status went before the failure */
  weft_deferred *body = weft_http_response_content(resp, 0);
  stub_turns(&s, 5);
  CHECK(!weft_deferred_called(body));
  weft_deferred_errback(a.pending, weft_failure_new("app.test", WEFT_EIO, "backend went away"));
  weft_failure *f = stub_failure_of(&s, body); /* the client sees the body cut short */
  CHECK(f != NULL);
  weft_failure_unref(f);
  weft_http_response_free(resp);
  CHECK_INT(weft_logged_errors_flush(s.errors, "backend went away"), 1);
  CHECK_INT(weft_http_agent_open_connections(s.agent), 0); /* not pooled */
  stub_done(&s);
}

/* ---- the same through a router: a coroutine route returning a Failure ---- */

static weft_value co_fail(weft_coro *co, weft_http_request *req, const weft_http_match *m, void *user) {
  (void)co, (void)req, (void)m, (void)user;
  return weft_failed(weft_failure_new("app.test", WEFT_EPERM, "token 5ecret rejected"));
}

static void test_coro_route_failure(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add_coro(rt, "POST", "/login", co_fail, NULL) == 0);
  stub s;
  stub_init(&s, NULL);
  weft_http_handler_binding b = weft_http_router_handler(rt);
  stub_handler(&s, b.fn, b.user);
  stub_answer r;
  stub_fetch(&s, "POST", "http://app.test/login", NULL, &r);
  CHECK_INT(r.status, 500);
  CHECK_STR(r.body, generic);
  stub_answer_free(&r);
  CHECK_INT(weft_logged_errors_flush(s.errors, "token 5ecret rejected"), 1);
  stub_done(&s);
  weft_http_router_free(rt);
}

int main(void) {
  RUN(test_failure_is_500_and_logged);
  RUN(test_no_answer_is_500);
  RUN(test_client_cancel_cancels_handler);
  RUN(test_client_timeout_cancels_handler);
  RUN(test_failure_after_streaming_started);
  RUN(test_coro_route_failure);
  return CHECK_DONE();
}
