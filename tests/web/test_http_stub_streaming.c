/* test_http_stub_streaming.c: streamed responses and request bodies through the in-memory
 * client: a chunked response written over clock ticks read whole, a push producer paused and
 * resumed by the client's slow reading (flow control across the memory pipe), HEAD of a streamed
 * route, a Content-Length body in pieces, a client leaving mid-stream stopping the producer, and
 * a request body streamed by a client producer into a streaming route, with backpressure. */
#include <stdio.h>
#include <string.h>

#include "http_stub_fixture.h"
#include "weft/http_router.h"

/* ---- a push producer of a response body: one piece per turn while not paused ---- */

typedef struct pusher {
  weft_http_request *req;
  weft_reactor *r;
  weft_delayed_call *dc;
  size_t piece, total, sent;
  int pauses, resumes, stops;
  bool paused, done;
  size_t max_queued; /* the most sent and not yet read by the client, seen while pushing */
  const size_t *client_got;
} pusher;

/* Byte i of every streamed body: a pattern, so a lost or repeated piece shows. */
static char pattern(size_t i) { return (char)('a' + (i * 7 + i / 1000) % 26); }

static void push_step(void *arg) {
  pusher *p = arg;
  p->dc = NULL;
  if (p->paused || p->done) return;
  char buf[16384];
  size_t n = p->total - p->sent < p->piece ? p->total - p->sent : p->piece;
  for (size_t i = 0; i < n; i++) buf[i] = pattern(p->sent + i);
  CHECK_INT(weft_http_response_write(p->req, buf, n), 0);
  p->sent += n;
  if (p->client_got && p->sent - *p->client_got > p->max_queued) p->max_queued = p->sent - *p->client_got;
  if (p->sent == p->total) {
    p->done = true;
    CHECK_INT(weft_http_response_finish(p->req), 0);
    return;
  }
  p->dc = weft_reactor_call_soon(p->r, push_step, p);
}

static void push_pause(void *user) {
  pusher *p = user;
  p->pauses++;
  p->paused = true;
  if (p->dc) weft_delayed_call_cancel(p->dc);
  p->dc = NULL;
}

static void push_resume(void *user) {
  pusher *p = user;
  p->resumes++;
  p->paused = false;
  if (!p->dc && !p->done) p->dc = weft_reactor_call_soon(p->r, push_step, p);
}

/* The client went away: stop, and finish the request (inert now) to release it. */
static void push_stop(void *user) {
  pusher *p = user;
  p->stops++;
  if (p->dc) weft_delayed_call_cancel(p->dc);
  p->dc = NULL;
  if (!p->done) {
    p->done = true;
    CHECK_INT(weft_http_response_finish(p->req), WEFT_ECLOSED);
  }
}

static void push_route(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  pusher *p = user;
  p->req = req;
  p->r = weft_http_request_reactor(req);
  CHECK_INT(weft_http_response_start(req, 200), 0);
  CHECK_INT(weft_http_response_header(req, "Content-Type", "application/octet-stream"), 0);
  weft_producer prod = {push_pause, push_resume, push_stop, p};
  CHECK_INT(weft_http_response_register_producer(req, &prod, true), 0);
  p->dc = weft_reactor_call_soon(p->r, push_step, p);
}

/* ---- a response written on the clock: one piece a second ---- */

typedef struct ticker {
  weft_http_request *req;
  weft_delayed_call *dc;
  int pieces, written;
  bool length; /* announce Content-Length (pieces * 10) instead of chunking */
} ticker;

static void tick(void *arg) {
  ticker *t = arg;
  t->dc = NULL;
  char piece[16];
  snprintf(piece, sizeof piece, "piece %03d;", t->written); /* 10 bytes */
  CHECK_INT(weft_http_response_write(t->req, piece, 10), 0);
  if (++t->written == t->pieces) {
    CHECK_INT(weft_http_response_finish(t->req), 0);
    t->req = NULL;
    return;
  }
  t->dc = weft_reactor_call_later(weft_http_request_reactor(t->req), 1, tick, t);
}

static void tick_route(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  ticker *t = user;
  t->req = req;
  t->written = 0;
  CHECK_INT(weft_http_response_start(req, 200), 0);
  if (t->length) {
    char cl[16];
    snprintf(cl, sizeof cl, "%d", t->pieces * 10);
    CHECK_INT(weft_http_response_header(req, "Content-Length", cl), 0);
  }
  t->dc = weft_reactor_call_later(weft_http_request_reactor(req), 1, tick, t);
}

static weft_http_router *rt;
static pusher push;
static ticker tk;

static void setup(stub *s, const weft_http_server_options *o) {
  REQUIRE(weft_http_router_new(&rt) == 0);
  memset(&push, 0, sizeof push);
  memset(&tk, 0, sizeof tk);
  REQUIRE(weft_http_router_add(rt, "GET", "/push", push_route, &push) == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/tick", tick_route, &tk) == 0);
  stub_init(s, o);
  weft_http_handler_binding b = weft_http_router_handler(rt);
  stub_handler(s, b.fn, b.user);
}

static void teardown(stub *s) {
  stub_done(s);
  weft_http_router_free(rt);
}

static void test_chunked_on_the_clock(void) {
  stub s;
  setup(&s, NULL);
  tk.pieces = 5;
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/tick", NULL);
  stub_turns(&s, 10);
  CHECK(!weft_deferred_called(d)); /* the head goes with the first piece */
  stub_advance(&s, 1);
  REQUIRE(stub_wait(&s, d));
  weft_value v;
  REQUIRE(weft_success_result_of(d, &v, NULL, 0) == 0);
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  CHECK_STR(weft_http_response_get_header(resp, "Transfer-Encoding"), "chunked");
  CHECK(weft_http_response_get_header(resp, "Content-Length") == NULL);
  weft_deferred *body = weft_http_response_content(resp, 0);
  for (int i = 1; i < 5; i++) {
    stub_turns(&s, 5);
    CHECK(!weft_deferred_called(body)); /* not before the last chunk */
    stub_advance(&s, 1);
  }
  REQUIRE(stub_wait(&s, body));
  REQUIRE(weft_success_result_of(body, &v, NULL, 0) == 0);
  weft_http_bytes *b = v.v.p;
  CHECK_STR(b->data, "piece 000;piece 001;piece 002;piece 003;piece 004;");
  weft_value_release(v);
  weft_deferred_unref(body);
  weft_http_response_free(resp);
  CHECK_INT(weft_http_agent_open_connections(s.agent), 1); /* back in the pool */
  teardown(&s);
}

static void test_content_length_in_pieces(void) {
  stub s;
  setup(&s, NULL);
  tk.pieces = 3;
  tk.length = true;
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/tick", NULL);
  stub_turns(&s, 10);
  stub_advance(&s, 1);
  REQUIRE(stub_wait(&s, d));
  weft_value v;
  REQUIRE(weft_success_result_of(d, &v, NULL, 0) == 0);
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  CHECK_STR(weft_http_response_get_header(resp, "Content-Length"), "30");
  CHECK(weft_http_response_get_header(resp, "Transfer-Encoding") == NULL);
  weft_deferred *body = weft_http_response_content(resp, 0);
  stub_advance(&s, 1);
  CHECK(!weft_deferred_called(body));
  stub_advance(&s, 1);
  REQUIRE(stub_wait(&s, body));
  REQUIRE(weft_success_result_of(body, &v, NULL, 0) == 0);
  CHECK_STR(((weft_http_bytes *)v.v.p)->data, "piece 000;piece 001;piece 002;");
  weft_value_release(v);
  weft_deferred_unref(body);
  weft_http_response_free(resp);
  /* the body ended at its length: the connection is reused */
  stub_answer a;
  stub_fetch(&s, "GET", "http://app.test/nothing", NULL, &a);
  CHECK_INT(a.status, 404);
  stub_answer_free(&a);
  CHECK_INT(weft_http_agent_connections_made(s.agent), 1);
  teardown(&s);
}

static void test_head_of_streamed_route(void) {
  stub s;
  setup(&s, NULL);
  push.piece = 1000;
  push.total = 5000;
  stub_answer a;
  stub_fetch(&s, "HEAD", "http://app.test/push", NULL, &a); /* the GET route answers HEAD */
  CHECK_INT(a.status, 200);
  CHECK_STR(stub_header(&a, "Content-Type"), "application/octet-stream");
  CHECK_INT(a.len, 0);
  stub_answer_free(&a);
  stub_turns(&s, 20); /* the HEAD answer was whole with its head; the handler goes on */
  CHECK(push.done); /* the handler streamed as for a GET; the server dropped the bytes */
  CHECK_INT(push.sent, 5000);
  /* no stray body bytes on the connection: the next answer is read in step */
  tk.pieces = 2;
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/tick", NULL);
  stub_turns(&s, 5);
  stub_advance(&s, 1);
  stub_advance(&s, 1);
  stub_answer_of(&s, d, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "piece 000;piece 001;");
  stub_answer_free(&a);
  CHECK_INT(weft_http_agent_connections_made(s.agent), 1);
  teardown(&s);
}

/* ---- the client reading slowly: pauses after every 256 KiB until the test resumes it ---- */

typedef struct reader {
  size_t got;
  bool bad, paused;
  int ended, error;
} reader;

static void r_data(weft_http_response *resp, const char *data, size_t len, void *user) {
  reader *rd = user;
  for (size_t i = 0; i < len; i++)
    if (data[i] != pattern(rd->got + i)) rd->bad = true;
  size_t before = rd->got / (256 * 1024);
  rd->got += len;
  if (rd->got / (256 * 1024) != before && !rd->paused) {
    rd->paused = true;
    weft_http_response_pause(resp);
  }
}

static void r_end(weft_http_response *resp, int error, const char *reason, void *user) {
  (void)resp, (void)reason;
  reader *rd = user;
  rd->ended++;
  rd->error = error;
}

static void test_push_producer_follows_slow_client(void) {
  stub s;
  setup(&s, NULL);
  reader rd = {0};
  push.piece = 16384;
  push.total = 4u << 20; /* 4 MiB: many times the water marks */
  push.client_got = &rd.got;
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/push", NULL);
  REQUIRE(stub_wait(&s, d));
  weft_value v;
  REQUIRE(weft_success_result_of(d, &v, NULL, 0) == 0);
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  weft_http_body_callbacks cb = {r_data, r_end, &rd};
  CHECK_INT(weft_http_response_deliver(resp, &cb), 0);
  int rounds = 0, held = 0;
  while (!rd.ended && rounds < 100) {
    /* the client reads until it pauses; the server goes on until the pipe holds its high-water
     * mark of unread bytes, then its producer is paused */
    for (int i = 0; i < 500 && !rd.ended && !(rd.paused && (push.paused || push.done)); i++) stub_turns(&s, 1);
    if (rd.ended) break;
    REQUIRE(rd.paused);
    if (!push.done) {
      CHECK(push.paused);
      held++;
      size_t sent = push.sent;
      stub_turns(&s, 30);
      CHECK_INT(push.sent, sent); /* nothing more is made while the client does not read */
    }
    rd.paused = false;
    weft_http_response_resume(resp); /* and reading again resumes the producer */
    rounds++;
  }
  CHECK_INT(rd.ended, 1);
  CHECK_INT(rd.error, 0);
  CHECK(!rd.bad);
  CHECK_INT(rd.got, push.total);
  CHECK(held >= 12); /* the client paused every 256 KiB of 4 MiB (16 times), the producer with it
                       * each time but near the end, when it had made everything already */
  CHECK(push.pauses >= held && push.resumes >= held);
  CHECK_INT(push.stops, 0);
  /* memory stayed bounded: what was sent and not yet read never passed the high-water mark by
   * more than the piece that crossed it */
  CHECK(push.max_queued <= WEFT_TRANSPORT_HIGH_WATER_DEFAULT + push.piece);
  weft_http_response_free(resp);
  CHECK_INT(weft_http_agent_open_connections(s.agent), 1);
  teardown(&s);
}

static void test_client_leaves_mid_stream(void) {
  stub s;
  setup(&s, NULL);
  reader rd = {0};
  push.piece = 16384;
  push.total = 4u << 20;
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/push", NULL);
  REQUIRE(stub_wait(&s, d));
  weft_value v;
  REQUIRE(weft_success_result_of(d, &v, NULL, 0) == 0);
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  weft_http_body_callbacks cb = {r_data, r_end, &rd};
  CHECK_INT(weft_http_response_deliver(resp, &cb), 0);
  stub_turns(&s, 30);
  REQUIRE(rd.paused); /* somewhere in the middle */
  CHECK(!rd.ended);
  CHECK_INT(push.stops, 0);
  weft_http_response_free(resp); /* the client goes: its connection closes */
  stub_turns(&s, 10);
  CHECK_INT(push.stops, 1);
  CHECK(push.sent < push.total);
  CHECK_INT(weft_http_server_connections(s.srv), 0);
  CHECK_INT(weft_http_agent_open_connections(s.agent), 0);
  teardown(&s);
}

/* ---- a request body streamed by the client into a streaming route ---- */

typedef struct upload {
  weft_http_body_writer *w;
  weft_reactor *r;
  weft_delayed_call *dc;
  size_t piece, total, sent;
  int pauses, resumes, stops;
  bool paused;
} upload;

static void up_step(void *arg) {
  upload *u = arg;
  u->dc = NULL;
  if (u->paused || !u->w) return;
  char buf[16384];
  size_t n = u->total - u->sent < u->piece ? u->total - u->sent : u->piece;
  for (size_t i = 0; i < n; i++) buf[i] = pattern(u->sent + i);
  CHECK_INT(weft_http_body_write(u->w, buf, n), 0);
  u->sent += n;
  if (u->sent == u->total) {
    CHECK_INT(weft_http_body_finish(u->w, 0), 0);
    u->w = NULL;
    return;
  }
  u->dc = weft_reactor_call_soon(u->r, up_step, u);
}
static void up_start(weft_http_body_writer *w, void *user) {
  upload *u = user;
  u->w = w;
  u->dc = weft_reactor_call_soon(u->r, up_step, u);
}
static void up_pause(void *user) {
  upload *u = user;
  u->pauses++;
  u->paused = true;
  if (u->dc) weft_delayed_call_cancel(u->dc);
  u->dc = NULL;
}
static void up_resume(void *user) {
  upload *u = user;
  u->resumes++;
  u->paused = false;
  if (!u->dc && u->w) u->dc = weft_reactor_call_soon(u->r, up_step, u);
}
static void up_stop(void *user) {
  upload *u = user;
  u->stops++;
  if (u->dc) weft_delayed_call_cancel(u->dc);
  u->dc = NULL;
  u->w = NULL;
}

/* The server side: counts and checks the body as it comes, pausing the connection on request. */
typedef struct sink {
  weft_producer from; /* the connection, as a producer of the body */
  size_t got;
  int pieces;
  bool bad, hold; /* hold: pause the connection after the first piece */
  bool held;
} sink;
static sink sk;

static void sink_data(weft_http_request *req, const void *data, size_t len, void *user) {
  (void)req;
  sink *k = user;
  for (size_t i = 0; i < len; i++)
    if (((const char *)data)[i] != pattern(k->got + i)) k->bad = true;
  k->got += len;
  k->pieces++;
  if (k->hold && !k->held) {
    k->held = true;
    k->from.pause_producing(k->from.user);
  }
}
static void sink_end(weft_http_request *req, int error, void *user) {
  sink *k = user;
  char out[64];
  int n = snprintf(out, sizeof out, "got %zu, error %d", k->got, error);
  weft_http_respond(req, 200, NULL, 0, out, (size_t)n);
}
static void upload_route(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  weft_http_body_consumer c = {sink_data, sink_end, user};
  CHECK_INT(weft_http_request_body_stream(req, &c, &((sink *)user)->from), 0);
}

static void test_streamed_request_body(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.stream_bodies = true;
  o.max_body = 8u << 20;
  stub s;
  setup(&s, &o);
  memset(&sk, 0, sizeof sk);
  sk.hold = true;
  REQUIRE(weft_http_router_add_streaming(rt, "POST", "/upload", upload_route, &sk) == 0);
  upload u = {.r = s.r, .piece = 16384, .total = 2u << 20};
  weft_http_request_options ro;
  weft_http_request_options_init(&ro);
  weft_http_body_producer bp = {-1, up_start, up_pause, up_resume, up_stop, &u}; /* chunked */
  ro.producer = &bp;
  weft_deferred *d = weft_http_agent_request(s.agent, "POST", "http://app.test/upload", &ro);
  stub_turns(&s, 60);
  /* the route paused the connection after the first piece: the client's producer was paused in
   * turn once the memory pipe held its high-water mark, and wrote no more */
  CHECK(sk.held);
  CHECK_INT(u.pauses, 1);
  CHECK(u.paused);
  size_t sent = u.sent;
  CHECK(sent < u.total);
  stub_turns(&s, 20);
  CHECK_INT(u.sent, sent);
  CHECK(!weft_deferred_called(d));
  sk.from.resume_producing(sk.from.user);
  stub_answer a;
  stub_answer_of(&s, d, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "got 2097152, error 0");
  stub_answer_free(&a);
  CHECK(!sk.bad);
  CHECK(sk.pieces > 1); /* it came in pieces, not collected whole */
  CHECK(u.resumes >= 1);
  CHECK_INT(u.stops, 0);
  teardown(&s);
}

int main(void) {
  RUN(test_chunked_on_the_clock);
  RUN(test_content_length_in_pieces);
  RUN(test_head_of_streamed_route);
  RUN(test_push_producer_follows_slow_client);
  RUN(test_client_leaves_mid_stream);
  RUN(test_streamed_request_body);
  return CHECK_DONE();
}
