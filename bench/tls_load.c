/* tls_load: load generator for TLS servers on 127.0.0.1 (bench/tls.sh runs it on CPU 1); the
 * TLS counterpart of ../shared/bench/tools/echoload.c and idleconns.c. Plain blocking OpenSSL,
 * no weft, so that it measures the server and not a client library under test.
 *
 *   tls_load handshakes PORT SECONDS [--resume] [--procs N] [VERSION]
 *       N processes (default 4, all on the CPU this runs on, so the server always has a handshake
 *       waiting) each loop: connect, handshake, send close_notify, read until the server's
 *       close_notify or EOF (which also takes in TLS 1.3 session tickets), close. With --resume
 *       each connection offers the session of the one before (tickets), and "resumed" counts the
 *       handshakes the server accepted as resumptions. Prints handshakes per second.
 *   tls_load bulk PORT BYTES WINDOW TIMEOUT_SECS [VERSION]
 *       One TLS connection to an echo server streams BYTES through it with at most WINDOW bytes
 *       in flight and checks every byte that comes back. Prints MB/s (10^6 bytes/s) of echoed
 *       data, from connect to the last byte back, handshake included (as echoload's bulk).
 *   tls_load get PORT PATH TIMEOUT_SECS [VERSION]
 *       One HTTPS/1.1 "GET PATH" (no ALPN offered: HTTP/1.1); reads the Content-Length body and
 *       prints its MB/s from connect to the last byte. Data flows one way only.
 *   tls_load idle PORT N echo|http PATH [HOLD_SECS] [VERSION]
 *       Opens N TLS connections one at a time, each doing one exchange (echo: 64 bytes there and
 *       back; http: one keep-alive GET PATH and its response), then holds them idle. Prints
 *       "ready opened=N failed=F secs=S", waits for a line on stdin (or HOLD_SECS, default 120),
 *       checks that each connection is still open and silent, prints "alive=A closed=C".
 *       The client keeps only the sockets after the exchange (its SSL objects are freed without
 *       a close_notify), so its own memory stays small and the server sees idle connections.
 *
 * VERSION is --tls1_2 or --tls1_3 (default: the newest both ends have). Certificates are not
 * verified (the handshake signature still is): the load generator's CPU goes to the handshake.
 * Output is one line of key=value pairs; the exit status is 0 only for a clean, complete run.
 * Every blocking read and write has a 5 s timeout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int version; /* TLS1_2_VERSION, TLS1_3_VERSION or 0 */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static SSL_CTX *make_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return NULL;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  if (version) {
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
  }
  /* the session is kept by hand (SSL_get1_session), not in a cache */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return ctx;
}

/* A blocking TCP connection to 127.0.0.1:port with 5 s timeouts, or -1. */
static int tcp_connect(int port, bool nonblocking) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Closes without TIME_WAIT (the server has closed first, or the connection is being dropped):
 * thousands of handshakes a second would otherwise use up the ephemeral ports. */
static void close_abortive(int fd) {
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

/* ---- handshakes ---- */

typedef struct hs_count {
  long done, resumed, errors;
} hs_count;

/* One connection's whole life; true if the handshake completed. *sess is offered and replaced
 * with the new session when resume is set. */
static bool one_handshake(SSL_CTX *ctx, int port, bool resume, SSL_SESSION **sess, bool *resumed) {
  int fd = tcp_connect(port, false);
  if (fd < 0) return false;
  SSL *ssl = SSL_new(ctx);
  bool ok = ssl && SSL_set_fd(ssl, fd) == 1;
  if (ok && resume && *sess) SSL_set_session(ssl, *sess);
  ok = ok && SSL_connect(ssl) == 1;
  if (ok) {
    *resumed = SSL_session_reused(ssl);
    SSL_shutdown(ssl); /* close_notify */
    char buf[1024];
    while (SSL_read(ssl, buf, sizeof buf) > 0) {
    } /* until the server's close_notify or EOF; tickets are processed on the way */
    if (resume) {
      SSL_SESSION *s = SSL_get1_session(ssl);
      if (s && SSL_SESSION_is_resumable(s)) {
        SSL_SESSION_free(*sess);
        *sess = s;
      } else {
        SSL_SESSION_free(s);
      }
    }
  }
  SSL_free(ssl);
  ERR_clear_error();
  close_abortive(fd);
  return ok;
}

static hs_count handshake_loop(int port, double secs, bool resume) {
  hs_count c = {0};
  SSL_CTX *ctx = make_ctx();
  if (!ctx) {
    c.errors = 1;
    return c;
  }
  SSL_SESSION *sess = NULL;
  double end = now() + secs;
  while (now() < end) {
    bool resumed = false;
    if (one_handshake(ctx, port, resume, &sess, &resumed)) {
      c.done++;
      c.resumed += resumed;
    } else {
      c.errors++;
      usleep(1000); /* a refusing server must not turn this into a busy loop */
    }
  }
  SSL_SESSION_free(sess);
  SSL_CTX_free(ctx);
  return c;
}

static int handshakes(int port, double secs, bool resume, int procs) {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  for (int i = 0; i < procs; i++) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      close(fds[0]);
      hs_count c = handshake_loop(port, secs, resume);
      ssize_t w = write(fds[1], &c, sizeof c); /* atomic: smaller than PIPE_BUF */
      _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
  }
  close(fds[1]);
  hs_count total = {0}, c;
  int got = 0;
  while (read(fds[0], &c, sizeof c) == (ssize_t)sizeof c) {
    total.done += c.done;
    total.resumed += c.resumed;
    total.errors += c.errors;
    got++;
  }
  while (wait(NULL) > 0) {
  }
  if (got != procs) total.errors++;
  printf("mode=handshakes procs=%d secs=%.1f handshakes=%ld rate=%.1f resumed=%ld errors=%ld\n", procs, secs,
         total.done, (double)total.done / secs, total.resumed, total.errors);
  return total.errors == 0 && total.done > 0 && (!resume || total.resumed > total.done / 2) ? 0 : 1;
}

/* ---- bulk echo through TLS, non-blocking so that writing and reading overlap ---- */

#define PATTERN 251 /* byte i of the stream is i % 251: a shift or a lost chunk shows */

static bool wait_fd(int fd, short events, double deadline) {
  int left = (int)((deadline - now()) * 1000);
  if (left <= 0) return false;
  struct pollfd p = {.fd = fd, .events = events};
  return poll(&p, 1, left) >= 0;
}

/* Handshake of a non-blocking SSL, or false at the deadline or on error. */
static bool nb_connect(SSL *ssl, int fd, double deadline) {
  for (;;) {
    int r = SSL_connect(ssl);
    if (r == 1) return true;
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
    if (!wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return false;
  }
}

static int bulk(int port, long long total, long long window, double timeout) {
  enum { CHUNK = 64 * 1024 };
  static unsigned char pat[CHUNK + PATTERN], rbuf[256 * 1024];
  for (size_t i = 0; i < sizeof pat; i++) pat[i] = (unsigned char)(i % PATTERN);
  SSL_CTX *ctx = make_ctx();
  double start = now(), deadline = start + timeout;
  int fd = tcp_connect(port, true);
  SSL *ssl = ctx && fd >= 0 ? SSL_new(ctx) : NULL;
  bool ok = ssl && SSL_set_fd(ssl, fd) == 1 && nb_connect(ssl, fd, deadline);
  long long tx = 0, rx = 0, corrupt = 0;
  int pending = 0; /* length of a write to retry with the same arguments */
  while (ok && rx < total && now() < deadline) {
    short want = 0;
    bool progress = false;
    if (pending || (tx < total && tx - rx < window)) {
      if (!pending) {
        long long n = total - tx < window - (tx - rx) ? total - tx : window - (tx - rx);
        pending = n < CHUNK ? (int)n : CHUNK;
      }
      int r = SSL_write(ssl, pat + tx % PATTERN, pending);
      if (r > 0) {
        tx += r;
        pending = 0;
        progress = true;
      } else {
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) want |= POLLOUT;
        else if (e == SSL_ERROR_WANT_READ) want |= POLLIN;
        else ok = false;
      }
    }
    int r = SSL_read(ssl, rbuf, sizeof rbuf);
    if (r > 0) {
      for (int i = 0; i < r; i++) corrupt += rbuf[i] != (unsigned char)((rx + i) % PATTERN);
      rx += r;
      progress = true;
    } else {
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ) want |= POLLIN;
      else if (e == SSL_ERROR_WANT_WRITE) want |= POLLOUT;
      else ok = false;
    }
    if (!progress && ok && !wait_fd(fd, want ? want : POLLIN, deadline)) break;
  }
  double el = now() - start;
  bool complete = ok && rx == total && corrupt == 0;
  printf("mode=bulk version=%s bytes=%lld window=%lld echoed=%lld secs=%.3f mbps=%.1f complete=%d corrupt=%lld\n",
         ssl ? SSL_get_version(ssl) : "-", total, window, rx, el, (double)rx / el / 1e6, complete, corrupt);
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  if (fd >= 0) close(fd);
  SSL_CTX_free(ctx);
  return complete ? 0 : 1;
}

/* ---- HTTPS GET of one large file ---- */

/* Reads one HTTP/1.1 response with a Content-Length body through ssl, counting (not keeping) the
 * body. Returns the body length, or -1. */
static long long read_response(SSL *ssl, unsigned char *buf, size_t size) {
  size_t have = 0;
  for (;;) {
    int r = SSL_read(ssl, buf + have, (int)(size - 1 - have));
    if (r <= 0) return -1;
    have += (size_t)r;
    buf[have] = 0;
    char *end = strstr((char *)buf, "\r\n\r\n");
    if (!end) {
      if (have == size - 1) return -1;
      continue;
    }
    if (strncmp((char *)buf, "HTTP/1.1 200", 12) != 0) return -1;
    char *cl = strcasestr((char *)buf, "\r\ncontent-length:");
    if (!cl || cl > end) return -1;
    long long want = strtoll(cl + 17, NULL, 10);
    long long got = (long long)have - (end + 4 - (char *)buf);
    while (got < want) {
      long long left = want - got;
      r = SSL_read(ssl, buf, left < (long long)size ? (int)left : (int)size);
      if (r <= 0) return -1;
      got += r;
    }
    return got == want ? want : -1;
  }
}

static int get(int port, const char *path, double timeout) {
  static unsigned char buf[256 * 1024];
  (void)timeout; /* bounded by the socket timeouts and the caller's `timeout` */
  SSL_CTX *ctx = make_ctx();
  double start = now();
  int fd = tcp_connect(port, false);
  SSL *ssl = ctx && fd >= 0 ? SSL_new(ctx) : NULL;
  char req[1024];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  bool ok = ssl && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 && SSL_write(ssl, req, n) == n;
  long long body = ok ? read_response(ssl, buf, sizeof buf) : -1;
  double el = now() - start;
  printf("mode=get version=%s body=%lld secs=%.3f mbps=%.1f complete=%d\n", ssl ? SSL_get_version(ssl) : "-", body,
         el, body > 0 ? (double)body / el / 1e6 : 0.0, body > 0);
  SSL_free(ssl);
  if (fd >= 0) close(fd);
  SSL_CTX_free(ctx);
  return body > 0 ? 0 : 1;
}

/* ---- idle connections ---- */

static bool exchange(SSL *ssl, bool http, const char *path) {
  unsigned char buf[8192];
  if (http) {
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    return SSL_write(ssl, req, n) == n && read_response(ssl, buf, sizeof buf) >= 0;
  }
  memset(buf, 'x', 64);
  if (SSL_write(ssl, buf, 64) != 64) return false;
  int got = 0;
  while (got < 64) {
    int r = SSL_read(ssl, buf, 64 - got);
    if (r <= 0) return false;
    got += r;
  }
  return true;
}

/* Still open and idle: nothing readable but (TLS 1.3) session tickets the exchange did not read,
 * which are drained; EOF or an error means closed. */
static bool still_open(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

static int idle(int port, int n, bool http, const char *path, int hold) {
  SSL_CTX *ctx = make_ctx();
  int *fds = calloc((size_t)n, sizeof *fds);
  if (!ctx || !fds) return 1;
  double start = now();
  int opened = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    int fd = tcp_connect(port, false);
    SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;
    bool ok = ssl && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 && exchange(ssl, http, path);
    SSL_set_quiet_shutdown(ssl, 1);
    SSL_free(ssl); /* no close_notify: the connection stays open, only the socket is kept */
    ERR_clear_error();
    if (ok) fds[opened++] = fd;
    else {
      failed++;
      if (fd >= 0) close_abortive(fd);
    }
  }
  printf("ready opened=%d failed=%d secs=%.1f\n", opened, failed, now() - start);
  fflush(stdout);
  struct pollfd p = {.fd = 0, .events = POLLIN};
  poll(&p, 1, hold * 1000);
  int alive = 0;
  for (int i = 0; i < opened; i++) alive += still_open(fds[i]);
  printf("alive=%d closed=%d\n", alive, opened - alive);
  for (int i = 0; i < opened; i++) close_abortive(fds[i]);
  free(fds);
  SSL_CTX_free(ctx);
  return failed == 0 && alive == opened ? 0 : 1;
}

/* ---- main ---- */

static int usage(void) {
  fprintf(stderr, "usage: tls_load handshakes PORT SECONDS [--resume] [--procs N] [--tls1_2|--tls1_3]\n"
                  "       tls_load bulk PORT BYTES WINDOW TIMEOUT_SECS [--tls1_2|--tls1_3]\n"
                  "       tls_load get PORT PATH TIMEOUT_SECS [--tls1_2|--tls1_3]\n"
                  "       tls_load idle PORT N echo|http PATH [HOLD_SECS] [--tls1_2|--tls1_3]\n");
  return 2;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *pos[8];
  int npos = 0, procs = 4;
  bool resume = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tls1_2") == 0) version = TLS1_2_VERSION;
    else if (strcmp(argv[i], "--tls1_3") == 0) version = TLS1_3_VERSION;
    else if (strcmp(argv[i], "--resume") == 0) resume = true;
    else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) procs = atoi(argv[++i]);
    else if ((argv[i][0] == '-' && argv[i][1]) || npos == 8) return usage();
    else pos[npos++] = argv[i];
  }
  if (npos < 3 || procs < 1 || procs > 64) return usage();
  const char *mode = pos[0];
  int port = atoi(pos[1]);
  if (strcmp(mode, "handshakes") == 0 && npos == 3) return handshakes(port, atof(pos[2]), resume, procs);
  if (strcmp(mode, "bulk") == 0 && npos == 5) return bulk(port, atoll(pos[2]), atoll(pos[3]), atof(pos[4]));
  if (strcmp(mode, "get") == 0 && npos == 4) return get(port, pos[2], atof(pos[3]));
  if (strcmp(mode, "idle") == 0 && (npos == 5 || npos == 6)) {
    bool http = strcmp(pos[3], "http") == 0;
    if (!http && strcmp(pos[3], "echo") != 0) return usage();
    return idle(port, atoi(pos[2]), http, pos[4], npos == 6 ? atoi(pos[5]) : 120);
  }
  return usage();
}
