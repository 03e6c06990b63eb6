/* test_http_stub_routing.c: routing through the in-memory client (weft_http_stub_new): Klein
 * routes and their converters, 404/405, HEAD, route order, mounts, resource trees, virtual hosts,
 * Deferred and coroutine routes answering on the clock, and static files through the router. The
 * requests are made with weft_http_get/send, as a user of the client makes them, and every answer
 * is read back through the client (status, headers, body). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_stub_fixture.h"
#include "weft/coro.h"
#include "weft/defer_time.h"
#include "weft/http_router.h"
#include "weft/http_static.h"

/* Answers "<tag> k=v..." for every parameter named in user ("tag,id,name"). */
static void show(weft_http_request *req, const weft_http_match *m, void *user) {
  char out[256], names[64];
  snprintf(names, sizeof names, "%s", (const char *)user);
  char *save = NULL, *k = strtok_r(names, ",", &save);
  size_t n = (size_t)snprintf(out, sizeof out, "%s", k);
  for (k = strtok_r(NULL, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
    int64_t v;
    const char *p;
    size_t len;
    if (weft_http_route_param_int(m, k, &v) == 0) n += (size_t)snprintf(out + n, sizeof out - n, " %s=%" PRId64, k, v);
    else if (weft_http_route_param_str(m, k, &p, &len) == 0)
      n += (size_t)snprintf(out + n, sizeof out - n, " %s='%.*s'", k, (int)len, p);
  }
  weft_http_header ct = {"Content-Type", "text/plain"};
  CHECK_INT(weft_http_respond(req, 200, &ct, 1, out, strlen(out)), 0);
}

/* GET url: checks the status and, when body is not NULL, the body. */
#define EXPECT(s, url, want_status, want_body)                                                    \
  do {                                                                                            \
    stub_answer a_;                                                                               \
    stub_fetch((s), "GET", (url), NULL, &a_);                                                     \
    CHECK_INT(a_.status, (want_status));                                                          \
    if ((want_body) != NULL) CHECK_STR(a_.body, (const char *)(want_body));                      \
    stub_answer_free(&a_);                                                                        \
  } while (0)

static void serve(stub *s, weft_http_handler_binding b) { stub_handler(s, b.fn, b.user); }

static void test_converters(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/items/<int:id>", show, "item,id") == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/users/<string:name>/info", show, "user,name") == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/files/<path:rest>", show, "file,rest") == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_router_handler(rt));
  EXPECT(&s, "http://app.test/items/42", 200, "item id=42");
  EXPECT(&s, "http://app.test/items/-7", 200, "item id=-7");
  EXPECT(&s, "http://app.test/users/bob/info", 200, "user name='bob'");
  EXPECT(&s, "http://app.test/users/a%20b/info", 200, "user name='a b'"); /* decoded */
  EXPECT(&s, "http://app.test/files/a/b/c.txt", 200, "file rest='a/b/c.txt'");
  /* segments that do not convert are no match: 404 from the router */
  EXPECT(&s, "http://app.test/items/12a", 404, NULL);
  EXPECT(&s, "http://app.test/items/99999999999999999999", 404, NULL); /* overflows int64 */
  EXPECT(&s, "http://app.test/items/", 404, NULL);
  EXPECT(&s, "http://app.test/users/a/b/info", 404, NULL); /* <string:> is one segment */
  EXPECT(&s, "http://app.test/files/", 404, NULL);         /* <path:> is not empty */
  /* all on one kept-alive connection: a 404 does not close it */
  CHECK_INT(weft_http_agent_connections_made(s.agent), 1);
  stub_done(&s);
  weft_http_router_free(rt);
}

static void test_405_allow_and_head(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/thing/<int:id>", show, "get,id") == 0);
  REQUIRE(weft_http_router_add(rt, "PUT,DELETE", "/thing/<int:id>", show, "put,id") == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_router_handler(rt));
  stub_answer a;
  stub_fetch(&s, "PATCH", "http://app.test/thing/3", NULL, &a);
  CHECK_INT(a.status, 405);
  CHECK_STR(stub_header(&a, "Allow"), "GET, HEAD, PUT, DELETE");
  stub_answer_free(&a);
  stub_fetch(&s, "DELETE", "http://app.test/thing/3", NULL, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "put id=3");
  stub_answer_free(&a);
  /* HEAD on the GET route: the GET's headers (its length included), no body */
  stub_fetch(&s, "HEAD", "http://app.test/thing/3", NULL, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(stub_header(&a, "Content-Length"), "8"); /* "get id=3" */
  CHECK_STR(stub_header(&a, "Content-Type"), "text/plain");
  CHECK_INT(a.len, 0);
  stub_answer_free(&a);
  /* and the connection is still in step: the next answer is the right one */
  EXPECT(&s, "http://app.test/thing/4", 200, "get id=4");
  CHECK_INT(weft_http_agent_connections_made(s.agent), 1);
  stub_done(&s);
  weft_http_router_free(rt);
}

static void test_order_and_mounts(void) {
  weft_http_router *rt, *api, *v1;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_new(&api) == 0);
  REQUIRE(weft_http_router_new(&v1) == 0);
  /* the first matching route wins: the literal before the parameter, the later literal never */
  REQUIRE(weft_http_router_add(rt, "GET", "/a/new", show, "literal") == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/a/<name>", show, "param,name") == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/a/old", show, "never") == 0);
  REQUIRE(weft_http_router_add(v1, "GET", "/users/<int:id>", show, "v1,id") == 0);
  REQUIRE(weft_http_router_add(api, "GET", "/", show, "api-root") == 0);
  REQUIRE(weft_http_router_add(api, "POST", "/echo", show, "api-echo") == 0);
  REQUIRE(weft_http_router_mount(api, "/v1", v1) == 0);
  REQUIRE(weft_http_router_mount(rt, "/api", api) == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/<path:p>", show, "fallback,p") == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_router_handler(rt));
  EXPECT(&s, "http://app.test/a/new", 200, "literal");
  EXPECT(&s, "http://app.test/a/old", 200, "param name='old'");
  EXPECT(&s, "http://app.test/api", 200, "api-root");
  EXPECT(&s, "http://app.test/api/", 200, "api-root");
  EXPECT(&s, "http://app.test/api/v1/users/-3", 200, "v1 id=-3");
  EXPECT(&s, "http://app.test/apix", 200, "fallback p='apix'"); /* not under the prefix */
  EXPECT(&s, "http://app.test/api/v1/users/x", 200, "fallback p='api/v1/users/x'");
  stub_answer a;
  stub_fetch(&s, "POST", "http://app.test/api/echo", NULL, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "api-echo");
  stub_answer_free(&a);
  stub_fetch(&s, "PUT", "http://app.test/api/echo", NULL, &a); /* Allow gathered across the mount */
  CHECK_INT(a.status, 405);
  CHECK_STR(stub_header(&a, "Allow"), "POST, GET, HEAD");
  stub_answer_free(&a);
  stub_done(&s);
  weft_http_router_free(rt);
  weft_http_router_free(api);
  weft_http_router_free(v1);
}

/* ---- resource trees ---- */

static void render_name(weft_http_request *req, weft_http_resource *res, const weft_http_match *m, void *user) {
  (void)user;
  char out[256];
  size_t n = (size_t)snprintf(out, sizeof out, "%s", (const char *)weft_http_resource_user(res));
  for (size_t i = 0; i < weft_http_match_segment_count(m); i++) {
    const char *p;
    size_t len;
    CHECK_INT(weft_http_match_segment(m, i, &p, &len), 0);
    n += (size_t)snprintf(out + n, sizeof out - n, " [%.*s]", (int)len, p);
  }
  size_t rl;
  const char *rest = weft_http_match_rest(m, &rl);
  if (rl) snprintf(out + n, sizeof out - n, " rest=%.*s", (int)rl, rest);
  CHECK_INT(weft_http_respond(req, 200, NULL, 0, out, strlen(out)), 0);
}

static weft_http_resource *item_res;

/* Dynamic children: an all-digit segment is an item. */
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
  REQUIRE(weft_http_resource_set_render(root, "GET", render_name) == 0);
  REQUIRE(weft_http_resource_set_render(items, "GET", render_name) == 0);
  REQUIRE(weft_http_resource_set_render(item_res, "GET", render_name) == 0);
  REQUIRE(weft_http_resource_set_render(item_res, "DELETE", render_name) == 0);
  REQUIRE(weft_http_resource_set_render(docs, "GET", render_name) == 0);
  weft_http_resource_set_leaf(docs, true);
  weft_http_resource_set_get_child(items, items_child);
  REQUIRE(weft_http_resource_put_child(root, "items", items) == 0);
  REQUIRE(weft_http_resource_put_child(root, "docs", docs) == 0);
  REQUIRE(weft_http_resource_put_child(root, "mid", mid) == 0);
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_mount_resource(rt, "/site", root) == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_router_handler(rt));
  EXPECT(&s, "http://app.test/site", 200, "root");
  EXPECT(&s, "http://app.test/site/items", 200, "items [items]");
  EXPECT(&s, "http://app.test/site/items/17", 200, "item [items] [17]"); /* get_child */
  EXPECT(&s, "http://app.test/site/items/x", 404, NULL);                 /* get_child said no */
  EXPECT(&s, "http://app.test/site/docs/a/b.html", 200, "docs [docs] rest=a/b.html"); /* a leaf */
  EXPECT(&s, "http://app.test/site/mid", 404, NULL); /* a node without renderers */
  EXPECT(&s, "http://app.test/site/nope", 404, NULL);
  stub_answer a;
  stub_fetch(&s, "DELETE", "http://app.test/site/items/5", NULL, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "item [items] [5]");
  stub_answer_free(&a);
  stub_fetch(&s, "PUT", "http://app.test/site/items/5", NULL, &a);
  CHECK_INT(a.status, 405);
  CHECK_STR(stub_header(&a, "Allow"), "GET, DELETE, HEAD");
  stub_answer_free(&a);
  stub_done(&s);
  weft_http_router_free(rt);
  weft_http_resource_free(root);
  weft_http_resource_free(item_res);
}

/* ---- virtual hosts: the client's Host comes from the URL ---- */

static void test_vhosts(void) {
  weft_http_router *a, *b, *d;
  REQUIRE(weft_http_router_new(&a) == 0);
  REQUIRE(weft_http_router_new(&b) == 0);
  REQUIRE(weft_http_router_new(&d) == 0);
  REQUIRE(weft_http_router_add(a, "GET", "/", show, "a") == 0);
  REQUIRE(weft_http_router_add(b, "GET", "/", show, "b") == 0);
  REQUIRE(weft_http_router_add(d, "GET", "/", show, "default") == 0);
  weft_http_vhosts *vh;
  REQUIRE(weft_http_vhosts_new(&vh) == 0);
  REQUIRE(weft_http_vhosts_add(vh, "example.com", a) == 0);
  REQUIRE(weft_http_vhosts_add(vh, "[::1]", b) == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_vhosts_handler(vh));
  EXPECT(&s, "http://other.org/", 404, NULL); /* no default yet */
  weft_http_vhosts_set_default(vh, d);
  EXPECT(&s, "http://example.com/", 200, "a");
  EXPECT(&s, "http://EXAMPLE.com:8080/", 200, "a"); /* Host: example.com:8080, the port stripped */
  EXPECT(&s, "http://[::1]:81/", 200, "b");
  EXPECT(&s, "http://example.com.evil/", 200, "default");
  EXPECT(&s, "http://other.org/", 200, "default");
  /* a Host header given by the caller is the agent's: it cannot pick another vhost */
  stub_answer r;
  const char *h[] = {"Host", "example.com", NULL};
  stub_fetch(&s, "GET", "http://other.org/", h, &r);
  CHECK_STR(r.body, "default");
  stub_answer_free(&r);
  stub_done(&s);
  weft_http_vhosts_free(vh);
  weft_http_router_free(a);
  weft_http_router_free(b);
  weft_http_router_free(d);
}

/* ---- Deferred and coroutine routes, answering on the clock ---- */

static weft_value later_text(weft_value v, void *arg) {
  (void)v;
  return weft_http_response_value(201, "text/plain", arg, strlen(arg));
}

/* /later: a Deferred route answering 3 s later. */
static weft_deferred *later(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  return weft_defer_later(weft_http_request_reactor(req), 3, later_text, user);
}

/* /co/<int:n>: a coroutine that sleeps n seconds, then answers with n. */
static weft_value co_sleep(weft_coro *co, weft_http_request *req, const weft_http_match *m, void *user) {
  (void)req, (void)user;
  int64_t n = 0;
  weft_http_route_param_int(m, "n", &n); /* m is valid only until the first await */
  weft_value v = weft_await(co, weft_sleep(weft_coro_reactor(co), (double)n));
  if (weft_value_is_failure(v)) return v;
  static char text[32];
  snprintf(text, sizeof text, "slept %" PRId64, n);
  return weft_str(text);
}

static void test_deferred_and_coro_routes(void) {
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add_deferred(rt, "GET", "/later", later, "made later") == 0);
  REQUIRE(weft_http_router_add_coro(rt, "GET", "/co/<int:n>", co_sleep, NULL) == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_router_handler(rt));
  weft_deferred *d = weft_http_get(s.agent, "http://app.test/later", NULL);
  stub_turns(&s, 10);
  CHECK(!weft_deferred_called(d)); /* nothing before the clock moves */
  stub_advance(&s, 2.9);
  CHECK(!weft_deferred_called(d));
  stub_advance(&s, 0.2);
  stub_answer a;
  stub_answer_of(&s, d, &a);
  CHECK_INT(a.status, 201);
  CHECK_STR(stub_header(&a, "Content-Type"), "text/plain");
  CHECK_STR(a.body, "made later");
  stub_answer_free(&a);
  d = weft_http_get(s.agent, "http://app.test/co/5", NULL);
  stub_turns(&s, 10); /* the request reaches the coroutine, which starts sleeping now */
  stub_advance(&s, 4.9);
  CHECK(!weft_deferred_called(d));
  stub_advance(&s, 0.2);
  stub_answer_of(&s, d, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "slept 5");
  CHECK_STR(stub_header(&a, "Content-Type"), "text/plain; charset=utf-8"); /* the default type */
  stub_answer_free(&a);
  stub_done(&s);
  weft_http_router_free(rt);
}

/* ---- static files through the router ---- */

static void write_file(const char *dir, const char *name, const char *text) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  REQUIRE(f);
  fputs(text, f);
  fclose(f);
}

static void test_static_files(void) {
  char dir[64], p[256];
  snprintf(dir, sizeof dir, "/tmp/weft-stub-static-XXXXXX");
  REQUIRE(mkdtemp(dir));
  snprintf(p, sizeof p, "%s/www", dir);
  REQUIRE(mkdir(p, 0755) == 0);
  snprintf(p, sizeof p, "%s/www/sub", dir);
  REQUIRE(mkdir(p, 0755) == 0);
  write_file(dir, "secret.txt", "top secret\n");
  write_file(dir, "www/hello.txt", "hello, static world\n");
  write_file(dir, "www/digits.txt", "0123456789");
  write_file(dir, "www/sub/index.html", "<h1>sub</h1>");
  weft_http_static_options o;
  weft_http_static_options_init(&o);
  o.chunk_size = 4; /* over a memory pipe the pull producer sends 4-byte pieces */
  weft_http_static *st;
  snprintf(p, sizeof p, "%s/www", dir);
  REQUIRE(weft_http_static_new(&st, p, &o) == 0);
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/files/<path:rest>", weft_http_static_route, st) == 0);
  stub s;
  stub_init(&s, NULL);
  serve(&s, weft_http_router_handler(rt));

  stub_answer a;
  stub_fetch(&s, "GET", "http://app.test/files/hello.txt", NULL, &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "hello, static world\n");
  CHECK_STR(stub_header(&a, "Content-Type"), "text/plain");
  CHECK_STR(stub_header(&a, "Content-Length"), "20");
  char etag[128] = "";
  if (stub_header(&a, "ETag")) snprintf(etag, sizeof etag, "%s", stub_header(&a, "ETag"));
  CHECK(etag[0] != '\0');
  stub_answer_free(&a);

  const char *inm[] = {"If-None-Match", etag, NULL};
  stub_fetch(&s, "GET", "http://app.test/files/hello.txt", inm, &a);
  CHECK_INT(a.status, 304);
  CHECK_INT(a.len, 0);
  CHECK_STR(stub_header(&a, "ETag"), etag);
  stub_answer_free(&a);

  const char *range[] = {"Range", "bytes=2-5", NULL};
  stub_fetch(&s, "GET", "http://app.test/files/digits.txt", range, &a);
  CHECK_INT(a.status, 206);
  CHECK_STR(a.body, "2345");
  CHECK_STR(stub_header(&a, "Content-Range"), "bytes 2-5/10");
  stub_answer_free(&a);

  /* a directory without its slash: 301 to it, the query kept */
  stub_fetch(&s, "GET", "http://app.test/files/sub?x=1", NULL, &a);
  CHECK_INT(a.status, 301);
  CHECK_STR(stub_header(&a, "Location"), "/files/sub/?x=1");
  stub_answer_free(&a);
  /* which the client follows when asked (treq's default) to the index */
  stub_answer_of(&s, weft_http_get(s.agent, "http://app.test/files/sub", NULL), &a);
  CHECK_INT(a.status, 200);
  CHECK_STR(a.body, "<h1>sub</h1>");
  stub_answer_free(&a);

  /* nothing above the root: the client sends these targets as written */
  stub_fetch(&s, "GET", "http://app.test/files/../secret.txt", NULL, &a);
  CHECK_INT(a.status, 403); /* a ".." segment */
  CHECK(strstr(a.body, "top secret") == NULL);
  stub_answer_free(&a);
  stub_fetch(&s, "GET", "http://app.test/files/..%2fsecret.txt", NULL, &a);
  CHECK_INT(a.status, 403);
  stub_answer_free(&a);
  stub_fetch(&s, "GET", "http://app.test/files/nothing.txt", NULL, &a);
  CHECK_INT(a.status, 404);
  stub_answer_free(&a);

  stub_done(&s);
  weft_http_router_free(rt);
  weft_http_static_free(st);
  snprintf(p, sizeof p, "rm -rf '%s'", dir);
  CHECK_INT(system(p), 0);
}

int main(void) {
  RUN(test_converters);
  RUN(test_405_allow_and_head);
  RUN(test_order_and_mounts);
  RUN(test_resource_tree);
  RUN(test_vhosts);
  RUN(test_deferred_and_coro_routes);
  RUN(test_static_files);
  return CHECK_DONE();
}
