/* http1_parser.c: weft's HTTP/1.1 request parser, sans-I/O (the parsing half of
 * twisted.web.http.HTTPChannel: lineReceived / rawDataReceived): heads, Content-Length and
 * chunked bodies with trailers, pipelining, pausing. See http1_parser.h for the contract.
 *
 * Resumability without copying: a head, a chunk-size line or a trailer section is accepted line
 * by line into `off` but consumed only whole, so the caller re-presents it and the slices stay
 * in its buffer. A line's verdict is given only once it is decidable (its LF has arrived or its
 * limit is reached), so the same bytes give the same events however they are split; `scan`
 * remembers how far an unfinished line has been searched for its LF. */
#include "web/http1_parser.h"

#include <string.h>

#include "web/http1_framing.h"
#include "web/http1_syntax.h"

/* After the shared framing states (http1_framing.h). */
enum { S_HEAD = WEFT__H1F_STATES_ };

enum {
  F_PAUSED = WEFT__H1F_PAUSED,
  F_UPGRADE_PENDING = 1u << 1,
  F_PERSISTENT = F_PAUSED | F_UPGRADE_PENDING, /* the rest is per message */
  F_HOST = 1u << 2,
  F_CL = 1u << 3,
  F_TE = 1u << 4,
  F_CONN_CLOSE = 1u << 5,
  F_CONN_KEEP_ALIVE = 1u << 6,
  F_CONN_UPGRADE = 1u << 7,
  F_UPGRADE = 1u << 8,
  F_EXPECT_CONTINUE = 1u << 9,
  F_EXPECT_OTHER = 1u << 10,
  F_SWITCH = 1u << 11 /* the message asks for a protocol switch: pause after it */
};
#define TE_ERROR_SHIFT 16 /* a Transfer-Encoding verdict waits in flags until the head is whole */

/* Step results: need more bytes, go on with the loop, or stop with p->f.error set. */
enum { STEP_MORE = WEFT__H1F_MORE, STEP_GO = WEFT__H1F_GO, STEP_ERR = WEFT__H1F_ERR };

static const weft__h1_limits default_limits = {
    .max_request_line = 8192,
    .max_header_bytes = 16384,
    .max_headers = 100,
    .max_chunk_line = 1024,
    .max_body = 1024 * 1024,
};

void weft__h1_limits_init(weft__h1_limits *l) { *l = default_limits; }

static const struct {
  int status;
  const char *name, *reason;
} errors[] = {
#define WEFT__H1_ERR_ROW_(name, status, reason) {status, #name, reason},
    WEFT__H1_ERROR_TABLE(WEFT__H1_ERR_ROW_)
#undef WEFT__H1_ERR_ROW_
};

int weft__h1_error_status(weft__h1_error e) { return (unsigned)e < WEFT__H1_E_COUNT_ ? errors[e].status : 400; }
const char *weft__h1_error_reason(weft__h1_error e) {
  return (unsigned)e < WEFT__H1_E_COUNT_ ? errors[e].reason : "unknown error";
}
const char *weft__h1_error_name(weft__h1_error e) { return (unsigned)e < WEFT__H1_E_COUNT_ ? errors[e].name : "UNKNOWN"; }

static void message_reset(weft__h1_parser *p) {
  weft__h1f_reset(&p->f, p->limits->max_body);
  p->host_off = p->host_len = p->upgrade_off = p->upgrade_len = 0;
  p->method_len = 0;
  p->target_len = 0;
  p->flags &= F_PERSISTENT;
  p->content_length = 0;
  p->method_id = p->form = p->minor = 0;
}

void weft__h1_parser_init(weft__h1_parser *p, const weft__h1_callbacks *cb, void *user_data,
                          const weft__h1_limits *limits) {
  static const weft__h1_callbacks none = {0};
  memset(p, 0, sizeof *p);
  p->cb = cb ? cb : &none;
  p->user_data = user_data;
  p->limits = limits ? limits : &default_limits;
  p->f.state = S_HEAD;
  message_reset(p);
}

void weft__h1_parser_pause(weft__h1_parser *p) { p->flags |= F_PAUSED; }
void weft__h1_parser_resume(weft__h1_parser *p) { p->flags &= ~(uint32_t)(F_PAUSED | F_UPGRADE_PENDING); }
weft__h1_error weft__h1_parser_error(const weft__h1_parser *p) { return (weft__h1_error)p->f.error; }
int weft__h1_parser_upgrade_pending(const weft__h1_parser *p) { return (p->flags & F_UPGRADE_PENDING) != 0; }
int weft__h1_parser_idle(const weft__h1_parser *p) { return p->f.state == S_HEAD && p->f.off == 0 && p->f.scan == 0; }
void weft__h1_parser_set_body_limit(weft__h1_parser *p, uint64_t max_body) { p->f.body_limit = max_body; }

static int fail(weft__h1_parser *p, int code) { return weft__h1f_fail(&p->f, code); }

static void after_event(weft__h1_parser *p, int rc) {
  if (rc) p->flags |= F_PAUSED;
}

/* The framing and connection meaning of one header field line. */
static int field_meaning(weft__h1_parser *p, const char *n, uint32_t nl, const char *v, uint32_t vl, size_t voff) {
  switch (nl) {
    case 4:
      if (!weft__h1_token_is(n, "host", 4)) break;
      if (p->flags & F_HOST) return WEFT__H1_E_HOST_DUPLICATE;
      if (!weft__h1_host_valid(v, vl)) return WEFT__H1_E_HOST_INVALID;
      p->flags |= F_HOST;
      p->host_off = (uint32_t)voff;
      p->host_len = vl;
      break;
    case 6: {
      if (!weft__h1_token_is(n, "expect", 6)) break;
      unsigned o = weft__h1_expect_options(v, vl);
      if (o & WEFT__H1_EXPECT_CONTINUE) p->flags |= F_EXPECT_CONTINUE;
      if (o & WEFT__H1_EXPECT_OTHER) p->flags |= F_EXPECT_OTHER;
      break;
    }
    case 7:
      if (!weft__h1_token_is(n, "upgrade", 7) || (p->flags & F_UPGRADE)) break;
      p->flags |= F_UPGRADE;
      p->upgrade_off = (uint32_t)voff;
      p->upgrade_len = vl;
      break;
    case 10: {
      if (!weft__h1_token_is(n, "connection", 10)) break;
      unsigned o = weft__h1_connection_options(v, vl);
      if (o & WEFT__H1_CONN_CLOSE) p->flags |= F_CONN_CLOSE;
      if (o & WEFT__H1_CONN_KEEP_ALIVE) p->flags |= F_CONN_KEEP_ALIVE;
      if (o & WEFT__H1_CONN_UPGRADE) p->flags |= F_CONN_UPGRADE;
      break;
    }
    case 14:
      if (!weft__h1_token_is(n, "content-length", 14)) break;
      if (p->flags & F_CL) return WEFT__H1_E_CL_DUPLICATE;
      if (weft__h1_content_length(v, vl, &p->content_length) != 0) return WEFT__H1_E_CL_INVALID;
      p->flags |= F_CL;
      break;
    case 17: {
      if (!weft__h1_token_is(n, "transfer-encoding", 17)) break;
      if (p->flags & F_TE) return WEFT__H1_E_TE_DUPLICATE;
      int rc = weft__h1_transfer_encoding(v, vl);
      p->flags |= F_TE | (uint32_t)(rc < 0 ? -rc : 0) << TE_ERROR_SHIFT;
      break;
    }
    default: break;
  }
  return 0;
}

/* The header field lines from p->f.off on, each given its meaning as it is accepted. On STEP_GO
 * *end is the offset after the blank line. Not inlined: inside head_step this loop loses
 * registers to the request line's code (bench/http1_parse measured 10% slower). */
__attribute__((noinline)) static int field_lines(weft__h1_parser *p, const char *b, size_t len, weft__h1_field *fields, size_t *end) {
  weft__h1f_section sec = weft__h1f_section_of(&p->f, p->limits->max_header_bytes, p->limits->max_headers, 0);
  int rc;
  while ((rc = weft__h1f_field_line(&p->f, b, len, &sec, fields, end)) == WEFT__H1F_LINE) {
    const weft__h1_field *fl = &fields[p->f.nfields - 1];
    int err = field_meaning(p, fl->name, fl->name_len, fl->value, fl->value_len, (size_t)(fl->value - b));
    if (err) return fail(p, err);
  }
  return rc;
}

/* The whole head is at b[0..end): the checks that need every field, then on_head. */
static int head_done(weft__h1_parser *p, const char *b, size_t end, weft__h1_field *fields, size_t first) {
  uint32_t f = p->flags;
  int te_error = (int)(f >> TE_ERROR_SHIFT & 0xff);
  if (p->minor >= 1 && !(f & F_HOST)) return fail(p, WEFT__H1_E_HOST_MISSING);
  if (f & F_TE) {
    if (f & F_CL) return fail(p, WEFT__H1_E_CL_AND_TE);
    if (te_error) return fail(p, te_error);
    if (p->minor == 0) return fail(p, WEFT__H1_E_TE_HTTP10);
  }
  weft__h1_head h;
  memset(&h, 0, sizeof h);
  h.method = (weft__h1_slice){b, p->method_len};
  h.target = (weft__h1_slice){b + p->method_len + 1, p->target_len};
  h.method_id = (weft__h1_method)p->method_id;
  h.form = (weft__h1_form)p->form;
  h.version_minor = p->minor;
  if (first) weft__h1f_rewalk(b, p->f.line_end, fields, first);
  h.fields = fields;
  h.nfields = p->f.nfields;
  if (f & F_HOST) h.host = (weft__h1_slice){b + p->host_off, p->host_len};
  h.content_length = p->content_length;
  h.framing = (f & F_TE) ? WEFT__H1_BODY_CHUNKED : p->content_length ? WEFT__H1_BODY_LENGTH : WEFT__H1_BODY_NONE;
  h.keep_alive = !(f & F_CONN_CLOSE) && (p->minor >= 1 || (f & F_CONN_KEEP_ALIVE));
  h.expect_continue = p->minor >= 1 && (f & F_EXPECT_CONTINUE);
  h.expect_unknown = (f & F_EXPECT_OTHER) != 0;
  h.upgrade_requested = p->minor >= 1 && (f & F_UPGRADE) && (f & F_CONN_UPGRADE);
  if (h.upgrade_requested) h.upgrade = (weft__h1_slice){b + p->upgrade_off, p->upgrade_len};
  if (h.upgrade_requested || h.method_id == WEFT__H1_CONNECT) p->flags |= F_SWITCH;
  p->f.state = h.framing == WEFT__H1_BODY_CHUNKED ? WEFT__H1F_CHUNK_LINE
               : h.framing == WEFT__H1_BODY_LENGTH  ? WEFT__H1F_BODY
                                                    : WEFT__H1F_DONE;
  p->f.remaining = p->content_length;
  p->f.off = p->f.scan = 0;
  (void)end;
  if (p->cb->on_head) after_event(p, p->cb->on_head(p->user_data, &h));
  /* checked once on_head has had its chance to set this request's limit, before any body byte */
  if (h.framing == WEFT__H1_BODY_LENGTH && p->content_length > p->f.body_limit) return fail(p, WEFT__H1_E_BODY_TOO_LARGE);
  return STEP_GO;
}

/* Skips the empty lines a client may send before a request line (RFC 9112 §2.2). */
static int skip_empty_lines(weft__h1_parser *p, const char *b, size_t len, size_t *used) {
  size_t s = 0;
  while (s + 1 < len && b[s] == '\r' && b[s + 1] == '\n') s += 2;
  *used = s;
  if (s < len && b[s] == '\n') return fail(p, WEFT__H1_E_BARE_LF);
  if (s + 1 < len && b[s] == '\r') return fail(p, WEFT__H1_E_BARE_CR);
  return s < len && b[s] != '\r' ? STEP_GO : STEP_MORE;
}

static int head_step(weft__h1_parser *p, const char *b, size_t len, size_t *used) {
  weft__h1_field fields[WEFT__H1_MAX_FIELDS];
  *used = 0;
  if (p->f.off > len) message_reset(p); /* the caller re-presented fewer bytes: start over */
  if (p->f.off == 0) {
    int rc = skip_empty_lines(p, b, len, used);
    if (rc != STEP_GO) return rc;
    b += *used;
    len -= *used;
    size_t win = (size_t)p->limits->max_request_line + 2, avail = len < win ? len : win;
    if (weft__h1f_no_verdict_yet(&p->f, b, 0, avail, win)) return STEP_MORE;
    long r = weft__h1_request_line(b, avail, &p->method_len, &p->target_len, &p->minor);
    r = weft__h1f_settle(&p->f, r, b, 0, avail, win, WEFT__H1_E_URI_TOO_LONG);
    if (r <= 0) return r == 0 ? STEP_MORE : fail(p, (int)-r);
    weft__h1_method m = weft__h1_method_id(b, p->method_len);
    int form = weft__h1_target_form(m, b + p->method_len + 1, p->target_len);
    if (form < 0) return fail(p, -form);
    p->method_id = (uint8_t)m;
    p->form = (uint8_t)form;
    p->f.off = p->f.line_end = (uint32_t)r;
  }
  size_t first = p->f.nfields, end = 0;
  int rc = field_lines(p, b, len, fields, &end);
  if (rc != STEP_GO) return rc;
  *used += end;
  return head_done(p, b, end, fields, first);
}

static int body_step(weft__h1_parser *p, const char *b, size_t len, size_t *used) {
  if (len == 0) return STEP_MORE;
  *used = weft__h1f_body(&p->f, len);
  if (p->cb->on_body) after_event(p, p->cb->on_body(p->user_data, b, *used));
  return STEP_GO;
}

static int trailers_step(weft__h1_parser *p, const char *b, size_t len, size_t *used) {
  weft__h1_field fields[WEFT__H1_MAX_FIELDS];
  int rc = weft__h1f_trailers(&p->f, b, len, p->limits->max_header_bytes, p->limits->max_headers, fields, used);
  if (rc == STEP_GO && p->f.nfields && p->cb->on_trailers)
    after_event(p, p->cb->on_trailers(p->user_data, fields, p->f.nfields));
  return rc;
}

static int done_step(weft__h1_parser *p) {
  int sw = (p->flags & F_SWITCH) != 0;
  message_reset(p);
  p->f.state = S_HEAD;
  if (sw) p->flags |= F_UPGRADE_PENDING | F_PAUSED;
  if (p->cb->on_message_complete) after_event(p, p->cb->on_message_complete(p->user_data));
  return STEP_GO;
}

static int step(void *parser, const char *b, size_t n, size_t *used) {
  weft__h1_parser *p = parser;
  switch (p->f.state) {
    case S_HEAD: return head_step(p, b, n, used);
    case WEFT__H1F_BODY:
    case WEFT__H1F_CHUNK_DATA: return body_step(p, b, n, used);
    case WEFT__H1F_CHUNK_LINE: return weft__h1f_chunk_line(&p->f, b, n, p->limits->max_chunk_line, used);
    case WEFT__H1F_CHUNK_CR:
    case WEFT__H1F_CHUNK_LF: return weft__h1f_chunk_end(&p->f, b, n, used);
    case WEFT__H1F_TRAILERS: return trailers_step(p, b, n, used);
    case WEFT__H1F_DONE: return done_step(p);
    default: return STEP_ERR;
  }
}

weft__h1_status weft__h1_parser_feed(weft__h1_parser *p, const char *buf, size_t len, size_t *consumed) {
  return weft__h1f_run(&p->f, &p->flags, step, p, buf, len, consumed);
}
