/* Tests src/net/stream.c, listener.c and connector.c over real TCP sockets on loopback:
 * round trips, addresses, connect failures, re-entrancy, half-close. */
#include <arpa/inet.h>
#include <unistd.h>
#include <stdlib.h>

#include "net_util.h"

static weft_reactor *new_reactor(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  return r;
}

static void test_echo_round_trip_ipv4(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_local(r, &sf);
  weft_address bound;
  weft_listening_port_address(p, &bound);
  CHECK_INT(weft_address_family(&bound), AF_INET);
  CHECK(weft_address_port(&bound) > 0); /* port 0 gives the real port */

  client c = {.send = "hello, weft", .send_len = 11, .close_after = 11};
  dial(r, p, &c);
  CHECK(!c.made); /* never inside the connect call */
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "hello, weft", 11);
  CHECK_INT(c.reason, WEFT_REASON_CLEAN);
  weft_listening_port_close(p);
  close_reactor(r);
  CHECK_INT(es.made, 1);
  CHECK_INT(es.lost, 1);
  CHECK_INT(es.last_reason, WEFT_REASON_CLEAN); /* the client closed in order */
}

static void test_dual_stack_and_ipv6(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p;
  int rc = weft_tcp_listen(&p, r, 0, NULL, &sf); /* NULL interface: dual stack "::" */
  REQUIRE(rc == 0);
  weft_address bound;
  weft_listening_port_address(p, &bound);
  if (weft_address_family(&bound) != AF_INET6) {
    fprintf(stderr, "  (no IPv6 here: dual stack not tested)\n");
  } else {
    const char *ips[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
      client c = {.send = "x", .send_len = 1, .close_after = 1};
      weft_factory cf = client_factory(&c);
      weft_address to = loopback_of(p, ips[i]);
      REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, &cf) == 0);
      CHECK(turn_until(r, &c.lost, 5));
      CHECK_INT(c.ngot, 1);
    }
  }
  weft_listening_port_close(p);
  close_reactor(r);
}

static bool peer_checked;
static char peer_text[WEFT_ADDRSTRLEN], host_text[WEFT_ADDRSTRLEN];
static void addr_made(weft_transport *t, void *u) {
  (void)u;
  weft_address a;
  CHECK_INT(weft_transport_get_peer(t, &a), 0);
  weft_address_format(&a, peer_text, sizeof peer_text);
  CHECK_INT(weft_transport_get_host(t, &a), 0);
  weft_address_format(&a, host_text, sizeof host_text);
  peer_checked = true;
  weft_transport_lose_connection(t);
}
static const weft_protocol_callbacks addr_callbacks = {.connection_made = addr_made, .data_received = echo_data};
static int addr_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)u;
  (void)peer;
  out->cb = &addr_callbacks;
  return 0;
}

static void test_peer_and_host_addresses(void) {
  weft_reactor *r = new_reactor();
  weft_factory sf = {.build_protocol = addr_build};
  weft_listening_port *p = listen_local(r, &sf);
  client c = {0};
  dial(r, p, &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK(peer_checked);
  char want[WEFT_ADDRSTRLEN];
  weft_address to = loopback_of(p, "127.0.0.1");
  weft_address_format(&to, want, sizeof want);
  CHECK_STR(host_text, want);
  CHECK(strncmp(peer_text, "127.0.0.1:", 10) == 0);
  weft_listening_port_close(p);
  close_reactor(r);
}

static void test_connect_refused(void) {
  weft_reactor *r = new_reactor();
  /* a port that was just free: listen, note it, close */
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_local(r, &sf);
  weft_address to = loopback_of(p, "127.0.0.1");
  weft_listening_port_close(p);

  client c = {0};
  weft_factory cf = client_factory(&c);
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, &cf) == 0);
  CHECK(turn_until(r, &c.failed, 5));
  CHECK_INT(c.reason, WEFT_ECONNREFUSED);
  CHECK(!c.made);
  close_reactor(r);
}

static void test_connect_bad_args(void) {
  weft_reactor *r = new_reactor();
  client c = {0};
  weft_factory cf = client_factory(&c);
  weft_address unix_addr, to;
  weft_address_from_unix(&unix_addr, "/tmp/x");
  weft_address_from_ip(&to, "127.0.0.1", 9);
  CHECK_INT(weft_tcp_connect(NULL, r, &unix_addr, NULL, &cf), WEFT_EINVAL);
  weft_factory no_build = {0};
  CHECK_INT(weft_tcp_connect(NULL, r, &to, NULL, &no_build), WEFT_EINVAL);
  close_reactor(r);
}

/* A listener that never accepts, with its accept queue filled: further SYNs are dropped, so a
 * connect to it stays pending until its timeout. */
static int full_listener(weft_address *to, int fillers[4]) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  weft_address_from_ip(to, "127.0.0.1", 0);
  REQUIRE(bind(lfd, &to->u.sa, to->len) == 0 && listen(lfd, 0) == 0);
  to->len = sizeof to->u;
  getsockname(lfd, &to->u.sa, &to->len);
  for (int i = 0; i < 4; i++) {
    fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fillers[i], &to->u.sa, to->len);
  }
  return lfd;
}

static void test_connect_timeout(void) {
  weft_reactor *r = new_reactor();
  weft_address to;
  int fillers[4];
  int lfd = full_listener(&to, fillers);
  client c = {0};
  weft_factory cf = client_factory(&c);
  weft_connect_options co;
  weft_connect_options_init(&co);
  co.timeout = 0.1;
  REQUIRE(weft_tcp_connect(NULL, r, &to, &co, &cf) == 0);
  CHECK(turn_until(r, &c.failed, 5));
  CHECK_INT(c.reason, WEFT_ETIMEDOUT);
  CHECK(!c.made);
  close_reactor(r);
  for (int i = 0; i < 4; i++) close(fillers[i]);
  close(lfd);
}

static void test_connect_cancel(void) {
  weft_reactor *r = new_reactor();
  weft_address to;
  int fillers[4];
  int lfd = full_listener(&to, fillers);
  client c = {0};
  weft_factory cf = client_factory(&c);
  weft_connector *conn = NULL;
  REQUIRE(weft_tcp_connect(&conn, r, &to, NULL, &cf) == 0);
  REQUIRE(conn != NULL);
  weft_reactor_iterate(r, 0.02);
  CHECK(!c.failed && !c.made);
  weft_connector_cancel(conn);
  CHECK(c.failed);
  CHECK_INT(c.reason, WEFT_ECANCELED);
  close_reactor(r);
  for (int i = 0; i < 4; i++) close(fillers[i]);
  close(lfd);
}

static void test_listen_errors(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.interface = "127.0.0.1";
  weft_listening_port *p, *q;
  REQUIRE(weft_tcp_listen(&p, r, 0, &o, &sf) == 0);
  weft_address a;
  weft_listening_port_address(p, &a);
  CHECK_INT(weft_tcp_listen(&q, r, weft_address_port(&a), &o, &sf), WEFT_EADDRINUSE);
  o.interface = "not-an-address";
  CHECK_INT(weft_tcp_listen(&q, r, 0, &o, &sf), WEFT_EINVAL);
  CHECK_INT(weft_tcp_listen(&q, r, 70000, NULL, &sf), WEFT_EINVAL);
  weft_listening_port_close(p);
  close_reactor(r);
}

static void test_reuseport_lets_two_ports_share(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.interface = "127.0.0.1";
  o.reuseport = true;
  weft_listening_port *p, *q;
  REQUIRE(weft_tcp_listen(&p, r, 0, &o, &sf) == 0);
  weft_address a;
  weft_listening_port_address(p, &a);
  CHECK_INT(weft_tcp_listen(&q, r, weft_address_port(&a), &o, &sf), 0);
  weft_listening_port_close(q);
  weft_listening_port_close(p);
  close_reactor(r);
}

/* ---- re-entrancy ---- */

static int lost_write_rc = 1;
static void write_in_lost(weft_transport *t, int reason, void *u) {
  (void)reason;
  (void)u;
  lost_write_rc = weft_transport_write(t, "late", 4);
}
static void lose_in_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)u;
  weft_transport_write(t, d, n);      /* queued ... */
  weft_transport_lose_connection(t);  /* ... and still sent before the close */
  CHECK_INT(weft_transport_write(t, "x", 1), WEFT_ECLOSED);
  CHECK(weft_transport_closing(t));
}
static const weft_protocol_callbacks lose_callbacks = {.data_received = lose_in_data, .connection_lost = write_in_lost};
static int lose_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)u;
  (void)peer;
  out->cb = &lose_callbacks;
  return 0;
}

static void test_lose_inside_data_received_and_write_inside_lost(void) {
  weft_reactor *r = new_reactor();
  weft_factory sf = {.build_protocol = lose_build};
  weft_listening_port *p = listen_local(r, &sf);
  client c = {.send = "bye", .send_len = 3};
  dial(r, p, &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "bye", 3);
  CHECK_INT(c.reason, WEFT_REASON_CLEAN);
  weft_listening_port_close(p);
  close_reactor(r);
  CHECK_INT(lost_write_rc, WEFT_ECLOSED);
}

static int abort_lost_reason = 1;
static bool abort_lost_called;
static void abort_in_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)d;
  (void)n;
  (void)u;
  weft_transport_abort_connection(t);
  weft_transport_abort_connection(t); /* twice is harmless */
  CHECK(!abort_lost_called);          /* connection_lost is never re-entrant */
}
static void abort_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  (void)u;
  abort_lost_called = true;
  abort_lost_reason = reason;
}
static const weft_protocol_callbacks abort_callbacks = {.data_received = abort_in_data, .connection_lost = abort_lost};
static int abort_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)u;
  (void)peer;
  out->cb = &abort_callbacks;
  return 0;
}

static void test_abort_reason_distinct_from_clean_close(void) {
  weft_reactor *r = new_reactor();
  weft_factory sf = {.build_protocol = abort_build};
  weft_listening_port *p = listen_local(r, &sf);
  client c = {.send = "x", .send_len = 1};
  dial(r, p, &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK(turn_until(r, &abort_lost_called, 5));
  CHECK_INT(abort_lost_reason, WEFT_EABORTED);
  /* the peer saw the connection end: cleanly (FIN) or reset, never "aborted" (that is local) */
  CHECK(c.reason == WEFT_REASON_CLEAN || c.reason == WEFT_ECONNRESET);
  weft_listening_port_close(p);
  close_reactor(r);
}

/* ---- half-close ---- */

typedef struct half_server {
  bool read_lost, write_lost;
  size_t got;
} half_server;
static void half_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)t;
  (void)d;
  ((half_server *)u)->got += n;
}
static void half_read_lost(weft_transport *t, void *u) {
  half_server *h = u;
  h->read_lost = true;
  /* the peer is done sending; we can still answer, then shut our side */
  char reply[32];
  int n = snprintf(reply, sizeof reply, "got %zu", h->got);
  CHECK_INT(weft_transport_write(t, reply, (size_t)n), 0);
  CHECK_INT(weft_transport_shutdown_write(t), 0);
  CHECK_INT(weft_transport_write(t, "x", 1), WEFT_ECLOSED);
}
static void half_write_lost(weft_transport *t, void *u) {
  (void)t;
  ((half_server *)u)->write_lost = true;
}
static const weft_protocol_callbacks half_callbacks = {
    .data_received = half_data, .read_connection_lost = half_read_lost, .write_connection_lost = half_write_lost};
static int half_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &half_callbacks;
  out->user = u;
  return 0;
}
static void shut_after_made(weft_transport *t, void *u) {
  cl_made(t, u);
  weft_transport_shutdown_write(t);
}
static const weft_protocol_callbacks shut_client_callbacks = {
    .connection_made = shut_after_made, .data_received = cl_data, .connection_lost = cl_lost};
static int shut_client_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &shut_client_callbacks;
  out->user = u;
  return 0;
}

static void test_half_close_both_ways(void) {
  weft_reactor *r = new_reactor();
  half_server h = {0};
  weft_factory sf = {.build_protocol = half_build, .user = &h};
  weft_listening_port *p = listen_local(r, &sf);
  client c = {.send = "12345", .send_len = 5};
  weft_factory cf = {.build_protocol = shut_client_build, .connection_failed = cl_failed, .user = &c};
  weft_address to = loopback_of(p, "127.0.0.1");
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, &cf) == 0);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK(h.read_lost);
  CHECK(turn_until(r, &h.write_lost, 5));
  CHECK_MEM(c.got, c.ngot, "got 5", 5);
  CHECK_INT(c.reason, WEFT_REASON_CLEAN);
  weft_listening_port_close(p);
  close_reactor(r);
}

/* A refusing factory closes the connection without any protocol callback. */
static int refuse_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)u;
  (void)peer;
  (void)out;
  return WEFT_EPERM;
}

static void test_factory_refusal_closes(void) {
  weft_reactor *r = new_reactor();
  weft_factory sf = {.build_protocol = refuse_build};
  weft_listening_port *p = listen_local(r, &sf);
  client c = {.send = "x", .send_len = 1};
  dial(r, p, &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_INT(c.ngot, 0);
  weft_listening_port_close(p);
  close_reactor(r);
}

static int started, stopped;
static void on_start(void *u) {
  (void)u;
  started++;
}
static void on_stop(void *u) {
  (void)u;
  stopped++;
}

static void test_factory_start_stop_and_options(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  sf.start_factory = on_start;
  sf.stop_factory = on_stop;
  weft_listening_port *p = listen_local(r, &sf);
  CHECK_INT(started, 1);
  client c = {0};
  dial(r, p, &c);
  CHECK(turn_until(r, &c.made, 5));
  CHECK_INT(weft_transport_set_nodelay(c.t, true), 0);
  CHECK_INT(weft_transport_set_keepalive(c.t, true), 0);
  weft_transport_lose_connection(c.t);
  CHECK(turn_until(r, &c.lost, 5));
  weft_listening_port_close(p);
  CHECK_INT(stopped, 1);
  close_reactor(r);
}

/* ---- a write that meets a reset peer ---- */

typedef struct reset_server {
  weft_transport *t;
  bool lost, stopped;
  int reason;
} reset_server;
static void reset_stop(void *u) { ((reset_server *)u)->stopped = true; }
static void reset_nop(void *u) { (void)u; }
static void reset_made(weft_transport *t, void *u) {
  ((reset_server *)u)->t = t;
  weft_transport_pause_reading(t); /* the reset must be met by the write, not by a read */
}
static void reset_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  ((reset_server *)u)->lost = true;
  ((reset_server *)u)->reason = reason;
}
static const weft_protocol_callbacks reset_callbacks = {.connection_made = reset_made, .connection_lost = reset_lost};
static int reset_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &reset_callbacks;
  out->user = u;
  return 0;
}

/* A large write straight into the socket that fails (the peer reset) must not stop the
 * producer inside weft_transport_write: a producer writing from resume_producing would be
 * stopped and freed under its own feet. stop_producing and connection_lost come on a later turn. */
static void test_write_to_reset_peer_reports_loss_later(void) {
  weft_reactor *r = new_reactor();
  reset_server rs = {0};
  weft_factory sf = {.build_protocol = reset_build, .user = &rs};
  weft_listening_port *p = listen_local(r, &sf);
  weft_address to = loopback_of(p, "127.0.0.1");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  REQUIRE(connect(fd, &to.u.sa, to.len) == 0);
  bool made = false;
  for (int i = 0; i < 500 && !made; i++) {
    weft_reactor_iterate(r, 0.01);
    made = rs.t != NULL;
  }
  REQUIRE(made);
  weft_producer prod = {.pause_producing = reset_nop, .resume_producing = reset_nop, .stop_producing = reset_stop, .user = &rs};
  REQUIRE(weft_transport_register_producer(rs.t, &prod, true) == 0);
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd); /* RST */
  static char big[256 * 1024];
  CHECK_INT(weft_transport_write(rs.t, big, sizeof big), 0);
  CHECK(!rs.stopped);
  CHECK(!rs.lost);
  CHECK(turn_until(r, &rs.lost, 5));
  CHECK(rs.stopped);
  CHECK(rs.reason == WEFT_ECONNRESET || rs.reason == WEFT_EPIPE);
  weft_listening_port_close(p);
  close_reactor(r);
}

int main(void) {
  RUN(test_echo_round_trip_ipv4);
  RUN(test_dual_stack_and_ipv6);
  RUN(test_peer_and_host_addresses);
  RUN(test_connect_refused);
  RUN(test_connect_bad_args);
  RUN(test_connect_cancel);
  RUN(test_connect_timeout);
  RUN(test_listen_errors);
  RUN(test_reuseport_lets_two_ports_share);
  RUN(test_lose_inside_data_received_and_write_inside_lost);
  RUN(test_abort_reason_distinct_from_clean_close);
  RUN(test_half_close_both_ways);
  RUN(test_factory_refusal_closes);
  RUN(test_factory_start_stop_and_options);
  RUN(test_write_to_reset_peer_reports_loss_later);
  return CHECK_DONE();
}
