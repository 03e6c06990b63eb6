/* klein_later.c: the increment route answered a second later, through a Deferred, in C.
 *
 *   @app.route("/<int:amount>")
 *   def slowIncrement(request, amount):
 *       return deferLater(reactor, 1, lambda: str(amount + 1))
 *
 * The handler returns the Deferred of weft_defer_later and the server answers when it fires, one
 * second later, while the reactor goes on serving others. A client that hangs up first cancels it:
 * the timer is removed and plus_one never runs. "/abc" is a 404 at once.
 *
 * The server takes a Deferred-returning handler (weft_http_server_set_deferred_handler); the
 * router's routes are plain handlers, so this one matches "/<int:amount>" itself, with the same
 * rule as the router's <int:> (an optional '-', digits, fitting int64_t).
 * TODO: a router route once the router dispatches Deferred handlers.
 *   klein_later [--port N]      then: curl http://127.0.0.1:8080/41 (answers after 1 s) */
#include <errno.h>
#include <inttypes.h>

#include "klein_run.h"
#include "weft/defer_time.h"

/* "/<int:amount>": true and *amount for "/41", "/-3"; false for anything else. */
static bool match_amount(weft_http_request *req, int64_t *amount) {
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

/* Runs a second after the request came: the answer. arg is the request, valid until answered
 * (and this never runs after the client has gone: the server cancels the Deferred then). */
static weft_value plus_one(weft_value v, void *arg) {
  int64_t amount = 0;
  weft_value_release(v);
  match_amount(arg, &amount);
  char body[32];
  int n = amount == INT64_MAX ? snprintf(body, sizeof body, "9223372036854775808")
                              : snprintf(body, sizeof body, "%" PRId64, amount + 1);
  return weft_http_response_value(200, "text/plain; charset=utf-8", body, (size_t)n);
}

static weft_deferred *slow_increment(weft_http_request *req, void *user) {
  weft_reactor *reactor = weft_http_request_reactor(req);
  int64_t amount;
  (void)user;
  if (!match_amount(req, &amount))
    return weft_succeed(weft_reactor_log(reactor), weft_http_response_value(404, "text/plain", "Not Found", 9));
  return weft_defer_later(reactor, 1.0, plus_one, req);
}

static int setup(weft_http_server *srv, weft_reactor *r, void *arg) {
  (void)r, (void)arg;
  weft_http_server_set_deferred_handler(srv, slow_increment, NULL);
  return 0;
}

int main(int argc, char **argv) { return klein_run(argc, argv, "klein_later", setup, NULL); }
