/* klein_later.c: the increment route answered a second later, through a Deferred, in C.
 *
 *   @app.route("/<int:amount>")
 *   def slowIncrement(request, amount):
 *       return deferLater(reactor, 1, lambda: str(amount + 1))
 *
 * The route's handler returns the Deferred of weft_defer_later and the server answers when it
 * fires, one second later, while the reactor goes on serving others. A client that hangs up first
 * cancels it: the timer is removed and plus_one never runs. "/abc" is a 404 at once (the segment
 * does not convert, so the route does not match).
 *   klein_later [--port N]      then: curl http://127.0.0.1:8080/41 (answers after 1 s) */
#include <inttypes.h>
#include <stdlib.h>

#include "klein_run.h"
#include "weft/defer_time.h"
#include "weft/http_router.h"

/* Runs a second after the request came: the answer. arg is the request, valid until answered
 * (and this never runs after the client has gone: the server cancels the Deferred then). The
 * route's match is gone by now, so the amount is read again from the path it matched ("/41"). */
static weft_value plus_one(weft_value v, void *arg) {
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

static weft_deferred *slow_increment(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m, (void)user;
  return weft_defer_later(weft_http_request_reactor(req), 1.0, plus_one, req);
}

int main(int argc, char **argv) {
  weft_http_router *app = NULL;
  if (weft_http_router_new(&app) == 0 &&
      weft_http_router_add_deferred(app, "GET", "/<int:amount>", slow_increment, NULL) != 0) {
    weft_http_router_free(app);
    app = NULL;
  }
  return klein_run_router(argc, argv, "klein_later", app);
}
