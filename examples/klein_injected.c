/* klein_injected.c: the Klein application that is given its reactor, and so can be tested with a
 * fake clock (tests/examples/test_klein.c drives it on weft's memory reactor).
 *
 *   class Application:
 *       app = Klein()
 *       def __init__(self, reactor):
 *           self._reactor = reactor
 *       @app.route("/")
 *       def hello(self, request):
 *           return "Hello"
 *       @app.route("/<int:amount>")
 *       def slowIncrement(self, request, amount):
 *           return deferLater(self._reactor, 1.0, lambda: str(amount + 1))
 *
 * The handlers reach the reactor through the application (klein_app.reactor), never through a
 * global or the request: in production that is the real reactor, in a test a memory reactor whose
 * clock the test advances by hand, so "answers after one second" is checked in no time at all.
 * Define KLEIN_INJECTED_NO_MAIN to include this file in a test.
 *   klein_injected [--port N]      then: curl http://127.0.0.1:8080/41 (answers after 1 s) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/defer_time.h"
#include "weft/http.h"
#include "weft/http_router.h"

typedef struct klein_app {
  weft_reactor *reactor;    /* injected: the real one, or a test's memory reactor */
  double delay;             /* seconds slowIncrement waits */
  weft_http_router *routes; /* made by klein_app_serve, freed by klein_app_free */
} klein_app;

static weft_deferred *klein_hello(weft_http_request *req, const weft_http_match *m, void *user) {
  klein_app *app = user;
  (void)req, (void)m;
  return weft_succeed(weft_reactor_log(app->reactor), weft_str("Hello"));
}

/* A delay after the request: the answer. arg is the request, valid until answered (the server
 * cancels the Deferred if the client goes first). The route matched "/<int:amount>", so the path
 * is "/" followed by an integer that fits. */
static weft_value klein_plus_one(weft_value v, void *arg) {
  weft_value_release(v);
  size_t len;
  const char *path = weft_http_request_path(arg, &len);
  char seg[24] = "";
  if (len > 1 && len - 1 < sizeof seg) memcpy(seg, path + 1, len - 1);
  int64_t amount = strtoll(seg, NULL, 10);
  char body[32];
  int n = amount == INT64_MAX ? snprintf(body, sizeof body, "9223372036854775808")
                              : snprintf(body, sizeof body, "%" PRId64, amount + 1);
  return weft_http_response_value(200, "text/plain; charset=utf-8", body, (size_t)n);
}

static weft_deferred *klein_slow_increment(weft_http_request *req, const weft_http_match *m, void *user) {
  klein_app *app = user;
  (void)m;
  return weft_defer_later(app->reactor, app->delay, klein_plus_one, req); /* the app's reactor */
}

/* Serves app's routes ("/" and "/<int:amount>"; anything else 404) on srv. Returns 0 or
 * WEFT_ENOMEM. */
static int klein_app_serve(klein_app *app, weft_http_server *srv) {
  if (weft_http_router_new(&app->routes) != 0 ||
      weft_http_router_add_deferred(app->routes, "GET", "/", klein_hello, app) != 0 ||
      weft_http_router_add_deferred(app->routes, "GET", "/<int:amount>", klein_slow_increment, app) != 0)
    return WEFT_ENOMEM;
  weft_http_handler_binding b = weft_http_router_handler(app->routes);
  weft_http_server_set_handler(srv, b.fn, b.user);
  return 0;
}

static void klein_app_free(klein_app *app) {
  weft_http_router_free(app->routes);
  app->routes = NULL;
}

#ifndef KLEIN_INJECTED_NO_MAIN
#include "klein_run.h"

static int setup(weft_http_server *srv, weft_reactor *r, void *arg) {
  klein_app *app = arg;
  app->reactor = r; /* the injection: main hands the application the reactor it runs on */
  return klein_app_serve(app, srv);
}

int main(int argc, char **argv) {
  klein_app app = {.delay = 1.0};
  int rc = klein_run(argc, argv, "klein_injected", setup, &app);
  klein_app_free(&app);
  return rc;
}
#endif
