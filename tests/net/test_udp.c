/* Tests src/net/udp.c (Twisted's listenUDP and DatagramProtocol) over real loopback sockets. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/udp.h"

/* Bounds for waiting on loopback: each turn waits at most 0.1 s, and at most this many turns. */
#define MAX_TURNS 50

typedef struct rx {
  int count;
  char last[256];
  size_t last_len;
  weft_address from;
  uint32_t next_seq; /* for in-order checks */
  bool in_order;
  int errors, last_err;
  bool close_on_receive;
  int send_after_close, address_after_close;
} rx;

static void on_datagram(weft_udp *u, const void *data, size_t len, const weft_address *from, void *user) {
  rx *x = user;
  x->count++;
  x->last_len = len;
  memcpy(x->last, data, len < sizeof x->last ? len : sizeof x->last);
  x->from = *from;
  if (len == 4) {
    uint32_t seq;
    memcpy(&seq, data, 4);
    if (seq != x->next_seq) x->in_order = false;
    x->next_seq = seq + 1;
  }
  if (x->close_on_receive) {
    weft_udp_close(u);
    weft_address a;
    x->send_after_close = weft_udp_send(u, "x", 1, from);
    x->address_after_close = weft_udp_address(u, &a);
  }
}

static void on_error(weft_udp *u, int err, void *user) {
  (void)u;
  rx *x = user;
  x->errors++;
  x->last_err = err;
}

static weft_reactor *reactor(void) {
  weft_reactor *r = NULL;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  return r;
}

static int bind_at(weft_udp **u, weft_reactor *r, const char *ip, rx *x) {
  memset(x, 0, sizeof *x);
  x->in_order = true;
  weft_datagram_protocol p = {.datagram_received = on_datagram, .error_received = on_error, .user = x};
  weft_address a;
  REQUIRE(weft_address_from_ip(&a, ip, 0) == 0);
  return weft_udp_bind(u, r, &a, &p);
}

static weft_udp *bind_lo(weft_reactor *r, rx *x) {
  weft_udp *u = NULL;
  REQUIRE(bind_at(&u, r, "127.0.0.1", x) == 0);
  return u;
}

static weft_address addr_of(weft_udp *u) {
  weft_address a;
  REQUIRE(weft_udp_address(u, &a) == 0);
  return a;
}

static const char *fmt(const weft_address *a, char *buf) {
  weft_address_format(a, buf, WEFT_ADDRSTRLEN);
  return buf;
}

/* Turns the reactor until *counter reaches want, bounded in turns and time. */
static void wait_for(weft_reactor *r, const int *counter, int want) {
  for (int i = 0; i < MAX_TURNS && *counter < want; i++) weft_reactor_iterate(r, 0.1);
}

static void check_clean(weft_reactor *r) {
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_bind_reports_real_port(void) {
  weft_reactor *r = reactor();
  rx x, y;
  weft_udp *u = bind_lo(r, &x);
  weft_address a = addr_of(u);
  CHECK_INT(weft_address_family(&a), AF_INET);
  CHECK(weft_address_port(&a) > 0);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  /* the port is really ours: a second bind on it is refused */
  weft_udp *v = NULL;
  weft_datagram_protocol p = {.datagram_received = on_datagram, .user = &y};
  CHECK_INT(weft_udp_bind(&v, r, &a, &p), WEFT_EADDRINUSE);
  /* no datagram_received, or not an IP address */
  weft_datagram_protocol none = {0};
  CHECK_INT(weft_udp_bind(&v, r, &a, &none), WEFT_EINVAL);
  weft_address un;
  REQUIRE(weft_address_from_unix(&un, "/tmp/x") == 0);
  CHECK_INT(weft_udp_bind(&v, r, &un, &p), WEFT_EINVAL);
  weft_udp_close(u);
  check_clean(r);
}

static void test_send_receive_with_sender_address(void) {
  weft_reactor *r = reactor();
  rx xa, xb;
  weft_udp *a = bind_lo(r, &xa), *b = bind_lo(r, &xb);
  weft_address aa = addr_of(a), ba = addr_of(b);
  CHECK_INT(weft_udp_send(a, "hello", 5, &ba), 0);
  wait_for(r, &xb.count, 1);
  CHECK_INT(xb.count, 1);
  CHECK_MEM(xb.last, xb.last_len, "hello", (size_t)5);
  char s1[WEFT_ADDRSTRLEN], s2[WEFT_ADDRSTRLEN];
  CHECK_STR(fmt(&xb.from, s1), fmt(&aa, s2));
  /* answering to the sender address reaches the sender */
  CHECK_INT(weft_udp_send(b, "world", 5, &xb.from), 0);
  wait_for(r, &xa.count, 1);
  CHECK_INT(xa.count, 1);
  CHECK_MEM(xa.last, xa.last_len, "world", (size_t)5);
  CHECK_STR(fmt(&xa.from, s1), fmt(&ba, s2));
  /* an empty datagram is a datagram */
  CHECK_INT(weft_udp_send(a, "", 0, &ba), 0);
  wait_for(r, &xb.count, 2);
  CHECK_INT(xb.count, 2);
  CHECK_INT(xb.last_len, 0);
  /* an unconnected socket needs an address */
  CHECK_INT(weft_udp_send(a, "x", 1, NULL), WEFT_ENOTCONN);
  weft_udp_close(a);
  weft_udp_close(b);
  check_clean(r);
}

static void send_seq(weft_udp *u, uint32_t seq, const weft_address *to) {
  CHECK_INT(weft_udp_send(u, &seq, sizeof seq, to), 0);
}

static void test_receive_batch_is_bounded(void) {
  weft_reactor *r = reactor();
  rx xa, xb;
  weft_udp *a = bind_lo(r, &xa), *b = bind_lo(r, &xb);
  weft_address ba = addr_of(b);
  for (uint32_t i = 0; i < 40; i++) send_seq(a, i, &ba);
  /* one readiness takes a bounded batch (32), leaving the rest for the next turn */
  weft_reactor_iterate(r, 1.0);
  CHECK_INT(xb.count, 32);
  wait_for(r, &xb.count, 40);
  CHECK_INT(xb.count, 40);
  CHECK(xb.in_order);
  weft_udp_close(a);
  weft_udp_close(b);
  check_clean(r);
}

static void test_many_datagrams_arrive_in_order(void) {
  weft_reactor *r = reactor();
  rx xa, xb;
  weft_udp *a = bind_lo(r, &xa), *b = bind_lo(r, &xb);
  weft_address ba = addr_of(b);
  /* bursts small enough for the default receive buffer, so loopback drops nothing */
  uint32_t sent = 0;
  for (int burst = 0; burst < 20 && sent < 1000; burst++) {
    for (int i = 0; i < 50; i++) send_seq(a, sent++, &ba);
    wait_for(r, &xb.count, (int)sent);
  }
  CHECK_INT(sent, 1000);
  CHECK_INT(xb.count, 1000);
  CHECK(xb.in_order);
  CHECK_INT(xb.next_seq, 1000);
  weft_udp_close(a);
  weft_udp_close(b);
  check_clean(r);
}

static void test_connected_filters_other_peers(void) {
  weft_reactor *r = reactor();
  rx xa, xb, xc;
  weft_udp *a = bind_lo(r, &xa), *b = bind_lo(r, &xb), *c = bind_lo(r, &xc);
  weft_address aa = addr_of(a), ba = addr_of(b), ca = addr_of(c);
  /* queued before the connect: must not arrive after it either */
  CHECK_INT(weft_udp_send(c, "early", 5, &aa), 0);
  CHECK_INT(weft_udp_connect(a, &ba), 0);
  CHECK_INT(weft_udp_send(a, "to-b", 4, NULL), 0);
  wait_for(r, &xb.count, 1);
  CHECK_INT(xb.count, 1);
  CHECK_MEM(xb.last, xb.last_len, "to-b", (size_t)4);
  char s1[WEFT_ADDRSTRLEN], s2[WEFT_ADDRSTRLEN];
  CHECK_STR(fmt(&xb.from, s1), fmt(&aa, s2));
  /* the peer's own address is accepted; any other is refused */
  CHECK_INT(weft_udp_send(a, "to-b", 4, &ba), 0);
  CHECK_INT(weft_udp_send(a, "to-c", 4, &ca), WEFT_EISCONN);
  CHECK_INT(weft_udp_send(c, "late", 4, &aa), 0);
  CHECK_INT(weft_udp_send(b, "from-b", 6, &aa), 0);
  wait_for(r, &xa.count, 1);
  /* c's datagrams were sent first, so they were dealt with before b's arrived */
  CHECK_INT(xa.count, 1);
  CHECK_MEM(xa.last, xa.last_len, "from-b", (size_t)6);
  CHECK_STR(fmt(&xa.from, s1), fmt(&ba, s2));
  weft_udp_close(a);
  weft_udp_close(b);
  weft_udp_close(c);
  check_clean(r);
}

static void test_icmp_refused_reaches_error_received(void) {
  weft_reactor *r = reactor();
  rx xa, xd;
  weft_udp *d = bind_lo(r, &xd);
  weft_address gone = addr_of(d);
  weft_udp_close(d); /* nothing listens on that port now */
  weft_udp *a = bind_lo(r, &xa);
  CHECK_INT(weft_udp_connect(a, &gone), 0);
  CHECK_INT(weft_udp_send(a, "ping", 4, NULL), 0);
  wait_for(r, &xa.errors, 1);
  CHECK_INT(xa.errors, 1);
  CHECK_INT(xa.last_err, WEFT_ECONNREFUSED);
  CHECK_INT(xa.count, 0);
  /* the socket stays usable: the error was consumed, the next send goes out */
  CHECK_INT(weft_udp_send(a, "ping", 4, NULL), 0);
  weft_udp_close(a);
  check_clean(r);
}

static void test_close_inside_datagram_received(void) {
  weft_reactor *r = reactor();
  rx xa, xb;
  weft_udp *a = bind_lo(r, &xa), *b = bind_lo(r, &xb);
  weft_address ba = addr_of(b);
  xb.close_on_receive = true;
  for (int i = 0; i < 3; i++) CHECK_INT(weft_udp_send(a, "bye", 3, &ba), 0);
  wait_for(r, &xb.count, 1);
  /* no callback after the close, though two more datagrams were queued in the same batch */
  CHECK_INT(xb.count, 1);
  CHECK_INT(xb.errors, 0);
  CHECK_INT(xb.send_after_close, WEFT_ECLOSED);
  CHECK_INT(xb.address_after_close, WEFT_ECLOSED);
  weft_reactor_iterate(r, 0);
  CHECK_INT(xb.count, 1);
  weft_udp_close(a);
  check_clean(r);
}

static void test_ipv6_loopback(void) {
  weft_reactor *r = reactor();
  rx xa, xb;
  weft_udp *a = NULL, *b = NULL;
  int rc = bind_at(&a, r, "::1", &xa);
  if (rc == WEFT_EAFNOSUPPORT || rc == WEFT_EADDRNOTAVAIL) {
    fprintf(stderr, "skip test_ipv6_loopback: no IPv6 loopback here (%s)\n", weft_strerror(rc));
    check_clean(r);
    return;
  }
  REQUIRE(rc == 0);
  REQUIRE(bind_at(&b, r, "::1", &xb) == 0);
  weft_address aa = addr_of(a), ba = addr_of(b);
  CHECK_INT(weft_address_family(&aa), AF_INET6);
  CHECK(weft_address_port(&aa) > 0);
  CHECK_INT(weft_udp_send(a, "six", 3, &ba), 0);
  wait_for(r, &xb.count, 1);
  CHECK_INT(xb.count, 1);
  CHECK_MEM(xb.last, xb.last_len, "six", (size_t)3);
  char s1[WEFT_ADDRSTRLEN], s2[WEFT_ADDRSTRLEN];
  CHECK_STR(fmt(&xb.from, s1), fmt(&aa, s2));
  CHECK(strncmp(s1, "[::1]:", 6) == 0);
  /* 65527 bytes is the IPv6 maximum without jumbograms */
  static char big[65528];
  CHECK_INT(weft_udp_send(a, big, sizeof big, &ba), WEFT_EMSGSIZE);
  weft_udp_close(a);
  weft_udp_close(b);
  check_clean(r);
}

static bool multicast_unavailable(int rc, const char *what) {
  if (rc != WEFT_ENODEV && rc != WEFT_ENETUNREACH) return false;
  fprintf(stderr, "skip test_multicast_ipv4_loopback: %s failed: %s (no multicast route here)\n", what,
          weft_strerror(rc));
  return true;
}

/* The receiver is bound to the group itself and joined on the loopback interface; the sender is
 * bound to 127.0.0.1, which makes Linux route the group out of lo: nothing leaves the host. */
static void test_multicast_ipv4_loopback(void) {
  const char *group = "239.255.77.1";
  weft_reactor *r = reactor();
  rx xs, xm;
  weft_udp *m = NULL, *s = bind_lo(r, &xs);
  REQUIRE(bind_at(&m, r, group, &xm) == 0);
  weft_address ga = addr_of(m);
  int rc = weft_udp_join_group(m, group, "127.0.0.1");
  if (!multicast_unavailable(rc, "join")) {
    CHECK_INT(rc, 0);
    CHECK_INT(weft_udp_set_multicast_loop(s, 1), 0);
    rc = weft_udp_send(s, "mc", 2, &ga);
    if (!multicast_unavailable(rc, "send")) {
      CHECK_INT(rc, 0);
      wait_for(r, &xm.count, 1);
      CHECK_INT(xm.count, 1);
      CHECK_MEM(xm.last, xm.last_len, "mc", (size_t)2);
      /* leave, then join again by interface name */
      CHECK_INT(weft_udp_leave_group(m, group, "127.0.0.1"), 0);
      CHECK_INT(weft_udp_leave_group(m, group, "127.0.0.1"), WEFT_EADDRNOTAVAIL);
      CHECK_INT(weft_udp_join_group(m, group, "lo"), 0);
      CHECK_INT(weft_udp_send(s, "mc2", 3, &ga), 0);
      wait_for(r, &xm.count, 2);
      CHECK_INT(xm.count, 2);
      CHECK_MEM(xm.last, xm.last_len, "mc2", (size_t)3);
      CHECK_INT(weft_udp_leave_group(m, group, "lo"), 0);
    }
  }
  CHECK_INT(weft_udp_join_group(m, group, "no-such-if0"), WEFT_ENODEV);
  CHECK_INT(weft_udp_join_group(m, "not-a-group", NULL), WEFT_EINVAL);
  CHECK_INT(weft_udp_join_group(m, "ff12::7177", NULL), WEFT_EINVAL); /* IPv6 group, IPv4 socket */
  weft_udp_close(m);
  weft_udp_close(s);
  check_clean(r);
}

static void test_multicast_ipv6_membership(void) {
  weft_reactor *r = reactor();
  rx x;
  weft_udp *u = NULL;
  int rc = bind_at(&u, r, "::1", &x);
  if (rc == WEFT_EAFNOSUPPORT || rc == WEFT_EADDRNOTAVAIL) {
    fprintf(stderr, "skip test_multicast_ipv6_membership: no IPv6 loopback here (%s)\n", weft_strerror(rc));
    check_clean(r);
    return;
  }
  REQUIRE(rc == 0);
  rc = weft_udp_join_group(u, "ff12::7177", "lo");
  if (rc == WEFT_ENODEV) {
    fprintf(stderr, "skip test_multicast_ipv6_membership: join failed: %s\n", weft_strerror(rc));
  } else {
    CHECK_INT(rc, 0);
    CHECK_INT(weft_udp_join_group(u, "ff12::7177", "lo"), WEFT_EADDRINUSE);
    CHECK_INT(weft_udp_leave_group(u, "ff12::7177", "lo"), 0);
  }
  CHECK_INT(weft_udp_join_group(u, "ff12::7177", "127.0.0.1"), WEFT_EINVAL);
  CHECK_INT(weft_udp_set_multicast_loop(u, 0), 0);
  weft_udp_close(u);
  check_clean(r);
}

static void test_oversize_send_is_emsgsize(void) {
  weft_reactor *r = reactor();
  rx xa, xb;
  weft_udp *a = bind_lo(r, &xa), *b = bind_lo(r, &xb);
  weft_address ba = addr_of(b);
  static char big[65508];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7);
  CHECK_INT(weft_udp_send(a, big, sizeof big, &ba), WEFT_EMSGSIZE);
  /* the largest IPv4 datagram goes, and arrives whole */
  CHECK_INT(weft_udp_send(a, big, sizeof big - 1, &ba), 0);
  wait_for(r, &xb.count, 1);
  CHECK_INT(xb.count, 1);
  CHECK_INT(xb.last_len, sizeof big - 1);
  CHECK_MEM(xb.last, sizeof xb.last, big, sizeof xb.last);
  weft_udp_close(a);
  weft_udp_close(b);
  check_clean(r);
}

int main(void) {
  RUN(test_bind_reports_real_port);
  RUN(test_send_receive_with_sender_address);
  RUN(test_receive_batch_is_bounded);
  RUN(test_many_datagrams_arrive_in_order);
  RUN(test_connected_filters_other_peers);
  RUN(test_icmp_refused_reaches_error_received);
  RUN(test_close_inside_datagram_received);
  RUN(test_ipv6_loopback);
  RUN(test_multicast_ipv4_loopback);
  RUN(test_multicast_ipv6_membership);
  RUN(test_oversize_send_is_emsgsize);
  return CHECK_DONE();
}
