/* http1_syntax.c: the line-level grammar of HTTP/1.1 requests (twisted.web.http's
 * parseRequestLine / header splitting, made strict per RFC 9112). Table-driven; field values are
 * checked eight bytes at a time. */
#include "web/http1_syntax.h"

#include <string.h>

/* Bits per byte: see WEFT__H1C_* (generated once from the RFC ABNF character sets). */
const uint8_t weft__h1_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x24, 0x2f, 0x04, 0x25, 0x2f, 0x2f, 0x2f, 0x2f, 0x2e, 0x2e, 0x2f, 0x6f, 0x2e, 0x6f, 0x6f, 0x26, /* 0x20 */
    0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x2e, 0x2e, 0x24, 0x2e, 0x24, 0x26, /* 0x30 */
    0x26, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, /* 0x40 */
    0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x2e, 0x04, 0x2e, 0x25, 0x2f, /* 0x50 */
    0x25, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, /* 0x60 */
    0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x6f, 0x24, 0x25, 0x24, 0x2f, 0x00, /* 0x70 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0x80 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0x90 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xa0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xb0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xc0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xd0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xe0 */
    0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, /* 0xf0 */
};

#define CLS(c, bit) (weft__h1_class[(unsigned char)(c)] & (bit))
#define ERR(name) (-(long)WEFT__H1_E_##name)

static long version(const char *v, size_t len, uint8_t *minor) {
  if (len < 6 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9') return ERR(VERSION);
  if (len == 6) return v[5] == '1' ? ERR(VERSION) : ERR(VERSION_UNSUPPORTED); /* "HTTP/2", "HTTP/3" */
  if (len != 8 || v[6] != '.' || v[7] < '0' || v[7] > '9') return ERR(VERSION);
  if (v[5] != '1') return ERR(VERSION_UNSUPPORTED);
  *minor = (uint8_t)(v[7] - '0');
  return 0;
}

long weft__h1_request_line(const char *b, size_t avail, uint16_t *method_len, uint32_t *target_len,
                           uint8_t *minor) {
  size_t i = 0;
  while (i < avail && CLS(b[i], WEFT__H1C_TCHAR)) i++;
  if (i == avail) return 0;
  if (b[i] != ' ' || i == 0)
    return weft__h1_stray(b[i], b[i] == '\r' || b[i] == '\t' || b[i] == ' ' ? ERR(REQUEST_LINE) : ERR(METHOD));
  if (i > UINT16_MAX) return ERR(METHOD);
  *method_len = (uint16_t)i;
  size_t t = ++i;
  while (i < avail && CLS(b[i], WEFT__H1C_TARGET)) i++;
  if (i == avail) return 0;
  if (b[i] != ' ' || i == t)
    return weft__h1_stray(b[i], b[i] == '\r' || b[i] == '\t' || b[i] == ' ' ? ERR(REQUEST_LINE) : ERR(TARGET));
  *target_len = (uint32_t)(i - t);
  size_t v = ++i;
  while (i < avail && (CLS(b[i], WEFT__H1C_SCHEME) || b[i] == '/')) i++; /* HTTP/1.1 and typos */
  if (i == avail) return 0;
  if (b[i] != '\r') return weft__h1_stray(b[i], ERR(VERSION));
  long end = weft__h1_crlf_at(b, i, avail);
  if (end <= 0) return end;
  long rc = version(b + v, i - v, minor);
  return rc < 0 ? rc : end;
}

weft__h1_method weft__h1_method_id(const char *m, size_t len) {
#define IS(lit) (len == sizeof(lit) - 1 && memcmp(m, lit, len) == 0)
  switch (m[0]) {
    case 'G': return IS("GET") ? WEFT__H1_GET : WEFT__H1_OTHER;
    case 'H': return IS("HEAD") ? WEFT__H1_HEAD : WEFT__H1_OTHER;
    case 'P': return IS("POST") ? WEFT__H1_POST : IS("PUT") ? WEFT__H1_PUT : IS("PATCH") ? WEFT__H1_PATCH : WEFT__H1_OTHER;
    case 'D': return IS("DELETE") ? WEFT__H1_DELETE : WEFT__H1_OTHER;
    case 'C': return IS("CONNECT") ? WEFT__H1_CONNECT : WEFT__H1_OTHER;
    case 'O': return IS("OPTIONS") ? WEFT__H1_OPTIONS : WEFT__H1_OTHER;
    case 'T': return IS("TRACE") ? WEFT__H1_TRACE : WEFT__H1_OTHER;
    default: return WEFT__H1_OTHER;
  }
#undef IS
}

/* authority-form: uri-host ":" port, with a non-empty host and 1*DIGIT port (RFC 9112 §3.2.3). */
static int authority_form(const char *t, size_t len) {
  size_t colon = len;
  while (colon > 0 && t[colon - 1] >= '0' && t[colon - 1] <= '9') colon--;
  if (colon == len || colon < 2 || t[colon - 1] != ':') return 0;
  for (size_t i = 0; i < colon - 1; i++)
    if (!CLS(t[i], WEFT__H1C_HOST) || t[i] == '/') return 0;
  return 1;
}

int weft__h1_target_form(weft__h1_method m, const char *t, size_t len) {
  if (m == WEFT__H1_CONNECT)
    return authority_form(t, len) ? WEFT__H1_AUTHORITY_FORM : -WEFT__H1_E_TARGET_FORM;
  if (t[0] == '/') return WEFT__H1_ORIGIN_FORM;
  if (len == 1 && t[0] == '*') return m == WEFT__H1_OPTIONS ? WEFT__H1_ASTERISK_FORM : -WEFT__H1_E_TARGET_FORM;
  /* absolute-form: scheme ":" ..., the scheme a letter then letters, digits, + - . */
  if ((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z') {
    size_t i = 1;
    while (i < len && CLS(t[i], WEFT__H1C_SCHEME)) i++;
    if (i < len && t[i] == ':') return WEFT__H1_ABSOLUTE_FORM;
  }
  return -WEFT__H1_E_TARGET_FORM;
}

/* Skips BWS (SP / HTAB) from i; returns the new index. */
static size_t bws(const char *b, size_t i, size_t avail) {
  while (i < avail && (b[i] == ' ' || b[i] == '\t')) i++;
  return i;
}

/* chunk-ext-val = token / quoted-string; returns the index after it, 0 to wait, or an error. */
static long ext_value(const char *b, size_t i, size_t avail) {
  if (i >= avail) return 0;
  if (b[i] != '"') {
    size_t s = i;
    while (i < avail && CLS(b[i], WEFT__H1C_TCHAR)) i++;
    if (i == avail) return 0;
    return i > s ? (long)i : weft__h1_stray(b[i], ERR(CHUNK_EXT));
  }
  for (i++;; i++) {
    if (i >= avail) return 0;
    if (b[i] == '"') return (long)(i + 1);
    if (b[i] == '\\') {
      if (++i >= avail) return 0;
      if (!CLS(b[i], WEFT__H1C_VALUE)) return weft__h1_stray(b[i], ERR(CHUNK_EXT));
    } else if (!CLS(b[i], WEFT__H1C_QDTEXT)) {
      return weft__h1_stray(b[i], ERR(CHUNK_EXT));
    }
  }
}

long weft__h1_chunk_line(const char *b, size_t avail, uint64_t *size) {
  size_t i = 0, digits = 0;
  uint64_t n = 0;
  for (; i < avail && CLS(b[i], WEFT__H1C_HEX); i++) {
    unsigned c = (unsigned char)b[i], d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (n || d) digits++;
    n = n << 4 | d;
  }
  if (i == avail) return 0;
  if (i == 0 || digits > 15) return weft__h1_stray(b[i], ERR(CHUNK_SIZE)); /* < 2^60: sums cannot wrap */
  if (b[i] != ';' && b[i] != ' ' && b[i] != '\t' && b[i] != '\r') return weft__h1_stray(b[i], ERR(CHUNK_SIZE));
  for (;;) {
    i = bws(b, i, avail);
    if (i == avail) return 0;
    if (b[i] == '\r') {
      long end = weft__h1_crlf_at(b, i, avail);
      if (end > 0 && (b[i - 1] == ' ' || b[i - 1] == '\t')) return ERR(CHUNK_EXT); /* BWS only before ';' */
      if (end > 0) *size = n;
      return end;
    }
    if (b[i] != ';') return weft__h1_stray(b[i], ERR(CHUNK_EXT));
    i = bws(b, i + 1, avail);
    size_t s = i;
    while (i < avail && CLS(b[i], WEFT__H1C_TCHAR)) i++;
    if (i == avail) return 0;
    if (i == s) return weft__h1_stray(b[i], ERR(CHUNK_EXT));
    size_t j = bws(b, i, avail);
    if (j == avail) return 0;
    if (b[j] == '=') {
      long r = ext_value(b, bws(b, j + 1, avail), avail);
      if (r <= 0) return r;
      i = (size_t)r;
    }
  }
}

int weft__h1_content_length(const char *v, size_t len, uint64_t *out) {
  uint64_t n = 0;
  if (len == 0) return -WEFT__H1_E_CL_INVALID;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned)(unsigned char)v[i] - '0';
    if (d > 9 || n > (UINT64_MAX / 2 - d) / 10) return -WEFT__H1_E_CL_INVALID; /* 63 bits */
    n = n * 10 + d;
  }
  *out = n;
  return 0;
}

size_t weft__h1_list_element(const char *v, size_t len, size_t i, size_t *s, size_t *e) {
  size_t a = i;
  while (i < len && v[i] != ',') i++;
  size_t z = i;
  while (a < z && (v[a] == ' ' || v[a] == '\t')) a++;
  while (z > a && (v[z - 1] == ' ' || v[z - 1] == '\t')) z--;
  *s = a;
  *e = z;
  return i;
}

/* Calls fn for each non-empty element of a comma-separated list, OWS trimmed; stops at the first
 * nonzero return and returns it. */
static int each_element(const char *v, size_t len, int (*fn)(void *, const char *, size_t), void *arg) {
  for (size_t i = 0; i <= len; i++) {
    size_t s, e;
    i = weft__h1_list_element(v, len, i, &s, &e);
    if (e > s) {
      int rc = fn(arg, v + s, e - s);
      if (rc) return rc;
    }
  }
  return 0;
}

struct te_scan {
  int n, chunked, last_chunked;
};

static int te_element(void *arg, const char *s, size_t len) {
  struct te_scan *t = arg;
  size_t i = 0;
  while (i < len && CLS(s[i], WEFT__H1C_TCHAR)) i++;
  if (i == 0) return -WEFT__H1_E_TE_INVALID;
  /* a coding may carry parameters; this server knows no coding that has any */
  if (i < len) {
    size_t j = i;
    while (j < len && (s[j] == ' ' || s[j] == '\t')) j++;
    if (j == len || s[j] != ';') return -WEFT__H1_E_TE_INVALID;
    for (; j < len; j++)
      if (!CLS(s[j], WEFT__H1C_TCHAR) && s[j] != ';' && s[j] != '=' && s[j] != ' ' && s[j] != '\t')
        return -WEFT__H1_E_TE_INVALID;
  }
  int is_chunked = i == len && len == 7 && weft__h1_token_is(s, "chunked", 7);
  t->n++;
  t->chunked += is_chunked;
  t->last_chunked = is_chunked;
  return 0;
}

int weft__h1_transfer_encoding(const char *v, size_t len) {
  struct te_scan t = {0, 0, 0};
  int rc = each_element(v, len, te_element, &t);
  if (rc) return rc;
  if (t.n == 0) return -WEFT__H1_E_TE_INVALID;
  if (!t.last_chunked) return -WEFT__H1_E_TE_NOT_CHUNKED;
  if (t.chunked > 1) return -WEFT__H1_E_TE_CHUNKED_TWICE;
  if (t.n > 1) return -WEFT__H1_E_TE_UNSUPPORTED;
  return 0;
}

int weft__h1_host_valid(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!CLS(v[i], WEFT__H1C_HOST)) return 0;
  return 1;
}

static int conn_element(void *arg, const char *s, size_t len) {
  unsigned *o = arg;
  if (len == 5 && weft__h1_token_is(s, "close", 5)) *o |= WEFT__H1_CONN_CLOSE;
  else if (len == 10 && weft__h1_token_is(s, "keep-alive", 10)) *o |= WEFT__H1_CONN_KEEP_ALIVE;
  else if (len == 7 && weft__h1_token_is(s, "upgrade", 7)) *o |= WEFT__H1_CONN_UPGRADE;
  return 0;
}

static int expect_element(void *arg, const char *s, size_t len) {
  unsigned *o = arg;
  *o |= len == 12 && weft__h1_token_is(s, "100-continue", 12) ? WEFT__H1_EXPECT_CONTINUE : WEFT__H1_EXPECT_OTHER;
  return 0;
}

unsigned weft__h1_expect_options(const char *v, size_t len) {
  unsigned o = 0;
  each_element(v, len, expect_element, &o);
  return len && !o ? WEFT__H1_EXPECT_OTHER : o;
}

unsigned weft__h1_connection_options(const char *v, size_t len) {
  unsigned o = 0;
  each_element(v, len, conn_element, &o);
  return o;
}
