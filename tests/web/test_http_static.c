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

static void setup_with(fixture *f, const char *mime_types, void (*tweak)(weft_http_static_options *o)) {
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
  write_file(f->dir, "www/zero.bin", "");
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
  if (tweak) tweak(&o);
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

static void setup(fixture *f, const char *mime_types) { setup_with(f, mime_types, NULL); }

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
  /* the obsolete date forms a recipient must accept (RFC 9110 section 5.6.7) */
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"), 304);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n"), 304);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Modified-Since: Sun Nov  6 08:49:36 1994\r\n"), 200);
  /* If-Match and If-Unmodified-Since: 412 when they do not hold (RFC 9110 section 13.2.2) */
  snprintf(line, sizeof line, "If-Match: \"other\", %s\r\n", etag);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", line), 200);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Match: *\r\n"), 200);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Match: \"other\"\r\n"), 412);
  snprintf(line, sizeof line, "If-Match: W/%s\r\n", etag); /* weak never matches strongly */
  CHECK_INT(request(&f, "GET", "/files/hello.txt", line), 412);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"), 412);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 200);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", "If-Unmodified-Since: garbage\r\n"), 200);
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
  o.open_file_cache = SIZE_MAX; /* "no limit": its table must not be sized (or loop) by it */
  REQUIRE(weft_http_static_new(&st, dir, &o) == 0);
  weft_http_static_free(st);
  o.default_type = "text/\001plain"; /* not a header value */
  CHECK_INT(weft_http_static_new(&st, dir, &o), WEFT_EINVAL);
  char p[128];
  snprintf(p, sizeof p, "%s/x.css", dir);
  CHECK_INT(weft_http_static_new(&st, p, NULL), WEFT_EINVAL);
  unlink(p);
  rmdir(dir);
}

/* A type the response cannot carry (a control character from a broken mime.types): no answer
 * rather than a 200 whose empty body looks complete. */
static void test_bad_type_is_no_answer(void) {
  char mt[] = "/tmp/weft-mime-XXXXXX";
  int fd = mkstemp(mt);
  REQUIRE(fd >= 0);
  static const char line[] = "text/\001bad weird\n";
  REQUIRE(write(fd, line, sizeof line - 1) == (ssize_t)(sizeof line - 1));
  close(fd);
  fixture f;
  setup(&f, mt);
  write_file(f.dir, "www/x.weird", "abc");
  CHECK_INT(request(&f, "GET", "/files/x.weird", NULL), 0);
  CHECK_STR(weft_string_transport_value(f.st), "");
  CHECK(weft_string_transport_disconnecting(f.st));
  teardown(&f);
  unlink(mt);
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
  /* an empty file has no bytes to range over: the whole (empty) file, as nginx answers */
  CHECK_INT(request(&f, "GET", "/files/zero.bin", "Range: bytes=-5\r\n"), 200);
  CHECK_STR(hdr("Content-Length"), "0");
  CHECK_INT(request(&f, "GET", "/files/zero.bin", "Range: bytes=0-\r\n"), 200);
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

/* ---- multi-range ---- */

/* Splits a multipart/byteranges body into its parts' Content-Range values and data, checking the
 * framing (boundary from the Content-Type, "--B--" at the end). Returns the number of parts. */
static int parts_of(const char *body, char ranges[][32], char data[][16]) {
  const char *ct = hdr("Content-Type");
  const char *b = strstr(ct, "boundary=");
  if (strncmp(ct, "multipart/byteranges; ", 22) != 0 || !b) return -1;
  char delim[80], end[80];
  snprintf(delim, sizeof delim, "--%s\r\n", b + 9);
  snprintf(end, sizeof end, "\r\n--%s--\r\n", b + 9);
  int n = 0;
  const char *p = body;
  while (strncmp(p, delim, strlen(delim)) == 0 && n < 8) {
    p += strlen(delim);
    const char *cr = strstr(p, "Content-Range: bytes ");
    const char *hend = strstr(p, "\r\n\r\n");
    if (!cr || !hend || cr > hend || strncmp(p, "Content-Type: ", 14) != 0) return -1;
    sscanf(cr + 21, "%31[^\r]", ranges[n]);
    p = hend + 4;
    const char *next = strstr(p, "\r\n--");
    if (!next) return -1;
    snprintf(data[n], 16, "%.*s", (int)(next - p), p);
    n++;
    p = next + 2;
    if (strcmp(next, end) == 0) return n;
  }
  return -1;
}

static void test_multi_range(void) {
  fixture f;
  setup(&f, NULL);
  char ranges[8][32], data[8][16];
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=0-1,4-5\r\n"), 206);
  CHECK_INT((long long)strlen(body_buf), strtoll(hdr("Content-Length"), NULL, 10));
  CHECK_STR(hdr("Content-Range"), "");
  CHECK_INT(parts_of(body_buf, ranges, data), 2);
  CHECK_STR(ranges[0], "0-1/10");
  CHECK_STR(data[0], "01");
  CHECK_STR(ranges[1], "4-5/10");
  CHECK_STR(data[1], "45");
  CHECK(strstr(body_buf, "Content-Type: application/octet-stream\r\n") != NULL);
  /* Another response, another boundary. */
  char ct[128];
  snprintf(ct, sizeof ct, "%s", hdr("Content-Type"));
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=8-, -1 ,, 0-0\r\n"), 206);
  CHECK(strcmp(ct, hdr("Content-Type")) != 0);
  /* sorted, and 8- and -1 (9-9) merged */
  CHECK_INT(parts_of(body_buf, ranges, data), 2);
  CHECK_STR(ranges[0], "0-0/10");
  CHECK_STR(data[0], "0");
  CHECK_STR(ranges[1], "8-9/10");
  CHECK_STR(data[1], "89");
  /* Overlapping and adjacent ranges become one: a plain 206. */
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=0-2,2-3,4-5\r\n"), 206);
  CHECK_STR(hdr("Content-Range"), "bytes 0-5/10");
  CHECK_STR(body_buf, "012345");
  /* Only one satisfiable: a plain 206 too; none: 416. */
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=3-4,50-60\r\n"), 206);
  CHECK_STR(hdr("Content-Range"), "bytes 3-4/10");
  CHECK_STR(body_buf, "34");
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=20-30,40-\r\n"), 416);
  CHECK_STR(hdr("Content-Range"), "bytes */10");
  /* Amplification: more than the file in total, or more than 16 ranges: the whole file. */
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=0-9,0-9\r\n"), 200);
  CHECK_STR(body_buf, "0123456789");
  CHECK_INT(request(&f, "GET", "/files/digits.bin",
                    "Range: bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,0-0,1-1,2-2,3-3,4-4,5-5,6-6\r\n"),
            200);
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=0-1,x-2\r\n"), 200); /* syntax: ignored */
  /* HEAD: the same length, no body. */
  CHECK_INT(request(&f, "GET", "/files/digits.bin", "Range: bytes=1-1,3-3\r\n"), 206);
  char len[24];
  snprintf(len, sizeof len, "%s", hdr("Content-Length"));
  CHECK_INT(request(&f, "HEAD", "/files/digits.bin", "Range: bytes=1-1,3-3\r\n"), 206);
  CHECK_STR(hdr("Content-Length"), len);
  CHECK_STR(body_buf, "");
  teardown(&f);
}

/* ---- precompressed siblings ---- */

static void set_mtime(const char *dir, const char *name, time_t t) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct timeval tv[2] = {{t, 0}, {t, 0}};
  REQUIRE(utimes(p, tv) == 0);
}

static void no_gzip(weft_http_static_options *o) { o->precompressed = false; }

static void test_precompressed(void) {
  fixture f;
  setup(&f, NULL);
  write_file(f.dir, "www/app.js", "plain javascript");
  write_file(f.dir, "www/app.js.gz", "GZBYTES");
  set_mtime(f.dir, "www/app.js", 1000000000);
  set_mtime(f.dir, "www/app.js.gz", 1000000000); /* same age counts as fresh */
  CHECK_INT(request(&f, "GET", "/files/app.js", NULL), 200);
  CHECK_STR(body_buf, "plain javascript");
  CHECK_STR(hdr("Content-Encoding"), "");
  char plain_etag[64];
  snprintf(plain_etag, sizeof plain_etag, "%s", hdr("ETag"));
  static const char *takes[] = {"gzip", "deflate, gzip;q=0.5", "br, *", "x-gzip", "GZIP ; q=1.0", "*;q=0.1"};
  for (size_t i = 0; i < sizeof takes / sizeof takes[0]; i++) {
    char line[128];
    snprintf(line, sizeof line, "Accept-Encoding: %s\r\n", takes[i]);
    CHECK_INT(request(&f, "GET", "/files/app.js", line), 200);
    if (strcmp(body_buf, "GZBYTES") != 0) fprintf(stderr, "  Accept-Encoding: %s\n", takes[i]);
    CHECK_STR(body_buf, "GZBYTES");
    CHECK_STR(hdr("Content-Encoding"), "gzip");
    CHECK_STR(hdr("Content-Type"), "text/javascript");
    CHECK_STR(hdr("Vary"), "Accept-Encoding");
    CHECK_STR(hdr("Content-Length"), "7");
    CHECK(strcmp(hdr("ETag"), plain_etag) != 0);
    CHECK(strstr(hdr("ETag"), "-gz\"") != NULL);
  }
  static const char *refuses[] = {"gzip;q=0", "br", "*;q=0, identity", "gzip;q=0.000, *", "identity"};
  for (size_t i = 0; i < sizeof refuses / sizeof refuses[0]; i++) {
    char line[128];
    snprintf(line, sizeof line, "Accept-Encoding: %s\r\n", refuses[i]);
    CHECK_INT(request(&f, "GET", "/files/app.js", line), 200);
    if (strcmp(body_buf, "plain javascript") != 0) fprintf(stderr, "  Accept-Encoding: %s\n", refuses[i]);
    CHECK_STR(body_buf, "plain javascript");
    CHECK_STR(hdr("Content-Encoding"), "");
  }
  /* Ranges and validators apply to the .gz representation. */
  CHECK_INT(request(&f, "GET", "/files/app.js", "Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n"), 206);
  CHECK_STR(body_buf, "GZ");
  CHECK_STR(hdr("Content-Range"), "bytes 0-1/7");
  CHECK_STR(hdr("Content-Encoding"), "gzip");
  char line[160];
  CHECK_INT(request(&f, "GET", "/files/app.js", "Accept-Encoding: gzip\r\n"), 200);
  snprintf(line, sizeof line, "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", hdr("ETag"));
  CHECK_INT(request(&f, "GET", "/files/app.js", line), 304);
  CHECK_STR(hdr("Vary"), "Accept-Encoding");
  /* An older sibling is stale: the original is sent. The index gets its sibling too. */
  set_mtime(f.dir, "www/app.js.gz", 999999999);
  weft_memory_reactor_advance(f.r, 1.5); /* past the open-file cache's second */
  CHECK_INT(request(&f, "GET", "/files/app.js", "Accept-Encoding: gzip\r\n"), 200);
  CHECK_STR(body_buf, "plain javascript");
  write_file(f.dir, "www/index.html.gz", "GZINDEX");
  CHECK_INT(request(&f, "GET", "/files/", "Accept-Encoding: gzip\r\n"), 200);
  CHECK_STR(body_buf, "GZINDEX");
  CHECK_STR(hdr("Content-Type"), "text/html");
  teardown(&f);
  /* Turned off: never the sibling. */
  setup_with(&f, NULL, no_gzip);
  write_file(f.dir, "www/app.js", "plain javascript");
  write_file(f.dir, "www/app.js.gz", "GZBYTES");
  CHECK_INT(request(&f, "GET", "/files/app.js", "Accept-Encoding: gzip\r\n"), 200);
  CHECK_STR(body_buf, "plain javascript");
  teardown(&f);
}

/* ---- directory listings ---- */

static void listing_on(weft_http_static_options *o) { o->list_directories = true; }

static void test_listing(void) {
  fixture f;
  setup_with(&f, NULL, listing_on);
  write_file(f.dir, "www/empty/a<b>&c.txt", "x");
  char p[256];
  snprintf(p, sizeof p, "%s/www/empty/zdir", f.dir);
  REQUIRE(mkdir(p, 0755) == 0);
  CHECK_INT(request(&f, "GET", "/files/empty/", NULL), 200);
  CHECK_STR(hdr("Content-Type"), "text/html; charset=utf-8");
  CHECK(strstr(body_buf, "<a href=\"a%3Cb%3E%26c.txt\">a&lt;b&gt;&amp;c.txt</a>") != NULL);
  CHECK(strstr(body_buf, "<a href=\"zdir/\">zdir/</a>") != NULL);
  CHECK(strstr(body_buf, "a%3Cb") < strstr(body_buf, "zdir")); /* sorted */
  /* A directory with an index still gets the index. */
  CHECK_INT(request(&f, "GET", "/files/sub/", NULL), 200);
  CHECK_STR(body_buf, "<h1>sub</h1>");
  teardown(&f);
}

/* ---- the open-file cache ---- */

static void small_cache(weft_http_static_options *o) { o->open_file_cache = 2; }
static void no_cache(weft_http_static_options *o) { o->open_file_cache = 0; }

static void test_open_file_cache(void) {
  fixture f;
  setup(&f, NULL);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_STR(body_buf, "<p>hi</p>");
  CHECK_INT((long long)weft_http_static_cached_files(f.files), 1);
  /* Replaced on disk within the second: the cached file (and its validators) still answer. */
  char p[256], q[256];
  snprintf(p, sizeof p, "%s/www/page.html", f.dir);
  snprintf(q, sizeof q, "%s/www/page.new", f.dir);
  write_file(f.dir, "www/page.new", "<p>new</p>");
  REQUIRE(rename(q, p) == 0);
  weft_memory_reactor_advance(f.r, 0.5);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_STR(body_buf, "<p>hi</p>");
  /* A second later it is checked again and the new file is served. */
  weft_memory_reactor_advance(f.r, 0.6);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_STR(body_buf, "<p>new</p>");
  /* Removed: gone once the entry is checked again. */
  REQUIRE(unlink(p) == 0);
  weft_memory_reactor_advance(f.r, 1.0);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 404);
  teardown(&f);
  /* Bounded: the least recently used goes. */
  setup_with(&f, NULL, small_cache);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", NULL), 200);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_INT(request(&f, "GET", "/files/digits.bin", NULL), 200); /* hello.txt goes */
  CHECK_INT((long long)weft_http_static_cached_files(f.files), 2);
  snprintf(p, sizeof p, "%s/www/page.html", f.dir);
  REQUIRE(unlink(p) == 0);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200); /* still cached */
  snprintf(p, sizeof p, "%s/www/hello.txt", f.dir);
  REQUIRE(unlink(p) == 0);
  CHECK_INT(request(&f, "GET", "/files/hello.txt", NULL), 404); /* was evicted */
  teardown(&f);
  setup_with(&f, NULL, no_cache);
  CHECK_INT(request(&f, "GET", "/files/page.html", NULL), 200);
  CHECK_INT((long long)weft_http_static_cached_files(f.files), 0);
  teardown(&f);
}

int main(void) {
  RUN(test_get_and_head);
  RUN(test_index);
  RUN(test_conditional);
  RUN(test_traversal_refused);
  RUN(test_mime_table_and_new_errors);
  RUN(test_bad_type_is_no_answer);
  RUN(test_ranges);
  RUN(test_disconnect_mid_body);
  RUN(test_multi_range);
  RUN(test_precompressed);
  RUN(test_listing);
  RUN(test_open_file_cache);
  return CHECK_DONE();
}
