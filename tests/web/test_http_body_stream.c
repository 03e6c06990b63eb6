/* test_http_body_stream.c: request bodies streamed to the handler (the stream_bodies option):
 * bytes as they arrive, pause stops reading, max_body, chunked, 100 Continue on claim, collected
 * on demand; over the string transport. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "web/http_fixture.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/testing.h"

/* What the consumer saw. */
typedef struct sink {
  size_t total, calls, biggest;
  char head[64]; /* the first bytes */
  int ended, error;
  bool pause_each;  /* pause after every piece */
  bool answer_at_end;
  weft_producer producer;
} sink;

static sink S;
static weft_http_request *held;
static bool claim_now = true;

static void on_data(weft_http_request *req, const void *data, size_t len, void *user) {
  (void)req;
  sink *s = user;
  if (s->total < sizeof s->head - 1) {
    size_t k = len < sizeof s->head - 1 - s->total ? len : sizeof s->head - 1 - s->total;
    memcpy(s->head + s->total, data, k);
  }
  s->total += len;
  s->calls++;
  if (len > s->biggest) s->biggest = len;
  if (s->pause_each) s->producer.pause_producing(s->producer.user);
}

static void on_end(weft_http_request *req, int error, void *user) {
  sink *s = user;
  s->ended++;
  s->error = error;
  if (error == 0 && s->answer_at_end) {
    char body[64];
    int n = snprintf(body, sizeof body, "got %zu", s->total);
    CHECK_INT(weft_http_respond(req, 200, NULL, 0, body, (size_t)n), 0);
  }
}

static const weft_http_body_consumer consumer = {on_data, on_end, &S};

static void handler(weft_http_request *req, void *user) {
  (void)user;
  held = req;
  size_t bl;
  weft_http_request_body(req, &bl);
  CHECK_INT(bl, 0);
  if (claim_now) CHECK_INT(weft_http_request_body_stream(req, &consumer, &S.producer), 0);
}

static void setup_stream(fixture *f, uint64_t max_body) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.stream_bodies = true;
  o.max_body = max_body;
  setup_with(f, &o);
  connect_client(f);
  weft_http_server_set_handler(f->srv, handler, NULL);
  memset(&S, 0, sizeof S);
  S.answer_at_end = true;
  held = NULL;
  claim_now = true;
}

static void test_content_length_streamed_then_keep_alive(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
  REQUIRE(held != NULL);
  CHECK_INT(S.total, 5); /* the handler has the first half before the rest arrives */
  CHECK_INT(S.ended, 0);
  CHECK_INT(weft_string_transport_len(f.st), 0);
  feed(&f, "world");
  CHECK_INT(S.ended, 1);
  CHECK_INT(S.error, 0);
  CHECK_STR(S.head, "helloworld");
  CHECK(strstr(out(&f), "\r\n\r\ngot 10") != NULL);
  CHECK(strstr(out(&f), "Connection: close") == NULL);
  /* The connection goes on: a request without a body goes to the handler as usual. */
  claim_now = false;
  held = NULL;
  weft_string_transport_clear(f.st);
  turn(&f);
  feed(&f, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(held != NULL);
  CHECK_INT(weft_http_respond(held, 204, NULL, 0, NULL, 0), 0);
  CHECK(strncmp(out(&f), "HTTP/1.1 204 ", 13) == 0);
  teardown(&f);
}

static void test_chunked_streamed(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  CHECK_INT(S.total, 3);
  feed(&f, "4\r\ndefg\r\n0\r\n\r\n");
  CHECK_INT(S.ended, 1);
  CHECK_INT(S.error, 0);
  CHECK_STR(S.head, "abcdefg");
  CHECK(strstr(out(&f), "got 7") != NULL);
  teardown(&f);
}

/* A paused consumer stops the reading: the bytes wait in the socket (here, the string
 * transport), not in the server; resuming delivers them. */
static void test_pause_stops_reading(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  S.pause_each = true;
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\naaaa");
  CHECK_INT(S.total, 4);
  CHECK(weft_string_transport_reading_paused(f.st));
  feed(&f, "bbbb");
  feed(&f, "cccc");
  CHECK_INT(S.total, 4); /* nothing delivered while paused */
  S.pause_each = false;
  S.producer.resume_producing(S.producer.user);
  CHECK_INT(S.total, 4); /* not inside the caller's code: on the next turn */
  turn(&f);
  turn(&f);
  CHECK_INT(S.total, 12);
  CHECK_INT(S.ended, 1);
  CHECK_STR(S.head, "aaaabbbbcccc");
  CHECK(strstr(out(&f), "got 12") != NULL);
  teardown(&f);
}

/* 8 MiB in 64 KiB reads: every piece goes straight to the consumer, nothing collects it. */
static void test_large_body_never_buffered(void) {
  fixture f;
  setup_stream(&f, 16u << 20);
  feed(&f, "PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: 8388608\r\n\r\n");
  static char piece[65536];
  memset(piece, 'x', sizeof piece);
  for (int i = 0; i < 128; i++) {
    CHECK_INT(weft_string_transport_feed(f.st, piece, sizeof piece), 0);
    if (i == 64) {
      size_t bl;
      weft_http_request_body(held, &bl);
      CHECK_INT(bl, 0);
    }
  }
  CHECK_INT(S.total, 8u << 20);
  CHECK(S.biggest <= sizeof piece);
  CHECK(S.calls >= 128);
  CHECK_INT(S.ended, 1);
  CHECK(strstr(out(&f), "got 8388608") != NULL);
  teardown(&f);
}

static void test_max_body_413_and_close(void) {
  fixture f;
  setup_stream(&f, 8);
  /* Chunked: found out mid-body. The consumer learns it, the client gets 413. */
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n");
  CHECK_INT(S.total, 5);
  CHECK_INT(S.ended, 1);
  CHECK_INT(S.error, WEFT_EMSGSIZE);
  CHECK(strncmp(out(&f), "HTTP/1.1 413 ", 13) == 0);
  CHECK(weft_string_transport_disconnecting(f.st));
  /* The handler still finishes the request it holds. */
  CHECK(weft_http_respond(held, 200, NULL, 0, "x", 1) != 0);
  weft_string_transport_finish(f.st);
  teardown(&f);

  /* Content-Length over the limit: 413 before the handler is called. */
  setup_stream(&f, 8);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n");
  CHECK(held == NULL);
  CHECK(strncmp(out(&f), "HTTP/1.1 413 ", 13) == 0);
  weft_string_transport_finish(f.st);
  teardown(&f);
}

static void test_continue_only_when_claimed(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  claim_now = false;
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  REQUIRE(held != NULL);
  CHECK(weft_http_request_body_pending(held));
  CHECK_INT(weft_string_transport_len(f.st), 0); /* no 100 Continue before the handler wants it */
  weft_memory_reactor_advance(f.r, 1);
  CHECK_INT(weft_string_transport_len(f.st), 0);
  CHECK_INT(weft_http_request_body_stream(held, &consumer, &S.producer), 0);
  CHECK(!weft_http_request_body_pending(held));
  CHECK_INT(weft_http_request_body_stream(held, &consumer, NULL), WEFT_ESTATE);
  CHECK_STR(out(&f), "HTTP/1.1 100 Continue\r\n\r\n");
  turn(&f);
  feed(&f, "xyz");
  CHECK_INT(S.ended, 1);
  CHECK(strstr(out(&f), "got 3") != NULL);
  teardown(&f);
}

/* Answering without reading the body: Connection: close, and the connection ends. */
static void test_answer_without_claim_closes(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  claim_now = false;
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
  REQUIRE(held != NULL);
  CHECK_INT(weft_http_respond(held, 403, NULL, 0, "no", 2), 0);
  CHECK(strstr(out(&f), "\r\nConnection: close\r\n") != NULL);
  CHECK(weft_string_transport_disconnecting(f.st));
  weft_string_transport_finish(f.st);
  teardown(&f);
}

static void test_client_gone_mid_body(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(S.ended, 1);
  CHECK_INT(S.error, WEFT_ECLOSED);
  CHECK_INT(weft_http_respond(held, 200, NULL, 0, "x", 1), WEFT_ECLOSED);
  teardown(&f);
}

/* weft_http_request_body_collect: the classic collected body, on demand. */
static void collected(weft_http_request *req, void *user) {
  (void)user;
  size_t n;
  const char *b = weft_http_request_body(req, &n);
  char out_[64];
  int k = snprintf(out_, sizeof out_, "collected %.*s", (int)n, b);
  weft_http_respond(req, 200, NULL, 0, out_, (size_t)k);
}

static void test_collect_on_demand(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  claim_now = false;
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc");
  REQUIRE(held != NULL);
  CHECK_INT(weft_http_request_body_collect(held, collected, NULL), 0);
  turn(&f);
  feed(&f, "def");
  CHECK(strstr(out(&f), "collected abcdef") != NULL);
  CHECK(strstr(out(&f), "Connection: close") == NULL);
  teardown(&f);
}

/* Without stream_bodies, a stream claim gets the collected body at once. */
static void plain_handler(weft_http_request *req, void *user) {
  (void)user;
  CHECK(!weft_http_request_body_pending(req));
  CHECK_INT(weft_http_request_body_stream(req, &consumer, NULL), 0);
}

static void test_without_option_delivers_collected(void) {
  fixture f;
  setup(&f);
  memset(&S, 0, sizeof S);
  S.answer_at_end = true;
  held = NULL;
  weft_http_server_set_handler(f.srv, plain_handler, NULL);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd");
  CHECK_INT(S.ended, 1);
  CHECK_STR(S.head, "abcd");
  CHECK(strstr(out(&f), "got 4") != NULL);
  teardown(&f);
}

/* A router on a stream_bodies server: only the streaming route sees the body as it comes. */
static void route_stream(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  (void)user;
  held = req;
  CHECK_INT(weft_http_request_body_stream(req, &consumer, &S.producer), 0);
}

static void route_form(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  (void)user;
  CHECK(!weft_http_request_body_pending(req));
  collected(req, NULL);
}

static void test_router_per_route(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add_streaming(rt, "POST", "/up", route_stream, NULL) == 0);
  REQUIRE(weft_http_router_add(rt, "POST", "/form", route_form, NULL) == 0);
  weft_http_handler_binding b = weft_http_router_handler(rt);
  weft_http_server_set_handler(f.srv, b.fn, b.user);
  feed(&f, "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab");
  CHECK_INT(weft_string_transport_len(f.st), 0);
  feed(&f, "cd");
  CHECK(strstr(out(&f), "collected abcd") != NULL);
  weft_string_transport_clear(f.st);
  turn(&f);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab");
  CHECK_INT(S.total, 2);
  feed(&f, "cd");
  CHECK(strstr(out(&f), "got 4") != NULL);
  weft_string_transport_clear(f.st);
  turn(&f);
  /* No route: answered at once, the body left unread, the connection closed. */
  feed(&f, "POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n");
  CHECK(strncmp(out(&f), "HTTP/1.1 404 ", 13) == 0);
  CHECK(weft_string_transport_disconnecting(f.st));
  weft_string_transport_finish(f.st);
  teardown(&f);
  weft_http_router_free(rt);
}

int main(void) {
  RUN(test_content_length_streamed_then_keep_alive);
  RUN(test_chunked_streamed);
  RUN(test_pause_stops_reading);
  RUN(test_large_body_never_buffered);
  RUN(test_max_body_413_and_close);
  RUN(test_continue_only_when_claimed);
  RUN(test_answer_without_claim_closes);
  RUN(test_client_gone_mid_body);
  RUN(test_collect_on_demand);
  RUN(test_without_option_delivers_collected);
  RUN(test_router_per_route);
  return CHECK_DONE();
}
