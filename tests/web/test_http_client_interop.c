/* test_http_client_interop.c: weft's HTTP client (include/weft/http_client.h) against servers
 * we did not write, on loopback: nginx (keep-alive counted by nginx's own $connection, a static
 * file checked byte for byte, a 301, a chunked body from its SSI filter, HTTPS with a CA made at
 * test time and the verification failure without it), h2o (a static file over HTTP/1.1,
 * keep-alive) and twisted.web (tests/web/http_client_peer_twisted.py: a chunked body streamed
 * over time, keep-alive, a redirect, a POST echo, HTTPS through twisted's ssl).
 *
 * Each server is a child process with a config made here, on a port chosen by binding port 0 and
 * closing it; the client runs in this process. A peer whose binary is missing is skipped with a
 * message (scripts/deps installs nginx-light, h2o and python3-twisted). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "../net/tls_util.h"
#include "weft/http_client.h"
#include "weft/testing.h"

#define PYTHON "/usr/bin/python3"
#define TWISTED_PEER WEFT_SOURCE_DIR "/tests/web/http_client_peer_twisted.py"

static test_pki pki;
static char www[256];
static unsigned char file_data[300 * 1024]; /* www/file.bin: every byte value, no repeats at 4 KiB */
static char page[20000];                    /* www/ssi/page.html */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *find_bin(const char *const *paths) {
  for (; *paths; paths++)
    if (access(*paths, X_OK) == 0) return *paths;
  return NULL;
}

/* ---- peers as child processes ---- */

typedef struct peer {
  pid_t pid;
  char log[256];
} peer;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof a;
  REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &n) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void spawn(peer *p, const char *name, const char *const argv[]) {
  snprintf(p->log, sizeof p->log, "%s/%s.log", pki.dir, name);
  p->pid = fork();
  REQUIRE(p->pid >= 0);
  if (p->pid == 0) {
    int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
}

static void show_log(const peer *p) {
  FILE *f = fopen(p->log, "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) fprintf(stderr, "  | %s", line);
  if (f) fclose(f);
}

/* True once something accepts on 127.0.0.1:port (bounded; false if the peer died). */
static bool wait_port(peer *p, int port) {
  double end = now() + 15;
  while (now() < end) {
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
      p->pid = 0;
      fprintf(stderr, "  the peer exited before listening:\n");
      show_log(p);
      return false;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    if (ok) return true;
    usleep(20000);
  }
  fprintf(stderr, "  nothing listens on port %d after 15 s\n", port);
  show_log(p);
  return false;
}

static void stop(peer *p) {
  if (p->pid <= 0) return;
  kill(p->pid, SIGTERM);
  int st;
  double end = now() + 5;
  while (waitpid(p->pid, &st, WNOHANG) == 0) {
    if (now() > end) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
      break;
    }
    usleep(10000);
  }
  p->pid = 0;
}

/* ---- the client side ---- */

typedef struct got {
  int status;
  unsigned char *body;
  size_t len;
  char conn[64], te[32], cl[32], url[256], location[256], why[1024];
} got;

static bool wait_for(weft_reactor *r, weft_deferred *d) {
  double end = now() + 10;
  while (!weft_deferred_called(d) && now() < end) weft_reactor_iterate(r, 0.01);
  return weft_deferred_called(d);
}

static void copy_header(char *to, size_t n, weft_http_response *resp, const char *name) {
  const char *v = weft_http_response_get_header(resp, name);
  snprintf(to, n, "%s", v ? v : "");
}

/* Sends method url and collects the body; false (why set) on failure. g->body is malloc'd. */
static bool req(weft_reactor *r, weft_http_agent *a, const char *method, const char *url,
                const weft_http_request_options *o, got *g) {
  memset(g, 0, sizeof *g);
  weft_deferred *d = weft_http_agent_request(a, method, url, o);
  REQUIRE(d && wait_for(r, d));
  weft_value v;
  if (weft_success_result_of(d, &v, g->why, sizeof g->why) != 0) {
    weft_deferred_unref(d);
    return false;
  }
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  g->status = weft_http_response_status(resp);
  copy_header(g->conn, sizeof g->conn, resp, "x-conn");
  copy_header(g->te, sizeof g->te, resp, "transfer-encoding");
  copy_header(g->cl, sizeof g->cl, resp, "content-length");
  copy_header(g->location, sizeof g->location, resp, "location");
  snprintf(g->url, sizeof g->url, "%s", weft_http_response_url(resp));
  weft_deferred *c = weft_http_response_content(resp, 0);
  REQUIRE(wait_for(r, c));
  weft_value b;
  bool ok = weft_success_result_of(c, &b, g->why, sizeof g->why) == 0;
  if (ok) {
    weft_http_bytes *bytes = b.v.p;
    g->len = bytes->len;
    g->body = malloc(bytes->len + 1);
    memcpy(g->body, bytes->data, bytes->len + 1);
    weft_value_release(b);
  }
  weft_deferred_unref(c);
  weft_value_release(v);
  return ok;
}

static bool body_is(const got *g, const void *want, size_t n) { return g->body && g->len == n && !memcmp(g->body, want, n); }

static weft_http_agent *agent(weft_reactor *r, const char *ca) {
  weft_http_agent_options o;
  weft_http_agent_options_init(&o);
  o.ca_file = ca;
  weft_http_agent *a;
  REQUIRE(weft_http_agent_new(&a, r, &o) == 0);
  return a;
}

static void finish(weft_reactor *r) {
  double end = now() + 0.1;
  while (now() < end) weft_reactor_iterate(r, 0.01);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

/* The verification failure without the test CA: a clear reason. */
static void check_untrusted(weft_reactor *r, const char *url, int port) {
  weft_http_agent *plain = agent(r, NULL); /* the system store: the test CA is not in it */
  got g;
  CHECK(!req(r, plain, "GET", url, NULL, &g));
  char want[96];
  snprintf(want, sizeof want, "TLS handshake with localhost:%d failed:", port);
  CHECK(strstr(g.why, want) != NULL);
  CHECK(strstr(g.why, "certificate") != NULL);
  if (!strstr(g.why, want)) fprintf(stderr, "  %s\n", g.why);
  weft_http_agent_free(plain);
}

/* ---- nginx ---- */

static void test_nginx(void) {
  static const char *const bins[] = {"/usr/sbin/nginx", "/usr/bin/nginx", NULL};
  const char *bin = find_bin(bins);
  if (!bin) {
    fprintf(stderr, "  skipped: no nginx (scripts/deps installs nginx-light)\n");
    return;
  }
  int port = free_port(), tport = free_port();
  char dir[256], conf[300], err[300];
  snprintf(dir, sizeof dir, "%s/nginx", pki.dir);
  mkdir(dir, 0755);
  snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
  snprintf(err, sizeof err, "%s/error.log", dir);
  FILE *f = fopen(conf, "w");
  REQUIRE(f);
  fprintf(f,
          "daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s warn;\n"
          "events { worker_connections 64; }\n"
          "http {\n"
          "  log_format conn '$connection $status $request';\n  access_log %s/access.log conn;\n"
          "  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n"
          "  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n"
          "  types { text/html html; application/octet-stream bin; }\n"
          "  server {\n"
          "    listen 127.0.0.1:%d;\n    listen 127.0.0.1:%d ssl;\n"
          "    ssl_certificate %s;\n    ssl_certificate_key %s;\n"
          "    root %s;\n"
          "    add_header X-Conn $connection always;\n"
          "    location = /old { return 301 /file.bin; }\n"
          "    location /ssi/ { ssi on; }\n"
          "  }\n}\n",
          dir, err, dir, dir, dir, dir, dir, dir, port, tport, pki.server, pki.server_key, www);
  fclose(f);
  const char *argv[] = {bin, "-c", conf, "-p", dir, "-e", err, NULL};
  peer p;
  spawn(&p, "nginx", argv);
  if (!wait_port(&p, port) || !wait_port(&p, tport)) {
    CHECK(!"nginx did not start");
    stop(&p);
    return;
  }
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_agent *a = agent(r, pki.ca);
  char url[256];
  got g;
  /* keep-alive: four downloads on one connection, as nginx numbers its connections */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/file.bin", port);
  char first[64] = "";
  for (int i = 0; i < 4; i++) {
    bool ok = req(r, a, "GET", url, NULL, &g);
    if (!ok) fprintf(stderr, "  %s\n", g.why);
    CHECK_INT(g.status, 200);
    CHECK(body_is(&g, file_data, sizeof file_data)); /* byte for byte */
    CHECK_STR(g.cl, "307200");
    if (i == 0) snprintf(first, sizeof first, "%s", g.conn);
    CHECK(*g.conn && !strcmp(g.conn, first));
    free(g.body);
  }
  CHECK_INT(weft_http_agent_connections_made(a), 1);
  /* a redirect: seen as such, then followed */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/old", port);
  CHECK(req(r, a, "GET", url, NULL, &g));
  CHECK_INT(g.status, 301);
  CHECK(strstr(g.location, "/file.bin") != NULL);
  free(g.body);
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.follow_redirects = true;
  CHECK(req(r, a, "GET", url, &o, &g));
  CHECK_INT(g.status, 200);
  CHECK(body_is(&g, file_data, sizeof file_data));
  CHECK(strstr(g.url, "/file.bin") != NULL);
  free(g.body);
  /* chunked: nginx's SSI filter drops the length */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ssi/page.html", port);
  CHECK(req(r, a, "GET", url, NULL, &g));
  CHECK_INT(g.status, 200);
  CHECK_STR(g.te, "chunked");
  CHECK_STR(g.cl, "");
  CHECK(body_is(&g, page, strlen(page)));
  free(g.body);
  CHECK_INT(weft_http_agent_connections_made(a), 1);
  /* HTTPS with the test CA, twice on one connection */
  snprintf(url, sizeof url, "https://localhost:%d/file.bin", tport);
  for (int i = 0; i < 2; i++) {
    bool ok = req(r, a, "GET", url, NULL, &g);
    if (!ok) fprintf(stderr, "  %s\n", g.why);
    CHECK(body_is(&g, file_data, sizeof file_data));
    if (i == 0) snprintf(first, sizeof first, "%s", g.conn);
    CHECK(*g.conn && !strcmp(g.conn, first));
    free(g.body);
  }
  CHECK_INT(weft_http_agent_connections_made(a), 2);
  check_untrusted(r, url, tport);
  weft_http_agent_free(a);
  finish(r);
  stop(&p);
}

/* ---- h2o ---- */

static void test_h2o(void) {
  static const char *const bins[] = {"/usr/bin/h2o", "/usr/sbin/h2o", NULL};
  const char *bin = find_bin(bins);
  if (!bin) {
    fprintf(stderr, "  skipped: no h2o (scripts/deps installs h2o)\n");
    return;
  }
  int port = free_port();
  char conf[300];
  snprintf(conf, sizeof conf, "%s/h2o.conf", pki.dir);
  FILE *f = fopen(conf, "w");
  REQUIRE(f);
  fprintf(f,
          "num-threads: 1\nerror-log: %s/h2o-error.log\naccess-log: %s/h2o-access.log\n"
          "listen:\n  host: 127.0.0.1\n  port: %d\n"
          "hosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n",
          pki.dir, pki.dir, port, www);
  fclose(f);
  const char *argv[] = {bin, "-c", conf, NULL};
  peer p;
  spawn(&p, "h2o", argv);
  if (!wait_port(&p, port)) {
    CHECK(!"h2o did not start");
    stop(&p);
    return;
  }
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_agent *a = agent(r, NULL);
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/file.bin", port);
  for (int i = 0; i < 3; i++) {
    got g;
    bool ok = req(r, a, "GET", url, NULL, &g);
    if (!ok) fprintf(stderr, "  %s\n", g.why);
    CHECK_INT(g.status, 200);
    CHECK(body_is(&g, file_data, sizeof file_data));
    free(g.body);
  }
  CHECK_INT(weft_http_agent_connections_made(a), 1); /* h2o kept the connection for all three */
  weft_http_agent_free(a);
  finish(r);
  stop(&p);
}

/* ---- twisted.web ---- */

static void test_twisted(void) {
  if (access(PYTHON, X_OK) != 0) {
    fprintf(stderr, "  skipped: no %s (scripts/deps installs python3 and python3-twisted)\n", PYTHON);
    return;
  }
  char ports[256];
  snprintf(ports, sizeof ports, "%s/twisted.ports", pki.dir);
  const char *argv[] = {PYTHON, TWISTED_PEER, ports, pki.server, pki.server_key, NULL};
  peer p;
  spawn(&p, "twisted", argv);
  int port = 0, tport = 0;
  double end = now() + 20;
  while (now() < end && port == 0) {
    int st;
    if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
      p.pid = 0;
      show_log(&p);
      CHECK_FAIL_("the Twisted peer exited (status %d) before listening", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      return;
    }
    FILE *f = fopen(ports, "r");
    if (f) {
      if (fscanf(f, "%d %d", &port, &tport) != 2) port = 0;
      fclose(f);
    }
    if (!port) usleep(20000);
  }
  if (!port) {
    show_log(&p);
    CHECK(!"the Twisted peer did not start");
    stop(&p);
    return;
  }
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_agent *a = agent(r, pki.ca);
  char url[256], first[64];
  got g;
  /* a body streamed in five pieces over ~0.1 s, chunked */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/stream", port);
  bool ok = req(r, a, "GET", url, NULL, &g);
  if (!ok) fprintf(stderr, "  %s\n", g.why);
  CHECK_INT(g.status, 200);
  CHECK_STR(g.te, "chunked");
  CHECK(body_is(&g, "part0;part1;part2;part3;part4;", 30));
  snprintf(first, sizeof first, "%s", g.conn);
  free(g.body);
  /* keep-alive, a redirect followed on the same connection, a POST echo */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", port);
  CHECK(req(r, a, "GET", url, NULL, &g));
  CHECK(body_is(&g, "hello from twisted", 18));
  CHECK(*g.conn && !strcmp(g.conn, first));
  free(g.body);
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.follow_redirects = true;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect", port);
  CHECK(req(r, a, "GET", url, &o, &g));
  CHECK_INT(g.status, 200);
  CHECK(body_is(&g, "hello from twisted", 18));
  CHECK(strstr(g.url, "/hello") != NULL);
  CHECK(!strcmp(g.conn, first));
  free(g.body);
  weft_http_request_options_init(&o);
  o.body = "some data";
  o.body_len = 9;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
  CHECK(req(r, a, "POST", url, &o, &g));
  CHECK(body_is(&g, "POST some data", 14));
  CHECK(!strcmp(g.conn, first));
  free(g.body);
  CHECK_INT(weft_http_agent_connections_made(a), 1);
  /* HTTPS through twisted.internet.ssl, verified with the test CA */
  snprintf(url, sizeof url, "https://localhost:%d/stream", tport);
  ok = req(r, a, "GET", url, NULL, &g);
  if (!ok) fprintf(stderr, "  %s\n", g.why);
  CHECK_STR(g.te, "chunked");
  CHECK(body_is(&g, "part0;part1;part2;part3;part4;", 30));
  free(g.body);
  check_untrusted(r, url, tport);
  weft_http_agent_free(a);
  finish(r);
  stop(&p);
}

static void make_files(void) {
  snprintf(www, sizeof www, "%s/www", pki.dir);
  char path[300];
  snprintf(path, sizeof path, "%s/ssi", www);
  REQUIRE(mkdir(www, 0755) == 0 && mkdir(path, 0755) == 0);
  chmod(pki.dir, 0711); /* h2o started as root serves as nobody: it must reach www */
  for (size_t i = 0; i < sizeof file_data; i++) file_data[i] = (unsigned char)(i * 7 + i / 4099);
  snprintf(path, sizeof path, "%s/file.bin", www);
  FILE *f = fopen(path, "wb");
  REQUIRE(f && fwrite(file_data, 1, sizeof file_data, f) == sizeof file_data);
  fclose(f);
  size_t n = 0;
  for (int i = 0; n + 64 < sizeof page; i++) n += (size_t)snprintf(page + n, sizeof page - n, "<p>line %d of the page</p>\n", i);
  snprintf(path, sizeof path, "%s/ssi/page.html", www);
  f = fopen(path, "w");
  REQUIRE(f && fputs(page, f) >= 0);
  fclose(f);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  pki_make(&pki);
  make_files();
  RUN(test_nginx);
  RUN(test_h2o);
  RUN(test_twisted);
  pki_remove(&pki);
  return CHECK_DONE();
}
