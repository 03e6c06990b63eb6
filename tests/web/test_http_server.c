/* test_http_server.c: the HTTP/1.1 server core (src/web/http_*.c) over the test kit's string
 * transport and manual clock, plus real loopback sockets for keep-alive and pipelining. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "net/net_util.h"
#include "weft/http.h"
#include "weft/testing.h"
#include "web/http_fixture.h"

/* ---- handlers ---- */

static weft_http_request *held[4];
static int nheld;

/* Echoes what the request says: "<method> <path> q=<query> h=<x-test> b=<body>". Paths starting
 * with /slow are kept to be answered later by the test. */
static void echo_handler(weft_http_request *req, void *user) {
  (void)user;
  size_t ml, pl, ql, hl, bl;
  const char *m = weft_http_request_method(req, &ml);
  const char *p = weft_http_request_path(req, &pl);
  const char *q = weft_http_request_query(req, &ql);
  const char *h = weft_http_request_header(req, "x-test", &hl);
  const void *b = weft_http_request_body(req, &bl);
  if (pl >= 5 && memcmp(p, "/slow", 5) == 0) {
    held[nheld++] = req;
    return;
  }
  char body[512];
  if (!q) q = "-", ql = 1;
  if (!h) h = "-", hl = 1;
  int n = snprintf(body, sizeof body, "%.*s %.*s q=%.*s h=%.*s b=%.*s", (int)ml, m, (int)pl, p, (int)ql, q,
                   (int)hl, h, (int)bl, (const char *)b);
  static const weft_http_header ct[] = {{"Content-Type", "text/plain"}};
  CHECK_INT(weft_http_respond(req, 200, ct, 1, body, (size_t)n), 0);
}

static void answer_held(int i, const char *body) {
  CHECK_INT(weft_http_respond(held[i], 200, NULL, 0, body, strlen(body)), 0);
}

/* ---- tests ---- */

static void test_simple_get(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: example\r\nX-TEST: yes\r\n\r\n");
  const char *o = out(&f);
  CHECK(strncmp(o, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
  CHECK(strstr(o, "\r\nServer: weft\r\n") != NULL);
  CHECK(strstr(o, "\r\nContent-Type: text/plain\r\n") != NULL);
  const char *body = "GET /a b/c q=x=1&y=%20 h=yes b=";
  char cl[64];
  snprintf(cl, sizeof cl, "\r\nContent-Length: %zu\r\n\r\n", strlen(body));
  CHECK(strstr(o, cl) != NULL);
  const char *end = strstr(o, "\r\n\r\n");
  CHECK(end && strcmp(end + 4, body) == 0);
  CHECK(strstr(o, "Connection:") == NULL); /* HTTP/1.1 keep-alive is the default */
  CHECK(!weft_string_transport_disconnecting(f.st));
  teardown(&f);
}

static void test_absolute_form_and_headers(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "GET http://example.com/p%2Fq?z HTTP/1.1\r\nHost: example.com\r\n\r\n");
  CHECK(strstr(out(&f), "GET /p/q q=z h=- b=") != NULL);
  teardown(&f);
}

static void test_head_has_no_body(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n");
  const char *o = out(&f);
  CHECK(strncmp(o, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(o, "Content-Length: 18\r\n") != NULL); /* what a GET would get: "HEAD /x q=- h=- b=" */
  const char *end = strstr(o, "\r\n\r\n");
  CHECK(end && end[4] == '\0');
  teardown(&f);
}

static void test_keep_alive_several_requests(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  for (int i = 0; i < 3; i++) {
    weft_string_transport_clear(f.st);
    char req[128];
    snprintf(req, sizeof req, "GET /n%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    feed(&f, req);
    char want[32];
    snprintf(want, sizeof want, "GET /n%d q=- h=- b=", i);
    CHECK(strstr(out(&f), want) != NULL);
    CHECK(!weft_string_transport_disconnecting(f.st));
  }
  /* A request split at every byte boundary still parses. */
  weft_string_transport_clear(f.st);
  const char *split = "POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  for (size_t i = 0; split[i]; i++) CHECK_INT(weft_string_transport_feed(f.st, split + i, 1), 0);
  CHECK(strstr(out(&f), "POST /s q=- h=- b=abc") != NULL);
  teardown(&f);
}

static void test_pipelined_in_order(void) {
  fixture f;
  setup(&f);
  nheld = 0;
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  /* The first is answered later; the second arrives with it, the third after it. */
  feed(&f, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n");
  feed(&f, "GET /third HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_INT(nheld, 1);
  CHECK_INT(weft_string_transport_len(f.st), 0); /* nothing may overtake the first answer */
  CHECK(weft_string_transport_reading_paused(f.st));
  turn(&f);
  CHECK_INT(weft_string_transport_len(f.st), 0);
  /* The held request kept its own copy of its bytes: the read buffer has moved on. */
  size_t n;
  const char *p = weft_http_request_path(held[0], &n);
  CHECK_MEM(p, n, "/slow", 5);
  CHECK(weft_http_request_header(held[0], "HOST", &n) != NULL && n == 1);
  answer_held(0, "first");
  turn(&f);
  turn(&f);
  const char *o = out(&f);
  const char *a = strstr(o, "first"), *b = strstr(o, "GET /second"), *c = strstr(o, "GET /third");
  CHECK(a && b && c && a < b && b < c);
  CHECK_INT(count(o, "HTTP/1.1 200 OK"), 3);
  CHECK(!weft_string_transport_reading_paused(f.st));
  teardown(&f);
}

static void test_connection_close(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(strstr(out(&f), "\r\nConnection: close\r\n") != NULL);
  CHECK_INT(count(out(&f), "HTTP/1.1 "), 1); /* nothing after the request that closed */
  CHECK(weft_string_transport_disconnecting(f.st));
  CHECK(!weft_string_transport_aborted(f.st)); /* the answer is flushed first */
  teardown(&f);
}

static void stream_handler(weft_http_request *req, void *user) {
  const char *len = user; /* NULL: chunked */
  CHECK_INT(weft_http_response_start(req, 200), 0);
  CHECK_INT(weft_http_response_header(req, "X-Kind", "stream"), 0);
  CHECK_INT(weft_http_response_header(req, "Bad Name", "x"), WEFT_EINVAL);
  CHECK_INT(weft_http_response_header(req, "X-Inject", "a\r\nb: c"), WEFT_EINVAL);
  CHECK_INT(weft_http_response_header(req, "Transfer-Encoding", "gzip"), WEFT_EINVAL);
  if (len) CHECK_INT(weft_http_response_header(req, "Content-Length", len), 0);
  CHECK_INT(weft_http_response_write(req, "hello", 5), 0);
  CHECK_INT(weft_http_response_header(req, "X-Late", "no"), WEFT_ESTATE);
  CHECK_INT(weft_http_response_write(req, " world", 6), 0);
  CHECK_INT(weft_http_response_finish(req), 0);
}

static void test_http10(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(strstr(out(&f), "\r\nConnection: keep-alive\r\n") != NULL);
  CHECK(!weft_string_transport_disconnecting(f.st));
  weft_string_transport_clear(f.st);
  feed(&f, "GET /c HTTP/1.0\r\n\r\n");
  CHECK(strncmp(out(&f), "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(out(&f), "\r\nConnection: close\r\n") != NULL);
  CHECK(weft_string_transport_disconnecting(f.st));
  teardown(&f);

  /* A streamed body to an HTTP/1.0 client ends with the connection: no chunks. */
  setup(&f);
  weft_http_server_set_handler(f.srv, stream_handler, NULL);
  feed(&f, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(strstr(out(&f), "Transfer-Encoding") == NULL);
  CHECK(strstr(out(&f), "\r\n\r\nhello world") != NULL);
  CHECK(weft_string_transport_disconnecting(f.st));
  teardown(&f);
}

static void test_chunked_streaming(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, stream_handler, NULL);
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  const char *o = out(&f);
  CHECK(strstr(o, "\r\nX-Kind: stream\r\n") != NULL);
  CHECK(strstr(o, "\r\nTransfer-Encoding: chunked\r\n") != NULL);
  CHECK(strstr(o, "\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") != NULL);
  CHECK(strstr(o, "X-Late") == NULL && strstr(o, "X-Inject") == NULL);
  CHECK(!weft_string_transport_disconnecting(f.st));
  teardown(&f);

  /* With a Content-Length the body goes as is. */
  setup(&f);
  weft_http_server_set_handler(f.srv, stream_handler, "11");
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  o = out(&f);
  CHECK(strstr(o, "Transfer-Encoding") == NULL);
  CHECK_INT(count(o, "\r\nContent-Length: 11\r\n\r\nhello world"), 2);
  teardown(&f);
}

/* A producer whose pause/resume are counted, streaming a response answered later. */
typedef struct counting_producer {
  int paused, resumed, stopped;
} counting_producer;
static void cp_pause(void *u) { ((counting_producer *)u)->paused++; }
static void cp_resume(void *u) { ((counting_producer *)u)->resumed++; }
static void cp_stop(void *u) { ((counting_producer *)u)->stopped++; }

static void keep_handler(weft_http_request *req, void *user) {
  (void)user;
  held[nheld++] = req;
}

static void test_streaming_producer_backpressure(void) {
  fixture f;
  setup(&f);
  nheld = 0;
  weft_http_server_set_handler(f.srv, keep_handler, NULL);
  weft_transport *t = weft_string_transport_transport(f.st);
  CHECK_INT(weft_transport_set_water_marks(t, 1000, 100), 0);
  weft_string_transport_set_manual_drain(f.st, true);
  feed(&f, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(nheld == 1);
  weft_http_request *req = held[0];
  counting_producer cp = {0};
  weft_producer p = {cp_pause, cp_resume, cp_stop, &cp};
  CHECK_INT(weft_http_response_register_producer(req, &p, true), WEFT_ESTATE); /* not started */
  CHECK_INT(weft_http_response_start(req, 200), 0);
  CHECK_INT(weft_http_response_register_producer(req, &p, true), 0);
  char block[600];
  memset(block, 'x', sizeof block);
  CHECK_INT(weft_http_response_write(req, block, sizeof block), 0);
  CHECK_INT(cp.paused, 0);
  CHECK_INT(weft_http_response_write(req, block, sizeof block), 0);
  CHECK_INT(cp.paused, 1); /* past the connection's high-water mark */
  weft_string_transport_drain(f.st, SIZE_MAX);
  CHECK_INT(cp.resumed, 1);
  CHECK_INT(weft_http_response_finish(req), 0);
  CHECK(!weft_string_transport_has_producer(f.st));
  CHECK_INT(cp.stopped, 0);
  CHECK(strstr(out(&f), "258\r\n") != NULL); /* 600 bytes as one hex-sized chunk */
  teardown(&f);
}

static void test_expect_continue(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  CHECK_STR(out(&f), "HTTP/1.1 100 Continue\r\n\r\n");
  feed(&f, "hello");
  CHECK(strstr(out(&f), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n") != NULL);
  CHECK(strstr(out(&f), "POST /up q=- h=- b=hello") != NULL);
  teardown(&f);

  /* Too large: 413 at once, and no invitation to send it. */
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.max_body = 4;
  setup_with(&f, &o);
  connect_client(&f);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  CHECK(strncmp(out(&f), "HTTP/1.1 413 ", 13) == 0);
  CHECK(strstr(out(&f), "100 Continue") == NULL);
  CHECK(weft_string_transport_disconnecting(f.st));
  teardown(&f);
}

static void test_parser_errors_close(void) {
  static const struct {
    const char *bytes;
    int status;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", 413},
      {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n", 414},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 431},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417},
  };
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.max_body = 64;
  o.max_request_line = 64;
  o.max_header_bytes = 64;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fixture f;
    setup_with(&f, &o);
    connect_client(&f);
    weft_http_server_set_handler(f.srv, echo_handler, NULL);
    /* A good request first: the error closes the connection after the answers before it. */
    feed(&f, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    weft_string_transport_clear(f.st);
    feed(&f, cases[i].bytes);
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", cases[i].status);
    if (strncmp(out(&f), want, strlen(want)) != 0) fprintf(stderr, "case %zu got: %s\n", i, out(&f));
    CHECK(strncmp(out(&f), want, strlen(want)) == 0);
    CHECK(strstr(out(&f), "\r\nConnection: close\r\n") != NULL);
    CHECK(strstr(out(&f), "\r\nContent-Type: text/plain; charset=utf-8\r\n") != NULL);
    CHECK(weft_string_transport_disconnecting(f.st));
    CHECK_INT(f.http_events, 1);
    CHECK(strstr(f.last_event, "refused a request from 127.0.0.1:54321") != NULL);
    teardown(&f);
  }
}

/* ---- Deferred handlers ---- */

static weft_deferred *failing_handler(weft_http_request *req, void *user) {
  (void)req;
  weft_reactor *r = user;
  return weft_fail(weft_reactor_log(r), weft_failure_new("app.db", 7, "secret password in %s", "dsn"));
}

static void test_deferred_failure_is_500_and_logged(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_deferred_handler(f.srv, failing_handler, f.r);
  feed(&f, "GET /boom?q HTTP/1.1\r\nHost: a\r\n\r\n");
  const char *o = out(&f);
  CHECK(strncmp(o, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);
  CHECK(strstr(o, "\r\n\r\nInternal Server Error\n") != NULL);
  CHECK(strstr(o, "secret") == NULL);
  CHECK(!weft_string_transport_disconnecting(f.st)); /* the framing is fine: keep-alive goes on */
  CHECK_INT(weft_logged_errors_flush(f.errors, "GET /boom?q from 127.0.0.1:54321"), 1);
  teardown(&f);
}

static weft_deferred *pending_d;
static int cancelled, dcalls;
static void on_cancel(weft_deferred *d, void *arg) {
  (void)d;
  (void)arg;
  cancelled++;
}

static weft_deferred *later_handler(weft_http_request *req, void *user) {
  (void)req;
  weft_reactor *r = user;
  dcalls++;
  pending_d = weft_deferred_new_cancellable(weft_reactor_log(r), on_cancel, NULL);
  return weft_deferred_ref(pending_d); /* one for the server, one kept by the test */
}

static void test_deferred_answers_later(void) {
  fixture f;
  setup(&f);
  dcalls = 0;
  weft_http_server_set_deferred_handler(f.srv, later_handler, f.r);
  feed(&f, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_INT(weft_string_transport_len(f.st), 0);
  weft_deferred *d1 = pending_d;
  CHECK_INT(weft_deferred_callback(d1, weft_http_response_value(201, "application/json", "{}", 2)), 0);
  weft_deferred_unref(d1);
  CHECK_INT(dcalls, 1);
  CHECK(strncmp(out(&f), "HTTP/1.1 201 Created\r\n", 22) == 0);
  CHECK(strstr(out(&f), "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}") != NULL);
  turn(&f); /* the second request is parsed on the next turn */
  CHECK_INT(dcalls, 2);
  weft_deferred *d2 = pending_d;
  CHECK_INT(weft_deferred_callback(d2, weft_str("plain")), 0);
  weft_deferred_unref(d2);
  CHECK(strstr(out(&f), "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nplain") != NULL);
  CHECK_INT(cancelled, 0);
  teardown(&f);
}

static void test_disconnect_cancels_deferred(void) {
  fixture f;
  setup(&f);
  cancelled = 0;
  weft_http_server_set_deferred_handler(f.srv, later_handler, f.r);
  feed(&f, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(pending_d != NULL);
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(cancelled, 1);
  char why[256];
  weft_failure *fl = weft_failure_result_of(pending_d, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED, why, sizeof why);
  CHECK(fl == NULL); /* the server's errback consumed the cancellation: the chain ends in none */
  CHECK_INT(weft_deferred_called(pending_d), 1);
  weft_deferred_unref(pending_d);
  pending_d = NULL;
  CHECK_INT(weft_string_transport_len(f.st), 0);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown(&f); /* nothing logged at error: a cancel we made is no handler failure */
}

static void test_disconnect_makes_held_request_inert(void) {
  fixture f;
  setup(&f);
  nheld = 0;
  weft_http_server_set_handler(f.srv, keep_handler, NULL);
  feed(&f, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(nheld == 1);
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(weft_http_server_connections(f.srv), 1); /* kept for the handler */
  CHECK(weft_http_request_closed(held[0]));
  size_t n;
  const char *p = weft_http_request_path(held[0], &n);
  CHECK_MEM(p, n, "/x", 2);
  CHECK_INT(weft_http_response_start(held[0], 200), WEFT_ECLOSED);
  CHECK_INT(weft_http_response_write(held[0], "x", 1), WEFT_ECLOSED);
  CHECK_INT(weft_http_response_finish(held[0]), WEFT_ECLOSED);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown(&f);
}

/* ---- timeouts ---- */

static void test_idle_timeout(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.idle_timeout = 5;
  o.request_timeout = 2;
  fixture f;
  setup_with(&f, &o);
  connect_client(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  weft_memory_reactor_advance(f.r, 3);
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); /* at t=3: the next deadline is t=8 */
  weft_memory_reactor_advance(f.r, 2.5);
  weft_memory_reactor_advance(f.r, 2.4);
  CHECK(!weft_string_transport_disconnecting(f.st));
  weft_memory_reactor_advance(f.r, 0.2);
  CHECK(weft_string_transport_disconnecting(f.st));
  CHECK(!weft_string_transport_aborted(f.st));
  CHECK(strstr(f.last_event, "idle timeout") != NULL);
  teardown(&f);

  /* Half a request: the request timeout, and the slow client is not waited for. */
  setup_with(&f, &o);
  connect_client(&f);
  feed(&f, "GET / HTTP/1.1\r\nHost:");
  weft_memory_reactor_advance(f.r, 1.9);
  CHECK(!weft_string_transport_disconnecting(f.st));
  weft_memory_reactor_advance(f.r, 0.2);
  CHECK(weft_string_transport_aborted(f.st));
  CHECK(strstr(f.last_event, "request timeout") != NULL);
  teardown(&f);
}

static void test_max_requests(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.max_requests = 2;
  fixture f;
  setup_with(&f, &o);
  connect_client(&f);
  weft_http_server_set_handler(f.srv, echo_handler, NULL);
  feed(&f, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_INT(count(out(&f), "HTTP/1.1 200"), 2);
  CHECK_INT(count(out(&f), "Connection: close"), 1);
  CHECK(weft_string_transport_disconnecting(f.st));
  teardown(&f);
}

static void test_date_header_format(void) {
  char d[30];
  weft_http_date(784111777, d);
  CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
  weft_http_date(0, d);
  CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
  fixture f;
  setup(&f);
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  const char *o = out(&f);
  CHECK(strncmp(o, "HTTP/1.1 404 Not Found\r\n", 24) == 0); /* no handler */
  const char *p = strstr(o, "\r\nDate: ");
  REQUIRE(p);
  p += 8;
  const char *e = strstr(p, "\r\n");
  CHECK(e && e - p == 29);
  CHECK(p[3] == ',' && p[4] == ' ' && p[7] == ' ' && p[11] == ' ' && p[16] == ' ' && p[19] == ':' &&
        p[22] == ':' && strncmp(p + 25, " GMT", 4) == 0);
  teardown(&f);
}

static void test_options_validated(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  weft_http_server *srv = NULL;
  o.server_name = "evil\r\nX: y";
  CHECK_INT(weft_http_server_new(&srv, r, &o), WEFT_EINVAL);
  weft_http_server_options_init(&o);
  o.max_headers = 1000;
  CHECK_INT(weft_http_server_new(&srv, r, &o), WEFT_EINVAL);
  weft_http_server_options_init(&o);
  o.server_name = NULL;
  REQUIRE(weft_http_server_new(&srv, r, &o) == 0);
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, r) == 0);
  REQUIRE(weft_string_transport_attach_factory(st, weft_http_server_factory(srv)) == 0);
  weft_string_transport_feed(st, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
  CHECK(strstr(weft_string_transport_value(st), "Server:") == NULL);
  /* Freeing the server with a connection open aborts it. */
  weft_http_server_free(srv);
  CHECK(weft_string_transport_aborted(st));
  weft_string_transport_free(st);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* ---- real sockets ---- */

static void test_loopback_keep_alive_and_pipelining(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_server *srv;
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  weft_http_server_set_handler(srv, echo_handler, NULL);
  weft_listening_port *lp = listen_local(r, weft_http_server_factory(srv));
  weft_address to = loopback_of(lp, "127.0.0.1");

  /* 16 pipelined requests in one write, answered in order on one connection. */
  static char reqs[16 * 64];
  size_t n = 0;
  for (int i = 0; i < 16; i++)
    n += (size_t)snprintf(reqs + n, sizeof reqs - n, "GET /p%02d HTTP/1.1\r\nHost: l\r\n\r\n", i);
  static client c;
  memset(&c, 0, sizeof c);
  c.send = reqs;
  c.send_len = n;
  weft_factory cf = client_factory(&c);
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, &cf) == 0);
  bool done = false;
  for (int i = 0; i < 500 && !done; i++) {
    weft_reactor_iterate(r, 0.01);
    c.got[c.ngot < sizeof c.got ? c.ngot : sizeof c.got - 1] = '\0';
    done = count(c.got, "HTTP/1.1 200 OK") == 16;
  }
  CHECK(done);
  const char *last = c.got;
  for (int i = 0; i < 16; i++) {
    char want[16];
    snprintf(want, sizeof want, "GET /p%02d ", i);
    const char *at = strstr(c.got, want);
    CHECK(at && at >= last);
    if (at) last = at;
  }
  /* Keep-alive: the same connection takes another request. */
  CHECK(!c.lost);
  c.ngot = 0;
  memset(c.got, 0, 256);
  if (c.t) weft_transport_write(c.t, "GET /again HTTP/1.1\r\nHost: l\r\n\r\n", 32);
  done = false;
  for (int i = 0; i < 500 && !done; i++) {
    weft_reactor_iterate(r, 0.01);
    done = strstr(c.got, "GET /again ") != NULL;
  }
  CHECK(done);
  CHECK_INT(weft_http_server_connections(srv), 1);
  if (c.t) weft_transport_lose_connection(c.t);
  for (int i = 0; i < 500 && weft_http_server_connections(srv) > 0; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(weft_http_server_connections(srv), 0);
  weft_listening_port_close(lp);
  weft_http_server_free(srv);
  close_reactor(r);
}

int main(void) {
  RUN(test_simple_get);
  RUN(test_absolute_form_and_headers);
  RUN(test_head_has_no_body);
  RUN(test_keep_alive_several_requests);
  RUN(test_pipelined_in_order);
  RUN(test_connection_close);
  RUN(test_http10);
  RUN(test_chunked_streaming);
  RUN(test_streaming_producer_backpressure);
  RUN(test_expect_continue);
  RUN(test_parser_errors_close);
  RUN(test_deferred_failure_is_500_and_logged);
  RUN(test_deferred_answers_later);
  RUN(test_disconnect_cancels_deferred);
  RUN(test_disconnect_makes_held_request_inert);
  RUN(test_idle_timeout);
  RUN(test_max_requests);
  RUN(test_date_header_format);
  RUN(test_options_validated);
  RUN(test_loopback_keep_alive_and_pipelining);
  return CHECK_DONE();
}
