/* Tests src/net/resolver.c (c-ares on the reactor; Twisted's client.Resolver): /etc/hosts,
 * numeric hosts, a small DNS server of the test's own on a loopback UDP port (answers,
 * NXDOMAIN, silence), the system's configuration, cancellation and freeing with lookups pending. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "net_util.h"
#include "weft/deferred.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/resolver.h"
#include "weft/udp.h"

static weft_reactor *reactor(void) {
  weft_reactor *r = NULL;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  return r;
}

/* Turns r until d has fired (bounded: seconds of real time). */
static bool wait_fired(weft_reactor *r, weft_deferred *d, double seconds) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!weft_deferred_called(d)) {
    weft_reactor_iterate(r, 0.01);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 > seconds) break;
  }
  return weft_deferred_called(d);
}

/* The list d fired with (borrowed from d), or NULL if it failed. */
static const weft_address_list *list_of(weft_deferred *d) {
  weft_value v = weft_deferred_result(d);
  return v.kind == WEFT_VALUE_PTR ? v.v.p : NULL;
}

static const weft_failure *failure_of(weft_deferred *d) {
  weft_value v = weft_deferred_result(d);
  return v.kind == WEFT_VALUE_FAILURE ? v.v.f : NULL;
}

/* Takes d's result out (so nothing is reported unhandled) and drops the reference. */
static void done_with(weft_deferred *d) {
  weft_value v;
  if (weft_deferred_take_result(d, &v) == 0) weft_value_release(v);
  weft_deferred_unref(d);
}

static bool has_ip(const weft_address_list *l, const char *ip, int port) {
  weft_address want;
  if (weft_address_from_ip(&want, ip, port)) return false;
  for (size_t i = 0; l && i < l->count; i++)
    if (l->addrs[i].len == want.len && memcmp(&l->addrs[i].u, &want.u, want.len) == 0) return true;
  return false;
}

/* ---- a DNS server of the test's own, on 127.0.0.1 port 0 ---- */

typedef enum { DNS_ANSWER, DNS_NXDOMAIN, DNS_SILENT } dns_mode;

typedef struct dns_server {
  weft_udp *u;
  dns_mode mode;
  int queries;
  char servers[64]; /* "127.0.0.1:PORT" for weft_resolver_options.servers */
} dns_server;

static void put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

/* Answers an A question for any name with 192.0.2.7 (DNS_ANSWER; AAAA: no data), or says the
 * name does not exist (DNS_NXDOMAIN), or says nothing (DNS_SILENT). */
static void dns_received(weft_udp *u, const void *data, size_t len, const weft_address *from, void *user) {
  dns_server *s = user;
  const unsigned char *q = data;
  s->queries++;
  if (s->mode == DNS_SILENT || len < 12 || len > 400) return;
  size_t i = 12;
  while (i < len && q[i]) i += (size_t)q[i] + 1; /* the question's name */
  if (i + 5 > len) return;
  size_t qend = i + 5;
  unsigned qtype = (unsigned)q[i + 1] << 8 | q[i + 2];
  unsigned char out[512];
  memcpy(out, q, qend);
  bool answer = s->mode == DNS_ANSWER && qtype == 1;
  put16(out + 2, 0x8180u | (s->mode == DNS_NXDOMAIN ? 3u : 0u)); /* response, RD, RA, rcode */
  put16(out + 4, 1);
  put16(out + 6, answer ? 1 : 0);
  put16(out + 8, 0);
  put16(out + 10, 0);
  size_t n = qend;
  if (answer) {
    static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7};
    memcpy(out + n, rr, sizeof rr);
    n += sizeof rr;
  }
  weft_udp_send(u, out, n, from);
}

static void dns_start(dns_server *s, weft_reactor *r, dns_mode mode) {
  memset(s, 0, sizeof *s);
  s->mode = mode;
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", 0);
  weft_datagram_protocol p = {.datagram_received = dns_received, .user = s};
  REQUIRE(weft_udp_bind(&s->u, r, &a, &p) == 0);
  REQUIRE(weft_udp_address(s->u, &a) == 0);
  snprintf(s->servers, sizeof s->servers, "127.0.0.1:%d", weft_address_port(&a));
}

static weft_resolver *resolver_for(weft_reactor *r, const dns_server *s, double timeout) {
  weft_resolver_options o;
  weft_resolver_options_init(&o);
  o.servers = s ? s->servers : NULL;
  o.timeout = timeout;
  o.tries = 1;
  weft_resolver *res = NULL;
  REQUIRE(weft_resolver_new(&res, r, &o) == 0);
  return res;
}

/* ---- tests ---- */

/* /etc/hosts is read: "localhost" resolves with no name server at all (the server given is a
 * silent one of ours, and it must not even be asked). */
static void test_localhost_from_hosts_file(void) {
  weft_reactor *r = reactor();
  dns_server s;
  dns_start(&s, r, DNS_SILENT);
  weft_resolver *res = resolver_for(r, &s, 2);
  weft_deferred *d = weft_resolve(res, "localhost", 8080, AF_UNSPEC);
  REQUIRE(d && wait_fired(r, d, 5));
  const weft_address_list *l = list_of(d);
  REQUIRE(l != NULL);
  CHECK(l->count >= 1);
  bool v4 = has_ip(l, "127.0.0.1", 8080), v6 = has_ip(l, "::1", 8080);
  CHECK(v4 || v6);
  for (size_t i = 0; i < l->count; i++) CHECK_INT(weft_address_port(&l->addrs[i]), 8080);
  fprintf(stderr, "  localhost -> %s%s%s (from /etc/hosts)\n", v6 ? "::1" : "", v6 && v4 ? ", " : "",
          v4 ? "127.0.0.1" : "");
  CHECK_INT(s.queries, 0);
  done_with(d);

  /* asking for one family gives only that family */
  d = weft_resolve(res, "localhost", 1, v4 ? AF_INET : AF_INET6);
  REQUIRE(d && wait_fired(r, d, 5));
  REQUIRE((l = list_of(d)) != NULL);
  for (size_t i = 0; i < l->count; i++) CHECK_INT(weft_address_family(&l->addrs[i]), v4 ? AF_INET : AF_INET6);
  done_with(d);
  CHECK_INT(weft_resolver_pending(res), 0);
  weft_resolver_free(res);
  weft_udp_close(s.u);
  close_reactor(r);
}

/* A numeric host is its own answer: fired before weft_resolve returns, no query, no socket. */
static void test_numeric_hosts(void) {
  weft_reactor *r = reactor();
  dns_server s;
  dns_start(&s, r, DNS_SILENT);
  weft_resolver *res = resolver_for(r, &s, 2);
  size_t handles = weft_reactor_open_handles(r);
  const char *ips[] = {"127.0.0.1", "::1", "192.0.2.55", "2001:db8::7", "[::1]"};
  for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++) {
    weft_deferred *d = weft_resolve(res, ips[i], 443, AF_UNSPEC);
    REQUIRE(d != NULL);
    CHECK(weft_deferred_called(d));
    const weft_address_list *l = list_of(d);
    CHECK(l && l->count == 1 && has_ip(l, ips[i], 443));
    CHECK_INT(weft_reactor_open_handles(r), handles);
    done_with(d);
  }
  /* a literal of the other family than asked has no address */
  weft_deferred *d = weft_resolve(res, "127.0.0.1", 443, AF_INET6);
  CHECK(weft_deferred_called(d));
  CHECK(weft_failure_check(failure_of(d), WEFT_DNS_DOMAIN, WEFT_ENOTFOUND));
  done_with(d);
  for (int i = 0; i < 5; i++) weft_reactor_iterate(r, 0);
  CHECK_INT(s.queries, 0);
  weft_resolver_free(res);
  weft_udp_close(s.u);
  close_reactor(r);
}

/* The whole DNS path through the reactor: a query to our server and its answer. */
static void test_answer_from_server(void) {
  weft_reactor *r = reactor();
  dns_server s;
  dns_start(&s, r, DNS_ANSWER);
  weft_resolver *res = resolver_for(r, &s, 2);
  weft_deferred *d = weft_resolve(res, "www.weft-test.example", 80, AF_UNSPEC);
  REQUIRE(d != NULL);
  CHECK(!weft_deferred_called(d)); /* a real query: answered on a later turn */
  CHECK_INT(weft_resolver_pending(res), 1);
  REQUIRE(wait_fired(r, d, 5));
  const weft_address_list *l = list_of(d);
  CHECK(l && l->count == 1 && has_ip(l, "192.0.2.7", 80));
  CHECK(s.queries >= 1);
  CHECK_INT(weft_resolver_pending(res), 0);
  done_with(d);
  weft_resolver_free(res);
  weft_udp_close(s.u);
  close_reactor(r);
}

static void check_names_host(weft_deferred *d, const char *host) {
  const weft_failure *f = failure_of(d);
  REQUIRE(f != NULL);
  CHECK_STR(weft_failure_domain(f), WEFT_DNS_DOMAIN);
  CHECK(strstr(weft_failure_message(f), host) != NULL);
}

/* NXDOMAIN is WEFT_ENOTFOUND in weft.dns, naming the host. */
static void test_nxdomain(void) {
  weft_reactor *r = reactor();
  dns_server s;
  dns_start(&s, r, DNS_NXDOMAIN);
  weft_resolver *res = resolver_for(r, &s, 2);
  weft_deferred *d = weft_resolve(res, "nonexistent.invalid", 80, AF_UNSPEC);
  REQUIRE(d && wait_fired(r, d, 5));
  check_names_host(d, "\"nonexistent.invalid\"");
  CHECK_INT(weft_failure_code(failure_of(d)), WEFT_ENOTFOUND);
  CHECK(s.queries >= 1);
  done_with(d);
  weft_resolver_free(res);
  weft_udp_close(s.u);
  close_reactor(r);
}

/* A server that never answers: WEFT_ETIMEDOUT after timeout x tries, driven by the reactor timer. */
static void test_timeout(void) {
  weft_reactor *r = reactor();
  dns_server s;
  dns_start(&s, r, DNS_SILENT);
  weft_resolver *res = resolver_for(r, &s, 0.2);
  double t0 = weft_reactor_seconds(r);
  weft_deferred *d = weft_resolve(res, "slow.weft-test.example", 80, AF_INET);
  REQUIRE(d && wait_fired(r, d, 5));
  double took = weft_reactor_seconds(r) - t0;
  check_names_host(d, "slow.weft-test.example");
  CHECK_INT(weft_failure_code(failure_of(d)), WEFT_ETIMEDOUT);
  CHECK(took >= 0.15 && took < 3);
  done_with(d);
  weft_resolver_free(res);
  weft_udp_close(s.u);
  close_reactor(r);
}

/* The machine's own configuration (resolv.conf), offline or not: bounded by a short timeout and
 * one try; any outcome but success is a weft.dns Failure naming the host. */
static void test_system_nonexistent(void) {
  weft_reactor *r = reactor();
  weft_resolver *res = resolver_for(r, NULL, 0.3);
  weft_deferred *d = weft_resolve(res, "nonexistent.invalid", 80, AF_UNSPEC);
  REQUIRE(d && wait_fired(r, d, 8));
  check_names_host(d, "nonexistent.invalid");
  int code = weft_failure_code(failure_of(d));
  CHECK(code == WEFT_ENOTFOUND || code == WEFT_ETIMEDOUT || code == WEFT_EDNS || code == WEFT_ECONNREFUSED);
  fprintf(stderr, "  nonexistent.invalid via resolv.conf: %s\n", weft_failure_message(failure_of(d)));
  done_with(d);
  weft_resolver_free(res);
  close_reactor(r);
}

static int late_calls;
static weft_value count_call(weft_value v, void *arg) {
  (void)arg;
  late_calls++;
  return v;
}

/* Cancelling a lookup in flight: it fails with WEFT_ECANCELED at once, its socket and timer are
 * gone (the handle count is back), and the server's answer, if any, finds nobody. */
static void test_cancel_pending(void) {
  weft_reactor *r = reactor();
  dns_server s;
  dns_start(&s, r, DNS_SILENT);
  weft_resolver *res = resolver_for(r, &s, 5);
  size_t handles = weft_reactor_open_handles(r);
  weft_deferred *d = weft_resolve(res, "pending.weft-test.example", 80, AF_UNSPEC);
  REQUIRE(d != NULL);
  for (int i = 0; i < 100 && s.queries == 0; i++) weft_reactor_iterate(r, 0.01);
  CHECK(s.queries >= 1); /* the query is out: a socket and a timer exist */
  CHECK(weft_reactor_open_handles(r) > handles);
  weft_deferred_cancel(d);
  REQUIRE(weft_deferred_called(d));
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  CHECK_INT(weft_resolver_pending(res), 0);
  CHECK_INT(weft_reactor_open_handles(r), handles);
  done_with(d);

  /* and freeing the resolver cancels what is pending */
  late_calls = 0;
  d = weft_resolve(res, "pending2.weft-test.example", 80, AF_UNSPEC);
  weft_deferred_add_both(d, count_call, NULL);
  weft_resolver_free(res);
  REQUIRE(weft_deferred_called(d));
  CHECK_INT(late_calls, 1);
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  done_with(d);
  for (int i = 0; i < 5; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(late_calls, 1);
  weft_udp_close(s.u);
  close_reactor(r);
}

static void test_bad_arguments(void) {
  weft_reactor *r = reactor();
  weft_resolver *res = resolver_for(r, NULL, 1);
  weft_deferred *d = weft_resolve(res, "", 80, AF_UNSPEC);
  CHECK(weft_deferred_called(d) && weft_failure_code(failure_of(d)) == WEFT_EINVAL);
  done_with(d);
  d = weft_resolve(res, "localhost", 70000, AF_UNSPEC);
  CHECK(weft_deferred_called(d) && weft_failure_code(failure_of(d)) == WEFT_EINVAL);
  done_with(d);
  d = weft_resolve(res, "localhost", 80, AF_UNIX);
  CHECK(weft_deferred_called(d) && weft_failure_code(failure_of(d)) == WEFT_EINVAL);
  done_with(d);
  weft_resolver_free(res);

  weft_resolver_options o;
  weft_resolver_options_init(&o);
  o.servers = "this is not a server";
  CHECK_INT(weft_resolver_new(&res, r, &o), WEFT_EINVAL);
  CHECK(res == NULL);
  close_reactor(r);
}

int main(void) {
  RUN(test_localhost_from_hosts_file);
  RUN(test_numeric_hosts);
  RUN(test_answer_from_server);
  RUN(test_nxdomain);
  RUN(test_timeout);
  RUN(test_system_nonexistent);
  RUN(test_cancel_pending);
  RUN(test_bad_arguments);
  return CHECK_DONE();
}
