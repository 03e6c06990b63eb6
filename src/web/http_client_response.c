/* http_client_response.c: the response a client request gives (twisted.web.iweb.IResponse):
 * status, headers, and the body, collected (treq.content) or streamed to callbacks
 * (Response.deliverBody) with pause/resume reaching the transport. */
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "web/http_client_internal.h"

enum { MODE_NONE, MODE_COLLECT, MODE_DELIVER };

struct weft_http_response {
  hc_req *req; /* the exchange, while the body is arriving */
  weft_reactor *r;
  int status, version;
  char *reason, *url;
  char **names, **values;
  size_t nheaders;
  int mode;
  /* body before a mode was chosen, then the collected body */
  char *buf;
  size_t len, cap, max;
  weft_deferred *content;
  weft_http_body_callbacks cb;
  bool ended, paused, held_pause;
  int end_error;
  char *end_reason;
};

static char *dupn(const char *s, size_t n) {
  char *p = weft__malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

weft_http_response *weft__hc_response_new(hc_req *q, const weft__h1r_head *h) {
  weft_http_response *resp = weft__calloc(1, sizeof *resp);
  if (!resp) return NULL;
  resp->req = q;
  resp->r = q->a->r;
  resp->status = h->status;
  resp->version = h->version_minor ? 11 : 10;
  resp->reason = dupn(h->reason.p ? h->reason.p : "", h->reason.len);
  resp->url = dupn(q->url_text, strlen(q->url_text));
  resp->names = weft__calloc(h->nfields + 1, sizeof *resp->names);
  resp->values = weft__calloc(h->nfields + 1, sizeof *resp->values);
  bool oom = !resp->reason || !resp->url || !resp->names || !resp->values;
  for (size_t i = 0; !oom && i < h->nfields; i++) {
    resp->names[i] = dupn(h->fields[i].name, h->fields[i].name_len);
    resp->values[i] = dupn(h->fields[i].value, h->fields[i].value_len);
    resp->nheaders = i + 1;
    oom = !resp->names[i] || !resp->values[i];
  }
  if (oom) {
    resp->req = NULL;
    weft_http_response_free(resp);
    return NULL;
  }
  return resp;
}

int weft_http_response_status(const weft_http_response *resp) { return resp->status; }
const char *weft_http_response_reason(const weft_http_response *resp) { return resp->reason; }
int weft_http_response_version(const weft_http_response *resp) { return resp->version; }
const char *weft_http_response_url(const weft_http_response *resp) { return resp->url; }
size_t weft_http_response_header_count(const weft_http_response *resp) { return resp->nheaders; }

const char *weft_http_response_get_header(const weft_http_response *resp, const char *name) {
  for (size_t i = 0; i < resp->nheaders; i++)
    if (!strcasecmp(resp->names[i], name)) return resp->values[i];
  return NULL;
}

int weft_http_response_header_at(const weft_http_response *resp, size_t i, const char **name, const char **value) {
  if (i >= resp->nheaders) return WEFT_ERANGE;
  *name = resp->names[i];
  *value = resp->values[i];
  return 0;
}

void weft_http_bytes_free(weft_http_bytes *b) {
  if (!b) return;
  weft__free(b->data);
  weft__free(b);
}

static int append(weft_http_response *resp, const char *data, size_t len) {
  if (resp->len + len + 1 > resp->cap) {
    size_t cap = resp->cap ? resp->cap : 4096;
    while (cap < resp->len + len + 1) cap *= 2;
    char *p = weft__realloc(resp->buf, cap);
    if (!p) return WEFT_ENOMEM;
    resp->buf = p;
    resp->cap = cap;
  }
  memcpy(resp->buf + resp->len, data, len);
  resp->len += len;
  resp->buf[resp->len] = '\0';
  return 0;
}

/* Fires the content Deferred with the collected bytes or the body's error. */
static void settle_content(weft_http_response *resp) {
  weft_deferred *d = resp->content;
  resp->content = NULL;
  if (!d) return;
  if (resp->end_error) {
    weft_deferred_errback(d, weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, resp->end_error, "%s: reading the body: %s",
                                              resp->url, resp->end_reason ? resp->end_reason : weft_strerror(resp->end_error)));
  } else {
    weft_http_bytes *b = weft__calloc(1, sizeof *b);
    if (!b) {
      weft_deferred_errback(d, weft_failure_from_error(WEFT_ENOMEM));
    } else {
      b->data = resp->buf ? resp->buf : dupn("", 0);
      b->len = resp->len;
      resp->buf = NULL;
      resp->len = resp->cap = 0;
      weft_deferred_callback(d, weft_ptr(b, (void (*)(void *))weft_http_bytes_free));
    }
  }
  weft_deferred_unref(d);
}

static void end_deliver(weft_http_response *resp) {
  /* the last touch: on_end may free the response */
  if (resp->cb.on_end) resp->cb.on_end(resp, resp->end_error, resp->end_reason, resp->cb.user);
}

void weft__hc_response_data(weft_http_response *resp, const char *data, size_t len) {
  if (!resp || resp->ended) return;
  if (resp->mode == MODE_DELIVER) {
    if (resp->cb.on_data) resp->cb.on_data(resp, data, len, resp->cb.user);
    return;
  }
  if (resp->mode == MODE_COLLECT && resp->max && resp->len + len > resp->max) {
    if (resp->req) weft__hc_req_finish(resp->req, WEFT_ELIMIT, "response body larger than the limit");
    return;
  }
  if (append(resp, data, len) && resp->req) weft__hc_req_finish(resp->req, WEFT_ENOMEM, "out of memory");
  /* nobody reads yet: hold the bytes, but stop the transport once they pile up */
  if (resp->mode == MODE_NONE && resp->len > 256 * 1024 && !resp->paused) {
    weft_http_response_pause(resp);
    resp->held_pause = true;
  }
}

void weft__hc_response_end(weft_http_response *resp, int err, const char *why) {
  if (resp->ended) return;
  resp->req = NULL;
  resp->ended = true;
  resp->end_error = err;
  if (err && why) resp->end_reason = dupn(why, strlen(why));
  if (resp->mode == MODE_COLLECT) settle_content(resp);
  else if (resp->mode == MODE_DELIVER) end_deliver(resp);
}

bool weft__hc_response_paused(const weft_http_response *resp) { return resp->paused; }

weft_deferred *weft_http_response_content(weft_http_response *resp, size_t max) {
  weft_log_publisher *log = weft_reactor_log(resp->r);
  if (resp->mode != MODE_NONE)
    return weft_fail(log, weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, WEFT_ESTATE, "the body was already taken"));
  if (max && resp->len > max) {
    static const char why[] = "response body larger than the limit";
    if (resp->req) weft__hc_req_finish(resp->req, WEFT_ELIMIT, why);
    resp->end_error = WEFT_ELIMIT; /* also when the whole body had come already */
    if (!resp->end_reason) resp->end_reason = dupn(why, sizeof why - 1);
  }
  weft_deferred *d = weft_deferred_new(log);
  if (!d) return NULL;
  resp->mode = MODE_COLLECT;
  resp->max = max;
  resp->content = weft_deferred_ref(d);
  if (resp->ended) settle_content(resp);
  else if (resp->paused) {
    resp->held_pause = false;
    weft_http_response_resume(resp);
  }
  return d;
}

int weft_http_response_deliver(weft_http_response *resp, const weft_http_body_callbacks *cb) {
  if (resp->mode != MODE_NONE) return WEFT_ESTATE;
  resp->mode = MODE_DELIVER;
  resp->cb = *cb;
  bool held = resp->held_pause;
  resp->held_pause = false;
  if (held) resp->paused = false; /* the transport stays paused unless the reader wants more */
  if (resp->len) {
    char *data = resp->buf;
    size_t n = resp->len;
    resp->buf = NULL;
    resp->len = resp->cap = 0;
    if (resp->cb.on_data) resp->cb.on_data(resp, data, n, resp->cb.user);
    weft__free(data);
  }
  if (resp->ended) {
    end_deliver(resp);
  } else if (held && !resp->paused) {
    resp->paused = true;
    weft_http_response_resume(resp);
  }
  return 0;
}

void weft_http_response_pause(weft_http_response *resp) {
  if (resp->paused || resp->ended) return;
  resp->paused = true;
  hc_req *q = resp->req;
  if (q && q->conn && q->conn->t && !q->conn->lost) {
    weft_transport_pause_reading(q->conn->t);
    q->conn->reading_paused = true;
  }
}

static void kick(void *arg);

void weft_http_response_resume(weft_http_response *resp) {
  if (!resp->paused) return;
  resp->paused = false;
  hc_req *q = resp->req;
  if (q && q->conn && q->conn->t && !q->conn->lost) {
    weft_transport_resume_reading(q->conn->t);
    q->conn->reading_paused = false;
    /* bytes the parser held back are processed on the next turn, never inside the caller */
    if (q->conn->in_len && !q->conn->kick) q->conn->kick = weft_reactor_call_soon(resp->r, kick, q->conn);
  }
}

static void kick(void *arg) {
  hc_conn *c = arg;
  c->kick = NULL;
  weft__hc_conn_process(c);
}

void weft_http_response_free(weft_http_response *resp) {
  if (!resp) return;
  if (resp->req) {
    hc_req *q = resp->req;
    resp->req = NULL;
    q->resp = NULL;
    weft__hc_req_finish(q, WEFT_ECANCELED, "the response was freed before its body ended");
  }
  if (resp->content) { /* freed while collecting: the content Deferred fails */
    resp->ended = true;
    resp->end_error = WEFT_ECANCELED;
    settle_content(resp);
  }
  for (size_t i = 0; i < resp->nheaders; i++) {
    weft__free(resp->names[i]);
    weft__free(resp->values[i]);
  }
  weft__free(resp->names);
  weft__free(resp->values);
  weft__free(resp->reason);
  weft__free(resp->url);
  weft__free(resp->buf);
  weft__free(resp->end_reason);
  weft__free(resp);
}
