/* Tests tools/weft (Twisted's twist): runs the built binary and checks what a user sees: help and
 * usage errors, echo round trips, clean exit on SIGTERM, JSON logs, and portforward carrying
 * 1 MiB intact and closing clients when the target is down. Every wait has a deadline; a child
 * that overstays is killed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/tls_util.h"

#define WEFT_PATH WEFT_BINARY_DIR "/weft"

extern char **environ;

typedef struct child {
  pid_t pid;
  int err_fd, out_fd; /* read ends of the child's stderr and stdout */
  char err[65536], out[8192];
  size_t errlen, outlen;
} child;

/* Children still running; killed at exit, so a failed REQUIRE leaves no server behind. */
static pid_t live_pids[8];

static void kill_live_children(void) {
  for (size_t i = 0; i < sizeof live_pids / sizeof live_pids[0]; i++)
    if (live_pids[i] > 0) {
      kill(live_pids[i], SIGKILL);
      waitpid(live_pids[i], NULL, 0);
    }
}

static void set_live(pid_t pid, bool live) {
  for (size_t i = 0; i < sizeof live_pids / sizeof live_pids[0]; i++)
    if (live_pids[i] == (live ? 0 : pid)) {
      live_pids[i] = live ? pid : 0;
      return;
    }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void spawn(child *c, const char *const *args) {
  int errp[2], outp[2];
  memset(c, 0, sizeof *c);
  REQUIRE(pipe2(errp, O_CLOEXEC) == 0 && pipe2(outp, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
  posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
  char *argv[16];
  argv[0] = (char *)WEFT_PATH;
  int n = 1;
  for (; args[n - 1] && n < 15; n++) argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  /* the child starts with SIGPIPE at its default, as from a shell, not ignored as here */
  posix_spawnattr_t attr;
  sigset_t dfl;
  posix_spawnattr_init(&attr);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  REQUIRE(posix_spawn(&c->pid, WEFT_PATH, &fa, &attr, argv, environ) == 0);
  posix_spawnattr_destroy(&attr);
  set_live(c->pid, true);
  posix_spawn_file_actions_destroy(&fa);
  close(errp[1]);
  close(outp[1]);
  c->err_fd = errp[0];
  c->out_fd = outp[0];
  fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
  fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
}

/* As spawn, with listen_fd inherited as descriptor `at` and, when systemd is true, the socket
 * activation variables naming it (LISTEN_PID is the child's own pid, known only after fork). */
static void spawn_with_socket(child *c, const char *const *args, int listen_fd, int at, bool systemd) {
  int errp[2], outp[2];
  memset(c, 0, sizeof *c);
  REQUIRE(pipe2(errp, O_CLOEXEC) == 0 && pipe2(outp, O_CLOEXEC) == 0);
  char *argv[16];
  argv[0] = (char *)WEFT_PATH;
  int n = 1;
  for (; args[n - 1] && n < 15; n++) argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  c->pid = fork();
  REQUIRE(c->pid >= 0);
  if (c->pid == 0) { /* the test is single-threaded: setenv after fork is safe here */
    dup2(errp[1], 2);
    dup2(outp[1], 1);
    if (listen_fd == at) fcntl(at, F_SETFD, 0);
    else dup2(listen_fd, at); /* the copy is inheritable */
    signal(SIGPIPE, SIG_DFL);
    if (systemd) {
      char pid[32];
      snprintf(pid, sizeof pid, "%ld", (long)getpid());
      setenv("LISTEN_PID", pid, 1);
      setenv("LISTEN_FDS", "1", 1);
    }
    execv(WEFT_PATH, argv);
    _exit(127);
  }
  set_live(c->pid, true);
  close(errp[1]);
  close(outp[1]);
  c->err_fd = errp[0];
  c->out_fd = outp[0];
  fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
  fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
}

/* Reads what the child wrote, waiting up to timeout seconds for something. Returns false at the
 * end of both pipes. */
static bool pump(child *c, double timeout) {
  struct pollfd pf[2] = {{c->err_fd, POLLIN, 0}, {c->out_fd, POLLIN, 0}};
  if (c->err_fd < 0 && c->out_fd < 0) return false;
  if (poll(pf, 2, (int)(timeout * 1000)) <= 0) return true;
  int *fds[2] = {&c->err_fd, &c->out_fd};
  char *bufs[2] = {c->err, c->out};
  size_t *lens[2] = {&c->errlen, &c->outlen}, caps[2] = {sizeof c->err, sizeof c->out};
  for (int i = 0; i < 2; i++) {
    if (*fds[i] < 0 || !pf[i].revents) continue;
    char tmp[4096];
    ssize_t r = read(*fds[i], tmp, sizeof tmp);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
      close(*fds[i]);
      *fds[i] = -1;
    } else if (r > 0) {
      size_t room = caps[i] - 1 - *lens[i], k = (size_t)r < room ? (size_t)r : room;
      memcpy(bufs[i] + *lens[i], tmp, k);
      *lens[i] += k;
      bufs[i][*lens[i]] = '\0';
    }
  }
  return true;
}

/* The line of stderr holding needle has arrived whole. */
static bool has_line_with(const child *c, const char *needle) {
  const char *p = strstr(c->err, needle);
  return p && strchr(p, '\n');
}

/* Waits until the child's stderr holds a whole line with needle; false after timeout seconds. */
static bool wait_stderr(child *c, const char *needle, double timeout) {
  double end = now() + timeout;
  while (!has_line_with(c, needle)) {
    if (now() > end || !pump(c, 0.05)) return has_line_with(c, needle);
  }
  return true;
}

/* The port that follows needle on a whole line of stderr, or -1. */
static int port_after(child *c, const char *needle) {
  if (!wait_stderr(c, needle, 10)) return -1;
  return atoi(strstr(c->err, needle) + strlen(needle));
}

/* The port of the first "listening on 127.0.0.1:PORT" line, or -1. */
static int listening_port(child *c) { return port_after(c, "listening on 127.0.0.1:"); }

/* Waits for the child to exit, reading its output meanwhile. Returns the exit status, or -1 if
 * it had to be killed after timeout seconds (or died of a signal). */
static int wait_exit(child *c, double timeout) {
  double end = now() + timeout;
  int status = 0;
  for (;;) {
    pid_t w = waitpid(c->pid, &status, WNOHANG);
    if (w == c->pid) {
      set_live(c->pid, false);
      break;
    }
    if (now() > end) {
      fprintf(stderr, "  child %d overstayed; killing it; stderr so far:\n%s\n", (int)c->pid, c->err);
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &status, 0);
      set_live(c->pid, false);
      status = -1;
      break;
    }
    if (!pump(c, 0.02)) usleep(10000);
  }
  while (pump(c, 0)) {
  }
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

/* Runs the binary to completion. */
static int run(child *c, const char *const *args) {
  spawn(c, args);
  return wait_exit(c, 10);
}

static int stop(child *c) {
  kill(c->pid, SIGTERM);
  return wait_exit(c, 10);
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  return fd;
}

/* Reads exactly n bytes (timeouts from SO_RCVTIMEO). Returns the count read. */
static size_t read_full(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

/* ---- help and usage ---- */

static void test_help_and_version(void) {
  child c;
  CHECK_INT(run(&c, (const char *[]){"--help", NULL}), 0);
  CHECK(strstr(c.out, "echo") && strstr(c.out, "portforward"));
  CHECK_INT(run(&c, (const char *[]){"echo", "--help", NULL}), 0);
  CHECK(strstr(c.out, "--listen") && strstr(c.out, "--log-format"));
  CHECK_INT(run(&c, (const char *[]){"portforward", "--help", NULL}), 0);
  CHECK(strstr(c.out, "--to HOST:PORT") != NULL);
  CHECK_INT(run(&c, (const char *[]){"--version", NULL}), 0);
  CHECK(strncmp(c.out, "weft ", 5) == 0);
}

static void test_usage_errors_exit_2(void) {
  child c;
  CHECK_INT(run(&c, (const char *[]){NULL}), 2);
  CHECK_INT(run(&c, (const char *[]){"nosuchcommand", NULL}), 2);
  CHECK(strstr(c.err, "nosuchcommand") != NULL);
  CHECK_INT(run(&c, (const char *[]){"echo", "--listen", "tcp:0", "--bogus", NULL}), 2);
  CHECK(strstr(c.err, "--bogus") != NULL);
  CHECK_INT(run(&c, (const char *[]){"echo", NULL}), 2);
  CHECK(strstr(c.err, "--listen") != NULL);
  CHECK_INT(run(&c, (const char *[]){"echo", "--listen", "tcp:0", "--log-format", "xml", NULL}), 2);
  CHECK(strstr(c.err, "xml") != NULL);
  CHECK_INT(run(&c, (const char *[]){"echo", "--listen", "tcp:0", "--log-level", "loud", NULL}), 2);
  CHECK(strstr(c.err, "loud") != NULL);
  CHECK_INT(run(&c, (const char *[]){"portforward", "--listen", "tcp:0", NULL}), 2);
  CHECK(strstr(c.err, "--to") != NULL);
  CHECK_INT(run(&c, (const char *[]){"portforward", "--listen", "tcp:0", "--to", "127.0.0.1:0", NULL}), 2);
}

static void test_bad_endpoint_exits_2_naming_it(void) {
  child c;
  CHECK_INT(run(&c, (const char *[]){"echo", "--listen", "tcp:70000", NULL}), 2);
  CHECK(strstr(c.err, "bad endpoint \"tcp:70000\": port must be 0..65535") != NULL);
  CHECK_INT(run(&c, (const char *[]){"echo", "--listen", "tcp:0", "--listen", "foo:1", NULL}), 2);
  CHECK(strstr(c.err, "unknown endpoint type \"foo\"") != NULL);
  CHECK_INT(run(&c, (const char *[]){"portforward", "--listen", "tcp:0:bogus=1", "--to", "127.0.0.1:1", NULL}), 2);
  CHECK(strstr(c.err, "unknown option \"bogus\" for tcp") != NULL);
  CHECK(c.outlen == 0); /* nothing on stdout: errors go to stderr */
}

/* ---- echo ---- */

static void test_echo_round_trip_and_sigterm(void) {
  child c;
  spawn(&c, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", NULL});
  int port = listening_port(&c);
  CHECK(port > 0);
  if (port > 0) {
    int fd = connect_to(port);
    const char msg[] = "hello, weft\n";
    char buf[sizeof msg];
    CHECK_INT(send(fd, msg, sizeof msg - 1, 0), sizeof msg - 1);
    CHECK_INT(read_full(fd, buf, sizeof msg - 1), sizeof msg - 1);
    CHECK_MEM(buf, sizeof msg - 1, msg, sizeof msg - 1);
    /* a half-close: everything sent before it still comes back, then the server closes */
    CHECK_INT(send(fd, "more", 4, 0), 4);
    shutdown(fd, SHUT_WR);
    CHECK_INT(read_full(fd, buf, 4), 4);
    CHECK_INT(recv(fd, buf, 1, 0), 0);
    close(fd);
  }
  double t0 = now();
  CHECK_INT(stop(&c), 0);
  CHECK(now() - t0 < 5);
  CHECK(strstr(c.err, "received SIGTERM") != NULL);
}

/* A port that cannot be opened is a run-time failure (1), reported with the endpoint. */
static void test_listen_failure_exits_1(void) {
  child first, second;
  spawn(&first, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", NULL});
  int port = listening_port(&first);
  REQUIRE(port > 0);
  char ep[64], want[160];
  snprintf(ep, sizeof ep, "tcp:%d:interface=127.0.0.1", port);
  snprintf(want, sizeof want, "cannot listen on %s: address already in use", ep);
  CHECK_INT(run(&second, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", "--listen", ep, NULL}), 1);
  CHECK(strstr(second.err, want) != NULL);
  CHECK_INT(stop(&first), 0);
}

/* SIGTERM with a client still connected: the connection is torn down and the exit is clean. */
static void test_sigterm_closes_live_connections(void) {
  child c;
  spawn(&c, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", "--log-level", "debug", NULL});
  int port = listening_port(&c);
  REQUIRE(port > 0);
  int fd = connect_to(port);
  char buf[8];
  CHECK_INT(send(fd, "x", 1, 0), 1);
  CHECK_INT(read_full(fd, buf, 1), 1); /* the server has it now */
  CHECK_INT(stop(&c), 0);
  CHECK(recv(fd, buf, 1, 0) <= 0); /* closed or reset, not a timeout's wait */
  CHECK(strstr(c.err, "lost: connection aborted locally") != NULL);
  close(fd);
}

static void test_echo_on_unix_socket(void) {
  char dir[] = "/tmp/weft-cli-XXXXXX", ep[128];
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(ep, sizeof ep, "unix:%s/echo.sock", dir);
  child c;
  spawn(&c, (const char *[]){"echo", "--listen", ep, NULL});
  CHECK(wait_stderr(&c, "listening on unix:", 10));
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s/echo.sock", dir);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  CHECK_INT(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char buf[4];
  CHECK_INT(send(fd, "ping", 4, 0), 4);
  CHECK_INT(read_full(fd, buf, 4), 4);
  CHECK_MEM(buf, 4, "ping", 4);
  close(fd);
  CHECK_INT(stop(&c), 0);
  CHECK(access(a.sun_path, F_OK) < 0); /* the socket file went with the port */
  rmdir(dir);
}

static void test_json_logs(void) {
  child c;
  spawn(&c, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", "--log-format", "json",
                             "--log-level", "debug", NULL});
  int port = port_after(&c, "\"address\":\"127.0.0.1:");
  CHECK(port > 0);
  CHECK(strstr(c.err, "\"text\":\"listening on 127.0.0.1:") != NULL);
  if (port > 0) close(connect_to(port));
  CHECK(wait_stderr(&c, "closed", 10));
  CHECK_INT(stop(&c), 0);
  int lines = 0;
  for (char *line = c.err, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    REQUIRE(nl != NULL); /* every line is complete */
    *nl = '\0';
    lines++;
    CHECK(line[0] == '{' && nl[-1] == '}');
    CHECK(strstr(line, "\"level\":\"") && strstr(line, "\"namespace\":\"weft.echo\""));
  }
  CHECK(lines >= 4); /* listening, connection from, closed, received SIGTERM */
}

/* ---- portforward ---- */

/* Sends all of out and reads n bytes back at once through fd (so neither side stalls the other),
 * then half-closes and expects the end of input. Bounded by 20 s. */
static size_t exchange(int fd, const char *out, char *in, size_t n) {
  size_t sent = 0, got = 0;
  bool shut = false;
  double end = now() + 20;
  fcntl(fd, F_SETFL, O_NONBLOCK);
  while (now() < end) {
    struct pollfd p = {fd, POLLIN | (sent < n ? POLLOUT : 0), 0};
    if (poll(&p, 1, 100) < 0) break;
    if (sent < n && (p.revents & POLLOUT)) {
      ssize_t w = send(fd, out + sent, n - sent > 65536 ? 65536 : n - sent, MSG_NOSIGNAL);
      if (w > 0) sent += (size_t)w;
    }
    if (sent == n && !shut) shut = shutdown(fd, SHUT_WR) == 0;
    if (p.revents & (POLLIN | POLLHUP)) {
      char sink;
      ssize_t r = got < n ? recv(fd, in + got, n - got, 0) : recv(fd, &sink, 1, 0);
      if (r == 0) return got; /* end of input: the forwarder passed our half-close on */
      if (r > 0) got += (size_t)r;
      if (r > 0 && got > n) return (size_t)-1;
    }
  }
  fprintf(stderr, "  exchange timed out: sent %zu, got %zu of %zu\n", sent, got, n);
  return (size_t)-1;
}

static void test_portforward_carries_1mib_both_ways(void) {
  child echo, fwd;
  spawn(&echo, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", NULL});
  int eport = listening_port(&echo);
  REQUIRE(eport > 0);
  char to[32];
  snprintf(to, sizeof to, "127.0.0.1:%d", eport);
  spawn(&fwd, (const char *[]){"portforward", "--listen", "tcp:0:interface=127.0.0.1", "--to", to, NULL});
  int fport = listening_port(&fwd);
  CHECK(fport > 0);
  if (fport > 0) {
    size_t n = 1u << 20;
    char *out = malloc(n), *in = malloc(n);
    REQUIRE(out && in);
    for (size_t i = 0; i < n; i++) out[i] = (char)(i * 2654435761u >> 13);
    int fd = connect_to(fport);
    CHECK_INT(exchange(fd, out, in, n), n);
    CHECK(memcmp(out, in, n) == 0);
    close(fd);
    free(out);
    free(in);
  }
  CHECK_INT(stop(&fwd), 0);
  CHECK_INT(stop(&echo), 0);
}

/* Starts echo with portforward in front of it; returns the forwarder's port (or -1). */
static int start_pair(child *echo, child *fwd) {
  spawn(echo, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", NULL});
  int eport = listening_port(echo);
  REQUIRE(eport > 0);
  char to[32];
  snprintf(to, sizeof to, "127.0.0.1:%d", eport);
  spawn(fwd, (const char *[]){"portforward", "--listen", "tcp:0:interface=127.0.0.1", "--to", to, NULL});
  return listening_port(fwd);
}

/* Clients that reset mid-transfer: each reset travels through the forwarder to echo, whose
 * pending echoes then hit a dead socket. That must end the connection, not the process
 * (SIGPIPE). */
static void test_client_resets_do_not_kill_servers(void) {
  child echo, fwd;
  int port = start_pair(&echo, &fwd);
  REQUIRE(port > 0);
  static char junk[1 << 20];
  for (int i = 0; i < 50; i++) {
    int fd = connect_to(port);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    /* send while it flows (so echo has replies in flight), at most 0.2 s without progress */
    for (size_t sent = 0; sent < sizeof junk;) {
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, 200) <= 0) break;
      ssize_t w = send(fd, junk + sent, sizeof junk - sent, MSG_NOSIGNAL);
      if (w <= 0) break;
      sent += (size_t)w;
    }
    struct linger lg = {1, 0}; /* close with a reset */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
  }
  /* both still serve */
  int fd = connect_to(port);
  char buf[2];
  CHECK_INT(send(fd, "ok", 2, 0), 2);
  CHECK_INT(read_full(fd, buf, 2), 2);
  close(fd);
  CHECK_INT(stop(&fwd), 0);
  CHECK_INT(stop(&echo), 0);
}

/* A client that sends without reading: once the buffers along the way fill, the forwarder stops
 * reading from it (and echo from the forwarder) instead of queueing without bound, so the
 * client's sends block. Reading afterwards gets every byte back. */
static void test_portforward_backpressure(void) {
  child echo, fwd;
  int port = start_pair(&echo, &fwd);
  REQUIRE(port > 0);
  const size_t limit = 256u << 20; /* far beyond what the socket buffers can hold */
  static char chunk[64 * 1024];
  int fd = connect_to(port);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  size_t sent = 0;
  double last_progress = now(), end = now() + 8;
  while (sent < limit && now() < end && now() - last_progress < 0.5) {
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
      last_progress = now();
    }
  }
  CHECK(sent < limit);
  CHECK(now() - last_progress >= 0.5); /* stalled, rather than ran out of time */
  /* drain: everything comes back, then the end of input */
  shutdown(fd, SHUT_WR);
  size_t got = 0;
  end = now() + 20;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (now() > end) break;
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t r = recv(fd, chunk, sizeof chunk, 0);
    if (r <= 0) break;
    got += (size_t)r;
  }
  CHECK_INT(got, sent);
  close(fd);
  CHECK_INT(stop(&fwd), 0);
  CHECK_INT(stop(&echo), 0);
}

static void test_portforward_to_closed_port_closes_client(void) {
  /* a port nothing listens on: bind one, note it, close it */
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0);
  close(s);
  char to[32];
  snprintf(to, sizeof to, "127.0.0.1:%d", ntohs(a.sin_port));
  child fwd;
  spawn(&fwd, (const char *[]){"portforward", "--listen", "tcp:0:interface=127.0.0.1", "--to", to, NULL});
  int port = listening_port(&fwd);
  REQUIRE(port > 0);
  int fd = connect_to(port);
  char buf[1];
  double t0 = now();
  errno = 0;
  CHECK_INT(recv(fd, buf, 1, 0), 0); /* closed, well before the 5 s receive timeout */
  CHECK(now() - t0 < 4);
  close(fd);
  CHECK(wait_stderr(&fwd, "connection refused", 5));
  CHECK_INT(stop(&fwd), 0);
}


/* ---- endpoint strings ---- */

/* A listening socket on 127.0.0.1 (port from the kernel); its port in *port. */
static int loopback_listener(int *port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 16) == 0);
  getsockname(s, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return s;
}

/* One echo round trip through port. */
static void check_echo(int port) {
  int fd = connect_to(port);
  char buf[5];
  CHECK_INT(send(fd, "hello", 5, 0), 5);
  CHECK_INT(read_full(fd, buf, 5), 5);
  CHECK_MEM(buf, 5, "hello", 5);
  close(fd);
}

/* systemd socket activation: the socket arrives as fd 3 with LISTEN_PID/LISTEN_FDS set. */
static void test_echo_systemd_activation(void) {
  int port, s = loopback_listener(&port);
  child c;
  spawn_with_socket(&c, (const char *[]){"echo", "--listen", "systemd:domain=INET:index=0", NULL}, s, 3, true);
  char want[64];
  snprintf(want, sizeof want, "listening on 127.0.0.1:%d", port);
  CHECK(wait_stderr(&c, want, 10));
  check_echo(port);
  CHECK_INT(stop(&c), 0);
  close(s);
  /* without the variables the endpoint cannot listen: exit 1, saying why */
  CHECK_INT(run(&c, (const char *[]){"echo", "--listen", "systemd:domain=INET:index=0", NULL}), 1);
  CHECK(strstr(c.err, "cannot listen on systemd:domain=INET:index=0: no sockets from systemd") != NULL);
}

static void test_echo_on_inherited_fd(void) {
  int port, s = loopback_listener(&port);
  child c;
  spawn_with_socket(&c, (const char *[]){"echo", "--listen", "fd:5", NULL}, s, 5, false);
  char want[64];
  snprintf(want, sizeof want, "listening on 127.0.0.1:%d", port);
  CHECK(wait_stderr(&c, want, 10));
  check_echo(port);
  CHECK_INT(stop(&c), 0);
  close(s);
}

/* --listen repeated over different types: one service, a TCP port and a Unix socket. */
static void test_echo_on_several_endpoints(void) {
  char dir[] = "/tmp/weft-cli-XXXXXX", ep[128];
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(ep, sizeof ep, "unix:%s/e.sock:lockfile=1", dir);
  child c;
  spawn(&c, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1:reuseport=yes", "--listen", ep, NULL});
  int port = listening_port(&c);
  CHECK(port > 0);
  CHECK(wait_stderr(&c, "listening on unix:", 10));
  if (port > 0) check_echo(port);
  char lock[128];
  snprintf(lock, sizeof lock, "%s/e.sock.lock", dir);
  CHECK(access(lock, F_OK) == 0);
  CHECK_INT(stop(&c), 0);
  CHECK(access(lock, F_OK) < 0); /* released with the port */
  rmdir(dir);
}

/* portforward's --to as client endpoints: keyword, positional, Unix, and the short HOST:PORT. */
static void test_portforward_to_endpoints(void) {
  char dir[] = "/tmp/weft-cli-XXXXXX", uep[128], uto[128];
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(uep, sizeof uep, "unix:%s/echo.sock", dir);
  snprintf(uto, sizeof uto, "unix:path=%s/echo.sock", dir);
  child echo;
  spawn(&echo, (const char *[]){"echo", "--listen", "tcp:0:interface=127.0.0.1", "--listen", uep, NULL});
  int eport = listening_port(&echo);
  REQUIRE(eport > 0);
  REQUIRE(wait_stderr(&echo, "listening on unix:", 10));
  char kw[64], pos[64], name[64];
  snprintf(kw, sizeof kw, "tcp:host=127.0.0.1:port=%d:timeout=5", eport);
  snprintf(pos, sizeof pos, "tcp:127.0.0.1:%d", eport);
  snprintf(name, sizeof name, "localhost:%d", eport); /* the short form still resolves names once */
  const char *tos[] = {kw, pos, uto, name};
  for (int i = 0; i < 4; i++) {
    child fwd;
    spawn(&fwd, (const char *[]){"portforward", "--listen", "tcp:0:interface=127.0.0.1", "--to", tos[i], NULL});
    int fport = listening_port(&fwd);
    CHECK(fport > 0);
    if (fport > 0) check_echo(fport);
    CHECK_INT(stop(&fwd), 0);
  }
  CHECK_INT(stop(&echo), 0);
  rmdir(dir);
}


/* TLS at both ends of a forwarder: echo terminates it (--listen ssl:), portforward originates it
 * (--to tls:) for a plain client, verifying echo's certificate against the test CA. */
static void test_portforward_originates_tls_to_ssl_echo(void) {
  test_pki pki;
  pki_make(&pki);
  char listen[512], to[512];
  snprintf(listen, sizeof listen, "ssl:0:privateKey=%s:certKey=%s:interface=127.0.0.1", pki.server_key, pki.server);
  child echo, fwd;
  spawn(&echo, (const char *[]){"echo", "--listen", listen, NULL});
  int eport = listening_port(&echo);
  REQUIRE(eport > 0);
  snprintf(to, sizeof to, "tls:127.0.0.1:%d:trustRoots=%s", eport, pki.ca);
  spawn(&fwd, (const char *[]){"portforward", "--listen", "tcp:0:interface=127.0.0.1", "--to", to, NULL});
  int fport = listening_port(&fwd);
  CHECK(fport > 0);
  if (fport > 0) check_echo(fport);
  /* the plain port of a TLS server does not speak plaintext */
  int fd = connect_to(eport);
  char buf[1];
  CHECK_INT(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
  CHECK(recv(fd, buf, 1, 0) <= 0 || buf[0] != 'G');
  close(fd);
  CHECK_INT(stop(&fwd), 0);
  CHECK_INT(stop(&echo), 0);
  pki_remove(&pki);
}

static void test_portforward_bad_to_exits_2(void) {
  child c;
  CHECK_INT(run(&c, (const char *[]){"portforward", "--listen", "tcp:0", "--to", "tcp:host=127.0.0.1", NULL}), 2);
  CHECK(strstr(c.err, "bad --to: bad endpoint \"tcp:host=127.0.0.1\": missing port") != NULL);
  CHECK_INT(run(&c, (const char *[]){"portforward", "--listen", "tcp:0", "--to", "carrier:pigeon", NULL}), 2);
  CHECK(strstr(c.err, "unknown endpoint type \"carrier\"") != NULL);
  CHECK_INT(run(&c, (const char *[]){"portforward", "--listen", "tcp:0", "--to", "unix:80:mode=1", NULL}), 2);
  CHECK(strstr(c.err, "unknown option \"mode\" for unix") != NULL);
}

/* ---- web ---- */

/* Sends one request on a new connection and reads the answer until the server closes (the
 * request asks it to). Returns the byte count, NUL-terminating buf. */
static size_t http_get(int port, const char *target, char *buf, size_t n) {
  int fd = connect_to(port);
  char req[256];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
  CHECK_INT(send(fd, req, (size_t)len, 0), len);
  size_t got = 0;
  while (got < n - 1) {
    ssize_t r = recv(fd, buf + got, n - 1 - got, 0);
    if (r <= 0) break;
    got += (size_t)r;
  }
  buf[got] = '\0';
  close(fd);
  return got;
}

/* Serves a temporary directory: a file comes back whole with its type, a missing one is 404, a
 * path climbing out is 403, and SIGTERM with a keep-alive client still connected exits 0. */
static void test_web_serves_a_directory(void) {
  char dir[] = "/tmp/weft-web-XXXXXX", file[64], buf[4096];
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(file, sizeof file, "%s/hello.txt", dir);
  FILE *fp = fopen(file, "w");
  REQUIRE(fp != NULL);
  fputs("hello, web\n", fp);
  fclose(fp);
  child c;
  spawn(&c, (const char *[]){"web", "--listen", "tcp:0:interface=127.0.0.1", "--path", dir, "--log-level", "debug",
                             NULL});
  int port = listening_port(&c);
  CHECK(port > 0);
  if (port > 0) {
    CHECK(http_get(port, "/hello.txt", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
    CHECK(strstr(buf, "\r\nContent-Type: text/plain") != NULL);
    CHECK(strstr(buf, "\r\nContent-Length: 11\r\n") != NULL);
    const char *body = strstr(buf, "\r\n\r\n");
    CHECK(body && strcmp(body + 4, "hello, web\n") == 0);
    http_get(port, "/missing.txt", buf, sizeof buf);
    CHECK(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    http_get(port, "/../x", buf, sizeof buf);
    CHECK(strncmp(buf, "HTTP/1.1 403 ", 13) == 0);
    CHECK(wait_stderr(&c, "request GET /hello.txt", 5));
    /* a keep-alive client still connected at SIGTERM: its connection is aborted, exit is clean */
    int fd = connect_to(port);
    const char req[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_INT(send(fd, req, sizeof req - 1, 0), sizeof req - 1);
    CHECK(recv(fd, buf, sizeof buf, 0) > 0);
    CHECK_INT(stop(&c), 0);
    CHECK(strstr(c.err, "received SIGTERM") != NULL);
    close(fd);
  } else {
    stop(&c);
  }
  unlink(file);
  rmdir(dir);
}

static void test_web_usage(void) {
  child c;
  CHECK_INT(run(&c, (const char *[]){"--help", NULL}), 0);
  CHECK(strstr(c.out, "web") != NULL);
  CHECK_INT(run(&c, (const char *[]){"web", "--help", NULL}), 0);
  CHECK(strstr(c.out, "--path DIR") && strstr(c.out, "--listen"));
  CHECK_INT(run(&c, (const char *[]){"web", "--listen", "tcp:0", NULL}), 2);
  CHECK(strstr(c.err, "--path DIR is needed") != NULL);
  CHECK_INT(run(&c, (const char *[]){"web", "--listen", "tcp:0", "--path", "/nonexistent/weft-web", NULL}), 2);
  CHECK(strstr(c.err, "/nonexistent/weft-web") != NULL);
  CHECK_INT(run(&c, (const char *[]){"web", "--path", "/tmp", NULL}), 2);
  CHECK(strstr(c.err, "--listen") != NULL);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  atexit(kill_live_children);
  RUN(test_help_and_version);
  RUN(test_usage_errors_exit_2);
  RUN(test_bad_endpoint_exits_2_naming_it);
  RUN(test_echo_round_trip_and_sigterm);
  RUN(test_listen_failure_exits_1);
  RUN(test_sigterm_closes_live_connections);
  RUN(test_echo_on_unix_socket);
  RUN(test_json_logs);
  RUN(test_portforward_carries_1mib_both_ways);
  RUN(test_portforward_to_closed_port_closes_client);
  RUN(test_client_resets_do_not_kill_servers);
  RUN(test_portforward_backpressure);
  RUN(test_echo_systemd_activation);
  RUN(test_echo_on_inherited_fd);
  RUN(test_echo_on_several_endpoints);
  RUN(test_portforward_to_endpoints);
  RUN(test_portforward_bad_to_exits_2);
  RUN(test_portforward_originates_tls_to_ssl_echo);
  RUN(test_web_serves_a_directory);
  RUN(test_web_usage);
  return CHECK_DONE();
}
