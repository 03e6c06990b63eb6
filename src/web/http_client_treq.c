/* http_client_treq.c: treq's convenience layer over the agent: get/post/put/delete with headers,
 * byte, form and JSON bodies (a json_t or text), basic auth, a timeout and redirects on by default; content and
 * text collectors that take the response. */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "web/http_client_internal.h"
#include "weft/http_json.h"

void weft_http_opts_init(weft_http_opts *o) {
  memset(o, 0, sizeof *o);
  o->follow_redirects = true;
  o->max_redirects = 20;
}

static size_t enc_len(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += strchr("-_.*", *s) || (*s >= '0' && *s <= '9') || ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') || *s == ' ' ? 1 : 3;
  return n;
}

static char *enc(char *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == ' ') *o++ = '+';
    else if (strchr("-_.*", c) || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) *o++ = (char)c;
    else *o++ = '%', *o++ = hex[c >> 4], *o++ = hex[c & 15];
  }
  return o;
}

char *weft_http_form_encode(const weft_http_header *pairs, size_t n) {
  size_t len = 1;
  for (size_t i = 0; i < n; i++) len += enc_len(pairs[i].name) + enc_len(pairs[i].value) + 2;
  char *out = malloc(len), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (i) *o++ = '&';
    o = enc(o, pairs[i].name);
    *o++ = '=';
    o = enc(o, pairs[i].value);
  }
  *o = '\0';
  return out;
}

weft_deferred *weft_http_send(weft_http_agent *agent, const char *method, const char *url, const weft_http_opts *o) {
  weft_http_opts dflt;
  if (!o) {
    weft_http_opts_init(&dflt);
    o = &dflt;
  }
  weft_http_header *h = weft__calloc(o->nheaders + 2, sizeof *h);
  if (!h) return NULL;
  size_t nh = 0;
  for (size_t i = 0; i < o->nheaders; i++) h[nh++] = o->headers[i];
  weft_http_request_options ro;
  weft_http_request_options_init(&ro);
  char *form = NULL, *json = NULL, *auth = NULL;
  const char *ctype = o->content_type;
  if (o->json) {
    json = weft_http_json_body(o->json);
    if (!json) {
      weft__free(h);
      return weft_fail(weft_reactor_log(agent->r),
                       weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, WEFT_EINVAL, "%s %s: the JSON body cannot be serialised",
                                        method ? method : "?", url ? url : "?"));
    }
    ro.body = json;
    ro.body_len = strlen(json);
    ctype = "application/json";
  } else if (o->nform) {
    form = weft_http_form_encode(o->form, o->nform);
    if (!form) {
      weft__free(h);
      return NULL;
    }
    ro.body = form;
    ro.body_len = strlen(form);
    ctype = "application/x-www-form-urlencoded";
  } else if (o->json_text) {
    ro.body = o->json_text;
    ro.body_len = strlen(o->json_text);
    ctype = "application/json";
  } else if (o->body) {
    ro.body = o->body;
    ro.body_len = o->body_len;
  }
  /* The body's own type, unless the caller's headers name one (one Content-Type, theirs). */
  bool caller_type = false;
  for (size_t i = 0; i < o->nheaders; i++) caller_type |= strcasecmp(o->headers[i].name, "Content-Type") == 0;
  if (ctype && !caller_type) h[nh++] = (weft_http_header){"Content-Type", ctype};
  if (o->user) { /* h has room: nheaders + 2 */
    const char *pw = o->password ? o->password : "";
    size_t ul = strlen(o->user), pl = strlen(pw), n = ul + 1 + pl;
    char *cred = weft__malloc(n + 1);
    auth = weft__malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (!cred || !auth || n > INT_MAX) {
      weft__free(cred);
      weft__free(auth);
      weft__free(h);
      free(form); /* both from the C library (form_encode's contract, json_dumps) */
      free(json);
      return NULL;
    }
    memcpy(cred, o->user, ul);
    cred[ul] = ':';
    memcpy(cred + ul + 1, pw, pl);
    memcpy(auth, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)auth + 6, (const unsigned char *)cred, (int)n);
    OPENSSL_cleanse(cred, n);
    weft__free(cred);
    h[nh++] = (weft_http_header){"Authorization", auth};
  }
  ro.headers = h;
  ro.nheaders = nh;
  ro.timeout = o->timeout;
  ro.follow_redirects = o->follow_redirects;
  ro.max_redirects = o->max_redirects;
  weft_deferred *d = weft_http_agent_request(agent, method, url, &ro); /* copies everything */
  weft__free(h);
  weft__free(auth);
  free(form);
  free(json);
  return d;
}

weft_deferred *weft_http_get(weft_http_agent *a, const char *url, const weft_http_opts *o) {
  return weft_http_send(a, "GET", url, o);
}
weft_deferred *weft_http_post(weft_http_agent *a, const char *url, const weft_http_opts *o) {
  return weft_http_send(a, "POST", url, o);
}
weft_deferred *weft_http_put(weft_http_agent *a, const char *url, const weft_http_opts *o) {
  return weft_http_send(a, "PUT", url, o);
}
weft_deferred *weft_http_delete(weft_http_agent *a, const char *url, const weft_http_opts *o) {
  return weft_http_send(a, "DELETE", url, o);
}

static weft_value free_resp(weft_value v, void *arg) {
  weft_http_response_free(arg);
  return v;
}

weft_deferred *weft_http_content(weft_http_response *resp) {
  weft_deferred *d = weft_http_response_content(resp, 0);
  if (d) weft_deferred_add_both(d, free_resp, resp);
  return d;
}

static weft_value to_text(weft_value v, void *arg) {
  (void)arg;
  weft_http_bytes *b = v.v.p;
  /* the caller frees it with free(3), as documented: a copy from the C library, for the bytes
   * are weft's own block (a user allocator's, when one is set) */
  char *s = malloc(b->len + 1);
  if (s) memcpy(s, b->data, b->len + 1);
  weft_value_release(v);
  return s ? weft_ptr(s, free) : weft_failed(weft_failure_from_error(WEFT_ENOMEM));
}

weft_deferred *weft_http_text(weft_http_response *resp) {
  weft_deferred *d = weft_http_content(resp);
  if (d) weft_deferred_add_callback(d, to_text, NULL);
  return d;
}
