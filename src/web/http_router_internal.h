/* http_router_internal.h: what routers (http_router.c) and resource trees (http_resource.c)
 * share: the match a route or resource is given, the methods gathered for a 405's Allow. */
#ifndef WEFT_WEB_HTTP_ROUTER_INTERNAL_H
#define WEFT_WEB_HTTP_ROUTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/http_router.h"

enum { MAX_SEGMENTS = 64, MAX_ALLOW = 32 };

typedef struct param {
  const char *name;
  const char *p;
  size_t len;
  int64_t i;
  bool is_int;
} param;

struct weft_http_match {
  size_t nparams, nsegs;
  param params[WEFT_HTTP_ROUTE_MAX_PARAMS];
  const char *seg_p[MAX_SEGMENTS];
  size_t seg_len[MAX_SEGMENTS];
  const char *rest;
  size_t rest_len;
  bool probe;        /* only find the route: call nothing */
  bool probe_stream; /* ...and say whether it streams its body */
};

/* Methods of the routes whose path matched, for the 405's Allow header. */
typedef struct weft__allow {
  const char *m[MAX_ALLOW];
  size_t len[MAX_ALLOW];
  size_t n;
} weft__allow;

typedef struct kid {
  char *name;
  weft_http_resource *res;
} kid;

typedef struct renderer {
  char *method;
  weft_http_render_fn fn;
} renderer;

struct weft_http_resource {
  void *user;
  kid *kids;
  size_t nkids, kcap;
  renderer *r;
  size_t nr;
  weft_http_get_child_fn get_child;
  bool leaf, owned;
};

/* A NUL-terminated copy of n bytes of s (weft's allocator), or NULL. */
char *weft__router_dup(const char *s, size_t n);

/* True if the alen bytes at a are the string b. */
bool weft__router_slice_eq(const char *a, size_t alen, const char *b);

/* Adds a method (len bytes, borrowed) to a 405's Allow list, once. */
void weft__router_allow_add(weft__allow *a, const char *m, size_t len);

/* Walks res's tree along path (len bytes) and renders the resource found; true once it has taken
 * req. Methods that exist where the path led go into a (for a 405). */
bool weft__resource_route(weft_http_resource *res, weft_http_request *req, const char *path, size_t len,
                          weft_http_match *m, weft__allow *a);

#endif
