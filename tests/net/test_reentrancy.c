/* Tests the stream transport (src/net/stream.c, transport.c) on the edges of its bookkeeping:
 * producers that write big pieces the kernel takes whole, and callbacks that call back into the
 * transport. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft/address.h"

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

/* ---- a Unix connect that finds the listener's backlog full ---- */

typedef struct backlog_client {
  bool made, lost;
  int peer_rc, reason;
} backlog_client;
static void bc_made(weft_transport *t, void *u) {
  backlog_client *c = u;
  weft_address a;
  c->made = true;
  c->peer_rc = weft_transport_get_peer(t, &a);
  weft_transport_lose_connection(t);
}
static void bc_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  ((backlog_client *)u)->lost = true;
  ((backlog_client *)u)->reason = reason;
}
static void bc_failed(void *u, int reason) {
  ((backlog_client *)u)->lost = true;
  ((backlog_client *)u)->reason = reason;
}
static const weft_protocol_callbacks bc_callbacks = {.connection_made = bc_made, .connection_lost = bc_lost};
static int bc_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &bc_callbacks;
  out->user = u;
  return 0;
}

typedef struct raw_listener {
  int fd;
  int fillers[64];
  int nfillers;
} raw_listener;
/* Makes room in the backlog: accepts (and closes) everything waiting. */
static void drain_backlog(void *arg) {
  raw_listener *l = arg;
  int fd;
  while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) close(fd);
}

/* Linux says EAGAIN to a non-blocking Unix connect when the backlog is full; such a socket is
 * not connecting, yet it reports writable at once. The connection must only be made once it
 * really is connected, never on a socket that has no peer. */
static void test_unix_connect_to_full_backlog(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  char name[64];
  snprintf(name, sizeof name, "@weft-test-backlog-%d", (int)getpid());
  weft_address a;
  REQUIRE(weft_address_from_unix(&a, name) == 0);
  raw_listener l = {0};
  l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  REQUIRE(l.fd >= 0);
  REQUIRE(bind(l.fd, &a.u.sa, a.len) == 0);
  REQUIRE(listen(l.fd, 0) == 0);
  bool full = false;
  while (!full && l.nfillers < 64) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    if (connect(fd, &a.u.sa, a.len) < 0 && errno == EAGAIN) full = true;
    l.fillers[l.nfillers++] = fd;
  }
  REQUIRE(full);
  backlog_client c = {0};
  weft_factory cf = {.build_protocol = bc_build, .connection_failed = bc_failed, .user = &c};
  weft_connect_options o;
  weft_connect_options_init(&o);
  o.timeout = 5;
  REQUIRE(weft_unix_connect(NULL, r, name, &o, &cf) == 0);
  weft_reactor_call_later(r, 0.05, drain_backlog, &l);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK(c.made);
  CHECK_INT(c.peer_rc, 0);
  CHECK_INT(c.reason, WEFT_REASON_CLEAN);
  for (int i = 0; i < l.nfillers; i++) close(l.fillers[i]);
  close(l.fd);
  close_reactor(r);
}

int main(void) {
  RUN(test_pull_producer_asked_again_after_direct_write);
  RUN(test_unix_connect_to_full_backlog);
  return CHECK_DONE();
}
