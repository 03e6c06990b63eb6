/* test_http_router_async.c: routes whose handler returns a Deferred or runs as a coroutine
 * (weft_http_router_add_deferred, weft_http_router_add_coro): answered from the result, 500 for a
 * Failure, a client that disconnects cancels the Deferred (for a coroutine, what it awaits). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "web/http_fixture.h"
#include "weft/coro.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/testing.h"

static weft_deferred *pending; /* what the handlers wait on, fired by the test */
static int cancels;

static void on_cancel(weft_deferred *d, void *arg) {
  (void)d;
  (void)arg;
  cancels++;
}

static weft_deferred *new_pending(weft_reactor *r) {
  pending = weft_deferred_new_cancellable(weft_reactor_log(r), on_cancel, NULL);
  return pending;
}

/* /d/<string:name>: a Deferred the test fires with a response value. */
static weft_deferred *named_later(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)user;
  (void)m;
  return weft_deferred_ref(new_pending(weft_http_request_reactor(req)));
}

/* /boom: a Failure. */
static weft_deferred *boom(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  (void)user;
  return weft_fail(weft_reactor_log(weft_http_request_reactor(req)), weft_failure_from_error(WEFT_EIO));
}

/* /c/<int:n>: a coroutine that awaits the pending Deferred, then answers with n and what it got. */
static weft_value coro_route(weft_coro *co, weft_http_request *req, const weft_http_match *m, void *user) {
  (void)user;
  int64_t n = 0;
  CHECK_INT(weft_http_route_param_int(m, "n", &n), 0); /* m: before the first await */
  CHECK(!weft_http_request_closed(req));
  weft_value v = weft_await(co, weft_deferred_ref(new_pending(weft_coro_reactor(co))));
  if (weft_value_is_failure(v)) return v;
  char body[64];
  snprintf(body, sizeof body, "n=%lld got=%s", (long long)n, v.kind == WEFT_VALUE_STR ? v.v.s : "?");
  weft_value_release(v);
  return weft_http_response_value(200, "text/plain", body, strlen(body));
}

/* /cr: a coroutine that answers through req after an await, then returns NONE. */
static weft_value coro_direct(weft_coro *co, weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  (void)user;
  weft_value v = weft_await(co, weft_deferred_ref(new_pending(weft_coro_reactor(co))));
  if (weft_value_is_failure(v)) return v;
  CHECK_INT(weft_http_respond(req, 200, NULL, 0, "direct", 6), 0);
  /* The request is finished: a next one may already be using the connection. */
  weft_value w = weft_await(co, weft_deferred_ref(new_pending(weft_coro_reactor(co))));
  weft_value_release(w);
  return weft_none();
}

static weft_http_router *rt;

static void setup_router(fixture *f) {
  setup(f);
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add_deferred(rt, "GET", "/d/<string:name>", named_later, NULL) == 0);
  REQUIRE(weft_http_router_add_deferred(rt, "GET", "/boom", boom, NULL) == 0);
  REQUIRE(weft_http_router_add_coro(rt, "GET", "/c/<int:n>", coro_route, NULL) == 0);
  REQUIRE(weft_http_router_add_coro(rt, "GET", "/cr", coro_direct, NULL) == 0);
  weft_http_handler_binding b = weft_http_router_handler(rt);
  weft_http_server_set_handler(f->srv, b.fn, b.user);
  pending = NULL;
  cancels = 0;
}

static void teardown_router(fixture *f) {
  teardown(f);
  weft_http_router_free(rt);
}

static void fire(weft_value v) {
  weft_deferred *d = pending;
  pending = NULL;
  CHECK_INT(weft_deferred_callback(d, v), 0);
  weft_deferred_unref(d);
}

static void test_deferred_route_answers_later(void) {
  fixture f;
  setup_router(&f);
  feed(&f, "GET /d/x HTTP/1.1\r\nHost: a\r\n\r\nGET /d/y HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(pending != NULL);
  CHECK_INT(weft_string_transport_len(f.st), 0);
  fire(weft_http_response_value(201, "text/plain", "made", 4));
  CHECK(strncmp(out(&f), "HTTP/1.1 201 Created\r\n", 22) == 0);
  CHECK(strstr(out(&f), "\r\n\r\nmade") != NULL);
  turn(&f); /* the pipelined one goes now */
  REQUIRE(pending != NULL);
  fire(weft_str("second"));
  CHECK(strstr(out(&f), "\r\n\r\nsecond") != NULL);
  teardown_router(&f);
}

static void test_deferred_route_failure_is_500(void) {
  fixture f;
  setup_router(&f);
  feed(&f, "GET /boom HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(strncmp(out(&f), "HTTP/1.1 500 ", 13) == 0);
  CHECK(strstr(out(&f), "EIO") == NULL); /* never sent to the client */
  CHECK_INT(weft_logged_errors_flush(f.errors, "GET /boom"), 1);
  teardown_router(&f);
}

static void test_deferred_route_cancelled_on_disconnect(void) {
  fixture f;
  setup_router(&f);
  feed(&f, "GET /d/x HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(pending != NULL);
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(cancels, 1);
  CHECK(weft_deferred_called(pending));
  weft_deferred_unref(pending);
  pending = NULL;
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown_router(&f);
}

static void test_coro_route(void) {
  fixture f;
  setup_router(&f);
  feed(&f, "GET /c/42 HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(pending != NULL);
  CHECK_INT(weft_string_transport_len(f.st), 0);
  fire(weft_str("yes"));
  CHECK(strstr(out(&f), "\r\n\r\nn=42 got=yes") != NULL);
  teardown_router(&f);
}

/* The client goes while the coroutine awaits: what it awaits is cancelled, and it ends. */
static void test_coro_disconnect_cancels_await(void) {
  fixture f;
  setup_router(&f);
  feed(&f, "GET /c/1 HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(pending != NULL);
  weft_deferred *awaited = weft_deferred_ref(pending);
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(cancels, 1);
  CHECK(weft_deferred_called(awaited));
  weft_deferred_unref(awaited);
  weft_deferred_unref(pending);
  pending = NULL;
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown_router(&f);
}

/* A coroutine that answers through req and goes on awaiting: the next request on the connection
 * is not disturbed when it finally returns. */
static void test_coro_answers_through_req(void) {
  fixture f;
  setup_router(&f);
  feed(&f, "GET /cr HTTP/1.1\r\nHost: a\r\n\r\nGET /d/z HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(pending != NULL);
  fire(weft_none());
  CHECK(strstr(out(&f), "\r\n\r\ndirect") != NULL);
  weft_deferred *coro_wait = pending; /* the coroutine's second await */
  pending = NULL;
  turn(&f);
  REQUIRE(pending != NULL); /* /d/z is being handled */
  weft_deferred *dz = pending;
  pending = coro_wait;
  fire(weft_none()); /* the coroutine returns NONE now */
  pending = dz;
  fire(weft_str("zed"));
  CHECK(strstr(out(&f), "\r\n\r\nzed") != NULL);
  CHECK_INT(count(out(&f), "HTTP/1.1 200 OK"), 2);
  teardown_router(&f);
}

int main(void) {
  RUN(test_deferred_route_answers_later);
  RUN(test_deferred_route_failure_is_500);
  RUN(test_deferred_route_cancelled_on_disconnect);
  RUN(test_coro_route);
  RUN(test_coro_disconnect_cancels_await);
  RUN(test_coro_answers_through_req);
  return CHECK_DONE();
}
