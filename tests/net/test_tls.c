/* Tests src/net/tls.c and tls_context.c: two TLS transports back to back over string transports on
 * a memory reactor (bytes pumped between them by the test, deterministic), then TLS echo over real
 * TCP on loopback. Certificates are made at test time (tls_util.h). */
#include <openssl/ssl.h>
#include <time.h>

#include "net_util.h"
#include "tls_util.h"
#include "weft/testing.h"
#include "weft/tls.h"

static test_pki pki;

/* ---- an application protocol that records, and optionally echoes ---- */

typedef struct app {
  bool echo, made, lost, failed, write_on_made;
  int reason, builds;
  char got[1 << 17];
  size_t ngot;
  weft_transport *t;
  weft_tls_info info; /* as seen in connection_made */
  weft_producer *producer; /* registered in connection_made when set */
  char err[256];             /* weft_tls_last_error() when connection_lost or connection_failed came */
} app;

static void app_made(weft_transport *t, void *u) {
  app *a = u;
  a->made = true;
  a->t = t;
  CHECK_INT(weft_tls_get_info(t, &a->info), 0);
  if (a->write_on_made) weft_transport_write(t, "hello", 5);
  if (a->producer) CHECK_INT(weft_transport_register_producer(t, a->producer, true), 0);
}
static void app_data(weft_transport *t, const void *d, size_t n, void *u) {
  app *a = u;
  size_t k = n < sizeof a->got - a->ngot ? n : sizeof a->got - a->ngot;
  memcpy(a->got + a->ngot, d, k);
  a->ngot += k;
  if (a->echo) weft_transport_write(t, d, n);
}
static void app_lost(weft_transport *t, int reason, void *u) {
  app *a = u;
  CHECK(weft_tls_is(t));
  a->lost = true;
  a->reason = reason;
  a->t = NULL;
  snprintf(a->err, sizeof a->err, "%s", weft_tls_last_error());
}
static const weft_protocol_callbacks app_cb = {.connection_made = app_made, .data_received = app_data,
                                               .connection_lost = app_lost};
static int app_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  ((app *)u)->builds++;
  *out = (weft_protocol){.cb = &app_cb, .user = u};
  return 0;
}
static void app_failed(void *u, int reason) {
  app *a = u;
  a->failed = true;
  a->reason = reason;
  snprintf(a->err, sizeof a->err, "%s", weft_tls_last_error());
}
static weft_factory app_factory(app *a) {
  return (weft_factory){.build_protocol = app_build, .connection_failed = app_failed, .user = a};
}

/* ---- contexts ---- */

static weft_tls_context *server_ctx(const char *cert, const char *key, void (*tweak)(weft_tls_server_options *)) {
  weft_tls_server_options o;
  weft_tls_server_options_init(&o);
  o.cert_file = cert;
  o.key_file = key;
  if (tweak) tweak(&o);
  weft_tls_context *c;
  int rc = weft_tls_server_context_new(&c, &o);
  if (rc) fprintf(stderr, "  server context: %s: %s\n", weft_strerror(rc), weft_tls_last_error());
  REQUIRE(rc == 0);
  return c;
}

static weft_tls_context *client_ctx(void (*tweak)(weft_tls_client_options *)) {
  weft_tls_client_options o;
  weft_tls_client_options_init(&o);
  o.ca_file = pki.ca;
  if (tweak) tweak(&o);
  weft_tls_context *c;
  int rc = weft_tls_client_context_new(&c, &o);
  if (rc) fprintf(stderr, "  client context: %s: %s\n", weft_strerror(rc), weft_tls_last_error());
  REQUIRE(rc == 0);
  return c;
}

/* ---- two lower string transports, pumped back to back ---- */

typedef struct tls_link {
  weft_reactor *r;
  weft_string_transport *c, *s; /* the client's and the server's lower transports */
  weft_tls_factory *cf, *sf;
  weft_factory cinner, sinner;
} tls_link;

static int move_bytes(weft_string_transport *from, weft_string_transport *to) {
  size_t n = weft_string_transport_len(from);
  if (n == 0) return 0;
  char *copy = malloc(n);
  REQUIRE(copy != NULL);
  memcpy(copy, weft_string_transport_value(from), n);
  weft_string_transport_clear(from);
  weft_string_transport_feed(to, copy, n); /* dropped if `to` is closing, as a socket would */
  free(copy);
  return 1;
}

/* A lower transport that was asked to close completes it, and the other side sees end of input
 * (or a reset after an abort), as over TCP. */
static int settle(weft_string_transport *x, weft_string_transport *y) {
  if (!weft_string_transport_disconnecting(x) || weft_string_transport_lost(x, NULL)) return 0;
  bool aborted = weft_string_transport_aborted(x);
  weft_string_transport_finish(x);
  if (weft_string_transport_connected(y)) {
    if (aborted) weft_string_transport_close(y, WEFT_ECONNRESET);
    else if (weft_string_transport_feed_eof(y) == WEFT_ECLOSED) weft_string_transport_close(y, 0);
  }
  return 1;
}

static void pump(tls_link *l) {
  for (int i = 0; i < 200; i++) {
    weft_reactor_iterate(l->r, 0);
    int moved = move_bytes(l->c, l->s) + move_bytes(l->s, l->c);
    moved += settle(l->c, l->s) + settle(l->s, l->c);
    if (!moved) return;
  }
  CHECK(!"pump did not settle");
}

static void link_open(tls_link *l, weft_tls_context *cctx, const char *name, app *ca, weft_tls_context *sctx, app *sa) {
  memset(l, 0, sizeof *l);
  REQUIRE(weft_memory_reactor_new(&l->r) == 0);
  REQUIRE(weft_string_transport_new(&l->c, l->r) == 0);
  REQUIRE(weft_string_transport_new(&l->s, l->r) == 0);
  l->cinner = app_factory(ca);
  l->sinner = app_factory(sa);
  REQUIRE(weft_tls_wrap_factory(&l->sf, sctx, NULL, &l->sinner) == 0);
  REQUIRE(weft_tls_wrap_factory(&l->cf, cctx, name, &l->cinner) == 0);
  REQUIRE(weft_string_transport_attach_factory(l->s, weft_tls_factory_get(l->sf)) == 0);
  REQUIRE(weft_string_transport_attach_factory(l->c, weft_tls_factory_get(l->cf)) == 0);
  pump(l);
}

static void link_close(tls_link *l) {
  weft_string_transport_free(l->c);
  weft_string_transport_free(l->s);
  weft_tls_factory_free(l->cf);
  weft_tls_factory_free(l->sf);
  CHECK_INT(weft_reactor_open_handles(l->r), 0);
  CHECK_INT(weft_reactor_free(l->r), 0);
}

/* ---- log capture ---- */

typedef struct logcap {
  int n;
  char last[512];
  char ns[32];
} logcap;
static void capture(const weft_log_event *ev, void *u) {
  logcap *c = u;
  c->n++;
  weft_log_format_message(ev, c->last, sizeof c->last);
  snprintf(c->ns, sizeof c->ns, "%s", ev->ns);
}

/* ---- tests ---- */

static void test_handshake_data_and_clean_close(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  app ca = {.write_on_made = true}, sa = {.echo = true};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  CHECK(ca.made && sa.made);
  CHECK_MEM(ca.got, ca.ngot, "hello", 5);
  CHECK_MEM(sa.got, sa.ngot, "hello", 5);
  CHECK_STR(ca.info.version, "TLSv1.3");
  CHECK(ca.info.handshake_done && !ca.info.server && sa.info.server);
  CHECK_STR(ca.info.peer_subject, "CN=localhost");
  CHECK(ca.info.peer_verified);
  CHECK_STR(sa.info.server_name, "localhost"); /* SNI received */
  CHECK_STR(sa.info.peer_subject, "");         /* no client certificate */
  CHECK(strlen(ca.info.cipher) > 0);
  /* the bytes on the wire are not the plaintext */
  weft_transport_write(ca.t, "secret-secret", 13);
  weft_reactor_iterate(l.r, 0);
  CHECK(weft_string_transport_len(l.c) > 13);
  CHECK(memmem(weft_string_transport_value(l.c), weft_string_transport_len(l.c), "secret", 6) == NULL);
  pump(&l);
  CHECK_MEM(ca.got, ca.ngot, "hellosecret-secret", 18);
  /* the client closes: close_notify both ways, both clean */
  weft_transport_lose_connection(ca.t);
  pump(&l);
  CHECK(ca.lost && sa.lost);
  CHECK_INT(ca.reason, 0);
  CHECK_INT(sa.reason, 0);
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

static void max12(weft_tls_client_options *o) { o->max_version = WEFT_TLS_VERSION_1_2; }

static void test_tls12_and_resumption(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  void (*tweaks[2])(weft_tls_client_options *) = {max12, NULL};
  const char *versions[2] = {"TLSv1.2", "TLSv1.3"};
  for (int v = 0; v < 2; v++) {
    weft_tls_context *cctx = client_ctx(tweaks[v]);
    for (int round = 0; round < 2; round++) {
      app ca = {.write_on_made = true}, sa = {.echo = true};
      tls_link l;
      link_open(&l, cctx, "localhost", &ca, sctx, &sa);
      CHECK_MEM(ca.got, ca.ngot, "hello", 5);
      CHECK_STR(ca.info.version, versions[v]);
      CHECK_INT(ca.info.resumed, round == 1); /* the second connection resumes the first's session */
      CHECK_INT(sa.info.resumed, round == 1);
      weft_transport_lose_connection(ca.t);
      pump(&l);
      CHECK_INT(ca.reason, 0);
      link_close(&l);
    }
    weft_tls_context_free(cctx);
  }
  weft_tls_context_free(sctx);
}

static const char *const server_alpn[] = {"h2", "http/1.1"};
static void alpn_server(weft_tls_server_options *o) {
  o->alpn = server_alpn;
  o->alpn_count = 2;
}
static const char *const client_alpn[] = {"http/1.1", "h2"};
static void alpn_client(weft_tls_client_options *o) {
  o->alpn = client_alpn;
  o->alpn_count = 2;
}
static const char *const client_alpn_other[] = {"spdy/1"};
static void alpn_client_other(weft_tls_client_options *o) {
  o->alpn = client_alpn_other;
  o->alpn_count = 1;
}

static void test_alpn_server_preference(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, alpn_server);
  void (*tweaks[2])(weft_tls_client_options *) = {alpn_client, alpn_client_other};
  const char *want[2] = {"h2", ""};
  for (int i = 0; i < 2; i++) {
    weft_tls_context *cctx = client_ctx(tweaks[i]);
    app ca = {0}, sa = {0};
    tls_link l;
    link_open(&l, cctx, "localhost", &ca, sctx, &sa);
    CHECK(ca.made);
    CHECK_STR(ca.info.alpn, want[i]); /* the server's order decides; no overlap: no ALPN */
    CHECK_STR(sa.info.alpn, want[i]);
    link_close(&l);
    weft_tls_context_free(cctx);
  }
  weft_tls_context_free(sctx);
}

static weft_tls_sni_cert sni_entries[1];
static void with_sni(weft_tls_server_options *o) {
  sni_entries[0] = (weft_tls_sni_cert){.hostname = "*.vhost.example", .cert_file = pki.other, .key_file = pki.other_key};
  o->sni = sni_entries;
  o->sni_count = 1;
}

static void test_sni_picks_certificate(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, with_sni);
  weft_tls_context *cctx = client_ctx(NULL);
  const char *names[3] = {"a.vhost.example", "localhost", "127.0.0.1"};
  const char *subjects[3] = {"CN=other.example", "CN=localhost", "CN=localhost"};
  const char *sni_seen[3] = {"a.vhost.example", "localhost", ""}; /* an IP is not sent as SNI */
  for (int i = 0; i < 3; i++) {
    app ca = {0}, sa = {0};
    tls_link l;
    link_open(&l, cctx, names[i], &ca, sctx, &sa);
    CHECK(ca.made);
    CHECK_STR(ca.info.peer_subject, subjects[i]);
    CHECK_STR(sa.info.server_name, sni_seen[i]);
    link_close(&l);
  }
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

static void test_truncation_reported(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  app ca = {0}, sa = {0};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  REQUIRE(ca.made && sa.made);
  /* the server's socket goes away without close_notify: the client sees end of input */
  weft_string_transport_close(l.s, 0);
  CHECK_INT(sa.reason, WEFT_ETLSTRUNCATED); /* the lower ended cleanly, TLS did not */
  weft_string_transport_feed_eof(l.c);
  CHECK(ca.lost);
  CHECK_INT(ca.reason, WEFT_ETLSTRUNCATED);
  CHECK(strstr(weft_tls_last_error(), "close_notify") != NULL);
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

/* The client refuses the server's certificate: connection_failed with a reason that says why, the
 * server's application never sees the connection, and the server logs the alert it received. */
static void expect_verify_failure(const char *cert, const char *key, const char *name, int reason, const char *text) {
  weft_tls_context *sctx = server_ctx(cert, key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  app ca = {0}, sa = {0};
  logcap lc = {0};
  tls_link l;
  memset(&l, 0, sizeof l);
  link_open(&l, cctx, name, &ca, sctx, &sa);
  (void)lc;
  CHECK(!ca.made && !sa.made);
  CHECK_INT(sa.builds, 0);
  CHECK(ca.failed);
  CHECK_INT(ca.reason, reason);
  if (!strstr(ca.err, text)) CHECK_STR(ca.err, text);
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

static void test_verify_unknown_ca(void) {
  expect_verify_failure(pki.self, pki.self_key, "localhost", WEFT_ETLSUNKNOWNCA, "self-signed");
}
static void test_verify_hostname_mismatch(void) {
  expect_verify_failure(pki.server, pki.server_key, "wrong.example", WEFT_ETLSHOSTNAME, "hostname mismatch");
  expect_verify_failure(pki.server, pki.server_key, "127.0.0.2", WEFT_ETLSHOSTNAME, "IP address mismatch");
}
static void test_verify_expired(void) {
  expect_verify_failure(pki.expired, pki.expired_key, "localhost", WEFT_ETLSEXPIRED, "expired");
}

static void test_client_needs_server_name_to_verify(void) {
  weft_tls_context *cctx = client_ctx(NULL);
  weft_factory f = app_factory(&(app){0});
  weft_tls_factory *tf;
  CHECK_INT(weft_tls_wrap_factory(&tf, cctx, NULL, &f), WEFT_EINVAL); /* never verify nothing */
  weft_tls_context_free(cctx);
  weft_tls_server_options o;
  weft_tls_server_options_init(&o);
  o.cert_file = pki.server;
  o.key_file = pki.other_key; /* not its key */
  weft_tls_context *bad;
  CHECK_INT(weft_tls_server_context_new(&bad, &o), WEFT_ETLSCONFIG);
  if (!strstr(weft_tls_last_error(), "mismatch")) CHECK_STR(weft_tls_last_error(), "key values mismatch");
  o.key_file = "/nonexistent/key.pem";
  CHECK_INT(weft_tls_server_context_new(&bad, &o), WEFT_ETLSCONFIG);
  CHECK(bad == NULL);
}

static void require_client_cert(weft_tls_server_options *o) {
  o->client_cert = WEFT_TLS_CLIENT_CERT_REQUIRED;
  o->client_ca_file = pki.ca;
}
static void client_cert(weft_tls_client_options *o) {
  o->cert_file = pki.client;
  o->key_file = pki.client_key;
}

static void test_mutual_tls(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, require_client_cert);
  /* with a certificate the CA signed: accepted, and the server knows who it is */
  weft_tls_context *cctx = client_ctx(client_cert);
  app ca = {.write_on_made = true}, sa = {.echo = true};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  CHECK(ca.made && sa.made);
  CHECK_STR(sa.info.peer_subject, "CN=client");
  CHECK(sa.info.peer_verified);
  CHECK_MEM(ca.got, ca.ngot, "hello", 5);
  link_close(&l);
  weft_tls_context_free(cctx);
  /* without one: refused on both sides */
  cctx = client_ctx(NULL);
  app cb = {0}, sb = {0};
  logcap lc = {0};
  link_open(&l, cctx, "localhost", &cb, sctx, &sb);
  (void)lc;
  CHECK(!sb.made && sb.builds == 0);
  /* in TLS 1.3 the client's handshake is complete before the server checks its certificate, so the
   * client's application sees the connection, then loses it to the server's alert */
  CHECK(cb.made ? cb.lost : cb.failed);
  CHECK_INT(cb.reason, WEFT_ETLSNOCERT);
  if (!strstr(cb.err, "certificate required")) CHECK_STR(cb.err, "certificate required");
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

/* A server fed junk ends the connection with a logged reason; the application never sees it. */
static void test_garbage_and_plaintext_http(void) {
  const char *inputs[3] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x16\x03\x01\xff\xff garbage garbage garbage",
                           "\x16\x03\x03\x00\x05\x01\x00\x00\x01\x00"};
  const char *details[3] = {"plaintext HTTP request", "", ""};
  size_t lens[3] = {strlen(inputs[0]), 30, 10};
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  for (int i = 0; i < 3; i++) {
    weft_reactor *r;
    REQUIRE(weft_memory_reactor_new(&r) == 0);
    logcap lc = {0};
    weft_log_add_observer(weft_reactor_log(r), WEFT_LOG_INFO, capture, &lc);
    app sa = {0};
    weft_factory inner = app_factory(&sa);
    weft_tls_factory *sf;
    REQUIRE(weft_tls_wrap_factory(&sf, sctx, NULL, &inner) == 0);
    weft_string_transport *s;
    REQUIRE(weft_string_transport_new(&s, r) == 0);
    REQUIRE(weft_string_transport_attach_factory(s, weft_tls_factory_get(sf)) == 0);
    weft_string_transport_feed(s, inputs[i], lens[i]);
    weft_reactor_iterate(r, 0);
    CHECK(weft_string_transport_disconnecting(s)); /* closing, after an alert */
    CHECK_INT(sa.builds, 0);
    CHECK(lc.n >= 1);
    CHECK_STR(lc.ns, "weft.tls");
    if (!strstr(lc.last, details[i])) CHECK_STR(lc.last, details[i]);
    weft_string_transport_finish(s);
    weft_string_transport_free(s);
    weft_tls_factory_free(sf);
    CHECK_INT(weft_reactor_open_handles(r), 0);
    CHECK_INT(weft_reactor_free(r), 0);
  }
  weft_tls_context_free(sctx);
}

/* ---- flow control through TLS ---- */

typedef struct prod {
  int pauses, resumes, stops;
} prod;
static void p_pause(void *u) { ((prod *)u)->pauses++; }
static void p_resume(void *u) { ((prod *)u)->resumes++; }
static void p_stop(void *u) { ((prod *)u)->stops++; }

static void test_flow_control_through_lower(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  prod pr = {0};
  weft_producer p = {.pause_producing = p_pause, .resume_producing = p_resume, .stop_producing = p_stop, .user = &pr};
  app ca = {0}, sa = {.producer = &p};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  REQUIRE(sa.made);
  weft_transport *lower = weft_string_transport_transport(l.s);
  weft_string_transport_set_manual_drain(l.s, true);
  REQUIRE(weft_transport_set_water_marks(lower, 8192, 2048) == 0);
  static char block[16384];
  memset(block, 'x', sizeof block);
  weft_transport_write(sa.t, block, sizeof block);
  CHECK_INT(weft_transport_buffered(sa.t), sizeof block); /* plaintext waits for this turn's flush */
  CHECK_INT(pr.pauses, 0);
  weft_reactor_iterate(l.r, 0);
  CHECK_INT(weft_transport_buffered(sa.t), 0);
  CHECK(weft_transport_buffered(lower) > 8192); /* ciphertext backed up below */
  CHECK_INT(pr.pauses, 1);
  CHECK_INT(pr.resumes, 0);
  weft_string_transport_drain(l.s, weft_transport_buffered(lower) - 4096);
  CHECK_INT(pr.resumes, 0); /* between the marks */
  weft_string_transport_drain(l.s, SIZE_MAX);
  CHECK_INT(pr.resumes, 1);
  weft_string_transport_set_manual_drain(l.s, false);
  pump(&l);
  CHECK_INT(ca.ngot, sizeof block);
  link_close(&l);
  CHECK_INT(pr.stops, 1); /* the connection went away under it */
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

static void test_pause_reading_holds_records(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  app ca = {0}, sa = {0};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  weft_transport_pause_reading(ca.t);
  CHECK(weft_string_transport_reading_paused(l.c)); /* passed down to the socket */
  weft_transport_write(sa.t, "one", 3);
  pump(&l);
  CHECK_INT(ca.ngot, 0);
  weft_transport_resume_reading(ca.t);
  CHECK_INT(ca.ngot, 0); /* never inside resume_reading */
  pump(&l);
  CHECK_MEM(ca.got, ca.ngot, "one", 3);
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

static void test_abort(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  app ca = {0}, sa = {0};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  weft_transport_write(ca.t, "lost", 4);
  weft_transport_abort_connection(ca.t);
  CHECK_INT(weft_transport_write(ca.t, "x", 1), WEFT_ECLOSED);
  pump(&l);
  CHECK_INT(ca.reason, WEFT_EABORTED);
  CHECK_INT(sa.reason, WEFT_ECONNRESET);
  CHECK_INT(sa.ngot, 0);
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

/* Reload: the live connection keeps working; the next handshake gets the new certificate. */
static void test_reload_keeps_live_connections(void) {
  char cert[256], key[256];
  snprintf(cert, sizeof cert, "%s/live.pem", pki.dir);
  snprintf(key, sizeof key, "%s/live.key", pki.dir);
  pki_copy(pki.server, cert);
  pki_copy(pki.server_key, key);
  weft_tls_context *sctx = server_ctx(cert, key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  app ca = {0}, sa = {.echo = true};
  tls_link l;
  link_open(&l, cctx, "localhost", &ca, sctx, &sa);
  CHECK_STR(ca.info.peer_subject, "CN=localhost");
  pki_copy(pki.renewed, cert);
  pki_copy(pki.renewed_key, key);
  CHECK_INT(weft_tls_context_reload(sctx), 0);
  weft_transport_write(ca.t, "still", 5);
  pump(&l);
  CHECK_MEM(ca.got, ca.ngot, "still", 5);
  weft_transport_lose_connection(ca.t);
  pump(&l);
  link_close(&l);
  /* a new client gets the new certificate; the first client's ticket, issued before the reload,
   * still resumes (keeping the certificate that session saw) */
  weft_tls_context *fresh = client_ctx(NULL);
  app cb = {0}, sb = {0};
  tls_link l2;
  link_open(&l2, fresh, "localhost", &cb, sctx, &sb);
  CHECK_STR(cb.info.peer_subject, "CN=renewed");
  CHECK(!cb.info.resumed);
  link_close(&l2);
  weft_tls_context_free(fresh);
  app cd = {0}, sd = {0};
  link_open(&l2, cctx, "localhost", &cd, sctx, &sd);
  CHECK(cd.made && cd.info.resumed);
  link_close(&l2);
  /* a broken file: the reload fails and the context keeps serving the last good one */
  FILE *f = fopen(cert, "w");
  fputs("not a certificate\n", f);
  fclose(f);
  CHECK_INT(weft_tls_context_reload(sctx), WEFT_ETLSCONFIG);
  app cc = {0}, sc = {0};
  link_open(&l, cctx, "localhost", &cc, sctx, &sc);
  CHECK(cc.made);
  link_close(&l);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

/* ---- STARTTLS: a line protocol that switches to TLS when asked ---- */

typedef struct starttls_side {
  weft_tls_context *ctx;
  app *secure; /* the protocol over TLS */
  bool server;
  int rc;
} starttls_side;

static void st_data(weft_transport *t, const void *d, size_t n, void *u) {
  starttls_side *s = u;
  const weft_protocol p = {.cb = &app_cb, .user = s->secure};
  if (s->server && n == 10 && memcmp(d, "STARTTLS\r\n", 10) == 0) {
    weft_transport_write(t, "GO\r\n", 4); /* sent in plaintext, before the handshake */
    s->rc = weft_tls_start(NULL, t, s->ctx, NULL, &p);
  } else if (!s->server && n == 4 && memcmp(d, "GO\r\n", 4) == 0) {
    weft_transport *tls;
    s->rc = weft_tls_start(&tls, t, s->ctx, "localhost", &p);
    weft_transport_write(tls, "early", 5); /* sent once the handshake is done */
  }
}
static const weft_protocol_callbacks st_cb = {.data_received = st_data};

static void test_starttls(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  app ca = {0}, sa = {.echo = true};
  starttls_side cs = {.ctx = client_ctx(NULL), .secure = &ca, .rc = 1};
  starttls_side ss = {.ctx = server_ctx(pki.server, pki.server_key, NULL), .secure = &sa, .server = true, .rc = 1};
  tls_link l = {.r = r};
  REQUIRE(weft_string_transport_new(&l.c, r) == 0);
  REQUIRE(weft_string_transport_new(&l.s, r) == 0);
  REQUIRE(weft_string_transport_attach(l.c, &(weft_protocol){.cb = &st_cb, .user = &cs}) == 0);
  REQUIRE(weft_string_transport_attach(l.s, &(weft_protocol){.cb = &st_cb, .user = &ss}) == 0);
  weft_transport_write(weft_string_transport_transport(l.c), "STARTTLS\r\n", 10);
  pump(&l);
  CHECK_INT(ss.rc, 0);
  CHECK_INT(cs.rc, 0);
  CHECK(ca.made && sa.made);
  CHECK_STR(ca.info.peer_subject, "CN=localhost");
  CHECK_MEM(sa.got, sa.ngot, "early", 5);
  CHECK_MEM(ca.got, ca.ngot, "early", 5);
  weft_transport_lose_connection(sa.t);
  pump(&l);
  CHECK_INT(ca.reason, 0);
  CHECK_INT(sa.reason, 0);
  link_close(&l);
  weft_tls_context_free(cs.ctx);
  weft_tls_context_free(ss.ctx);
}

/* ---- renegotiation: a raw OpenSSL TLS 1.2 client asks for it after the handshake ---- */

static void feed_from_bio(BIO *out, weft_string_transport *st) {
  char buf[16384];
  int n;
  while ((n = BIO_read(out, buf, sizeof buf)) > 0) weft_string_transport_feed(st, buf, (size_t)n);
}

static void test_renegotiation_refused(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  logcap lc = {0};
  weft_log_add_observer(weft_reactor_log(r), WEFT_LOG_INFO, capture, &lc);
  app sa = {0};
  weft_factory inner = app_factory(&sa);
  weft_tls_factory *sf;
  REQUIRE(weft_tls_wrap_factory(&sf, sctx, NULL, &inner) == 0);
  weft_string_transport *s;
  REQUIRE(weft_string_transport_new(&s, r) == 0);
  REQUIRE(weft_string_transport_attach_factory(s, weft_tls_factory_get(sf)) == 0);
  SSL_CTX *x = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(x, TLS1_2_VERSION);
  SSL *ssl = SSL_new(x);
  BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  for (int i = 0; i < 10 && !SSL_is_init_finished(ssl); i++) {
    SSL_do_handshake(ssl);
    feed_from_bio(out, s);
    weft_reactor_iterate(r, 0);
    BIO_write(in, weft_string_transport_value(s), (int)weft_string_transport_len(s));
    weft_string_transport_clear(s);
  }
  REQUIRE(SSL_is_init_finished(ssl));
  CHECK(sa.made);
  CHECK(SSL_renegotiate(ssl) == 1);
  SSL_do_handshake(ssl);
  feed_from_bio(out, s);
  weft_reactor_iterate(r, 0);
  CHECK(sa.lost || weft_string_transport_disconnecting(s));
  if (!strstr(lc.last, "renegotiation")) CHECK_STR(lc.last, "renegotiation");
  weft_string_transport_finish(s);
  CHECK_INT(sa.reason, WEFT_ETLSPROTOCOL);
  SSL_free(ssl);
  SSL_CTX_free(x);
  weft_string_transport_free(s);
  weft_tls_factory_free(sf);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  weft_tls_context_free(sctx);
}

/* Handshakes per second over string transports: not a benchmark, a figure for the report. */
static void no_resumption(weft_tls_client_options *o) { o->resumption = false; }

static void test_handshake_rate(void) {
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  const char *label[2] = {"full", "resumed"};
  for (int resume = 0; resume < 2; resume++) {
    weft_tls_context *cctx = client_ctx(resume ? NULL : no_resumption);
    int n = 0, resumed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double secs = 0;
    for (; n < 300 && secs < 0.5; n++) {
      app ca = {0}, sa = {0};
      tls_link l;
      link_open(&l, cctx, "localhost", &ca, sctx, &sa);
      REQUIRE(ca.made);
      resumed += ca.info.resumed;
      weft_transport_lose_connection(ca.t); /* a session ended without close_notify is not resumed */
      pump(&l);
      link_close(&l);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    }
    CHECK_INT(resumed, resume ? n - 1 : 0);
    fprintf(stderr, "  %d %s handshakes in %.3f s: %.0f/s (client and server in one thread)\n", n, label[resume],
            secs, n / secs);
    weft_tls_context_free(cctx);
  }
  weft_tls_context_free(sctx);
}

/* ---- real sockets: TLS echo over TCP on loopback ---- */

static void test_echo_over_tcp(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_tls_context *sctx = server_ctx(pki.server, pki.server_key, NULL);
  weft_tls_context *cctx = client_ctx(NULL);
  echo_server es = {0};
  weft_factory inner_s = echo_factory(&es);
  weft_tls_factory *sf;
  REQUIRE(weft_tls_wrap_factory(&sf, sctx, NULL, &inner_s) == 0);
  weft_listening_port *p = listen_local(r, weft_tls_factory_get(sf));
  static char big[60000]; /* the recording client keeps 64 KiB */
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
  client c = {.send = big, .send_len = sizeof big, .close_after = sizeof big};
  weft_factory inner_c = client_factory(&c);
  weft_tls_factory *cf;
  REQUIRE(weft_tls_wrap_factory(&cf, cctx, "127.0.0.1", &inner_c) == 0);
  weft_address to = loopback_of(p, "127.0.0.1");
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, weft_tls_factory_get(cf)) == 0);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK(!c.failed);
  CHECK_INT(c.ngot, sizeof c.got < sizeof big ? sizeof c.got : sizeof big);
  CHECK_MEM(c.got, c.ngot, big, c.ngot);
  CHECK_INT(c.reason, 0);
  for (int i = 0; i < 100 && es.lost == 0; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(es.lost, 1);
  CHECK_INT(es.last_reason, 0);
  weft_listening_port_close(p);
  close_reactor(r);
  weft_tls_factory_free(cf);
  weft_tls_factory_free(sf);
  weft_tls_context_free(cctx);
  weft_tls_context_free(sctx);
}

int main(void) {
  pki_make(&pki);
  RUN(test_handshake_data_and_clean_close);
  RUN(test_tls12_and_resumption);
  RUN(test_alpn_server_preference);
  RUN(test_sni_picks_certificate);
  RUN(test_truncation_reported);
  RUN(test_verify_unknown_ca);
  RUN(test_verify_hostname_mismatch);
  RUN(test_verify_expired);
  RUN(test_client_needs_server_name_to_verify);
  RUN(test_mutual_tls);
  RUN(test_garbage_and_plaintext_http);
  RUN(test_flow_control_through_lower);
  RUN(test_pause_reading_holds_records);
  RUN(test_abort);
  RUN(test_reload_keeps_live_connections);
  RUN(test_starttls);
  RUN(test_renegotiation_refused);
  RUN(test_handshake_rate);
  RUN(test_echo_over_tcp);
  pki_remove(&pki);
  return CHECK_DONE();
}
