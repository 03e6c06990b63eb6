/* Tests weft_transport_splice_to (src/net/splice.c and its hooks in stream.c): bytes forwarded
 * in the kernel arrive intact over TCP and Unix sockets, small copied pieces and big spliced ones
 * keep their order, a slow reader stalls the sender with what waits held in the kernel, the end
 * of input passes through as a half-close, a loss on either side aborts the other, and
 * transports that cannot splice say WEFT_ENOTSUP.
 *
 * Each test accepts two connections from plain sockets ("far ends" fd[0], fd[1]) and splices
 * between the two accepted transports, so what the test sends on one far end must come out of
 * the other. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_util.h"
#include "weft/testing.h"

typedef struct side {
  weft_transport *t;
  int data_calls, eof_calls;
  bool lost;
  int reason;
} side;

typedef struct rig {
  weft_reactor *r;
  weft_listening_port *port;
  weft_factory f; /* the port keeps a pointer to it */
  side s[2]; /* the accepted transports, s[i] talking to fd[i] */
  int naccepted;
  int fd[2];
  char path[96]; /* Unix socket file, or "" for TCP */
  char dir[48];
} rig;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sd_made(weft_transport *t, void *u) { ((side *)u)->t = t; }
static void sd_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)t, (void)d, (void)n;
  ((side *)u)->data_calls++;
}
static void sd_eof(weft_transport *t, void *u) {
  (void)t;
  ((side *)u)->eof_calls++;
}
static void sd_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  side *s = u;
  s->lost = true;
  s->reason = reason;
  s->t = NULL;
}
static const weft_protocol_callbacks side_callbacks = {.connection_made = sd_made,
                                                       .data_received = sd_data,
                                                       .read_connection_lost = sd_eof,
                                                       .connection_lost = sd_lost};
static int sd_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  rig *g = u;
  if (g->naccepted >= 2) return WEFT_EINVAL;
  out->cb = &side_callbacks;
  out->user = &g->s[g->naccepted++];
  return 0;
}

/* A blocking connect (the listener's backlog completes it), then non-blocking. */
static int far_connect(rig *g) {
  int fd;
  if (g->path[0]) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", g->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  } else {
    weft_address a;
    weft_listening_port_address(g->port, &a);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)weft_address_port(&a))};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&in, sizeof in) == 0);
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

static bool both_accepted(rig *g) { return g->naccepted == 2 && g->s[1].t; }

static void rig_open(rig *g, bool unix_socket) {
  memset(g, 0, sizeof *g);
  REQUIRE(weft_reactor_new(&g->r, NULL) == 0);
  g->f = (weft_factory){.build_protocol = sd_build, .user = g};
  if (unix_socket) {
    snprintf(g->dir, sizeof g->dir, "/tmp/weft-test-splice-XXXXXX");
    REQUIRE(mkdtemp(g->dir) != NULL);
    snprintf(g->path, sizeof g->path, "%s/s.sock", g->dir);
    REQUIRE(weft_unix_listen(&g->port, g->r, g->path, NULL, &g->f) == 0);
  } else {
    g->port = listen_local(g->r, &g->f);
  }
  for (int i = 0; i < 2; i++) {
    g->fd[i] = far_connect(g);
    bool in = false;
    for (double end = now_s() + 5; !(in = g->naccepted == i + 1 && g->s[i].t) && now_s() < end;)
      weft_reactor_iterate(g->r, 0.01);
    REQUIRE(in);
  }
  REQUIRE(both_accepted(g));
}

static void rig_close(rig *g) {
  for (int i = 0; i < 2; i++) {
    if (g->fd[i] >= 0) close(g->fd[i]);
    if (g->s[i].t) weft_transport_abort_connection(g->s[i].t);
  }
  weft_listening_port_close(g->port);
  close_reactor(g->r);
  if (g->dir[0]) rmdir(g->dir);
}

/* The byte at offset i of the test stream: never periodic within a test's range. */
static uint8_t pattern(uint64_t i) { return (uint8_t)((i * 0x9E3779B97F4A7C15ull) >> 56); }

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}
#define FNV_START 0xCBF29CE484222325ull

typedef struct stream_state {
  uint64_t sent, got, sent_sum, got_sum;
  bool eof; /* the receiving far end read its end of input */
} stream_state;

/* Sends up to `limit` bytes of the pattern on fd without blocking. Returns false on an error. */
static bool send_some(int fd, stream_state *st, uint64_t limit) {
  static uint8_t buf[256 * 1024];
  size_t n = limit - st->sent < sizeof buf ? (size_t)(limit - st->sent) : sizeof buf;
  if (n == 0) return true;
  for (size_t i = 0; i < n; i++) buf[i] = pattern(st->sent + i);
  ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
  if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  st->sent_sum = fnv1a(st->sent_sum, buf, (size_t)w);
  st->sent += (uint64_t)w;
  return true;
}

/* Reads what fd has without blocking, checksumming it. Returns false on an error. */
static bool recv_some(int fd, stream_state *st) {
  static uint8_t buf[256 * 1024];
  ssize_t r = recv(fd, buf, sizeof buf, 0);
  if (r == 0) st->eof = true;
  if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  st->got_sum = fnv1a(st->got_sum, buf, (size_t)r);
  st->got += (uint64_t)r;
  return true;
}

/* Sends total bytes into fd[from] and reads them out of fd[to], turning the reactor meanwhile;
 * with shut, half-closes fd[from] after the last byte and reads on to the end of input. Bounded
 * by 10 s. */
static stream_state carry(rig *g, int from, int to, uint64_t total, bool shut) {
  stream_state st = {.sent_sum = FNV_START, .got_sum = FNV_START};
  bool shut_done = false;
  double end = now_s() + 10;
  while (now_s() < end && !(st.got >= total && (!shut || st.eof))) {
    if (!send_some(g->fd[from], &st, total) || !recv_some(g->fd[to], &st)) break;
    if (shut && !shut_done && st.sent == total) shut_done = shutdown(g->fd[from], SHUT_WR) == 0;
    if (st.eof) break;
    weft_reactor_iterate(g->r, 0);
  }
  return st;
}

static void check_carries_intact(bool unix_socket, uint64_t total) {
  rig g;
  rig_open(&g, unix_socket);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  CHECK_INT(weft_transport_splice_to(g.s[1].t, g.s[0].t), 0);
  stream_state st = carry(&g, 0, 1, total, false);
  CHECK_INT(st.sent, total);
  CHECK_INT(st.got, total);
  CHECK(st.got_sum == st.sent_sum);
  /* and back the other way on the same pair */
  stream_state back = carry(&g, 1, 0, 1u << 20, false);
  CHECK_INT(back.got, 1u << 20);
  CHECK(back.got_sum == back.sent_sum);
  /* nothing went through user space */
  CHECK_INT(g.s[0].data_calls + g.s[1].data_calls, 0);
  CHECK_INT(weft_transport_buffered(g.s[0].t) + weft_transport_buffered(g.s[1].t), 0);
  rig_close(&g);
}

static void test_16mib_through_tcp_splice_intact(void) { check_carries_intact(false, 16u << 20); }

static void test_4mib_through_unix_splice_intact(void) { check_carries_intact(true, 4u << 20); }

/* Over Unix sockets (fixed buffers, no autotuning) the far end's sends stall once its socket,
 * the pipe and the next socket are full: well under a few MiB, with at most one read (a copied
 * small piece) in user space, and the reactor idle rather than spinning on the full pipe. Then
 * everything arrives, and the end of input after it. */
static void test_slow_reader_stalls_sender_in_the_kernel(void) {
  rig g;
  rig_open(&g, true);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  const uint64_t limit = 256u << 20; /* far beyond the sockets and the pipe */
  stream_state st = {.sent_sum = FNV_START, .got_sum = FNV_START};
  double last = now_s(), end = now_s() + 8;
  while (st.sent < limit && now_s() < end && now_s() - last < 0.3) {
    uint64_t before = st.sent;
    REQUIRE(send_some(g.fd[0], &st, limit));
    if (st.sent != before) last = now_s();
    weft_reactor_iterate(g.r, 0.005);
  }
  CHECK(now_s() - last >= 0.3); /* stalled, rather than ran out of time */
  CHECK(st.sent < (4u << 20));  /* two socket buffers and a 256 KiB pipe, with room to spare */
  CHECK(weft_transport_buffered(g.s[1].t) <= 256u * 1024u);
  CHECK_INT(g.s[0].data_calls, 0);
  /* reading the full side stopped: turns wait out their timeout instead of returning at once */
  double t0 = now_s();
  for (int i = 0; i < 5; i++) weft_reactor_iterate(g.r, 0.02);
  CHECK(now_s() - t0 >= 0.09);
  fprintf(stderr, "  stalled after %llu bytes\n", (unsigned long long)st.sent);

  shutdown(g.fd[0], SHUT_WR);
  end = now_s() + 10;
  while (!st.eof && now_s() < end) {
    REQUIRE(recv_some(g.fd[1], &st));
    weft_reactor_iterate(g.r, 0);
  }
  CHECK(st.eof);
  CHECK_INT(st.got, st.sent);
  CHECK(st.got_sum == st.sent_sum);
  CHECK(!g.s[0].lost && !g.s[1].lost); /* half-closed, not closed */
  rig_close(&g);
}

/* Small pieces are copied and big ones spliced; switching between the two keeps the order.
 * Each piece is read on its own: the next is sent only once the last one came out. */
static void test_small_and_big_pieces_keep_order(void) {
  rig g;
  rig_open(&g, false);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  static const uint64_t pieces[] = {100, 1, 100, 3000, 2u << 20, 50, 64, 1u << 20, 10, 20000, 7};
  stream_state st = {.sent_sum = FNV_START, .got_sum = FNV_START};
  double end = now_s() + 10;
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    uint64_t target = st.sent + pieces[i];
    while (st.got < target && now_s() < end) {
      if (!send_some(g.fd[0], &st, target) || !recv_some(g.fd[1], &st)) break;
      weft_reactor_iterate(g.r, 0);
    }
    CHECK_INT(st.got, target);
  }
  CHECK(st.got_sum == st.sent_sum);
  CHECK_INT(g.s[0].data_calls, 0);
  rig_close(&g);
}

/* Each end of input comes out of the other side after the data; the side that got it keeps
 * sending the other way, and both transports close cleanly once both directions have ended.
 * read_connection_lost is never called: the splice handles the end itself. */
static void test_half_close_passes_through(void) {
  rig g;
  rig_open(&g, false);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  CHECK_INT(weft_transport_splice_to(g.s[1].t, g.s[0].t), 0);
  stream_state a = carry(&g, 0, 1, 100000, true);
  CHECK(a.eof);
  CHECK_INT(a.got, 100000);
  CHECK(a.got_sum == a.sent_sum);
  CHECK(!g.s[0].lost && !g.s[1].lost);
  stream_state b = carry(&g, 1, 0, 300000, true);
  CHECK(b.eof);
  CHECK_INT(b.got, 300000);
  CHECK(b.got_sum == b.sent_sum);
  bool both = false;
  for (double end = now_s() + 5; !(both = g.s[0].lost && g.s[1].lost) && now_s() < end;)
    weft_reactor_iterate(g.r, 0.01);
  CHECK(both);
  CHECK_INT(g.s[0].reason, WEFT_REASON_CLEAN);
  CHECK_INT(g.s[1].reason, WEFT_REASON_CLEAN);
  CHECK_INT(g.s[0].eof_calls + g.s[1].eof_calls, 0);
  rig_close(&g);
}

static bool turn_until_both_lost(rig *g) {
  for (double end = now_s() + 5; !(g->s[0].lost && g->s[1].lost) && now_s() < end;)
    weft_reactor_iterate(g->r, 0.01);
  return g->s[0].lost && g->s[1].lost;
}

/* A reset on the reading side is an error there and aborts the writing side, whose far end
 * sees the connection end. */
static void test_reset_on_from_aborts_to(void) {
  rig g;
  rig_open(&g, false);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  stream_state st = carry(&g, 0, 1, 50000, false);
  CHECK_INT(st.got, 50000);
  struct linger lg = {1, 0};
  setsockopt(g.fd[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(g.fd[0]);
  g.fd[0] = -1;
  CHECK(turn_until_both_lost(&g));
  CHECK(g.s[0].reason < 0 && g.s[0].reason != WEFT_EABORTED);
  CHECK_INT(g.s[1].reason, WEFT_EABORTED);
  char c;
  CHECK(recv(g.fd[1], &c, 1, 0) <= 0 && errno != EAGAIN);
  rig_close(&g);
}

/* The far end of "to" resets while "to" is not reading: the next splice into it fails, which is
 * an error on "to" and aborts "from". */
static void test_write_error_on_to_aborts_from(void) {
  rig g;
  rig_open(&g, false);
  weft_transport_pause_reading(g.s[1].t);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  struct linger lg = {1, 0};
  setsockopt(g.fd[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(g.fd[1]);
  g.fd[1] = -1;
  stream_state st = {.sent_sum = FNV_START};
  for (double end = now_s() + 5; !g.s[1].lost && now_s() < end;) {
    send_some(g.fd[0], &st, st.sent + 4096);
    weft_reactor_iterate(g.r, 0.01);
  }
  CHECK(turn_until_both_lost(&g));
  CHECK(g.s[1].reason == WEFT_EPIPE || g.s[1].reason == WEFT_ECONNRESET);
  CHECK_INT(g.s[0].reason, WEFT_EABORTED);
  rig_close(&g);
}

/* Aborting "to" stops its producer: "from" is aborted too. Losing "from" before its end of
 * input aborts "to": a stream cut short must not end with a clean FIN. */
static void test_abort_either_side_aborts_the_other(void) {
  rig g;
  rig_open(&g, false);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  weft_transport_abort_connection(g.s[1].t);
  CHECK(turn_until_both_lost(&g));
  CHECK_INT(g.s[0].reason, WEFT_EABORTED);
  CHECK_INT(g.s[1].reason, WEFT_EABORTED);
  rig_close(&g);

  rig_open(&g, false);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  weft_transport_lose_connection(g.s[0].t);
  CHECK(turn_until_both_lost(&g));
  CHECK_INT(g.s[0].reason, WEFT_REASON_CLEAN);
  CHECK_INT(g.s[1].reason, WEFT_EABORTED);
  rig_close(&g);
}

/* What cannot splice says so, and the states that cannot start one are refused. */
static void test_refusals(void) {
  rig g;
  rig_open(&g, false);
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, g.r) == 0);
  weft_transport *str = weft_string_transport_transport(st);
  CHECK_INT(weft_transport_splice_to(str, g.s[0].t), WEFT_ENOTSUP);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, str), WEFT_ENOTSUP);
  weft_string_transport_free(st);

  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), 0);
  CHECK_INT(weft_transport_splice_to(g.s[0].t, g.s[1].t), WEFT_EBUSY); /* from splices out */
  CHECK_INT(weft_transport_splice_to(g.s[1].t, g.s[1].t), WEFT_EBUSY); /* to has one in */
  CHECK_INT(weft_transport_shutdown_write(g.s[0].t), 0);
  CHECK_INT(weft_transport_splice_to(g.s[1].t, g.s[0].t), WEFT_ECLOSED); /* write side shut */
  rig_close(&g);
}

int main(void) {
  RUN(test_16mib_through_tcp_splice_intact);
  RUN(test_4mib_through_unix_splice_intact);
  RUN(test_small_and_big_pieces_keep_order);
  RUN(test_slow_reader_stalls_sender_in_the_kernel);
  RUN(test_half_close_passes_through);
  RUN(test_reset_on_from_aborts_to);
  RUN(test_write_error_on_to_aborts_from);
  RUN(test_abort_either_side_aborts_the_other);
  RUN(test_refusals);
  return CHECK_DONE();
}
