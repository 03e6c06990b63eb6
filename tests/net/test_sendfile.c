/* Tests weft_transport_sendfile (src/net/sendfile.c and its hooks in stream.c): file ranges leave
 * in order with the writes around them, count in the queued bytes (so producers are paused as
 * for writes), survive the caller closing its descriptor, are sent before lose_connection
 * closes, abort the connection when the file no longer holds them, and transports that cannot
 * send files say WEFT_ENOTSUP. The far end is a plain socket the test reads itself. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_util.h"
#include "weft/testing.h"

typedef struct side {
  weft_transport *t;
  bool lost;
  int reason;
  int paused, resumed;
} side;

static void sd_made(weft_transport *t, void *u) { ((side *)u)->t = t; }
static void sd_data(weft_transport *t, const void *d, size_t n, void *u) { (void)t, (void)d, (void)n, (void)u; }
static void sd_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  side *s = u;
  s->lost = true;
  s->reason = reason;
  s->t = NULL;
}
static const weft_protocol_callbacks side_cb = {.connection_made = sd_made, .data_received = sd_data,
                                                .connection_lost = sd_lost};
static int sd_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &side_cb;
  out->user = u;
  return 0;
}

typedef struct rig {
  weft_reactor *r;
  weft_listening_port *port;
  weft_factory f;
  side s;
  int far;
} rig;

static void rig_open(rig *g) {
  memset(g, 0, sizeof *g);
  REQUIRE(weft_reactor_new(&g->r, NULL) == 0);
  g->f = (weft_factory){.build_protocol = sd_build, .user = &g->s};
  g->port = listen_local(g->r, &g->f);
  weft_address a;
  weft_listening_port_address(g->port, &a);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)weft_address_port(&a)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  g->far = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(g->far >= 0);
  REQUIRE(connect(g->far, (struct sockaddr *)&sin, sizeof sin) == 0);
  fcntl(g->far, F_SETFL, O_NONBLOCK);
  for (int i = 0; i < 200 && !g->s.t; i++) weft_reactor_iterate(g->r, 0.01);
  REQUIRE(g->s.t);
}

/* Reads the far end until end of input or reset (bounded), into buf. Returns the bytes read. */
static size_t read_all(rig *g, char *buf, size_t cap, bool *reset) {
  size_t n = 0;
  *reset = false;
  for (int i = 0; i < 2000; i++) {
    weft_reactor_iterate(g->r, 0.005);
    ssize_t k;
    while ((k = read(g->far, buf + n, cap - n)) > 0) n += (size_t)k;
    if (k == 0) return n;
    if (k < 0 && errno == ECONNRESET) {
      *reset = true;
      return n;
    }
  }
  return n;
}

static void rig_close(rig *g) {
  close(g->far);
  for (int i = 0; i < 200 && !g->s.lost; i++) weft_reactor_iterate(g->r, 0.01);
  weft_listening_port_close(g->port);
  close_reactor(g->r);
}

static int temp_file(size_t size) {
  char path[] = "/tmp/weft-sendfile-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  unlink(path);
  char *b = malloc(size);
  REQUIRE(b);
  for (size_t i = 0; i < size; i++) b[i] = (char)('a' + (i * 7 + i / 251) % 26);
  REQUIRE(write(fd, b, size) == (ssize_t)size);
  free(b);
  return fd;
}

static void test_order_and_close(void) {
  rig g;
  rig_open(&g);
  enum { SIZE = 300000 };
  int fd = temp_file(SIZE);
  char *want = malloc(SIZE + 64), *got = malloc(SIZE + 64);
  REQUIRE(want && got);
  weft_transport *t = g.s.t;
  CHECK_INT(weft_transport_sendfile(t, fd, 0, 0), 0); /* the probe: it can */
  CHECK_INT(weft_transport_write(t, "<h>", 3), 0);
  CHECK_INT(weft_transport_sendfile(t, fd, 5, 200000), 0);
  CHECK_INT(weft_transport_write(t, "<m>", 3), 0);
  CHECK_INT(weft_transport_sendfile(t, fd, 0, 10), 0);
  CHECK_INT(weft_transport_sendfile(t, fd, 299990, 10), 0); /* two ranges in a row */
  CHECK_INT(weft_transport_write(t, "<t>", 3), 0);
  CHECK_INT((long long)weft_transport_buffered(t), 3 + 200000 + 3 + 10 + 10 + 3);
  close(fd); /* the transport holds its own descriptor */
  CHECK_INT(weft_transport_lose_connection(t), 0);
  CHECK_INT(weft_transport_sendfile(t, 0, 0, 1), WEFT_ECLOSED);
  /* what should arrive: the same bytes read back from a fresh copy of the pattern */
  int fd2 = temp_file(SIZE);
  size_t n = 0;
  memcpy(want + n, "<h>", 3), n += 3;
  REQUIRE(pread(fd2, want + n, 200000, 5) == 200000);
  n += 200000;
  memcpy(want + n, "<m>", 3), n += 3;
  REQUIRE(pread(fd2, want + n, 10, 0) == 10);
  n += 10;
  REQUIRE(pread(fd2, want + n, 10, 299990) == 10);
  n += 10;
  memcpy(want + n, "<t>", 3), n += 3;
  close(fd2);
  bool reset;
  size_t m = read_all(&g, got, SIZE + 64, &reset);
  CHECK(!reset);
  CHECK_MEM(got, m, want, n);
  for (int i = 0; i < 200 && !g.s.lost; i++) weft_reactor_iterate(g.r, 0.01);
  CHECK(g.s.lost);
  CHECK_INT(g.s.reason, WEFT_REASON_CLEAN);
  free(want);
  free(got);
  rig_close(&g);
}

static void pr_pause(void *u) { ((side *)u)->paused++; }
static void pr_resume(void *u) { ((side *)u)->resumed++; }
static void pr_stop(void *u) { (void)u; }

/* File bytes count as queued output: a push producer is paused above the high mark and resumed
 * once they have gone; a file that no longer holds the range aborts the connection. */
static void test_flow_and_short_file(void) {
  rig g;
  rig_open(&g);
  int fd = temp_file(4 << 20);
  weft_transport *t = g.s.t;
  weft_producer p = {pr_pause, pr_resume, pr_stop, &g.s};
  CHECK_INT(weft_transport_register_producer(t, &p, true), 0);
  CHECK_INT(weft_transport_sendfile(t, fd, 0, 4 << 20), 0);
  CHECK_INT(g.s.paused, 1);
  static char buf[1 << 16];
  size_t got = 0;
  for (int i = 0; i < 4000 && got < (4u << 20); i++) {
    weft_reactor_iterate(g.r, 0.002);
    ssize_t k;
    while ((k = read(g.far, buf, sizeof buf)) > 0) got += (size_t)k;
  }
  CHECK_INT((long long)got, 4 << 20);
  CHECK_INT(g.s.resumed, 1);
  CHECK_INT((long long)weft_transport_buffered(t), 0);
  weft_transport_unregister_producer(t);
  /* Asks for more than the file holds now. */
  REQUIRE(ftruncate(fd, 1000) == 0);
  CHECK_INT(weft_transport_sendfile(t, fd, 0, 5000), 0);
  close(fd);
  bool reset;
  size_t m = read_all(&g, buf, sizeof buf, &reset);
  CHECK(m <= 1000);
  for (int i = 0; i < 200 && !g.s.lost; i++) weft_reactor_iterate(g.r, 0.01);
  CHECK(g.s.lost);
  CHECK_INT(g.s.reason, WEFT_EIO);
  rig_close(&g);
}

static void test_not_supported(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, r) == 0);
  int fd = temp_file(10);
  CHECK_INT(weft_transport_sendfile(weft_string_transport_transport(st), fd, 0, 0), WEFT_ENOTSUP);
  CHECK_INT(weft_transport_sendfile(weft_string_transport_transport(st), fd, 0, 10), WEFT_ENOTSUP);
  close(fd);
  weft_string_transport_free(st);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* sendfile(2) has no MSG_NOSIGNAL: a file sent to a peer that has closed must end the connection
 * with an error, not raise SIGPIPE and kill a process that left its disposition at the default. */
static void test_closed_peer_raises_no_sigpipe(void) {
  REQUIRE(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
  rig g;
  rig_open(&g);
  int fd = temp_file(4 << 20);
  /* The far end reads nothing and closes: its kernel answers what keeps coming with a reset,
   * and the sends after that fail (ECONNRESET once, then EPIPE). */
  CHECK_INT(weft_transport_sendfile(g.s.t, fd, 0, 4 << 20), 0);
  for (int i = 0; i < 5; i++) weft_reactor_iterate(g.r, 0.01);
  close(g.far);
  g.far = -1;
  for (int i = 0; i < 3 && g.s.t; i++) {
    CHECK_INT(weft_transport_sendfile(g.s.t, fd, 0, 4 << 20), 0);
    weft_reactor_iterate(g.r, 0.01);
  }
  for (int i = 0; i < 200 && !g.s.lost; i++) weft_reactor_iterate(g.r, 0.01);
  CHECK(g.s.lost);
  CHECK(g.s.reason == WEFT_EPIPE || g.s.reason == WEFT_ECONNRESET);
  sigset_t pending;
  sigpending(&pending);
  CHECK(!sigismember(&pending, SIGPIPE)); /* none left behind for the thread either */
  close(fd);
  weft_listening_port_close(g.port);
  close_reactor(g.r);
}

int main(void) {
  RUN(test_order_and_close);
  RUN(test_flow_and_short_file);
  RUN(test_not_supported);
  RUN(test_closed_peer_raises_no_sigpipe);
  return CHECK_DONE();
}
