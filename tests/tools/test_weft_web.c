/* Tests weft web as a production server, with real processes on 127.0.0.1: --workers N spreads
 * connections over N processes (two pids answer), a killed worker is replaced, SIGTERM drains
 * (a slow request in flight finishes, exit 0) with and without workers, SIGHUP reopens the access
 * log after a rename (logrotate), and access lines come as Combined Log Format text or JSON.
 * Every wait has a deadline; children left running are killed at exit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "weft/address.h"

#define WEFT_PATH WEFT_BINARY_DIR "/weft"

extern char **environ;

typedef struct child {
  pid_t pid;
  int err_fd;
  char err[65536];
  size_t errlen;
} child;

static pid_t live_pid;

static void kill_live(void) {
  if (live_pid > 0) {
    kill(live_pid, SIGKILL);
    waitpid(live_pid, NULL, 0);
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double s) {
  struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Starts weft with args; stderr captured, stdout to /dev/null. */
static void spawn(child *c, const char *const *args) {
  int errp[2];
  memset(c, 0, sizeof *c);
  REQUIRE(pipe2(errp, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  char *argv[24] = {(char *)WEFT_PATH};
  for (int n = 1; args[n - 1] && n < 23; n++) argv[n] = (char *)args[n - 1];
  REQUIRE(posix_spawn(&c->pid, WEFT_PATH, &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(errp[1]);
  c->err_fd = errp[0];
  fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
  live_pid = c->pid;
}

/* Reads what stderr has (waiting up to timeout for something); false at EOF. */
static bool pump(child *c, double timeout) {
  struct pollfd p = {.fd = c->err_fd, .events = POLLIN};
  if (poll(&p, 1, (int)(timeout * 1000)) <= 0) return true;
  ssize_t n = read(c->err_fd, c->err + c->errlen, sizeof c->err - 1 - c->errlen);
  if (n <= 0) return n < 0 && errno == EAGAIN;
  c->errlen += (size_t)n;
  c->err[c->errlen] = '\0';
  return true;
}

/* Waits until stderr has needle at least count times; the position after the last one. */
static const char *wait_for(child *c, const char *needle, int count, double timeout) {
  double deadline = now() + timeout;
  for (;;) {
    const char *p = c->err, *last = NULL;
    int found = 0;
    while ((p = strstr(p, needle))) {
      last = p += strlen(needle);
      found++;
    }
    if (found >= count) return last;
    if (now() > deadline || !pump(c, 0.05)) return NULL;
  }
}

/* SIGTERM was sent: the exit status within timeout (-1 killed or signalled). */
static int wait_exit(child *c, double timeout) {
  double deadline = now() + timeout;
  int st;
  for (;;) {
    pump(c, 0.01);
    pid_t w = waitpid(c->pid, &st, WNOHANG);
    if (w == c->pid) break;
    if (now() > deadline) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &st, 0);
      st = -1;
      break;
    }
  }
  while (pump(c, 0.01) && c->errlen < sizeof c->err - 1) {
    struct pollfd p = {.fd = c->err_fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) break;
  }
  close(c->err_fd);
  live_pid = 0;
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", port);
  REQUIRE(connect(fd, &a.u.sa, a.len) == 0);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void send_get(int fd, const char *target) {
  char req[256];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nUser-Agent: weft-test\r\nConnection: close\r\n\r\n",
                     target);
  REQUIRE(write(fd, req, (size_t)len) == len);
}

/* Reads the whole response (until the server closes); returns the status, body in body. */
static int read_response(int fd, char *body, size_t n) {
  char resp[8192];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0) got += (size_t)r;
  close(fd);
  resp[got] = '\0';
  int status = 0;
  sscanf(resp, "HTTP/1.1 %d", &status);
  const char *b = strstr(resp, "\r\n\r\n");
  snprintf(body, n, "%s", b ? b + 4 : "");
  return status;
}

/* True if nothing listens on port any more. */
static bool dial_refused(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", port);
  bool refused = connect(fd, &a.u.sa, a.len) < 0 && errno == ECONNREFUSED;
  close(fd);
  return refused;
}

static int get(int port, const char *target, char *body, size_t n) {
  int fd = dial(port);
  send_get(fd, target);
  return read_response(fd, body, n);
}

/* The pid named in a /demo answer ("pid N, ..."), or 0. */
static long answer_pid(const char *body) {
  const char *p = strstr(body, "pid ");
  return p ? atol(p + 4) : 0;
}

static char site[] = "/tmp/weft-webtest-XXXXXX";

static void make_site(void) {
  REQUIRE(mkdtemp(site));
  char path[128];
  snprintf(path, sizeof path, "%s/index.html", site);
  FILE *f = fopen(path, "w");
  REQUIRE(f);
  fputs("<h1>hi</h1>\n", f);
  fclose(f);
}

static int listening_port(child *c) {
  const char *p = wait_for(c, "listening on 127.0.0.1:", 1, 10);
  return p ? atoi(p) : 0;
}

static void test_workers_share_the_port_and_restart(void) {
  child c;
  char body[512];
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", "--workers", "2", "--demo",
                             NULL});
  int port = listening_port(&c);
  REQUIRE(port > 0);
  REQUIRE(wait_for(&c, "listening on 127.0.0.1:", 3, 10)); /* the parent's line and each worker's */
  long pids[2] = {0, 0};
  for (int i = 0; i < 200 && !(pids[0] && pids[1]); i++) {
    if (get(port, "/demo/sleep/0", body, sizeof body) != 200) continue;
    long pid = answer_pid(body);
    if (!pids[0]) pids[0] = pid;
    else if (pid != pids[0]) pids[1] = pid;
  }
  CHECK(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1]); /* SO_REUSEPORT spread them */
  CHECK(pids[0] != c.pid && pids[1] != c.pid);
  CHECK_INT(get(port, "/", body, sizeof body), 200);
  CHECK_STR(body, "<h1>hi</h1>\n");

  /* a worker killed: the supervisor says so and starts another, which serves */
  REQUIRE(pids[0] > 0);
  kill((pid_t)pids[0], SIGKILL);
  CHECK(wait_for(&c, "was killed by signal 9; restarting it", 1, 10) != NULL);
  CHECK(wait_for(&c, "started (pid ", 3, 10) != NULL);
  CHECK(wait_for(&c, "listening on 127.0.0.1:", 4, 10) != NULL);
  bool new_pid = false;
  for (int i = 0; i < 200 && !new_pid; i++) {
    CHECK_INT(get(port, "/demo/sleep/0", body, sizeof body), 200);
    long pid = answer_pid(body);
    CHECK(pid != pids[0]);
    new_pid = pid != pids[1] && pid > 0;
  }
  CHECK(new_pid);

  /* SIGTERM to the supervisor: the workers drain; a request in flight finishes */
  int slow = dial(port);
  send_get(slow, "/demo/sleep/700");
  nap(0.2);
  double t0 = now();
  kill(c.pid, SIGTERM);
  CHECK_INT(read_response(slow, body, sizeof body), 200);
  CHECK(strstr(body, "awaited a 700 ms timer") != NULL);
  CHECK_INT(wait_exit(&c, 15), 0);
  CHECK(now() - t0 < 10);
  CHECK(strstr(c.err, "drained") != NULL);
  CHECK(dial_refused(port));
}

/* One process: SIGTERM drains (the slow request finishes, the port closes at once), exit 0. */
static void test_sigterm_drains(void) {
  child c;
  char body[512];
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", "--demo", NULL});
  int port = listening_port(&c);
  REQUIRE(port > 0);
  int slow = dial(port);
  send_get(slow, "/demo/sleep/600");
  nap(0.2);
  kill(c.pid, SIGTERM);
  CHECK(wait_for(&c, "draining", 1, 5) != NULL);
  /* no longer listening while the request is still in flight (the "draining" line comes just
   * before the port closes, so give it a moment, well under the request's 600 ms) */
  bool refused = false;
  for (double end = now() + 0.25; !refused && now() < end; nap(0.01)) refused = dial_refused(port);
  CHECK(refused);
  CHECK_INT(read_response(slow, body, sizeof body), 200);
  CHECK(strstr(body, "awaited a 600 ms timer") != NULL);
  CHECK_INT(wait_exit(&c, 10), 0);
}

/* A drain deadline: a request slower than --drain-timeout is cut, and the exit is still 0. */
static void test_drain_timeout(void) {
  child c;
  char body[512];
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", "--demo",
                             "--drain-timeout", "0.3", NULL});
  int port = listening_port(&c);
  REQUIRE(port > 0);
  int slow = dial(port);
  send_get(slow, "/demo/sleep/20000");
  nap(0.2);
  double t0 = now();
  kill(c.pid, SIGTERM);
  CHECK(read_response(slow, body, sizeof body) != 200);
  CHECK_INT(wait_exit(&c, 10), 0);
  CHECK(now() - t0 < 5);
}

static size_t slurp(const char *path, char *buf, size_t n) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t got = fread(buf, 1, n - 1, f);
  buf[got] = '\0';
  fclose(f);
  return got;
}

/* Waits until path holds needle (the line is written when the response is finished, which may
 * be just after the client read it). */
static bool file_has(const char *path, const char *needle, char *buf, size_t n) {
  double deadline = now() + 5;
  do {
    slurp(path, buf, n);
    if (strstr(buf, needle)) return true;
    nap(0.01);
  } while (now() < deadline);
  return false;
}

static void test_access_log_text_and_sighup(void) {
  child c;
  char body[512], log[4096], rotated[4096], path[128], old[140];
  snprintf(path, sizeof path, "%s-access.log", site);
  snprintf(old, sizeof old, "%s.1", path);
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", "--access-log", path, NULL});
  int port = listening_port(&c);
  REQUIRE(port > 0);
  CHECK_INT(get(port, "/", body, sizeof body), 200);
  CHECK(file_has(path, "\"GET / HTTP/1.1\" 200 12 \"-\" \"weft-test\"\n", log, sizeof log));
  CHECK(strncmp(log, "127.0.0.1 - - [", 15) == 0);
  CHECK(strstr(c.err, "weft.http.access") == NULL); /* access lines go to the file only */
  /* logrotate: rename, SIGHUP, the next request lands in a new file of the old name */
  REQUIRE(rename(path, old) == 0);
  kill(c.pid, SIGHUP);
  CHECK(wait_for(&c, "reopened", 1, 5) != NULL);
  CHECK_INT(get(port, "/missing", body, sizeof body), 404);
  CHECK(file_has(path, "\"GET /missing HTTP/1.1\" 404 ", log, sizeof log));
  CHECK(strstr(log, "GET / HTTP") == NULL);
  slurp(old, rotated, sizeof rotated);
  CHECK(strstr(rotated, "GET / HTTP") != NULL && strstr(rotated, "/missing") == NULL);
  kill(c.pid, SIGTERM);
  CHECK_INT(wait_exit(&c, 10), 0);
  unlink(path);
  unlink(old);
}

static void test_access_log_json(void) {
  child c;
  char body[512], log[4096], path[128];
  snprintf(path, sizeof path, "%s-access.json", site);
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", "--access-log", path,
                             "--log-format", "json", NULL});
  int port = listening_port(&c);
  REQUIRE(port > 0);
  CHECK(strstr(c.err, "{\"time\":") != NULL); /* stderr is JSON too */
  CHECK_INT(get(port, "/", body, sizeof body), 200);
  CHECK(file_has(path, "\"status\":200", log, sizeof log));
  CHECK(log[0] == '{');
  CHECK(strstr(log, "\"namespace\":\"weft.http.access\"") != NULL);
  CHECK(strstr(log, "\"method\":\"GET\"") != NULL);
  CHECK(strstr(log, "\"user_agent\":\"weft-test\"") != NULL);
  CHECK(strstr(log, "\"text\":\"127.0.0.1 - - [") != NULL);
  kill(c.pid, SIGTERM);
  CHECK_INT(wait_exit(&c, 10), 0);
  unlink(path);
}

static void test_usage(void) {
  child c;
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "unix:/tmp/x.sock", "--workers", "2", NULL});
  CHECK_INT(wait_exit(&c, 10), 2);
  CHECK(strstr(c.err, "tcp: and tcp6: endpoints only") != NULL);
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0", "--workers", "0", NULL});
  CHECK_INT(wait_exit(&c, 10), 2);
  spawn(&c, (const char *[]){"web", "--path", site, "--listen", "tcp:0", "--drain-timeout", "soon", NULL});
  CHECK_INT(wait_exit(&c, 10), 2);
  CHECK(strstr(c.err, "--drain-timeout") != NULL);
  /* a flag where --path's value goes is that value, not the flag (nor does --path take --listen) */
  spawn(&c, (const char *[]){"web", "--path", "--demo", "--listen", "tcp:0", NULL});
  CHECK_INT(wait_exit(&c, 10), 2);
  CHECK(strstr(c.err, "--path \"--demo\"") != NULL);
}

/* A folder without index.html: 403 by default, a listing with --list-directories (also given to
 * the workers: each one builds its own static root). */
static void test_list_directories(void) {
  char dir[160], file[200], body[2048];
  snprintf(dir, sizeof dir, "%s/docs", site);
  REQUIRE(mkdir(dir, 0755) == 0 || errno == EEXIST);
  snprintf(file, sizeof file, "%s/readme.txt", dir);
  FILE *f = fopen(file, "w");
  REQUIRE(f);
  fputs("r\n", f);
  fclose(f);
  const char *plain[] = {"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", NULL};
  const char *listing[] = {"web", "--path", site, "--listen", "tcp:0:interface=127.0.0.1", "--list-directories",
                           "--workers", "1", NULL};
  for (int k = 0; k < 2; k++) {
    child c;
    spawn(&c, k ? listing : plain);
    int port = listening_port(&c);
    REQUIRE(port > 0);
    if (k) REQUIRE(wait_for(&c, "listening on 127.0.0.1:", 2, 10)); /* the worker's too */
    int status = get(port, "/docs/", body, sizeof body);
    CHECK_INT(status, k ? 200 : 403);
    if (k) CHECK(strstr(body, "readme.txt") != NULL);
    kill(c.pid, SIGTERM);
    CHECK_INT(wait_exit(&c, 10), 0);
  }
  unlink(file);
  rmdir(dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  atexit(kill_live);
  make_site();
  RUN(test_usage);
  RUN(test_list_directories);
  RUN(test_sigterm_drains);
  RUN(test_drain_timeout);
  RUN(test_access_log_text_and_sighup);
  RUN(test_access_log_json);
  RUN(test_workers_share_the_port_and_restart);
  char path[128];
  snprintf(path, sizeof path, "%s/index.html", site);
  unlink(path);
  rmdir(site);
  return CHECK_DONE();
}
