/* Tests the Klein examples (examples/klein_*.c): klein_injected's application on weft's memory
 * reactor, whose clock the test advances (the answer comes after one second of fake time, not
 * before), then every example as a real process on 127.0.0.1 (a free port), its responses
 * checked over a socket, ended with SIGTERM (exit 0). */
#define KLEIN_INJECTED_NO_MAIN
#include "../../examples/klein_injected.c"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "weft/testing.h"

extern char **environ;

/* ---- the injected reactor: a memory reactor and its clock ---- */

/* The body after the head of a response in out, or NULL when none is there yet. */
static const char *body_of(const char *out) {
  const char *end = strstr(out, "\r\n\r\n");
  return end ? end + 4 : NULL;
}

static void test_injected_reactor_clock(void) {
  weft_reactor *r;
  weft_http_server *srv;
  weft_string_transport *st;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  klein_app app = {.reactor = r, .delay = 1.0};
  REQUIRE(klein_app_serve(&app, srv) == 0);
  REQUIRE(weft_string_transport_new(&st, r) == 0);
  REQUIRE(weft_string_transport_attach_factory(st, weft_http_server_factory(srv)) == 0);

  const char *hello = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK_INT(weft_string_transport_feed(st, hello, strlen(hello)), 0);
  CHECK(strncmp(weft_string_transport_value(st), "HTTP/1.1 200", 12) == 0);
  CHECK_STR(body_of(weft_string_transport_value(st)), "Hello");
  weft_string_transport_clear(st);

  const char *inc = "GET /41 HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK_INT(weft_string_transport_feed(st, inc, strlen(inc)), 0);
  CHECK_INT(weft_string_transport_len(st), 0); /* the answer waits on the injected clock */
  CHECK(weft_memory_reactor_advance(r, 0.999) >= 0);
  CHECK_INT(weft_string_transport_len(st), 0);
  CHECK(weft_memory_reactor_advance(r, 0.001) > 0); /* the timer ran */
  CHECK(strncmp(weft_string_transport_value(st), "HTTP/1.1 200", 12) == 0);
  CHECK_STR(body_of(weft_string_transport_value(st)), "42");
  weft_string_transport_clear(st);

  const char *bad = "GET /forty-one HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK_INT(weft_string_transport_feed(st, bad, strlen(bad)), 0);
  CHECK(strncmp(weft_string_transport_value(st), "HTTP/1.1 404", 12) == 0);
  weft_string_transport_clear(st);

  /* a client gone before the second is up: the timer is cancelled, nothing is left behind */
  CHECK_INT(weft_string_transport_feed(st, inc, strlen(inc)), 0);
  CHECK_INT(weft_string_transport_close(st, WEFT_ECONNRESET), 0);
  CHECK(weft_memory_reactor_advance(r, 2.0) >= 0);
  CHECK_INT(weft_string_transport_len(st), 0);

  weft_string_transport_free(st);
  CHECK_INT(weft_http_server_connections(srv), 0);
  weft_http_server_free(srv);
  klein_app_free(&app);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* ---- the programs ---- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct example {
  pid_t pid;
  int out; /* read end of its stdout */
  int port;
} example;

/* Starts build/examples/NAME --port 0 and reads its port from "listening on http://127.0.0.1:P/". */
static void start(example *ex, const char *name) {
  char path[1024], line[512] = "";
  snprintf(path, sizeof path, "%s/examples/%s", WEFT_BINARY_DIR, name);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  char *argv[] = {(char *)name, "--port", "0", NULL};
  REQUIRE(posix_spawn(&ex->pid, path, &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  ex->out = fds[0];
  size_t len = 0;
  double deadline = now() + 10;
  while (!strchr(line, '\n') && now() < deadline && len < sizeof line - 1) {
    struct pollfd p = {.fd = ex->out, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(ex->out, line + len, sizeof line - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    line[len] = '\0';
  }
  const char *at = strstr(line, "listening on http://127.0.0.1:");
  ex->port = at ? atoi(at + strlen("listening on http://127.0.0.1:")) : 0;
  if (!ex->port) kill(ex->pid, SIGKILL);
  REQUIRE(ex->port > 0);
}

/* SIGTERM, then the exit status (killed after 10 s: -1). */
static int stop(example *ex) {
  kill(ex->pid, SIGTERM);
  double deadline = now() + 10;
  int st;
  for (;;) {
    pid_t w = waitpid(ex->pid, &st, WNOHANG);
    if (w == ex->pid) break;
    if (now() > deadline) {
      kill(ex->pid, SIGKILL);
      waitpid(ex->pid, &st, 0);
      close(ex->out);
      return -1;
    }
    struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  close(ex->out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* GET target on a fresh connection (Connection: close); returns the status, body in body. */
static int get(int port, const char *target, char *body, size_t n) {
  body[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", port);
  REQUIRE(connect(fd, &a.u.sa, a.len) == 0);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req[256], resp[4096];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
  REQUIRE(write(fd, req, (size_t)len) == len);
  size_t got = 0;
  ssize_t r;
  while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0) got += (size_t)r;
  close(fd);
  resp[got] = '\0';
  int status = 0;
  sscanf(resp, "HTTP/1.1 %d", &status);
  const char *b = body_of(resp);
  snprintf(body, n, "%s", b ? b : "");
  return status;
}

static void test_klein_hello(void) {
  example ex;
  char body[256];
  start(&ex, "klein_hello");
  CHECK_INT(get(ex.port, "/", body, sizeof body), 200);
  CHECK_STR(body, "Hello");
  CHECK_INT(get(ex.port, "/elsewhere", body, sizeof body), 404);
  CHECK_INT(stop(&ex), 0);
}

static void test_klein_increment(void) {
  example ex;
  char body[256];
  start(&ex, "klein_increment");
  CHECK_INT(get(ex.port, "/41", body, sizeof body), 200);
  CHECK_STR(body, "42");
  CHECK_INT(get(ex.port, "/-1", body, sizeof body), 200);
  CHECK_STR(body, "0");
  CHECK_INT(get(ex.port, "/abc", body, sizeof body), 404);
  CHECK_INT(get(ex.port, "/99999999999999999999", body, sizeof body), 404); /* over int64 */
  CHECK_INT(stop(&ex), 0);
}

/* The slow versions answer after a second, on the real clock. */
static void check_slow(const char *name) {
  example ex;
  char body[256];
  start(&ex, name);
  double t0 = now();
  CHECK_INT(get(ex.port, "/41", body, sizeof body), 200);
  double took = now() - t0;
  CHECK_STR(body, "42");
  CHECK(took >= 0.95 && took < 5.0);
  t0 = now();
  CHECK_INT(get(ex.port, "/abc", body, sizeof body), 404);
  CHECK(now() - t0 < 0.9); /* no match: answered at once */
  if (strcmp(name, "klein_injected") == 0) {
    CHECK_INT(get(ex.port, "/", body, sizeof body), 200);
    CHECK_STR(body, "Hello");
  }
  CHECK_INT(stop(&ex), 0);
}

static void test_klein_later(void) { check_slow("klein_later"); }
static void test_klein_injected_process(void) { check_slow("klein_injected"); }

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_injected_reactor_clock);
  RUN(test_klein_hello);
  RUN(test_klein_increment);
  RUN(test_klein_later);
  RUN(test_klein_injected_process);
  return CHECK_DONE();
}
