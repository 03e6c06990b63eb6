/* The HTTP/1.1 client over real sockets on 127.0.0.1 (port 0): keep-alive reuse counted by the
 * connections a weft server accepted, a refused connection's message, HTTPS with a CA made at
 * test time (verified, and the verification failure's reason), and `weft get` end to end (exit
 * codes and messages). */
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "../net/tls_util.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/tcp.h"
#include "weft/testing.h"
#include "weft/tls.h"

static test_pki pki;

typedef struct counting {
  const weft_factory *inner;
  weft_factory f;
  int accepted;
} counting;

static int count_build(void *user, const weft_address *peer, weft_protocol *out) {
  counting *c = user;
  c->accepted++;
  return c->inner->build_protocol(c->inner->user, peer, out);
}

/* What the handler saw of the connection's TLS (weft_http_request_tls_info). */
static int seen_tls_rc = 1;
static char seen_tls_version[32], seen_tls_sni[256];

static void handler(weft_http_request *req, void *user) {
  (void)user;
  weft_tls_info info;
  seen_tls_rc = weft_http_request_tls_info(req, &info);
  if (seen_tls_rc == 0) {
    snprintf(seen_tls_version, sizeof seen_tls_version, "%s", info.version);
    snprintf(seen_tls_sni, sizeof seen_tls_sni, "%s", info.server_name);
  }
  weft_http_respond(req, 200, NULL, 0, "secret-ok", 9);
}

typedef struct srv {
  weft_http_server *http;
  counting count;
  weft_tls_context *ctx;
  weft_tls_factory *tf;
  weft_listening_port *port;
  int portno;
} srv;

static void srv_start(srv *s, weft_reactor *r, const char *cert, const char *key) {
  memset(s, 0, sizeof *s);
  REQUIRE(weft_http_server_new(&s->http, r, NULL) == 0);
  weft_http_server_set_handler(s->http, handler, NULL);
  s->count.inner = weft_http_server_factory(s->http);
  s->count.f = (weft_factory){.build_protocol = count_build, .user = &s->count};
  const weft_factory *f = &s->count.f;
  if (cert) {
    weft_tls_server_options o;
    weft_tls_server_options_init(&o);
    o.cert_file = cert;
    o.key_file = key;
    REQUIRE(weft_tls_server_context_new(&s->ctx, &o) == 0);
    REQUIRE(weft_tls_wrap_factory(&s->tf, s->ctx, NULL, f) == 0);
    f = weft_tls_factory_get(s->tf);
  }
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  REQUIRE(weft_tcp_listen(&s->port, r, 0, &lo, f) == 0);
  weft_address a;
  weft_listening_port_address(s->port, &a);
  s->portno = weft_address_port(&a);
}

static void spin(weft_reactor *r, double seconds) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    weft_reactor_iterate(r, 0.01);
    clock_gettime(CLOCK_MONOTONIC, &t1);
  } while ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
}

static void srv_stop(srv *s, weft_reactor *r) {
  weft_listening_port_close(s->port);
  spin(r, 0.05);
  weft_http_server_free(s->http);
  spin(r, 0.05);
  weft_tls_factory_free(s->tf);
  weft_tls_context_free(s->ctx);
}

static bool wait_for(weft_reactor *r, weft_deferred *d) {
  for (int i = 0; i < 500 && !weft_deferred_called(d); i++) weft_reactor_iterate(r, 0.01);
  return weft_deferred_called(d);
}

/* GETs url, returns the body (malloc'd) or NULL with the failure text in why. */
static char *get(weft_reactor *r, weft_http_agent *a, const char *url, int *code, char *why, size_t n) {
  weft_deferred *d = weft_http_agent_request(a, "GET", url, NULL);
  REQUIRE(d && wait_for(r, d));
  weft_value v;
  if (weft_success_result_of(d, &v, why, n) != 0) {
    weft_deferred_unref(d);
    *code = 0;
    return NULL;
  }
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  *code = weft_http_response_status(resp);
  weft_deferred *c = weft_http_response_content(resp, 0);
  REQUIRE(wait_for(r, c));
  weft_value b;
  char *out = NULL;
  if (weft_success_result_of(c, &b, why, n) == 0) {
    out = strdup(((weft_http_bytes *)b.v.p)->data);
    weft_value_release(b);
  }
  weft_deferred_unref(c);
  weft_value_release(v);
  return out;
}

static void test_keep_alive_and_refused(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  srv s;
  srv_start(&s, r, NULL, NULL);
  weft_http_agent *a;
  REQUIRE(weft_http_agent_new(&a, r, NULL) == 0);
  char url[128], why[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.portno);
  for (int i = 0; i < 4; i++) {
    int code;
    char *body = get(r, a, url, &code, why, sizeof why);
    CHECK_INT(code, 200);
    CHECK_STR(body, "secret-ok");
    free(body);
  }
  CHECK_INT(s.count.accepted, 1); /* one connection carried all four */
  CHECK_INT(seen_tls_rc, WEFT_ENOTSUP); /* plain HTTP: no TLS session to tell of */
  /* refused: a port nobody listens on any more */
  int dead = s.portno;
  srv_stop(&s, r);
  weft_http_agent_free(a);
  REQUIRE(weft_http_agent_new(&a, r, NULL) == 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", dead);
  int code;
  char *body = get(r, a, url, &code, why, sizeof why);
  CHECK(body == NULL);
  char want[128];
  snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%d: connection refused", dead);
  CHECK(strstr(why, want) != NULL);
  weft_http_agent_free(a);
  spin(r, 0.05);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

/* A burst of requests to one host starts a connection for each at once (up to the per-host
 * limit), not one per connect round trip; once answered, all of them stay for reuse. */
static void test_burst_connects_at_once(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  srv s;
  srv_start(&s, r, NULL, NULL);
  weft_http_agent *a;
  REQUIRE(weft_http_agent_new(&a, r, NULL) == 0);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/b", s.portno);
  weft_deferred *d[3];
  for (int i = 0; i < 3; i++) d[i] = weft_http_agent_request(a, "GET", url, NULL);
  CHECK_INT(weft_http_agent_open_connections(a), 3); /* before any turn of the reactor */
  for (int i = 0; i < 3; i++) {
    REQUIRE(wait_for(r, d[i]));
    weft_value v;
    REQUIRE(weft_success_result_of(d[i], &v, NULL, 0) == 0);
    weft_value_release(v);
    weft_deferred_unref(d[i]);
  }
  CHECK_INT(s.count.accepted, 3);
  weft_http_agent_free(a);
  spin(r, 0.05);
  srv_stop(&s, r);
  spin(r, 0.05);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

static void test_https(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  srv s;
  srv_start(&s, r, pki.server, pki.server_key);
  char url[128], why[1024];
  snprintf(url, sizeof url, "https://localhost:%d/", s.portno);
  weft_http_agent_options o;
  weft_http_agent_options_init(&o);
  o.ca_file = pki.ca;
  weft_http_agent *a;
  REQUIRE(weft_http_agent_new(&a, r, &o) == 0);
  int code;
  char *body = get(r, a, url, &code, why, sizeof why);
  if (!body) fprintf(stderr, "  %s\n", why);
  CHECK_INT(code, 200);
  CHECK_STR(body, "secret-ok");
  free(body);
  /* the handler saw the TLS session: its version and the name the client asked for */
  CHECK_INT(seen_tls_rc, 0);
  CHECK(strncmp(seen_tls_version, "TLSv1.", 6) == 0);
  CHECK_STR(seen_tls_sni, "localhost");
  body = get(r, a, url, &code, why, sizeof why);
  CHECK_STR(body, "secret-ok");
  free(body);
  CHECK_INT(s.count.accepted, 1);
  weft_http_agent_free(a);
  /* the system store does not know the test CA: verification fails, and says why */
  weft_http_agent_options_init(&o);
  o.ca_file = pki.other; /* any PEM that is not the issuer */
  REQUIRE(weft_http_agent_new(&a, r, &o) == 0);
  body = get(r, a, url, &code, why, sizeof why);
  CHECK(body == NULL);
  char want[128];
  snprintf(want, sizeof want, "TLS handshake with localhost:%d failed:", s.portno);
  CHECK(strstr(why, want) != NULL);
  CHECK(strstr(why, "certificate") != NULL);
  weft_http_agent_free(a);
  spin(r, 0.1);
  srv_stop(&s, r);
  spin(r, 0.05);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

/* Runs `weft get ARGS` in a child while r serves (bounded); returns its exit status, its stderr
 * in err. */
static int run_weft_get(weft_reactor *r, const char *args, char *err, size_t n) {
  char cmd[1024], errf[256];
  snprintf(errf, sizeof errf, "%s/get.err", pki.dir);
  snprintf(cmd, sizeof cmd, "exec %s/weft get %s > %s/get.out 2> %s", WEFT_BINARY_DIR, args, pki.dir, errf);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  pid_t done = 0;
  for (int i = 0; i < 2000 && done == 0; i++) {
    spin(r, 0.01);
    done = waitpid(pid, &st, WNOHANG);
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  FILE *e = fopen(errf, "r");
  size_t k = e ? fread(err, 1, n - 1, e) : 0;
  err[k] = '\0';
  if (e) fclose(e);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_weft_get(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  srv s;
  srv_start(&s, r, pki.server, pki.server_key);
  char args[512], err[1024];
  snprintf(args, sizeof args, "https://localhost:%d/ --cacert %s -o %s/body.txt", s.portno, pki.ca, pki.dir);
  CHECK_INT(run_weft_get(r, args, err, sizeof err), 0);
  char path[256], body[64] = {0};
  snprintf(path, sizeof path, "%s/body.txt", pki.dir);
  FILE *b = fopen(path, "r");
  REQUIRE(b);
  CHECK(fread(body, 1, sizeof body - 1, b) == 9);
  fclose(b);
  CHECK_STR(body, "secret-ok");
  /* a body that cannot be written (the disk is full once the buffered bytes are flushed) is a
   * failure, not a success with a truncated file */
  if (access("/dev/full", W_OK) == 0) {
    snprintf(args, sizeof args, "https://localhost:%d/ --cacert %s -o /dev/full", s.portno, pki.ca);
    CHECK_INT(run_weft_get(r, args, err, sizeof err), 1);
    CHECK(strstr(err, "weft get: writing the body failed") != NULL);
  }
  /* without the CA: a clear one-line reason and a failure status */
  snprintf(args, sizeof args, "https://localhost:%d/", s.portno);
  CHECK_INT(run_weft_get(r, args, err, sizeof err), 1);
  CHECK(strstr(err, "weft get: GET https://localhost:") != NULL);
  CHECK(strstr(err, "certificate") != NULL);
  CHECK(strchr(err, '\n') == err + strlen(err) - 1);
  srv_stop(&s, r);
  spin(r, 0.05);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

int main(void) {
  pki_make(&pki);
  RUN(test_keep_alive_and_refused);
  RUN(test_burst_connects_at_once);
  RUN(test_https);
  RUN(test_weft_get);
  pki_remove(&pki);
  return CHECK_DONE();
}
