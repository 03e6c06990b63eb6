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
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/defer_time.h"
#include "weft/http.h"

typedef struct klein_app {
  weft_reactor *reactor; /* injected: the real one, or a test's memory reactor */
  double delay;          /* seconds slowIncrement waits */
} klein_app;

/* "/<int:amount>", as the router's <int:> matches it. */
static bool klein_match_amount(weft_http_request *req, int64_t *amount) {
  size_t len;
  const char *path = weft_http_request_path(req, &len);
  char seg[24];
  if (len < 2 || len - 1 >= sizeof seg || path[0] != '/') return false;
  memcpy(seg, path + 1, len - 1);
  seg[len - 1] = '\0';
  const char *digits = seg[0] == '-' ? seg + 1 : seg;
  if (!*digits || strspn(digits, "0123456789") != strlen(digits)) return false;
  errno = 0;
  *amount = strtoll(seg, NULL, 10);
  return errno == 0;
}

static weft_value klein_plus_one(weft_value v, void *arg) {
  int64_t amount = 0;
  weft_value_release(v);
  klein_match_amount(arg, &amount);
  char body[32];
  int n = amount == INT64_MAX ? snprintf(body, sizeof body, "9223372036854775808")
                              : snprintf(body, sizeof body, "%" PRId64, amount + 1);
  return weft_http_response_value(200, "text/plain; charset=utf-8", body, (size_t)n);
}

/* The application's routes: "/" and "/<int:amount>"; everything else is a 404. */
static weft_deferred *klein_app_handle(weft_http_request *req, void *user) {
  klein_app *app = user;
  weft_log_publisher *log = weft_reactor_log(app->reactor);
  size_t len;
  const char *path = weft_http_request_path(req, &len);
  int64_t amount;
  if (len == 1 && path[0] == '/') return weft_succeed(log, weft_str("Hello"));
  if (klein_match_amount(req, &amount)) return weft_defer_later(app->reactor, app->delay, klein_plus_one, req);
  return weft_succeed(log, weft_http_response_value(404, "text/plain", "Not Found", 9));
}

/* Serves app on srv. */
static void klein_app_serve(klein_app *app, weft_http_server *srv) {
  weft_http_server_set_deferred_handler(srv, klein_app_handle, app);
}

#ifndef KLEIN_INJECTED_NO_MAIN
#include "klein_run.h"

static int setup(weft_http_server *srv, weft_reactor *r, void *arg) {
  klein_app *app = arg;
  app->reactor = r; /* the injection: main hands the application the reactor it runs on */
  klein_app_serve(app, srv);
  return 0;
}

int main(int argc, char **argv) {
  klein_app app = {.delay = 1.0};
  return klein_run(argc, argv, "klein_injected", setup, &app);
}
#endif
