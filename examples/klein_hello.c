/* klein_hello.c: Klein's first program, in C.
 *
 *   app = Klein()
 *   @app.route("/")
 *   def home(request):
 *       return "Hello"
 *   app.run("localhost", 8080)
 *
 * A router with one route; any other path is a 404, another method on "/" a 405.
 *   klein_hello [--port N]      then: curl http://127.0.0.1:8080/ */
#include "klein_run.h"
#include "weft/http_router.h"

static void home(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m, (void)user;
  const weft_http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"}};
  weft_http_respond(req, 200, h, 1, "Hello", 5);
}

int main(int argc, char **argv) {
  weft_http_router *app = NULL;
  if (weft_http_router_new(&app) == 0 && weft_http_router_add(app, "GET", "/", home, NULL) != 0) {
    weft_http_router_free(app);
    app = NULL;
  }
  return klein_run_router(argc, argv, "klein_hello", app);
}
