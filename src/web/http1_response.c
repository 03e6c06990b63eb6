/* http1_response.c: weft's HTTP/1.1 response parser, sans-I/O (twisted.web._newclient's
 * HTTPClientParser): status line, headers, framing by RFC 9112 section 6.3, chunked bodies with
 * trailers, interim 1xx responses. See http1_response.h for the contract.
 *
 * Resumable at any byte as the request parser is: a head, chunk line or trailer section is
 * accepted line by line into `off` but consumed only whole, and a line's verdict is given only
 * when it is decidable, so any split of the input gives the same events. */
#include "web/http1_response.h"

#include <string.h>

#include "web/http1_framing.h"
#include "web/http1_syntax.h"

/* After the shared framing states (http1_framing.h). */
enum { S_IDLE = WEFT__H1F_STATES_, S_HEAD, S_CLOSE_BODY };

enum {
  F_PAUSED = WEFT__H1F_PAUSED,
  F_CL = 1u << 1,
  F_TE = 1u << 2,
  F_CONN_CLOSE = 1u << 3,
  F_CONN_KEEP_ALIVE = 1u << 4,
};
#define TE_ERROR_SHIFT 16

enum { STEP_MORE = WEFT__H1F_MORE, STEP_GO = WEFT__H1F_GO, STEP_ERR = WEFT__H1F_ERR };

static const weft__h1r_limits default_limits = {
    .max_status_line = 8192,
    .max_header_bytes = 65536,
    .max_headers = 100,
    .max_chunk_line = 1024,
    .max_body = UINT64_MAX,
};

void weft__h1r_limits_init(weft__h1r_limits *l) { *l = default_limits; }

static const struct {
  const char *name, *reason;
} errors[] = {
#define WEFT__H1R_ROW_(name, reason) {#name, reason},
    WEFT__H1R_ERROR_TABLE(WEFT__H1R_ROW_)
#undef WEFT__H1R_ROW_
};

const char *weft__h1r_error_reason(weft__h1r_error e) {
  return (unsigned)e < WEFT__H1R_E_COUNT_ ? errors[e].reason : "unknown error";
}
const char *weft__h1r_error_name(weft__h1r_error e) {
  return (unsigned)e < WEFT__H1R_E_COUNT_ ? errors[e].name : "UNKNOWN";
}

/* The request parser's errors (those of the syntax validators and of the shared framing steps),
 * in this parser's terms. */
static int from_h1(long e) {
  switch ((weft__h1_error)e) {
    case WEFT__H1_E_BARE_LF: return WEFT__H1R_E_BARE_LF;
    case WEFT__H1_E_BARE_CR: return WEFT__H1R_E_BARE_CR;
    case WEFT__H1_E_NUL: return WEFT__H1R_E_NUL;
    case WEFT__H1_E_OBS_FOLD: return WEFT__H1R_E_OBS_FOLD;
    case WEFT__H1_E_FIELD_NAME: return WEFT__H1R_E_FIELD_NAME;
    case WEFT__H1_E_SPACE_BEFORE_COLON: return WEFT__H1R_E_SPACE_BEFORE_COLON;
    case WEFT__H1_E_FIELD_VALUE: return WEFT__H1R_E_FIELD_VALUE;
    case WEFT__H1_E_HEADERS_TOO_LARGE: return WEFT__H1R_E_HEAD_TOO_LARGE;
    case WEFT__H1_E_TOO_MANY_HEADERS: return WEFT__H1R_E_TOO_MANY_HEADERS;
    case WEFT__H1_E_BODY_TOO_LARGE: return WEFT__H1R_E_BODY_TOO_LARGE;
    case WEFT__H1_E_CHUNK_SIZE: return WEFT__H1R_E_CHUNK_SIZE;
    case WEFT__H1_E_CHUNK_EXT: return WEFT__H1R_E_CHUNK_EXT;
    case WEFT__H1_E_CHUNK_LINE_TOO_LONG: return WEFT__H1R_E_CHUNK_LINE_TOO_LONG;
    case WEFT__H1_E_CHUNK_DATA_END: return WEFT__H1R_E_CHUNK_DATA_END;
    case WEFT__H1_E_TRAILERS_TOO_LARGE: return WEFT__H1R_E_TRAILERS_TOO_LARGE;
    default: return WEFT__H1R_E_STATUS_LINE;
  }
}

static void message_reset(weft__h1r_parser *p) {
  weft__h1f_reset(&p->f, p->limits->max_body);
  p->status = 0;
  p->minor = 0;
  p->flags &= F_PAUSED;
  p->content_length = 0;
}

void weft__h1r_parser_init(weft__h1r_parser *p, const weft__h1r_callbacks *cb, void *user_data,
                           const weft__h1r_limits *limits) {
  static const weft__h1r_callbacks none = {0};
  memset(p, 0, sizeof *p);
  p->cb = cb ? cb : &none;
  p->user_data = user_data;
  p->limits = limits ? limits : &default_limits;
  p->f.state = S_IDLE;
  message_reset(p);
}

void weft__h1r_parser_expect(weft__h1r_parser *p, int head_request) {
  if (p->f.state != S_IDLE) return;
  message_reset(p);
  p->head_request = head_request != 0;
  p->f.state = S_HEAD;
}

void weft__h1r_parser_pause(weft__h1r_parser *p) { p->flags |= F_PAUSED; }
void weft__h1r_parser_resume(weft__h1r_parser *p) { p->flags &= ~(uint32_t)F_PAUSED; }
weft__h1r_error weft__h1r_parser_error(const weft__h1r_parser *p) { return (weft__h1r_error)p->f.error; }
int weft__h1r_parser_idle(const weft__h1r_parser *p) {
  return p->f.state == S_IDLE || (p->f.state == S_HEAD && p->f.off == 0 && p->f.scan == 0 && p->status == 0);
}
void weft__h1r_parser_set_body_limit(weft__h1r_parser *p, uint64_t max_body) { p->f.body_limit = max_body; }

static int fail(weft__h1r_parser *p, int code) { return weft__h1f_fail(&p->f, code); }

/* The result of a shared framing step, whose error is in the request parser's codes. */
static int mapped(weft__h1r_parser *p, int rc) {
  if (rc == STEP_ERR) p->f.error = (uint8_t)from_h1(p->f.error);
  return rc;
}

static void after_event(weft__h1r_parser *p, int rc) {
  if (rc) p->flags |= F_PAUSED;
}

/* status-line = HTTP-version SP 3DIGIT SP [reason-phrase] CRLF. A missing SP before an empty
 * reason is accepted (common, and harmless). Returns the length with CRLF, 0, or -error (in
 * this parser's codes). */
static long status_line(const char *b, size_t avail, int *status, uint8_t *minor, size_t *reason_off,
                        size_t *reason_len) {
  size_t i = weft__h1_skip_text(b, 0, avail);
  while (i < avail && (weft__h1_class[(unsigned char)b[i]] & WEFT__H1C_VALUE)) i++;
  if (i == avail) return 0;
  if (b[i] != '\r') return -from_h1(-weft__h1_stray(b[i], -(long)WEFT__H1_E_REQUEST_LINE));
  long end = weft__h1_crlf_at(b, i, avail);
  if (end <= 0) return end == 0 ? 0 : -WEFT__H1R_E_BARE_CR;
  /* the whole line is b[0..i) */
  if (i < 12 || memcmp(b, "HTTP/", 5) != 0) return -WEFT__H1R_E_STATUS_LINE;
  if (b[5] < '0' || b[5] > '9' || b[6] != '.' || b[7] < '0' || b[7] > '9') return -WEFT__H1R_E_STATUS_LINE;
  if (b[5] != '1') return -WEFT__H1R_E_VERSION;
  if (b[8] != ' ') return -WEFT__H1R_E_STATUS_LINE;
  int s = 0;
  for (size_t k = 9; k < 12; k++) {
    if (b[k] < '0' || b[k] > '9') return -WEFT__H1R_E_STATUS_LINE;
    s = s * 10 + (b[k] - '0');
  }
  if (s < 100) return -WEFT__H1R_E_STATUS_LINE;
  if (i > 12 && b[12] != ' ') return -WEFT__H1R_E_STATUS_LINE;
  *status = s;
  *minor = (uint8_t)(b[7] - '0');
  *reason_off = i > 12 ? 13 : 12;
  *reason_len = i > 12 ? i - 13 : 0;
  return end;
}

/* A Content-Length value: one number or a list of equal ones ("5, 5"). */
static int content_length(const char *v, size_t len, uint64_t *out) {
  int seen = 0;
  for (size_t i = 0; i <= len; i++) {
    size_t s, e;
    i = weft__h1_list_element(v, len, i, &s, &e); /* an empty element is invalid here */
    uint64_t n;
    if (weft__h1_content_length(v + s, e - s, &n) != 0) return WEFT__H1R_E_CL_INVALID;
    if (seen && n != *out) return WEFT__H1R_E_CL_CONFLICT;
    *out = n;
    seen = 1;
  }
  return 0;
}

static int field_meaning(weft__h1r_parser *p, const char *n, uint32_t nl, const char *v, uint32_t vl) {
  if (nl == 10 && weft__h1_token_is(n, "connection", 10)) {
    unsigned o = weft__h1_connection_options(v, vl);
    if (o & WEFT__H1_CONN_CLOSE) p->flags |= F_CONN_CLOSE;
    if (o & WEFT__H1_CONN_KEEP_ALIVE) p->flags |= F_CONN_KEEP_ALIVE;
  } else if (nl == 14 && weft__h1_token_is(n, "content-length", 14)) {
    uint64_t cl = 0;
    int rc = content_length(v, vl, &cl);
    if (rc) return rc;
    if ((p->flags & F_CL) && cl != p->content_length) return WEFT__H1R_E_CL_CONFLICT;
    p->content_length = cl;
    p->flags |= F_CL;
  } else if (nl == 17 && weft__h1_token_is(n, "transfer-encoding", 17)) {
    /* several field lines make one list; only the last one's verdict on "chunked" matters, and
     * a second line means codings were stacked: take the combined meaning conservatively */
    int rc = weft__h1_transfer_encoding(v, vl);
    int verdict = rc == 0 ? 0
                  : rc == -(int)WEFT__H1_E_TE_NOT_CHUNKED ? 1
                  : rc == -(int)WEFT__H1_E_TE_UNSUPPORTED ? WEFT__H1R_E_TE_UNSUPPORTED
                                                          : WEFT__H1R_E_TE_INVALID;
    if (p->flags & F_TE) verdict = WEFT__H1R_E_TE_UNSUPPORTED;
    p->flags = (p->flags & 0xffffu) | F_TE | (uint32_t)verdict << TE_ERROR_SHIFT;
  }
  return 0;
}

/* The header field lines from p->f.off on, each given its meaning as it is accepted. */
static int field_lines(weft__h1r_parser *p, const char *b, size_t len, weft__h1_field *fields, size_t *end) {
  weft__h1f_section sec = weft__h1f_section_of(&p->f, p->limits->max_header_bytes, p->limits->max_headers, 0);
  int rc;
  while ((rc = mapped(p, weft__h1f_field_line(&p->f, b, len, &sec, fields, end))) == WEFT__H1F_LINE) {
    const weft__h1_field *fl = &fields[p->f.nfields - 1];
    int err = field_meaning(p, fl->name, fl->name_len, fl->value, fl->value_len);
    if (err) return fail(p, err);
  }
  return rc;
}

/* The whole head is at b[0..): decide the framing, then on_head. */
static int head_done(weft__h1r_parser *p, const char *b, weft__h1_field *fields, size_t first,
                     size_t reason_off, size_t reason_len) {
  uint32_t f = p->flags;
  int te_verdict = (int)(f >> TE_ERROR_SHIFT & 0xff);
  weft__h1r_head h;
  memset(&h, 0, sizeof h);
  h.status = p->status;
  h.reason = (weft__h1_slice){b + reason_off, reason_len};
  h.version_minor = p->minor;
  if (first) weft__h1f_rewalk(b, p->f.line_end, fields, first);
  h.fields = fields;
  h.nfields = p->f.nfields;
  if ((f & F_TE) && (f & F_CL)) return fail(p, WEFT__H1R_E_CL_AND_TE);
  if ((f & F_TE) && te_verdict > 1) return fail(p, te_verdict);
  h.interim = p->status < 200 && p->status != 101;
  if (h.interim || p->head_request || p->status == 204 || p->status == 304 || p->status == 101)
    h.framing = WEFT__H1R_BODY_NONE;
  else if (f & F_TE)
    h.framing = te_verdict == 1 ? WEFT__H1R_BODY_CLOSE : WEFT__H1R_BODY_CHUNKED;
  else if (f & F_CL)
    h.framing = WEFT__H1R_BODY_LENGTH;
  else
    h.framing = WEFT__H1R_BODY_CLOSE;
  h.content_length = p->content_length;
  h.keep_alive = !(f & F_CONN_CLOSE) && (p->minor >= 1 || (f & F_CONN_KEEP_ALIVE)) &&
                 h.framing != WEFT__H1R_BODY_CLOSE && p->status != 101;
  p->f.off = p->f.scan = 0;
  if (h.interim) {
    p->f.state = S_HEAD;
    uint8_t head_request = p->head_request;
    message_reset(p);
    p->head_request = head_request;
  } else {
    p->f.state = h.framing == WEFT__H1R_BODY_CHUNKED ? WEFT__H1F_CHUNK_LINE
                 : h.framing == WEFT__H1R_BODY_LENGTH ? (p->content_length ? WEFT__H1F_BODY : WEFT__H1F_DONE)
                 : h.framing == WEFT__H1R_BODY_CLOSE  ? S_CLOSE_BODY
                                                      : WEFT__H1F_DONE;
    p->f.remaining = p->content_length;
  }
  if (p->cb->on_head) after_event(p, p->cb->on_head(p->user_data, &h));
  if (h.framing == WEFT__H1R_BODY_LENGTH && p->content_length > p->f.body_limit) return fail(p, WEFT__H1R_E_BODY_TOO_LARGE);
  return STEP_GO;
}

static int head_step(weft__h1r_parser *p, const char *b, size_t len, size_t *used) {
  weft__h1_field fields[WEFT__H1_MAX_FIELDS];
  size_t reason_off = 0, reason_len = 0;
  *used = 0;
  if (p->f.off > len) { /* the caller re-presented fewer bytes: start over */
    uint8_t hr = p->head_request;
    message_reset(p);
    p->head_request = hr;
  }
  size_t win = (size_t)p->limits->max_status_line + 2, avail = len < win ? len : win;
  if (p->f.off == 0 && weft__h1f_no_verdict_yet(&p->f, b, 0, avail, win)) return STEP_MORE;
  int status = 0;
  uint8_t minor = 0;
  long r = status_line(b, avail, &status, &minor, &reason_off, &reason_len);
  if (p->f.off == 0) {
    r = weft__h1f_settle(&p->f, r, b, 0, avail, win, WEFT__H1R_E_STATUS_LINE);
    if (r <= 0) return r == 0 ? STEP_MORE : fail(p, (int)-r);
    p->status = (uint16_t)status;
    p->minor = minor;
    p->f.off = p->f.line_end = (uint32_t)r;
    p->f.scan = 0;
  }
  size_t first = p->f.nfields, end = 0;
  int rc = field_lines(p, b, len, fields, &end);
  if (rc != STEP_GO) return rc;
  *used = end;
  return head_done(p, b, fields, first, reason_off, reason_len);
}

static int body_step(weft__h1r_parser *p, const char *b, size_t len, size_t *used) {
  if (len == 0) return STEP_MORE;
  size_t n = len;
  if (p->f.state != S_CLOSE_BODY) {
    n = weft__h1f_body(&p->f, len);
  } else {
    /* what fits is delivered, whatever the split; the first byte beyond is the error */
    uint64_t room = p->f.body_seen < p->f.body_limit ? p->f.body_limit - p->f.body_seen : 0;
    if (room == 0) return fail(p, WEFT__H1R_E_BODY_TOO_LARGE);
    if (room < n) n = (size_t)room;
    p->f.body_seen += n;
  }
  *used = n;
  if (p->cb->on_body) after_event(p, p->cb->on_body(p->user_data, b, n));
  return STEP_GO;
}

static int trailers_step(weft__h1r_parser *p, const char *b, size_t len, size_t *used) {
  weft__h1_field fields[WEFT__H1_MAX_FIELDS];
  int rc = weft__h1f_trailers(&p->f, b, len, p->limits->max_header_bytes, p->limits->max_headers, fields, used);
  if (rc == STEP_GO && p->f.nfields && p->cb->on_trailers)
    after_event(p, p->cb->on_trailers(p->user_data, fields, p->f.nfields));
  return mapped(p, rc);
}

static int done_step(weft__h1r_parser *p) {
  message_reset(p);
  p->f.state = S_IDLE;
  if (p->cb->on_message_complete) after_event(p, p->cb->on_message_complete(p->user_data));
  return STEP_GO;
}

static int step(void *parser, const char *b, size_t n, size_t *used) {
  weft__h1r_parser *p = parser;
  switch (p->f.state) {
    case S_IDLE: return n ? fail(p, WEFT__H1R_E_UNEXPECTED) : STEP_MORE;
    case S_HEAD: return head_step(p, b, n, used);
    case WEFT__H1F_BODY:
    case S_CLOSE_BODY:
    case WEFT__H1F_CHUNK_DATA: return body_step(p, b, n, used);
    case WEFT__H1F_CHUNK_LINE: return mapped(p, weft__h1f_chunk_line(&p->f, b, n, p->limits->max_chunk_line, used));
    case WEFT__H1F_CHUNK_CR:
    case WEFT__H1F_CHUNK_LF: return mapped(p, weft__h1f_chunk_end(&p->f, b, n, used));
    case WEFT__H1F_TRAILERS: return trailers_step(p, b, n, used);
    case WEFT__H1F_DONE: return done_step(p);
    default: return STEP_ERR;
  }
}

weft__h1_status weft__h1r_parser_feed(weft__h1r_parser *p, const char *buf, size_t len, size_t *consumed) {
  return weft__h1f_run(&p->f, &p->flags, step, p, buf, len, consumed);
}

weft__h1_status weft__h1r_parser_eof(weft__h1r_parser *p) {
  if (p->f.state == WEFT__H1F_ERROR) return WEFT__H1_ERROR;
  if (p->f.state == WEFT__H1F_DONE) done_step(p);
  if (p->f.state == S_IDLE) return WEFT__H1_AGAIN;
  if (p->f.state == S_CLOSE_BODY) {
    done_step(p);
    return WEFT__H1_AGAIN;
  }
  fail(p, WEFT__H1R_E_TRUNCATED);
  return WEFT__H1_ERROR;
}
