/* Tests examples/: runs each example program's demo (chapters 1 and 2, the process runner, the
 * connection race, TLS echo and STARTTLS) as a child process and checks its output (the
 * programs' own exit codes also say whether their demo went as planned). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

#define OUT_MAX (64 * 1024)
#define RUN_TIMEOUT 10.0 /* seconds; every demo takes well under one */

typedef struct result {
  int status; /* exit code, or -1 if killed or not run */
  char out[OUT_MAX];
  size_t len;
} result;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the child's stdout until EOF or the deadline; true at EOF. */
static bool read_all(int fd, result *res, double deadline) {
  for (;;) {
    int left = (int)((deadline - now()) * 1000);
    if (left <= 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return got == 0;
    size_t keep = (size_t)got < OUT_MAX - 1 - res->len ? (size_t)got : OUT_MAX - 1 - res->len;
    memcpy(res->out + res->len, buf, keep);
    res->len += keep;
    res->out[res->len] = '\0';
  }
}

/* Waits for pid until the deadline; kills it (SIGKILL) if it is still running then. */
static int reap(pid_t pid, double deadline) {
  int st;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (w < 0 && errno != EINTR) return -1;
    if (now() >= deadline) {
      fprintf(stderr, "example %d did not finish in time: killed\n", (int)pid);
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    struct timespec ts = {.tv_nsec = 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/* Runs build/examples/<name> with args (NULL-terminated), stdout captured, stderr inherited. */
static void run_example(result *res, const char *name, const char *const *args) {
  char path[1024];
  snprintf(path, sizeof path, "%s/examples/%s", WEFT_BINARY_DIR, name);
  memset(res, 0, sizeof *res);
  res->status = -1;
  REQUIRE(access(path, X_OK) == 0); /* built by `cmake --build`, with everything else */
  char *argv[16] = {(char *)name};
  for (int i = 0; args && args[i] && i < 14; i++) argv[i + 1] = (char *)args[i];
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  REQUIRE(rc == 0);
  double deadline = now() + RUN_TIMEOUT;
  if (!read_all(fds[0], res, deadline)) fprintf(stderr, "%s: output not finished in time\n", name);
  close(fds[0]);
  res->status = reap(pid, deadline);
}

/* The line after *pos that starts with prefix (after any log prefix "... [ns#level] "), or NULL;
 * *pos moves past it, so successive calls check that lines come in order. */
static const char *next_line(const char **pos, const char *prefix) {
  const char *p = *pos;
  while (*p) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    const char *text = p;
    const char *tag = memchr(p, ']', len);
    if (tag && tag + 2 <= p + len && tag[1] == ' ' && memchr(p, '[', (size_t)(tag - p))) text = tag + 2;
    if (strncmp(text, prefix, strlen(prefix)) == 0) {
      *pos = eol ? eol + 1 : p + len;
      return text;
    }
    p = eol ? eol + 1 : p + len;
  }
  return NULL;
}

static int count_lines(const char *out, const char *prefix) {
  int n = 0;
  while (next_line(&out, prefix)) n++;
  return n;
}

static result res; /* big: not on the stack */

static const char *echo_lines[] = {"hello, world", "one line at a time", "goodbye"};

static void check_echo(const char *name) {
  run_example(&res, name, NULL);
  CHECK_INT(res.status, 0);
  const char *pos = res.out;
  char want[128];
  for (size_t i = 0; i < sizeof echo_lines / sizeof echo_lines[0]; i++) {
    snprintf(want, sizeof want, "client sent: %s\n", echo_lines[i]);
    CHECK(next_line(&pos, want) != NULL);
    snprintf(want, sizeof want, "client got back: %s\n", echo_lines[i]);
    CHECK(next_line(&pos, want) != NULL);
  }
  CHECK(strstr(res.out, "3 of 3 lines echoed") != NULL);
}

static void test_select_echo(void) { check_echo("select_echo"); }
static void test_reactor_echo(void) { check_echo("reactor_echo"); }

static void check_bytes(unsigned count) {
  const char *pos = res.out;
  char want[128];
  for (unsigned i = 0; i < count; i++) {
    snprintf(want, sizeof want, "server received '%c' (%u of %u)\n", 'a' + i % 26, i + 1, count);
    CHECK(next_line(&pos, want) != NULL);
    snprintf(want, sizeof want, "client received '%c' (%u of %u)\n", 'A' + i % 26, i + 1, count);
    CHECK(next_line(&pos, want) != NULL);
  }
  CHECK_INT(count_lines(res.out, "server received"), count);
  CHECK_INT(count_lines(res.out, "client received"), count);
}

static void test_byte_exchange(void) {
  run_example(&res, "byte_exchange", NULL);
  CHECK_INT(res.status, 0);
  check_bytes(10);
  /* the log lines are the text observer's: time, then [namespace#level] */
  CHECK(strstr(res.out, "Z [byte_exchange#info] server received 'a' (1 of 10)\n") != NULL);
  CHECK(strstr(res.out, "10 bytes each way, all as expected") != NULL);

  run_example(&res, "byte_exchange", (const char *[]){"--count", "30", NULL});
  CHECK_INT(res.status, 0);
  check_bytes(30);
}

static void test_byte_exchange_json(void) {
  run_example(&res, "byte_exchange", (const char *[]){"--json", "--count", "2", NULL});
  CHECK_INT(res.status, 0);
  /* the fields travel with the event */
  CHECK(strstr(res.out, "\"side\":\"server\",\"byte\":\"a\",\"code\":97,\"n\":1,\"count\":2") != NULL);
  CHECK(strstr(res.out, "\"side\":\"client\",\"byte\":\"B\",\"code\":66,\"n\":2,\"count\":2") != NULL);
}

/* The count of tick n, or -1 if the ticks are not 1..n in order. */
static long tick_count(int n) {
  const char *pos = res.out, *line = NULL;
  char want[32];
  for (int i = 1; i <= n; i++) {
    snprintf(want, sizeof want, "tick %d (count ", i);
    if (!(line = next_line(&pos, want))) return -1;
  }
  return strtol(line + strlen(want), NULL, 10);
}

static void test_ticker(void) {
  double start = now();
  run_example(&res, "ticker", NULL);
  double took = now() - start;
  CHECK_INT(res.status, 0);
  for (int i = 1; i <= 5; i++) CHECK(tick_count(i) >= 1);
  CHECK_INT(count_lines(res.out, "tick "), 5);
  CHECK(took >= 0.19); /* four intervals of 0.05 s between five ticks */
  CHECK(strstr(res.out, "ticker: 5 ticks over ") != NULL);
}

static void test_ticker_slow(void) {
  run_example(&res, "ticker", (const char *[]){"--slow", "3", NULL});
  CHECK_INT(res.status, 0);
  CHECK(strstr(res.out, "tick 3 is slow") != NULL);
  CHECK(tick_count(4) >= 2); /* tick 3 blocked for 2.5 intervals: tick 4 knows it is late */
  CHECK(tick_count(5) >= 1);
}

static void test_producer_consumer(void) {
  run_example(&res, "producer_consumer", NULL);
  CHECK_INT(res.status, 0);
  const char *pos = res.out;
  CHECK(next_line(&pos, "producer: paused with ") != NULL);
  CHECK(next_line(&pos, "producer: resumed with ") != NULL);
  CHECK(strstr(res.out, "producer: all 8388608 bytes written; paused ") != NULL);
  CHECK(strstr(res.out, "client: received 8388608 of 8388608 bytes in ") != NULL);
  CHECK(strstr(res.out, ", all intact\n") != NULL);
  /* the queue stayed near the high-water mark (256 KiB plus one chunk), never the whole 8 MiB */
  const char *most = strstr(res.out, "at most ");
  CHECK(most && strtol(most + 8, NULL, 10) <= 512 * 1024);
}

static void test_bad_arguments(void) {
  const char *names[] = {"select_echo", "reactor_echo", "byte_exchange", "ticker", "producer_consumer",
                         "tls_echo",    "starttls"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    run_example(&res, names[i], (const char *[]){"--no-such-option", NULL});
    CHECK_INT(res.status, 2);
  }
}

/* Chapter 2: the programs print exactly these lines. */
static void check_output(const char *name, const char *want) {
  run_example(&res, name, NULL);
  CHECK_INT(res.status, 0);
  if (strcmp(res.out, want) != 0) {
    CHECK_FAIL_("%s printed:\n%s\nexpected:\n%s", name, res.out, want);
  }
}

static void test_deferred_chain(void) {
  check_output("deferred_chain",
               "chain with divisor 5:\n"
               "  add 5: 10 -> 15\n"
               "  divide by 5: 15 -> 3\n"
               "  multiply by 3: 3 -> 9\n"
               "  final result: 9\n"
               "chain with divisor 0:\n"
               "  add 5: 10 -> 15\n"
               "  divide by 0: failed\n"
               "  recover: \"division by zero\" -> 0\n"
               "  multiply by 3: 0 -> 0\n"
               "  final result: 0\n");
}

static void test_deferred_nesting(void) {
  check_output("deferred_nesting",
               "firing outer\n"
               "outer callback 1 got \"start\"; returns the inner Deferred\n"
               "outer is paused, waiting on inner\n"
               "firing inner\n"
               "inner callback got \"inner value\", returns \"INNER VALUE\"\n"
               "outer callback 2 got \"INNER VALUE\"\n"
               "outer is done\n");
}

static void test_deferred_trap(void) {
  check_output("deferred_trap",
               "fetch missing.txt\n"
               "  except not found: missing.txt: not found -> empty file\n"
               "  result: \"\"\n"
               "fetch secret.txt\n"
               "  except forbidden: secret.txt: forbidden -> asking for a password\n"
               "  result: \"password?\"\n"
               "fetch broken.txt\n"
               "  not handled: broken.txt: disk on fire\n");
}

static void test_coro_client(void) {
  check_output("coro_client",
               "connected\n"
               "sent: hello\n"
               "got:  HELLO\n"
               "sent: coroutines read\n"
               "got:  COROUTINES READ\n"
               "sent: like straight-line code\n"
               "got:  LIKE STRAIGHT-LINE CODE\n"
               "closed (success)\n");
}

static void test_concurrent_fetch(void) {
  check_output("concurrent_fetch",
               "with await: both started\n"
               "  quick page arrived\n"
               "  slow page arrived\n"
               "  awaited the slow one: slow page\n"
               "  awaited the quick one: quick page (no wait)\n"
               "with deferred_list: both started\n"
               "  quick page arrived\n"
               "  slow page arrived\n"
               "  list fired: [0] slow page, [1] quick page\n");
}

/* process_lines: each stream's lines in order (the two streams may interleave), then the end. */
static void test_process_lines(void) {
  run_example(&res, "process_lines", NULL);
  CHECK_INT(res.status, 0);
  const char *pos = res.out;
  CHECK(next_line(&pos, "started child ") != NULL);
  const char *out_lines[] = {"out 1: hello from the child\n", "out 2: split line\n", "out 3: third line\n",
                             "out 4: no newline at the end\n"};
  for (size_t i = 0; i < sizeof out_lines / sizeof out_lines[0]; i++) CHECK(next_line(&pos, out_lines[i]) != NULL);
  pos = res.out;
  CHECK(next_line(&pos, "err 1: a warning\n") != NULL);
  CHECK_INT(count_lines(res.out, "out "), 4);
  CHECK_INT(count_lines(res.out, "err "), 1);
  /* the summary comes last: after the child is reaped and both pipes are closed */
  const char *end = "process ended: exited with code 3 (4 lines on stdout, 1 on stderr)\n";
  CHECK(res.len >= strlen(end) && strcmp(res.out + res.len - strlen(end), end) == 0);

  run_example(&res, "process_lines", (const char *[]){"--", "sh", "-c", "echo one; kill -TERM $$", NULL});
  CHECK_INT(res.status, 128 + SIGTERM);
  CHECK(strstr(res.out, "out 1: one\n") != NULL);
  CHECK(strstr(res.out, "process ended: killed by signal 15 (1 lines on stdout, 0 on stderr)\n") != NULL);

  run_example(&res, "process_lines",
              (const char *[]){"--timeout", "0.2", "--", "sh", "-c", "echo waiting; exec sleep 10", NULL});
  CHECK_INT(res.status, 128 + SIGTERM);
  const char *t = res.out;
  CHECK(next_line(&t, "out 1: waiting\n") != NULL);
  CHECK(next_line(&t, "timeout: sending SIGTERM\n") != NULL);
  CHECK(next_line(&t, "process ended: killed by signal 15") != NULL);

  run_example(&res, "process_lines", (const char *[]){"--", "/no/such/program", NULL});
  CHECK_INT(res.status, 127);
  run_example(&res, "process_lines", (const char *[]){"--no-such-option", NULL});
  CHECK_INT(res.status, 2);
}

/* Happy Eyeballs: ::1 and 127.0.0.2 are refused (each refusal starts the next attempt at once),
 * 127.0.0.1 wins and only its connection reaches the client's protocol. */
static void test_race_connect(void) {
  run_example(&res, "race_connect", NULL);
  CHECK_INT(res.status, 0);
  const char *pos = res.out;
  CHECK(next_line(&pos, "race.example resolves to ::1, 127.0.0.2, 127.0.0.1\n") != NULL);
  CHECK(next_line(&pos, "attempt 1: ::1 started\n") != NULL);
  CHECK(next_line(&pos, "attempt 1: ::1 failed (") != NULL); /* refused, or no IPv6 here */
  CHECK(next_line(&pos, "attempt 2: 127.0.0.2 started\n") != NULL);
  CHECK(next_line(&pos, "attempt 2: 127.0.0.2 failed (connection refused)\n") != NULL);
  CHECK(next_line(&pos, "attempt 3: 127.0.0.1 started\n") != NULL);
  CHECK(next_line(&pos, "attempt 3: 127.0.0.1 won\n") != NULL);
  CHECK(next_line(&pos, "connected to race.example\n") != NULL);
  CHECK(next_line(&pos, "the server says: hello from the server on 127.0.0.1\n") != NULL);
  CHECK_INT(count_lines(res.out, "attempt "), 6); /* three starts, two failures, one win */

  run_example(&res, "race_connect", (const char *[]){"--no-such-option", NULL});
  CHECK_INT(res.status, 2);
}

/* tls_echo: both clients verify the generated certificate, get every line back over TLS 1.3 and
 * close cleanly; only client 2 offered ALPN, and only its connection negotiated it. */
static void test_tls_echo(void) {
  run_example(&res, "tls_echo", NULL);
  CHECK_INT(res.status, 0);
  for (int id = 1; id <= 2; id++) {
    const char *pos = res.out;
    char want[128];
    snprintf(want, sizeof want, "client %d: connected with TLSv1.3, ALPN %s, server certificate verified (CN=localhost)\n",
             id, id == 1 ? "(none)" : "weft-echo");
    CHECK(next_line(&pos, want) != NULL);
    for (size_t i = 0; i < 3; i++) {
      const char *lines[] = {"hello over TLS", "the protocol sees plaintext", "goodbye"};
      snprintf(want, sizeof want, "client %d sent: %s\n", id, lines[i]);
      CHECK(next_line(&pos, want) != NULL);
      snprintf(want, sizeof want, "client %d got back: %s\n", id, lines[i]);
      CHECK(next_line(&pos, want) != NULL);
    }
    snprintf(want, sizeof want, "client %d: closed (clean)\n", id);
    CHECK(next_line(&pos, want) != NULL);
  }
  const char *pos = res.out;
  CHECK(next_line(&pos, "server: handshake done: TLSv1.3, ALPN (none), SNI (none)\n") != NULL);
  CHECK(next_line(&pos, "server: handshake done: TLSv1.3, ALPN weft-echo, SNI localhost\n") != NULL);
  CHECK_INT(count_lines(res.out, "server: connection closed (clean)\n"), 2);
  CHECK(strstr(res.out, "tls_echo: 6 of 6 lines echoed over TLS\n") != NULL);
}

/* starttls: the same line protocol before and after the upgrade; the (plain)/(TLS) marks come
 * from weft_tls_is on the transport each line arrived on. */
static void test_starttls(void) {
  run_example(&res, "starttls", NULL);
  CHECK_INT(res.status, 0);
  const char *transcript[] = {
      "C->S (plain) EHLO client.example\n",
      "S->C (plain) 250 hello client.example\n",
      "C->S (plain) AUTH hunter2\n",
      "S->C (plain) 530 send STARTTLS first\n",
      "C->S (plain) STARTTLS\n",
      "S->C (plain) READY\n",
      "client: TLS handshake done (TLSv1.3), server certificate verified (CN=localhost)\n",
      "C->S (TLS)   AUTH hunter2\n",
      "S->C (TLS)   235 authenticated\n",
      "C->S (TLS)   QUIT\n",
      "S->C (TLS)   221 bye\n",
  };
  const char *pos = res.out;
  for (size_t i = 0; i < sizeof transcript / sizeof transcript[0]; i++) {
    if (!next_line(&pos, transcript[i])) CHECK_FAIL_("missing in order: %s", transcript[i]);
  }
  pos = res.out;
  CHECK(next_line(&pos, "server: switching this connection to TLS\n") != NULL);
  CHECK(next_line(&pos, "server: TLS handshake done (TLSv1.3)\n") != NULL);
  CHECK(next_line(&pos, "C->S (TLS)   AUTH hunter2\n") != NULL); /* nothing encrypted before the handshake */
  CHECK_INT(count_lines(res.out, "C->S (plain)"), 3);
  CHECK_INT(count_lines(res.out, "C->S (TLS)"), 2);
  CHECK(strstr(res.out, "server: connection closed (clean)\n") != NULL);
  CHECK(strstr(res.out, "client: connection closed (clean)\n") != NULL);
  CHECK(strstr(res.out, "starttls: 6 lines in plaintext, 4 over TLS\n") != NULL);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_select_echo);
  RUN(test_reactor_echo);
  RUN(test_byte_exchange);
  RUN(test_byte_exchange_json);
  RUN(test_ticker);
  RUN(test_ticker_slow);
  RUN(test_producer_consumer);
  RUN(test_bad_arguments);
  RUN(test_deferred_chain);
  RUN(test_deferred_nesting);
  RUN(test_deferred_trap);
  RUN(test_coro_client);
  RUN(test_concurrent_fetch);
  RUN(test_process_lines);
  RUN(test_race_connect);
  RUN(test_tls_echo);
  RUN(test_starttls);
  return CHECK_DONE();
}
