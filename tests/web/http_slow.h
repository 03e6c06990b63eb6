/* http_slow.h: one slowhttptest run against the HTTP/1.1 server while curl, a normal client,
 * asks for /hello in a loop (test_http_robust_slowloris.c, test_http_robust_slowbody.c).
 *
 * The attack: 200 connections opened at 100 a second, each sending its head (slowloris, -H) or
 * its body (slow body, -B) a few bytes a second for 8 s. The server runs with a 4 s request
 * timeout, so it drops each slow connection 4 s after its first byte, and meanwhile keeps serving:
 * slowhttptest's own probe must find it available every second (its CSV), curl must get all of
 * its 40 answers, and the server must have held most of the 200 connections at once (it did not
 * win by refusing them) and closed them at the request timeout. */
#ifndef WEFT_TESTS_WEB_HTTP_SLOW_H
#define WEFT_TESTS_WEB_HTTP_SLOW_H

#include <dirent.h>
#include <sys/stat.h>

#include "web/http_live.h"

#define SLOW_CONNECTIONS 200
#define CURL_REQUESTS 40

typedef struct slow_watch {
  weft_reactor *r;
  weft_http_server *srv;
  weft_delayed_call *dc;
  size_t peak;    /* most connections open at once */
  int timeouts;   /* connections closed at the request timeout */
} slow_watch;

static inline void slow_sample(void *u) {
  slow_watch *w = u;
  size_t n = weft_http_server_connections(w->srv);
  if (n > w->peak) w->peak = n;
  w->dc = weft_reactor_call_later(w->r, 0.05, slow_sample, w);
}

static inline void slow_on_log(const weft_log_event *ev, void *u) {
  slow_watch *w = u;
  char msg[256];
  if (strcmp(ev->ns, "weft.http") != 0) return;
  weft_log_format_message(ev, msg, sizeof msg);
  if (strstr(msg, "request timeout")) w->timeouts++;
}

/* Reads slowhttptest's CSV (Seconds,Closed,Pending,Connected,Service Available): the rows, those
 * where the probe found the service unavailable (last column 0), and the most connections its
 * attack held at once. Returns the number of rows (-1 if unreadable). */
static inline int slow_read_csv(const char *path, int *unavailable, int *max_connected) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  int rows = 0;
  *unavailable = 0;
  *max_connected = 0;
  while (fgets(line, sizeof line, f)) {
    int sec, closed, pending, connected, avail;
    if (sscanf(line, "%d,%d,%d,%d,%d", &sec, &closed, &pending, &connected, &avail) != 5) continue;
    rows++;
    if (avail == 0) (*unavailable)++;
    if (connected > *max_connected) *max_connected = connected;
  }
  fclose(f);
  return rows;
}

/* mode: "-H" (slowloris) or "-B" (slow body); path: what the attack asks for. */
static inline void slow_attack(const char *mode, const char *path) {
  if (access("/usr/bin/slowhttptest", X_OK) != 0) {
    CHECK_FAIL_("no /usr/bin/slowhttptest: scripts/deps installs slowhttptest");
    return;
  }
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.request_timeout = 4;
  o.idle_timeout = 10;
  live_server s;
  live_start(&s, &o);
  slow_watch w = {.r = s.r, .srv = s.srv};
  REQUIRE(weft_log_add_observer(weft_reactor_log(s.r), WEFT_LOG_INFO, slow_on_log, &w) == 0);
  REQUIRE((w.dc = weft_reactor_call_later(s.r, 0.05, slow_sample, &w)));

  char dir[] = "/tmp/weft-slowhttp-XXXXXX";
  REQUIRE(mkdtemp(dir));
  char prefix[64], csv[80], html[80], url[96], hello[96], conns[16];
  snprintf(prefix, sizeof prefix, "%s/run", dir);
  snprintf(csv, sizeof csv, "%s.csv", prefix);
  snprintf(html, sizeof html, "%s.html", prefix);
  snprintf(url, sizeof url, "%s%s", s.base, path);
  snprintf(hello, sizeof hello, "%s/hello", s.base);
  snprintf(conns, sizeof conns, "%d", SLOW_CONNECTIONS);
  const char *attack[] = {"/usr/bin/slowhttptest", mode, "-c", conns, "-r", "100", "-i", "1", "-x", "10", "-s", "8192",
                          "-l", "8", "-p", "2", "-u", url, "-g", "-o", prefix, NULL};
  /* The normal client starts once the attack holds its connections, one request per 100 ms. */
  const char *normal[] = {"/bin/sh", "-c",
                          "sleep 1.5; i=0; while [ $i -lt 40 ]; do curl -sS --max-time 3 \"$0\" || echo FAIL; "
                          "i=$((i+1)); sleep 0.1; done",
                          hello, NULL};
  const char *const *const argvs[] = {attack, normal};
  live_result res[2];
  double t0 = live_now();
  CHECK(live_run_children(s.r, argvs, 2, res, 18));
  double took = live_now() - t0;

  int unavailable = 0, max_connected = 0;
  int rows = slow_read_csv(csv, &unavailable, &max_connected);
  if (rows < 3) CHECK_FAIL_("slowhttptest wrote %d rows of statistics", rows);
  CHECK_INT(unavailable, 0); /* its probe got an answer every second */
  if (max_connected < SLOW_CONNECTIONS * 3 / 4)
    CHECK_FAIL_("the attack held only %d connections at once", max_connected);
  if (res[0].o && !strstr(res[0].o->data, "Exit status:")) CHECK_FAIL_("no summary from slowhttptest:\n%s", res[0].o->data);
  if (res[1].o) {
    int answers = live_count(res[1].o->data, res[1].o->len, "hello\n");
    CHECK_INT(answers, CURL_REQUESTS);
    if (strstr(res[1].o->data, "FAIL")) CHECK_FAIL_("curl failed during the attack: %s", res[1].o->err);
  }
  if (w.peak < SLOW_CONNECTIONS * 3 / 4) CHECK_FAIL_("the server held at most %zu connections", w.peak);
  if (w.timeouts < SLOW_CONNECTIONS / 2) CHECK_FAIL_("only %d connections closed at the request timeout", w.timeouts);
  fprintf(stderr, "  slowhttptest %s: %d s of statistics, attack held up to %d connections (server: %zu), "
                  "%d closed at the request timeout, curl %d/%d, %.1f s\n",
          mode, rows, max_connected, w.peak, w.timeouts,
          res[1].o ? live_count(res[1].o->data, res[1].o->len, "hello\n") : 0, CURL_REQUESTS, took);

  live_result_free(&res[0]);
  live_result_free(&res[1]);
  unlink(csv);
  unlink(html);
  rmdir(dir);
  weft_delayed_call_cancel(w.dc);
  weft_log_remove_observer(weft_reactor_log(s.r), slow_on_log, &w);
  live_stop(&s);
}

#endif
