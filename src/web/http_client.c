/* http_client.c: the agent, its per-host connection pool, redirects and timeouts
 * (twisted.web.client.Agent, HTTPConnectionPool, RedirectAgent). The connection protocol is in
 * http_client_conn.c, the response object in http_client_response.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "web/http_client_internal.h"
#include "weft/defer_time.h"

static char *dupstr(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = weft__malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

void weft_http_agent_options_init(weft_http_agent_options *o) {
  memset(o, 0, sizeof *o);
  o->max_per_host = 6;
  o->idle_timeout = 60;
  o->persistent = true;
  o->connect_timeout = 30;
  o->tls_verify = true;
  o->user_agent = "weft";
}

void weft_http_request_options_init(weft_http_request_options *o) {
  memset(o, 0, sizeof *o);
  o->max_redirects = 20;
}

int weft_http_agent_new(weft_http_agent **out, weft_reactor *r, const weft_http_agent_options *o) {
  *out = NULL;
  if (!r) return WEFT_EINVAL;
  weft_http_agent *a = weft__calloc(1, sizeof *a);
  if (!a) return WEFT_ENOMEM;
  a->r = r;
  if (o) a->o = *o;
  else weft_http_agent_options_init(&a->o);
  if (a->o.max_per_host == 0) a->o.max_per_host = 1;
  a->ca_file = dupstr(o ? o->ca_file : NULL);
  a->ca_dir = dupstr(o ? o->ca_dir : NULL);
  a->user_agent = dupstr(a->o.user_agent);
  a->o.ca_file = a->ca_file;
  a->o.ca_dir = a->ca_dir;
  a->o.user_agent = a->user_agent;
  if (!a->o.connector.connect) a->o.connector = (weft_http_connector){weft__hc_default_connect, a};
  *out = a;
  return 0;
}

size_t weft_http_agent_open_connections(const weft_http_agent *a) { return a ? a->open : 0; }
size_t weft_http_agent_connections_made(const weft_http_agent *a) { return a ? a->made : 0; }

weft_failure *weft__hc_failure(hc_req *q, int code, weft_failure *cause, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  weft_failure *f = weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, code, "%s %s: %s", q->method, q->url_text, msg);
  if (cause) weft_failure_set_cause(f, cause);
  return f;
}

/* ---- requests ---- */

static void req_free(hc_req *q) {
  for (size_t i = 0; i < q->nheaders; i++) {
    weft__free(q->hnames[i]);
    weft__free(q->hvalues[i]);
  }
  weft__free(q->hnames);
  weft__free(q->hvalues);
  weft__free(q->body);
  weft__free(q->url_text);
  weft__free(q->body_discard_location);
  weft__free(q);
}

static void stop_timers(hc_req *q) {
  if (q->timer) weft_delayed_call_cancel(q->timer);
  if (q->read_timer) weft_delayed_call_cancel(q->read_timer);
  q->timer = q->read_timer = NULL;
}

/* Takes q out of its pool's waiting list; false if it was not waiting. */
static bool unqueue(hc_req *q) {
  hc_pool *p = q->pool;
  if (!p) return false;
  hc_req **pp = &p->wait_head, *prev = NULL;
  while (*pp && *pp != q) prev = *pp, pp = &(*pp)->wait_next;
  if (!*pp) return false;
  *pp = q->wait_next;
  if (p->wait_tail == q) p->wait_tail = prev;
  q->wait_next = NULL;
  return true;
}

/* A waiting request gave up: connections still being made (TCP connect or TLS handshake) beyond
 * what the requests still waiting need are stopped at once, not left to finish and idle. */
static void pool_trim(hc_pool *p) {
  size_t waiting = 0, connecting = 0;
  for (hc_req *q = p->wait_head; q; q = q->wait_next) waiting++;
  for (hc_conn *c = p->conns; c; c = c->next) connecting += !c->up && !c->dead;
  while (connecting > waiting) {
    hc_conn *c = p->conns;
    while (c && (c->up || c->dead)) c = c->next;
    if (!c) return;
    weft__hc_conn_abort(c);
    connecting--;
  }
}

void weft__hc_req_finish(hc_req *q, int err, const char *why) {
  if (q->finished) return;
  q->finished = true;
  stop_timers(q);
  if (unqueue(q) && err) pool_trim(q->pool);
  hc_conn *c = q->conn;
  q->conn = NULL;
  if (c) {
    c->req = NULL;
    /* a body producer still writing is registered on the transport with q: take it off before
     * q goes (the transport would call its stop on the freed request) */
    if (q->has_producer && q->producer_started && !q->producer_done && c->t && !c->lost)
      weft_transport_unregister_producer(c->t);
    if (err) weft__hc_conn_abort(c);
  }
  if (q->has_producer && q->producer_started && !q->producer_done && q->producer.stop) {
    q->producer_done = true;
    q->producer.stop(q->producer.user);
  }
  weft_deferred *d = q->d;
  q->d = NULL;
  weft_http_response *resp = q->resp;
  q->resp = NULL;
  if (d) {
    if (err) weft_deferred_errback(d, weft__hc_failure(q, err, NULL, "%s", why ? why : weft_strerror(err)));
    weft_deferred_unref(d);
  }
  if (resp) weft__hc_response_end(resp, err, why);
  req_free(q);
}

/* Fails q before its response came, with a ready Failure. */
static void req_fail(hc_req *q, weft_failure *f) {
  weft_deferred *d = q->d;
  q->d = NULL;
  if (d) {
    weft_deferred_errback(d, f);
    weft_deferred_unref(d);
  } else {
    weft_failure_unref(f);
  }
  weft__hc_req_finish(q, WEFT_ECANCELED, NULL);
}

static void on_timeout(void *arg) {
  hc_req *q = arg;
  q->timer = NULL;
  char why[96];
  snprintf(why, sizeof why, "timed out after %g s", q->o.timeout);
  weft__hc_req_finish(q, WEFT_ETIMEDOUT, why);
}

static void canceller(weft_deferred *d, void *arg) {
  hc_req *q = arg;
  (void)d;
  weft_deferred *mine = q->d;
  q->d = NULL; /* the Deferred fails with WEFT_ECANCELED after this returns */
  weft__hc_req_finish(q, WEFT_ECANCELED, "cancelled");
  weft_deferred_unref(mine);
}

/* ---- the pool ---- */

static hc_pool *pool_get(weft_http_agent *a, const weft_http_url *u) {
  for (hc_pool *p = a->pools; p; p = p->next)
    if (p->port == u->port && !strcmp(p->scheme, u->scheme) && !strcmp(p->host, u->host)) return p;
  hc_pool *p = weft__calloc(1, sizeof *p);
  if (!p) return NULL;
  p->a = a;
  strcpy(p->scheme, u->scheme);
  strcpy(p->host, u->host);
  p->port = u->port;
  p->next = a->pools;
  a->pools = p;
  return p;
}

static void dispatch(hc_req *q);

/* Gives waiting requests to idle connections, and opens new connections up to the limit. */
static void pool_run(hc_pool *p) {
  while (p->wait_head) {
    hc_conn *idle = NULL;
    for (hc_conn *c = p->conns; c; c = c->next)
      if (c->up && !c->req && !c->lost && !c->dead) {
        idle = c;
        break;
      }
    if (idle) {
      hc_req *q = p->wait_head;
      unqueue(q);
      weft__hc_conn_start(idle, q);
      continue;
    }
    /* A connection for each waiting request that no connection being made will take, up to
     * the limit: a burst of N requests opens N connections at once, not one per round trip. */
    unsigned connecting = 0, waiting = 0;
    for (hc_conn *c = p->conns; c; c = c->next) connecting += !c->up && !c->dead;
    for (hc_req *w = p->wait_head; w && waiting <= connecting; w = w->wait_next) waiting++;
    if (p->open >= p->a->o.max_per_host || connecting >= waiting) return;
    hc_req *first = p->wait_head;
    hc_conn *c = weft__hc_conn_new(p);
    if (!c) {
      /* Out of memory: the first waiting request fails (unless the connection's own failure
       * already failed it: then it is no longer first), and the next one tries again. */
      if (first && p->wait_head == first) {
        unqueue(first);
        weft__hc_req_finish(first, WEFT_ENOMEM, "out of memory");
      }
      continue;
    }
    /* and maybe another, for the next waiting request; each one's readiness runs the pool again */
  }
}

void weft__hc_pool_conn_ready(hc_pool *p, hc_conn *c) {
  (void)c;
  pool_run(p);
}

void weft__hc_pool_conn_gone(hc_pool *p, hc_conn *c, int err, weft_failure *why) {
  (void)c;
  /* a failed connect fails the first waiting request (the others try again) */
  if (err && p->wait_head) {
    hc_req *q = p->wait_head;
    unqueue(q);
    req_fail(q, weft__hc_failure(q, err, why ? weft_failure_ref(why) : NULL, "%s",
                                 why ? weft_failure_message(why) : weft_strerror(err)));
  }
  pool_run(p);
}

static void dispatch(hc_req *q) {
  hc_pool *p = pool_get(q->a, &q->url);
  if (!p) {
    weft__hc_req_finish(q, WEFT_ENOMEM, "out of memory");
    return;
  }
  q->pool = p;
  q->wait_next = NULL;
  if (p->wait_tail) p->wait_tail->wait_next = q;
  else p->wait_head = q;
  p->wait_tail = q;
  pool_run(p);
}

bool weft__hc_req_retry(hc_req *q) {
  static const char *const idempotent[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  if (q->retried || q->has_producer || q->head_seen) return false;
  bool ok = false;
  for (size_t i = 0; i < sizeof idempotent / sizeof *idempotent; i++) ok |= !strcmp(q->method, idempotent[i]);
  if (!ok) return false;
  q->retried = true;
  q->conn = NULL;
  dispatch(q);
  return true;
}

/* ---- redirects ---- */

/* Whether a Location is an absolute URI: it starts with a scheme and a colon (RFC 3986 section
 * 3.1), not merely contains "://" (a relative "/login?next=http://x/" does too). */
static bool absolute_uri(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return false;
  while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' ||
         *s == '.')
    s++;
  return *s == ':';
}

/* RFC 3986 section 5.2.4 on the path part of p (up to '?'), in place, the fragment dropped: "/a/b/../c/./d"
 * becomes "/a/c/d"; ".." never climbs above the root. */
static void remove_dot_segments(char *p) {
  p[strcspn(p, "#")] = '\0'; /* a fragment is the client's, never sent */
  if (p[0] != '/') return;
  size_t end = strcspn(p, "?"), out = 0, i = 0;
  char *tail = p + end; /* the query (and fragment), kept as is */
  while (i < end) {
    size_t seg_end = i + 1;
    while (seg_end < end && p[seg_end] != '/') seg_end++;
    /* the segment is p[i+1 .. seg_end) when p[i] is '/' (paths here always start with '/') */
    size_t len = seg_end - i - 1;
    const char *seg = p + i + 1;
    bool last = seg_end >= end;
    if (len == 1 && seg[0] == '.') {
      if (last) p[out++] = '/';
    } else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
      while (out > 0 && p[--out] != '/') {
      }
      if (last) p[out++] = '/';
    } else {
      memmove(p + out, p + i, seg_end - i);
      out += seg_end - i;
    }
    i = seg_end;
  }
  if (out == 0) p[out++] = '/';
  memmove(p + out, tail, strlen(tail) + 1);
}

void weft__hc_req_redirect(hc_req *q, int status, const char *location) {
  if (q->redirects >= q->o.max_redirects) {
    char why[64];
    snprintf(why, sizeof why, "too many redirects (more than %u)", q->o.max_redirects);
    weft__hc_req_finish(q, WEFT_ELIMIT, why);
    return;
  }
  char buf[4400];
  if (absolute_uri(location)) snprintf(buf, sizeof buf, "%s", location);
  else if (location[0] == '/' && location[1] == '/') snprintf(buf, sizeof buf, "%s:%s", q->url.scheme, location);
  else {
    char path[4400]; /* the merged path (RFC 3986 section 5.2.2), then without its dot segments */
    if (location[0] == '/') {
      snprintf(path, sizeof path, "%s", location);
    } else {
      char base[4096];
      snprintf(base, sizeof base, "%s", q->url.target);
      char *qm = strchr(base, '?');
      if (qm) *qm = 0;
      char *slash = strrchr(base, '/');
      if (slash && location[0] != '?') slash[1] = 0; /* "?q" keeps the whole path */
      snprintf(path, sizeof path, "%s%s", base, location);
    }
    remove_dot_segments(path);
    snprintf(buf, sizeof buf, "%s://%s%s%s:%d%s", q->url.scheme, q->url.ipv6 ? "[" : "", q->url.host,
             q->url.ipv6 ? "]" : "", q->url.port, path);
  }
  weft_http_url u;
  char why[128];
  if (weft_http_url_parse(&u, buf, why, sizeof why) != 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "bad redirect location: %s", why);
    weft__hc_req_finish(q, WEFT_EINVAL, msg);
    return;
  }
  bool cross = strcmp(u.host, q->url.host) != 0 || u.port != q->url.port || strcmp(u.scheme, q->url.scheme) != 0;
  if (status == 301 || status == 302 || status == 303) {
    if (strcmp(q->method, "HEAD") != 0) strcpy(q->method, "GET");
    weft__free(q->body);
    q->body = NULL;
    q->body_len = 0;
    /* nor a body from the producer: it was sent once (or cut short, then stopped) */
    if (q->has_producer && q->producer_started && !q->producer_done && q->producer.stop) {
      q->producer_done = true;
      q->producer.stop(q->producer.user);
    }
    q->has_producer = q->chunked_body = false;
  }
  if (cross)
    for (size_t i = 0; i < q->nheaders; i++)
      if (!strcasecmp(q->hnames[i], "authorization")) q->hvalues[i][0] = '\0', q->hnames[i][0] = '\0';
  char *text = dupstr(buf);
  if (!text) {
    weft__hc_req_finish(q, WEFT_ENOMEM, "out of memory");
    return;
  }
  weft__free(q->url_text);
  q->url_text = text;
  q->url = u;
  q->redirects++;
  q->head_seen = q->redirecting = false;
  q->retried = false;
  q->body_seen = 0;
  dispatch(q);
}

/* ---- the request ---- */

static bool valid_method(const char *m) {
  size_t n = strlen(m);
  if (n == 0 || n >= 32) return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr("!#$%&'*+-.^_`|~", m[i]) && !((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z') ||
                                              (m[i] >= '0' && m[i] <= '9')))
      return false;
  return true;
}

static bool valid_header(const char *name, const char *value) {
  if (!name || !value || !*name) return false;
  for (const char *c = name; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == ':' || *c == 0x7f) return false;
  for (const char *c = value; *c; c++)
    if (*c == '\r' || *c == '\n') return false;
  return true;
}

static weft_deferred *failed(weft_http_agent *a, int code, const char *method, const char *url, const char *why) {
  return weft_fail(weft_reactor_log(a->r), weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, code, "%s %s: %s",
                                                            method ? method : "?", url ? url : "?", why));
}

weft_deferred *weft_http_agent_request(weft_http_agent *a, const char *method, const char *url,
                                       const weft_http_request_options *o) {
  weft_http_request_options defaults;
  if (!o) {
    weft_http_request_options_init(&defaults);
    o = &defaults;
  }
  if (!method || !valid_method(method)) return failed(a, WEFT_EINVAL, method, url, "invalid method");
  char why[160];
  weft_http_url u;
  if (weft_http_url_parse(&u, url, why, sizeof why) != 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "invalid URL: %s", why);
    return failed(a, WEFT_EINVAL, method, url, msg);
  }
  if (o->body && o->producer) return failed(a, WEFT_EINVAL, method, url, "both body bytes and a producer");
  for (size_t i = 0; i < o->nheaders; i++)
    if (!valid_header(o->headers[i].name, o->headers[i].value))
      return failed(a, WEFT_EINVAL, method, url, "invalid header");
  hc_req *q = weft__calloc(1, sizeof *q);
  if (!q) return NULL;
  q->a = a;
  strcpy(q->method, method);
  q->url = u;
  q->o = *o;
  q->o.headers = NULL;
  q->o.body = NULL;
  q->o.producer = NULL;
  q->url_text = dupstr(url);
  q->hnames = weft__calloc(o->nheaders + 1, sizeof *q->hnames);
  q->hvalues = weft__calloc(o->nheaders + 1, sizeof *q->hvalues);
  bool oom = !q->url_text || !q->hnames || !q->hvalues;
  for (size_t i = 0; !oom && i < o->nheaders; i++) {
    q->hnames[i] = dupstr(o->headers[i].name);
    q->hvalues[i] = dupstr(o->headers[i].value);
    q->nheaders = i + 1;
    oom = !q->hnames[i] || !q->hvalues[i];
  }
  if (!oom && o->body) {
    q->body = weft__malloc(o->body_len ? o->body_len : 1);
    if (q->body) memcpy(q->body, o->body, o->body_len);
    q->body_len = o->body_len;
    oom = !q->body;
  }
  if (o->producer) {
    q->has_producer = true;
    q->producer = *o->producer;
  }
  q->writer.req = q;
  if (!oom) q->d = weft_deferred_new_cancellable(weft_reactor_log(a->r), canceller, q);
  if (oom || !q->d) {
    req_free(q);
    return NULL;
  }
  weft_deferred *ret = weft_deferred_ref(q->d);
  if (o->timeout > 0) q->timer = weft_reactor_call_later(a->r, o->timeout, on_timeout, q);
  dispatch(q);
  return ret;
}

void weft_http_agent_free(weft_http_agent *a) {
  if (!a) return;
  for (hc_pool *p = a->pools; p; p = p->next) {
    while (p->wait_head) weft__hc_req_finish(p->wait_head, WEFT_ECANCELED, "the agent was freed");
    for (hc_conn *c = p->conns; c; c = c->next)
      if (c->req) weft__hc_req_finish(c->req, WEFT_ECANCELED, "the agent was freed");
  }
  while (a->pools) {
    hc_pool *p = a->pools;
    a->pools = p->next;
    while (p->conns) {
      hc_conn *c = p->conns;
      p->conns = c->next;
      weft__hc_conn_orphan(c);
    }
    weft__free(p);
  }
  if (a->tls) weft_tls_context_free(a->tls);
  weft__free(a->ca_file);
  weft__free(a->ca_dir);
  weft__free(a->user_agent);
  weft__free(a);
}
