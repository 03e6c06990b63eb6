/* http1_framing.c: the colder steps of the framing both HTTP/1.1 parsers share (chunk-size lines,
 * the CRLF after chunk data, trailer sections; twisted.web.http._ChunkedTransferDecoder). The hot
 * ones are inline in http1_framing.h. */
#include "web/http1_framing.h"

void weft__h1f_rewalk(const char *b, size_t o, weft__h1_field *fields, size_t n) {
  for (size_t k = 0; k < n; k++) {
    size_t c = o, v, cr, e;
    while (b[c] != ':') c++;
    for (v = c + 1; b[v] == ' ' || b[v] == '\t'; v++) {
    }
    for (cr = v; b[cr] != '\r'; cr++) {
    }
    for (e = cr; e > v && (b[e - 1] == ' ' || b[e - 1] == '\t'); e--) {
    }
    fields[k] = (weft__h1_field){b + o, b + v, (uint32_t)(c - o), (uint32_t)(e - v)};
    o = cr + 2;
  }
}

int weft__h1f_chunk_line(weft__h1f *f, const char *b, size_t len, uint32_t max_chunk_line, size_t *used) {
  size_t win = (size_t)max_chunk_line + 2, avail = len < win ? len : win;
  if (weft__h1f_no_verdict_yet(f, b, 0, avail, win)) return WEFT__H1F_MORE;
  uint64_t size = 0;
  long r = weft__h1f_settle(f, weft__h1_chunk_line(b, avail, &size), b, 0, avail, win,
                            WEFT__H1_E_CHUNK_LINE_TOO_LONG);
  if (r <= 0) return r == 0 ? WEFT__H1F_MORE : weft__h1f_fail(f, (int)-r);
  *used = (size_t)r;
  f->scan = 0;
  if (size == 0) {
    f->state = WEFT__H1F_TRAILERS;
    f->off = 0;
    f->nfields = 0;
    return WEFT__H1F_GO;
  }
  /* checked per chunk, before its data: a body never goes past the limit, whatever the split */
  if (f->body_seen > f->body_limit || size > f->body_limit - f->body_seen)
    return weft__h1f_fail(f, WEFT__H1_E_BODY_TOO_LARGE);
  f->remaining = size;
  f->state = WEFT__H1F_CHUNK_DATA;
  return WEFT__H1F_GO;
}

int weft__h1f_chunk_end(weft__h1f *f, const char *b, size_t len, size_t *used) {
  if (len == 0) return WEFT__H1F_MORE;
  if (b[0] != (f->state == WEFT__H1F_CHUNK_CR ? '\r' : '\n')) return weft__h1f_fail(f, WEFT__H1_E_CHUNK_DATA_END);
  *used = 1;
  f->state = f->state == WEFT__H1F_CHUNK_CR ? WEFT__H1F_CHUNK_LF : WEFT__H1F_CHUNK_LINE;
  return WEFT__H1F_GO;
}

int weft__h1f_trailers(weft__h1f *f, const char *b, size_t len, uint32_t max_bytes, uint32_t max_headers,
                       weft__h1_field *fields, size_t *used) {
  if (f->off > len) f->off = f->scan = f->nfields = 0; /* re-presented fewer bytes */
  weft__h1f_section sec = weft__h1f_section_of(f, max_bytes, max_headers, 1);
  size_t first = f->nfields, end = 0;
  int rc;
  do {
    rc = weft__h1f_field_line(f, b, len, &sec, fields, &end);
  } while (rc == WEFT__H1F_LINE);
  if (rc != WEFT__H1F_GO) return rc;
  *used = end;
  f->state = WEFT__H1F_DONE;
  if (first) weft__h1f_rewalk(b, 0, fields, first);
  return WEFT__H1F_GO;
}
