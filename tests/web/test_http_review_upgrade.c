/* test_http_review_upgrade.c: an upgrade accepted later, on a connection whose answers are
 * backed up (queued past the transport's high-water mark): the new protocol gets the transport
 * free of the server's flow control. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "web/http_fixture.h"
#include "weft/http.h"
#include "weft/testing.h"

static int made, got, lost;
static weft_http_request *held;

static void p_made(weft_transport *t, void *user) {
  (void)t, (void)user;
  made++;
}
static void p_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t, (void)data, (void)user;
  got += (int)len;
}
static void p_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason, (void)user;
  lost++;
}
static const weft_protocol_callbacks toy_cb = {.connection_made = p_made, .data_received = p_data,
                                               .connection_lost = p_lost};

static void upgrader(weft_http_request *req, const char *token, void *user) {
  (void)token, (void)user;
  held = req;
}

/* The 101 leaves the queue past the high-water mark: the server used to register its own pull
 * producer to wait for the drain, then handed the transport over with that producer still on it
 * (its user the connection just freed; the new protocol could not register one of its own). */
static void test_accept_later_backed_up(void) {
  fixture f;
  setup(&f);
  REQUIRE(weft_http_server_add_upgrader(f.srv, "toy", upgrader, NULL) == 0);
  made = got = lost = 0;
  held = NULL;
  weft_string_transport_set_manual_drain(f.st, true);
  weft_transport *t = weft_string_transport_transport(f.st);
  REQUIRE(weft_transport_set_water_marks(t, 16, 4) == 0);
  feed(&f, "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: toy\r\n\r\n");
  REQUIRE(held != NULL);
  weft_protocol p = {&toy_cb, NULL};
  CHECK_INT(weft_http_upgrade_accept(held, NULL, 0, &p), 0);
  CHECK_INT(made, 1);
  CHECK(strncmp(out(&f), "HTTP/1.1 101 ", 13) == 0);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  CHECK(!weft_string_transport_has_producer(f.st)); /* the new protocol's to register */
  weft_string_transport_drain(f.st, SIZE_MAX);
  turn(&f); /* a pull producer left behind would be asked for more now */
  feed(&f, "abc");
  turn(&f);
  CHECK_INT(got, 3);
  weft_string_transport_free(f.st);
  f.st = NULL;
  CHECK_INT(lost, 1);
  REQUIRE(weft_string_transport_new(&f.st, f.r) == 0);
  teardown(&f);
}

int main(void) {
  RUN(test_accept_later_backed_up);
  return CHECK_DONE();
}
