/* Tests the stream transport (src/net/stream.c, transport.c) on the edges of its bookkeeping:
 * producers that write big pieces the kernel takes whole, and callbacks that call back into the
 * transport. */
#include <unistd.h>

#include "net_util.h"

#define BIG (64u * 1024u) /* a write this big into an empty queue goes straight to the kernel */
#define BIG_TOTAL (16u * BIG)

static char big[BIG];

/* A pull producer writing one big piece per resume_producing. */
typedef struct big_puller {
  weft_transport *t;
  size_t sent;
  int resumes, stops;
} big_puller;

static void bp_resume(void *u) {
  big_puller *p = u;
  p->resumes++;
  if (!p->t) return;
  CHECK_INT(weft_transport_write(p->t, big, BIG), 0);
  p->sent += BIG;
  if (p->sent >= BIG_TOTAL) {
    weft_transport_unregister_producer(p->t);
    weft_transport_lose_connection(p->t);
  }
}
static void bp_stop(void *u) { ((big_puller *)u)->stops++; }
static void bp_made(weft_transport *t, void *u) {
  big_puller *p = u;
  p->t = t;
  weft_producer prod = {NULL, bp_resume, bp_stop, p};
  CHECK_INT(weft_transport_register_producer(t, &prod, false), 0);
}
static void bp_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  CHECK_INT(reason, WEFT_REASON_CLEAN);
  ((big_puller *)u)->t = NULL;
}
static const weft_protocol_callbacks bp_callbacks = {.connection_made = bp_made, .connection_lost = bp_lost};
static int bp_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &bp_callbacks;
  out->user = u;
  return 0;
}

typedef struct counter {
  size_t got;
  bool lost;
} counter;
static void ct_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)t;
  (void)d;
  ((counter *)u)->got += n;
}
static void ct_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  (void)reason;
  ((counter *)u)->lost = true;
}
static const weft_protocol_callbacks ct_callbacks = {.data_received = ct_data, .connection_lost = ct_lost};
static int ct_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &ct_callbacks;
  out->user = u;
  return 0;
}

/* A Unix socket's send buffer takes a 64 KiB piece whole, so the queue never fills: the pull
 * producer must still be asked again after each piece the kernel took at once. */
static void test_pull_producer_asked_again_after_direct_write(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  char dir[64], path[128];
  snprintf(dir, sizeof dir, "/tmp/weft-test-reent-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/s.sock", dir);
  big_puller p = {0};
  counter c = {0};
  weft_factory sf = {.build_protocol = bp_build, .user = &p};
  weft_factory cf = {.build_protocol = ct_build, .user = &c};
  weft_listening_port *port = NULL;
  REQUIRE(weft_unix_listen(&port, r, path, NULL, &sf) == 0);
  REQUIRE(weft_unix_connect(NULL, r, path, NULL, &cf) == 0);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_INT(c.got, BIG_TOTAL);
  CHECK_INT(p.resumes, (int)(BIG_TOTAL / BIG));
  CHECK_INT(p.stops, 0);
  weft_listening_port_close(port);
  rmdir(dir);
  close_reactor(r);
}

int main(void) {
  RUN(test_pull_producer_asked_again_after_direct_write);
  return CHECK_DONE();
}
