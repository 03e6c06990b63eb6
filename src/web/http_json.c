/* http_json.c: JSON response bodies and request bodies through Jansson (treq.json_content and
 * treq's json= argument). The body is collected with the response's own size limit, so a huge
 * body is refused while it arrives, before any parsing. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "weft/http_json.h"

static void json_release(void *p) { json_decref(p); }

/* The collected bytes, or their failure, become the parsed value. arg: the URL (ours). */
static weft_value parse(weft_value v, void *arg) {
  char *url = arg;
  if (weft_value_is_failure(v)) {
    weft__free(url);
    return v;
  }
  weft_http_bytes *b = v.v.p;
  json_error_t err;
  json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY, &err);
  weft_value_release(v);
  weft_value out;
  if (j)
    out = weft_ptr(j, json_release);
  else
    out = weft_failed(weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, WEFT_EINVAL, "%s: invalid JSON: %s (line %d, column %d)",
                                       url, err.text, err.line, err.column));
  weft__free(url);
  return out;
}

static weft_value free_resp(weft_value v, void *arg) {
  weft_http_response_free(arg);
  return v;
}

weft_deferred *weft_http_json_max(weft_http_response *resp, size_t max) {
  const char *u = weft_http_response_url(resp);
  size_t n = strlen(u) + 1;
  char *url = weft__malloc(n);
  if (!url) return NULL;
  memcpy(url, u, n);
  weft_deferred *d = weft_http_response_content(resp, max ? max : WEFT_HTTP_JSON_MAX_DEFAULT);
  if (!d) {
    weft__free(url);
    return NULL;
  }
  /* the response is freed first (the body is in hand), then the bytes are parsed */
  weft_deferred_add_both(d, free_resp, resp);
  weft_deferred_add_both(d, parse, url);
  return d;
}

weft_deferred *weft_http_json(weft_http_response *resp) { return weft_http_json_max(resp, 0); }

char *weft_http_json_body(const json_t *v) {
  if (!v) return NULL;
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}
