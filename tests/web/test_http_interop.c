/* test_http_interop.c: the HTTP/1.1 server (include/weft/http.h) against clients we did not
 * write, on loopback: curl (keep-alive across URLs, chunked, HEAD, 100-continue, HTTP/1.0),
 * Python's http.client and Twisted's Agent (tests/web/http_interop_peers.py), and ab with
 * keep-alive. The server runs in this process; each client is a child process started on the
 * same reactor (weft_get_process_output), so the server keeps serving while the client runs.
 * Every child has a deadline. The peers come from scripts/deps (BASE). */
#include <sys/stat.h>

#include "web/http_live.h"

#define PYTHON "/usr/bin/python3"
#define PEERS WEFT_SOURCE_DIR "/tests/web/http_interop_peers.py"

static bool have(const char *path) { return access(path, X_OK) == 0; }

/* The body after the head in curl -D - output (the last head: a 100 Continue comes first). */
static const char *body_of(const char *out) {
  const char *b = out, *p;
  while ((p = strstr(b, "\r\n\r\n")) && strncmp(b, "HTTP/1.1 100", 12) == 0) b = p + 4;
  p = strstr(b, "\r\n\r\n");
  return p ? p + 4 : "";
}

/* ---- curl ---- */

static void test_curl_keep_alive_across_urls(void) {
  live_server s;
  live_start(&s, NULL);
  char u1[96], u2[96];
  snprintf(u1, sizeof u1, "%s/hello", s.base);
  snprintf(u2, sizeof u2, "%s/stream?3,100", s.base);
  const char *argv[] = {"curl", "-sS", "-v", "--max-time", "10", u1, u2, NULL};
  live_result res;
  CHECK(live_run(s.r, argv, &res, 15));
  if (res.o) {
    /* one connection for both URLs, as curl says and as the server saw */
    CHECK(strstr(res.o->err, "Re-using existing connection") != NULL);
    CHECK_INT(res.o->len, 6 + 300);
    CHECK(strncmp(res.o->data, "hello\n", 6) == 0 && live_pattern_ok(res.o->data + 6, 300, 0));
    CHECK(strstr(res.o->err, "< Transfer-Encoding: chunked") != NULL);
  }
  CHECK_INT(s.app.requests, 2);
  CHECK_INT(s.app.nports, 1);
  live_result_free(&res);
  live_stop(&s);
}

static void test_curl_chunked_response(void) {
  live_server s;
  live_start(&s, NULL);
  char u[96];
  snprintf(u, sizeof u, "%s/stream?64,10000", s.base); /* 640 000 bytes over 64 turns */
  const char *argv[] = {"curl", "-sS", "-D", "-", "--max-time", "10", u, NULL};
  live_result res;
  CHECK(live_run(s.r, argv, &res, 15));
  if (res.o) {
    CHECK(strncmp(res.o->data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(res.o->data, "\r\nTransfer-Encoding: chunked\r\n") != NULL);
    CHECK(strstr(res.o->data, "Content-Length") == NULL);
    const char *b = body_of(res.o->data);
    size_t n = res.o->len - (size_t)(b - res.o->data);
    CHECK_INT(n, 640000);
    CHECK(live_pattern_ok(b, n, 0));
  }
  live_result_free(&res);
  live_stop(&s);
}

static void test_curl_head(void) {
  live_server s;
  live_start(&s, NULL);
  char u1[96], u2[96];
  snprintf(u1, sizeof u1, "%s/hello", s.base);
  snprintf(u2, sizeof u2, "%s/stream?4,1000", s.base);
  /* Two HEADs on one connection: if the server sent a body after either head, curl would take it
   * as the start of the next response (or complain about excess data) */
  const char *argv[] = {"curl", "-sS", "-v", "-I", "--max-time", "5", u1, u2, NULL};
  double t0 = live_now();
  live_result res;
  CHECK(live_run(s.r, argv, &res, 10));
  CHECK(live_now() - t0 < 4);
  if (res.o) {
    CHECK(strncmp(res.o->data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(res.o->data, "\r\nContent-Length: 6\r\n") != NULL); /* the length a GET gets */
    CHECK_INT(live_count(res.o->data, res.o->len, "HTTP/1.1 200 OK\r\n"), 2);
    CHECK(strstr(res.o->data, "hello") == NULL);
    CHECK(strstr(res.o->data, "abcd") == NULL);
    CHECK(strstr(res.o->err, "Re-using existing connection") != NULL);
    CHECK(strstr(res.o->err, "Excess") == NULL);
  }
  CHECK_INT(s.app.requests, 2);
  CHECK_INT(s.app.nports, 1);
  live_result_free(&res);
  live_stop(&s);
}

static void test_curl_100_continue(void) {
  live_server s;
  live_start(&s, NULL);
  char path[] = "/tmp/weft-interop-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  static char body[5000];
  for (size_t i = 0; i < sizeof body; i++) body[i] = live_pattern(i * 7);
  REQUIRE(write(fd, body, sizeof body) == (ssize_t)sizeof body);
  close(fd);
  char u[96], data[64];
  snprintf(u, sizeof u, "%s/echo", s.base);
  snprintf(data, sizeof data, "@%s", path);
  /* curl waits up to --expect100-timeout for the 100 before it sends the body anyway: with 8 s,
   * a server that does not invite the body makes this run take 8 s. */
  const char *argv[] = {"curl", "-sS", "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "8",
                        "--data-binary", data, "--max-time", "15", u, NULL};
  double t0 = live_now();
  live_result res;
  CHECK(live_run(s.r, argv, &res, 20));
  double took = live_now() - t0;
  CHECK(took < 4);
  if (res.o) {
    CHECK(strstr(res.o->err, "> Expect: 100-continue") != NULL);
    CHECK(strstr(res.o->err, "< HTTP/1.1 100 Continue") != NULL);
    CHECK(strstr(res.o->err, "< X-Method: POST") != NULL);
    CHECK_MEM(res.o->data, res.o->len, body, sizeof body);
  }
  unlink(path);
  live_result_free(&res);
  live_stop(&s);
}

static void test_curl_http10(void) {
  live_server s;
  live_start(&s, NULL);
  char u1[96], u2[96];
  snprintf(u1, sizeof u1, "%s/hello", s.base);
  snprintf(u2, sizeof u2, "%s/stream?4,1000", s.base);
  const char *argv[] = {"curl", "-sS", "-D", "-", "--http1.0", "--max-time", "10", u1, NULL};
  live_result res;
  CHECK(live_run(s.r, argv, &res, 15));
  if (res.o) {
    CHECK(strncmp(res.o->data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(res.o->data, "\r\nConnection: close\r\n") != NULL);
    CHECK(strstr(res.o->data, "\r\nContent-Length: 6\r\n") != NULL);
    CHECK_STR(body_of(res.o->data), "hello\n");
  }
  live_result_free(&res);
  /* A streamed body to HTTP/1.0: no chunks (1.0 has none), delimited by the close. */
  const char *argv2[] = {"curl", "-sS", "-D", "-", "--http1.0", "--max-time", "10", u2, NULL};
  CHECK(live_run(s.r, argv2, &res, 15));
  if (res.o) {
    CHECK(strncmp(res.o->data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(res.o->data, "Transfer-Encoding") == NULL);
    CHECK(strstr(res.o->data, "Content-Length") == NULL);
    const char *b = body_of(res.o->data);
    size_t n = res.o->len - (size_t)(b - res.o->data);
    CHECK_INT(n, 4000);
    CHECK(live_pattern_ok(b, n, 0));
  }
  CHECK_INT(s.app.nports, 2);
  live_result_free(&res);
  live_stop(&s);
}

/* ---- Python: http.client, Twisted's Agent ---- */

static void run_peer(const char *mode, int want_requests) {
  if (!have(PYTHON)) {
    CHECK_FAIL_("no %s: scripts/deps installs python3", PYTHON);
    return;
  }
  live_server s;
  live_start(&s, NULL);
  char port[16], want[64];
  snprintf(port, sizeof port, "%d", s.portno);
  snprintf(want, sizeof want, "%s ok", mode);
  const char *argv[] = {PYTHON, PEERS, mode, port, NULL};
  live_result res;
  CHECK(live_run(s.r, argv, &res, 20));
  if (res.o && strncmp(res.o->data, want, strlen(want)) != 0)
    CHECK_FAIL_("%s: %s%s", mode, res.o->data, res.o->err);
  CHECK_INT(s.app.requests, want_requests);
  CHECK_INT(s.app.nports, 1); /* keep-alive: every request on one connection */
  live_result_free(&res);
  live_stop(&s);
}

static void test_python_http_client(void) { run_peer("httpclient", 7); }
static void test_twisted_agent(void) { run_peer("twisted", 3); }

/* ---- ab ---- */

/* The number after `label` in ab's report, or -1. */
static long ab_field(const char *report, const char *label) {
  const char *p = strstr(report, label);
  return p ? strtol(p + strlen(label), NULL, 10) : -1;
}

static void test_ab_keep_alive(void) {
  if (!have("/usr/bin/ab")) {
    CHECK_FAIL_("no /usr/bin/ab: scripts/deps installs apache2-utils");
    return;
  }
  live_server s;
  live_start(&s, NULL);
  char u[96];
  snprintf(u, sizeof u, "%s/hello", s.base);
  const char *argv[] = {"/usr/bin/ab", "-k", "-n", "2000", "-c", "8", "-s", "10", "-q", u, NULL};
  live_result res;
  CHECK(live_run(s.r, argv, &res, 20));
  if (res.o) {
    CHECK_INT(ab_field(res.o->data, "Complete requests:"), 2000);
    CHECK_INT(ab_field(res.o->data, "Failed requests:"), 0);
    CHECK_INT(ab_field(res.o->data, "Keep-Alive requests:"), 2000);
    CHECK_INT(ab_field(res.o->data, "Document Length:"), 6);
    CHECK(strstr(res.o->data, "Non-2xx responses") == NULL);
    if (ab_field(res.o->data, "Failed requests:") != 0) fprintf(stderr, "%s\n", res.o->data);
  }
  CHECK_INT(s.app.requests, 2000);
  CHECK(s.app.nports >= 1 && s.app.nports <= 8); /* at most ab's concurrency in connections */
  live_result_free(&res);
  live_stop(&s);
}

int main(void) {
  RUN(test_curl_keep_alive_across_urls);
  RUN(test_curl_chunked_response);
  RUN(test_curl_head);
  RUN(test_curl_100_continue);
  RUN(test_curl_http10);
  RUN(test_python_http_client);
  RUN(test_twisted_agent);
  RUN(test_ab_keep_alive);
  return CHECK_DONE();
}
