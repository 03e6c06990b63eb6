/* http_response.c: writing answers (twisted.web.http.Request's response side): one gathered
 * write for a buffered answer, chunked or length-delimited streaming, the cached Date header. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/http1_syntax.h"
#include "web/http_internal.h"

const char *weft_http_status_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

void weft_http_date(time_t t, char out[30]) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  struct tm tm;
  gmtime_r(&t, &tm);
  char *p = out;
  memcpy(p, days + 3 * tm.tm_wday, 3);
  p += 3;
  *p++ = ',';
  *p++ = ' ';
  *p++ = (char)('0' + tm.tm_mday / 10);
  *p++ = (char)('0' + tm.tm_mday % 10);
  *p++ = ' ';
  memcpy(p, months + 3 * tm.tm_mon, 3);
  p += 3;
  *p++ = ' ';
  int y = (tm.tm_year + 1900) % 10000;
  for (int d = 1000; d > 0; d /= 10) *p++ = (char)('0' + y / d % 10);
  int hms[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
  for (int i = 0; i < 3; i++) {
    *p++ = ' ';
    if (i) p[-1] = ':';
    *p++ = (char)('0' + hms[i] / 10);
    *p++ = (char)('0' + hms[i] % 10);
  }
  memcpy(p, " GMT", 5);
}

void weft__http_refresh_date(weft_http_server *srv) {
  double now = weft_reactor_seconds(srv->r);
  if (now < srv->date_next) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char d[30];
  weft_http_date(ts.tv_sec, d);
  memcpy(srv->common + 6, d, 29);
  /* Again when the wall clock's second turns over, measured on the reactor's clock. */
  srv->date_next = now + (1e9 - (double)ts.tv_nsec) / 1e9;
}

/* ---- building a head ---- */

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v) {
  char tmp[20];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n) *p++ = tmp[--n];
  return p;
}

/* "HTTP/1.1 200 OK\r\n": at most 9 + 4 + 31 + 2 bytes with weft's reasons. */
enum { STATUS_LINE_MAX = 64 };
static char *put_status(char *p, int status) {
  p = PUT_LIT(p, "HTTP/1.1 ");
  *p++ = (char)('0' + status / 100);
  *p++ = (char)('0' + status / 10 % 10);
  *p++ = (char)('0' + status % 10);
  *p++ = ' ';
  const char *r = weft_http_status_reason(status);
  p = put(p, r, strlen(r));
  return PUT_LIT(p, "\r\n");
}

/* Framing and Connection headers, at most: Content-Length (16 + 20 + 2), Transfer-Encoding:
 * chunked (28), Connection: keep-alive (24), and the blank line. */
enum { FRAMING_MAX = 96 };

static char *put_connection(char *p, const weft_http_request *req) {
  if (!req->keep_alive) return PUT_LIT(p, "Connection: close\r\n");
  if (req->minor == 0) return PUT_LIT(p, "Connection: keep-alive\r\n");
  return p;
}

enum { H_OTHER, H_LENGTH, H_TE, H_CONNECTION };

/* Checks a header the application gives and says whether the server handles it itself. */
static int header_kind(const char *name, const char *value, size_t *nl, size_t *vl) {
  size_t i = 0;
  for (; name[i]; i++)
    if (!(weft__h1_class[(unsigned char)name[i]] & WEFT__H1C_TCHAR)) return -1;
  if (i == 0) return -1;
  *nl = i;
  for (i = 0; value[i]; i++)
    if (!(weft__h1_class[(unsigned char)value[i]] & WEFT__H1C_VALUE)) return -1;
  *vl = i;
  if (*nl == 14 && weft__http_name_eq(name, "content-length", 14)) return H_LENGTH;
  if (*nl == 17 && weft__http_name_eq(name, "transfer-encoding", 17)) return H_TE;
  if (*nl == 10 && weft__http_name_eq(name, "connection", 10)) return H_CONNECTION;
  return H_OTHER;
}

static bool is_close(const char *v, size_t n) { return n == 5 && weft__http_name_eq(v, "close", 5); }

static bool bodiless_status(int status) { return status == 204 || status == 304; }

static void finish_request(weft_http_request *req) {
  weft__http_conn *c = req->conn;
  if (req->producer) {
    if (!c->lost) weft_transport_unregister_producer(c->t);
    req->producer = false;
  }
  weft__http_request_done(req);
}

static int respond(weft_http_request *req, int status, const weft_http_header *headers, size_t nheaders,
                   const void *body, size_t len, bool upgrade);

int weft_http_respond(weft_http_request *req, int status, const weft_http_header *headers, size_t nheaders,
                      const void *body, size_t len) {
  if (status < 200 || status > 999) return WEFT_EINVAL;
  return respond(req, status, headers, nheaders, body, len, false);
}

int weft__http_respond_head(weft_http_request *req, int status, const weft_http_header *headers, size_t n) {
  return respond(req, status, headers, n, NULL, 0, true);
}

/* upgrade: a 101, whose Connection header is the application's and which has no body. */
static int respond(weft_http_request *req, int status, const weft_http_header *headers, size_t nheaders,
                   const void *body, size_t len, bool upgrade) {
  if (req->phase != WEFT__HTTP_HANDLING) return WEFT_ESTATE;
  weft__http_conn *c = req->conn;
  weft_http_server *srv = c->srv;
  size_t need = STATUS_LINE_MAX + srv->common_len + FRAMING_MAX;
  bool keep = req->keep_alive;
  for (size_t i = 0; i < nheaders; i++) {
    size_t nl, vl;
    int k = header_kind(headers[i].name, headers[i].value, &nl, &vl);
    if (k < 0) return WEFT_EINVAL;
    if (k == H_CONNECTION && is_close(headers[i].value, vl) && !upgrade) keep = false;
    need += nl + vl + 4;
  }
  if (req->bs && !req->bs->complete) keep = false; /* the rest of the body will not be read */
  req->status = status;
  req->written = c->lost || req->head || upgrade || bodiless_status(status) ? 0 : len;
  if (c->lost) {
    finish_request(req);
    return WEFT_ECLOSED;
  }
  char stack[1024];
  char *h = need <= sizeof stack ? stack : weft__malloc(need);
  if (!h) return WEFT_ENOMEM;
  req->keep_alive = keep;
  weft__http_refresh_date(srv);
  char *p = put_status(h, status);
  p = put(p, srv->common, srv->common_len);
  for (size_t i = 0; i < nheaders; i++) {
    size_t nl, vl;
    int k = header_kind(headers[i].name, headers[i].value, &nl, &vl);
    if (k != H_OTHER && !(upgrade && k == H_CONNECTION)) continue;
    p = put(p, headers[i].name, nl);
    p = PUT_LIT(p, ": ");
    p = put(p, headers[i].value, vl);
    p = PUT_LIT(p, "\r\n");
  }
  bool bodiless = upgrade || bodiless_status(status);
  if (!bodiless) {
    p = PUT_LIT(p, "Content-Length: ");
    p = put_u64(p, len);
    p = PUT_LIT(p, "\r\n");
  }
  if (!upgrade) p = put_connection(p, req);
  p = PUT_LIT(p, "\r\n");
  struct iovec iov[2] = {{h, (size_t)(p - h)}, {(void *)(uintptr_t)body, len}};
  int rc = weft_transport_writev(c->t, iov, (req->head || bodiless || len == 0) ? 1 : 2);
  if (h != stack) weft__free(h);
  finish_request(req);
  return rc;
}

/* ---- streaming ---- */

int weft_http_response_start(weft_http_request *req, int status) {
  if (status < 200 || status > 999) return WEFT_EINVAL;
  if (req->phase != WEFT__HTTP_HANDLING) return WEFT_ESTATE;
  req->status = status;
  req->phase = WEFT__HTTP_STARTED;
  return req->conn->lost ? WEFT_ECLOSED : 0;
}

static int parse_length(const char *v, size_t n, uint64_t *out) {
  if (n == 0 || n > 19) return WEFT_EINVAL;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return WEFT_EINVAL;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  *out = x;
  return 0;
}

int weft_http_response_header(weft_http_request *req, const char *name, const char *value) {
  if (req->phase != WEFT__HTTP_STARTED) return WEFT_ESTATE;
  if (req->conn->lost) return WEFT_ECLOSED;
  size_t nl, vl;
  int k = header_kind(name, value, &nl, &vl);
  if (k < 0 || k == H_TE) return WEFT_EINVAL;
  if (k == H_LENGTH) {
    if (parse_length(value, vl, &req->length) != 0) return WEFT_EINVAL;
    req->has_length = true;
    return 0;
  }
  if (k == H_CONNECTION) {
    if (is_close(value, vl)) req->keep_alive = false;
    return 0;
  }
  size_t need = req->hbuf_len + nl + vl + 4;
  if (need > UINT32_MAX / 2) return WEFT_ENOMEM;
  if (need > req->hbuf_cap) {
    size_t cap = req->hbuf_cap ? req->hbuf_cap : 256;
    while (cap < need) cap *= 2;
    char *p = weft__realloc(req->hbuf, cap);
    if (!p) return WEFT_ENOMEM;
    req->hbuf = p;
    req->hbuf_cap = (uint32_t)cap;
  }
  char *p = req->hbuf + req->hbuf_len;
  p = put(p, name, nl);
  p = PUT_LIT(p, ": ");
  p = put(p, value, vl);
  p = PUT_LIT(p, "\r\n");
  req->hbuf_len = (uint32_t)(p - req->hbuf);
  return 0;
}

/* Decides the body's framing when the head is about to go. */
static void decide_framing(weft_http_request *req) {
  if (req->bs && !req->bs->complete) req->keep_alive = false; /* body not all read: last response */
  req->no_body = req->head || bodiless_status(req->status);
  if (req->no_body || req->has_length) return;
  if (req->minor >= 1) req->chunked = true;
  else req->keep_alive = false; /* HTTP/1.0: the body ends when the connection does */
}

/* Sends the head followed by the n body pieces, in one write. */
static int send_head(weft_http_request *req, const struct iovec *body, int n) {
  weft__http_conn *c = req->conn;
  weft_http_server *srv = c->srv;
  size_t need = STATUS_LINE_MAX + srv->common_len + req->hbuf_len + FRAMING_MAX;
  char stack[1024];
  char *h = need <= sizeof stack ? stack : weft__malloc(need);
  if (!h) return WEFT_ENOMEM;
  weft__http_refresh_date(srv);
  char *p = put_status(h, req->status);
  p = put(p, srv->common, srv->common_len);
  if (req->hbuf_len) p = put(p, req->hbuf, req->hbuf_len);
  if (req->has_length && req->status != 204) {
    p = PUT_LIT(p, "Content-Length: ");
    p = put_u64(p, req->length);
    p = PUT_LIT(p, "\r\n");
  }
  if (req->chunked) p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
  p = put_connection(p, req);
  p = PUT_LIT(p, "\r\n");
  struct iovec iov[4];
  iov[0] = (struct iovec){h, (size_t)(p - h)};
  for (int i = 0; i < n && i < 3; i++) iov[i + 1] = body[i];
  int rc = weft_transport_writev(c->t, iov, 1 + n);
  if (h != stack) weft__free(h);
  weft__free(req->hbuf);
  req->hbuf = NULL;
  req->hbuf_len = req->hbuf_cap = 0;
  req->phase = WEFT__HTTP_SENT;
  return rc;
}

int weft_http_response_write(weft_http_request *req, const void *data, size_t len) {
  if (req->phase != WEFT__HTTP_STARTED && req->phase != WEFT__HTTP_SENT) return WEFT_ESTATE;
  weft__http_conn *c = req->conn;
  if (c->lost) return WEFT_ECLOSED;
  if (req->phase == WEFT__HTTP_STARTED) decide_framing(req);
  if (req->has_length && !req->no_body && len > req->length - req->written) return WEFT_EINVAL;
  struct iovec iov[3];
  int n = 0;
  char size_line[20];
  if (!req->no_body && len > 0) {
    if (req->chunked) {
      static const char hex[] = "0123456789abcdef";
      char tmp[16];
      int k = 0;
      size_t v = len;
      do tmp[k++] = hex[v & 15];
      while ((v >>= 4) != 0);
      int m = 0;
      while (k) size_line[m++] = tmp[--k];
      size_line[m++] = '\r';
      size_line[m++] = '\n';
      iov[n++] = (struct iovec){size_line, (size_t)m};
      iov[n++] = (struct iovec){(void *)(uintptr_t)data, len};
      iov[n++] = (struct iovec){(void *)"\r\n", 2};
    } else {
      iov[n++] = (struct iovec){(void *)(uintptr_t)data, len};
    }
    req->written += len;
  }
  if (req->phase == WEFT__HTTP_STARTED) return send_head(req, iov, n);
  return n ? weft_transport_writev(c->t, iov, n) : 0;
}

int weft_http_response_finish(weft_http_request *req) {
  if (req->phase == WEFT__HTTP_IDLE || req->phase == WEFT__HTTP_DONE) return WEFT_ESTATE;
  weft__http_conn *c = req->conn;
  if (c->lost) {
    finish_request(req);
    return WEFT_ECLOSED;
  }
  if (req->phase == WEFT__HTTP_HANDLING) return WEFT_ESTATE;
  static const struct iovec last = {(void *)"0\r\n\r\n", 5};
  int rc = 0;
  if (req->phase == WEFT__HTTP_STARTED) {
    decide_framing(req);
    rc = send_head(req, &last, req->chunked ? 1 : 0);
  } else if (req->chunked) {
    rc = weft_transport_writev(c->t, &last, 1);
  }
  /* Short of its Content-Length: the client can only tell from the connection closing. */
  if (req->has_length && !req->no_body && req->written < req->length) req->keep_alive = false;
  finish_request(req);
  return rc;
}

int weft_http_response_register_producer(weft_http_request *req, const weft_producer *p, bool streaming) {
  if (req->phase != WEFT__HTTP_STARTED && req->phase != WEFT__HTTP_SENT) return WEFT_ESTATE;
  if (req->conn->lost) return WEFT_ECLOSED;
  int rc = weft_transport_register_producer(req->conn->t, p, streaming);
  if (rc == 0) req->producer = true;
  return rc;
}

void weft__http_response_abort(weft_http_request *req) {
  weft__http_conn *c = req->conn;
  if (!c->lost && !c->closing) {
    c->closing = true;
    weft_transport_abort_connection(c->t);
  }
  req->keep_alive = false;
  finish_request(req);
}

/* ---- refusals ---- */

void weft__http_send_error(weft__http_conn *c, int status) {
  weft_http_server *srv = c->srv;
  const char *reason = weft_http_status_reason(status);
  size_t rl = strlen(reason);
  static const char fixed[] = "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  size_t need = STATUS_LINE_MAX + srv->common_len + sizeof fixed + 20 + 24 + rl + 1;
  char stack[512];
  c->in_request = false;
  c->receiving = false;
  if (c->req.phase == WEFT__HTTP_SENT) { /* a handler's response has begun: no status can follow */
    c->closing = true;
    weft_transport_abort_connection(c->t);
    return;
  }
  char *h = need <= sizeof stack ? stack : weft__malloc(need);
  if (srv->o.access_log && !c->req.logged) {
    weft__http_access_log(&c->req, status, rl + 1);
    c->req.logged = true; /* a handler holding the request finishes it without a second line */
  }
  if (c->req.phase == WEFT__HTTP_IDLE) weft__http_request_reset(&c->req);
  if (h) {
    weft__http_refresh_date(srv);
    char *p = put_status(h, status);
    p = put(p, srv->common, srv->common_len);
    p = PUT_LIT(p, fixed);
    p = put_u64(p, rl + 1);
    p = PUT_LIT(p, "\r\nConnection: close\r\n\r\n");
    p = put(p, reason, rl);
    *p++ = '\n';
    weft_transport_write(c->t, h, (size_t)(p - h));
    if (h != stack) weft__free(h);
  }
  c->closing = true;
  weft_transport_lose_connection(c->t);
}
