/* http_query.c: query string arguments (twisted.web's request.args): the value of a name in
 * "a=1&b=x+y&c=%2F", percent-decoded with '+' as a space, as HTML forms send them. */
#include <string.h>

#include "web/http_internal.h"

int weft_http_query_arg(const char *query, size_t qlen, const char *name, size_t index, char *out, size_t size,
                        size_t *len) {
  if (!name || (!out && size)) return WEFT_EINVAL;
  size_t nlen = strlen(name), seen = 0;
  const char *end = query ? query + qlen : NULL;
  for (const char *p = query; p && p < end;) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pair_end = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pair_end - p));
    const char *key_end = eq ? eq : pair_end;
    /* The name as sent may be encoded too: decode it (names are short; longer ones cannot match). */
    char key[256];
    size_t klen = (size_t)(key_end - p);
    if (klen <= sizeof key && weft__http_percent_decode(key, p, klen, true) == nlen && memcmp(key, name, nlen) == 0 &&
        seen++ == index) {
      const char *v = eq ? eq + 1 : pair_end;
      size_t vlen = (size_t)(pair_end - v);
      size_t dlen = weft__http_percent_decode(NULL, v, vlen, true);
      if (len) *len = dlen;
      if (dlen >= size) return WEFT_ERANGE; /* the value and its NUL do not fit */
      weft__http_percent_decode(out, v, vlen, true);
      out[dlen] = '\0';
      return 0;
    }
    p = amp ? amp + 1 : end;
  }
  if (len) *len = 0;
  return WEFT_ENOENT;
}

int weft_http_request_arg(const weft_http_request *req, const char *name, size_t index, char *out, size_t size,
                          size_t *len) {
  size_t qlen;
  const char *q = weft_http_request_query(req, &qlen);
  return weft_http_query_arg(q, qlen, name, index, out, size, len);
}
