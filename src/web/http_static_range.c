/* http_static_range.c: Range requests for static files (RFC 9110 section 14; twisted.web.static's
 * _parseRangeHeader and multipart/byteranges): parsing a list of byte ranges, merging them, and
 * the parts of a multipart/byteranges body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "web/http_static_internal.h"
#include "weft/errors.h"

static bool parse_u64(const char *s, size_t len, uint64_t *out) {
  if (len == 0 || len > 18) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* One range-spec ("a-b", "a-", "-n"). Returns -1 on a syntax error, 0 when it is valid but not
 * satisfiable, 1 with *out filled. */
static int parse_spec(const char *s, size_t len, uint64_t size, weft__range *out) {
  const char *dash = memchr(s, '-', len);
  if (!dash) return -1;
  size_t fl = (size_t)(dash - s), ll = len - fl - 1;
  uint64_t a, b;
  if (fl == 0) { /* suffix: the last b bytes */
    if (!parse_u64(dash + 1, ll, &b)) return -1;
    if (b == 0 || size == 0) return 0;
    if (b > size) b = size;
    *out = (weft__range){size - b, b};
    return 1;
  }
  if (!parse_u64(s, fl, &a)) return -1;
  if (ll == 0) b = UINT64_MAX;
  else if (!parse_u64(dash + 1, ll, &b) || b < a) return -1;
  if (a >= size) return 0;
  if (b >= size) b = size - 1;
  *out = (weft__range){a, b - a + 1};
  return 1;
}

static int by_start(const void *x, const void *y) {
  const weft__range *a = x, *b = y;
  return a->start < b->start ? -1 : a->start > b->start;
}

int weft__ranges_parse(const char *r, size_t len, uint64_t size, weft__range *out, size_t *n) {
  if (len < 6 || strncasecmp(r, "bytes=", 6) != 0) return WEFT__RANGE_NONE;
  size_t i = 6, specs = 0, got = 0;
  uint64_t sum = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && r[j] != ',') j++;
    size_t a = i, b = j;
    while (a < b && is_ows(r[a])) a++;
    while (b > a && is_ows(r[b - 1])) b--;
    i = j + 1;
    if (a == b) continue; /* an empty list element, which the list syntax allows */
    if (++specs > WEFT__RANGES_MAX) return WEFT__RANGE_NONE;
    weft__range one;
    int k = parse_spec(r + a, b - a, size, &one);
    if (k < 0) return WEFT__RANGE_NONE;
    if (k == 0) continue;
    out[got++] = one;
    sum += one.count;
  }
  if (specs == 0) return WEFT__RANGE_NONE;
  if (got == 0) return WEFT__RANGE_UNSATISFIABLE;
  if (sum > size) return WEFT__RANGE_NONE;
  qsort(out, got, sizeof *out, by_start);
  size_t m = 0;
  for (size_t k = 1; k < got; k++) {
    uint64_t end = out[m].start + out[m].count;
    if (out[k].start <= end) { /* overlapping or adjacent: one part */
      uint64_t e2 = out[k].start + out[k].count;
      if (e2 > end) out[m].count = e2 - out[m].start;
    } else {
      out[++m] = out[k];
    }
  }
  *n = m + 1;
  return WEFT__RANGE_SOME;
}
