/* http1_framing.h: the message framing both HTTP/1.1 parsers share (requests in http1_parser.c,
 * responses in http1_response.c; twisted.web.http's rawDataReceived and _ChunkedTransferDecoder):
 * field sections line by line, Content-Length and chunked bodies, chunk-size lines, trailers, the
 * windows that make a line's verdict independent of how the input is split, and the feed loop.
 * Internal to src/web.
 *
 * Each parser embeds a weft__h1f (declared in http1_parser.h with the other shared types) and
 * keeps what is its own (callbacks, limits, the start line, the meaning of header fields). The steps here never call a callback: they say what happened and
 * the parser fires its event. Their errors are weft__h1_error codes (the request parser's); the
 * response parser maps them to its own at the boundary. Step results are WEFT__H1F_MORE (feed more
 * bytes), WEFT__H1F_GO (go on), WEFT__H1F_ERR (f->error set, f->state is WEFT__H1F_ERROR), and for
 * a field section WEFT__H1F_LINE (one field line accepted). The hot steps are inline: a request
 * head is mostly field lines. */
#ifndef WEFT_WEB_HTTP1_FRAMING_H
#define WEFT_WEB_HTTP1_FRAMING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "web/http1_parser.h"
#include "web/http1_syntax.h"

/* The framing states; a parser numbers its own states (head, idle...) from WEFT__H1F_STATES_ on. */
enum {
  WEFT__H1F_BODY,       /* a Content-Length body: f->remaining bytes to go */
  WEFT__H1F_CHUNK_LINE, /* a chunk-size line */
  WEFT__H1F_CHUNK_DATA, /* f->remaining bytes of the current chunk */
  WEFT__H1F_CHUNK_CR,   /* the CRLF after chunk data */
  WEFT__H1F_CHUNK_LF,
  WEFT__H1F_TRAILERS,   /* the trailer section after the last chunk */
  WEFT__H1F_DONE,       /* the message is whole: the parser completes it */
  WEFT__H1F_ERROR,      /* terminal */
  WEFT__H1F_STATES_
};

enum { WEFT__H1F_MORE = 0, WEFT__H1F_GO = 1, WEFT__H1F_ERR = -1, WEFT__H1F_LINE = 2 };

/* Bit 0 of a parser's flags: paused (the feed loop stops). */
#define WEFT__H1F_PAUSED 1u

/* A new message: nothing accepted, no body seen, body_limit the default. */
static inline void weft__h1f_reset(weft__h1f *f, uint64_t max_body) {
  f->off = f->scan = f->line_end = 0;
  f->nfields = 0;
  f->body_limit = max_body;
  f->body_seen = f->remaining = 0;
}

static inline int weft__h1f_fail(weft__h1f *f, int code) {
  f->error = (uint8_t)code;
  f->state = WEFT__H1F_ERROR;
  return WEFT__H1F_ERR;
}

/* Before validating the line starting at b[start] again: if an earlier call already searched it
 * up to f->scan without an LF, only the new bytes need searching, and with none there (and the
 * limit not reached) there is still no verdict. Returns 1 when there is nothing to do yet. */
static inline int weft__h1f_no_verdict_yet(weft__h1f *f, const char *b, size_t start, size_t avail_end,
                                           size_t win_end) {
  if (f->scan > avail_end) f->scan = 0; /* the caller re-presented fewer bytes: search again */
  if (f->scan <= start || avail_end >= win_end) return 0;
  if (memchr(b + f->scan, '\n', avail_end - f->scan)) return 0;
  f->scan = (uint32_t)avail_end;
  return 1;
}

/* Turns a validator's answer r for the line at b[start..avail_end) into a verdict only if it is
 * decidable, so that splitting the input never changes the outcome: the line ended (r > 0), the
 * window is full (r == 0 becomes limit_err), or an error whose line's LF is already here. */
static inline long weft__h1f_settle(weft__h1f *f, long r, const char *b, size_t start, size_t avail_end,
                                    size_t win_end, int limit_err) {
  if (r > 0) return r;
  if (avail_end >= win_end) return r == 0 ? -(long)limit_err : r;
  if (r < 0 && memchr(b + start, '\n', avail_end - start)) return r;
  f->scan = (uint32_t)avail_end; /* no LF in the line so far: validators stop at any LF */
  return 0;
}

/* The bounds of one field section: a head's (counted from f->line_end) or a trailer section
 * (counted from b[0]). Made once per call, so that the loop over its lines keeps them at hand. */
typedef struct weft__h1f_section {
  size_t base, max_bytes, max_fields;
  int too_many, too_large; /* weft__h1_error codes */
} weft__h1f_section;

static inline weft__h1f_section weft__h1f_section_of(const weft__h1f *f, uint32_t max_bytes, uint32_t max_headers,
                                                     int trailers) {
  weft__h1f_section s;
  s.base = trailers ? 0 : f->line_end;
  s.max_bytes = max_bytes;
  s.max_fields = max_headers < WEFT__H1_MAX_FIELDS ? max_headers : WEFT__H1_MAX_FIELDS;
  s.too_many = trailers ? WEFT__H1_E_TRAILERS_TOO_LARGE : WEFT__H1_E_TOO_MANY_HEADERS;
  s.too_large = trailers ? WEFT__H1_E_TRAILERS_TOO_LARGE : WEFT__H1_E_HEADERS_TOO_LARGE;
  return s;
}

/* One step through a field section, from f->off on. Returns WEFT__H1F_LINE with the line accepted
 * as fields[f->nfields - 1] (the parser gives it its meaning, then steps again), WEFT__H1F_GO at
 * the blank line with *end the offset after it, WEFT__H1F_MORE or WEFT__H1F_ERR. fields is indexed
 * from the section's first field; those accepted by an earlier call are not filled again. */
static inline int weft__h1f_field_line(weft__h1f *f, const char *b, size_t len, const weft__h1f_section *s,
                                       weft__h1_field *fields, size_t *end) {
  size_t o = f->off;
  if (o >= len) return WEFT__H1F_MORE;
  if (b[o] == '\r') {
    if (o + 1 >= len) return WEFT__H1F_MORE;
    if (b[o + 1] != '\n') return weft__h1f_fail(f, WEFT__H1_E_BARE_CR);
    *end = o + 2;
    return WEFT__H1F_GO;
  }
  if (b[o] == ' ' || b[o] == '\t') return weft__h1f_fail(f, WEFT__H1_E_OBS_FOLD);
  if (f->nfields >= s->max_fields) return weft__h1f_fail(f, s->too_many);
  if (o - s->base >= s->max_bytes) return weft__h1f_fail(f, s->too_large); /* the section is full */
  size_t win = s->max_bytes - (o - s->base), avail = len - o < win ? len - o : win;
  if (weft__h1f_no_verdict_yet(f, b, o, o + avail, o + win)) return WEFT__H1F_MORE;
  uint32_t nl = 0, vo = 0, vl = 0;
  long r = weft__h1f_settle(f, weft__h1_field_line(b + o, avail, &nl, &vo, &vl), b, o, o + avail, o + win,
                            s->too_large);
  if (r <= 0) return r == 0 ? WEFT__H1F_MORE : weft__h1f_fail(f, (int)-r);
  fields[f->nfields++] = (weft__h1_field){b + o, b + o + vo, nl, vl};
  f->off = (uint32_t)(o + (size_t)r);
  return WEFT__H1F_LINE;
}

/* Fills fields[0..n) again from the already validated lines starting at b[o] (they were accepted
 * by earlier calls, whose stack held their slices). */
void weft__h1f_rewalk(const char *b, size_t o, weft__h1_field *fields, size_t n);

/* Body bytes (WEFT__H1F_BODY or WEFT__H1F_CHUNK_DATA, len > 0): how many of the len at hand
 * belong to the body (at least one); moves on when the body or chunk is whole. */
static inline size_t weft__h1f_body(weft__h1f *f, size_t len) {
  size_t n = f->remaining < len ? (size_t)f->remaining : len;
  f->remaining -= n;
  f->body_seen += n;
  if (f->remaining == 0) f->state = f->state == WEFT__H1F_BODY ? WEFT__H1F_DONE : WEFT__H1F_CHUNK_CR;
  return n;
}

/* WEFT__H1F_CHUNK_LINE: a whole chunk-size line (*used its length), checked against the body limit;
 * the last chunk leads to the trailers. */
int weft__h1f_chunk_line(weft__h1f *f, const char *b, size_t len, uint32_t max_chunk_line, size_t *used);

/* WEFT__H1F_CHUNK_CR / _LF: the CRLF after chunk data, a byte at a time. */
int weft__h1f_chunk_end(weft__h1f *f, const char *b, size_t len, size_t *used);

/* WEFT__H1F_TRAILERS: the whole trailer section (*used its length, fields[0..f->nfields) its field
 * lines); then WEFT__H1F_DONE. */
int weft__h1f_trailers(weft__h1f *f, const char *b, size_t len, uint32_t max_bytes, uint32_t max_headers,
                       weft__h1_field *fields, size_t *used);

/* The feed loop: step (the parser's dispatch on f->state) until it wants more bytes, fails, or
 * *flags has WEFT__H1F_PAUSED. Inline so that a constant step is inlined into each parser. */
static inline weft__h1_status weft__h1f_run(weft__h1f *f, const uint32_t *flags,
                                            int (*step)(void *parser, const char *b, size_t len, size_t *used),
                                            void *parser, const char *buf, size_t len, size_t *consumed) {
  size_t pos = 0;
  *consumed = 0;
  if (f->state == WEFT__H1F_ERROR) return WEFT__H1_ERROR;
  while (!(*flags & WEFT__H1F_PAUSED)) {
    size_t used = 0;
    int rc = step(parser, buf + pos, len - pos, &used);
    pos += used;
    *consumed = pos;
    if (rc == WEFT__H1F_ERR) return WEFT__H1_ERROR;
    if (rc == WEFT__H1F_MORE) return WEFT__H1_AGAIN;
  }
  return WEFT__H1_PAUSED;
}

#endif
