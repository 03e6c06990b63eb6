/* http_request.c: the request a handler sees (twisted.web.http.Request's request side): slices of
 * the parsed head, the decoded path, header lookup, the collected body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/http_internal.h"
#include "weft/tls.h"

static int hexval(unsigned char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  ch |= 0x20;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

size_t weft__http_percent_decode(char *dst, const char *src, size_t n, bool plus_is_space) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (src[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)src[i + 1])) >= 0 && (lo = hexval((unsigned char)src[i + 2])) >= 0) {
      if (dst) dst[o] = (char)(hi << 4 | lo);
      o++;
      i += 2;
    } else {
      if (dst) dst[o] = plus_is_space && src[i] == '+' ? ' ' : src[i];
      o++;
    }
  }
  return o;
}

static size_t percent_decode(char *dst, const char *src, size_t n) { return weft__http_percent_decode(dst, src, n, false); }

/* Splits the target into path and query for the form the parser found. */
static void split_target(weft_http_request *req, weft_http_server *srv, weft__h1_form form) {
  const char *t = req->target, *end = t + req->target_len;
  req->query = NULL;
  req->query_len = 0;
  if (form == WEFT__H1_ASTERISK_FORM || form == WEFT__H1_AUTHORITY_FORM) {
    req->path = form == WEFT__H1_ASTERISK_FORM ? t : "";
    req->path_len = form == WEFT__H1_ASTERISK_FORM ? 1 : 0;
    return;
  }
  const char *p = t;
  if (form == WEFT__H1_ABSOLUTE_FORM) { /* scheme "://" authority, then the path */
    const char *s = memchr(t, ':', req->target_len);
    p = s ? s + 1 : t;
    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
      p += 2;
      while (p < end && *p != '/' && *p != '?') p++;
    }
  }
  const char *q = memchr(p, '?', (size_t)(end - p));
  const char *pend = q ? q : end;
  if (q) {
    req->query = q + 1;
    req->query_len = (uint32_t)(end - q - 1);
  }
  if (pend == p) { /* "http://host" or "http://host?q" */
    req->path = "/";
    req->path_len = 1;
    return;
  }
  size_t n = (size_t)(pend - p);
  if (memchr(p, '%', n)) {
    req->path = srv->path_scratch;
    req->path_len = (uint32_t)percent_decode(srv->path_scratch, p, n);
  } else {
    req->path = p;
    req->path_len = (uint32_t)n;
  }
}

void weft__http_request_begin(weft_http_request *req, const weft__h1_head *h) {
  weft_http_server *srv = req->conn->srv;
  req->method = h->method.p;
  req->method_len = (uint32_t)h->method.len;
  req->target = h->target.p;
  req->target_len = (uint32_t)h->target.len;
  req->minor = h->version_minor >= 1 ? 1 : 0;
  req->head = h->method_id == WEFT__H1_HEAD;
  req->keep_alive = h->keep_alive;
  memcpy(srv->fields, h->fields, h->nfields * sizeof *h->fields);
  req->fields = srv->fields;
  req->nfields = (uint32_t)h->nfields;
  req->detached = false;
  split_target(req, srv, (weft__h1_form)h->form);
}

static bool inside(const char *p, const char *base, size_t len) { return p >= base && p <= base + len; }

static void make_empty(weft_http_request *req) {
  req->method = req->target = req->path = "";
  req->method_len = req->target_len = req->path_len = 0;
  req->query = NULL;
  req->query_len = 0;
  req->nfields = 0;
  req->detached = true;
}

int weft__http_request_detach(weft_http_request *req) {
  const char *scratch = req->conn->srv->path_scratch;
  bool path_scratch = req->path == scratch && req->path_len > 0;
  size_t total = req->nfields * sizeof(weft__h1_field) + req->method_len + req->target_len;
  if (path_scratch) total += req->path_len;
  for (uint32_t i = 0; i < req->nfields; i++) total += req->fields[i].name_len + req->fields[i].value_len;
  char *s = weft__malloc(total ? total : 1);
  if (!s) {
    make_empty(req);
    return WEFT_ENOMEM;
  }
  weft__h1_field *f = (weft__h1_field *)(void *)s;
  char *p = s + req->nfields * sizeof(weft__h1_field);
  const char *old_target = req->target;
  memcpy(p, req->method, req->method_len);
  req->method = p;
  p += req->method_len;
  memcpy(p, old_target, req->target_len);
  req->target = p;
  p += req->target_len;
  if (path_scratch) {
    memcpy(p, req->path, req->path_len);
    req->path = p;
    p += req->path_len;
  } else if (inside(req->path, old_target, req->target_len)) {
    req->path = req->target + (req->path - old_target);
  }
  if (req->query) req->query = req->target + (req->query - old_target);
  for (uint32_t i = 0; i < req->nfields; i++) {
    f[i] = req->fields[i];
    memcpy(p, f[i].name, f[i].name_len);
    f[i].name = p;
    p += f[i].name_len;
    memcpy(p, f[i].value, f[i].value_len);
    f[i].value = p;
    p += f[i].value_len;
  }
  req->fields = f;
  req->store = s;
  req->detached = true;
  return 0;
}

int weft__http_request_add_body(weft_http_request *req, const char *data, size_t len) {
  size_t need = req->body_len + len;
  if (need > req->body_cap) {
    size_t cap = req->body_cap ? req->body_cap : 512;
    while (cap < need) cap *= 2;
    char *p = weft__realloc(req->body, cap);
    if (!p) return WEFT_ENOMEM;
    req->body = p;
    req->body_cap = cap;
  }
  memcpy(req->body + req->body_len, data, len);
  req->body_len = need;
  return 0;
}

void weft__http_request_reset(weft_http_request *req) {
  weft__http_conn *c = req->conn;
  weft__free(req->store);
  weft__free(req->body);
  weft__free(req->hbuf);
  weft__free(req->bs);
  memset(req, 0, sizeof *req);
  req->conn = c;
}

void weft__http_request_peer_text(const weft_http_request *req, char *peer, size_t size) {
  weft_address a;
  if (weft_http_request_peer(req, &a) != 0 || weft_address_format(&a, peer, size) < 0) snprintf(peer, size, "unknown");
}

/* ---- public accessors ---- */

const char *weft_http_request_method(const weft_http_request *req, size_t *len) {
  *len = req->method_len;
  return req->method;
}

const char *weft_http_request_target(const weft_http_request *req, size_t *len) {
  *len = req->target_len;
  return req->target;
}

const char *weft_http_request_path(const weft_http_request *req, size_t *len) {
  *len = req->path_len;
  return req->path;
}

const char *weft_http_request_query(const weft_http_request *req, size_t *len) {
  *len = req->query_len;
  return req->query;
}

int weft_http_request_version(const weft_http_request *req) { return req->minor ? 11 : 10; }

const char *weft_http_request_header(const weft_http_request *req, const char *name, size_t *len) {
  size_t n = strlen(name);
  for (uint32_t i = 0; i < req->nfields; i++) {
    const weft__h1_field *f = &req->fields[i];
    if (f->name_len == n && weft__http_name_eq(f->name, name, n)) {
      *len = f->value_len;
      return f->value;
    }
  }
  *len = 0;
  return NULL;
}

size_t weft_http_request_header_count(const weft_http_request *req) { return req->nfields; }

int weft_http_request_header_at(const weft_http_request *req, size_t i, const char **name, size_t *name_len,
                                const char **value, size_t *value_len) {
  if (i >= req->nfields) return WEFT_ERANGE;
  const weft__h1_field *f = &req->fields[i];
  *name = f->name;
  *name_len = f->name_len;
  *value = f->value;
  *value_len = f->value_len;
  return 0;
}

const void *weft_http_request_body(const weft_http_request *req, size_t *len) {
  *len = req->body_len;
  return req->body ? req->body : "";
}

int weft_http_request_peer(const weft_http_request *req, weft_address *out) {
  if (req->conn->lost || !req->conn->t) return WEFT_ECLOSED;
  return weft_transport_get_peer(req->conn->t, out);
}

bool weft_http_request_is_tls(const weft_http_request *req) { return req->conn->tls; }

bool weft_http_request_closed(const weft_http_request *req) { return req->conn->lost; }

weft_reactor *weft_http_request_reactor(const weft_http_request *req) { return req->conn->srv->r; }

int weft_http_request_tls_info(const weft_http_request *req, weft_tls_info *out) {
  const weft__http_conn *c = req->conn;
  if (!c->t) return WEFT_ECLOSED;
  if (!c->tls) return WEFT_ENOTSUP;
  return weft_tls_get_info(c->t, out);
}
