/* Tests the listener under pressure (src/net/listener.c): running out of descriptors pauses
 * accepting without spinning while existing connections keep being served, and 10,000
 * concurrent loopback connections are served. The clients run in a child process, so each side
 * has its own descriptor limit. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_util.h"

static bool child_done;
static int child_status = -1;
static pid_t child_pid;

static void on_sigchld(weft_reactor *r, int signo, void *arg) {
  (void)r;
  (void)signo;
  (void)arg;
  int st;
  if (waitpid(child_pid, &st, WNOHANG) == child_pid) {
    child_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    child_done = true;
  }
}

static int warnings;
static void count_warnings(const weft_log_event *ev, void *user) {
  (void)user;
  if (ev->level >= WEFT_LOG_WARN && strcmp(ev->ns, "weft.net.listen") == 0) warnings++;
}

/* A blocking client socket with a receive timeout. */
static int dial_blocking(int port, double timeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", port);
  struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, &a.u.sa, a.len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static bool echoes(int fd) {
  char c = 'e';
  return write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1 && c == 'e';
}

/* Child of the EMFILE test: more connections than the server has descriptors for. */
static int emfile_client(int port) {
  enum { N = 60 };
  int fds[N];
  for (int i = 0; i < N; i++)
    if ((fds[i] = dial_blocking(port, 5)) < 0) return 10;
  if (!echoes(fds[0])) return 11; /* an accepted connection is served meanwhile */
  for (int i = 0; i < N / 2; i++) close(fds[i]);
  /* the server gets descriptors back and accepts the rest, which were waiting in the backlog */
  for (int i = N / 2; i < N; i++) {
    if (!echoes(fds[i])) return 12;
    close(fds[i]); /* hands the server a descriptor back for the next one */
  }
  return 0;
}

static int lowest_free_fd(void) {
  int fd = dup(0);
  close(fd);
  return fd;
}

static void test_emfile_pauses_accepting_without_spinning(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_log_add_observer(weft_reactor_log(r), WEFT_LOG_WARN, count_warnings, NULL);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.interface = "127.0.0.1";
  o.emfile_retry = 0.05;
  weft_listening_port *p;
  REQUIRE(weft_tcp_listen(&p, r, 0, &o, &sf) == 0);
  weft_address a;
  weft_listening_port_address(p, &a);
  weft_signal_watch *w;
  REQUIRE(weft_reactor_watch_signal(&w, r, SIGCHLD, on_sigchld, NULL) == 0);
  child_done = false;
  child_pid = fork();
  REQUIRE(child_pid >= 0);
  if (child_pid == 0) _exit(emfile_client(weft_address_port(&a)));

  struct rlimit old, low;
  getrlimit(RLIMIT_NOFILE, &old);
  low = old;
  low.rlim_cur = (rlim_t)lowest_free_fd() + 20; /* room for 20 connections */
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  int turns = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double elapsed = 0;
  while (!child_done && elapsed < 20) {
    weft_reactor_iterate(r, 0.05);
    turns++;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  }
  setrlimit(RLIMIT_NOFILE, &old);
  CHECK(child_done);
  CHECK_INT(child_status, 0);
  CHECK(warnings >= 1); /* the pause was reported ... */
  CHECK(warnings <= 10); /* ... once per episode of starvation, not once per retry */
  /* without the pause, a readable listening socket that cannot accept spins the loop */
  CHECK(turns < 2000);
  CHECK_INT(es.made, 60);
  fprintf(stderr, "  %d turns in %.2f s, %d warnings, %d connections served\n", turns, elapsed, warnings, es.made);
  weft_signal_watch_free(w);
  weft_listening_port_close(p);
  close_reactor(r);
}

/* ---- 10,000 concurrent connections ---- */

#define MANY 10000

typedef struct many_client {
  weft_reactor *r;
  weft_address to;
  int started, echoed, failed, lost;
  bool all_echoed, all_lost;
} many_client;

static void many_made(weft_transport *t, void *u) {
  (void)u;
  weft_transport_write(t, "m", 1);
}
static void many_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)t;
  (void)d;
  many_client *m = u;
  m->echoed += (int)n;
  if (m->echoed == MANY) m->all_echoed = true;
}
static void many_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  (void)reason;
  many_client *m = u;
  if (++m->lost == MANY) m->all_lost = true;
}
static const weft_protocol_callbacks many_callbacks = {
    .connection_made = many_made, .data_received = many_data, .connection_lost = many_lost};
static int many_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &many_callbacks;
  out->user = u;
  return 0;
}
static void many_failed(void *u, int reason) {
  (void)reason;
  ((many_client *)u)->failed++;
}

/* Child: opens MANY connections, at most 500 connecting at once, each echoes one byte; holds
 * them all open at once for a moment, then exits (closing them all). */
static int many_client_main(int port, int ready_fd) {
  weft_reactor *r;
  if (weft_reactor_new(&r, NULL) != 0) return 20;
  many_client m = {.r = r};
  weft_address_from_ip(&m.to, "127.0.0.1", port);
  weft_factory f = {.build_protocol = many_build, .connection_failed = many_failed, .user = &m};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!m.all_echoed && m.failed == 0) {
    while (m.started < MANY && m.started - m.echoed < 500) {
      if (weft_tcp_connect(NULL, r, &m.to, NULL, &f) != 0) return 21;
      m.started++;
    }
    weft_reactor_iterate(r, 0.05);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec - t0.tv_sec > 40) return 22;
  }
  if (m.failed) return 23;
  char c = 'r';
  if (write(ready_fd, &c, 1) != 1) return 24;
  /* hold until the parent has counted them, then close by exiting */
  read(ready_fd, &c, 1);
  return 0;
}

typedef struct many_server {
  echo_server es;
  int peak;
} many_server;

static void test_ten_thousand_concurrent_connections(void) {
  struct rlimit lim;
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max < MANY + 100) {
    fprintf(stderr, "  (skipped: the hard descriptor limit %ld is below %d)\n", (long)lim.rlim_max, MANY + 100);
    return;
  }
  struct rlimit old = lim;
  lim.rlim_cur = lim.rlim_max;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.interface = "127.0.0.1";
  o.backlog = 4096;
  weft_listening_port *p;
  REQUIRE(weft_tcp_listen(&p, r, 0, &o, &sf) == 0);
  weft_address a;
  weft_listening_port_address(p, &a);
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  weft_signal_watch *w;
  REQUIRE(weft_reactor_watch_signal(&w, r, SIGCHLD, on_sigchld, NULL) == 0);
  child_done = false;
  child_pid = fork();
  REQUIRE(child_pid >= 0);
  if (child_pid == 0) {
    close(sv[0]);
    _exit(many_client_main(weft_address_port(&a), sv[1]));
  }
  close(sv[1]);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int peak = 0;
  char c;
  bool ready = false;
  while (!child_done) {
    weft_reactor_iterate(r, 0.01);
    if (es.made - es.lost > peak) peak = es.made - es.lost;
    if (!ready && recv(sv[0], &c, 1, MSG_DONTWAIT) == 1) {
      ready = true;
      CHECK_INT(es.made - es.lost, MANY); /* all open at once */
      CHECK(write(sv[0], &c, 1) == 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec - t0.tv_sec > 60) break;
  }
  CHECK(ready);
  CHECK_INT(child_status, 0);
  CHECK_INT(peak, MANY);
  bool all_lost = false;
  for (int i = 0; i < 500 && !all_lost; i++) {
    weft_reactor_iterate(r, 0.01);
    all_lost = es.lost == MANY;
  }
  CHECK_INT(es.lost, MANY);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  fprintf(stderr, "  %d connections, peak %d open at once, %.2f s\n", es.made, peak,
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  close(sv[0]);
  weft_signal_watch_free(w);
  weft_listening_port_close(p);
  close_reactor(r);
  setrlimit(RLIMIT_NOFILE, &old);
}

int main(void) {
  RUN(test_emfile_pauses_accepting_without_spinning);
  RUN(test_ten_thousand_concurrent_connections);
  return CHECK_DONE();
}
