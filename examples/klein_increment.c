/* klein_increment.c: a Klein route with a typed parameter, in C.
 *
 *   @app.route("/<int:amount>")
 *   def increment(request, amount):
 *       return str(amount + 1)
 *
 * "/41" answers "42"; "/-1" answers "0"; "/abc" is a 404, because a segment that does not
 * convert to an integer does not match the route (nor one too big for int64).
 *   klein_increment [--port N]      then: curl http://127.0.0.1:8080/41 */
#include <inttypes.h>

#include "klein_run.h"
#include "weft/http_router.h"

static void increment(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)user;
  int64_t amount = 0;
  weft_http_route_param_int(m, "amount", &amount); /* the route matched, so it converted */
  char body[32];
  /* amount + 1 without overflow: INT64_MAX + 1 is written out by hand */
  int n = amount == INT64_MAX ? snprintf(body, sizeof body, "9223372036854775808")
                              : snprintf(body, sizeof body, "%" PRId64, amount + 1);
  const weft_http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"}};
  weft_http_respond(req, 200, h, 1, body, (size_t)n);
}

int main(int argc, char **argv) {
  weft_http_router *app = NULL;
  if (weft_http_router_new(&app) == 0 && weft_http_router_add(app, "GET", "/<int:amount>", increment, NULL) != 0) {
    weft_http_router_free(app);
    app = NULL;
  }
  return klein_run_router(argc, argv, "klein_increment", app);
}
