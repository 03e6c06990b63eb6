/* test_http_router.c: routes, mounts, resource trees and virtual hosts (src/web/http_router.c),
 * driven through the HTTP server over the test kit's string transport. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/testing.h"

/* ---- fixture: a memory reactor, a server, one string-transport connection ---- */

typedef struct fixture {
  weft_reactor *r;
  weft_http_server *srv;
  weft_string_transport *st;
  weft_logged_errors *errors;
} fixture;

static void setup(fixture *f, weft_http_handler_binding b) {
  memset(f, 0, sizeof *f);
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  f->errors = weft_logged_errors_capture(weft_reactor_log(f->r));
  REQUIRE(f->errors);
  REQUIRE(weft_http_server_new(&f->srv, f->r, NULL) == 0);
  weft_http_server_set_handler(f->srv, b.fn, b.user);
  REQUIRE(weft_string_transport_new(&f->st, f->r) == 0);
  REQUIRE(weft_string_transport_attach_factory(f->st, weft_http_server_factory(f->srv)) == 0);
}

static void teardown(fixture *f) {
  weft_string_transport_free(f->st);
  CHECK_INT(weft_http_server_connections(f->srv), 0);
  weft_http_server_free(f->srv);
  CHECK_INT(weft_logged_errors_count(f->errors), 0);
  weft_logged_errors_free(f->errors);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  CHECK_INT(weft_reactor_free(f->r), 0);
}

/* Sends one request and returns the response's status, copying its Allow header (or "") and
 * body into the buffers; clears the transport's output for the next request. */
static char allow_hdr[256], body_buf[512];

static int request(fixture *f, const char *method, const char *target, const char *host) {
  char req[512];
  snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, target, host ? host : "test");
  CHECK_INT(weft_string_transport_feed(f->st, req, strlen(req)), 0);
  const char *o = weft_string_transport_value(f->st);
  int status = 0;
  sscanf(o, "HTTP/1.1 %d", &status);
  allow_hdr[0] = body_buf[0] = '\0';
  const char *a = strstr(o, "\r\nAllow: ");
  const char *end = strstr(o, "\r\n\r\n");
  if (a && (!end || a < end)) sscanf(a + 9, "%255[^\r]", allow_hdr);
  if (end) snprintf(body_buf, sizeof body_buf, "%s", end + 4);
  weft_string_transport_clear(f->st);
  return status;
}

static void reply(weft_http_request *req, const char *text) {
  CHECK_INT(weft_http_respond(req, 200, NULL, 0, text, strlen(text)), 0);
}

/* Answers "<tag> k=v..." for every parameter named in user ("id,name"). */
static void show(weft_http_request *req, const weft_http_match *m, void *user) {
  char out[256], names[64];
  snprintf(names, sizeof names, "%s", (const char *)user);
  size_t n = (size_t)snprintf(out, sizeof out, "%s", names);
  for (char *save = NULL, *k = strtok_r(names, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
    int64_t v;
    const char *p;
    size_t len;
    if (weft_http_route_param_int(m, k, &v) == 0) n += (size_t)snprintf(out + n, sizeof out - n, " %s=%" PRId64, k, v);
    else if (weft_http_route_param_str(m, k, &p, &len) == 0)
      n += (size_t)snprintf(out + n, sizeof out - n, " %s='%.*s'", k, (int)len, p);
  }
  reply(req, out);
}

static void test_int_params(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/items/<int:id>", show, "id"), 0);
  fixture f;
  setup(&f, weft_http_router_handler(rt));
  CHECK_INT(request(&f, "GET", "/items/42", NULL), 200);
  CHECK_STR(body_buf, "id id=42");
  CHECK_INT(request(&f, "GET", "/items/-7", NULL), 200);
  CHECK_STR(body_buf, "id id=-7");
  CHECK_INT(request(&f, "GET", "/items/9223372036854775807", NULL), 200);
  CHECK_STR(body_buf, "id id=9223372036854775807");
  CHECK_INT(request(&f, "GET", "/items/-9223372036854775808", NULL), 200);
  CHECK_STR(body_buf, "id id=-9223372036854775808");
  CHECK_INT(request(&f, "GET", "/items/9223372036854775808", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items/-9223372036854775809", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items/12a", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items/-", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items/+5", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items/", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items/5/x", NULL), 404);
  CHECK_INT(request(&f, "GET", "/items", NULL), 404);
  teardown(&f);
  weft_http_router_free(rt);
}

static void test_string_vs_path(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/s/<string:name>", show, "s,name"), 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/u/<name>/info", show, "u,name"), 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/p/<path:rest>", show, "p,rest"), 0);
  fixture f;
  setup(&f, weft_http_router_handler(rt));
  CHECK_INT(request(&f, "GET", "/s/abc", NULL), 200);
  CHECK_STR(body_buf, "s,name name='abc'");
  CHECK_INT(request(&f, "GET", "/s/a%20b", NULL), 200); /* a slice of the decoded path */
  CHECK_STR(body_buf, "s,name name='a b'");
  CHECK_INT(request(&f, "GET", "/s/a/b", NULL), 404);
  CHECK_INT(request(&f, "GET", "/s/", NULL), 404);
  CHECK_INT(request(&f, "GET", "/u/bob/info", NULL), 200);
  CHECK_STR(body_buf, "u,name name='bob'");
  CHECK_INT(request(&f, "GET", "/p/a/b/c.txt", NULL), 200);
  CHECK_STR(body_buf, "p,rest rest='a/b/c.txt'");
  CHECK_INT(request(&f, "GET", "/p/x/", NULL), 200);
  CHECK_STR(body_buf, "p,rest rest='x/'");
  CHECK_INT(request(&f, "GET", "/p/", NULL), 404);
  teardown(&f);
  weft_http_router_free(rt);
}

static void test_bad_patterns(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "items", show, ""), WEFT_EINVAL);
  CHECK_INT(weft_http_router_add(rt, "GET", "/<float:x>", show, ""), WEFT_EINVAL);
  CHECK_INT(weft_http_router_add(rt, "GET", "/<int:x", show, ""), WEFT_EINVAL);
  CHECK_INT(weft_http_router_add(rt, "GET", "/<int:>", show, ""), WEFT_EINVAL);
  CHECK_INT(weft_http_router_add(rt, "GET", "/<path:x>/y", show, ""), WEFT_EINVAL);
  CHECK_INT(weft_http_router_add(rt, "GET", "/<x>/<int:x>", show, ""), WEFT_EINVAL);
  CHECK_INT(weft_http_router_add(rt, "GET,", "/a", show, ""), WEFT_EINVAL);
  weft_http_router_free(rt);
}

static void test_405_allow_and_head(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/thing/<int:id>", show, "get"), 0);
  CHECK_INT(weft_http_router_add(rt, "PUT, DELETE", "/thing/<int:id>", show, "put"), 0);
  CHECK_INT(weft_http_router_add(rt, "POST,PUT", "/thing/<string:s>", show, "post"), 0);
  fixture f;
  setup(&f, weft_http_router_handler(rt));
  CHECK_INT(request(&f, "PATCH", "/thing/3", NULL), 405);
  CHECK_STR(allow_hdr, "GET, HEAD, PUT, DELETE, POST");
  CHECK_INT(request(&f, "PATCH", "/thing/x", NULL), 405); /* only the string route's path matches */
  CHECK_STR(allow_hdr, "POST, PUT");
  CHECK_INT(request(&f, "DELETE", "/thing/3", NULL), 200);
  CHECK_STR(body_buf, "put");
  CHECK_INT(request(&f, "POST", "/thing/3", NULL), 200); /* a later route with the method wins */
  CHECK_STR(body_buf, "post");
  CHECK_INT(request(&f, "HEAD", "/thing/3", NULL), 200); /* GET answers HEAD, without a body */
  CHECK_STR(body_buf, "");
  CHECK_STR(allow_hdr, "");
  CHECK_INT(request(&f, "GET", "/other", NULL), 404);
  teardown(&f);
  weft_http_router_free(rt);
}

static void test_order_of_routes(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/a/new", show, "literal"), 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/a/<name>", show, "param,name"), 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/a/old", show, "never"), 0);
  CHECK_INT(weft_http_router_add(rt, "*", "/any", show, "any"), 0);
  fixture f;
  setup(&f, weft_http_router_handler(rt));
  CHECK_INT(request(&f, "GET", "/a/new", NULL), 200);
  CHECK_STR(body_buf, "literal");
  CHECK_INT(request(&f, "GET", "/a/old", NULL), 200);
  CHECK_STR(body_buf, "param,name name='old'");
  CHECK_INT(request(&f, "BREW", "/any", NULL), 200);
  CHECK_STR(body_buf, "any");
  teardown(&f);
  weft_http_router_free(rt);
}

static void test_mounts(void) {
  weft_http_router *rt, *api, *v1;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_new(&api) == 0);
  REQUIRE(weft_http_router_new(&v1) == 0);
  CHECK_INT(weft_http_router_add(v1, "GET", "/users/<int:id>", show, "v1,id"), 0);
  CHECK_INT(weft_http_router_add(api, "GET", "/", show, "api-root"), 0);
  CHECK_INT(weft_http_router_add(api, "POST", "/echo", show, "api-echo"), 0);
  CHECK_INT(weft_http_router_mount(api, "/v1/", v1), 0);
  CHECK_INT(weft_http_router_mount(rt, "/api", api), 0);
  CHECK_INT(weft_http_router_add(rt, "GET", "/<path:p>", show, "fallback,p"), 0);
  CHECK_INT(weft_http_router_mount(rt, "api", api), WEFT_EINVAL);
  CHECK_INT(weft_http_router_mount(rt, "/x", rt), WEFT_EINVAL);
  fixture f;
  setup(&f, weft_http_router_handler(rt));
  CHECK_INT(request(&f, "GET", "/api", NULL), 200);
  CHECK_STR(body_buf, "api-root");
  CHECK_INT(request(&f, "GET", "/api/", NULL), 200);
  CHECK_STR(body_buf, "api-root");
  CHECK_INT(request(&f, "GET", "/api/v1/users/-3", NULL), 200);
  CHECK_STR(body_buf, "v1,id id=-3");
  CHECK_INT(request(&f, "GET", "/apix", NULL), 200); /* not under the prefix */
  CHECK_STR(body_buf, "fallback,p p='apix'");
  CHECK_INT(request(&f, "GET", "/api/v1/users/x", NULL), 200); /* falls through to the next entry */
  CHECK_STR(body_buf, "fallback,p p='api/v1/users/x'");
  CHECK_INT(request(&f, "GET", "/api/echo", NULL), 200); /* the outer fallback has GET */
  CHECK_STR(body_buf, "fallback,p p='api/echo'");
  CHECK_INT(request(&f, "PUT", "/api/echo", NULL), 405); /* Allow gathers across the mount */
  CHECK_STR(allow_hdr, "POST, GET, HEAD");
  teardown(&f);
  weft_http_router_free(rt);
  weft_http_router_free(api);
  weft_http_router_free(v1);
}

/* ---- resource trees ---- */

static void render_name(weft_http_request *req, weft_http_resource *res, const weft_http_match *m, void *user) {
  (void)res;
  char out[256];
  size_t n = (size_t)snprintf(out, sizeof out, "%s", (const char *)user);
  for (size_t i = 0; i < weft_http_match_segment_count(m); i++) {
    const char *p;
    size_t len;
    CHECK_INT(weft_http_match_segment(m, i, &p, &len), 0);
    n += (size_t)snprintf(out + n, sizeof out - n, " [%.*s]", (int)len, p);
  }
  size_t rl;
  const char *rest = weft_http_match_rest(m, &rl);
  if (rl) snprintf(out + n, sizeof out - n, " rest=%.*s", (int)rl, rest);
  reply(req, out);
}

static weft_http_resource *item_res;

/* Dynamic children: any all-digit segment is an item. */
static weft_http_resource *items_child(weft_http_resource *res, const char *seg, size_t len, weft_http_request *req,
                                       void *user) {
  (void)res, (void)req, (void)user;
  if (len == 0) return NULL;
  for (size_t i = 0; i < len; i++)
    if (seg[i] < '0' || seg[i] > '9') return NULL;
  return item_res;
}

static weft_http_resource *node(const char *name) {
  weft_http_resource *r;
  REQUIRE(weft_http_resource_new(&r, (void *)name) == 0);
  return r;
}

static void test_resource_tree(void) {
  weft_http_resource *root = node("root"), *items = node("items"), *docs = node("docs"), *mid = node("mid");
  item_res = node("item");
  CHECK_INT(weft_http_resource_set_render(root, "GET", render_name), 0);
  CHECK_INT(weft_http_resource_set_render(items, "GET", render_name), 0);
  CHECK_INT(weft_http_resource_set_render(item_res, "GET", render_name), 0);
  CHECK_INT(weft_http_resource_set_render(item_res, "DELETE", render_name), 0);
  CHECK_INT(weft_http_resource_set_render(docs, "GET", render_name), 0);
  weft_http_resource_set_leaf(docs, true);
  weft_http_resource_set_get_child(items, items_child);
  CHECK_INT(weft_http_resource_put_child(root, "items", items), 0);
  CHECK_INT(weft_http_resource_put_child(root, "docs", docs), 0);
  CHECK_INT(weft_http_resource_put_child(root, "mid", mid), 0);
  CHECK_INT(weft_http_resource_put_child(root, "mid", mid), WEFT_EINVAL); /* already owned */
  weft_http_resource *stray = node("x");
  CHECK_INT(weft_http_resource_put_child(root, "a/b", stray), WEFT_EINVAL); /* not taken */
  weft_http_resource_free(stray);
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  CHECK_INT(weft_http_router_mount_resource(rt, "/site", root), 0);
  fixture f;
  setup(&f, weft_http_router_handler(rt));
  CHECK_INT(request(&f, "GET", "/site", NULL), 200);
  CHECK_STR(body_buf, "root");
  CHECK_INT(request(&f, "GET", "/site/items", NULL), 200);
  CHECK_STR(body_buf, "items [items]");
  CHECK_INT(request(&f, "GET", "/site/items/", NULL), 200); /* trailing slash, no "" child */
  CHECK_STR(body_buf, "items [items]");
  CHECK_INT(request(&f, "GET", "/site/items/17", NULL), 200);
  CHECK_STR(body_buf, "item [items] [17]");
  CHECK_INT(request(&f, "GET", "/site/items/x", NULL), 404);
  CHECK_INT(request(&f, "PUT", "/site/items/17", NULL), 405);
  CHECK_STR(allow_hdr, "GET, DELETE, HEAD");
  CHECK_INT(request(&f, "HEAD", "/site/items/17", NULL), 200);
  CHECK_STR(body_buf, "");
  CHECK_INT(request(&f, "GET", "/site/docs/a/b.html", NULL), 200);
  CHECK_STR(body_buf, "docs [docs] rest=a/b.html");
  CHECK_INT(request(&f, "GET", "/site/mid", NULL), 404); /* a node without renderers */
  CHECK_INT(request(&f, "GET", "/site/nope", NULL), 404);
  teardown(&f);
  weft_http_router_free(rt);
  weft_http_resource_free(root);
  weft_http_resource_free(item_res);
}

/* ---- virtual hosts ---- */

static void test_vhosts(void) {
  weft_http_router *a, *b, *d;
  REQUIRE(weft_http_router_new(&a) == 0);
  REQUIRE(weft_http_router_new(&b) == 0);
  REQUIRE(weft_http_router_new(&d) == 0);
  CHECK_INT(weft_http_router_add(a, "GET", "/", show, "a"), 0);
  CHECK_INT(weft_http_router_add(b, "GET", "/", show, "b"), 0);
  CHECK_INT(weft_http_router_add(d, "GET", "/", show, "default"), 0);
  weft_http_vhosts *vh;
  REQUIRE(weft_http_vhosts_new(&vh) == 0);
  CHECK_INT(weft_http_vhosts_add(vh, "example.com", a), 0);
  CHECK_INT(weft_http_vhosts_add(vh, "[::1]", b), 0);
  CHECK_INT(weft_http_vhosts_add(vh, "", b), WEFT_EINVAL);
  fixture f;
  setup(&f, weft_http_vhosts_handler(vh));
  CHECK_INT(request(&f, "GET", "/", "other.org"), 404); /* no default yet */
  weft_http_vhosts_set_default(vh, d);
  CHECK_INT(request(&f, "GET", "/", "example.com"), 200);
  CHECK_STR(body_buf, "a");
  CHECK_INT(request(&f, "GET", "/", "EXAMPLE.Com:8080"), 200);
  CHECK_STR(body_buf, "a");
  CHECK_INT(request(&f, "GET", "/", "[::1]:80"), 200);
  CHECK_STR(body_buf, "b");
  CHECK_INT(request(&f, "GET", "/", "example.com.evil"), 200);
  CHECK_STR(body_buf, "default");
  CHECK_INT(request(&f, "GET", "/", "other.org:80"), 200);
  CHECK_STR(body_buf, "default");
  /* an absolute-form target names the host; Host is ignored then (RFC 9112 section 3.2.2) */
  CHECK_INT(request(&f, "GET", "http://example.com:81/", "other.org"), 200);
  CHECK_STR(body_buf, "a");
  CHECK_INT(request(&f, "GET", "http://someone@[::1]/?q=1", "example.com"), 200);
  CHECK_STR(body_buf, "b");
  CHECK_INT(request(&f, "GET", "http://other.org/", "example.com"), 200);
  CHECK_STR(body_buf, "default");
  teardown(&f);
  weft_http_vhosts_free(vh);
  weft_http_router_free(a);
  weft_http_router_free(b);
  weft_http_router_free(d);
}

int main(void) {
  RUN(test_int_params);
  RUN(test_string_vs_path);
  RUN(test_bad_patterns);
  RUN(test_405_allow_and_head);
  RUN(test_order_of_routes);
  RUN(test_mounts);
  RUN(test_resource_tree);
  RUN(test_vhosts);
  return CHECK_DONE();
}
