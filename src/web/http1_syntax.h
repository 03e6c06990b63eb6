/* http1_syntax.h: the line-level grammar of HTTP/1.1 requests (RFC 9112) behind
 * http1_parser.c: character classes and validators for one request line, one field line, one
 * chunk-size line, and the field values with meaning for framing. Internal to src/web.
 *
 * A line validator looks at b[0..avail) and returns the line's length with its CRLF (> 0), 0 if
 * it reached avail without a verdict, or a negated weft__h1_error. It never reads b[avail] or
 * beyond, so the caller bounds a line by passing avail = min(bytes at hand, the limit). */
#ifndef WEFT_WEB_HTTP1_SYNTAX_H
#define WEFT_WEB_HTTP1_SYNTAX_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "web/http1_parser.h"

enum {
  WEFT__H1C_TCHAR = 0x01,  /* token characters (RFC 9110 §5.6.2) */
  WEFT__H1C_TARGET = 0x02, /* RFC 3986 characters a request target may hold */
  WEFT__H1C_VALUE = 0x04,  /* field-value characters: VCHAR, obs-text, SP, HTAB */
  WEFT__H1C_HOST = 0x08,   /* uri-host [":" port]: unreserved, sub-delims, %, :, [, ] */
  WEFT__H1C_HEX = 0x10,
  WEFT__H1C_QDTEXT = 0x20, /* quoted-string text */
  WEFT__H1C_SCHEME = 0x40  /* URI scheme characters after the first */
};
extern const uint8_t weft__h1_class[256];

/* The request line at b (start of the message). On success fills method_len, target_len (the
 * target starts at method_len + 1) and minor; major version other than 1 is VERSION_UNSUPPORTED,
 * decided only once the line is complete. */
long weft__h1_request_line(const char *b, size_t avail, uint16_t *method_len, uint32_t *target_len,
                           uint8_t *minor);

/* The request target's form given the method, or -WEFT__H1_E_TARGET_FORM. */
int weft__h1_target_form(weft__h1_method m, const char *t, size_t len);

/* The method's id (WEFT__H1_OTHER for an unknown token). */
weft__h1_method weft__h1_method_id(const char *m, size_t len);


/* One chunk-size line at b: size, then extensions (validated, ignored). */
long weft__h1_chunk_line(const char *b, size_t avail, uint64_t *size);

/* One element of a comma-separated list, from v[i]: its bounds [*s, *e) with OWS trimmed (empty
 * when there is nothing between two commas). Returns the index of the comma after it, or len. */
size_t weft__h1_list_element(const char *v, size_t len, size_t i, size_t *s, size_t *e);

/* Field values that decide framing and connection handling. */
int weft__h1_content_length(const char *v, size_t len, uint64_t *out); /* 0 or -CL_INVALID */
int weft__h1_transfer_encoding(const char *v, size_t len); /* 0 (chunked, final, alone) or -error */
int weft__h1_host_valid(const char *v, size_t len);

/* Connection option bits found in a Connection value. */
enum { WEFT__H1_CONN_CLOSE = 1, WEFT__H1_CONN_KEEP_ALIVE = 2, WEFT__H1_CONN_UPGRADE = 4 };
unsigned weft__h1_connection_options(const char *v, size_t len);

/* Expectation bits found in an Expect value (a list; an empty value expects nothing). */
enum { WEFT__H1_EXPECT_CONTINUE = 1, WEFT__H1_EXPECT_OTHER = 2 };
unsigned weft__h1_expect_options(const char *v, size_t len);

/* Case-insensitive compare of a token against a lowercase literal of the same length. */
static inline int weft__h1_token_is(const char *s, const char *lower, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)(s[i] | 0x20) != (unsigned char)lower[i]) return 0;
  return 1;
}

/* The hot path of every head, inline in the parser: field lines are most of a request's bytes. */

/* A byte that ends a run of valid characters and is not the expected one: NUL and line-ending
 * mistakes have their own codes whatever the context. */
static inline long weft__h1_stray(char c, long otherwise) {
  if (c == '\0') return -(long)WEFT__H1_E_NUL;
  if (c == '\n') return -(long)WEFT__H1_E_BARE_LF;
  return otherwise;
}

/* At b[i] == '\r': the CRLF ending a line (returns the length), 0 if not known yet, or bare CR. */
static inline long weft__h1_crlf_at(const char *b, size_t i, size_t avail) {
  if (i + 1 >= avail) return 0;
  return b[i + 1] == '\n' ? (long)(i + 2) : -(long)WEFT__H1_E_BARE_CR;
}

/* The index of the first byte in b[i..avail) that is a CTL (< 0x20: NUL, HTAB, CR, LF, ...) or
 * DEL, or avail: the fast skip over field-value text, which is most of a head's bytes. HTAB is
 * valid in values; stopping at it only hands the rest of that stretch to the byte loop. */
/* Eight bytes at a time: the classic "has a byte less than n" and "has a zero byte" word tricks,
 * exact as a yes/no; the caller's byte loop then finds which one. */
static inline size_t weft__h1_skip_text8(const char *b, size_t i, size_t avail) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  while (i + 8 <= avail) {
    uint64_t w, x;
    memcpy(&w, b + i, 8);
    x = w ^ (ones * 0x7f);
    if (((w - ones * 0x20) & ~w & highs) | ((x - ones) & ~x & highs)) break;
    i += 8;
  }
  return i;
}

#if defined(__SSE2__)
static inline size_t weft__h1_skip_text(const char *b, size_t i, size_t avail) {
  const __m128i flip = _mm_set1_epi8((char)0x80), lt = _mm_set1_epi8((char)(0x20 ^ 0x80)), del = _mm_set1_epi8(0x7f);
  while (i + 16 <= avail) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
    /* unsigned v < 0x20 as a signed compare of both sides with the top bit flipped */
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(_mm_xor_si128(v, flip), lt), _mm_cmpeq_epi8(v, del));
    unsigned m = (unsigned)_mm_movemask_epi8(bad);
    if (m) return i + (size_t)__builtin_ctz(m);
    i += 16;
  }
  return weft__h1_skip_text8(b, i, avail);
}
#else
#define weft__h1_skip_text weft__h1_skip_text8
#endif

/* One field line at b (not starting with CR, SP or HTAB). On success fills name_len and the value
 * (offset from b and length, surrounding OWS removed). */
static inline long weft__h1_field_line(const char *b, size_t avail, uint32_t *name_len, uint32_t *value_off,
                         uint32_t *value_len) {
  size_t i = 0;
  while (i < avail && (weft__h1_class[(unsigned char)b[i]] & WEFT__H1C_TCHAR)) i++;
  if (i == avail) return 0;
  if (b[i] != ':' || i == 0) {
    if (i > 0 && (b[i] == ' ' || b[i] == '\t')) { /* "Name :" is its own error, "Na me:" is not */
      while (i < avail && (b[i] == ' ' || b[i] == '\t')) i++;
      if (i == avail) return 0;
      return b[i] == ':' ? -(long)WEFT__H1_E_SPACE_BEFORE_COLON : weft__h1_stray(b[i], -(long)WEFT__H1_E_FIELD_NAME);
    }
    return weft__h1_stray(b[i], -(long)WEFT__H1_E_FIELD_NAME);
  }
  *name_len = (uint32_t)i++;
  while (i < avail && (b[i] == ' ' || b[i] == '\t')) i++;
  size_t v = i;
  i = weft__h1_skip_text(b, i, avail);
  while (i < avail && (weft__h1_class[(unsigned char)b[i]] & WEFT__H1C_VALUE)) i++; /* after an HTAB, and the last few bytes */
  if (i == avail) return 0;
  if (b[i] != '\r') return weft__h1_stray(b[i], -(long)WEFT__H1_E_FIELD_VALUE);
  long end = weft__h1_crlf_at(b, i, avail);
  if (end <= 0) return end;
  size_t e = i;
  while (e > v && (b[e - 1] == ' ' || b[e - 1] == '\t')) e--;
  *value_off = (uint32_t)v;
  *value_len = (uint32_t)(e - v);
  return end;
}

#endif
