/* web_demo.c: weft web --demo, the dynamic routes of the demo site (make run): handlers written
 * as coroutines. Each request starts a coroutine that awaits a timer (weft_sleep) with
 * weft_await, the way a handler would await a database or an upstream call, then answers. The
 * answer names the worker process, so `--workers N` can be watched spreading connections.
 *
 * TODO(lead): when the router takes coroutine routes directly, register these with it and drop
 * the bookkeeping below (the live list that shutdown cancels). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "web.h"
#include "weft/coro.h"
#include "weft/defer_time.h"

#define DEMO_MAX_MS 60000

struct web_demo_call {
  web_demo *demo;
  web_demo_call *prev, *next;
  weft_http_request *req;
  weft_deferred *co; /* the coroutine's Deferred, one reference */
  int64_t ms;
};

/* The coroutine: await the timer, then answer. Cancelled (shutdown), the request gets 503. */
static weft_value demo_body(weft_coro *co, void *arg) {
  web_demo_call *c = arg;
  weft_value v = weft_await(co, weft_sleep(weft_coro_reactor(co), (double)c->ms / 1000.0));
  bool cancelled = weft_value_is_failure(v);
  weft_value_release(v);
  char body[256];
  int n = snprintf(body, sizeof body,
                   "Hello from weft web: a coroutine handler that awaited a %lld ms timer.\n"
                   "pid %ld, request %lu of this process\n",
                   (long long)c->ms, (long)getpid(), ++c->demo->served);
  const weft_http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"}};
  if (cancelled) weft_http_respond(c->req, 503, h, 1, "shutting down\n", 14);
  else weft_http_respond(c->req, 200, h, 1, body, (size_t)n);
  return weft_none();
}

static void unlink_call(web_demo_call *c) {
  if (c->prev) c->prev->next = c->next;
  else c->demo->live = c->next;
  if (c->next) c->next->prev = c->prev;
}

/* The coroutine has ended (or was cancelled and then ended): forget it. */
static weft_value demo_done(weft_value v, void *arg) {
  web_demo_call *c = arg;
  weft_value_release(v);
  unlink_call(c);
  weft_deferred *d = c->co;
  free(c);
  weft_deferred_unref(d);
  return weft_none();
}

static void demo_start(weft_http_request *req, web_demo *demo, int64_t ms) {
  web_demo_call *c = calloc(1, sizeof *c);
  if (!c) {
    weft_http_respond(req, 503, NULL, 0, "out of memory\n", 14);
    return;
  }
  c->demo = demo;
  c->req = req;
  c->ms = ms;
  c->next = demo->live;
  if (c->next) c->next->prev = c;
  demo->live = c;
  if (weft_coro_start(&c->co, weft_http_request_reactor(req), demo_body, c, NULL) != 0) {
    unlink_call(c);
    free(c);
    weft_http_respond(req, 503, NULL, 0, "out of memory\n", 14);
    return;
  }
  weft_deferred_add_callbacks(c->co, demo_done, c, demo_done, c); /* may run at once */
}

static void demo_hello(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  demo_start(req, user, 100);
}

static void demo_sleep(weft_http_request *req, const weft_http_match *m, void *user) {
  int64_t ms = 0;
  if (weft_http_route_param_int(m, "ms", &ms) != 0 || ms < 0 || ms > DEMO_MAX_MS) {
    weft_http_respond(req, 400, NULL, 0, "ms must be 0..60000\n", 20);
    return;
  }
  demo_start(req, user, ms);
}

int web_demo_add_routes(web_demo *d, weft_http_router *rt) {
  int rc = weft_http_router_add(rt, "GET", "/demo/hello", demo_hello, d);
  if (!rc) rc = weft_http_router_add(rt, "GET", "/demo/sleep/<int:ms>", demo_sleep, d);
  return rc;
}

void web_demo_cancel_all(web_demo *d) {
  /* each cancel ends its coroutine, whose demo_done unlinks and frees it */
  while (d->live) weft_deferred_cancel(d->live->co);
}
