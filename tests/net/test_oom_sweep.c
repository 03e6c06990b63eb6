/* Allocation-failure sweep over src/net/ endpoint string parsing and the test kit's string
 * transport carrying an echo protocol: each allocation in turn fails and the run must report
 * WEFT_ENOMEM, not crash, and leave nothing allocated. */
#include <string.h>

#include "base/alloc_sweep.h"
#include "check.h"
#include "weft/alloc.h"
#include "weft/endpoint.h"
#include "weft/errors.h"
#include "weft/testing.h"
#include "weft/transport.h"

/* ---- endpoint strings ---- */

static int parse(void *arg) {
  (void)arg;
  static const char *servers[] = {"tcp:0:interface=127.0.0.1:backlog=10", "unix:/tmp/weft-sweep.sock:mode=600"};
  static const char *clients[] = {"tcp:host=127.0.0.1:port=80:timeout=3", "unix:path=/tmp/weft-sweep.sock"};
  char err[128], desc[256];
  for (size_t i = 0; i < 2; i++) {
    weft_server_endpoint *s = NULL;
    int rc = weft_server_endpoint_parse(&s, servers[i], err, sizeof err);
    if (rc) return rc;
    rc = weft_server_endpoint_describe(s, desc, sizeof desc);
    weft_server_endpoint_free(s);
    if (rc < 0) return rc;
    weft_client_endpoint *c = NULL;
    rc = weft_client_endpoint_parse(&c, clients[i], err, sizeof err);
    if (rc) return rc;
    rc = weft_client_endpoint_describe(c, desc, sizeof desc);
    weft_client_endpoint_free(c);
    if (rc < 0) return rc;
  }
  return 0;
}

/* ---- string transport with an echo protocol ---- */

static void echo_data(weft_transport *t, const void *data, size_t len, void *user) {
  int *rc = user;
  int e = weft_transport_write(t, data, len);
  if (e && !*rc) *rc = e;
}

static void echo_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  (void)reason;
  (void)user;
}

static const weft_protocol_callbacks echo_cb = {.data_received = echo_data, .connection_lost = echo_lost};

static int string_transport(void *arg) {
  (void)arg;
  weft_reactor *r = NULL;
  int rc = weft_memory_reactor_new(&r);
  if (rc) return rc;
  weft_string_transport *st = NULL;
  rc = weft_string_transport_new(&st, r);
  int proto_rc = 0;
  weft_protocol p = {&echo_cb, &proto_rc};
  if (!rc) rc = weft_string_transport_attach(st, &p);
  if (!rc) weft_string_transport_set_manual_drain(st, true);
  char big[5000];
  memset(big, 'x', sizeof big);
  for (int i = 0; i < 3 && !rc; i++) rc = weft_string_transport_feed(st, big, sizeof big);
  if (!rc) rc = weft_string_transport_feed(st, "ping", 4);
  if (!rc) rc = proto_rc;
  if (!rc && (weft_string_transport_len(st) != 3 * sizeof big + 4 ||
              memcmp(weft_string_transport_value(st) + 3 * sizeof big, "ping", 4) != 0))
    rc = WEFT_EINVAL;
  if (st) {
    weft_string_transport_drain(st, SIZE_MAX);
    weft_string_transport_free(st);
  }
  int fr = weft_reactor_free(r);
  return rc ? rc : fr;
}

int main(void) {
  REQUIRE(weft_test_allocator_install() == 0);
  alloc_sweep("endpoint_parse", parse, NULL);
  alloc_sweep("string_transport", string_transport, NULL);
  weft_test_alloc_stats st;
  weft_test_allocator_stats(&st);
  CHECK_INT(st.live, 0);
  return CHECK_DONE();
}
