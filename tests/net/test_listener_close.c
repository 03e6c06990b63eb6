/* Tests src/net/listener.c: a listening port closed from inside its own accept (Twisted lets
 * buildProtocol or connectionMade call port.stopListening, e.g. to serve a single client). */
#include "check.h"
#include "weft/errors.h"
#include "weft/tcp.h"
#include "weft/transport.h"

typedef struct fixture {
  weft_reactor *r;
  weft_listening_port *port;
  bool close_in_build; /* else in connection_made */
  int accepted, open, stops;
} fixture;

static void lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  fixture *f = user;
  if (--f->open == 0) weft_reactor_stop(f->r);
}

static void ignore(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t, (void)data, (void)len, (void)user;
}

static void server_made(weft_transport *t, void *user) {
  fixture *f = user;
  if (!f->close_in_build) {
    weft_listening_port_close(f->port);
    f->port = NULL;
  }
  weft_transport_lose_connection(t);
}

static const weft_protocol_callbacks server_cb = {.connection_made = server_made, .data_received = ignore,
                                                  .connection_lost = lost};
static const weft_protocol_callbacks client_cb = {.data_received = ignore, .connection_lost = lost};

static int server_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  fixture *f = user;
  if (f->close_in_build) {
    weft_listening_port_close(f->port);
    f->port = NULL;
  }
  f->accepted++;
  f->open++;
  *out = (weft_protocol){.cb = &server_cb, .user = f};
  return 0;
}

static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  fixture *f = user;
  f->open++;
  *out = (weft_protocol){.cb = &client_cb, .user = f};
  return 0;
}

static void stop_factory(void *user) { ((fixture *)user)->stops++; }

static void run_case(bool close_in_build) {
  fixture f = {.close_in_build = close_in_build};
  REQUIRE(weft_reactor_new(&f.r, NULL) == 0);
  weft_factory sf = {.build_protocol = server_build, .stop_factory = stop_factory, .user = &f};
  weft_factory cf = {.build_protocol = client_build, .user = &f};
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  weft_address where;
  REQUIRE(weft_tcp_listen(&f.port, f.r, 0, &lo, &sf) == 0);
  REQUIRE(weft_listening_port_address(f.port, &where) == 0);
  REQUIRE(weft_tcp_connect(NULL, f.r, &where, NULL, &cf) == 0);
  weft_reactor_run(f.r);
  CHECK(f.port == NULL);
  CHECK_INT(f.accepted, 1);
  CHECK_INT(f.stops, 1);
  CHECK_INT(weft_reactor_open_handles(f.r), 0);
  CHECK_INT(weft_reactor_free(f.r), 0);
}

static void test_close_in_build_protocol(void) { run_case(true); }
static void test_close_in_connection_made(void) { run_case(false); }

int main(void) {
  RUN(test_close_in_build_protocol);
  RUN(test_close_in_connection_made);
  return CHECK_DONE();
}
