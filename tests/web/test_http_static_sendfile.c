/* test_http_static_sendfile.c: a big static file over a real loopback connection goes by
 * sendfile, and memory stays bounded while the client reads slowly: a 1 GiB sparse file, a
 * client that reads a little at a time for a while (the server's queued bytes for the connection
 * and the process's resident memory are watched), then reads the rest and gets exactly the
 * announced size. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/net_util.h"
#include "weft/http.h"
#include "weft/http_static.h"

#define BIG (1024ull * 1024 * 1024)

/* The server's factory wrapped, to see the connection's transport from the outside. */
typedef struct tap {
  const weft_factory *inner_f;
  weft_protocol inner;
  weft_transport *t;
} tap;

static void tap_made(weft_transport *t, void *u) {
  tap *x = u;
  x->t = t;
  x->inner.cb->connection_made(t, x->inner.user);
}
static void tap_data(weft_transport *t, const void *d, size_t n, void *u) {
  tap *x = u;
  x->inner.cb->data_received(t, d, n, x->inner.user);
}
static void tap_lost(weft_transport *t, int reason, void *u) {
  tap *x = u;
  x->t = NULL;
  x->inner.cb->connection_lost(t, reason, x->inner.user);
}
static const weft_protocol_callbacks tap_cb = {.connection_made = tap_made, .data_received = tap_data,
                                               .connection_lost = tap_lost};
static int tap_build(void *u, const weft_address *peer, weft_protocol *out) {
  tap *x = u;
  int rc = x->inner_f->build_protocol(x->inner_f->user, peer, &x->inner);
  if (rc) return rc;
  out->cb = &tap_cb;
  out->user = x;
  return 0;
}

static void serve(weft_http_request *req, void *user) {
  size_t len;
  const char *p = weft_http_request_path(req, &len);
  weft_http_static_serve(user, req, p, len);
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_slow_reader_1gib(void) {
  char dir[] = "/tmp/weft-static-big-XXXXXX";
  REQUIRE(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/big.bin", dir);
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, (off_t)BIG) == 0); /* sparse: no disk, reads as zeros */
  close(fd);

  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_static *st;
  REQUIRE(weft_http_static_new(&st, dir, NULL) == 0);
  weft_http_server *srv;
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  weft_http_server_set_handler(srv, serve, st);
  tap x = {.inner_f = weft_http_server_factory(srv)};
  weft_factory f = {.build_protocol = tap_build, .user = &x};
  weft_listening_port *lp = listen_local(r, &f);
  weft_address a;
  weft_listening_port_address(lp, &a);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)weft_address_port(&a)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int c = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(c >= 0);
  REQUIRE(connect(c, (struct sockaddr *)&sin, sizeof sin) == 0);
  static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: l\r\n\r\n";
  REQUIRE(write(c, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
  fcntl(c, F_SETFL, O_NONBLOCK);

  /* Slow: 4 KiB every 5 ms for about a second, while the server keeps trying to send. The
   * first read holds the head. */
  static char buf[1 << 20];
  char first[4097];
  size_t nfirst = 0;
  unsigned long long got = 0;
  size_t max_queued = 0;
  long rss0 = rss_kib(), rss_max = rss0;
  double t0 = now_s();
  while (now_s() - t0 < 1.0) {
    weft_reactor_iterate(r, 0.005);
    ssize_t k = read(c, nfirst ? buf : first, 4096);
    if (k > 0 && !nfirst) nfirst = (size_t)k;
    if (k > 0) got += (unsigned long long)k;
    if (x.t && weft_transport_buffered(x.t) > max_queued) max_queued = weft_transport_buffered(x.t);
    long rss = rss_kib();
    if (rss > rss_max) rss_max = rss;
  }
  REQUIRE(x.t);
  fprintf(stderr, "  slow phase: read %llu bytes, server queued at most %zu bytes, RSS +%ld KiB\n", got,
          max_queued, rss_max - rss0);
  CHECK(got > 0 && got < 64ull * 1024 * 1024); /* the client did hold the transfer back */
  CHECK(max_queued > 0);
  CHECK(max_queued <= 1024 * 1024); /* the high-water mark and one sendfile piece */
  CHECK(rss_max - rss0 < 32 * 1024);
  first[nfirst] = '\0';
  const char *end = strstr(first, "\r\n\r\n");
  const char *cl = strstr(first, "\r\nContent-Length: ");
  REQUIRE(end && cl && cl < end);
  CHECK(strncmp(first, "HTTP/1.1 200 OK\r\n", 17) == 0);
  unsigned long long length = strtoull(cl + 18, NULL, 10);
  CHECK(length == BIG);
  unsigned long long want = (unsigned long long)(end + 4 - first) + length;

  /* Fast: read the rest, bounded in time. */
  t0 = now_s();
  bool eof = false;
  while (now_s() - t0 < 12.0 && !eof && got < want) {
    weft_reactor_iterate(r, 0);
    ssize_t k;
    while ((k = read(c, buf, sizeof buf)) > 0) got += (unsigned long long)k;
    if (k == 0) eof = true;
  }
  fprintf(stderr, "  fast phase: %llu bytes in %.2f s\n", got, now_s() - t0);
  CHECK(!eof);
  CHECK(got == want);
  /* Nothing more comes: the connection stays open for the next request. */
  weft_reactor_iterate(r, 0.05);
  CHECK(read(c, buf, sizeof buf) < 0 && errno == EAGAIN);
  close(c);
  for (int i = 0; i < 200 && weft_http_server_connections(srv) > 0; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(weft_http_server_connections(srv), 0);
  weft_listening_port_close(lp);
  weft_http_server_free(srv);
  weft_http_static_free(st);
  close_reactor(r);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  RUN(test_slow_reader_1gib);
  return CHECK_DONE();
}
