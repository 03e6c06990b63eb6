/* tls_echo: an echo server and its clients over TLS (Twisted's echoserv_ssl.py and
 * echoclient_ssl.py: listenSSL with a server context, a tls: client endpoint).
 *
 * The echo protocol is the plain one of reactor_echo.c: it never learns that its bytes are
 * encrypted. TLS is added around it, two ways:
 *   - the server wraps its factory with weft_tls_wrap_factory and a server context (which here
 *     also offers an ALPN protocol, "weft-echo"), then listens with weft_tcp_listen;
 *   - client 1 connects through a Twisted-style endpoint string,
 *     "tls:host=127.0.0.1:port=N:trustRoots=CERT", which verifies the server's certificate for
 *     the address 127.0.0.1 against the demo's own certificate;
 *   - client 2 makes a client context by hand (trusting the same file, offering ALPN "weft-echo")
 *     and wraps its factory for the name "localhost", sent as SNI and checked in the certificate.
 * Each client prints what the handshake negotiated (weft_tls_get_info: version, ALPN), sends
 * three lines, prints the echoes and closes with close_notify.
 *
 * The certificate is made at start (demo_cert.h: EC P-256, self-signed, for localhost and
 * 127.0.0.1) into a private temporary directory removed at exit.
 *
 * Run:
 *   tls_echo                      demo on 127.0.0.1 (a free port), exits 0 if every line came back
 *   tls_echo --listen ENDPOINT    serves until Ctrl-C on any server endpoint; an ssl:/tls: one
 *                                 without privateKey= gets the generated certificate, e.g.
 *                                 tls_echo --listen ssl:8443:interface=127.0.0.1
 *                                 openssl s_client -connect 127.0.0.1:8443 -CAfile CERT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_cert.h"
#include "weft/endpoint.h"
#include "weft/weft.h"

typedef struct app {
  weft_reactor *r;
  demo_cert cert;
  weft_listening_port *port;
  int open;       /* connections open, both ends counted: the demo ends when it reaches 0 */
  bool finished;  /* the last client is done: stop once nothing is open */
  int echoed;     /* lines that came back intact, over every client */
  weft_transport **conns; /* --listen: open server connections, aborted on Ctrl-C */
  size_t nconns, cap;
} app;

static void maybe_stop(app *a) {
  if (!a->finished || a->open > 0) return;
  if (a->port) weft_listening_port_close(a->port);
  a->port = NULL;
  weft_reactor_stop(a->r);
}

/* ---- the server: echo, as in reactor_echo.c ---- */

static bool demo_mode = true;

static void echo_made(weft_transport *t, void *user) {
  app *a = user;
  a->open++;
  weft_tls_info info;
  if (demo_mode && weft_tls_get_info(t, &info) == 0)
    printf("server: handshake done: %s, ALPN %s, SNI %s\n", info.version, info.alpn[0] ? info.alpn : "(none)",
           info.server_name[0] ? info.server_name : "(none)");
  if (demo_mode) return;
  if (a->nconns == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    weft_transport **more = realloc(a->conns, cap * sizeof *more);
    if (!more) { /* cannot track it: Ctrl-C could not close it, so refuse it now */
      weft_transport_abort_connection(t);
      return;
    }
    a->conns = more;
    a->cap = cap;
  }
  a->conns[a->nconns++] = t;
}

static void echo_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)user;
  weft_transport_write(t, data, len);
}

static void echo_lost(weft_transport *t, int reason, void *user) {
  app *a = user;
  a->open--;
  for (size_t i = 0; i < a->nconns; i++)
    if (a->conns[i] == t) a->conns[i] = a->conns[--a->nconns];
  if (demo_mode) printf("server: connection closed (%s)\n", reason == 0 ? "clean" : weft_strerror(reason));
  maybe_stop(a);
}

static const weft_protocol_callbacks echo_callbacks = {
    .connection_made = echo_made, .data_received = echo_data, .connection_lost = echo_lost};

static int echo_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){.cb = &echo_callbacks, .user = user};
  return 0;
}

/* ---- the clients: one line at a time, each awaited before the next ---- */

static const char *lines[] = {"hello over TLS", "the protocol sees plaintext", "goodbye"};
#define NLINES (sizeof lines / sizeof lines[0])

typedef struct client {
  app *a;
  int id;
  void (*next_client)(app *a); /* what to do once this one has closed */
  size_t next;                 /* the line awaited */
  char got[256];
  size_t got_len;
} client;

static void client_send(weft_transport *t, client *c) {
  if (c->next == NLINES) {
    weft_transport_lose_connection(t); /* close_notify after the last echo */
    return;
  }
  char line[128];
  int n = snprintf(line, sizeof line, "%s\n", lines[c->next]);
  printf("client %d sent: %s\n", c->id, lines[c->next]);
  weft_transport_write(t, line, (size_t)n);
}

static void client_made(weft_transport *t, void *user) {
  client *c = user;
  c->a->open++;
  weft_tls_info info;
  if (weft_tls_get_info(t, &info) == 0)
    printf("client %d: connected with %s, ALPN %s, server certificate %s (%s)\n", c->id, info.version,
           info.alpn[0] ? info.alpn : "(none)", info.peer_verified ? "verified" : "NOT verified", info.peer_subject);
  client_send(t, c);
}

static void client_data(weft_transport *t, const void *data, size_t len, void *user) {
  client *c = user;
  if (len > sizeof c->got - c->got_len) {
    weft_transport_abort_connection(t);
    return;
  }
  memcpy(c->got + c->got_len, data, len);
  c->got_len += len;
  char *nl;
  while (c->next < NLINES && (nl = memchr(c->got, '\n', c->got_len)) != NULL) {
    *nl = '\0';
    printf("client %d got back: %s\n", c->id, c->got);
    if (strcmp(c->got, lines[c->next]) == 0) c->a->echoed++;
    c->got_len -= (size_t)(nl + 1 - c->got);
    memmove(c->got, nl + 1, c->got_len);
    c->next++;
    client_send(t, c);
  }
}

static void client_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  client *c = user;
  c->a->open--;
  printf("client %d: closed (%s)\n", c->id, reason == 0 ? "clean" : weft_strerror(reason));
  c->next_client(c->a);
}

static const weft_protocol_callbacks client_callbacks = {
    .connection_made = client_made, .data_received = client_data, .connection_lost = client_lost};

static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){.cb = &client_callbacks, .user = user};
  return 0;
}

/* ---- the demo's sequence: client 1 (endpoint string), then client 2 (context by hand) ---- */

static weft_address server_addr;
static client c1, c2;
static weft_factory c1_factory, c2_factory;
static weft_tls_factory *c2_tls;

static void demo_done(app *a) {
  a->finished = true;
  maybe_stop(a);
}

static void client2_failed(void *user, int reason) {
  client *c = user;
  printf("client %d: cannot connect: %s (%s)\n", c->id, weft_strerror(reason), weft_tls_last_error());
  demo_done(c->a);
}

static void start_client2(app *a) {
  static const char *const alpn[] = {"weft-echo"};
  weft_tls_client_options o;
  weft_tls_client_options_init(&o);
  o.ca_file = a->cert.cert; /* pinned: only this certificate is trusted */
  o.alpn = alpn;
  o.alpn_count = 1;
  weft_tls_context *ctx;
  c2 = (client){.a = a, .id = 2, .next_client = demo_done};
  c2_factory = (weft_factory){.build_protocol = client_build, .connection_failed = client2_failed, .user = &c2};
  int rc = weft_tls_client_context_new(&ctx, &o);
  if (rc == 0) {
    rc = weft_tls_wrap_factory(&c2_tls, ctx, "localhost", &c2_factory);
    weft_tls_context_free(ctx); /* the factory keeps its own reference */
  }
  printf("client 2: TLS client context offering ALPN weft-echo, verifying the name localhost\n");
  if (rc == 0) rc = weft_tcp_connect(NULL, a->r, &server_addr, NULL, weft_tls_factory_get(c2_tls));
  if (rc) client2_failed(&c2, rc);
}

static weft_value client1_failed(weft_value v, void *arg) {
  client *c = arg;
  printf("client %d: %s\n", c->id, weft_failure_message(v.v.f));
  weft_value_release(v);
  demo_done(c->a);
  return weft_none();
}

static int start_client1(app *a) {
  char cert[600], desc[800], err[256];
  demo_cert_escape(a->cert.cert, cert, sizeof cert);
  snprintf(desc, sizeof desc, "tls:host=127.0.0.1:port=%u:trustRoots=%s", (unsigned)weft_address_port(&server_addr),
           cert);
  printf("client 1: endpoint tls:host=127.0.0.1:port=PORT:trustRoots=CERT\n");
  weft_client_endpoint *e;
  int rc = weft_client_endpoint_parse(&e, desc, err, sizeof err);
  if (rc) {
    fprintf(stderr, "tls_echo: %s\n", err);
    return rc;
  }
  c1 = (client){.a = a, .id = 1, .next_client = start_client2};
  c1_factory = (weft_factory){.build_protocol = client_build, .user = &c1};
  weft_deferred *d = weft_client_endpoint_connect(e, a->r, &c1_factory);
  weft_client_endpoint_free(e); /* the attempt does not need it */
  if (!d) return WEFT_ENOMEM;
  weft_deferred_add_errback(d, client1_failed, &c1);
  weft_deferred_unref(d);
  return 0;
}

static int run_demo(app *a, const weft_factory *echo) {
  static const char *const alpn[] = {"weft-echo"};
  weft_tls_server_options o;
  weft_tls_server_options_init(&o);
  o.cert_file = a->cert.cert;
  o.key_file = a->cert.key;
  o.alpn = alpn;
  o.alpn_count = 1;
  weft_tls_context *ctx;
  weft_tls_factory *tls = NULL;
  int rc = weft_tls_server_context_new(&ctx, &o);
  if (rc == 0) {
    rc = weft_tls_wrap_factory(&tls, ctx, NULL, echo);
    weft_tls_context_free(ctx);
  }
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  if (rc == 0) rc = weft_tcp_listen(&a->port, a->r, 0, &lo, weft_tls_factory_get(tls));
  if (rc == 0) rc = weft_listening_port_address(a->port, &server_addr);
  if (rc == 0) {
    printf("server: listening on 127.0.0.1 with TLS, certificate CN=localhost, ALPN weft-echo\n");
    rc = start_client1(a);
  }
  if (rc) {
    fprintf(stderr, "tls_echo: %s (%s)\n", weft_strerror(rc), weft_tls_last_error());
    demo_done(a);
  } else {
    weft_reactor_run(a->r);
  }
  if (a->port) weft_listening_port_close(a->port);
  weft_tls_factory_free(tls);
  weft_tls_factory_free(c2_tls);
  printf("tls_echo: %d of %zu lines echoed over TLS\n", a->echoed, 2 * NLINES);
  return rc == 0 && a->echoed == (int)(2 * NLINES) ? 0 : 1;
}

/* ---- --listen ENDPOINT: serve until Ctrl-C ---- */

static void on_sigint(weft_reactor *r, int signo, void *arg) {
  (void)r, (void)signo;
  app *a = arg;
  a->finished = true;
  if (a->port) weft_listening_port_close(a->port);
  a->port = NULL;
  while (a->nconns > 0) weft_transport_abort_connection(a->conns[--a->nconns]);
  maybe_stop(a);
}

static int serve(app *a, const char *endpoint, const weft_factory *echo) {
  char desc[2048], err[256], cert[600], key[600];
  snprintf(desc, sizeof desc, "%s", endpoint);
  bool is_tls = strncmp(endpoint, "ssl:", 4) == 0 || strncmp(endpoint, "tls:", 4) == 0;
  if (is_tls && !strstr(endpoint, "privateKey=")) {
    demo_cert_escape(a->cert.cert, cert, sizeof cert);
    demo_cert_escape(a->cert.key, key, sizeof key);
    snprintf(desc, sizeof desc, "%s:privateKey=%s:certKey=%s", endpoint, key, cert);
    printf("tls_echo: using the generated certificate %s (trust it with -CAfile)\n", a->cert.cert);
  }
  weft_server_endpoint *e;
  if (weft_server_endpoint_parse(&e, desc, err, sizeof err) != 0) {
    fprintf(stderr, "tls_echo: %s\n", err);
    return 2;
  }
  weft_deferred *d = weft_server_endpoint_listen(e, a->r, echo);
  weft_server_endpoint_free(e);
  weft_value v = weft_none();
  if (!d || weft_deferred_take_result(d, &v) != 0 || weft_value_is_failure(v)) {
    fprintf(stderr, "tls_echo: %s\n", d && weft_value_is_failure(v) ? weft_failure_message(v.v.f) : "cannot listen");
    weft_value_release(v);
    weft_deferred_unref(d);
    return 1;
  }
  weft_deferred_unref(d);
  a->port = v.v.p; /* kept: the value is not released, so the port stays open */
  weft_address where;
  char name[WEFT_ADDRSTRLEN] = "?";
  if (weft_listening_port_address(a->port, &where) == 0) weft_address_format(&where, name, sizeof name);
  printf("tls_echo: echoing on %s (Ctrl-C stops)\n", name);
  weft_signal_watch *sigint = NULL;
  if (weft_reactor_watch_signal(&sigint, a->r, SIGINT, on_sigint, a) == 0) weft_reactor_run(a->r);
  else on_sigint(a->r, SIGINT, a);
  weft_signal_watch_free(sigint);
  free(a->conns);
  return 0;
}

int main(int argc, char **argv) {
  const char *listen = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) listen = argv[++i];
    else {
      fprintf(stderr, "usage: tls_echo [--listen ENDPOINT]\n");
      return 2;
    }
  }
  demo_mode = !listen;
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  app a = {0};
  if (!demo_cert_make(&a.cert)) {
    fprintf(stderr, "tls_echo: cannot make a certificate\n");
    return 1;
  }
  int rc = weft_reactor_new(&a.r, NULL);
  if (rc) {
    fprintf(stderr, "tls_echo: %s\n", weft_strerror(rc));
    demo_cert_remove(&a.cert);
    return 1;
  }
  weft_factory echo = {.build_protocol = echo_build, .user = &a};
  rc = listen ? serve(&a, listen, &echo) : run_demo(&a, &echo);
  if (weft_reactor_free(a.r) != 0) fprintf(stderr, "tls_echo: handles left open\n");
  demo_cert_remove(&a.cert);
  return rc;
}
