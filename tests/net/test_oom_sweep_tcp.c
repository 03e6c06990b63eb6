/* Allocation-failure sweep over real connections on loopback: a server endpoint listens, a client
 * endpoint connects (by address; by the name "localhost" through the resolver and Happy Eyeballs;
 * through weft_hostname_connect with a resolver of its own; over TLS, a tls: client against an
 * ssl: server with certificates made at test time), an echo exchange runs, both sides close. Each
 * allocation in turn fails (alone, then with every later one): the run must end in success or
 * WEFT_ENOMEM, leave nothing allocated and the reactor with no open handle. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc_sweep.h"
#include "check.h"
#include "tls_util.h"
#include "weft/alloc.h"
#include "weft/deferred.h"
#include "weft/endpoint.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/hostname.h"
#include "weft/reactor.h"
#include "weft/tcp.h"
#include "weft/transport.h"

static weft_log_publisher *quiet; /* made before any sweep: not counted */
static bool logged_enomem;       /* some log event of this run carried WEFT_ENOMEM */

/* The server side's failures (a connection not started, a write refused) are only logged: the
 * client then sees its peer go away, which this tells apart from a wrong outcome. */
static void watch_log(const weft_log_event *ev, void *user) {
  (void)user;
  for (size_t i = 0; i < ev->nfields; i++)
    if (ev->fields[i].type == WEFT_LOG_FIELD_ERR && ev->fields[i].v.i == WEFT_ENOMEM) logged_enomem = true;
}

static int failure_rc(const weft_failure *f) {
  for (const weft_failure *g = f; g; g = weft_failure_cause(g))
    if (weft_failure_check(g, WEFT_FAILURE_DOMAIN, WEFT_ENOMEM)) return WEFT_ENOMEM;
  return weft_failure_code(f) ? weft_failure_code(f) : WEFT_EINVAL;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Turns r until *flag or `seconds` pass; returns *flag. */
static bool turn_until(weft_reactor *r, const bool *flag, double seconds) {
  double end = now_s() + seconds;
  while (!*flag && now_s() < end) weft_reactor_iterate(r, 0.01);
  return *flag;
}

/* ---- the echo server: failures go to server_rc ---- */

typedef struct server {
  int rc;          /* the first error a server connection met (a write, its loss) */
  int open;        /* connections made and not lost yet */
} server;

static void srv_made(weft_transport *t, void *u) {
  (void)t;
  ((server *)u)->open++;
}
static void srv_data(weft_transport *t, const void *d, size_t n, void *u) {
  server *s = u;
  int e = weft_transport_write(t, d, n);
  if (e && !s->rc) s->rc = e;
  if (e) weft_transport_abort_connection(t);
}
static void srv_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  server *s = u;
  s->open--;
  if (reason && reason != WEFT_ECONNRESET && !s->rc) s->rc = reason;
}
static const weft_protocol_callbacks srv_cb = {.connection_made = srv_made, .data_received = srv_data, .connection_lost = srv_lost};
static int srv_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){&srv_cb, u};
  return 0;
}

/* ---- the client: sends msg, closes once it all came back ---- */

enum { MSG_LEN = 40000 }; /* more than one output chunk */

typedef struct client {
  const char *msg;
  char got[MSG_LEN];
  size_t ngot;
  int rc; /* a write refused */
  int reason;
  bool made, lost;
  weft_transport *t;
} client;

static void cl_made(weft_transport *t, void *u) {
  client *c = u;
  c->made = true;
  c->t = t;
  int e = weft_transport_write(t, c->msg, MSG_LEN / 2);
  if (!e) e = weft_transport_write(t, c->msg + MSG_LEN / 2, MSG_LEN - MSG_LEN / 2);
  if (e) {
    c->rc = e;
    weft_transport_abort_connection(t);
  }
}
static void cl_data(weft_transport *t, const void *d, size_t n, void *u) {
  client *c = u;
  size_t k = n < MSG_LEN - c->ngot ? n : MSG_LEN - c->ngot;
  memcpy(c->got + c->ngot, d, k);
  c->ngot += k;
  if (c->ngot == MSG_LEN) weft_transport_lose_connection(t);
}
static void cl_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  client *c = u;
  c->lost = true;
  c->reason = reason;
  c->t = NULL;
}
static const weft_protocol_callbacks cl_cb = {.connection_made = cl_made, .data_received = cl_data, .connection_lost = cl_lost};
static int cl_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){&cl_cb, u};
  return 0;
}

/* ---- one run ---- */

typedef struct scenario {
  const char *server;      /* server endpoint */
  const char *client_fmt;  /* client endpoint, %d: the port; NULL: weft_hostname_connect with
                            * the chained resolver below */
  char msg[MSG_LEN];
} scenario;

/* ---- a resolver of the application's own whose Deferred already has steps (a cache's, a
 * logger's), so the race's step on it makes the step array grow ---- */

static int fake_port;

static weft_value pass(weft_value v, void *arg) {
  (void)arg;
  return v;
}

/* the timer's reference to d: fires it with 127.0.0.1 */
static void fake_answer(void *arg) {
  weft_deferred *d = arg;
  weft_address_list *l = NULL;
  if (weft_address_list_new(&l, 1) != 0) {
    weft_deferred_errback(d, weft_failure_from_error(WEFT_ENOMEM));
  } else {
    weft_address_from_ip(&l->addrs[0], "127.0.0.1", fake_port);
    weft_deferred_callback(d, weft_ptr(l, weft_address_list_free)); /* cancelled: released */
  }
  weft_deferred_unref(d);
}

static weft_deferred *fake_resolve(void *user, const char *host, int port, int family) {
  (void)host, (void)family;
  weft_reactor *r = user;
  fake_port = port;
  weft_deferred *d = weft_deferred_new(quiet);
  if (!d) return NULL;
  weft_deferred_add_callback(d, pass, NULL);
  weft_deferred_add_callback(d, pass, NULL); /* both inline: the caller's step is the third */
  if (!weft_reactor_call_later(r, 0, fake_answer, weft_deferred_ref(d))) {
    weft_deferred_unref(d);
    weft_deferred_errback(d, weft_failure_from_error(WEFT_ENOMEM));
  }
  return d;
}

static int listen_on(weft_listening_port **out, weft_reactor *r, const char *desc, const weft_factory *f) {
  weft_server_endpoint *e = NULL;
  char err[256];
  *out = NULL;
  int rc = weft_server_endpoint_parse(&e, desc, err, sizeof err);
  if (rc) return rc;
  weft_deferred *d = weft_server_endpoint_listen(e, r, f);
  weft_server_endpoint_free(e);
  if (!d) return WEFT_ENOMEM;
  weft_value v;
  rc = weft_deferred_take_result(d, &v);
  if (!rc && v.kind == WEFT_VALUE_FAILURE) rc = failure_rc(v.v.f);
  else if (!rc && v.kind == WEFT_VALUE_PTR) *out = v.v.p; /* ours now: not released */
  else if (!rc) rc = WEFT_EINVAL;
  if (rc) weft_value_release(v);
  weft_deferred_unref(d);
  return rc;
}

/* Connects to port with the scenario's client endpoint; 0 once c's connection is made. */
static int connect_client(weft_reactor *r, const scenario *s, int port, const weft_factory *f) {
  char desc[1024] = "echo.test with the chained resolver";
  weft_deferred *d = NULL;
  int rc = 0;
  if (s->client_fmt) {
    snprintf(desc, sizeof desc, s->client_fmt, port);
    weft_client_endpoint *e = NULL;
    char err[256];
    if ((rc = weft_client_endpoint_parse(&e, desc, err, sizeof err)) != 0) return rc;
    d = weft_client_endpoint_connect(e, r, f);
    weft_client_endpoint_free(e);
  } else {
    weft_name_resolver nr = {fake_resolve, r};
    weft_hostname_options o;
    weft_hostname_options_init(&o);
    o.timeout = 0; /* none: a race that loses track of its lookup would wait forever */
    d = weft_hostname_connect(r, &nr, "echo.test", port, f, &o);
  }
  if (!d) return WEFT_ENOMEM;
  double end = now_s() + 5;
  while (!weft_deferred_called(d) && now_s() < end) weft_reactor_iterate(r, 0.01);
  if (!weft_deferred_called(d)) {
    CHECK_FAIL_("the connect to %s never ended", desc);
    weft_deferred_cancel(d);
  }
  weft_value v;
  rc = weft_deferred_take_result(d, &v);
  if (!rc && v.kind == WEFT_VALUE_FAILURE) rc = failure_rc(v.v.f);
  else if (!rc && (v.kind != WEFT_VALUE_PTR || v.v.p != f->user)) rc = WEFT_EINVAL;
  weft_value_release(v);
  weft_deferred_unref(d);
  return rc;
}

/* The exchange's outcome: 0 if every byte came back; else why not, WEFT_ENOMEM when one side ran
 * out of memory (the other then sees its peer go away with some other reason). */
static int exchange(weft_reactor *r, const scenario *s, client *c, server *sv) {
  if (!turn_until(r, &c->lost, 5)) {
    CHECK_FAIL_("the echo exchange never ended");
    if (c->t) weft_transport_abort_connection(c->t);
    return WEFT_ETIMEDOUT;
  }
  if (c->ngot == MSG_LEN && memcmp(c->got, s->msg, MSG_LEN) == 0 && c->reason == 0) return 0;
  if (c->rc == WEFT_ENOMEM || c->reason == WEFT_ENOMEM || sv->rc == WEFT_ENOMEM || logged_enomem) return WEFT_ENOMEM;
  return c->rc ? c->rc : sv->rc ? sv->rc : c->reason ? c->reason : WEFT_EINVAL;
}

static int echo_run(void *arg) {
  const scenario *s = arg;
  logged_enomem = false;
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.log = quiet;
  weft_reactor *r = NULL;
  int rc = weft_reactor_new(&r, &o);
  if (rc) return rc;
  server sv = {0};
  static client c; /* 40 KB: not on the stack */
  memset(&c, 0, sizeof c);
  c.msg = s->msg;
  weft_factory sf = {.build_protocol = srv_build, .user = &sv};
  weft_factory cf = {.build_protocol = cl_build, .user = &c};
  weft_listening_port *p = NULL;
  rc = listen_on(&p, r, s->server, &sf);
  if (!rc) {
    weft_address a;
    weft_listening_port_address(p, &a);
    rc = connect_client(r, s, weft_address_port(&a), &cf);
    /* a refusal from the server's side (its TLS handshake ran out) fails the connect with its code */
    if (rc && rc != WEFT_ENOMEM && logged_enomem) rc = WEFT_ENOMEM;
  }
  if (!rc) rc = exchange(r, s, &c, &sv);
  if (c.t) weft_transport_abort_connection(c.t);
  if (p) weft_listening_port_close(p);
  double end = now_s() + 5;
  while ((weft_reactor_open_handles(r) > 0 || sv.open > 0) && now_s() < end) weft_reactor_iterate(r, 0.01);
  if (weft_reactor_open_handles(r) > 0 || sv.open > 0) {
    CHECK_FAIL_("%zu handle(s) and %d server connection(s) still open", weft_reactor_open_handles(r), sv.open);
    if (!rc) rc = WEFT_ESTATE;
  }
  int fr = weft_reactor_free(r);
  return rc ? rc : fr;
}

int main(void) {
  REQUIRE(weft_test_allocator_install() == 0);
  REQUIRE(weft_log_publisher_new(&quiet) == 0);
  REQUIRE(weft_log_add_observer(quiet, WEFT_LOG_DEBUG, watch_log, NULL) == 0);
  static scenario s;
  for (size_t i = 0; i < MSG_LEN; i++) s.msg[i] = (char)('a' + i % 26);

  s.server = "tcp:0:interface=127.0.0.1";
  s.client_fmt = "tcp:host=127.0.0.1:port=%d:timeout=5";
  alloc_sweep("tcp_by_address", echo_run, &s);
  s.client_fmt = "tcp:host=localhost:port=%d:timeout=5";
  alloc_sweep("tcp_by_name", echo_run, &s);
  s.client_fmt = NULL;
  alloc_sweep("hostname_chained_resolver", echo_run, &s);

  test_pki pki;
  pki_make(&pki);
  char sdesc[512], cdesc[512];
  snprintf(sdesc, sizeof sdesc, "ssl:0:privateKey=%s:certKey=%s:interface=127.0.0.1", pki.server_key, pki.server);
  snprintf(cdesc, sizeof cdesc, "tls:host=localhost:port=%%d:trustRoots=%s:timeout=5", pki.ca);
  s.server = sdesc;
  s.client_fmt = cdesc;
  alloc_sweep("tls_by_name", echo_run, &s);
  pki_remove(&pki);


  weft_log_publisher_free(quiet);
  weft_test_alloc_stats st;
  weft_test_allocator_stats(&st);
  CHECK_INT(st.live, 0);
  return CHECK_DONE();
}
