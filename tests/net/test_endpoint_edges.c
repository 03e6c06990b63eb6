/* Tests edge paths of src/net/endpoint_client.c: tls: client endpoints given a host name (resolved
 * and raced by Happy Eyeballs, then a TLS handshake), and cancels at each stage of such a connect. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_util.h"
#include "tls_util.h"
#include "weft/deferred.h"
#include "weft/endpoint.h"
#include "weft/testing.h"
#include "weft/tls.h"

static weft_listening_port *listen_on(weft_reactor *r, const char *desc, const weft_factory *f) {
  weft_server_endpoint *e = NULL;
  char err[256];
  if (weft_server_endpoint_parse(&e, desc, err, sizeof err) != 0) CHECK_FAIL_("parse \"%s\": %s", desc, err);
  REQUIRE(e != NULL);
  weft_deferred *d = weft_server_endpoint_listen(e, r, f);
  weft_server_endpoint_free(e);
  weft_value v;
  char why[512];
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) CHECK_FAIL_("listen on %s: %s", desc, why);
  weft_deferred_unref(d);
  return v.kind == WEFT_VALUE_PTR ? v.v.p : NULL;
}

static weft_deferred *start_connect(weft_reactor *r, const char *desc, const weft_factory *f) {
  weft_client_endpoint *e = NULL;
  char err[256];
  if (weft_client_endpoint_parse(&e, desc, err, sizeof err) != 0) CHECK_FAIL_("parse \"%s\": %s", desc, err);
  REQUIRE(e != NULL);
  weft_deferred *d = weft_client_endpoint_connect(e, r, f);
  weft_client_endpoint_free(e);
  REQUIRE(d != NULL);
  return d;
}

static int port_of(weft_listening_port *p) {
  weft_address a;
  weft_listening_port_address(p, &a);
  return weft_address_port(&a);
}

/* tls:host=localhost: the name is resolved and raced, then the TLS handshake runs; the Deferred
 * fires with the user's protocol only once the handshake is done (not when TCP connects). */
static void test_tls_by_name(void) {
  test_pki pki;
  pki_make(&pki);
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  char desc[512], cdesc[512];
  snprintf(desc, sizeof desc, "ssl:0:privateKey=%s:certKey=%s:interface=127.0.0.1", pki.server_key, pki.server);
  weft_listening_port *p = listen_on(r, desc, &sf);
  REQUIRE(p != NULL);
  snprintf(cdesc, sizeof cdesc, "tls:host=localhost:port=%d:trustRoots=%s:timeout=5", port_of(p), pki.ca);
  client c = {.send = "named", .send_len = 5, .close_after = 5};
  weft_factory cf = client_factory(&c);
  weft_deferred *d = start_connect(r, cdesc, &cf);
  for (int i = 0; i < 500 && !weft_deferred_called(d); i++) weft_reactor_iterate(r, 0.01);
  weft_value v;
  char why[512];
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) CHECK_FAIL_("connect: %s", why);
  else CHECK(v.kind == WEFT_VALUE_PTR && v.v.p == &c);
  weft_deferred_unref(d);
  CHECK(c.made && weft_tls_is(c.t));
  if (c.made) {
    CHECK(turn_until(r, &c.lost, 5));
    CHECK_MEM(c.got, c.ngot, "named", 5);
  }
  weft_listening_port_close(p);
  for (int k = 0; k < 100 && es.lost < es.made; k++) weft_reactor_iterate(r, 0.01);
  close_reactor(r);
  pki_remove(&pki);
}

/* tls:host=localhost cancelled while resolving, and while the handshake waits on a peer that
 * accepted TCP and never answers: each fails with ECANCELED, the user's factory sees nothing and
 * nothing is left open. */
static void test_tls_by_name_cancelled(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", 0);
  REQUIRE(bind(s, &a.u.sa, a.len) == 0 && listen(s, 4) == 0);
  a.len = sizeof a.u;
  getsockname(s, &a.u.sa, &a.len);
  char desc[96];
  snprintf(desc, sizeof desc, "tls:host=localhost:port=%d:timeout=5", weft_address_port(&a));
  client c = {0};
  weft_factory cf = client_factory(&c);
  for (int turns = 0; turns <= 20; turns += 20) { /* 0: still resolving; 20: mid-handshake */
    weft_deferred *d = start_connect(r, desc, &cf);
    for (int i = 0; i < turns; i++) weft_reactor_iterate(r, 0.01);
    CHECK(weft_assert_no_result(d, NULL, 0));
    weft_deferred_cancel(d);
    char why[512];
    weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED, why, sizeof why);
    if (!fl) CHECK_FAIL_("turns %d: %s", turns, why);
    weft_failure_unref(fl);
    weft_deferred_unref(d);
  }
  for (int i = 0; i < 20; i++) weft_reactor_iterate(r, 0.01);
  CHECK(!c.made && !c.failed);
  close_reactor(r);
  close(s);
}

/* A verification failure's message gives this connection's detail (why the certificate was
 * refused), not what another TLS connection of the thread failed with in the meantime: here the
 * server's side of the same connection, failing on the client's alert. */
static void test_tls_failure_detail_is_its_own(void) {
  test_pki pki;
  pki_make(&pki);
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  char desc[512], cdesc[512];
  snprintf(desc, sizeof desc, "ssl:0:privateKey=%s:certKey=%s:interface=127.0.0.1", pki.self_key, pki.self);
  weft_listening_port *p = listen_on(r, desc, &sf);
  REQUIRE(p != NULL);
  snprintf(cdesc, sizeof cdesc, "tls:host=127.0.0.1:port=%d:trustRoots=%s:timeout=5", port_of(p), pki.ca);
  for (int i = 0; i < 3; i++) {
    client c = {0};
    weft_factory cf = client_factory(&c);
    weft_deferred *d = start_connect(r, cdesc, &cf);
    for (int k = 0; k < 500 && !weft_deferred_called(d); k++) weft_reactor_iterate(r, 0.01);
    char why[512];
    weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ETLSUNKNOWNCA, why, sizeof why);
    if (!fl) CHECK_FAIL_("%s", why);
    else if (!strstr(weft_failure_message(fl), "self-signed certificate"))
      CHECK_FAIL_("attempt %d: no verification detail in: %s", i, weft_failure_message(fl));
    weft_failure_unref(fl);
    weft_deferred_unref(d);
    for (int k = 0; k < 20; k++) weft_reactor_iterate(r, 0.01); /* the server's side ends too */
  }
  weft_listening_port_close(p);
  for (int k = 0; k < 100 && es.lost < es.made; k++) weft_reactor_iterate(r, 0.01);
  close_reactor(r);
  pki_remove(&pki);
}

int main(void) {
  RUN(test_tls_failure_detail_is_its_own);
  RUN(test_tls_by_name);
  RUN(test_tls_by_name_cancelled);
  return CHECK_DONE();
}
