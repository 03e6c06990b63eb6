/* test_http_server_drain.c: weft_http_server_drain (graceful shutdown): idle connections close
 * now, a request in progress finishes with Connection: close, the deadline aborts a stuck one,
 * new connections are refused; over the string transport and on real loopback sockets. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "net/net_util.h"
#include "web/http_fixture.h"
#include "weft/http.h"
#include "weft/testing.h"

static weft_http_request *held;

/* Answers "/" at once; holds anything else for the test to answer. */
static void handler(weft_http_request *req, void *user) {
  (void)user;
  size_t n;
  const char *p = weft_http_request_path(req, &n);
  if (n == 1 && p[0] == '/') {
    CHECK_INT(weft_http_respond(req, 200, NULL, 0, "hello", 5), 0);
    return;
  }
  held = req;
}

static int fired;
static weft_value on_drained(weft_value v, void *arg) {
  (void)arg;
  CHECK_INT(v.kind, WEFT_VALUE_NONE);
  fired++;
  return v;
}

static weft_deferred *drain(fixture *f, double timeout) {
  fired = 0;
  weft_deferred *d = weft_http_server_drain(f->srv, timeout);
  REQUIRE(d != NULL);
  weft_deferred_add_callback(d, on_drained, NULL);
  return d;
}

static void test_idle_connection_closes_now(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, handler, NULL);
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(strstr(out(&f), "hello") != NULL);
  CHECK(!weft_string_transport_disconnecting(f.st));
  weft_deferred *d = drain(&f, 10);
  CHECK(weft_string_transport_disconnecting(f.st));
  CHECK(!weft_string_transport_aborted(f.st));
  CHECK_INT(fired, 0); /* the connection is not gone yet */
  CHECK_INT(weft_string_transport_finish(f.st), 0);
  CHECK_INT(fired, 1);
  CHECK_INT(weft_http_server_connections(f.srv), 0);

  /* A new connection while draining is refused at once; a second drain is refused too. */
  weft_string_transport *st2;
  REQUIRE(weft_string_transport_new(&st2, f.r) == 0);
  CHECK_INT(weft_string_transport_attach_factory(st2, weft_http_server_factory(f.srv)), WEFT_ECLOSED);
  weft_string_transport_free(st2);
  weft_deferred *again = weft_http_server_drain(f.srv, 1);
  char why[128];
  weft_failure *fl = weft_failure_result_of(again, WEFT_FAILURE_DOMAIN, WEFT_EALREADY, why, sizeof why);
  CHECK(fl != NULL);
  weft_failure_unref(fl);
  weft_deferred_unref(again);
  weft_deferred_unref(d);
  teardown(&f);
}

static void test_no_connections_fires_at_once(void) {
  fixture f;
  setup_with(&f, NULL);
  weft_deferred *d = drain(&f, 0);
  CHECK_INT(fired, 1);
  weft_deferred_unref(d);
  teardown(&f);
}

static void test_in_flight_request_completes_with_close(void) {
  fixture f;
  setup(&f);
  held = NULL;
  weft_http_server_set_handler(f.srv, handler, NULL);
  /* A held request with another pipelined behind it. */
  feed(&f, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(held != NULL);
  weft_deferred *d = drain(&f, 10);
  CHECK(!weft_string_transport_disconnecting(f.st));
  weft_memory_reactor_advance(f.r, 1);
  CHECK_INT(fired, 0);
  CHECK_INT(weft_http_respond(held, 200, NULL, 0, "late", 4), 0);
  turn(&f);
  const char *o = out(&f);
  CHECK_INT(count(o, "HTTP/1.1 200 OK"), 1); /* the pipelined one was not started */
  CHECK(strstr(o, "\r\nConnection: close\r\n") != NULL);
  CHECK(strstr(o, "late") != NULL);
  CHECK(weft_string_transport_disconnecting(f.st));
  CHECK_INT(fired, 0);
  CHECK_INT(weft_string_transport_finish(f.st), 0);
  CHECK_INT(fired, 1);
  weft_deferred_unref(d);
  teardown(&f);
}

/* A request whose body is still arriving is in progress too: it is answered, then closed. */
static void test_request_being_received_finishes(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, handler, NULL);
  feed(&f, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab");
  weft_deferred *d = drain(&f, 10);
  CHECK(!weft_string_transport_disconnecting(f.st));
  feed(&f, "cd");
  CHECK(strstr(out(&f), "\r\nConnection: close\r\n") != NULL);
  CHECK(weft_string_transport_disconnecting(f.st));
  CHECK_INT(weft_string_transport_finish(f.st), 0);
  CHECK_INT(fired, 1);
  weft_deferred_unref(d);
  teardown(&f);
}

static void test_deadline_aborts_stuck_request(void) {
  fixture f;
  setup(&f);
  held = NULL;
  weft_http_server_set_handler(f.srv, handler, NULL);
  feed(&f, "GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(held != NULL);
  weft_deferred *d = drain(&f, 5);
  weft_memory_reactor_advance(f.r, 4.9);
  CHECK_INT(fired, 0);
  CHECK(!weft_string_transport_disconnecting(f.st));
  weft_memory_reactor_advance(f.r, 0.2);
  CHECK(weft_string_transport_aborted(f.st));
  CHECK_INT(fired, 1);
  CHECK(strstr(f.last_event, "drain deadline") != NULL);
  CHECK_INT(weft_string_transport_finish(f.st), 0);
  /* The handler still holds the request: inert now, and it must finish it to release it. */
  CHECK_INT(weft_http_respond(held, 200, NULL, 0, "x", 1), WEFT_ECLOSED);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  weft_deferred_unref(d);
  teardown(&f);
}

/* Cancelling the drain stops its deadline; freeing the server during one fails it. */
static void test_cancel_and_free_during_drain(void) {
  fixture f;
  setup(&f);
  held = NULL;
  weft_http_server_set_handler(f.srv, handler, NULL);
  feed(&f, "GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n");
  weft_deferred *d = weft_http_server_drain(f.srv, 5);
  weft_deferred_cancel(d);
  char why[128];
  weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED, why, sizeof why);
  CHECK(fl != NULL);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
  weft_memory_reactor_advance(f.r, 10);
  CHECK(!weft_string_transport_disconnecting(f.st)); /* no deadline any more */
  CHECK_INT(weft_http_respond(held, 200, NULL, 0, "x", 1), 0);
  CHECK(weft_string_transport_disconnecting(f.st)); /* still draining: closed after its answer */
  weft_string_transport_finish(f.st);
  teardown(&f);

  setup(&f);
  held = NULL;
  weft_http_server_set_handler(f.srv, handler, NULL);
  feed(&f, "GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n");
  d = weft_http_server_drain(f.srv, 5);
  weft_http_server *srv = f.srv;
  f.srv = NULL;
  weft_http_server_free(srv); /* the request is still held: the server's memory waits for it */
  fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED, why, sizeof why);
  CHECK(fl != NULL);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
  weft_string_transport_finish(f.st);
  CHECK_INT(weft_http_respond(held, 200, NULL, 0, "x", 1), WEFT_ECLOSED);
  weft_memory_reactor_advance(f.r, 10);
  weft_string_transport_free(f.st);
  CHECK_INT(weft_logged_errors_count(f.errors), 0);
  weft_logged_errors_free(f.errors);
  weft_log_remove_observer(weft_reactor_log(f.r), on_event, &f);
  CHECK_INT(weft_reactor_free(f.r), 0);
}

/* ---- real sockets: an idle client and a busy one, the listening port closed by the caller ---- */

static weft_http_request *sock_held;
static void sock_handler(weft_http_request *req, void *user) {
  (void)user;
  size_t n;
  const char *p = weft_http_request_path(req, &n);
  if (n == 5 && memcmp(p, "/slow", 5) == 0) {
    sock_held = req;
    return;
  }
  weft_http_respond(req, 200, NULL, 0, "hi", 2);
}

static void test_loopback_drain(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_server *srv;
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  weft_http_server_set_handler(srv, sock_handler, NULL);
  weft_listening_port *lp = listen_local(r, weft_http_server_factory(srv));
  static client idle, busy;
  memset(&idle, 0, sizeof idle);
  memset(&busy, 0, sizeof busy);
  idle.send = "GET / HTTP/1.1\r\nHost: l\r\n\r\n";
  idle.send_len = strlen(idle.send);
  busy.send = "GET /slow HTTP/1.1\r\nHost: l\r\n\r\n";
  busy.send_len = strlen(busy.send);
  sock_held = NULL;
  dial(r, lp, &idle);
  dial(r, lp, &busy);
  for (int i = 0; i < 500 && (idle.ngot == 0 || !sock_held); i++) weft_reactor_iterate(r, 0.01);
  REQUIRE(sock_held != NULL);
  CHECK(idle.ngot > 0);
  weft_listening_port_close(lp);
  fired = 0;
  weft_deferred *d = weft_http_server_drain(srv, 10);
  weft_deferred_add_callback(d, on_drained, NULL);
  for (int i = 0; i < 500 && !idle.lost; i++) weft_reactor_iterate(r, 0.01);
  CHECK(idle.lost);
  CHECK(!busy.lost);
  CHECK_INT(fired, 0);
  CHECK_INT(weft_http_respond(sock_held, 200, NULL, 0, "done", 4), 0);
  for (int i = 0; i < 500 && !(busy.lost && fired); i++) weft_reactor_iterate(r, 0.01);
  CHECK(busy.lost);
  CHECK_INT(fired, 1);
  busy.got[busy.ngot < sizeof busy.got ? busy.ngot : sizeof busy.got - 1] = '\0';
  CHECK(strstr(busy.got, "Connection: close\r\n") != NULL);
  CHECK(strstr(busy.got, "\r\n\r\ndone") != NULL);
  weft_deferred_unref(d);
  weft_http_server_free(srv);
  close_reactor(r);
}

int main(void) {
  RUN(test_idle_connection_closes_now);
  RUN(test_no_connections_fires_at_once);
  RUN(test_in_flight_request_completes_with_close);
  RUN(test_request_being_received_finishes);
  RUN(test_deadline_aborts_stuck_request);
  RUN(test_cancel_and_free_during_drain);
  RUN(test_loopback_drain);
  return CHECK_DONE();
}
