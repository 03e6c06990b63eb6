/* select_echo.c: an echo server written by hand with poll(2) and non-blocking sockets, the
 * "select-style" loop of chapter 1: what one writes without a reactor.
 *
 * Compare with reactor_echo.c, the same server on weft's reactor. Everything in this file except
 * the one memcpy in on_readable (the "protocol": send back what came in) is machinery: the table
 * of descriptors, the loop that rebuilds the poll set, the per-connection output buffer, partial
 * writes, flow control, closing. In reactor_echo.c the reactor and the transport do all of it.
 *
 * Run:
 *   select_echo               demo: listens on 127.0.0.1 (a free port), a client thread sends a
 *                             few lines and prints what came back, then the program exits 0
 *   select_echo --port 8000   a real server on 127.0.0.1:8000 until Ctrl-C
 *                             (talk to it with: nc 127.0.0.1 8000) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define OUT_SIZE (64 * 1024)

/* What the program has to keep per connection, because nobody else will. */
typedef struct conn {
  int fd; /* -1: slot free */
  char out[OUT_SIZE];
  size_t out_len;
  bool eof; /* the peer closed its side: close once out is sent */
} conn;

static conn conns[MAX_CONNS];
static volatile sig_atomic_t interrupted;
static atomic_bool client_done; /* demo: the client thread has finished, however it went */

static void on_sigint(int signo) {
  (void)signo;
  interrupted = 1;
}

static int set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int listen_on(int port, int *bound_port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  socklen_t len = sizeof a;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 || set_nonblocking(fd) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    perror("select_echo: listen");
    if (fd >= 0) close(fd);
    return -1;
  }
  *bound_port = ntohs(a.sin_port);
  return fd;
}

static void conn_close(conn *c) {
  close(c->fd);
  c->fd = -1;
  c->out_len = 0;
  c->eof = false;
}

static void on_acceptable(int lfd) {
  for (;;) { /* accept everything waiting: the listening socket is non-blocking */
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return; /* EAGAIN: no more (other errors: try again on the next readiness) */
    conn *slot = NULL;
    for (int i = 0; i < MAX_CONNS && !slot; i++)
      if (conns[i].fd < 0) slot = &conns[i];
    if (!slot || set_nonblocking(fd) < 0) {
      close(fd); /* full: refuse */
      continue;
    }
    slot->fd = fd;
  }
}

static void on_readable(conn *c) {
  /* read only what the output buffer can hold: the by-hand form of flow control */
  ssize_t n = read(c->fd, c->out + c->out_len, OUT_SIZE - c->out_len);
  if (n > 0) {
    c->out_len += (size_t)n; /* the protocol: what came in goes back out */
  } else if (n == 0) {
    c->eof = true;
  } else if (errno != EAGAIN && errno != EINTR) {
    conn_close(c);
  }
}

static void on_writable(conn *c) {
  /* MSG_NOSIGNAL: a peer that went away must not kill the server with SIGPIPE */
  ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) conn_close(c);
    return;
  }
  /* a partial write: keep the rest for the next time the socket is writable */
  memmove(c->out, c->out + n, c->out_len - (size_t)n);
  c->out_len -= (size_t)n;
}

/* The event loop. In demo mode it returns once the first client has gone. */
static void serve(int lfd, bool demo) {
  bool served = false;
  while (!interrupted) {
    struct pollfd pfd[MAX_CONNS + 1];
    conn *who[MAX_CONNS + 1];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *c = &conns[i];
      if (c->fd < 0) continue;
      if (c->eof && c->out_len == 0) {
        conn_close(c);
        served = true;
        continue;
      }
      short ev = 0;
      if (!c->eof && c->out_len < OUT_SIZE) ev |= POLLIN;
      if (c->out_len > 0) ev |= POLLOUT;
      who[n] = c;
      pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
    }
    if (demo && ((served && n == 1) || atomic_load(&client_done))) return;
    /* the demo wakes up now and then to notice a client that failed before connecting */
    if (poll(pfd, n, demo ? 1000 : -1) < 0) {
      if (errno == EINTR) continue; /* Ctrl-C lands here: the loop condition sees it */
      perror("select_echo: poll");
      return;
    }
    if (pfd[0].revents & POLLIN) on_acceptable(lfd);
    for (nfds_t i = 1; i < n; i++) {
      conn *c = who[i];
      if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && (pfd[i].events & POLLIN)) on_readable(c);
      if (c->fd >= 0 && (pfd[i].revents & POLLOUT)) on_writable(c);
    }
  }
}

/* ---- the demo's client: plain blocking sockets, in a thread of its own ---- */

static const char *demo_lines[] = {"hello, world", "one line at a time", "goodbye"};
#define DEMO_LINES (sizeof demo_lines / sizeof demo_lines[0])

typedef struct client_args {
  int port;
  int echoed; /* lines that came back intact */
} client_args;

static void *client_main(void *arg) {
  client_args *ca = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)ca->port)};
  struct timeval limit = {.tv_sec = 5}; /* never hang, whatever the server does */
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0 ||
      connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("select_echo: client");
    if (fd >= 0) close(fd);
    atomic_store(&client_done, true);
    return NULL;
  }
  for (size_t i = 0; i < DEMO_LINES; i++) {
    char line[128], back[128];
    size_t len = (size_t)snprintf(line, sizeof line, "%s\n", demo_lines[i]), got = 0;
    printf("client sent: %s\n", demo_lines[i]);
    if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) break;
    while (got < len) { /* TCP is a stream: the echo may come back in pieces */
      ssize_t n = recv(fd, back + got, len - got, 0);
      if (n <= 0) break;
      got += (size_t)n;
    }
    if (got < len) break;
    back[len - 1] = '\0';
    printf("client got back: %s\n", back);
    if (strcmp(back, demo_lines[i]) == 0) ca->echoed++;
  }
  close(fd);
  atomic_store(&client_done, true);
  return NULL;
}

static int usage(void) {
  fprintf(stderr, "usage: select_echo [--port N]\n");
  return 2;
}

int main(int argc, char **argv) {
  int port = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else return usage();
  }
  bool demo = port < 0;
  if (port > 65535) return usage();
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
  struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART: poll must return EINTR */
  sigaction(SIGINT, &sa, NULL);

  int bound;
  int lfd = listen_on(demo ? 0 : port, &bound);
  if (lfd < 0) return 1;
  printf("select_echo: listening on 127.0.0.1:%d\n", bound);

  client_args ca = {.port = bound};
  pthread_t client;
  if (demo && pthread_create(&client, NULL, client_main, &ca) != 0) {
    fprintf(stderr, "select_echo: cannot start the client thread\n");
    close(lfd);
    return 1;
  }
  serve(lfd, demo);
  if (demo) pthread_join(client, NULL);
  for (int i = 0; i < MAX_CONNS; i++)
    if (conns[i].fd >= 0) conn_close(&conns[i]);
  close(lfd);
  if (!demo) return 0;
  printf("select_echo: %d of %zu lines echoed\n", ca.echoed, DEMO_LINES);
  return ca.echoed == (int)DEMO_LINES ? 0 : 1;
}
