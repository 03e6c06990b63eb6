/* test_http_static.c: the static file server (src/web/http_static.c, src/web/mime.c) over the
 * router and the test kit's string transport: content, validators, 304s, traversal, ranges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/http_static.h"
#include "weft/testing.h"

typedef struct fixture {
  weft_reactor *r;
  weft_http_server *srv;
  weft_string_transport *st;
  weft_logged_errors *errors;
  weft_http_router *rt;
  weft_http_static *files;
  char dir[64];
} fixture;

static void write_file(const char *dir, const char *name, const char *text) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  REQUIRE(f);
  fputs(text, f);
  fclose(f);
}

static void setup(fixture *f, const char *mime_types) {
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/weft-static-XXXXXX");
  REQUIRE(mkdtemp(f->dir));
  char p[256];
  snprintf(p, sizeof p, "%s/www", f->dir);
  REQUIRE(mkdir(p, 0755) == 0);
  snprintf(p, sizeof p, "%s/www/sub", f->dir);
  REQUIRE(mkdir(p, 0755) == 0);
  snprintf(p, sizeof p, "%s/www/empty", f->dir);
  REQUIRE(mkdir(p, 0755) == 0);
  write_file(f->dir, "secret.txt", "top secret\n");
  write_file(f->dir, "www/hello.txt", "hello, static world\n");
  write_file(f->dir, "www/page.html", "<p>hi</p>");
  write_file(f->dir, "www/data.unknownext", "x");
  write_file(f->dir, "www/index.html", "<h1>root</h1>");
  write_file(f->dir, "www/sub/index.html", "<h1>sub</h1>");
  write_file(f->dir, "www/digits.bin", "0123456789");
  snprintf(p, sizeof p, "%s/www/out", f->dir);
  REQUIRE(symlink("../secret.txt", p) == 0);
  snprintf(p, sizeof p, "%s/www/alias.txt", f->dir);
  REQUIRE(symlink("hello.txt", p) == 0);
  /* A fixed mtime, so Last-Modified is known. */
  snprintf(p, sizeof p, "%s/www/hello.txt", f->dir);
  struct timeval tv[2] = {{784111777, 0}, {784111777, 0}}; /* Sun, 06 Nov 1994 08:49:37 GMT */
  REQUIRE(utimes(p, tv) == 0);

  weft_http_static_options o;
  weft_http_static_options_init(&o);
  o.mime_types = mime_types;
  o.chunk_size = 4; /* many pieces, so the pull producer is exercised */
  snprintf(p, sizeof p, "%s/www", f->dir);
  REQUIRE(weft_http_static_new(&f->files, p, &o) == 0);
  REQUIRE(weft_http_router_new(&f->rt) == 0);
  REQUIRE(weft_http_router_add(f->rt, "GET", "/files/<path:rest>", weft_http_static_route, f->files) == 0);
  REQUIRE(weft_http_router_add(f->rt, "GET", "/files/", weft_http_static_route, f->files) == 0);
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  f->errors = weft_logged_errors_capture(weft_reactor_log(f->r));
  REQUIRE(f->errors);
  REQUIRE(weft_http_server_new(&f->srv, f->r, NULL) == 0);
  weft_http_handler_binding b = weft_http_router_handler(f->rt);
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
  weft_http_router_free(f->rt);
  weft_http_static_free(f->files);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  CHECK_INT(system(cmd), 0);
}

static char head_buf[2048], body_buf[4096];

/* Sends a request with extra header lines and runs the reactor until the response is complete
 * (bounded), returning the status; the head and body are copied out. */
static int request(fixture *f, const char *method, const char *target, const char *extra) {
  char req[1024];
  snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, target, extra ? extra : "");
  CHECK_INT(weft_string_transport_feed(f->st, req, strlen(req)), 0);
  head_buf[0] = body_buf[0] = '\0';
  const char *o = weft_string_transport_value(f->st);
  for (int i = 0; i < 200; i++) {
    o = weft_string_transport_value(f->st);
    const char *end = strstr(o, "\r\n\r\n");
    const char *cl = strstr(o, "Content-Length: ");
    if (end && (strcmp(method, "HEAD") == 0 || !cl || cl > end ||
                strlen(end + 4) >= strtoull(cl + 16, NULL, 10)))
      break;
    weft_memory_reactor_advance(f->r, 0);
  }
  int status = 0;
  sscanf(o, "HTTP/1.1 %d", &status);
  const char *end = strstr(o, "\r\n\r\n");
  if (end) {
    snprintf(head_buf, sizeof head_buf, "%.*s", (int)(end - o + 2), o);
    snprintf(body_buf, sizeof body_buf, "%s", end + 4);
  }
  weft_string_transport_clear(f->st);
  return status;
}

/* The value of header name in the last response, or "". */
static const char *hdr(const char *name) {
  static char v[256];
  char key[64];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *p = strstr(head_buf, key);
  v[0] = '\0';
  if (p) sscanf(p + strlen(key), "%255[^\r]", v);
  return v;
}

static void test_get_and_head(void) {
  fixture f;
  setup(&f, NULL);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", NULL), 200);
  CHECK_STR(body_buf, "hello, static world\n");
  CHECK_STR(hdr("Content-Length"), "20");
  CHECK_STR(hdr("Content-Type"), "text/plain");
  CHECK_STR(hdr("Last-Modified"), "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK_STR(hdr("Accept-Ranges"), "bytes");
  CHECK(hdr("ETag")[0] == '"');
  CHECK_INT(request(&f, "HEAD", "/files/hello.txt", NULL), 200);
  CHECK_STR(body_buf, "");
  CHECK_STR(hdr("Content-Length"), "20");
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_STR(hdr("Content-Type"), "text/html");
  CHECK_STR(body_buf, "<p>hi</p>");
  CHECK_INT(request(&f, "GET", "/files/data.unknownext", NULL), 200);
  CHECK_STR(hdr("Content-Type"), "application/octet-stream");
  CHECK_INT(request(&f, "GET", "/files/alias.txt", NULL), 200); /* a symlink inside the root */
  CHECK_STR(body_buf, "hello, static world\n");
  CHECK_INT(request(&f, "GET", "/files/missing.txt", NULL), 404);
  CHECK_INT(request(&f, "POST", "/files/hello.txt", NULL), 405);
  teardown(&f);
}

static void test_index(void) {
  fixture f;
  setup(&f, NULL);
  CHECK_INT(request(&f, "GET", "/files/", NULL), 200);
  CHECK_STR(body_buf, "<h1>root</h1>");
  CHECK_STR(hdr("Content-Type"), "text/html");
  CHECK_INT(request(&f, "GET", "/files/sub/", NULL), 200);
  CHECK_STR(body_buf, "<h1>sub</h1>");
  /* Without the slash: 301 to the slash form, the query kept, so relative links resolve. */
  CHECK_INT(request(&f, "GET", "/files/sub", NULL), 301);
  CHECK_STR(hdr("Location"), "/files/sub/");
  CHECK_INT(request(&f, "GET", "/files/sub?x=1&y=%2F", NULL), 301);
  CHECK_STR(hdr("Location"), "/files/sub/?x=1&y=%2F");
  CHECK_INT(request(&f, "GET", "http://t/files/sub?q", NULL), 301);
  CHECK_STR(hdr("Location"), "/files/sub/?q");
  CHECK_INT(request(&f, "HEAD", "/files/sub", NULL), 301);
  /* A directory without an index: 403, no listing by default. */
  CHECK_INT(request(&f, "GET", "/files/empty/", NULL), 403);
  CHECK(strstr(body_buf, "<a") == NULL);
  teardown(&f);
}

static void test_conditional(void) {
  fixture f;
  setup(&f, NULL);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", NULL), 200);
  char etag[64], line[128];
  snprintf(etag, sizeof etag, "%s", hdr("ETag"));
  snprintf(line, sizeof line, "If-None-Match: %s\r\n", etag);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", line), 304);
  CHECK_STR(body_buf, "");
  CHECK_STR(hdr("ETag"), etag);
  snprintf(line, sizeof line, "If-None-Match: \"other\", W/%s\r\n", etag);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", line), 304);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-None-Match: \"other\"\r\n"), 200);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-None-Match: *\r\n"), 304);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 304);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"), 200);
  CHECK_STR(body_buf, "hello, static world\n");
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Modified-Since: garbage\r\n"), 200);
  /* If-None-Match wins over If-Modified-Since. */
  CHECK_INT(request(&f, "GET", "/files/hello.txt",
                    "If-None-Match: \"other\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            200);
  teardown(&f);
}

static void test_traversal_refused(void) {
  fixture f;
  setup(&f, NULL);
  static const struct {
    const char *target;
    int status;
  } table[] = {
      {"/files/../secret.txt", 403},      {"/files/sub/../../secret.txt", 403}, {"/files/a/%2e%2e/b", 403},
      {"/files/%2e%2e/secret.txt", 403},  {"/files/sub%2Findex.html", 403},     {"/files/sub%2findex.html", 403},
      {"/files/hello.txt%00.html", 403},  {"/files/out", 403},                  {"/files/..%2fsecret.txt", 403},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    int s = request(&f, "GET", table[i].target, NULL);
    if (s != table[i].status) fprintf(stderr, "  target %s\n", table[i].target);
    CHECK_INT(s, table[i].status);
    CHECK(strstr(body_buf, "secret") == NULL);
  }
  teardown(&f);
}

static void test_mime_table_and_new_errors(void) {
  char dir[] = "/tmp/weft-static-XXXXXX";
  REQUIRE(mkdtemp(dir));
  write_file(dir, "x.css", "a{}");
  weft_http_static *st;
  weft_http_static_options o;
  weft_http_static_options_init(&o);
  o.mime_types = "/nonexistent/mime.types"; /* the built-in table */
  REQUIRE(weft_http_static_new(&st, dir, &o) == 0);
  CHECK_STR(weft_http_static_content_type(st, "a/b.CSS"), "text/css");
  CHECK_STR(weft_http_static_content_type(st, "x.woff2"), "font/woff2");
  CHECK_STR(weft_http_static_content_type(st, "noext"), "application/octet-stream");
  weft_http_static_free(st);
  CHECK_INT(weft_http_static_new(&st, "/nonexistent/dir", NULL), WEFT_ENOENT);
  char p[128];
  snprintf(p, sizeof p, "%s/x.css", dir);
  CHECK_INT(weft_http_static_new(&st, p, NULL), WEFT_EINVAL);
  unlink(p);
  rmdir(dir);
}

static void test_ranges(void) {
  fixture f;
  setup(&f, NULL);
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=2-5\r\n"), 206);
  CHECK_STR(body_buf, "2345");
  CHECK_STR(hdr("Content-Range"), "bytes 2-5/10");
  CHECK_STR(hdr("Content-Length"), "4");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=7-\r\n"), 206);
  CHECK_STR(body_buf, "789");
  CHECK_STR(hdr("Content-Range"), "bytes 7-9/10");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=-3\r\n"), 206);
  CHECK_STR(body_buf, "789");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=-30\r\n"), 206);
  CHECK_STR(body_buf, "0123456789");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=8-100\r\n"), 206);
  CHECK_STR(body_buf, "89");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=10-\r\n"), 416);
  CHECK_STR(hdr("Content-Range"), "bytes */10");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=-0\r\n"), 416);
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=5-2\r\n"), 200); /* invalid: ignored */
  CHECK_STR(body_buf, "0123456789");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: items=1-2\r\n"), 200);
  CHECK_INT(request(&f, "GET", "/files/digits.bin", NULL), 200);
  char line[160];
  snprintf(line, sizeof line, "Range: bytes=0-0\r\nIf-Range: %s\r\n", hdr("ETag"));
  CHECK_INT(request(&f, "GET", "/files/digits.bin", line), 206);
  CHECK_STR(body_buf, "0");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=0-0\r\nIf-Range: \"stale\"\r\n"), 200);
  CHECK_STR(body_buf, "0123456789");
  teardown(&f);
}

/* A client that goes away mid-body: the transfer stops, the file is closed, nothing leaks. */
static void test_disconnect_mid_body(void) {
  fixture f;
  setup(&f, NULL);
  const char *req = "GET /files/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK_INT(weft_string_transport_feed(f.st, req, strlen(req)), 0);
  weft_memory_reactor_advance(f.r, 0);
  CHECK(weft_string_transport_has_producer(f.st));
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  weft_memory_reactor_advance(f.r, 0);
  teardown(&f);
}

int main(void) {
  RUN(test_get_and_head);
  RUN(test_index);
  RUN(test_conditional);
  RUN(test_traversal_refused);
  RUN(test_mime_table_and_new_errors);
  RUN(test_ranges);
  RUN(test_disconnect_mid_body);
  return CHECK_DONE();
}
