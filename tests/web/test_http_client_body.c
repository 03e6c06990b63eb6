/* The HTTP/1.1 client with the in-memory client on a memory reactor: request bodies from a
 * producer (chunked when the length is unknown, Content-Length when known; too long, too short
 * and a failing producer), and the pool's idle timeout closing an unused connection, on the
 * reactor's clock. */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/testing.h"

/* Answers "<method> te=<Transfer-Encoding> cl=<Content-Length> <body>". */
static void echo(weft_http_request *req, void *user) {
  (void)user;
  size_t ml, tl, cl, bl;
  const char *m = weft_http_request_method(req, &ml);
  const char *te = weft_http_request_header(req, "transfer-encoding", &tl);
  const char *len = weft_http_request_header(req, "content-length", &cl);
  const char *b = weft_http_request_body(req, &bl);
  char out[256];
  int n = snprintf(out, sizeof out, "%.*s te=%.*s cl=%.*s %.*s", (int)ml, m, te ? (int)tl : 0, te ? te : "",
                   len ? (int)cl : 0, len ? len : "", b ? (int)bl : 0, b ? (const char *)b : "");
  weft_http_respond(req, 200, NULL, 0, out, (size_t)n);
}

typedef struct fx {
  weft_reactor *r;
  weft_http_server *srv;
  weft_http_agent *agent;
} fx;

static void fx_init(fx *f, double idle_timeout) {
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  REQUIRE(weft_http_server_new(&f->srv, f->r, NULL) == 0);
  weft_http_server_set_handler(f->srv, echo, NULL);
  weft_http_agent_options o;
  weft_http_agent_options_init(&o);
  o.connector = weft_http_stub_connector(f->srv);
  o.idle_timeout = idle_timeout;
  REQUIRE(weft_http_agent_new(&f->agent, f->r, &o) == 0);
}

static void turn(fx *f, int n) {
  for (int i = 0; i < n; i++) weft_memory_reactor_advance(f->r, 0);
}

static void fx_done(fx *f) {
  weft_http_agent_free(f->agent);
  turn(f, 5);
  weft_http_server_free(f->srv);
  turn(f, 5);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  weft_reactor_free(f->r);
}

/* The body of d's response (malloc'd), or NULL with the failure in why. */
static char *body_of(fx *f, weft_deferred *d, char *why, size_t n) {
  REQUIRE(d);
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  weft_value v;
  int rc = weft_success_result_of(d, &v, why, n);
  weft_deferred_unref(d);
  if (rc) return NULL;
  weft_deferred *c = weft_http_response_content(v.v.p, 0);
  for (int i = 0; i < 50 && !weft_deferred_called(c); i++) turn(f, 1);
  weft_value b;
  char *s = NULL;
  if (weft_success_result_of(c, &b, why, n) == 0) {
    s = strdup(((weft_http_bytes *)b.v.p)->data);
    weft_value_release(b);
  }
  weft_deferred_unref(c);
  weft_value_release(v);
  return s;
}

/* A producer the test drives: start keeps the writer, the test writes when it likes. */
typedef struct prod {
  weft_http_body_writer *w;
  int started, stopped;
} prod;

static void p_start(weft_http_body_writer *w, void *user) {
  prod *p = user;
  p->w = w;
  p->started++;
  CHECK_INT(weft_http_body_write(w, "abc", 3), 0); /* at once, from start */
}
static void p_stop(void *user) { ((prod *)user)->stopped++; }

static weft_deferred *post(fx *f, prod *p, int64_t length) {
  weft_http_body_producer bp = {.length = length, .start = p_start, .stop = p_stop, .user = p};
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.producer = &bp; /* copied */
  return weft_http_agent_request(f->agent, "POST", "http://app.test/echo", &o);
}

static void test_producer_chunked_and_length(void) {
  fx f;
  fx_init(&f, 60);
  char why[512];
  /* unknown length: chunked, written over several turns */
  prod p = {0};
  weft_deferred *d = post(&f, &p, -1);
  turn(&f, 3);
  REQUIRE(p.started == 1);
  CHECK(!weft_deferred_called(d)); /* the server waits for the end of the body */
  CHECK_INT(weft_http_body_write(p.w, "", 0), 0);
  CHECK_INT(weft_http_body_write(p.w, "def", 3), 0);
  turn(&f, 3);
  CHECK_INT(weft_http_body_write(p.w, "ghi", 3), 0);
  CHECK_INT(weft_http_body_finish(p.w, 0), 0);
  char *body = body_of(&f, d, why, sizeof why);
  CHECK_STR(body, "POST te=chunked cl= abcdefghi");
  free(body);
  CHECK_INT(p.stopped, 0);
  /* known length: Content-Length, no chunks; one byte more than announced is refused */
  prod q = {0};
  d = post(&f, &q, 6);
  turn(&f, 3);
  REQUIRE(q.started == 1);
  CHECK_INT(weft_http_body_write(q.w, "defg", 4), WEFT_EINVAL);
  CHECK_INT(weft_http_body_write(q.w, "def", 3), 0);
  CHECK_INT(weft_http_body_finish(q.w, 0), 0);
  body = body_of(&f, d, why, sizeof why);
  CHECK_STR(body, "POST te= cl=6 abcdef");
  free(body);
  /* both went over the one pooled connection */
  CHECK_INT(weft_http_agent_connections_made(f.agent), 1);
  fx_done(&f);
}

static void test_producer_errors(void) {
  fx f;
  fx_init(&f, 60);
  char why[512];
  /* shorter than announced: the request fails, the connection is closed (framing is lost) */
  prod p = {0};
  weft_deferred *d = post(&f, &p, 10);
  turn(&f, 3);
  REQUIRE(p.started == 1);
  CHECK_INT(weft_http_body_finish(p.w, 0), 0);
  CHECK(body_of(&f, d, why, sizeof why) == NULL);
  CHECK(strstr(why, "POST http://app.test/echo: the request body was shorter than its length") != NULL);
  turn(&f, 3);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 0);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  /* the producer gives up: its error is the request's */
  prod q = {0};
  d = post(&f, &q, -1);
  turn(&f, 3);
  REQUIRE(q.started == 1);
  CHECK_INT(weft_http_body_finish(q.w, WEFT_EIO), 0);
  CHECK(body_of(&f, d, why, sizeof why) == NULL);
  CHECK(strstr(why, "the request body producer failed") != NULL);
  /* cancelled while the body is being written: the producer is stopped, once */
  prod s = {0};
  d = post(&f, &s, -1);
  turn(&f, 3);
  REQUIRE(s.started == 1);
  weft_deferred_cancel(d);
  CHECK_INT(s.stopped, 1);
  weft_failure *cf = weft_failure_result_of(d, NULL, WEFT_FAILURE_ANY_CODE, NULL, 0);
  CHECK(cf && weft_failure_code(cf) == WEFT_ECANCELED);
  weft_failure_unref(cf);
  weft_deferred_unref(d);
  turn(&f, 3);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 0);
  fx_done(&f);
}

static void test_idle_timeout(void) {
  fx f;
  fx_init(&f, 10);
  char why[512];
  char *body = body_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/a", NULL), why, sizeof why);
  CHECK_STR(body, "GET te= cl= ");
  free(body);
  turn(&f, 2);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 1);
  weft_memory_reactor_advance(f.r, 9.9);
  turn(&f, 2);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 1); /* still pooled */
  CHECK_INT(weft_http_server_connections(f.srv), 1);
  weft_memory_reactor_advance(f.r, 0.2);
  turn(&f, 3);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 0); /* closed by the agent ... */
  CHECK_INT(weft_http_server_connections(f.srv), 0);     /* ... and the server saw it go */
  /* a use resets the clock: a request at 8 s keeps the connection 10 s more */
  body = body_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/b", NULL), why, sizeof why);
  free(body);
  CHECK_INT(weft_http_agent_connections_made(f.agent), 2);
  weft_memory_reactor_advance(f.r, 8);
  body = body_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/c", NULL), why, sizeof why);
  CHECK_STR(body, "GET te= cl= ");
  free(body);
  weft_memory_reactor_advance(f.r, 8);
  turn(&f, 2);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 1);
  CHECK_INT(weft_http_agent_connections_made(f.agent), 2);
  weft_memory_reactor_advance(f.r, 2.5);
  turn(&f, 3);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 0);
  fx_done(&f);
}

int main(void) {
  RUN(test_producer_chunked_and_length);
  RUN(test_producer_errors);
  RUN(test_idle_timeout);
  return CHECK_DONE();
}
