/* h1_record.h: drives the HTTP/1 request parser (src/web/http1_parser.c) over a byte stream cut
 * into pieces and records its events as a text transcript, for the unit, differential and fuzz
 * tests. Each feed gets a fresh heap copy of the unconsumed bytes plus the new piece, as a server
 * that compacts its buffer would, so a slice used after its feed is caught by ASan; every slice
 * is also checked to lie in the fed buffer. */
#ifndef WEFT_TESTS_WEB_H1_RECORD_H
#define WEFT_TESTS_WEB_H1_RECORD_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/web/http1_parser.h"

/* Marks a transcript whose run saw a slice outside the fed buffer; its raw control byte cannot
 * come from the input, which is always escaped. */
#define H1_BAD_SLICE "\001BAD SLICE\n"

typedef struct h1_text {
  char *s;
  size_t len, cap;
} h1_text;

static void h1_text_add(h1_text *t, const char *p, size_t n) {
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

static void h1_text_printf(h1_text *t, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  h1_text_add(t, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Printable ASCII as is (backslash doubled), other bytes as \xHH; lower folds A-Z. */
static void h1_text_esc(h1_text *t, const char *p, size_t n, int lower) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\\') h1_text_add(t, "\\\\", 2);
    else if (c >= 0x20 && c < 0x7f) {
      char ch = lower && c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;
      h1_text_add(t, &ch, 1);
    } else h1_text_printf(t, "\\x%02x", c);
  }
}

typedef struct h1_opts {
  int diff;        /* the differential format (names lowercased, fewer details), and stop
                      after a message that does not keep the connection, as a server would */
  int pause_each;  /* pause in on_message_complete, then resume */
  int pause_head;  /* pause in on_head, then resume */
  int set_limit;   /* call weft__h1_parser_set_body_limit(limit) in on_head */
  uint64_t limit;
  const weft__h1_limits *limits;
} h1_opts;

typedef struct h1_rec {
  const h1_opts *o;
  weft__h1_parser *p;
  h1_text out, body;
  const char *lo, *hi; /* the buffer of the current feed */
  int ka, bad_slice, closing;
} h1_rec;

static void h1_slice_ok(h1_rec *r, const char *s, size_t n) {
  if (n && (s < r->lo || s + n > r->hi)) r->bad_slice = 1;
}

static void h1_flush_body(h1_rec *r) {
  if (!r->body.len) return;
  h1_text_add(&r->out, "BODY ", 5);
  h1_text_esc(&r->out, r->body.s, r->body.len, 0);
  h1_text_add(&r->out, "\n", 1);
  r->body.len = 0;
}

static void h1_fields(h1_rec *r, const char *tag, const weft__h1_field *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h1_slice_ok(r, f[i].name, f[i].name_len);
    h1_slice_ok(r, f[i].value, f[i].value_len);
    h1_text_printf(&r->out, "%s ", tag);
    h1_text_esc(&r->out, f[i].name, f[i].name_len, r->o->diff);
    h1_text_add(&r->out, ": ", 2);
    h1_text_esc(&r->out, f[i].value, f[i].value_len, 0);
    h1_text_add(&r->out, "\n", 1);
  }
}

static int h1_on_head(void *ud, const weft__h1_head *h) {
  h1_rec *r = ud;
  h1_flush_body(r);
  h1_slice_ok(r, h->method.p, h->method.len);
  h1_slice_ok(r, h->target.p, h->target.len);
  h1_slice_ok(r, h->host.p, h->host.len);
  h1_slice_ok(r, h->upgrade.p, h->upgrade.len);
  r->ka = h->keep_alive;
  h1_text_add(&r->out, r->o->diff ? "REQ " : "HEAD ", r->o->diff ? 4 : 5);
  h1_text_esc(&r->out, h->method.p, h->method.len, 0);
  h1_text_add(&r->out, " ", 1);
  h1_text_esc(&r->out, h->target.p, h->target.len, 0);
  h1_text_printf(&r->out, " HTTP/1.%u cont=%d", h->version_minor, h->expect_continue);
  if (!r->o->diff) {
    h1_text_printf(&r->out, " form=%d method=%d ka=%d expx=%d framing=%d cl=%llu host=", h->form, h->method_id,
                   h->keep_alive, h->expect_unknown, h->framing, (unsigned long long)h->content_length);
    if (h->host.p) h1_text_esc(&r->out, h->host.p, h->host.len, 0);
    else h1_text_add(&r->out, "(none)", 6);
    h1_text_printf(&r->out, " up=%d:", h->upgrade_requested);
    h1_text_esc(&r->out, h->upgrade.p, h->upgrade.len, 0);
    h1_text_printf(&r->out, " n=%zu", h->nfields);
  }
  h1_text_add(&r->out, "\n", 1);
  h1_fields(r, r->o->diff ? "H" : "F", h->fields, h->nfields);
  if (r->o->set_limit) weft__h1_parser_set_body_limit(r->p, r->o->limit);
  return r->o->pause_head ? WEFT__H1_PAUSE : 0;
}

static int h1_on_body(void *ud, const char *data, size_t len) {
  h1_rec *r = ud;
  h1_slice_ok(r, data, len);
  if (!len) r->bad_slice = 1; /* the parser never reports empty body pieces */
  h1_text_add(&r->body, data, len);
  return 0;
}

static int h1_on_trailers(void *ud, const weft__h1_field *f, size_t n) {
  h1_rec *r = ud;
  h1_flush_body(r);
  h1_fields(r, "T", f, n);
  return 0;
}

static int h1_on_complete(void *ud) {
  h1_rec *r = ud;
  h1_flush_body(r);
  h1_text_printf(&r->out, "END ka=%d\n", r->ka);
  if (r->o->diff && !r->ka) r->closing = 1;
  return r->o->pause_each || r->closing ? WEFT__H1_PAUSE : 0;
}

static const weft__h1_callbacks h1_callbacks = {h1_on_head, h1_on_body, h1_on_trailers, h1_on_complete};

/* Feeds in[0..len): a first piece of `first` bytes, then pieces of `step` bytes. Returns the
 * transcript (malloc'd; the caller frees it). */
static char *h1_run(const char *in, size_t len, size_t first, size_t step, const h1_opts *o) {
  weft__h1_parser p;
  h1_rec r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.p = &p;
  weft__h1_parser_init(&p, &h1_callbacks, &r, o->limits);
  char *buf = NULL;
  size_t have = 0, pos = 0;
  int done = 0;
  if (!first) first = len;
  if (!step) step = len;
  while (!done && (pos < len || pos == 0)) {
    size_t n = pos == 0 ? first : step;
    if (n > len - pos) n = len - pos;
    char *nb = malloc(have + n + 1);
    if (!nb) abort();
    if (have) memcpy(nb, buf, have);
    if (n) memcpy(nb + have, in + pos, n);
    free(buf);
    buf = nb;
    have += n;
    pos += n;
    for (;;) {
      size_t used = 0;
      r.lo = buf;
      r.hi = buf + have;
      weft__h1_status st = weft__h1_parser_feed(&p, buf, have, &used);
      if (used > have) r.bad_slice = 1, used = have;
      char *rest = malloc(have - used + 1);
      if (!rest) abort();
      memcpy(rest, buf + used, have - used);
      free(buf);
      buf = rest;
      have -= used;
      if (st == WEFT__H1_AGAIN) break;
      h1_flush_body(&r);
      if (st == WEFT__H1_ERROR) {
        weft__h1_error e = weft__h1_parser_error(&p);
        h1_text_printf(&r.out, "ERROR %s %d\n", weft__h1_error_name(e), weft__h1_error_status(e));
        if (weft__h1_parser_feed(&p, buf, have, &used) != WEFT__H1_ERROR) r.bad_slice = 1; /* terminal */
        done = 1;
        break;
      }
      if (weft__h1_parser_upgrade_pending(&p)) {
        h1_text_add(&r.out, "SWITCH\n", 7);
        done = 1;
        break;
      }
      if (r.closing) {
        done = 1;
        break;
      }
      if (!o->diff) h1_text_add(&r.out, "PAUSE\n", 6);
      weft__h1_parser_resume(&p);
    }
    if (len == 0) break;
  }
  h1_flush_body(&r);
  if (!o->diff) h1_text_printf(&r.out, "EOF idle=%d rest=%zu\n", weft__h1_parser_idle(&p), have + (len - pos));
  if (r.bad_slice) h1_text_add(&r.out, H1_BAD_SLICE, strlen(H1_BAD_SLICE));
  free(buf);
  free(r.body.s);
  if (!r.out.s) h1_text_add(&r.out, "", 0);
  return r.out.s;
}

#endif
