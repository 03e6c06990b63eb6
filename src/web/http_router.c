/* http_router.c: routes and mounted sub-routers over the HTTP server (Klein's app.route);
 * resource trees mounted on a router are in http_resource.c, virtual hosts in http_vhosts.c. */
#include <stdlib.h>
#include <string.h>

#include "web/http_internal.h" /* route parameters into thread-pool snapshots */
#include "weft/errors.h"
#include "weft/http_router.h"
#include "web/http_router_internal.h"

enum { CONV_LIT, CONV_INT, CONV_STR, CONV_PATH };
enum { CALL_PLAIN, CALL_DEFERRED, CALL_CORO, CALL_THREAD };
enum { E_ROUTE, E_MOUNT, E_RESOURCE };
enum { MAX_DEPTH = 32 };

typedef struct pseg {
  int conv;
  char *text; /* the literal, or the parameter's name */
  size_t len;
} pseg;

typedef struct entry {
  int kind;
  pseg *segs;
  size_t nsegs;
  char **methods; /* NULL with any set: every method */
  size_t nmethods;
  bool any;
  int call; /* how fn, dfn or cfn is called */
  weft_http_route_fn fn;
  weft_http_route_deferred_fn dfn;
  weft_http_route_coro_fn cfn;
  weft_http_thread_fn tfn;
  void *user;
  bool stream; /* called before the body (stream_bodies); other routes get it collected */
  char *prefix; /* mounts: without a trailing '/', "" for the root */
  size_t prefix_len;
  weft_http_router *sub;
  weft_http_resource *res;
} entry;

struct weft_http_router {
  entry *e;
  size_t n, cap;
};


char *weft__router_dup(const char *s, size_t n) {
  char *d = weft__malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

bool weft__router_slice_eq(const char *a, size_t alen, const char *b) { return strlen(b) == alen && memcmp(a, b, alen) == 0; }

/* ---- the match ---- */

static const param *find_param(const weft_http_match *m, const char *name) {
  for (size_t i = 0; i < m->nparams; i++)
    if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
  return NULL;
}

int weft_http_route_param_int(const weft_http_match *m, const char *name, int64_t *v) {
  const param *p = find_param(m, name);
  if (!p) return WEFT_ENOENT;
  if (!p->is_int) return WEFT_EINVAL;
  *v = p->i;
  return 0;
}

int weft_http_route_param_str(const weft_http_match *m, const char *name, const char **p, size_t *len) {
  const param *q = find_param(m, name);
  if (!q) return WEFT_ENOENT;
  *p = q->p;
  *len = q->len;
  return 0;
}

size_t weft_http_match_segment_count(const weft_http_match *m) { return m->nsegs; }

int weft_http_match_segment(const weft_http_match *m, size_t i, const char **p, size_t *len) {
  if (i >= m->nsegs) return WEFT_ERANGE;
  *p = m->seg_p[i];
  *len = m->seg_len[i];
  return 0;
}

const char *weft_http_match_rest(const weft_http_match *m, size_t *len) {
  *len = m->rest_len;
  return m->rest ? m->rest : "";
}

/* ---- 404 and 405 ---- */

void weft__router_allow_add(weft__allow *a, const char *m, size_t len) {
  for (size_t i = 0; i < a->n; i++)
    if (a->len[i] == len && memcmp(a->m[i], m, len) == 0) return;
  if (a->n == MAX_ALLOW) return;
  a->m[a->n] = m;
  a->len[a->n++] = len;
}

static void answer_not_found(weft_http_request *req) {
  static const char body[] = "Not Found\n";
  static const weft_http_header ct = {"Content-Type", "text/plain; charset=utf-8"};
  weft_http_respond(req, 404, &ct, 1, body, sizeof body - 1);
}

static void answer_not_allowed(weft_http_request *req, const weft__allow *a) {
  static const char body[] = "Method Not Allowed\n";
  char list[MAX_ALLOW * 24];
  size_t n = 0;
  for (size_t i = 0; i < a->n && n + a->len[i] + 3 < sizeof list; i++) {
    if (i) list[n++] = ',', list[n++] = ' ';
    memcpy(list + n, a->m[i], a->len[i]);
    n += a->len[i];
  }
  list[n] = '\0';
  weft_http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"}, {"Allow", list}};
  weft_http_respond(req, 405, h, 2, body, sizeof body - 1);
}

/* ---- patterns ---- */

static void entry_clear(entry *e) {
  for (size_t i = 0; i < e->nsegs; i++) weft__free(e->segs[i].text);
  weft__free(e->segs);
  for (size_t i = 0; i < e->nmethods; i++) weft__free(e->methods[i]);
  weft__free(e->methods);
  weft__free(e->prefix);
}

/* Parses one pattern segment (between slashes) into s. */
static int parse_seg(const char *p, size_t n, pseg *s) {
  s->conv = CONV_LIT;
  const char *name = p;
  size_t nlen = n;
  if (n > 0 && p[0] == '<') {
    if (n < 3 || p[n - 1] != '>') return WEFT_EINVAL;
    name = p + 1;
    nlen = n - 2;
    const char *colon = memchr(name, ':', nlen);
    s->conv = CONV_STR;
    if (colon) {
      size_t tl = (size_t)(colon - name);
      if (tl == 3 && memcmp(name, "int", 3) == 0) s->conv = CONV_INT;
      else if (tl == 4 && memcmp(name, "path", 4) == 0) s->conv = CONV_PATH;
      else if (!(tl == 6 && memcmp(name, "string", 6) == 0)) return WEFT_EINVAL;
      nlen -= tl + 1;
      name = colon + 1;
    }
    if (nlen == 0 || memchr(name, '<', nlen) || memchr(name, '>', nlen) || memchr(name, ':', nlen)) return WEFT_EINVAL;
  } else if (memchr(p, '<', n) || memchr(p, '>', n)) {
    return WEFT_EINVAL;
  }
  s->text = weft__router_dup(name, nlen);
  s->len = nlen;
  return s->text ? 0 : WEFT_ENOMEM;
}

static int parse_pattern(entry *e, const char *pattern) {
  if (pattern[0] != '/') return WEFT_EINVAL;
  size_t count = 1, nparams = 0;
  for (const char *q = pattern + 1; *q; q++) count += *q == '/';
  e->segs = weft__calloc(count, sizeof *e->segs);
  if (!e->segs) return WEFT_ENOMEM;
  const char *p = pattern + 1;
  for (size_t i = 0; i < count; i++) {
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    int rc = parse_seg(p, n, &e->segs[i]);
    if (rc) return rc;
    e->nsegs++;
    pseg *s = &e->segs[i];
    if (s->conv != CONV_LIT) {
      if (nparams == WEFT_HTTP_ROUTE_MAX_PARAMS || (s->conv == CONV_PATH && i + 1 != count)) return WEFT_EINVAL;
      for (size_t j = 0; j < i; j++)
        if (e->segs[j].conv != CONV_LIT && strcmp(e->segs[j].text, s->text) == 0) return WEFT_EINVAL;
      nparams++;
    }
    p += n + 1;
  }
  return 0;
}

static int parse_methods(entry *e, const char *methods) {
  if (!methods || strcmp(methods, "*") == 0) {
    e->any = true;
    return 0;
  }
  size_t count = 1;
  for (const char *q = methods; *q; q++) count += *q == ',';
  e->methods = weft__calloc(count, sizeof *e->methods);
  if (!e->methods) return WEFT_ENOMEM;
  for (const char *p = methods;;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *a = p, *b = end;
    while (a < b && *a == ' ') a++;
    while (b > a && b[-1] == ' ') b--;
    if (a == b) return WEFT_EINVAL;
    if (!(e->methods[e->nmethods] = weft__router_dup(a, (size_t)(b - a)))) return WEFT_ENOMEM;
    e->nmethods++;
    if (!*end) break;
    p = end + 1;
  }
  return 0;
}

/* ---- routers ---- */

int weft_http_router_new(weft_http_router **out) {
  *out = weft__calloc(1, sizeof **out);
  return *out ? 0 : WEFT_ENOMEM;
}

void weft_http_router_free(weft_http_router *rt) {
  if (!rt) return;
  for (size_t i = 0; i < rt->n; i++) entry_clear(&rt->e[i]);
  weft__free(rt->e);
  weft__free(rt);
}

static int push_entry(weft_http_router *rt, entry *e) {
  if (rt->n == rt->cap) {
    size_t cap = rt->cap ? rt->cap * 2 : 8;
    entry *ne = weft__realloc(rt->e, cap * sizeof *ne);
    if (!ne) return WEFT_ENOMEM;
    rt->e = ne;
    rt->cap = cap;
  }
  rt->e[rt->n++] = *e;
  return 0;
}

static int add_route(weft_http_router *rt, const char *methods, const char *pattern, entry e) {
  int rc = parse_pattern(&e, pattern);
  if (!rc) rc = parse_methods(&e, methods);
  if (!rc) rc = push_entry(rt, &e);
  if (rc) entry_clear(&e);
  return rc;
}

int weft_http_router_add(weft_http_router *rt, const char *methods, const char *pattern, weft_http_route_fn fn,
                         void *user) {
  if (!pattern || !fn) return WEFT_EINVAL;
  return add_route(rt, methods, pattern, (entry){.kind = E_ROUTE, .fn = fn, .user = user});
}

int weft_http_router_add_deferred(weft_http_router *rt, const char *methods, const char *pattern,
                                  weft_http_route_deferred_fn fn, void *user) {
  if (!pattern || !fn) return WEFT_EINVAL;
  return add_route(rt, methods, pattern, (entry){.kind = E_ROUTE, .call = CALL_DEFERRED, .dfn = fn, .user = user});
}

int weft_http_router_add_coro(weft_http_router *rt, const char *methods, const char *pattern,
                              weft_http_route_coro_fn fn, void *user) {
  if (!pattern || !fn) return WEFT_EINVAL;
  return add_route(rt, methods, pattern, (entry){.kind = E_ROUTE, .call = CALL_CORO, .cfn = fn, .user = user});
}

int weft_http_router_add_thread(weft_http_router *rt, const char *methods, const char *pattern,
                                weft_http_thread_fn fn, void *user) {
  if (!pattern || !fn) return WEFT_EINVAL;
  return add_route(rt, methods, pattern, (entry){.kind = E_ROUTE, .call = CALL_THREAD, .tfn = fn, .user = user});
}

int weft_http_router_add_streaming(weft_http_router *rt, const char *methods, const char *pattern,
                                   weft_http_route_fn fn, void *user) {
  if (!pattern || !fn) return WEFT_EINVAL;
  return add_route(rt, methods, pattern, (entry){.kind = E_ROUTE, .fn = fn, .user = user, .stream = true});
}

static int add_mount(weft_http_router *rt, const char *prefix, int kind, weft_http_router *sub,
                     weft_http_resource *res) {
  if (!prefix || (prefix[0] != '/' && prefix[0] != '\0') || sub == rt) return WEFT_EINVAL;
  size_t n = strlen(prefix);
  while (n > 0 && prefix[n - 1] == '/') n--;
  entry e = {.kind = kind, .sub = sub, .res = res, .prefix_len = n};
  if (!(e.prefix = weft__router_dup(prefix, n))) return WEFT_ENOMEM;
  int rc = push_entry(rt, &e);
  if (rc) entry_clear(&e);
  return rc;
}

int weft_http_router_mount(weft_http_router *rt, const char *prefix, weft_http_router *sub) {
  if (!sub) return WEFT_EINVAL;
  return add_mount(rt, prefix, E_MOUNT, sub, NULL);
}

int weft_http_router_mount_resource(weft_http_router *rt, const char *prefix, weft_http_resource *res) {
  if (!res) return WEFT_EINVAL;
  return add_mount(rt, prefix, E_RESOURCE, NULL, res);
}

/* Converts one path segment for an <int:> parameter: an optional '-', digits, within int64_t. */
static bool parse_int(const char *p, size_t n, int64_t *out) {
  bool neg = n > 0 && p[0] == '-';
  size_t i = neg ? 1 : 0;
  if (i == n) return false;
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    unsigned d = (unsigned)(p[i] - '0');
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return true;
}

/* Matches path against e's pattern, appending its parameters to m (left as found on no match). */
static bool match_pattern(const entry *e, const char *path, size_t len, weft_http_match *m) {
  if (len == 0 || path[0] != '/') return false;
  size_t base = m->nparams, pos = 1;
  for (size_t i = 0; i < e->nsegs; i++) {
    const pseg *s = &e->segs[i];
    const char *seg = path + pos;
    size_t n;
    if (s->conv == CONV_PATH) {
      n = len - pos;
    } else {
      const char *slash = memchr(seg, '/', len - pos);
      n = slash ? (size_t)(slash - seg) : len - pos;
      bool last = i + 1 == e->nsegs;
      if (last != (slash == NULL)) goto fail;
    }
    if (s->conv == CONV_LIT) {
      if (n != s->len || memcmp(seg, s->text, n) != 0) goto fail;
    } else {
      param *p = &m->params[m->nparams];
      *p = (param){.name = s->text, .p = seg, .len = n};
      if (n == 0) goto fail;
      if (s->conv == CONV_INT && !(p->is_int = parse_int(seg, n, &p->i))) goto fail;
      m->nparams++;
    }
    pos += n + 1;
  }
  return true;
fail:
  m->nparams = base;
  return false;
}

static bool method_matches(const entry *e, const char *m, size_t len, weft__allow *a) {
  if (e->any) return true;
  bool head = weft__router_slice_eq(m, len, "HEAD");
  for (size_t i = 0; i < e->nmethods; i++)
    if (weft__router_slice_eq(m, len, e->methods[i]) || (head && strcmp(e->methods[i], "GET") == 0)) return true;
  for (size_t i = 0; i < e->nmethods; i++) {
    weft__router_allow_add(a, e->methods[i], strlen(e->methods[i]));
    if (strcmp(e->methods[i], "GET") == 0) weft__router_allow_add(a, "HEAD", 4);
  }
  return false;
}

/* What a coroutine route starts with; it lives on the router's stack, so the coroutine copies it
 * before anything else (it runs at once, inside weft_coro_start). */
typedef struct coro_args {
  const entry *e;
  weft_http_request *req;
  const weft_http_match *m;
} coro_args;

static weft_value coro_body(weft_coro *co, void *arg) {
  coro_args a = *(coro_args *)arg;
  return a.e->cfn(co, a.req, a.m, a.e->user);
}

static void call_route(const entry *e, weft_http_request *req, const weft_http_match *m) {
  if (e->call == CALL_PLAIN) {
    e->fn(req, m, e->user);
    return;
  }
  if (e->call == CALL_THREAD) {
    weft__http_param ps[WEFT_HTTP_ROUTE_MAX_PARAMS];
    for (size_t i = 0; i < m->nparams; i++) ps[i] = (weft__http_param){m->params[i].name, m->params[i].p, m->params[i].len};
    weft__http_run_in_thread(req, e->tfn, e->user, ps, m->nparams);
    return;
  }
  weft_deferred *d = NULL;
  if (e->call == CALL_DEFERRED) {
    d = e->dfn(req, m, e->user);
  } else {
    coro_args a = {e, req, m};
    if (weft_coro_start(&d, weft_http_request_reactor(req), coro_body, &a, NULL) != 0) d = NULL;
  }
  /* Answered through req already (or no Deferred: 500): answer_deferred sorts it out. */
  weft_http_request_answer_deferred(req, d);
}

/* Tries rt's entries in order on path; true once one has taken req. */
static bool router_dispatch(weft_http_router *rt, weft_http_request *req, const char *path, size_t len,
                            weft_http_match *m, weft__allow *a, int depth) {
  size_t mlen;
  const char *method = weft_http_request_method(req, &mlen);
  if (depth > MAX_DEPTH) return false;
  for (size_t i = 0; i < rt->n; i++) {
    entry *e = &rt->e[i];
    if (e->kind == E_ROUTE) {
      size_t base = m->nparams;
      if (!match_pattern(e, path, len, m)) continue;
      if (method_matches(e, method, mlen, a)) {
        if (m->probe) m->probe_stream = e->stream;
        else call_route(e, req, m);
        return true;
      }
      m->nparams = base;
      continue;
    }
    if (len < e->prefix_len || memcmp(path, e->prefix, e->prefix_len) != 0) continue;
    const char *sub = path + e->prefix_len;
    size_t sublen = len - e->prefix_len;
    if (sublen == 0) sub = "/", sublen = 1;
    else if (sub[0] != '/') continue;
    if (e->kind == E_MOUNT ? router_dispatch(e->sub, req, sub, sublen, m, a, depth + 1)
                           : weft__resource_route(e->res, req, sub, sublen, m, a))
      return true;
  }
  return false;
}

static void router_handler(weft_http_request *req, void *user);

void weft_http_router_route(weft_http_router *rt, weft_http_request *req) {
  weft_http_match m = {0};
  weft__allow a = {.n = 0};
  size_t len;
  const char *path = weft_http_request_path(req, &len);
  /* Called before the body (stream_bodies): only streaming routes take it now; for the others
   * it is collected and the request routed again once it is whole. */
  m.probe = weft_http_request_body_pending(req);
  if (router_dispatch(rt, req, path, len, &m, &a, 0)) {
    if (!m.probe) return;
    if (!m.probe_stream) {
      weft_http_request_body_collect(req, router_handler, rt);
      return;
    }
    m = (weft_http_match){0};
    router_dispatch(rt, req, path, len, &m, &a, 0);
    return;
  }
  if (a.n) answer_not_allowed(req, &a);
  else answer_not_found(req);
}

static void router_handler(weft_http_request *req, void *user) { weft_http_router_route(user, req); }

weft_http_handler_binding weft_http_router_handler(weft_http_router *rt) {
  return (weft_http_handler_binding){router_handler, rt};
}
