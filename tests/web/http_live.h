/* http_live.h: what the real-socket HTTP tests share (test_http_interop*.c, test_http_sockets*.c,
 * test_http_robust*.c): a weft HTTP server on 127.0.0.1 port 0 in this process, a small app to
 * serve, external clients run as child processes while the reactor keeps serving, and a raw
 * non-blocking socket client whose every wait turns the reactor and has a deadline.
 * Header-only, static inline (each test uses a part). */
#ifndef WEFT_TESTS_WEB_HTTP_LIVE_H
#define WEFT_TESTS_WEB_HTTP_LIVE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/net_util.h"
#include "weft/http.h"
#include "weft/process.h"

static inline double live_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Byte j of every generated body: a pattern a client can check without being told the body. */
static inline char live_pattern(uint64_t j) { return (char)('a' + j % 26); }

static inline bool live_pattern_ok(const char *p, size_t n, uint64_t from) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != live_pattern(from + i)) return false;
  return true;
}

/* ---- the app ----
 *   /hello               200 "hello\n"
 *   /echo                200, the request body back, X-Method: the method
 *   /stream?N,S          200 chunked: N pieces of S pattern bytes, one per reactor turn
 *   /delay?MS            200 "delayed MS\n", answered MS milliseconds later
 *   /blob?S              200, S pattern bytes answered at once (weft_http_respond)
 *   anything else        404
 * It counts requests, remembers the distinct client ports (connections) and every path. */

#define LIVE_MAX_PORTS 64

typedef struct live_app {
  weft_reactor *r;
  int requests;
  int ports[LIVE_MAX_PORTS];
  int nports;
  char paths[4096]; /* every path, each followed by a space */
  size_t paths_len;
  int streams_live; /* streams and delayed answers not finished yet */
} live_app;

typedef struct live_stream {
  live_app *app;
  weft_http_request *req;
  int left;
  size_t size;
  uint64_t off;
} live_stream;

static inline void live_stream_step(void *arg) {
  live_stream *s = arg;
  int rc = 0;
  if (s->left > 0) {
    char *piece = malloc(s->size);
    REQUIRE(piece);
    for (size_t i = 0; i < s->size; i++) piece[i] = live_pattern(s->off + i);
    rc = weft_http_response_write(s->req, piece, s->size);
    free(piece);
    s->off += s->size;
    s->left--;
  }
  if (rc == 0 && s->left > 0) {
    REQUIRE(weft_reactor_call_later(s->app->r, 0, live_stream_step, s));
    return;
  }
  weft_http_response_finish(s->req); /* 0, or WEFT_ECLOSED when the client left early */
  s->app->streams_live--;
  free(s);
}

typedef struct live_delay {
  live_app *app;
  weft_http_request *req;
  int ms;
} live_delay;

static inline void live_delay_fire(void *arg) {
  live_delay *d = arg;
  char body[64];
  int n = snprintf(body, sizeof body, "delayed %d\n", d->ms);
  weft_http_respond(d->req, 200, NULL, 0, body, (size_t)n);
  d->app->streams_live--;
  free(d);
}

static inline void live_handler(weft_http_request *req, void *user) {
  live_app *a = user;
  a->requests++;
  weft_address peer;
  if (weft_http_request_peer(req, &peer) == 0) {
    int port = weft_address_port(&peer), k = 0;
    while (k < a->nports && a->ports[k] != port) k++;
    if (k == a->nports && a->nports < LIVE_MAX_PORTS) a->ports[a->nports++] = port;
  }
  size_t pl, ql, ml, bl;
  const char *p = weft_http_request_path(req, &pl);
  const char *q = weft_http_request_query(req, &ql);
  const char *m = weft_http_request_method(req, &ml);
  if (a->paths_len + pl + 1 < sizeof a->paths) {
    memcpy(a->paths + a->paths_len, p, pl);
    a->paths_len += pl;
    a->paths[a->paths_len++] = ' ';
    a->paths[a->paths_len] = '\0';
  }
  char qs[64] = "";
  if (q && ql < sizeof qs) memcpy(qs, q, ql), qs[ql] = '\0';
  if (pl == 6 && memcmp(p, "/hello", 6) == 0) {
    static const weft_http_header ct[] = {{"Content-Type", "text/plain"}};
    weft_http_respond(req, 200, ct, 1, "hello\n", 6);
  } else if (pl == 5 && memcmp(p, "/echo", 5) == 0) {
    char method[16];
    snprintf(method, sizeof method, "%.*s", (int)(ml < 15 ? ml : 15), m);
    const weft_http_header h[] = {{"Content-Type", "application/octet-stream"}, {"X-Method", method}};
    const void *b = weft_http_request_body(req, &bl);
    weft_http_respond(req, 200, h, 2, b, bl);
  } else if (pl == 7 && memcmp(p, "/stream", 7) == 0) {
    int n = 0;
    unsigned long size = 0;
    if (sscanf(qs, "%d,%lu", &n, &size) != 2 || n < 0 || size == 0 || size > (1u << 20)) {
      weft_http_respond(req, 400, NULL, 0, "bad stream\n", 11);
      return;
    }
    live_stream *s = calloc(1, sizeof *s);
    REQUIRE(s);
    *s = (live_stream){.app = a, .req = req, .left = n, .size = size};
    REQUIRE(weft_http_response_start(req, 200) == 0);
    weft_http_response_header(req, "Content-Type", "application/octet-stream");
    a->streams_live++;
    live_stream_step(s);
  } else if (pl == 5 && memcmp(p, "/blob", 5) == 0) {
    size_t size = (size_t)strtoul(qs, NULL, 10);
    char *blob = malloc(size + 1);
    REQUIRE(blob && size <= (1u << 24));
    for (size_t i = 0; i < size; i++) blob[i] = live_pattern(i);
    weft_http_respond(req, 200, NULL, 0, blob, size);
    free(blob);
  } else if (pl == 6 && memcmp(p, "/delay", 6) == 0) {
    live_delay *d = calloc(1, sizeof *d);
    REQUIRE(d);
    *d = (live_delay){.app = a, .req = req, .ms = atoi(qs)};
    a->streams_live++;
    REQUIRE(weft_reactor_call_later(a->r, d->ms / 1000.0, live_delay_fire, d));
  } else {
    weft_http_respond(req, 404, NULL, 0, "Not Found\n", 10);
  }
}

/* ---- the server ---- */

typedef struct live_server {
  weft_reactor *r;
  weft_http_server *srv;
  weft_listening_port *port;
  int portno;
  char base[64]; /* "http://127.0.0.1:PORT" */
  live_app app;
} live_server;

/* Starts a server with options o (NULL: defaults) serving the app. */
static inline void live_start(live_server *s, const weft_http_server_options *o) {
  memset(s, 0, sizeof *s);
  REQUIRE(weft_reactor_new(&s->r, NULL) == 0);
  s->app.r = s->r;
  REQUIRE(weft_http_server_new(&s->srv, s->r, o) == 0);
  weft_http_server_set_handler(s->srv, live_handler, &s->app);
  s->port = listen_local(s->r, weft_http_server_factory(s->srv));
  weft_address a;
  weft_listening_port_address(s->port, &a);
  s->portno = weft_address_port(&a);
  snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->portno);
}

/* Turns the reactor until cond(user) or `seconds` pass. Returns cond's last value. */
static inline bool live_turn_until(weft_reactor *r, bool (*cond)(void *), void *user, double seconds) {
  double end = live_now() + seconds;
  while (!cond(user) && live_now() < end) weft_reactor_iterate(r, 0.005);
  return cond(user);
}

static inline bool live_no_connections(void *u) { return weft_http_server_connections(u) == 0; }

/* Stops: waits (bounded) for the clients to be gone, then closes the port and the reactor clean. */
static inline void live_stop(live_server *s) {
  live_turn_until(s->r, live_no_connections, s->srv, 5);
  CHECK_INT(weft_http_server_connections(s->srv), 0);
  for (int i = 0; i < 500 && s->app.streams_live > 0; i++) weft_reactor_iterate(s->r, 0.01);
  CHECK_INT(s->app.streams_live, 0);
  weft_listening_port_close(s->port);
  weft_http_server_free(s->srv);
  close_reactor(s->r);
}

/* ---- child processes: started on the reactor, which serves while they run ---- */

static inline bool live_fired(void *d) { return weft_deferred_called(d); }

/* What a child left: its output (NULL if it could not start, was killed by a signal or overran)
 * and the value owning it (released by live_result_free). */
typedef struct live_result {
  weft_value v;
  weft_process_output *o;
} live_result;

static inline void live_result_free(live_result *res) {
  weft_value_release(res->v);
  res->v = weft_none();
  res->o = NULL;
}

/* Runs the children argvs[0..n) at once and waits (turning the reactor, which serves meanwhile)
 * until all ended, at most `seconds` in all; a child still running then is killed (its Deferred
 * cancelled). Returns true when every child ended by itself with exit code 0. */
static inline bool live_run_children(weft_reactor *r, const char *const *const argvs[], size_t n, live_result out[],
                                     double seconds) {
  weft_deferred *d[8];
  REQUIRE(n <= 8);
  for (size_t i = 0; i < n; i++) REQUIRE((d[i] = weft_get_process_output(r, argvs[i], NULL, NULL, NULL)));
  double end = live_now() + seconds;
  bool all = true;
  for (size_t i = 0; i < n; i++) {
    double left = end - live_now();
    if (!live_turn_until(r, live_fired, d[i], left > 0 ? left : 0)) {
      fprintf(stderr, "  %s overran %.0f s: killed\n", argvs[i][0], seconds);
      weft_deferred_cancel(d[i]);
      all = false;
    }
    out[i].v = weft_none();
    out[i].o = NULL;
    if (weft_deferred_take_result(d[i], &out[i].v) != 0) out[i].v = weft_none();
    if (out[i].v.kind == WEFT_VALUE_PTR) out[i].o = out[i].v.v.p;
    else all = false;
    if (out[i].o && !(out[i].o->status.exited && out[i].o->status.code == 0)) {
      fprintf(stderr, "  %s exited with %d; stdout:\n%.2000s\n  stderr:\n%.2000s\n", argvs[i][0],
              out[i].o->status.code, out[i].o->data, out[i].o->err);
      all = false;
    }
    weft_deferred_unref(d[i]);
  }
  return all;
}

/* One child: as live_run_children with n = 1. */
static inline bool live_run(weft_reactor *r, const char *const argv[], live_result *out, double seconds) {
  const char *const *const argvs[1] = {argv};
  return live_run_children(r, argvs, 1, out, seconds);
}

/* ---- a raw client socket: non-blocking, every wait turns the reactor ---- */

static inline int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0); /* loopback: the backlog takes it */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

/* Sends all of data (turning the reactor while the socket is full, at most 5 s). Returns true
 * when all was sent; false when the peer closed or reset. */
static inline bool raw_send(weft_reactor *r, int fd, const void *data, size_t len) {
  const char *p = data;
  double end = live_now() + 5;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (live_now() > end) return false;
    weft_reactor_iterate(r, 0.002);
  }
  return true;
}

/* What a raw client has read. */
typedef struct raw_in {
  char *buf;
  size_t len, cap;
  bool eof;  /* the server closed (FIN) */
  int error; /* errno of a failed read (ECONNRESET when it aborted), 0 if none */
} raw_in;

static inline void raw_in_free(raw_in *in) {
  free(in->buf);
  memset(in, 0, sizeof *in);
}

/* Reads what is there now without waiting. Returns the bytes read this time. */
static inline size_t raw_read_now(int fd, raw_in *in) {
  size_t got = 0;
  while (!in->eof && !in->error) {
    if (in->cap - in->len < 65536 + 1) {
      size_t cap = in->cap ? in->cap * 2 : 131072;
      char *nb = realloc(in->buf, cap);
      REQUIRE(nb);
      in->buf = nb;
      in->cap = cap;
    }
    ssize_t n = recv(fd, in->buf + in->len, 65536, 0);
    if (n > 0) {
      in->len += (size_t)n;
      got += (size_t)n;
      in->buf[in->len] = '\0';
    } else if (n == 0) {
      in->eof = true;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) in->error = errno;
      break;
    }
  }
  if (in->buf) in->buf[in->len] = '\0';
  return got;
}

/* Number of non-overlapping occurrences of needle in the first n bytes of hay. */
static inline int live_count(const char *hay, size_t n, const char *needle) {
  int k = 0;
  size_t m = strlen(needle);
  for (size_t i = 0; m && i + m <= n; i++)
    if (memcmp(hay + i, needle, m) == 0) k++, i += m - 1;
  return k;
}

/* Turns the reactor and reads until the server closes (FIN or reset) or `seconds` pass. */
static inline void raw_read_until_closed(weft_reactor *r, int fd, raw_in *in, double seconds) {
  double end = live_now() + seconds;
  while (!in->eof && !in->error && live_now() < end) {
    weft_reactor_iterate(r, 0.002);
    raw_read_now(fd, in);
  }
}

/* Turns the reactor and reads until the bytes read contain `needle` `times` times (or the server
 * closes, or `seconds` pass). Returns whether they do. */
static inline bool raw_read_until_count(weft_reactor *r, int fd, raw_in *in, const char *needle, int times,
                                        double seconds) {
  double end = live_now() + seconds;
  for (;;) {
    raw_read_now(fd, in);
    if (in->len && live_count(in->buf, in->len, needle) >= times) return true;
    if (in->eof || in->error || live_now() > end) return false;
    weft_reactor_iterate(r, 0.002);
  }
}

/* ---- parsing responses (a test's own small reader, not weft's parser) ---- */

typedef struct live_response {
  int status;
  char head[4096]; /* status line and fields, NUL-terminated */
  char *body;      /* malloc'd (NUL-terminated), body_len bytes; free with live_response_free */
  size_t body_len;
  bool chunked;
} live_response;

static inline void live_response_free(live_response *r) {
  free(r->body);
  r->body = NULL;
}

/* Parses one response at the start of b[0..n): returns the bytes it takes (filling *r) when it is
 * whole, 0 when more is needed, -1 when it is not a response. `no_body` is for HEAD. A response
 * with neither Content-Length nor chunked coding ends at the end of b (call it once closed). */
static inline long live_parse_response(const char *b, size_t n, live_response *r, bool no_body, bool closed) {
  memset(r, 0, sizeof *r);
  const char *end = NULL;
  for (size_t i = 0; i + 4 <= n; i++)
    if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
      end = b + i;
      break;
    }
  if (!end) return 0;
  size_t hl = (size_t)(end - b);
  if (hl >= sizeof r->head || n < 12 || memcmp(b, "HTTP/1.", 7) != 0) return -1;
  memcpy(r->head, b, hl);
  r->head[hl] = '\0';
  r->status = atoi(b + 9);
  size_t off = hl + 4;
  const char *cl = strstr(r->head, "\r\nContent-Length: ");
  r->chunked = strstr(r->head, "\r\nTransfer-Encoding: chunked") != NULL;
  r->body = malloc(n + 1);
  REQUIRE(r->body);
  if (no_body || r->status < 200 || r->status == 204 || r->status == 304) {
    r->body[0] = '\0';
    return (long)off;
  }
  if (r->chunked) {
    for (;;) {
      const char *line = b + off;
      const char *crlf = NULL;
      for (size_t i = off; i + 2 <= n; i++)
        if (b[i] == '\r' && b[i + 1] == '\n') {
          crlf = b + i;
          break;
        }
      if (!crlf) return live_response_free(r), 0;
      unsigned long size = strtoul(line, NULL, 16);
      off = (size_t)(crlf - b) + 2;
      if (size == 0) {
        if (n - off < 2) return live_response_free(r), 0;
        if (memcmp(b + off, "\r\n", 2) != 0) return live_response_free(r), -1; /* no trailers sent here */
        r->body[r->body_len] = '\0';
        return (long)(off + 2);
      }
      if (n - off < size + 2) return live_response_free(r), 0;
      memcpy(r->body + r->body_len, b + off, size);
      r->body_len += size;
      off += size + 2;
    }
  }
  size_t len = cl ? strtoul(cl + 18, NULL, 10) : n - off;
  if (!cl && !closed) return live_response_free(r), 0;
  if (n - off < len) return live_response_free(r), 0;
  memcpy(r->body, b + off, len);
  r->body_len = len;
  r->body[len] = '\0';
  return (long)(off + len);
}

#endif
