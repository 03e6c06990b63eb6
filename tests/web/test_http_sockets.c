/* test_http_sockets.c: the HTTP/1.1 server (include/weft/http.h) on real loopback sockets, driven
 * by a raw client socket of this test: keep-alive, pipelining with answers that finish out of
 * order, 100-continue, half-closed clients, a slow reader (the queued output stays bounded while
 * many MiB stream through a producer), and the idle and request timeouts (slowloris). Every wait
 * turns the reactor and has a deadline. */
#include "web/http_live.h"

/* Reads responses from fd until `n` are whole (or the server closes, or 5 s pass) and parses them
 * into rs. Returns how many were whole. */
static int read_responses(live_server *s, int fd, raw_in *in, live_response *rs, int n, bool head) {
  double end = live_now() + 5;
  int got = 0;
  size_t off = 0;
  for (;;) {
    raw_read_now(fd, in);
    while (got < n && off < in->len) {
      long k = live_parse_response(in->buf + off, in->len - off, &rs[got], head, in->eof);
      if (k <= 0) break;
      off += (size_t)k;
      if (rs[got].status >= 200) got++;
      else live_response_free(&rs[got]); /* an interim 100 */
    }
    if (got == n || in->eof || in->error || live_now() > end) return got;
    weft_reactor_iterate(s->r, 0.002);
  }
}

static void free_responses(live_response *rs, int n) {
  for (int i = 0; i < n; i++) live_response_free(&rs[i]);
}

/* ---- keep-alive ---- */

static void test_keep_alive(void) {
  live_server s;
  live_start(&s, NULL);
  int fd = raw_connect(s.portno);
  raw_in in = {0};
  static const char *const reqs[] = {
      "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde",
      "GET /stream?5,1000 HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /delay?20 HTTP/1.1\r\nHost: t\r\n\r\n",
  };
  for (size_t i = 0; i < 4; i++) {
    in.len = 0;
    CHECK(raw_send(s.r, fd, reqs[i], strlen(reqs[i])));
    live_response rs[1];
    REQUIRE(read_responses(&s, fd, &in, rs, 1, false) == 1);
    CHECK_INT(rs[0].status, 200);
    CHECK(strstr(rs[0].head, "Connection: close") == NULL);
    if (i == 0) CHECK_STR(rs[0].body, "hello\n");
    if (i == 1) CHECK_STR(rs[0].body, "abcde");
    if (i == 2) CHECK(rs[0].chunked && rs[0].body_len == 5000 && live_pattern_ok(rs[0].body, 5000, 0));
    if (i == 3) CHECK_STR(rs[0].body, "delayed 20\n");
    free_responses(rs, 1);
    CHECK(!in.eof && !in.error);
    CHECK_INT(weft_http_server_connections(s.srv), 1);
  }
  CHECK_INT(s.app.nports, 1);
  close(fd);
  raw_in_free(&in);
  live_stop(&s);
}

/* ---- pipelining: 10 requests in one write, answers finishing in another order ---- */

static void test_pipelining(void) {
  live_server s;
  live_start(&s, NULL);
  /* The delays shrink: a server that answered as handlers finish would send /delay?5 first. */
  char reqs[4096];
  size_t n = 0;
  const char *want[10];
  char bodies[10][32];
  for (int i = 0; i < 10; i++) {
    switch (i % 4) {
    case 0:
      snprintf(bodies[i], sizeof bodies[i], "delayed %d\n", 100 - i * 10);
      n += (size_t)snprintf(reqs + n, sizeof reqs - n, "GET /delay?%d HTTP/1.1\r\nHost: t\r\n\r\n", 100 - i * 10);
      break;
    case 1:
      snprintf(bodies[i], sizeof bodies[i], "body-%d", i);
      n += (size_t)snprintf(reqs + n, sizeof reqs - n, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s",
                            strlen(bodies[i]), bodies[i]);
      break;
    case 2:
      snprintf(bodies[i], sizeof bodies[i], "hello\n");
      n += (size_t)snprintf(reqs + n, sizeof reqs - n, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
      break;
    default:
      snprintf(bodies[i], sizeof bodies[i], "chunked-%d", i);
      n += (size_t)snprintf(reqs + n, sizeof reqs - n,
                            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "8\r\nchunked-\r\n1\r\n%d\r\n0\r\n\r\n",
                            i);
      break;
    }
    want[i] = bodies[i];
  }
  int fd = raw_connect(s.portno);
  CHECK(send(fd, reqs, n, MSG_NOSIGNAL) == (ssize_t)n); /* one write: 10 requests, ~700 bytes */
  raw_in in = {0};
  live_response rs[10];
  int got = read_responses(&s, fd, &in, rs, 10, false);
  CHECK_INT(got, 10);
  for (int i = 0; i < got; i++) {
    CHECK_INT(rs[i].status, 200);
    if (strcmp(rs[i].body, want[i]) != 0) CHECK_FAIL_("response %d: \"%s\", wanted \"%s\"", i, rs[i].body, want[i]);
  }
  free_responses(rs, got);
  CHECK_INT(s.app.requests, 10);
  CHECK_INT(s.app.nports, 1);
  CHECK(!in.eof);
  close(fd);
  raw_in_free(&in);
  live_stop(&s);
}

/* ---- 100-continue: the client waits for the invitation before it sends the body ---- */

static void test_expect_100_continue(void) {
  live_server s;
  live_start(&s, NULL);
  int fd = raw_connect(s.portno);
  static char body[3000];
  for (size_t i = 0; i < sizeof body; i++) body[i] = live_pattern(i * 3);
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: %zu\r\n\r\n", sizeof body);
  CHECK(raw_send(s.r, fd, head, (size_t)hl));
  raw_in in = {0};
  const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
  CHECK(raw_read_until_count(s.r, fd, &in, cont, 1, 5));
  /* Only the invitation: no final answer before the body, and the handler has not run. */
  CHECK_INT(in.len, strlen(cont));
  CHECK_INT(s.app.requests, 0);
  CHECK(raw_send(s.r, fd, body, sizeof body));
  live_response rs[1];
  CHECK_INT(read_responses(&s, fd, &in, rs, 1, false), 1);
  CHECK_INT(rs[0].status, 200);
  CHECK_MEM(rs[0].body, rs[0].body_len, body, sizeof body);
  free_responses(rs, 1);
  /* The connection goes on: a second request without Expect. */
  in.len = 0;
  CHECK(raw_send(s.r, fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 32));
  CHECK_INT(read_responses(&s, fd, &in, rs, 1, false), 1);
  CHECK_STR(rs[0].body, "hello\n");
  free_responses(rs, 1);
  close(fd);
  raw_in_free(&in);
  live_stop(&s);

  /* A body over max_body: 413 at once instead of the invitation, and the connection closed, so
   * a client that waits for 100 never sends it. */
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.max_body = 1000;
  live_start(&s, &o);
  fd = raw_connect(s.portno);
  CHECK(raw_send(s.r, fd, head, (size_t)hl));
  raw_read_until_closed(s.r, fd, &in, 5);
  CHECK(in.eof || in.error);
  CHECK(in.buf && strncmp(in.buf, "HTTP/1.1 413 ", 13) == 0);
  CHECK(in.buf && strstr(in.buf, "100 Continue") == NULL);
  CHECK_INT(s.app.requests, 0);
  close(fd);
  raw_in_free(&in);
  live_stop(&s);
}

/* ---- half-closed clients: request, shutdown(SHUT_WR), and still the whole answer ---- */

static void half_closed(const char *what, const char *reqs, int n, const char *const want[]) {
  live_server s;
  live_start(&s, NULL);
  int fd = raw_connect(s.portno);
  CHECK(raw_send(s.r, fd, reqs, strlen(reqs)));
  CHECK(shutdown(fd, SHUT_WR) == 0);
  raw_in in = {0};
  raw_read_until_closed(s.r, fd, &in, 5);
  CHECK(in.eof); /* closed cleanly once answered, not reset */
  CHECK_INT(in.error, 0);
  live_response rs[4];
  int got = 0;
  size_t off = 0;
  while (got < n && off < in.len) {
    long k = live_parse_response(in.buf + off, in.len - off, &rs[got], false, true);
    if (k <= 0) break;
    off += (size_t)k;
    got++;
  }
  if (got != n) CHECK_FAIL_("%s: %d of %d responses whole, %zu bytes read", what, got, n, in.len);
  for (int i = 0; i < got; i++) {
    CHECK_INT(rs[i].status, 200);
    if (want[i] && strcmp(rs[i].body, want[i]) != 0) CHECK_FAIL_("%s: response %d is \"%.40s\"", what, i, rs[i].body);
    if (!want[i] && !(rs[i].body_len == 1 << 20 && live_pattern_ok(rs[i].body, rs[i].body_len, 0)))
      CHECK_FAIL_("%s: response %d has %zu bytes of the 1 MiB stream", what, i, rs[i].body_len);
  }
  free_responses(rs, got);
  close(fd);
  raw_in_free(&in);
  live_stop(&s);
}

static void test_half_closed_answered_at_once(void) {
  const char *const want[] = {"hello\n"};
  half_closed("at once", "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 1, want);
}

static void test_half_closed_answered_later(void) {
  const char *const want[] = {"delayed 100\n"};
  half_closed("later", "GET /delay?100 HTTP/1.1\r\nHost: t\r\n\r\n", 1, want);
}

static void test_half_closed_streamed(void) {
  const char *const want[] = {NULL};
  half_closed("streamed", "GET /stream?64,16384 HTTP/1.1\r\nHost: t\r\n\r\n", 1, want);
}

static void test_half_closed_pipelined(void) {
  const char *const want[] = {"delayed 50\n", "hello\n"};
  half_closed("pipelined", "GET /delay?50 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 2, want);
}

/* ---- a slow reader: memory stays bounded ---- */

/* A factory that wraps the server's to learn each connection's transport (weft_transport_buffered
 * is the measure of what the server queues). One connection at a time. */
typedef struct spy {
  const weft_factory *inner;
  weft_factory f;
  weft_protocol proto;
  weft_protocol_callbacks cb;
  weft_transport *t;
} spy;

static void spy_made(weft_transport *t, void *u) {
  spy *s = u;
  s->t = t;
  if (s->proto.cb->connection_made) s->proto.cb->connection_made(t, s->proto.user);
}
static void spy_data(weft_transport *t, const void *d, size_t n, void *u) {
  spy *s = u;
  s->proto.cb->data_received(t, d, n, s->proto.user);
}
static void spy_lost(weft_transport *t, int reason, void *u) {
  spy *s = u;
  s->t = NULL;
  if (s->proto.cb->connection_lost) s->proto.cb->connection_lost(t, reason, s->proto.user);
}
static void spy_read_lost(weft_transport *t, void *u) {
  spy *s = u;
  s->proto.cb->read_connection_lost(t, s->proto.user);
}
static void spy_write_lost(weft_transport *t, void *u) {
  spy *s = u;
  s->proto.cb->write_connection_lost(t, s->proto.user);
}
static int spy_build(void *u, const weft_address *peer, weft_protocol *out) {
  spy *s = u;
  int rc = s->inner->build_protocol(s->inner->user, peer, &s->proto);
  if (rc != 0) return rc;
  s->cb = (weft_protocol_callbacks){.connection_made = spy_made, .data_received = spy_data,
                                    .connection_lost = spy_lost};
  /* the same half-close behaviour as the protocol wrapped */
  if (s->proto.cb->read_connection_lost) s->cb.read_connection_lost = spy_read_lost;
  if (s->proto.cb->write_connection_lost) s->cb.write_connection_lost = spy_write_lost;
  *out = (weft_protocol){.cb = &s->cb, .user = s};
  return 0;
}
static void spy_start(void *u) {
  spy *s = u;
  if (s->inner->start_factory) s->inner->start_factory(s->inner->user);
}
static void spy_stop(void *u) {
  spy *s = u;
  if (s->inner->stop_factory) s->inner->stop_factory(s->inner->user);
}

#define BIG_TOTAL (32u << 20) /* 32 MiB */
#define BIG_PIECE (64u << 10)

typedef struct big {
  spy *spy;
  weft_reactor *r;
  weft_http_request *req;
  uint64_t sent;
  size_t max_buffered;
  int pauses, resumes;
  bool paused, finishing, finished, stopped;
  char piece[BIG_PIECE + 26];
} big;

static void big_finish(void *u) {
  big *b = u;
  CHECK_INT(weft_http_response_finish(b->req), 0);
  b->finished = true;
}

/* Writes pieces until paused or done (a streaming producer pushes while it is not paused). */
static void big_produce(big *b) {
  while (!b->paused && !b->stopped && b->sent < BIG_TOTAL) {
    /* the pattern repeats every 26 bytes: start the piece at the right phase */
    if (weft_http_response_write(b->req, b->piece + b->sent % 26, BIG_PIECE) != 0) return;
    b->sent += BIG_PIECE;
    if (b->spy->t) {
      size_t q = weft_transport_buffered(b->spy->t);
      if (q > b->max_buffered) b->max_buffered = q;
    }
  }
  if (b->sent == BIG_TOTAL && !b->stopped && !b->finishing) {
    b->finishing = true; /* not from inside the transport's call: on the next turn */
    REQUIRE(weft_reactor_call_later(b->r, 0, big_finish, b));
  }
}
static void big_pause(void *u) {
  big *b = u;
  b->paused = true;
  b->pauses++;
}
static void big_resume(void *u) {
  big *b = u;
  b->paused = false;
  b->resumes++;
  big_produce(b);
}
static void big_stop(void *u) { ((big *)u)->stopped = true; }

static void big_handler(weft_http_request *req, void *user) {
  big *b = user;
  b->req = req;
  char len[32];
  snprintf(len, sizeof len, "%u", BIG_TOTAL);
  REQUIRE(weft_http_response_start(req, 200) == 0);
  REQUIRE(weft_http_response_header(req, "Content-Length", len) == 0);
  weft_producer p = {big_pause, big_resume, big_stop, b};
  REQUIRE(weft_http_response_register_producer(req, &p, true) == 0);
  big_produce(b);
}

static void test_slow_reader_bounded(void) {
  static big b;
  memset(&b, 0, sizeof b);
  for (size_t i = 0; i < sizeof b.piece; i++) b.piece[i] = live_pattern(i);
  live_server s;
  memset(&s, 0, sizeof s);
  REQUIRE(weft_reactor_new(&s.r, NULL) == 0);
  b.r = s.r;
  REQUIRE(weft_http_server_new(&s.srv, s.r, NULL) == 0);
  weft_http_server_set_handler(s.srv, big_handler, &b);
  spy sp = {.inner = weft_http_server_factory(s.srv)};
  sp.f = (weft_factory){.build_protocol = spy_build, .start_factory = spy_start, .stop_factory = spy_stop, .user = &sp};
  b.spy = &sp;
  s.port = listen_local(s.r, &sp.f);
  weft_address a;
  weft_listening_port_address(s.port, &a);

  /* A client with a small receive buffer that takes at most 16 KiB per turn of the reactor. */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int rcv = 64 << 10;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)weft_address_port(&a))};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  const char *req = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
  static char buf[16 << 10];
  char head[1024];
  size_t hl = 0;
  uint64_t body = 0;
  bool head_done = false, pattern_ok = true, eof = false;
  double end = live_now() + 15;
  while (body < BIG_TOTAL && !eof && live_now() < end) {
    weft_reactor_iterate(s.r, 0.001);
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) eof = true;
    if (n <= 0) continue;
    size_t off = 0;
    while (!head_done && off < (size_t)n) {
      head[hl++] = buf[off++];
      head[hl] = '\0';
      head_done = hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0;
      REQUIRE(hl < sizeof head - 1);
    }
    if (!live_pattern_ok(buf + off, (size_t)n - off, body)) pattern_ok = false;
    body += (size_t)n - off;
  }
  CHECK(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK_INT(body, BIG_TOTAL);
  CHECK(pattern_ok);
  for (int i = 0; i < 200 && !b.finished; i++) weft_reactor_iterate(s.r, 0.01);
  CHECK(b.finished);
  /* The producer was held back many times, and what the server queued stayed under the
   * high-water mark plus one piece (and its chunk framing, none here: a Content-Length body). */
  CHECK(b.pauses >= 10);
  CHECK(b.resumes >= b.pauses - 1);
  if (b.max_buffered > WEFT_TRANSPORT_HIGH_WATER_DEFAULT + BIG_PIECE)
    CHECK_FAIL_("%zu bytes queued at most, over %u + %u", b.max_buffered, WEFT_TRANSPORT_HIGH_WATER_DEFAULT, BIG_PIECE);
  fprintf(stderr, "  slow reader: 32 MiB, %d pauses, at most %zu bytes queued\n", b.pauses, b.max_buffered);
  close(fd);
  live_stop(&s);
}

/* A client that pipelines many requests answered at once and reads nothing: the server must stop
 * taking requests while their answers back up (as for a producer), or 76 KB of requests make it
 * queue 32 MiB of answers. Then the client reads, and gets every answer in order. */
#define PIPE_N 2000
#define PIPE_SIZE 16384

static void test_pipelined_client_that_does_not_read(void) {
  live_server s;
  live_start(&s, NULL);
  spy sp = {.inner = weft_http_server_factory(s.srv)};
  sp.f = (weft_factory){.build_protocol = spy_build, .start_factory = spy_start, .stop_factory = spy_stop, .user = &sp};
  weft_listening_port *port = listen_local(s.r, &sp.f);
  weft_address a;
  weft_listening_port_address(port, &a);

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int rcv = 32 << 10;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)weft_address_port(&a))};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  char one[64];
  int ol = snprintf(one, sizeof one, "GET /blob?%d HTTP/1.1\r\nHost: t\r\n\r\n", PIPE_SIZE);
  char *reqs = malloc((size_t)ol * PIPE_N);
  REQUIRE(reqs);
  for (int i = 0; i < PIPE_N; i++) memcpy(reqs + (size_t)i * (size_t)ol, one, (size_t)ol);
  /* Send them all (the server may stop reading: then what is left stays with us), reading none. */
  size_t sent = 0, total = (size_t)ol * PIPE_N, max_buffered = 0;
  double end = live_now() + 2;
  while (live_now() < end) {
    if (sent < total) {
      ssize_t n = send(fd, reqs + sent, total - sent, MSG_NOSIGNAL);
      if (n > 0) sent += (size_t)n;
    }
    weft_reactor_iterate(s.r, 0.002);
    if (sp.t && weft_transport_buffered(sp.t) > max_buffered) max_buffered = weft_transport_buffered(sp.t);
  }
  int answered = s.app.requests;
  if (max_buffered > WEFT_TRANSPORT_HIGH_WATER_DEFAULT + 2 * (PIPE_SIZE + 256))
    CHECK_FAIL_("the server queued %zu bytes for a client that reads nothing (%d requests answered)", max_buffered,
                answered);
  /* Now read: every answer arrives, in order, whole. */
  raw_in in = {0};
  int got = 0;
  size_t off = 0;
  bool ordered = true;
  end = live_now() + 10;
  while (got < PIPE_N && !in.eof && !in.error && live_now() < end) {
    if (sent < total) {
      ssize_t n = send(fd, reqs + sent, total - sent, MSG_NOSIGNAL);
      if (n > 0) sent += (size_t)n;
    }
    weft_reactor_iterate(s.r, 0.001);
    raw_read_now(fd, &in);
    live_response r;
    long k;
    while (in.len > off && (k = live_parse_response(in.buf + off, in.len - off, &r, false, false)) > 0) {
      off += (size_t)k;
      if (r.status != 200 || r.body_len != PIPE_SIZE || !live_pattern_ok(r.body, r.body_len, 0)) ordered = false;
      live_response_free(&r);
      got++;
    }
    if (off > (8u << 20)) { /* keep the buffer small */
      memmove(in.buf, in.buf + off, in.len - off);
      in.len -= off;
      off = 0;
    }
  }
  CHECK_INT(got, PIPE_N);
  CHECK(ordered);
  fprintf(stderr, "  pipelined, not reading: %d answered meanwhile, at most %zu bytes queued\n", answered,
          max_buffered);
  free(reqs);
  close(fd);
  raw_in_free(&in);
  weft_listening_port_close(port);
  live_stop(&s);
}

/* ---- timeouts ---- */

static void test_idle_timeout(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.idle_timeout = 0.4;
  o.request_timeout = 5;
  live_server s;
  live_start(&s, &o);
  /* A connection that never sends: closed after the idle timeout, without a word. */
  double t0 = live_now();
  int fd = raw_connect(s.portno);
  raw_in in = {0};
  raw_read_until_closed(s.r, fd, &in, 5);
  double took = live_now() - t0;
  CHECK(in.eof);
  CHECK_INT(in.len, 0);
  if (!(took > 0.3 && took < 2)) CHECK_FAIL_("closed after %.2f s, idle timeout 0.4 s", took);
  close(fd);
  raw_in_free(&in);
  /* After an answer, the same: the idle time counts from the answer. */
  fd = raw_connect(s.portno);
  CHECK(raw_send(s.r, fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 32));
  CHECK(raw_read_until_count(s.r, fd, &in, "hello\n", 1, 5));
  t0 = live_now();
  raw_read_until_closed(s.r, fd, &in, 5);
  took = live_now() - t0;
  CHECK(in.eof);
  if (!(took > 0.3 && took < 2)) CHECK_FAIL_("closed %.2f s after the answer, idle timeout 0.4 s", took);
  close(fd);
  raw_in_free(&in);
  live_stop(&s);
}

/* Sends `bytes` one byte per 100 ms (slowloris) until the server closes. Returns the seconds from
 * the first byte to the close (or a large number if it never closed within 6 s). */
static double dribble(live_server *s, const char *bytes, raw_in *in) {
  int fd = raw_connect(s->portno);
  double t0 = live_now(), next = t0;
  size_t i = 0, n = strlen(bytes);
  while (live_now() - t0 < 6) {
    if (live_now() >= next && i < n) {
      if (send(fd, bytes + i, 1, MSG_NOSIGNAL) != 1) break; /* reset: the server gave up on us */
      i++;
      next += 0.1;
    }
    weft_reactor_iterate(s->r, 0.005);
    raw_read_now(fd, in);
    if (in->eof || in->error) break;
  }
  double took = live_now() - t0;
  close(fd);
  return took < 6 ? took : 1e9;
}

/* A client that asks for a big answer and never reads it (slowhttptest -X, "slow read"): the
 * answer can never be flushed, so closing gently at the idle timeout never ends; the server must
 * drop such a connection within a bounded time instead of holding it and its queued answer. */
static void test_client_that_never_reads_is_dropped(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.idle_timeout = 0.5;
  o.request_timeout = 0.5;
  live_server s;
  live_start(&s, &o);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int rcv = 16 << 10;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.portno)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  const char *req = "GET /blob?8000000 HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
  double end = live_now() + 4;
  while (live_now() < end && !(s.app.requests == 1 && weft_http_server_connections(s.srv) == 0))
    weft_reactor_iterate(s.r, 0.01);
  CHECK_INT(s.app.requests, 1);
  if (weft_http_server_connections(s.srv) != 0)
    CHECK_FAIL_("a client that reads nothing is still connected 4 s on, with an idle timeout of 0.5 s");
  close(fd);
  live_stop(&s);
}

static void test_slowloris_request_timeout(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.request_timeout = 1;
  o.idle_timeout = 10;
  live_server s;
  live_start(&s, &o);
  /* Headers that would take 6 s at a byte per 100 ms: cut at the 1 s request timeout. */
  raw_in in = {0};
  double took =
      dribble(&s, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", &in);
  if (!(took > 0.9 && took < 2.5)) CHECK_FAIL_("headers: closed after %.2f s, request timeout 1 s", took);
  CHECK_INT(in.len, 0); /* a slow client is not answered: it is dropped */
  raw_in_free(&in);
  /* A whole head, then a body dribbled: the same deadline, counted from the first byte. */
  static char slow_body[256];
  snprintf(slow_body, sizeof slow_body, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 60\r\n\r\n%s",
           "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  int fd = raw_connect(s.portno); /* the head at once, then one body byte per 100 ms */
  size_t head_len = strlen(slow_body) - 60;
  CHECK(raw_send(s.r, fd, slow_body, head_len));
  double t0 = live_now();
  for (size_t i = head_len; i < strlen(slow_body) && live_now() - t0 < 6; i++) {
    double next = live_now() + 0.1;
    while (live_now() < next) weft_reactor_iterate(s.r, 0.005);
    raw_read_now(fd, &in);
    if (in.eof || in.error || send(fd, slow_body + i, 1, MSG_NOSIGNAL) != 1) break;
  }
  raw_read_until_closed(s.r, fd, &in, 1);
  took = live_now() - t0;
  CHECK(in.eof || in.error);
  if (!(took > 0.8 && took < 2.5)) CHECK_FAIL_("body: closed after %.2f s, request timeout 1 s", took);
  CHECK_INT(in.len, 0);
  close(fd);
  raw_in_free(&in);
  CHECK_INT(s.app.requests, 0);
  live_stop(&s);
}

int main(void) {
  RUN(test_keep_alive);
  RUN(test_pipelining);
  RUN(test_expect_100_continue);
  RUN(test_half_closed_answered_at_once);
  RUN(test_half_closed_answered_later);
  RUN(test_half_closed_streamed);
  RUN(test_half_closed_pipelined);
  RUN(test_slow_reader_bounded);
  RUN(test_pipelined_client_that_does_not_read);
  RUN(test_idle_timeout);
  RUN(test_slowloris_request_timeout);
  RUN(test_client_that_never_reads_is_dropped);
  return CHECK_DONE();
}
