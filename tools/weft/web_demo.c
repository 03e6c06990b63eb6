/* web_demo.c: weft web --demo, the dynamic routes of the demo site (make run): coroutine
 * handlers (Klein's `async def` routes). Each awaits a timer (weft_sleep) with weft_await, the
 * way a handler would await a database or an upstream call, then answers. The answer names the
 * worker process, so `--workers N` can be watched spreading connections. A client that hangs up
 * cancels what its coroutine awaits; so does shutdown, which aborts the connections. */
#include <stdio.h>
#include <unistd.h>

#include "web.h"
#include "weft/coro.h"
#include "weft/defer_time.h"

#define DEMO_MAX_MS 60000

static weft_value demo_wait_and_answer(weft_coro *co, weft_http_request *req, web_demo *demo, int64_t ms) {
  weft_value v = weft_await(co, weft_sleep(weft_coro_reactor(co), (double)ms / 1000.0));
  if (weft_value_is_failure(v)) return v; /* cancelled: the client is gone */
  weft_value_release(v);
  char body[256];
  int n = snprintf(body, sizeof body,
                   "Hello from weft web: a coroutine handler that awaited a %lld ms timer.\n"
                   "pid %ld, request %lu of this process\n",
                   (long long)ms, (long)getpid(), ++demo->served);
  const weft_http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"}};
  weft_http_respond(req, 200, h, 1, body, (size_t)n);
  return weft_none();
}

static weft_value demo_hello(weft_coro *co, weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  return demo_wait_and_answer(co, req, user, 100);
}

static weft_value demo_sleep(weft_coro *co, weft_http_request *req, const weft_http_match *m, void *user) {
  int64_t ms = 0; /* read before the first await: m is valid until then */
  if (weft_http_route_param_int(m, "ms", &ms) != 0 || ms < 0 || ms > DEMO_MAX_MS)
    return weft_http_response_value(400, "text/plain", "ms must be 0..60000\n", 20);
  return demo_wait_and_answer(co, req, user, ms);
}

int web_demo_add_routes(web_demo *d, weft_http_router *rt) {
  int rc = weft_http_router_add_coro(rt, "GET", "/demo/hello", demo_hello, d);
  if (!rc) rc = weft_http_router_add_coro(rt, "GET", "/demo/sleep/<int:ms>", demo_sleep, d);
  return rc;
}
