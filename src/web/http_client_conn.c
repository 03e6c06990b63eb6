/* http_client_conn.c: one client connection (twisted.web._newclient's HTTP11ClientProtocol):
 * writes a request, parses its response with the sans-I/O parser, hands the head and body to
 * the response, and goes back to the pool, or closes, when the exchange is over. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "web/http_client_internal.h"

#define conn_process weft__hc_conn_process

static void maybe_free(hc_conn *c) {
  if (!c->dead || (c->t && !c->lost) || c->connecting) return;
  if (c->idle) weft_delayed_call_cancel(c->idle);
  if (c->kick) weft_delayed_call_cancel(c->kick);
  weft__free(c->in);
  weft__free(c);
}

static void unlink_conn(hc_conn *c) {
  hc_pool *p = c->pool;
  if (!p) return;
  for (hc_conn **pp = &p->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  p->open--;
  if (c->a) c->a->open--;
}

/* The connection is no use any more: out of the pool, which may start another. */
static void conn_gone(hc_conn *c, int err, weft_failure *why) {
  if (c->dead) return;
  c->dead = true;
  if (c->idle) weft_delayed_call_cancel(c->idle);
  c->idle = NULL;
  hc_pool *p = c->pool;
  unlink_conn(c);
  c->pool = NULL;
  if (p) weft__hc_pool_conn_gone(p, c, err, why);
}

void weft__hc_conn_abort(hc_conn *c) {
  if (c->t && !c->lost) {
    weft_transport_abort_connection(c->t);
  } else if (c->connecting && !c->up) {
    /* still connecting: cancelling settles the connector's Deferred, whose last step frees c */
    weft_deferred *d = c->connecting;
    conn_gone(c, 0, NULL);
    weft_deferred_cancel(d);
    return;
  }
  conn_gone(c, 0, NULL);
}

void weft__hc_conn_orphan(hc_conn *c) {
  c->a = NULL;
  c->pool = NULL; /* the pool is being freed: no accounting */
  c->dead = true;
  if (c->idle) weft_delayed_call_cancel(c->idle);
  c->idle = NULL;
  if (c->t && !c->lost) {
    weft_transport_abort_connection(c->t);
  } else if (c->connecting) {
    weft_deferred_cancel(c->connecting); /* its last step frees c */
    return;
  }
  maybe_free(c);
}

/* ---- parser callbacks ---- */

static int redirect_status(int s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

static int on_head(void *user, const weft__h1r_head *h) {
  hc_conn *c = user;
  hc_req *q = c->req;
  if (!q) return WEFT__H1_PAUSE;
  if (h->interim) return 0;
  q->head_seen = true;
  c->keep_alive = h->keep_alive && c->a && c->a->o.persistent;
  /* a 307 or 308 must repeat the body, which a producer cannot give twice: not followed */
  bool repeat_body = h->status == 307 || h->status == 308;
  if (q->o.follow_redirects && redirect_status(h->status) && !(repeat_body && q->has_producer)) {
    for (size_t i = 0; i < h->nfields; i++)
      if (h->fields[i].name_len == 8 && !strncasecmp(h->fields[i].name, "location", 8)) {
        size_t n = h->fields[i].value_len;
        char *loc = weft__malloc(n + 1);
        if (!loc) break;
        memcpy(loc, h->fields[i].value, n);
        loc[n] = '\0';
        weft__free(q->body_discard_location);
        q->body_discard_location = loc;
        q->redirect_status = h->status;
        q->redirecting = true;
        return 0;
      }
  }
  if (q->o.max_body && h->framing == WEFT__H1R_BODY_LENGTH && h->content_length > q->o.max_body) {
    weft__hc_req_finish(q, WEFT_ELIMIT, "response body larger than the limit");
    return WEFT__H1_PAUSE;
  }
  if (q->o.max_body) weft__h1r_parser_set_body_limit(&c->parser, q->o.max_body);
  weft_http_response *resp = weft__hc_response_new(q, h);
  if (!resp) {
    weft__hc_req_finish(q, WEFT_ENOMEM, "out of memory");
    return WEFT__H1_PAUSE;
  }
  q->resp = resp;
  weft_deferred *d = q->d;
  q->d = NULL;
  weft_deferred_callback(d, weft_ptr(resp, (void (*)(void *))weft_http_response_free));
  weft_deferred_unref(d);
  return c->req == q ? 0 : WEFT__H1_PAUSE; /* the response may have been freed at once */
}

static int on_body(void *user, const char *data, size_t len) {
  hc_conn *c = user;
  hc_req *q = c->req;
  if (!q) return WEFT__H1_PAUSE;
  if (q->redirecting) return 0;
  weft__hc_response_data(q->resp, data, len);
  if (c->req != q) return WEFT__H1_PAUSE;
  return q->resp && weft__hc_response_paused(q->resp) ? WEFT__H1_PAUSE : 0;
}

/* The exchange is over and the connection may carry another: idle in the pool, or closed. */
static void conn_release(hc_conn *c) {
  if (c->dead || c->lost) return;
  if (!c->keep_alive || !c->a) {
    weft_transport_lose_connection(c->t);
    conn_gone(c, 0, NULL);
    return;
  }
  if (c->reading_paused) {
    weft_transport_resume_reading(c->t);
    c->reading_paused = false;
  }
}

static void idle_timeout(void *arg) {
  hc_conn *c = arg;
  c->idle = NULL;
  if (!c->req && c->t && !c->lost) {
    weft_transport_lose_connection(c->t);
    conn_gone(c, 0, NULL);
  }
}

static int on_complete(void *user) {
  hc_conn *c = user;
  hc_req *q = c->req;
  if (!q) return WEFT__H1_PAUSE;
  c->req = NULL;
  q->conn = NULL;
  if (q->has_producer && q->producer_started && !q->producer_done) {
    /* Answered before its body was all sent (a 413): the producer registered with q comes off
     * the transport before q goes, and the connection, its request cut short, is not reused. */
    if (c->t && !c->lost) weft_transport_unregister_producer(c->t);
    c->keep_alive = false;
  }
  hc_pool *p = c->pool;
  conn_release(c);
  if (q->redirecting) {
    char *loc = q->body_discard_location;
    q->body_discard_location = NULL;
    weft__hc_req_redirect(q, q->redirect_status, loc);
    weft__free(loc);
  } else {
    weft__hc_req_finish(q, 0, NULL);
  }
  if (!c->dead && !c->req && c->a && c->a->o.idle_timeout > 0)
    c->idle = weft_reactor_call_later(c->a->r, c->a->o.idle_timeout, idle_timeout, c);
  if (p && !c->dead && !c->req) weft__hc_pool_conn_ready(p, c);
  return WEFT__H1_PAUSE;
}

static const weft__h1r_callbacks parser_cb = {on_head, on_body, NULL, on_complete};

/* ---- writing the request ---- */

static int skip_header(const char *name) {
  return !*name || !strcasecmp(name, "host") || !strcasecmp(name, "content-length") ||
         !strcasecmp(name, "transfer-encoding") || !strcasecmp(name, "connection");
}

static int add(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t nc = *cap ? *cap * 2 : 512;
    while (nc < *len + n + 1) nc *= 2;
    char *p = weft__realloc(*buf, nc);
    if (!p) return WEFT_ENOMEM;
    *buf = p;
    *cap = nc;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  return 0;
}
#define ADDS(s) add(&buf, &len, &cap, (s), strlen(s))

static int write_head(hc_conn *c, hc_req *q) {
  char *buf = NULL, line[512];
  size_t len = 0, cap = 0;
  int rc = ADDS(q->method) | ADDS(" ") | ADDS(q->url.target) | ADDS(" HTTP/1.1\r\nHost: ");
  bool dflt = (q->url.port == 80 && !strcmp(q->url.scheme, "http")) || (q->url.port == 443 && !strcmp(q->url.scheme, "https"));
  snprintf(line, sizeof line, "%s%s%s", q->url.ipv6 ? "[" : "", q->url.host, q->url.ipv6 ? "]" : "");
  rc |= ADDS(line);
  if (!dflt) {
    snprintf(line, sizeof line, ":%d", q->url.port);
    rc |= ADDS(line);
  }
  rc |= ADDS("\r\n");
  bool ua = false;
  for (size_t i = 0; i < q->nheaders; i++) {
    if (skip_header(q->hnames[i])) continue;
    ua |= !strcasecmp(q->hnames[i], "user-agent");
    rc |= ADDS(q->hnames[i]) | ADDS(": ") | ADDS(q->hvalues[i]) | ADDS("\r\n");
  }
  if (!ua && c->a->user_agent && *c->a->user_agent) rc |= ADDS("User-Agent: ") | ADDS(c->a->user_agent) | ADDS("\r\n");
  if (q->has_producer && q->producer.length < 0) {
    q->chunked_body = true;
    rc |= ADDS("Transfer-Encoding: chunked\r\n");
  } else {
    uint64_t n = q->has_producer ? (uint64_t)q->producer.length : q->body_len;
    bool methods_with_body = !strcmp(q->method, "POST") || !strcmp(q->method, "PUT") || !strcmp(q->method, "PATCH");
    if (n || q->body || q->has_producer || methods_with_body) {
      snprintf(line, sizeof line, "Content-Length: %llu\r\n", (unsigned long long)n);
      rc |= ADDS(line);
    }
  }
  if (!c->a->o.persistent) rc |= ADDS("Connection: close\r\n");
  rc |= ADDS("\r\n");
  if (!rc && q->body_len) rc = add(&buf, &len, &cap, q->body, q->body_len);
  if (!rc) rc = weft_transport_write(c->t, buf, len);
  weft__free(buf);
  return rc;
}

static void body_pause(void *user) {
  hc_req *q = user;
  if (q->producer.pause && !q->producer_done) q->producer.pause(q->producer.user);
}
static void body_resume(void *user) {
  hc_req *q = user;
  if (q->producer.resume && !q->producer_done) q->producer.resume(q->producer.user);
}
static void body_stop(void *user) {
  hc_req *q = user;
  if (!q->producer_done && q->producer.stop) {
    q->producer_done = true;
    q->producer.stop(q->producer.user);
  }
}

int weft_http_body_write(weft_http_body_writer *w, const void *data, size_t len) {
  hc_req *q = w->req;
  if (q->producer_done || !q->conn || !q->conn->t || q->conn->lost) return WEFT_ECLOSED;
  if (!q->chunked_body && q->body_written + len > (uint64_t)q->producer.length) return WEFT_EINVAL;
  if (len == 0) return 0;
  q->body_written += len;
  if (!q->chunked_body) return weft_transport_write(q->conn->t, data, len);
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  struct iovec iov[3] = {{size, (size_t)n}, {(void *)data, len}, {"\r\n", 2}};
  return weft_transport_writev(q->conn->t, iov, 3);
}

int weft_http_body_finish(weft_http_body_writer *w, int error) {
  hc_req *q = w->req;
  if (q->producer_done) return WEFT_ECLOSED;
  q->producer_done = true;
  hc_conn *c = q->conn;
  if (c && c->t && !c->lost) weft_transport_unregister_producer(c->t);
  if (error) {
    weft__hc_req_finish(q, error, "the request body producer failed");
    return 0;
  }
  if (!c || !c->t || c->lost) return WEFT_ECLOSED;
  if (!q->chunked_body && q->body_written != (uint64_t)q->producer.length) {
    weft__hc_req_finish(q, WEFT_EINVAL, "the request body was shorter than its length");
    return 0;
  }
  if (q->chunked_body) return weft_transport_write(c->t, "0\r\n\r\n", 5);
  return 0;
}

static void read_timeout(void *arg) {
  hc_req *q = arg;
  q->read_timer = NULL;
  char why[96];
  snprintf(why, sizeof why, "no data for %g s", q->o.idle_timeout);
  weft__hc_req_finish(q, WEFT_ETIMEDOUT, why);
}

void weft__hc_conn_start(hc_conn *c, hc_req *q) {
  if (c->idle) weft_delayed_call_cancel(c->idle);
  c->idle = NULL;
  c->req = q;
  q->conn = c;
  c->requests++;
  c->got_bytes = false;
  weft__h1r_parser_expect(&c->parser, !strcmp(q->method, "HEAD"));
  int rc = write_head(c, q);
  if (rc) {
    weft__hc_req_finish(q, rc, "cannot send the request");
    return;
  }
  /* a redirect or a retry starts the request again here: the previous hop's timer goes, for
   * nothing would reset or cancel it any more */
  if (q->read_timer) weft_delayed_call_cancel(q->read_timer);
  q->read_timer = NULL;
  if (q->o.idle_timeout > 0) q->read_timer = weft_reactor_call_later(c->a->r, q->o.idle_timeout, read_timeout, q);
  if (q->has_producer) {
    weft_producer prod = {body_pause, body_resume, body_stop, q};
    weft_transport_register_producer(c->t, &prod, true);
    q->producer_started = true;
    if (q->producer.start) q->producer.start(&q->writer, q->producer.user);
  }
  /* no feeding here: this may run inside the parser's callback for the previous response, whose
   * loop goes on with the bytes after it */
}

/* ---- the protocol ---- */

static void fail_parse(hc_conn *c) {
  hc_req *q = c->req;
  weft__h1r_error e = weft__h1r_parser_error(&c->parser);
  if (q) {
    char why[160];
    snprintf(why, sizeof why, "malformed response: %s", weft__h1r_error_reason(e));
    weft__hc_req_finish(q, e == WEFT__H1R_E_BODY_TOO_LARGE ? WEFT_ELIMIT : WEFT_EPARSE, why);
  }
  weft__hc_conn_abort(c);
}

/* Feeds what is buffered to the parser until it needs more or stops. */
void weft__hc_conn_process(hc_conn *c) {
  while (c->in_len && !c->dead && !c->lost) {
    if (c->req && c->req->resp && weft__hc_response_paused(c->req->resp)) return;
    weft__h1r_parser_resume(&c->parser);
    size_t used = 0;
    weft__h1_status st = weft__h1r_parser_feed(&c->parser, c->in, c->in_len, &used);
    if (used) {
      memmove(c->in, c->in + used, c->in_len - used);
      c->in_len -= used;
    }
    if (st == WEFT__H1_ERROR) {
      fail_parse(c);
      return;
    }
    if (st == WEFT__H1_AGAIN) return;
    if (!c->req && c->in_len && !c->dead) { /* bytes after a finished response */
      weft__h1r_parser_feed(&c->parser, c->in, c->in_len, &used);
      fail_parse(c);
      return;
    }
  }
}

static void c_made(weft_transport *t, void *user) {
  hc_conn *c = user;
  c->t = t;
  c->up = true;
  if (c->idle) weft_delayed_call_cancel(c->idle); /* the connect timer */
  c->idle = NULL;
  if (c->a) c->a->made++;
  weft__h1r_parser_init(&c->parser, &parser_cb, c, NULL);
}

static void c_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t;
  hc_conn *c = user;
  if (c->dead && !c->req) return;
  if (c->in_len + len > c->in_cap) {
    size_t cap = c->in_cap ? c->in_cap : 16384;
    while (cap < c->in_len + len) cap *= 2;
    char *p = weft__realloc(c->in, cap);
    if (!p) {
      if (c->req) weft__hc_req_finish(c->req, WEFT_ENOMEM, "out of memory");
      weft__hc_conn_abort(c);
      return;
    }
    c->in = p;
    c->in_cap = cap;
  }
  memcpy(c->in + c->in_len, data, len);
  c->in_len += len;
  c->got_bytes = true;
  if (c->req && c->req->read_timer) weft_delayed_call_reset(c->req->read_timer, c->req->o.idle_timeout);
  conn_process(c);
}

static void c_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  hc_conn *c = user;
  c->lost = true;
  hc_req *q = c->req;
  if (q) {
    conn_process(c);
    q = c->req;
  }
  if (q) {
    if (!c->got_bytes && c->requests > 1 && weft__h1r_parser_idle(&c->parser)) {
      c->req = NULL;
      q->conn = NULL;
      conn_gone(c, 0, NULL);
      if (!weft__hc_req_retry(q)) weft__hc_req_finish(q, WEFT_ECONNRESET, "the connection closed before any response");
    } else if (weft__h1r_parser_eof(&c->parser) == WEFT__H1_ERROR && c->req == q) {
      char why[200];
      if (reason && reason != WEFT_EABORTED)
        snprintf(why, sizeof why, "connection lost before the response was complete: %s", weft_strerror(reason));
      else
        snprintf(why, sizeof why, "%s", weft__h1r_error_reason(weft__h1r_parser_error(&c->parser)));
      weft__hc_req_finish(q, reason && reason != WEFT_EABORTED ? reason : WEFT_ECONNRESET, why);
    }
  }
  c->t = NULL;
  conn_gone(c, 0, NULL);
  maybe_free(c);
}

static const weft_protocol_callbacks conn_cb = {.connection_made = c_made, .data_received = c_data,
                                                .connection_lost = c_lost};

static int c_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  hc_conn *c = user;
  if (c->dead) return WEFT_ECANCELED;
  *out = (weft_protocol){&conn_cb, c};
  return 0;
}

static void c_failed(void *user, int reason) {
  (void)user;
  (void)reason; /* the connector's Deferred carries the failure, with its text */
}

static weft_value connected(weft_value v, void *arg) {
  hc_conn *c = arg;
  weft_value_release(v);
  c->connect_done = true;
  if (c->up && !c->dead && c->pool) weft__hc_pool_conn_ready(c->pool, c);
  else if (!c->up) conn_gone(c, WEFT_ECONNABORTED, NULL);
  return weft_none();
}

static weft_value connect_failed(weft_value v, void *arg) {
  hc_conn *c = arg;
  c->connect_done = true;
  if (!c->up) {
    if (c->idle) weft_delayed_call_cancel(c->idle);
    c->idle = NULL;
    int code = weft_failure_code(v.v.f);
    if (c->timed_out && c->pool) {
      weft_failure *t = weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, WEFT_ETIMEDOUT, "cannot connect to %s:%d: timed out after %g s",
                                         c->pool->host, c->pool->port, c->a ? c->a->o.connect_timeout : 0.0);
      conn_gone(c, WEFT_ETIMEDOUT, t);
      weft_failure_unref(t);
    } else {
      conn_gone(c, code ? code : WEFT_ECONNABORTED, v.v.f);
    }
  }
  weft_value_release(v);
  return weft_none();
}

static void connect_timeout(void *arg) {
  hc_conn *c = arg;
  c->idle = NULL;
  c->timed_out = true;
  if (c->connecting && !c->connect_done) weft_deferred_cancel(c->connecting);
}

/* When the connector's Deferred is done, whatever happened. */
static weft_value connect_settled(weft_value v, void *arg) {
  hc_conn *c = arg;
  c->connecting = NULL; /* its reference is the connector's, which is letting go now */
  c->connect_done = true;
  maybe_free(c);
  return v;
}

hc_conn *weft__hc_conn_new(hc_pool *p) {
  hc_conn *c = weft__calloc(1, sizeof *c);
  if (!c) return NULL;
  weft_http_agent *a = p->a;
  c->a = a;
  c->pool = p;
  c->factory = (weft_factory){.build_protocol = c_build, .connection_failed = c_failed, .user = c};
  c->next = p->conns;
  p->conns = c;
  p->open++;
  a->open++;
  if (a->o.connect_timeout > 0) c->idle = weft_reactor_call_later(a->r, a->o.connect_timeout, connect_timeout, c);
  weft_deferred *d = a->o.connector.connect(a->o.connector.user, a->r, p->scheme, p->host, p->port, &c->factory);
  if (!d) {
    conn_gone(c, WEFT_ENOMEM, NULL);
    maybe_free(c);
    return NULL;
  }
  c->connecting = d;
  weft_deferred_add_callbacks(d, connected, c, connect_failed, c);
  weft_deferred_add_both(d, connect_settled, c);
  /* the connector keeps its own reference until it fires; c->connecting is valid until then */
  weft_deferred_unref(d);
  return c;
}
