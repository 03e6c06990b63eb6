/* test_http_upgrade.c: protocol upgrades (weft_http_server_add_upgrader, weft_http_upgrade_accept)
 * with a toy protocol that echoes in upper case after the 101: bytes sent right behind the request
 * head reach it, unknown tokens stay HTTP, an upgrader may decline or accept later; over the
 * string transport and a real loopback socket. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "net/net_util.h"
#include "web/http_fixture.h"
#include "weft/http.h"
#include "weft/testing.h"

/* ---- the toy protocol ---- */

typedef struct shout {
  int made, lost;
  size_t got;
} shout;

static shout SH;

static void sh_made(weft_transport *t, void *user) {
  (void)t;
  ((shout *)user)->made++;
}
static void sh_data(weft_transport *t, const void *data, size_t len, void *user) {
  shout *s = user;
  char up[256];
  size_t n = len < sizeof up ? len : sizeof up;
  for (size_t i = 0; i < n; i++) up[i] = (char)toupper(((const unsigned char *)data)[i]);
  s->got += len;
  weft_transport_write(t, up, n);
}
static void sh_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  (void)reason;
  ((shout *)user)->lost++;
}
static const weft_protocol_callbacks shout_cb = {.connection_made = sh_made, .data_received = sh_data,
                                                 .connection_lost = sh_lost};

/* ---- upgraders ---- */

static weft_http_request *held;
static bool accept_now = true, decline = false;

static void upgrader(weft_http_request *req, const char *token, void *user) {
  (void)user;
  CHECK_STR(token, "shout");
  if (decline) {
    CHECK_INT(weft_http_respond(req, 426, NULL, 0, "no", 2), 0);
    return;
  }
  if (!accept_now) {
    held = req;
    return;
  }
  weft_protocol p = {&shout_cb, &SH};
  weft_http_header h = {"X-Toy", "1"};
  CHECK_INT(weft_http_upgrade_accept(req, &h, 1, &p), 0);
}

static void plain(weft_http_request *req, void *user) {
  (void)user;
  weft_protocol p = {&shout_cb, &SH};
  CHECK_INT(weft_http_upgrade_accept(req, NULL, 0, &p), WEFT_ESTATE); /* not an upgrader's */
  weft_http_respond(req, 200, NULL, 0, "plain", 5);
}

static void setup_up(fixture *f) {
  setup(f);
  weft_http_server_set_handler(f->srv, plain, NULL);
  CHECK_INT(weft_http_server_add_upgrader(f->srv, "shout", upgrader, NULL), 0);
  CHECK_INT(weft_http_server_add_upgrader(f->srv, "SHOUT", upgrader, NULL), WEFT_EEXIST);
  CHECK_INT(weft_http_server_add_upgrader(f->srv, "a b", upgrader, NULL), WEFT_EINVAL);
  memset(&SH, 0, sizeof SH);
  held = NULL;
  accept_now = true;
  decline = false;
}

static const char upgrade_req[] = "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                                   "Upgrade: other/2, Shout/1\r\n\r\n";

static void test_accept_hands_over_with_early_bytes(void) {
  fixture f;
  setup_up(&f);
  char buf[256];
  snprintf(buf, sizeof buf, "%shello", upgrade_req);
  feed(&f, buf);
  const char *o = out(&f);
  CHECK(strncmp(o, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
  CHECK(strstr(o, "\r\nConnection: Upgrade\r\nUpgrade: shout\r\nX-Toy: 1\r\n\r\nHELLO") != NULL);
  CHECK(strstr(o, "Content-Length") == NULL);
  CHECK_INT(SH.made, 1);
  CHECK_INT(weft_http_server_connections(f.srv), 0); /* no longer the server's */
  weft_string_transport_clear(f.st);
  feed(&f, "more GET / HTTP/1.1\r\n\r\n"); /* not HTTP any more */
  CHECK_STR(out(&f), "MORE GET / HTTP/1.1\r\n\r\n");
  weft_string_transport_free(f.st);
  f.st = NULL;
  CHECK_INT(SH.lost, 1);
  REQUIRE(weft_string_transport_new(&f.st, f.r) == 0);
  teardown(&f);
}

static void test_unknown_token_is_plain_http(void) {
  fixture f;
  setup_up(&f);
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
           "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_INT(count(out(&f), "HTTP/1.1 200 OK"), 2);
  CHECK_INT(SH.made, 0);
  teardown(&f);
}

static void test_decline_stays_http(void) {
  fixture f;
  setup_up(&f);
  decline = true;
  char buf[256];
  snprintf(buf, sizeof buf, "%sGET /next HTTP/1.1\r\nHost: a\r\n\r\n", upgrade_req);
  feed(&f, buf);
  CHECK(strncmp(out(&f), "HTTP/1.1 426 ", 13) == 0);
  CHECK(strstr(out(&f), "HTTP/1.1 200 OK") != NULL); /* the next request is HTTP as before */
  CHECK_INT(SH.made, 0);
  teardown(&f);
}

static void test_accept_later(void) {
  fixture f;
  setup_up(&f);
  accept_now = false;
  char buf[256];
  snprintf(buf, sizeof buf, "%searly", upgrade_req);
  feed(&f, buf);
  REQUIRE(held != NULL);
  CHECK_INT(weft_string_transport_len(f.st), 0);
  feed(&f, "-er"); /* held by the socket: reading is paused while the request waits */
  weft_protocol p = {&shout_cb, &SH};
  CHECK_INT(weft_http_upgrade_accept(held, NULL, 0, &p), 0);
  CHECK(strstr(out(&f), "\r\n\r\nEARLY") != NULL);
  turn(&f); /* reading resumed for the new protocol */
  CHECK(strstr(out(&f), "\r\n\r\nEARLY-ER") != NULL);
  feed(&f, "x");
  CHECK(strstr(out(&f), "EARLY-ERX") != NULL);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  weft_string_transport_free(f.st);
  f.st = NULL;
  CHECK_INT(SH.lost, 1);
  REQUIRE(weft_string_transport_new(&f.st, f.r) == 0);
  teardown(&f);
}

static void test_loopback_upgrade(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_server *srv;
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  weft_http_server_set_handler(srv, plain, NULL);
  REQUIRE(weft_http_server_add_upgrader(srv, "shout", upgrader, NULL) == 0);
  memset(&SH, 0, sizeof SH);
  accept_now = true;
  decline = false;
  weft_listening_port *lp = listen_local(r, weft_http_server_factory(srv));
  static client c;
  memset(&c, 0, sizeof c);
  static char req[256];
  snprintf(req, sizeof req, "%sping", upgrade_req);
  c.send = req;
  c.send_len = strlen(req);
  dial(r, lp, &c);
  for (int i = 0; i < 200 && !strstr(c.got, "PING"); i++) weft_reactor_iterate(r, 0.01);
  CHECK(strstr(c.got, "101 Switching Protocols") != NULL);
  CHECK(strstr(c.got, "\r\n\r\nPING") != NULL);
  if (c.t) weft_transport_lose_connection(c.t);
  for (int i = 0; i < 200 && SH.lost == 0; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(SH.lost, 1);
  weft_listening_port_close(lp);
  weft_http_server_free(srv);
  close_reactor(r);
}

int main(void) {
  RUN(test_accept_hands_over_with_early_bytes);
  RUN(test_unknown_token_is_plain_http);
  RUN(test_decline_stays_http);
  RUN(test_accept_later);
  RUN(test_loopback_upgrade);
  return CHECK_DONE();
}
