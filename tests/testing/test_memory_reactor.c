/* Tests src/testing/memory_reactor.c: listens and connects are recorded with what a test needs
 * to check, ports stay open until closed, and a recorded factory can be driven over a string
 * transport, with no socket opened. */
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/testing.h"

/* A server protocol under test: answers each chunk in upper case; "bye" closes. */
typedef struct upper_session {
  int lost, lost_reason;
} upper_session;

static void upper_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)user;
  if (len == 3 && memcmp(data, "bye", 3) == 0) {
    weft_transport_lose_connection(t);
    return;
  }
  char buf[64];
  size_t n = len < sizeof buf ? len : sizeof buf;
  for (size_t i = 0; i < n; i++) buf[i] = (char)toupper(((const unsigned char *)data)[i]);
  weft_transport_write(t, buf, n);
}

static void upper_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  upper_session *s = user;
  s->lost++;
  s->lost_reason = reason;
}

static const weft_protocol_callbacks upper_cb = {.data_received = upper_data, .connection_lost = upper_lost};

typedef struct upper_factory {
  int started, stopped, built, failed;
  upper_session sessions[4];
} upper_factory;

static int uf_build(void *user, const weft_address *peer, weft_protocol *out) {
  upper_factory *f = user;
  (void)peer;
  if (f->built >= 4) return WEFT_ELIMIT;
  out->cb = &upper_cb;
  out->user = &f->sessions[f->built++];
  return 0;
}
static void uf_start(void *user) { ((upper_factory *)user)->started++; }
static void uf_stop(void *user) { ((upper_factory *)user)->stopped++; }
static void uf_failed(void *user, int reason) {
  (void)reason;
  ((upper_factory *)user)->failed++;
}

static weft_factory make_factory(upper_factory *uf) {
  weft_factory f = {.build_protocol = uf_build,
                    .start_factory = uf_start,
                    .stop_factory = uf_stop,
                    .connection_failed = uf_failed,
                    .user = uf};
  return f;
}

static void test_records_tcp_listen(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  CHECK(weft_memory_reactor_is(r));
  CHECK_STR(weft_reactor_backend_name(r), "poll");
  upper_factory uf = {0};
  weft_factory f = make_factory(&uf);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.interface = "127.0.0.1";
  o.backlog = 17;
  o.reuseport = true;
  weft_listening_port *p;
  CHECK_INT(weft_tcp_listen(&p, r, 8080, &o, &f), 0);
  CHECK_INT(uf.started, 1);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  CHECK_INT(weft_memory_reactor_listen_count(r), 1);
  weft_memory_listen l;
  CHECK_INT(weft_memory_reactor_listen_info(r, 0, &l), 0);
  CHECK_INT(l.kind, WEFT_MEMORY_TCP);
  CHECK_INT(l.port, 8080);
  CHECK_STR(l.interface, "127.0.0.1");
  CHECK_STR(l.path, "");
  CHECK_INT(l.backlog, 17);
  CHECK(l.reuseport);
  CHECK(!l.ipv6_only);
  CHECK(l.factory == &f);
  CHECK(!l.closed);
  char text[WEFT_ADDRSTRLEN];
  weft_address_format(&l.address, text, sizeof text);
  CHECK_STR(text, "127.0.0.1:8080");
  CHECK_INT(weft_memory_reactor_listen_info(r, 1, &l), WEFT_ERANGE);

  /* port 0 and no interface (NULL options: the defaults): a made-up port, as the kernel would */
  weft_listening_port *p0;
  CHECK_INT(weft_tcp_listen(&p0, r, 0, NULL, &f), 0);
  CHECK_INT(weft_memory_reactor_listen_info(r, 1, &l), 0);
  CHECK_INT(l.port, 0);
  CHECK_STR(l.interface, "");
  CHECK_INT(l.backlog, 511);
  weft_address bound;
  CHECK_INT(weft_listening_port_address(p0, &bound), 0);
  CHECK_INT(weft_address_port(&bound), 32768);
  CHECK_INT(weft_address_port(&l.address), 32768);
  CHECK_INT(weft_address_family(&bound), AF_INET6);

  weft_listening_port_close(p);
  CHECK_INT(weft_memory_reactor_listen_info(r, 0, &l), 0);
  CHECK(l.closed);
  CHECK_INT(weft_memory_reactor_listen_info(r, 1, &l), 0);
  CHECK(!l.closed);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  CHECK_INT(weft_reactor_free(r), WEFT_EBUSY); /* a port still open keeps the reactor dirty */
  weft_listening_port_close(p0);
  CHECK_INT(weft_memory_reactor_listen_info(r, 1, &l), 0);
  CHECK(l.closed);
  CHECK_INT(uf.stopped, 2);
  CHECK_INT(uf.built, 0);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_records_unix_listen(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  upper_factory uf = {0};
  weft_factory f = make_factory(&uf);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.mode = 0600;
  o.backlog = 5;
  /* a path no test may create: proves no socket file is made */
  const char *path = "/nonexistent-weft-dir/app.sock";
  weft_listening_port *p, *pa;
  CHECK_INT(weft_unix_listen(&p, r, path, &o, &f), 0);
  CHECK_INT(weft_unix_listen(&pa, r, "@weft-abstract", NULL, &f), 0);
  struct stat sb;
  CHECK(stat(path, &sb) != 0);
  weft_memory_listen l;
  CHECK_INT(weft_memory_reactor_listen_info(r, 0, &l), 0);
  CHECK_INT(l.kind, WEFT_MEMORY_UNIX);
  CHECK_STR(l.path, path);
  CHECK_INT(l.port, -1);
  CHECK_INT(l.mode, 0600);
  CHECK_INT(l.backlog, 5);
  CHECK_INT(weft_memory_reactor_listen_info(r, 1, &l), 0);
  CHECK_INT(l.kind, WEFT_MEMORY_UNIX);
  CHECK_STR(l.path, "@weft-abstract");
  char text[WEFT_ADDRSTRLEN];
  weft_address_format(&l.address, text, sizeof text);
  CHECK_STR(text, "unix:@weft-abstract");
  weft_listening_port_close(pa);
  weft_listening_port_close(p);
  CHECK_INT(weft_memory_reactor_listen_info(r, 0, &l), 0);
  CHECK(l.closed);
  CHECK_INT(weft_memory_reactor_listen_info(r, 1, &l), 0);
  CHECK(l.closed);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_records_connect(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  upper_factory uf = {0};
  weft_factory f = make_factory(&uf);
  weft_address to, local;
  REQUIRE(weft_address_from_ip(&to, "10.1.2.3", 6379) == 0);
  REQUIRE(weft_address_from_ip(&local, "10.1.2.4", 0) == 0);
  weft_connect_options o;
  weft_connect_options_init(&o);
  o.timeout = 5;
  o.bind_address = &local;
  weft_connector *c = (weft_connector *)&c; /* must be overwritten */
  CHECK_INT(weft_tcp_connect(&c, r, &to, &o, &f), 0);
  CHECK(c == NULL);
  CHECK_INT(weft_unix_connect(NULL, r, "/run/weft.sock", NULL, &f), 0);
  CHECK_INT(weft_tcp_connect(NULL, r, NULL, NULL, &f), WEFT_EINVAL); /* checks still apply */
  CHECK_INT(weft_memory_reactor_connect_count(r), 2);
  weft_memory_connect mc;
  CHECK_INT(weft_memory_reactor_connect_info(r, 0, &mc), 0);
  CHECK_INT(mc.kind, WEFT_MEMORY_TCP);
  CHECK_STR(mc.host, "10.1.2.3");
  CHECK_INT(mc.port, 6379);
  CHECK(mc.timeout == 5.0);
  CHECK(mc.has_bind_address);
  CHECK_INT(weft_address_port(&mc.bind_address), 0);
  CHECK(mc.factory == &f);
  CHECK_INT(weft_memory_reactor_connect_info(r, 1, &mc), 0);
  CHECK_INT(mc.kind, WEFT_MEMORY_UNIX);
  CHECK_STR(mc.path, "/run/weft.sock");
  CHECK_INT(mc.port, -1);
  CHECK(mc.timeout == 30.0);
  CHECK(!mc.has_bind_address);
  CHECK_INT(weft_memory_reactor_connect_info(r, 2, &mc), WEFT_ERANGE);
  /* nothing happens by itself: no timeout fires, no protocol is built */
  CHECK_INT(weft_memory_reactor_advance(r, 60), 0);
  CHECK_INT(uf.failed, 0);
  CHECK_INT(uf.built, 0);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* The MemoryReactor pattern: the code under test listens; the test takes the recorded factory
 * and drives a connection through it over a string transport. */
static void test_recorded_factory_over_string_transport(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  upper_factory uf = {0};
  weft_factory f = make_factory(&uf);
  weft_listening_port *port;
  CHECK_INT(weft_tcp_listen(&port, r, 7000, NULL, &f), 0);

  weft_memory_listen l;
  REQUIRE(weft_memory_reactor_listen_info(r, 0, &l) == 0);
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, r) == 0);
  CHECK_INT(weft_string_transport_attach_factory(st, l.factory), 0);
  CHECK_INT(uf.built, 1);
  CHECK_INT(weft_string_transport_feed(st, "hello", 5), 0);
  CHECK_STR(weft_string_transport_value(st), "HELLO");
  CHECK_INT(weft_string_transport_feed(st, "bye", 3), 0);
  CHECK(weft_string_transport_disconnecting(st));
  CHECK_INT(weft_string_transport_finish(st), 0);
  CHECK_INT(uf.sessions[0].lost, 1);
  CHECK_INT(uf.sessions[0].lost_reason, 0);
  weft_string_transport_free(st);

  /* by hand, as a port would: build_protocol, then attach the protocol it filled */
  weft_string_transport *st2;
  REQUIRE(weft_string_transport_new(&st2, r) == 0);
  weft_address peer;
  weft_transport_get_peer(weft_string_transport_transport(st2), &peer);
  weft_protocol proto;
  CHECK_INT(l.factory->build_protocol(l.factory->user, &peer, &proto), 0);
  CHECK_INT(weft_string_transport_attach(st2, &proto), 0);
  CHECK_INT(weft_string_transport_feed(st2, "abc", 3), 0);
  CHECK_STR(weft_string_transport_value(st2), "ABC");
  CHECK_INT(weft_string_transport_close(st2, WEFT_ECONNRESET), 0);
  CHECK_INT(uf.sessions[1].lost_reason, WEFT_ECONNRESET);
  weft_string_transport_free(st2);

  weft_listening_port_close(port);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void fired(void *arg) { (*(int *)arg)++; }

static void test_timers_on_manual_clock(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  CHECK(weft_reactor_seconds(r) == 0.0);
  int n = 0;
  CHECK(weft_reactor_call_later(r, 30, fired, &n) != NULL);
  CHECK_INT(weft_memory_reactor_advance(r, 29.5), 0);
  CHECK_INT(n, 0);
  CHECK_INT(weft_memory_reactor_advance(r, 0.5), 1);
  CHECK_INT(n, 1);
  CHECK(weft_test_clock_seconds(weft_memory_reactor_clock(r)) == 30.0);
  CHECK(weft_reactor_seconds(r) == 30.0);
  CHECK_INT(weft_memory_reactor_advance(r, -1), WEFT_EINVAL);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_other_reactors_are_not_memory_reactors(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  CHECK(!weft_memory_reactor_is(r));
  CHECK(weft_memory_reactor_clock(r) == NULL);
  CHECK_INT(weft_memory_reactor_listen_count(r), 0);
  CHECK_INT(weft_memory_reactor_connect_count(r), 0);
  weft_memory_listen l;
  CHECK_INT(weft_memory_reactor_listen_info(r, 0, &l), WEFT_EINVAL);
  CHECK_INT(weft_memory_reactor_advance(r, 1), WEFT_EINVAL);
  CHECK_INT(weft_reactor_free(r), 0);
}

int main(void) {
  RUN(test_records_tcp_listen);
  RUN(test_records_unix_listen);
  RUN(test_records_connect);
  RUN(test_recorded_factory_over_string_transport);
  RUN(test_timers_on_manual_clock);
  RUN(test_other_reactors_are_not_memory_reactors);
  return CHECK_DONE();
}
