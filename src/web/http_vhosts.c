/* http_vhosts.c: virtual hosts (twisted.web.vhost.NameVirtualHost): a router per Host value. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "weft/errors.h"
#include "weft/http_router.h"

typedef struct vhost {
  char *host;
  weft_http_router *rt;
} vhost;

struct weft_http_vhosts {
  vhost *v;
  size_t n;
  weft_http_router *dflt;
};

int weft_http_vhosts_new(weft_http_vhosts **out) {
  *out = weft__calloc(1, sizeof **out);
  return *out ? 0 : WEFT_ENOMEM;
}

void weft_http_vhosts_free(weft_http_vhosts *vh) {
  if (!vh) return;
  for (size_t i = 0; i < vh->n; i++) weft__free(vh->v[i].host);
  weft__free(vh->v);
  weft__free(vh);
}

static bool ieq(const char *a, size_t alen, const char *b) {
  if (strlen(b) != alen) return false;
  for (size_t i = 0; i < alen; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return false;
  }
  return true;
}

int weft_http_vhosts_add(weft_http_vhosts *vh, const char *host, weft_http_router *rt) {
  if (!host || !*host || !rt) return WEFT_EINVAL;
  for (size_t i = 0; i < vh->n; i++) {
    if (!ieq(host, strlen(host), vh->v[i].host)) continue;
    vh->v[i].rt = rt;
    return 0;
  }
  vhost *v = weft__realloc(vh->v, (vh->n + 1) * sizeof *v);
  if (!v) return WEFT_ENOMEM;
  vh->v = v;
  size_t hl = strlen(host) + 1;
  if (!(v[vh->n].host = weft__malloc(hl))) return WEFT_ENOMEM;
  memcpy(v[vh->n].host, host, hl);
  v[vh->n++].rt = rt;
  return 0;
}

void weft_http_vhosts_set_default(weft_http_vhosts *vh, weft_http_router *rt) { vh->dflt = rt; }

/* The host a request names: an absolute-form target's authority wins over Host (RFC 9112
 * section 3.2.2: a server must ignore Host then), less any userinfo; else the Host field. */
static const char *request_host(weft_http_request *req, size_t *len) {
  size_t tl;
  const char *t = weft_http_request_target(req, &tl);
  const char *sep = tl && t[0] != '/' && t[0] != '*' ? memchr(t, ':', tl) : NULL;
  if (sep && (size_t)(t + tl - sep) >= 3 && sep[1] == '/' && sep[2] == '/') {
    const char *a = sep + 3, *end = t + tl, *e = a;
    while (e < end && *e != '/' && *e != '?' && *e != '#') e++;
    const char *at = memchr(a, '@', (size_t)(e - a));
    if (at) a = at + 1;
    *len = (size_t)(e - a);
    return a;
  }
  return weft_http_request_header(req, "Host", len);
}

void weft_http_vhosts_route(weft_http_vhosts *vh, weft_http_request *req) {
  size_t len = 0;
  const char *host = request_host(req, &len);
  weft_http_router *rt = vh->dflt;
  if (host) {
    /* The port goes: after the closing bracket of an IPv6 literal, or from the first ':'. */
    const char *end = host[0] == '[' ? memchr(host, ']', len) : NULL;
    const char *colon = end ? NULL : memchr(host, ':', len);
    if (end) len = (size_t)(end - host) + 1;
    else if (colon) len = (size_t)(colon - host);
    for (size_t i = 0; i < vh->n; i++)
      if (ieq(host, len, vh->v[i].host)) {
        rt = vh->v[i].rt;
        break;
      }
  }
  if (rt) {
    weft_http_router_route(rt, req);
  } else {
    static const weft_http_header ct = {"Content-Type", "text/plain; charset=utf-8"};
    weft_http_respond(req, 404, &ct, 1, "Not Found\n", 10);
  }
}

static void vhosts_handler(weft_http_request *req, void *user) { weft_http_vhosts_route(user, req); }

weft_http_handler_binding weft_http_vhosts_handler(weft_http_vhosts *vh) {
  return (weft_http_handler_binding){vhosts_handler, vh};
}
