/* http_resource.c: twisted.web.resource.Resource trees: children by segment (put_child, or
 * get_child for dynamic ones), leaves that take the rest of the path, renderers per method. They
 * are mounted on a router (weft_http_router_mount_resource), which calls into them. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "web/http_router_internal.h"
#include "weft/errors.h"

int weft_http_resource_new(weft_http_resource **out, void *user) {
  *out = weft__calloc(1, sizeof **out);
  if (!*out) return WEFT_ENOMEM;
  (*out)->user = user;
  return 0;
}

void weft_http_resource_free(weft_http_resource *res) {
  if (!res) return;
  for (size_t i = 0; i < res->nkids; i++) {
    weft__free(res->kids[i].name);
    weft_http_resource_free(res->kids[i].res);
  }
  weft__free(res->kids);
  for (size_t i = 0; i < res->nr; i++) weft__free(res->r[i].method);
  weft__free(res->r);
  weft__free(res);
}

static weft_http_resource *static_child(const weft_http_resource *res, const char *seg, size_t len) {
  for (size_t i = 0; i < res->nkids; i++)
    if (weft__router_slice_eq(seg, len, res->kids[i].name)) return res->kids[i].res;
  return NULL;
}

int weft_http_resource_put_child(weft_http_resource *parent, const char *segment, weft_http_resource *child) {
  if (!segment || !child || child == parent || child->owned || strchr(segment, '/')) return WEFT_EINVAL;
  for (size_t i = 0; i < parent->nkids; i++) {
    if (strcmp(parent->kids[i].name, segment) != 0) continue;
    weft_http_resource_free(parent->kids[i].res);
    parent->kids[i].res = child;
    child->owned = true;
    return 0;
  }
  if (parent->nkids == parent->kcap) {
    size_t cap = parent->kcap ? parent->kcap * 2 : 4;
    kid *k = weft__realloc(parent->kids, cap * sizeof *k);
    if (!k) return WEFT_ENOMEM;
    parent->kids = k;
    parent->kcap = cap;
  }
  char *name = weft__router_dup(segment, strlen(segment));
  if (!name) return WEFT_ENOMEM;
  parent->kids[parent->nkids++] = (kid){name, child};
  child->owned = true;
  return 0;
}

void weft_http_resource_set_get_child(weft_http_resource *res, weft_http_get_child_fn fn) { res->get_child = fn; }

void weft_http_resource_set_leaf(weft_http_resource *res, bool leaf) { res->leaf = leaf; }

void *weft_http_resource_user(const weft_http_resource *res) { return res->user; }

int weft_http_resource_set_render(weft_http_resource *res, const char *method, weft_http_render_fn fn) {
  if (!method || !*method || !fn) return WEFT_EINVAL;
  for (size_t i = 0; i < res->nr; i++) {
    if (strcmp(res->r[i].method, method) != 0) continue;
    res->r[i].fn = fn;
    return 0;
  }
  renderer *r = weft__realloc(res->r, (res->nr + 1) * sizeof *r);
  if (!r) return WEFT_ENOMEM;
  res->r = r;
  if (!(r[res->nr].method = weft__router_dup(method, strlen(method)))) return WEFT_ENOMEM;
  r[res->nr++].fn = fn;
  return 0;
}

static weft_http_render_fn find_renderer(const weft_http_resource *res, const char *m, size_t len) {
  for (size_t i = 0; i < res->nr; i++)
    if (weft__router_slice_eq(m, len, res->r[i].method)) return res->r[i].fn;
  if (weft__router_slice_eq(m, len, "HEAD")) return find_renderer(res, "GET", 3);
  return NULL;
}

/* Renders res for req, or lists its methods in a (405) or reports nothing to render (404). */
static bool render(weft_http_resource *res, weft_http_request *req, weft_http_match *m, weft__allow *a) {
  size_t mlen;
  const char *method = weft_http_request_method(req, &mlen);
  weft_http_render_fn fn = find_renderer(res, method, mlen);
  if (fn) {
    if (!m->probe) fn(req, res, m, res->user); /* resources get their body collected */
    return true;
  }
  for (size_t i = 0; i < res->nr; i++) weft__router_allow_add(a, res->r[i].method, strlen(res->r[i].method));
  if (find_renderer(res, "GET", 3)) weft__router_allow_add(a, "HEAD", 4);
  return false;
}

/* Walks from res down path ("/a/b"), one segment at a time (Twisted's getChildWithDefault). */
bool weft__resource_route(weft_http_resource *res, weft_http_request *req, const char *path, size_t len,
                          weft_http_match *m, weft__allow *a) {
  if (len == 0 || path[0] != '/') return false;
  size_t pos = 1;
  m->nsegs = 0;
  m->rest = NULL;
  m->rest_len = 0;
  while (!res->leaf) {
    const char *seg = path + pos;
    const char *slash = memchr(seg, '/', len - pos);
    size_t n = slash ? (size_t)(slash - seg) : len - pos;
    weft_http_resource *next = static_child(res, seg, n);
    /* A trailing slash with no "" child renders the resource it follows. */
    if (!next && n == 0 && !slash) break;
    if (!next && res->get_child) next = res->get_child(res, seg, n, req, res->user);
    if (!next || m->nsegs == MAX_SEGMENTS) return false;
    m->seg_p[m->nsegs] = seg;
    m->seg_len[m->nsegs++] = n;
    res = next;
    if (!slash) {
      pos = len;
      break;
    }
    pos += n + 1;
  }
  if (res->leaf && pos < len) {
    m->rest = path + pos;
    m->rest_len = len - pos;
  }
  if (res->nr == 0) return false;
  return render(res, req, m, a);
}
