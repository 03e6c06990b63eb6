/* Tests src/net/happy_eyeballs.c (Twisted's HostnameEndpoint, RFC 8305): a fake resolver and the
 * memory reactor's recorded connects on its manual clock show which attempt starts when, who
 * wins, who is cancelled, the overall timeout and the all-failed Failure; then real races on
 * loopback: ::1 refused and 127.0.0.1 winning, and "localhost" through c-ares and /etc/hosts. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "net_util.h"
#include "weft/deferred.h"
#include "weft/failure.h"
#include "weft/hostname.h"
#include "weft/resolver.h"
#include "weft/testing.h"

/* ---- a fake resolver: answers at once, or when the test says ---- */

typedef struct fake_resolver {
  const char *answer[8]; /* IP literals; NULL-terminated */
  bool later;            /* hold the answer until fake_answer */
  int fail_code;         /* fail with this weft.dns code instead */
  int calls, family, port, cancelled;
  char host[64];
  weft_deferred *pending;
} fake_resolver;

static weft_value fake_list(fake_resolver *fr) {
  size_t n = 0;
  while (n < 8 && fr->answer[n]) n++;
  weft_address_list *l;
  REQUIRE(weft_address_list_new(&l, n) == 0);
  for (size_t i = 0; i < n; i++) REQUIRE(weft_address_from_ip(&l->addrs[i], fr->answer[i], fr->port) == 0);
  return weft_ptr(l, weft_address_list_free);
}

static void fake_cancel(weft_deferred *d, void *arg) {
  fake_resolver *fr = arg;
  fr->cancelled++;
  if (fr->pending == d) {
    fr->pending = NULL;
    weft_deferred_unref(d);
  }
}

static weft_deferred *fake_resolve(void *user, const char *host, int port, int family) {
  fake_resolver *fr = user;
  fr->calls++;
  fr->port = port;
  fr->family = family;
  snprintf(fr->host, sizeof fr->host, "%s", host);
  if (fr->fail_code)
    return weft_fail(NULL, weft_failure_new(WEFT_DNS_DOMAIN, fr->fail_code, "could not resolve \"%s\"", host));
  if (!fr->later) return weft_succeed(NULL, fake_list(fr));
  fr->pending = weft_deferred_new_cancellable(NULL, fake_cancel, fr);
  return weft_deferred_ref(fr->pending);
}

static void fake_answer(fake_resolver *fr) {
  weft_deferred *d = fr->pending;
  fr->pending = NULL;
  REQUIRE(d != NULL);
  weft_deferred_callback(d, fake_list(fr));
  weft_deferred_unref(d);
}

/* ---- the user's side: a protocol, a factory, and what the observer saw ---- */

typedef struct user_side {
  int builds, made, lost;
  weft_address built_for;
  weft_transport *t;
  int refuse; /* build_protocol returns this when set */
  /* observer log: per attempt index, the events in order */
  int events[8][4];
  int nevents[8];
  weft_address to[8];
} user_side;

static void u_made(weft_transport *t, void *user) {
  user_side *u = user;
  u->made++;
  u->t = t;
}
static void u_data(weft_transport *t, const void *d, size_t n, void *user) { (void)t, (void)d, (void)n, (void)user; }
static void u_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  ((user_side *)user)->lost++;
}
static const weft_protocol_callbacks u_callbacks = {
    .connection_made = u_made, .data_received = u_data, .connection_lost = u_lost};
static int u_build(void *user, const weft_address *peer, weft_protocol *out) {
  user_side *u = user;
  u->builds++;
  if (peer) u->built_for = *peer;
  if (u->refuse) return u->refuse;
  out->cb = &u_callbacks;
  out->user = u;
  return 0;
}
static void observe(void *user, size_t index, const weft_address *to, weft_attempt_event ev, int reason) {
  (void)reason;
  user_side *u = user;
  if (index >= 8 || u->nevents[index] >= 4) return;
  u->events[index][u->nevents[index]++] = (int)ev;
  u->to[index] = *to;
}
/* The last event seen for attempt i (0: none). */
static int last_event(const user_side *u, size_t i) { return u->nevents[i] ? u->events[i][u->nevents[i] - 1] : 0; }

static weft_factory user_factory(user_side *u) { return (weft_factory){.build_protocol = u_build, .user = u}; }

static weft_hostname_options options(user_side *u) {
  weft_hostname_options o;
  weft_hostname_options_init(&o);
  o.on_attempt = observe;
  o.on_attempt_user = u;
  return o;
}

static weft_reactor *memory_reactor(void) {
  weft_reactor *r = NULL;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  return r;
}

static size_t connects(weft_reactor *r) { return weft_memory_reactor_connect_count(r); }

static weft_memory_connect connect_info(weft_reactor *r, size_t i) {
  weft_memory_connect c;
  REQUIRE(weft_memory_reactor_connect_info(r, i, &c) == 0);
  return c;
}

/* The recorded connect i fails as a connector would report it. */
static void connect_fails(weft_reactor *r, size_t i, int reason) {
  weft_memory_connect c = connect_info(r, i);
  c.factory->connection_failed(c.factory->user, reason);
}

/* The recorded connect i succeeds: a string transport takes the factory's protocol. Returns the
 * transport (the test frees it) and the attach's result in *rc. */
static weft_string_transport *connect_succeeds(weft_reactor *r, size_t i, int *rc) {
  weft_memory_connect c = connect_info(r, i);
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, r) == 0);
  weft_string_transport_set_peer(st, &c.address);
  *rc = weft_string_transport_attach_factory(st, c.factory);
  return st;
}

static const weft_failure *failure_of(weft_deferred *d) {
  weft_value v = weft_deferred_result(d);
  return v.kind == WEFT_VALUE_FAILURE ? v.v.f : NULL;
}

static void done_with(weft_deferred *d) {
  weft_value v;
  if (weft_deferred_take_result(d, &v) == 0) weft_value_release(v);
  weft_deferred_unref(d);
}

/* Turns the memory reactor once (the race frees its state on a later turn), frees it, checks. */
static void close_memory_reactor(weft_reactor *r) {
  weft_memory_reactor_advance(r, 0);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* ---- the schedule ---- */

/* t=0 first IPv6, t=250ms first IPv4, t=500ms second IPv6, t=750ms second IPv4; the third wins,
 * the others are cancelled, and a loser that connects late is closed unseen. */
static void test_schedule_and_winner(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2"}};
  user_side u = {0};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&u);
  weft_deferred *d = weft_hostname_connect(r, &nr, "example.com", 443, &f, &o);
  REQUIRE(d != NULL);
  CHECK_STR(fr.host, "example.com");
  CHECK_INT(fr.port, 443);
  CHECK_INT(fr.family, AF_UNSPEC);
  REQUIRE(connects(r) == 1); /* the first attempt starts at once */
  CHECK_STR(connect_info(r, 0).host, "2001:db8::1");
  CHECK_INT(connect_info(r, 0).port, 443);
  weft_memory_reactor_advance(r, 0.249);
  CHECK_INT(connects(r), 1);
  weft_memory_reactor_advance(r, 0.001);
  REQUIRE(connects(r) == 2);
  CHECK_STR(connect_info(r, 1).host, "192.0.2.1"); /* families alternate */
  weft_memory_reactor_advance(r, 0.25);
  REQUIRE(connects(r) == 3);
  CHECK_STR(connect_info(r, 2).host, "2001:db8::2");
  weft_memory_reactor_advance(r, 0.25);
  REQUIRE(connects(r) == 4);
  CHECK_STR(connect_info(r, 3).host, "192.0.2.2");
  CHECK(!weft_deferred_called(d));

  int rc;
  weft_string_transport *win = connect_succeeds(r, 2, &rc);
  CHECK_INT(rc, 0);
  CHECK_INT(u.builds, 1);
  CHECK_INT(u.made, 1);
  CHECK(u.t == weft_string_transport_transport(win));
  char a[WEFT_ADDRSTRLEN];
  weft_address_format(&u.built_for, a, sizeof a);
  CHECK_STR(a, "[2001:db8::2]:443");
  REQUIRE(weft_deferred_called(d));
  weft_value v = weft_deferred_result(d);
  CHECK(v.kind == WEFT_VALUE_PTR && v.v.p == &u); /* the protocol's user pointer */
  CHECK_INT(last_event(&u, 2), WEFT_ATTEMPT_WON);
  CHECK_INT(last_event(&u, 0), WEFT_ATTEMPT_CANCELLED);
  CHECK_INT(last_event(&u, 1), WEFT_ATTEMPT_CANCELLED);
  CHECK_INT(last_event(&u, 3), WEFT_ATTEMPT_CANCELLED);

  /* the winner's protocol gets the connection's events directly */
  CHECK_INT(weft_string_transport_feed(win, "hi", 2), 0);
  weft_memory_reactor_advance(r, 5);
  CHECK_INT(connects(r), 4); /* nothing more starts */

  /* losers that still complete (a memory reactor cannot cancel a connect) are refused unseen */
  weft_string_transport *late = connect_succeeds(r, 0, &rc);
  CHECK_INT(rc, WEFT_ECANCELED);
  CHECK(!weft_string_transport_connected(late));
  connect_fails(r, 1, WEFT_ECONNREFUSED);
  connect_fails(r, 3, WEFT_ECANCELED);
  CHECK_INT(u.builds, 1);
  CHECK_INT(u.made, 1);
  done_with(d);
  weft_string_transport_free(late);
  weft_string_transport_free(win);
  CHECK_INT(u.lost, 1);
  close_memory_reactor(r);
}

/* A failure starts the next attempt at once, and the delay counts from that start. */
static void test_failure_starts_next_at_once(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"2001:db8::1", "192.0.2.1", "2001:db8::2"}};
  user_side u = {0};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&u);
  weft_deferred *d = weft_hostname_connect(r, &nr, "example.com", 80, &f, &o);
  REQUIRE(connects(r) == 1);
  weft_memory_reactor_advance(r, 0.1);
  connect_fails(r, 0, WEFT_ENETUNREACH);
  CHECK_INT(last_event(&u, 0), WEFT_ATTEMPT_FAILED);
  REQUIRE(connects(r) == 2); /* at t=0.1, not 0.25 */
  CHECK_STR(connect_info(r, 1).host, "192.0.2.1");
  weft_memory_reactor_advance(r, 0.249);
  CHECK_INT(connects(r), 2);
  weft_memory_reactor_advance(r, 0.001); /* t=0.35: 250 ms after the second start */
  REQUIRE(connects(r) == 3);
  CHECK_STR(connect_info(r, 2).host, "2001:db8::2");
  /* the first attempt still connecting wins even though a later one started */
  int rc;
  weft_string_transport *win = connect_succeeds(r, 1, &rc);
  CHECK_INT(rc, 0);
  CHECK(weft_deferred_called(d) && !failure_of(d));
  CHECK_INT(last_event(&u, 2), WEFT_ATTEMPT_CANCELLED);
  connect_fails(r, 2, WEFT_ECANCELED);
  done_with(d);
  weft_string_transport_free(win);
  close_memory_reactor(r);
}

/* The resolver's first address picks the first family (RFC 6724 may put IPv4 first). */
static void test_first_family_follows_resolver(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"192.0.2.1", "192.0.2.2", "2001:db8::1"}};
  user_side u = {0};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&u);
  o.attempt_delay = 0.1;
  weft_deferred *d = weft_hostname_connect(r, &nr, "v4first.example", 80, &f, &o);
  weft_memory_reactor_advance(r, 0.1);
  weft_memory_reactor_advance(r, 0.1);
  REQUIRE(connects(r) == 3);
  CHECK_STR(connect_info(r, 0).host, "192.0.2.1");
  CHECK_STR(connect_info(r, 1).host, "2001:db8::1");
  CHECK_STR(connect_info(r, 2).host, "192.0.2.2");
  weft_deferred_cancel(d); /* and cancelling the whole connect stops every attempt */
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  for (size_t i = 0; i < 3; i++) CHECK_INT(last_event(&u, i), WEFT_ATTEMPT_CANCELLED);
  for (size_t i = 0; i < 3; i++) connect_fails(r, i, WEFT_ECANCELED);
  CHECK_INT(u.builds, 0);
  done_with(d);
  close_memory_reactor(r);
}

/* Every attempt failed: one Failure naming each address with its error, the attempts chained. */
static void test_all_fail(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"2001:db8::1", "192.0.2.1"}};
  user_side u = {0};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&u);
  weft_deferred *d = weft_hostname_connect(r, &nr, "down.example", 443, &f, &o);
  connect_fails(r, 0, WEFT_ENETUNREACH);
  REQUIRE(connects(r) == 2);
  CHECK(!weft_deferred_called(d));
  connect_fails(r, 1, WEFT_ECONNREFUSED);
  REQUIRE(weft_deferred_called(d));
  const weft_failure *fl = failure_of(d);
  REQUIRE(fl != NULL);
  CHECK_STR(weft_failure_domain(fl), WEFT_FAILURE_DOMAIN);
  CHECK_INT(weft_failure_code(fl), WEFT_ECONNREFUSED); /* the last error */
  CHECK_STR(weft_failure_message(fl), "could not connect to \"down.example\" port 443: "
                                      "[2001:db8::1]:443: network is unreachable; 192.0.2.1:443: connection refused");
  const weft_failure *c1 = weft_failure_cause(fl), *c2 = weft_failure_cause(c1);
  CHECK(c1 && weft_failure_code(c1) == WEFT_ENETUNREACH);
  CHECK(c2 && weft_failure_code(c2) == WEFT_ECONNREFUSED);
  CHECK(c2 && weft_failure_cause(c2) == NULL);
  CHECK_INT(u.builds, 0);
  done_with(d);
  close_memory_reactor(r);
}

/* The overall timeout cancels what is pending, during resolution or during the connects. */
static void test_overall_timeout(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"2001:db8::1", "192.0.2.1"}, .later = true};
  user_side u = {0};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&u);
  o.timeout = 1;
  weft_deferred *d = weft_hostname_connect(r, &nr, "slow.example", 80, &f, &o);
  weft_memory_reactor_advance(r, 1);
  REQUIRE(weft_deferred_called(d));
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT));
  CHECK_STR(weft_failure_message(failure_of(d)),
            "could not connect to \"slow.example\" port 80 within 1 s: still resolving");
  CHECK_INT(fr.cancelled, 1); /* the lookup was cancelled */
  CHECK_INT(connects(r), 0);
  done_with(d);

  d = weft_hostname_connect(r, &nr, "slow.example", 80, &f, &o);
  weft_memory_reactor_advance(r, 0.5);
  fake_answer(&fr); /* at t=0.5 */
  REQUIRE(connects(r) == 1);
  weft_memory_reactor_advance(r, 0.25);
  REQUIRE(connects(r) == 2);
  weft_memory_reactor_advance(r, 0.25); /* t=1 */
  REQUIRE(weft_deferred_called(d));
  CHECK_INT(weft_failure_code(failure_of(d)), WEFT_ETIMEDOUT);
  CHECK_STR(weft_failure_message(failure_of(d)), "could not connect to \"slow.example\" port 80 within 1 s: "
                                                 "[2001:db8::1]:80: still connecting; 192.0.2.1:80: still connecting");
  CHECK_INT(last_event(&u, 0), WEFT_ATTEMPT_CANCELLED);
  CHECK_INT(last_event(&u, 1), WEFT_ATTEMPT_CANCELLED);
  connect_fails(r, 0, WEFT_ECANCELED);
  connect_fails(r, 1, WEFT_ECANCELED);
  CHECK_INT(u.builds, 0);
  done_with(d);
  close_memory_reactor(r);
}

/* Cancelling while resolving cancels the lookup; a resolution failure passes through. */
static void test_cancel_and_resolution_failure(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"192.0.2.1"}, .later = true};
  user_side u = {0};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_deferred *d = weft_hostname_connect(r, &nr, "example.com", 80, &f, NULL);
  weft_deferred_cancel(d);
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  CHECK_INT(fr.cancelled, 1);
  weft_memory_reactor_advance(r, 60);
  CHECK_INT(connects(r), 0);
  done_with(d);

  fr.fail_code = WEFT_ENOTFOUND;
  d = weft_hostname_connect(r, &nr, "nowhere.invalid", 80, &f, NULL);
  REQUIRE(weft_deferred_called(d));
  CHECK(weft_failure_check(failure_of(d), WEFT_DNS_DOMAIN, WEFT_ENOTFOUND));
  CHECK(strstr(weft_failure_message(failure_of(d)), "nowhere.invalid") != NULL);
  done_with(d);

  d = weft_hostname_connect(r, &nr, "", 80, &f, NULL);
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_EINVAL));
  done_with(d);
  close_memory_reactor(r);
}

/* The user's factory refusing the winner fails the connect with its error. Bind address and
 * family reach the resolver and the connects. */
static void test_factory_refuses_and_bind(void) {
  weft_reactor *r = memory_reactor();
  fake_resolver fr = {.answer = {"192.0.2.1"}};
  user_side u = {.refuse = WEFT_EPERM};
  weft_factory f = user_factory(&u);
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&u);
  weft_address bind;
  weft_address_from_ip(&bind, "192.0.2.200", 0);
  o.bind_address = &bind;
  weft_deferred *d = weft_hostname_connect(r, &nr, "example.com", 80, &f, &o);
  CHECK_INT(fr.family, AF_INET);
  REQUIRE(connects(r) == 1);
  weft_memory_connect c = connect_info(r, 0);
  CHECK(c.has_bind_address && weft_address_port(&c.bind_address) == 0);
  int rc;
  weft_string_transport *st = connect_succeeds(r, 0, &rc);
  CHECK_INT(rc, WEFT_EPERM);
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_EPERM));
  CHECK_INT(u.made, 0);
  done_with(d);
  weft_string_transport_free(st);
  close_memory_reactor(r);
}

/* ---- real connects on loopback ---- */

/* A TCP socket bound to [::1]:port and not listening: connects there are refused, and no other
 * program can take the port meanwhile. -1 if the host has no IPv6 loopback. */
static int hold_v6_port(int port) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  weft_address a;
  weft_address_from_ip(&a, "::1", port);
  if (bind(fd, &a.u.sa, a.len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

typedef struct real_race {
  weft_reactor *r;
  echo_server srv;
  weft_factory sf;
  weft_listening_port *port;
  int portno;
  user_side u;
  weft_factory uf;
  bool fired;
} real_race;

static weft_value on_fired(weft_value v, void *arg) {
  ((real_race *)arg)->fired = true;
  return v;
}

static void real_setup(real_race *rr) {
  memset(rr, 0, sizeof *rr);
  REQUIRE(weft_reactor_new(&rr->r, NULL) == 0);
  rr->sf = echo_factory(&rr->srv);
  rr->port = listen_local(rr->r, &rr->sf); /* 127.0.0.1 only */
  weft_address a;
  weft_listening_port_address(rr->port, &a);
  rr->portno = weft_address_port(&a);
  rr->uf = user_factory(&rr->u);
}

static void real_finish(real_race *rr, weft_deferred *d) {
  done_with(d);
  if (rr->u.t) weft_transport_lose_connection(rr->u.t);
  for (int i = 0; i < 200 && !rr->u.lost; i++) weft_reactor_iterate(rr->r, 0.01);
  CHECK_INT(rr->u.lost, 1);
  weft_listening_port_close(rr->port);
  close_reactor(rr->r);
}

/* ::1 and 127.0.0.1, a server on 127.0.0.1 only: the IPv6 attempt is refused, the next starts at
 * once and wins. */
static void test_real_race_two_families(void) {
  real_race rr;
  real_setup(&rr);
  int held = hold_v6_port(rr.portno);
  if (held < 0) {
    fprintf(stderr, "  skipped: no IPv6 loopback (or [::1]:%d taken)\n", rr.portno);
    weft_listening_port_close(rr.port);
    close_reactor(rr.r);
    return;
  }
  fake_resolver fr = {.answer = {"::1", "127.0.0.1"}};
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&rr.u);
  o.attempt_delay = 2; /* so the IPv4 attempt can only have started because IPv6 failed */
  weft_deferred *d = weft_hostname_connect(rr.r, &nr, "dual.test", rr.portno, &rr.uf, &o);
  weft_deferred_add_both(d, on_fired, &rr);
  CHECK(turn_until(rr.r, &rr.fired, 1.5));
  CHECK(!failure_of(d));
  CHECK_INT(last_event(&rr.u, 0), WEFT_ATTEMPT_FAILED);
  CHECK_INT(last_event(&rr.u, 1), WEFT_ATTEMPT_WON);
  CHECK_INT(rr.u.builds, 1);
  CHECK_INT(weft_address_family(&rr.u.built_for), AF_INET);
  close(held);
  real_finish(&rr, d);
}

/* Cancelling with real connects in flight: weft_connector_cancel stops them (they are pending at
 * least until the reactor's next turn), nothing reaches the factory, no handle is left. */
static void test_real_cancel_pending(void) {
  real_race rr;
  real_setup(&rr);
  fake_resolver fr = {.answer = {"127.0.0.1", "::1"}};
  weft_name_resolver nr = {fake_resolve, &fr};
  weft_hostname_options o = options(&rr.u);
  weft_deferred *d = weft_hostname_connect(rr.r, &nr, "dual.test", rr.portno, &rr.uf, &o);
  CHECK_INT(last_event(&rr.u, 0), WEFT_ATTEMPT_STARTED);
  CHECK(weft_reactor_open_handles(rr.r) >= 3); /* port, race, connector, timers */
  weft_deferred_cancel(d);
  CHECK(weft_failure_check(failure_of(d), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  CHECK_INT(last_event(&rr.u, 0), WEFT_ATTEMPT_CANCELLED);
  CHECK_INT(rr.u.nevents[1], 0); /* the second never started */
  for (int i = 0; i < 20; i++) weft_reactor_iterate(rr.r, 0.01);
  CHECK_INT(rr.u.builds, 0);
  done_with(d);
  weft_listening_port_close(rr.port);
  close_reactor(rr.r);
}

/* "localhost" through c-ares (the default resolver) and /etc/hosts, a server on 127.0.0.1 only. */
static void test_real_localhost(void) {
  real_race rr;
  real_setup(&rr);
  int held = hold_v6_port(rr.portno);
  weft_hostname_options o = options(&rr.u);
  weft_deferred *d = weft_hostname_connect(rr.r, NULL, "localhost", rr.portno, &rr.uf, &o);
  weft_deferred_add_both(d, on_fired, &rr);
  CHECK(turn_until(rr.r, &rr.fired, 5));
  if (failure_of(d)) {
    char text[512];
    weft_failure_text(failure_of(d), text, sizeof text);
    fprintf(stderr, "  localhost failed: %s\n", text);
  }
  REQUIRE(!failure_of(d) && rr.u.made == 1);
  bool tried_v6 = false;
  size_t won = 8;
  for (size_t i = 0; i < 8; i++) {
    if (rr.u.nevents[i] && weft_address_family(&rr.u.to[i]) == AF_INET6) {
      tried_v6 = true;
      CHECK(last_event(&rr.u, i) == WEFT_ATTEMPT_FAILED || last_event(&rr.u, i) == WEFT_ATTEMPT_CANCELLED);
    }
    if (last_event(&rr.u, i) == WEFT_ATTEMPT_WON) won = i;
  }
  REQUIRE(won < 8);
  CHECK_INT(weft_address_family(&rr.u.to[won]), AF_INET);
  if (!tried_v6)
    fprintf(stderr, "  /etc/hosts maps localhost to 127.0.0.1 only: the ::1 attempt losing is shown by "
                    "test_real_race_two_families instead\n");
  else
    fprintf(stderr, "  localhost -> ::1 and 127.0.0.1: ::1 lost, 127.0.0.1 won\n");
  if (held >= 0) close(held);
  real_finish(&rr, d);
}

int main(void) {
  RUN(test_schedule_and_winner);
  RUN(test_failure_starts_next_at_once);
  RUN(test_first_family_follows_resolver);
  RUN(test_all_fail);
  RUN(test_overall_timeout);
  RUN(test_cancel_and_resolution_failure);
  RUN(test_factory_refuses_and_bind);
  RUN(test_real_race_two_families);
  RUN(test_real_cancel_pending);
  RUN(test_real_localhost);
  return CHECK_DONE();
}
