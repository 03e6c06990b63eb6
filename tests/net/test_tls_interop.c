/* Interop of src/net/tls.c with TLS peers we did not write, on loopback: `openssl s_client` and
 * Python's ssl module and curl as clients of a weft server, a weft client against `openssl
 * s_server`. Peers are spawned with posix_spawn; every wait is bounded; certificates are made at
 * test time (tls_util.h). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "net_util.h"
#include "tls_util.h"
#include "weft/tls.h"

extern char **environ;

static test_pki pki;

/* ---- child processes ---- */

typedef struct child {
  pid_t pid;
  int in, out; /* our ends: the child's stdin, its stdout and stderr together */
  char text[1 << 15];
  size_t len;
  int status;
  bool exited;
} child;

static bool spawn_child(child *c, char *const argv[]) {
  memset(c, 0, sizeof *c);
  int in[2], out[2];
  REQUIRE(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  int rc = posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  c->in = in[1];
  c->out = out[0];
  fcntl(c->out, F_SETFL, O_NONBLOCK);
  if (rc != 0) {
    close(c->in);
    close(c->out);
    return false;
  }
  return true;
}

static void child_read(child *c) {
  ssize_t n;
  while (c->len < sizeof c->text - 1 && (n = read(c->out, c->text + c->len, sizeof c->text - 1 - c->len)) > 0)
    c->len += (size_t)n;
  c->text[c->len] = '\0';
}

static void child_close_stdin(child *c) {
  if (c->in >= 0) close(c->in);
  c->in = -1;
}

/* Turns r while the child runs (at most `seconds`), collecting its output; kills it if it overruns.
 * Returns its exit status (-1 if it had to be killed). */
static int child_wait(child *c, weft_reactor *r, double seconds) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    weft_reactor_iterate(r, 0.005);
    child_read(c);
    if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
      c->exited = true;
      break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 > seconds) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &c->status, 0);
      fprintf(stderr, "  child overran; its output:\n%s\n", c->text);
      break;
    }
  }
  child_read(c);
  child_close_stdin(c);
  close(c->out);
  return c->exited && WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1;
}

/* Turns r until the child printed `what` (bounded). */
static bool child_expect(child *c, weft_reactor *r, const char *what, double seconds) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    child_read(c);
    if (strstr(c->text, what)) return true;
    weft_reactor_iterate(r, 0.005);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 > seconds) return false;
  }
}

static bool have_program(const char *path_or_name) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "command -v '%s' >/dev/null 2>&1", path_or_name);
  return system(cmd) == 0;
}

/* ---- the weft side ---- */

typedef struct server_app {
  int conns, lost;
  int last_reason;
  weft_tls_info info; /* of the last connection, at connection_made */
  char got[4096];
  size_t ngot;
  bool http; /* answer one HTTP request instead of echoing */
} server_app;

static void sv_made(weft_transport *t, void *u) {
  server_app *s = u;
  s->conns++;
  weft_tls_get_info(t, &s->info);
}
static void sv_data(weft_transport *t, const void *d, size_t n, void *u) {
  server_app *s = u;
  size_t k = n < sizeof s->got - 1 - s->ngot ? n : sizeof s->got - 1 - s->ngot;
  memcpy(s->got + s->ngot, d, k);
  s->ngot += k;
  s->got[s->ngot] = '\0';
  if (s->http) {
    if (strstr(s->got, "\r\n\r\n")) {
      const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello, curl\n";
      weft_transport_write(t, resp, strlen(resp));
      weft_transport_lose_connection(t);
    }
    return;
  }
  weft_transport_write(t, d, n);
  if (memchr(d, '\n', n)) weft_transport_lose_connection(t); /* one line, then close_notify */
}
static void sv_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  server_app *s = u;
  s->lost++;
  s->last_reason = reason;
}
static const weft_protocol_callbacks sv_cb = {.connection_made = sv_made, .data_received = sv_data,
                                              .connection_lost = sv_lost};
static int sv_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){.cb = &sv_cb, .user = u};
  return 0;
}

static const char *const alpn_list[] = {"h2", "http/1.1"};
static weft_tls_sni_cert sni[1];

typedef struct weft_server {
  weft_reactor *r;
  weft_tls_context *ctx;
  weft_tls_factory *tf;
  weft_factory inner;
  weft_listening_port *port;
  char port_text[16];
  server_app app;
} weft_server;

static void server_start(weft_server *s, const char *cert, const char *key, weft_tls_client_cert client_cert) {
  memset(s, 0, sizeof *s);
  REQUIRE(weft_reactor_new(&s->r, NULL) == 0);
  weft_tls_server_options o;
  weft_tls_server_options_init(&o);
  o.cert_file = cert;
  o.key_file = key;
  sni[0] = (weft_tls_sni_cert){.hostname = "*.vhost.example", .cert_file = pki.other, .key_file = pki.other_key};
  o.sni = sni;
  o.sni_count = 1;
  o.alpn = alpn_list;
  o.alpn_count = 2;
  o.client_cert = client_cert;
  o.client_ca_file = pki.ca;
  REQUIRE(weft_tls_server_context_new(&s->ctx, &o) == 0);
  s->inner = (weft_factory){.build_protocol = sv_build, .user = &s->app};
  REQUIRE(weft_tls_wrap_factory(&s->tf, s->ctx, NULL, &s->inner) == 0);
  s->port = listen_local(s->r, weft_tls_factory_get(s->tf));
  weft_address a;
  weft_listening_port_address(s->port, &a);
  snprintf(s->port_text, sizeof s->port_text, "%d", weft_address_port(&a));
}

static void server_stop(weft_server *s) {
  weft_listening_port_close(s->port);
  close_reactor(s->r);
  weft_tls_factory_free(s->tf);
  weft_tls_context_free(s->ctx);
}

/* ---- openssl s_client against weft ---- */

static void s_client_run(const char *version_flag, const char *servername, const char *want_version,
                         const char *want_subject) {
  weft_server s;
  server_start(&s, pki.server, pki.server_key, WEFT_TLS_CLIENT_CERT_NONE);
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%s", s.port_text);
  char *argv[] = {"openssl", "s_client", "-connect", connect, (char *)version_flag, "-alpn", "http/1.1,h2",
                  "-servername", (char *)servername, "-CAfile", pki.ca, "-verify_return_error", "-ign_eof", NULL};
  child c;
  REQUIRE(spawn_child(&c, argv));
  CHECK(write(c.in, "ping\n", 5) == 5);
  int rc = child_wait(&c, s.r, 10);
  CHECK_INT(rc, 0);
  CHECK(strstr(c.text, "\nping\n") != NULL || strstr(c.text, "ping\n") != NULL);
  CHECK(strstr(c.text, "Verify return code: 0 (ok)") != NULL);
  CHECK(strstr(c.text, "ALPN protocol: h2") != NULL); /* the server's preference, not the client's */
  if (!strstr(c.text, want_subject)) CHECK_STR(c.text, want_subject);
  for (int i = 0; i < 100 && s.app.lost == 0; i++) weft_reactor_iterate(s.r, 0.01);
  CHECK_INT(s.app.conns, 1);
  CHECK_STR(s.app.info.version, want_version);
  CHECK_STR(s.app.info.alpn, "h2");
  CHECK_STR(s.app.info.server_name, servername);
  CHECK_STR(s.app.got, "ping\n");
  CHECK_INT(s.app.last_reason, 0);
  server_stop(&s);
}

static void test_s_client_tls13_sni_alpn(void) {
  s_client_run("-tls1_3", "a.vhost.example", "TLSv1.3", "subject=CN = other.example");
}

static void test_s_client_tls12(void) { s_client_run("-tls1_2", "localhost", "TLSv1.2", "subject=CN = localhost"); }

/* s_client with no client certificate against a server that requires one: refused. */
static void test_s_client_mutual_tls_required(void) {
  weft_server s;
  server_start(&s, pki.server, pki.server_key, WEFT_TLS_CLIENT_CERT_REQUIRED);
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%s", s.port_text);
  char *argv[] = {"openssl", "s_client", "-connect", connect, "-CAfile", pki.ca, "-ign_eof",
                  "-cert", pki.client, "-key", pki.client_key, NULL};
  char *argv_nocert[] = {"openssl", "s_client", "-connect", connect, "-CAfile", pki.ca, "-ign_eof", NULL};
  child c;
  REQUIRE(spawn_child(&c, argv));
  CHECK(write(c.in, "ping\n", 5) == 5);
  CHECK_INT(child_wait(&c, s.r, 10), 0);
  for (int i = 0; i < 100 && s.app.lost == 0; i++) weft_reactor_iterate(s.r, 0.01);
  CHECK_INT(s.app.conns, 1);
  CHECK_STR(s.app.info.peer_subject, "CN=client");
  CHECK(s.app.info.peer_verified);
  REQUIRE(spawn_child(&c, argv_nocert));
  CHECK(write(c.in, "ping\n", 5) == 5);
  child_wait(&c, s.r, 10);
  CHECK(strstr(c.text, "certificate required") != NULL);
  CHECK_INT(s.app.conns, 1); /* the application never saw the second one */
  server_stop(&s);
}

/* ---- weft client against openssl s_server ---- */

typedef struct client_app {
  bool made, lost, failed;
  int reason;
  weft_tls_info info;
  char got[256];
  size_t ngot;
  char err[256];
} client_app;

static void ca_made(weft_transport *t, void *u) {
  client_app *c = u;
  c->made = true;
  weft_tls_get_info(t, &c->info);
  weft_transport_write(t, "hello weft\n", 11);
}
static void ca_data(weft_transport *t, const void *d, size_t n, void *u) {
  client_app *c = u;
  size_t k = n < sizeof c->got - 1 - c->ngot ? n : sizeof c->got - 1 - c->ngot;
  memcpy(c->got + c->ngot, d, k);
  c->ngot += k;
  c->got[c->ngot] = '\0';
  if (strchr(c->got, '\n')) weft_transport_lose_connection(t);
}
static void ca_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  client_app *c = u;
  c->lost = true;
  c->reason = reason;
}
static const weft_protocol_callbacks ca_cb = {.connection_made = ca_made, .data_received = ca_data,
                                              .connection_lost = ca_lost};
static int ca_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){.cb = &ca_cb, .user = u};
  return 0;
}
static void ca_failed(void *u, int reason) {
  client_app *c = u;
  c->failed = true;
  c->reason = reason;
  snprintf(c->err, sizeof c->err, "%s", weft_tls_last_error());
}

/* A port that was free a moment ago (the kernel's choice), for a peer that must be told one. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void s_server_run(const char *cert, const char *key, const char *name, client_app *ca) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  int port = free_port();
  char accept[32];
  snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
  char *argv[] = {"openssl", "s_server", "-accept", accept, "-naccept", "1", "-cert", (char *)cert, "-key",
                  (char *)key, "-alpn", "http/1.1,h2", "-rev", NULL};
  child c;
  REQUIRE(spawn_child(&c, argv));
  REQUIRE(child_expect(&c, r, "ACCEPT", 10));
  weft_tls_client_options o;
  weft_tls_client_options_init(&o);
  o.ca_file = pki.ca;
  const char *const offer[] = {"h2"};
  o.alpn = offer;
  o.alpn_count = 1;
  weft_tls_context *ctx;
  REQUIRE(weft_tls_client_context_new(&ctx, &o) == 0);
  weft_factory inner = {.build_protocol = ca_build, .connection_failed = ca_failed, .user = ca};
  weft_tls_factory *tf;
  REQUIRE(weft_tls_wrap_factory(&tf, ctx, name, &inner) == 0);
  weft_address to;
  weft_address_from_ip(&to, "127.0.0.1", port);
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, weft_tls_factory_get(tf)) == 0);
  bool done = false;
  for (int i = 0; i < 1000 && !done; i++) {
    weft_reactor_iterate(r, 0.01);
    done = ca->lost || ca->failed;
  }
  CHECK(done);
  child_wait(&c, r, 10);
  close_reactor(r);
  weft_tls_factory_free(tf);
  weft_tls_context_free(ctx);
}

static void test_weft_client_against_s_server(void) {
  client_app ca = {0};
  s_server_run(pki.server, pki.server_key, "localhost", &ca);
  CHECK(ca.made && !ca.failed);
  CHECK_STR(ca.info.alpn, "h2");
  CHECK_STR(ca.info.peer_subject, "CN=localhost");
  CHECK(ca.info.peer_verified);
  CHECK_STR(ca.got, "tfew olleh\n"); /* -rev sends each line back reversed */
  CHECK_INT(ca.reason, 0);
}

static void test_weft_client_rejects_expired_and_mismatch(void) {
  client_app ca = {0};
  s_server_run(pki.expired, pki.expired_key, "localhost", &ca);
  CHECK(ca.failed && !ca.made);
  CHECK_INT(ca.reason, WEFT_ETLSEXPIRED);
  if (!strstr(ca.err, "expired")) CHECK_STR(ca.err, "expired");
  client_app cb = {0};
  s_server_run(pki.server, pki.server_key, "not-localhost.example", &cb);
  CHECK(cb.failed && !cb.made);
  CHECK_INT(cb.reason, WEFT_ETLSHOSTNAME);
}

/* ---- Python's ssl module as a client ---- */

static const char *py_client =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
    "ctx.load_verify_locations(sys.argv[2])\n"
    "ctx.set_alpn_protocols(['http/1.1'])\n"
    "if len(sys.argv) > 3: ctx.load_cert_chain(sys.argv[3], sys.argv[4])\n"
    "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5) as raw:\n"
    "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:\n"
    "        s.sendall(b'from python\\n')\n"
    "        data = b''\n"
    "        while not data.endswith(b'\\n'):\n"
    "            chunk = s.recv(100)\n"
    "            if not chunk: break\n"
    "            data += chunk\n"
    "        print('GOT', data.decode().strip(), s.version(), s.selected_alpn_protocol())\n"
    "        try: s.unwrap()\n"
    "        except (ssl.SSLError, OSError): pass\n";

static void test_python_client(void) {
  if (!have_program("/usr/bin/python3")) {
    fprintf(stderr, "  (no /usr/bin/python3: scripts/deps installs it)\n");
    return;
  }
  weft_server s;
  server_start(&s, pki.server, pki.server_key, WEFT_TLS_CLIENT_CERT_OPTIONAL);
  char *argv[] = {"/usr/bin/python3", "-c", (char *)py_client, s.port_text, pki.ca, pki.client, pki.client_key, NULL};
  child c;
  REQUIRE(spawn_child(&c, argv));
  int rc = child_wait(&c, s.r, 10);
  CHECK_INT(rc, 0);
  if (!strstr(c.text, "GOT from python TLSv1.3 http/1.1")) CHECK_STR(c.text, "GOT from python TLSv1.3 http/1.1");
  for (int i = 0; i < 100 && s.app.lost == 0; i++) weft_reactor_iterate(s.r, 0.01);
  CHECK_STR(s.app.info.peer_subject, "CN=client"); /* optional client certificate, sent and verified */
  CHECK_STR(s.app.info.alpn, "http/1.1");
  server_stop(&s);
}

/* ---- curl ---- */

static void test_curl(void) {
  if (!have_program("curl")) {
    fprintf(stderr, "  (no curl: scripts/deps installs it)\n");
    return;
  }
  for (int expired = 0; expired < 2; expired++) {
    weft_server s;
    server_start(&s, expired ? pki.expired : pki.server, expired ? pki.expired_key : pki.server_key,
                 WEFT_TLS_CLIENT_CERT_NONE);
    s.app.http = true;
    char resolve[64], url[64];
    snprintf(resolve, sizeof resolve, "localhost:%s:127.0.0.1", s.port_text);
    snprintf(url, sizeof url, "https://localhost:%s/", s.port_text);
    char *argv[] = {"curl", "-sS", "--max-time", "5", "--http1.1", "--cacert", pki.ca, "--resolve", resolve, url, NULL};
    child c;
    REQUIRE(spawn_child(&c, argv));
    int rc = child_wait(&c, s.r, 10);
    if (!expired) {
      CHECK_INT(rc, 0);
      CHECK_STR(c.text, "hello, curl\n");
      CHECK_STR(s.app.info.alpn, "http/1.1");
    } else {
      CHECK_INT(rc, 60); /* curl: peer certificate cannot be authenticated */
      CHECK(strstr(c.text, "expired") != NULL);
      CHECK_INT(s.app.conns, 0);
    }
    server_stop(&s);
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  pki_make(&pki);
  RUN(test_s_client_tls13_sni_alpn);
  RUN(test_s_client_tls12);
  RUN(test_s_client_mutual_tls_required);
  RUN(test_weft_client_against_s_server);
  RUN(test_weft_client_rejects_expired_and_mismatch);
  RUN(test_python_client);
  RUN(test_curl);
  pki_remove(&pki);
  return CHECK_DONE();
}
