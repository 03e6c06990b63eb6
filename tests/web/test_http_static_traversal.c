/* test_http_static_traversal.c: the path-traversal table against weft_http_static_serve through
 * a real server on loopback: every encoded or disguised way out of the root (dot segments in any
 * case and encoding, encoded slashes and backslashes, NUL, doubled slashes, absolute-form targets,
 * overlong UTF-8, symlinks) is answered 400, 403 or 404, and no answer ever holds a byte of a
 * file outside the root. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "net/net_util.h"
#include "weft/http.h"
#include "weft/http_static.h"

static void serve(weft_http_request *req, void *user) {
  size_t len;
  const char *p = weft_http_request_path(req, &len);
  weft_http_static_serve(user, req, p, len);
}

static void put(const char *dir, const char *name, const char *text) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  REQUIRE(f);
  fputs(text, f);
  fclose(f);
}

typedef struct rig {
  weft_reactor *r;
  weft_http_server *srv;
  weft_http_static *st;
  weft_listening_port *lp;
  struct sockaddr_in to;
} rig;

static char answer[8192];

/* Sends one request on a new connection (Connection: close) and reads the answer until the
 * server closes, turning the reactor meanwhile (bounded). Returns the status, 0 if none. */
static int ask_with(rig *g, const char *target, const char *extra) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(c >= 0);
  REQUIRE(connect(c, (struct sockaddr *)&g->to, sizeof g->to) == 0);
  fcntl(c, F_SETFL, O_NONBLOCK);
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n%s\r\n", target, extra);
  REQUIRE(write(c, req, (size_t)n) == n);
  size_t got = 0;
  for (int i = 0; i < 500; i++) {
    weft_reactor_iterate(g->r, 0.005);
    ssize_t k;
    while (got < sizeof answer - 1 && (k = read(c, answer + got, sizeof answer - 1 - got)) > 0) got += (size_t)k;
    if (k == 0 || (k < 0 && errno != EAGAIN)) break;
  }
  answer[got] = '\0';
  close(c);
  int status = 0;
  sscanf(answer, "HTTP/1.1 %d", &status);
  return status;
}

static int ask(rig *g, const char *target) { return ask_with(g, target, ""); }

/* A server on loopback serving the directory root with the default options. */
static void rig_start(rig *g, const char *root) {
  memset(g, 0, sizeof *g);
  REQUIRE(weft_reactor_new(&g->r, NULL) == 0);
  REQUIRE(weft_http_static_new(&g->st, root, NULL) == 0);
  REQUIRE(weft_http_server_new(&g->srv, g->r, NULL) == 0);
  weft_http_server_set_handler(g->srv, serve, g->st);
  g->lp = listen_local(g->r, weft_http_server_factory(g->srv));
  weft_address a;
  weft_listening_port_address(g->lp, &a);
  g->to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)weft_address_port(&a)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* Closes the rig and removes dir. */
static void rig_stop(rig *g, const char *dir) {
  weft_listening_port_close(g->lp);
  weft_http_server_free(g->srv);
  weft_http_static_free(g->st);
  close_reactor(g->r);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_INT(system(cmd), 0);
}

static void test_traversal_table(void) {
  char dir[] = "/tmp/weft-traversal-XXXXXX";
  REQUIRE(mkdtemp(dir));
  char p[256];
  snprintf(p, sizeof p, "%s/www", dir);
  REQUIRE(mkdir(p, 0755) == 0);
  snprintf(p, sizeof p, "%s/www/sub", dir);
  REQUIRE(mkdir(p, 0755) == 0);
  put(dir, "secret.txt", "TOPSECRET\n");
  put(dir, "www/hello.txt", "hello\n");
  put(dir, "www/index.html", "<h1>root</h1>");
  put(dir, "www/sub/index.html", "<h1>sub</h1>");
  snprintf(p, sizeof p, "%s/www/out", dir);
  REQUIRE(symlink("../secret.txt", p) == 0);
  snprintf(p, sizeof p, "%s/www/sub/up", dir);
  REQUIRE(symlink("../..", p) == 0);

  rig g;
  snprintf(p, sizeof p, "%s/www", dir);
  rig_start(&g, p);

  /* The rig works: files inside the root are served. */
  CHECK_INT(ask(&g, "/hello.txt"), 200);
  CHECK(strstr(answer, "\r\n\r\nhello\n") != NULL);
  CHECK_INT(ask(&g, "/sub/"), 200);

  static const char *const table[] = {
      "/..", "/../secret.txt", "/../../../../../../etc/passwd", "/sub/../../secret.txt", "/./../secret.txt",
      "/%2e%2e/secret.txt", "/%2E%2e/secret.txt", "/%2e%2E/", "/.%2e/secret.txt", "/%2e./secret.txt",
      "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/..%2Fsecret.txt", "/sub/..%2f..%2fsecret.txt",
      "/%2e%2e%2fsecret.txt", "/%2fetc%2fpasswd", "/%2F..%2F..%2Fetc%2Fpasswd", "/..%5csecret.txt",
      "/..%5c..%5csecret.txt", "/%5c..%5csecret.txt", "/..\\secret.txt", "/\\..\\..\\secret.txt",
      "/sub\\..\\..\\secret.txt", "/%00", "/hello.txt%00", "/%00/../secret.txt", "/index.html%00.txt",
      "//etc/passwd", "///etc/passwd", "//../secret.txt", "http://h/../secret.txt", "http://h/%2e%2e/secret.txt",
      "http://h//etc/passwd", "http://h/sub/../../secret.txt", "/%c0%ae%c0%ae/secret.txt",
      "/%c0%ae%c0%ae%c0%afsecret.txt", "/%e0%80%ae%e0%80%ae/secret.txt", "/%c1%9c..%c1%9csecret.txt",
      "/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt", "/out", "/sub/up/secret.txt", "/sub/up/",
      "/..;/secret.txt", "/....//secret.txt", "/.../secret.txt", "/%2e%2e%00/secret.txt",
      "/%2e%2e%u2216secret.txt",
      "/sub/%2e%2e%2f%2e%2e%2fsecret.txt", "/../www/../secret.txt", "/etc/passwd", "/secret.txt",
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    int s = ask(&g, table[i]);
    bool ok = s == 400 || s == 403 || s == 404;
    bool leaked = strstr(answer, "TOPSECRET") != NULL || strstr(answer, "root:") != NULL;
    if (getenv("TRAVERSAL_VERBOSE") || !ok || leaked) fprintf(stderr, "  %s -> %d%s\n", table[i], s, leaked ? " (leaked)" : "");
    CHECK(ok);
    CHECK(!leaked);
  }
  rig_stop(&g, dir);
}

/* A FIFO below the root is not a file to serve: opening it must not wait for a writer (which
 * would stop the reactor thread for every connection), and it is answered 404 at once. */
static void test_fifo_not_opened(void) {
  char dir[] = "/tmp/weft-traversal-XXXXXX";
  REQUIRE(mkdtemp(dir));
  char p[256];
  snprintf(p, sizeof p, "%s/pipe", dir);
  REQUIRE(mkfifo(p, 0644) == 0);
  snprintf(p, sizeof p, "%s/page", dir);
  REQUIRE(mkdir(p, 0755) == 0);
  put(dir, "page/index.html", "<h1>page</h1>");
  snprintf(p, sizeof p, "%s/page/index.html.gz", dir);
  REQUIRE(mkfifo(p, 0644) == 0);

  rig g;
  rig_start(&g, dir);
  alarm(10); /* a blocking open would hang here: fail instead */
  CHECK_INT(ask(&g, "/pipe"), 404);
  /* nor a FIFO in place of a precompressed sibling: the plain file is sent */
  CHECK_INT(ask_with(&g, "/page/", "Accept-Encoding: gzip\r\n"), 200);
  CHECK(strstr(answer, "\r\n\r\n<h1>page</h1>") != NULL);
  alarm(0);
  rig_stop(&g, dir);
}

static void test_redirect_not_to_another_host(void) {
  char dir[] = "/tmp/weft-traversal-XXXXXX";
  REQUIRE(mkdtemp(dir));
  char p[256];
  snprintf(p, sizeof p, "%s/page", dir);
  REQUIRE(mkdir(p, 0755) == 0);
  rig g;
  rig_start(&g, dir);
  /* the slash redirect of a directory named after "//": a Location starting "//" would be
   * another host to a browser (an open redirect); one '/' is kept */
  CHECK_INT(ask(&g, "//page"), 301);
  CHECK(strstr(answer, "\r\nLocation: /page/\r\n") != NULL);
  CHECK_INT(ask(&g, "///page?x=1"), 301);
  CHECK(strstr(answer, "\r\nLocation: /page/?x=1\r\n") != NULL);
  CHECK_INT(ask(&g, "http://h//page"), 301);
  CHECK(strstr(answer, "\r\nLocation: /page/\r\n") != NULL);
  rig_stop(&g, dir);
}

int main(void) {
  RUN(test_traversal_table);
  RUN(test_fifo_not_opened);
  RUN(test_redirect_not_to_another_host);
  return CHECK_DONE();
}
