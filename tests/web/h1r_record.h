/* h1r_record.h: drives the HTTP/1 response parser (src/web/http1_response.c) over a byte stream
 * cut into pieces and records its events as a text transcript, for the unit and fuzz tests. Each
 * feed gets a fresh heap copy of the unconsumed bytes plus the new piece, so a slice used after
 * its feed is caught by ASan; every slice is also checked to lie in the fed buffer.
 *
 * `methods` says which requests the responses answer, one letter each: 'G' a GET, 'H' a HEAD.
 * The next is expected after each complete response; the end of the input is the connection's
 * end (weft__h1r_parser_eof). */
#ifndef WEFT_TESTS_WEB_H1R_RECORD_H
#define WEFT_TESTS_WEB_H1R_RECORD_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/web/http1_response.h"

#define H1R_BAD_SLICE "\001BAD SLICE\n"

typedef struct h1r_text {
  char *s;
  size_t len, cap;
} h1r_text;

static void h1r_add(h1r_text *t, const char *p, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n + 1) cap *= 2;
    char *s = realloc(t->s, cap);
    if (!s) abort();
    t->s = s;
    t->cap = cap;
  }
  if (n) memcpy(t->s + t->len, p, n);
  t->len += n;
  t->s[t->len] = '\0';
}

static void h1r_printf(h1r_text *t, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  h1r_add(t, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void h1r_esc(h1r_text *t, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\\') h1r_add(t, "\\\\", 2);
    else if (c >= 0x20 && c < 0x7f) h1r_add(t, (const char *)&c, 1);
    else h1r_printf(t, "\\x%02x", c);
  }
}

typedef struct h1r_rec {
  weft__h1r_parser *p;
  h1r_text out, body;
  const char *lo, *hi, *methods;
  size_t next; /* index in methods of the next request */
  int pause_each;
  int bad_slice;
} h1r_rec;

static void h1r_slice_ok(h1r_rec *r, const char *s, size_t n) {
  if (n && (s < r->lo || s + n > r->hi)) r->bad_slice = 1;
}

static void h1r_flush_body(h1r_rec *r) {
  if (!r->body.len) return;
  h1r_add(&r->out, "BODY ", 5);
  h1r_esc(&r->out, r->body.s, r->body.len);
  h1r_add(&r->out, "\n", 1);
  r->body.len = 0;
}

static void h1r_fields(h1r_rec *r, const char *tag, const weft__h1_field *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h1r_slice_ok(r, f[i].name, f[i].name_len);
    h1r_slice_ok(r, f[i].value, f[i].value_len);
    h1r_printf(&r->out, "%s ", tag);
    h1r_esc(&r->out, f[i].name, f[i].name_len);
    h1r_add(&r->out, ": ", 2);
    h1r_esc(&r->out, f[i].value, f[i].value_len);
    h1r_add(&r->out, "\n", 1);
  }
}

static void h1r_expect_next(h1r_rec *r) {
  char m = r->methods[r->next];
  if (!m) return;
  r->next++;
  weft__h1r_parser_expect(r->p, m == 'H');
}

static int h1r_on_head(void *ud, const weft__h1r_head *h) {
  h1r_rec *r = ud;
  h1r_flush_body(r);
  h1r_slice_ok(r, h->reason.p, h->reason.len);
  h1r_printf(&r->out, "HEAD %d HTTP/1.%u reason=", h->status, h->version_minor);
  h1r_esc(&r->out, h->reason.p, h->reason.len);
  h1r_printf(&r->out, " framing=%d cl=%llu ka=%d interim=%d n=%zu\n", h->framing,
             (unsigned long long)h->content_length, h->keep_alive, h->interim, h->nfields);
  h1r_fields(r, "F", h->fields, h->nfields);
  return 0;
}

static int h1r_on_body(void *ud, const char *data, size_t len) {
  h1r_rec *r = ud;
  h1r_slice_ok(r, data, len);
  if (!len) r->bad_slice = 1;
  h1r_add(&r->body, data, len);
  return 0;
}

static int h1r_on_trailers(void *ud, const weft__h1_field *f, size_t n) {
  h1r_rec *r = ud;
  h1r_flush_body(r);
  h1r_fields(r, "T", f, n);
  return 0;
}

static int h1r_on_complete(void *ud) {
  h1r_rec *r = ud;
  h1r_flush_body(r);
  h1r_add(&r->out, "END\n", 4);
  h1r_expect_next(r);
  return r->pause_each ? WEFT__H1_PAUSE : 0;
}

static const weft__h1r_callbacks h1r_callbacks = {h1r_on_head, h1r_on_body, h1r_on_trailers, h1r_on_complete};

/* Feeds in[0..len) in a first piece of `first` bytes, then pieces of `step` bytes, then the end
 * of input. Returns the transcript (malloc'd). */
static char *h1r_run(const char *in, size_t len, size_t first, size_t step, const char *methods,
                     const weft__h1r_limits *limits, int pause_each) {
  weft__h1r_parser p;
  h1r_rec r;
  memset(&r, 0, sizeof r);
  r.p = &p;
  r.methods = methods;
  r.pause_each = pause_each;
  weft__h1r_parser_init(&p, &h1r_callbacks, &r, limits);
  h1r_expect_next(&r);
  char *buf = NULL;
  size_t have = 0, pos = 0;
  int done = 0;
  if (!first) first = len;
  if (!step) step = len;
  while (!done && pos < len) {
    size_t n = pos == 0 ? first : step;
    if (n > len - pos) n = len - pos;
    char *nb = malloc(have + n + 1);
    if (!nb) abort();
    if (have) memcpy(nb, buf, have);
    memcpy(nb + have, in + pos, n);
    free(buf);
    buf = nb;
    have += n;
    pos += n;
    for (;;) {
      size_t used = 0;
      r.lo = buf;
      r.hi = buf + have;
      weft__h1_status st = weft__h1r_parser_feed(&p, buf, have, &used);
      if (used > have) r.bad_slice = 1, used = have;
      char *rest = malloc(have - used + 1);
      if (!rest) abort();
      memcpy(rest, buf + used, have - used);
      free(buf);
      buf = rest;
      have -= used;
      if (st == WEFT__H1_AGAIN) break;
      h1r_flush_body(&r);
      if (st == WEFT__H1_ERROR) {
        h1r_printf(&r.out, "ERROR %s\n", weft__h1r_error_name(weft__h1r_parser_error(&p)));
        done = 1;
        break;
      }
      weft__h1r_parser_resume(&p); /* paused after a message */
    }
  }
  if (!done) {
    h1r_flush_body(&r);
    if (weft__h1r_parser_eof(&p) == WEFT__H1_ERROR)
      h1r_printf(&r.out, "ERROR %s\n", weft__h1r_error_name(weft__h1r_parser_error(&p)));
    else
      h1r_add(&r.out, "EOF\n", 4);
  }
  free(buf);
  free(r.body.s);
  if (r.bad_slice) h1r_add(&r.out, H1R_BAD_SLICE, strlen(H1R_BAD_SLICE));
  if (!r.out.s) h1r_add(&r.out, "", 0);
  return r.out.s;
}

#endif
