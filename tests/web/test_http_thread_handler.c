/* test_http_thread_handler.c: blocking handlers on the reactor's thread pool
 * (weft_http_router_add_thread): the snapshot they read, the answer the reactor sends, and a
 * handler sleeping 200 ms that blocks no other request; on real loopback sockets. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/net_util.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/testing.h"
#include "weft/threads.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* On a worker: sleeps <int:ms> milliseconds, then describes what it was given. */
static weft_value sleepy(const weft_http_snapshot *s, void *user) {
  (void)user;
  const char *ms;
  size_t msl, ml, pl, hl, bl;
  if (weft_http_snapshot_param(s, "ms", &ms, &msl) != 0) return weft_failed(weft_failure_from_error(WEFT_EINVAL));
  usleep((useconds_t)(atoi(ms) * 1000));
  const char *m = weft_http_snapshot_method(s, &ml);
  const char *p = weft_http_snapshot_path(s, &pl);
  const char *h = weft_http_snapshot_header(s, "X-Test", &hl);
  const char *b = weft_http_snapshot_body(s, &bl);
  weft_address peer;
  char body[256];
  int n = snprintf(body, sizeof body, "%.*s %.*s h=%.*s b=%.*s v=%d peer=%d", (int)ml, m, (int)pl, p, (int)hl,
                   h ? h : "", (int)bl, b, weft_http_snapshot_version(s), weft_http_snapshot_peer(s, &peer) == 0);
  weft_http_header hs[] = {{"Content-Type", "text/plain"}, {"X-Slept", ms}};
  return weft_http_response_value_headers(200, hs, 2, body, (size_t)n);
}

static weft_value failing(const weft_http_snapshot *s, void *user) {
  (void)s;
  (void)user;
  return weft_failed(weft_failure_from_error(WEFT_EIO));
}

static void fast(weft_http_request *req, const weft_http_match *m, void *user) {
  (void)m;
  (void)user;
  weft_http_respond(req, 200, NULL, 0, "fast", 4);
}

/* A whole response has arrived (client.got is NUL-terminated here: it is far from full). */
static bool complete(client *c) {
  c->got[c->ngot] = '\0';
  const char *end = strstr(c->got, "\r\n\r\n");
  const char *cl = strstr(c->got, "Content-Length: ");
  return end && cl && cl < end && (size_t)(c->got + c->ngot - (end + 4)) >= (size_t)atoi(cl + 16);
}

static void test_sleeping_handler_blocks_nothing(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_log_publisher *log = weft_reactor_log(r);
  weft_logged_errors *errors = weft_logged_errors_capture(log);
  weft_http_server *srv;
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  weft_http_router *rt;
  REQUIRE(weft_http_router_new(&rt) == 0);
  REQUIRE(weft_http_router_add_thread(rt, "POST,GET", "/sleep/<int:ms>", sleepy, NULL) == 0);
  REQUIRE(weft_http_router_add_thread(rt, "GET", "/fail", failing, NULL) == 0);
  REQUIRE(weft_http_router_add(rt, "GET", "/fast", fast, NULL) == 0);
  weft_http_handler_binding b = weft_http_router_handler(rt);
  weft_http_server_set_handler(srv, b.fn, b.user);
  weft_listening_port *lp = listen_local(r, weft_http_server_factory(srv));

  static client slow, quick, gone, bad;
  memset(&slow, 0, sizeof slow);
  memset(&quick, 0, sizeof quick);
  memset(&gone, 0, sizeof gone);
  memset(&bad, 0, sizeof bad);
  slow.send = "POST /sleep/200 HTTP/1.1\r\nHost: l\r\nX-Test: yes\r\nContent-Length: 4\r\n\r\ndata";
  slow.send_len = strlen(slow.send);
  quick.send = "GET /fast HTTP/1.1\r\nHost: l\r\n\r\n";
  quick.send_len = strlen(quick.send);
  gone.send = "GET /sleep/100 HTTP/1.1\r\nHost: l\r\n\r\n";
  gone.send_len = strlen(gone.send);
  bad.send = "GET /fail HTTP/1.1\r\nHost: l\r\n\r\n";
  bad.send_len = strlen(bad.send);
  double t0 = now();
  dial(r, lp, &slow);
  dial(r, lp, &gone);
  for (int i = 0; i < 100 && !(slow.made && gone.made); i++) weft_reactor_iterate(r, 0.005);
  weft_threadpool_stats st;
  for (int i = 0; i < 100; i++) { /* both jobs on workers */
    weft_threadpool_stats_get(r, &st);
    if (st.busy + st.completed >= 2) break;
    weft_reactor_iterate(r, 0.005);
  }
  if (gone.t) weft_transport_abort_connection(gone.t); /* its client leaves mid-job */
  dial(r, lp, &quick);
  double t_quick = 0, t_slow = 0;
  for (int i = 0; i < 400 && !(t_quick && t_slow); i++) {
    weft_reactor_iterate(r, 0.005);
    if (!t_quick && complete(&quick)) t_quick = now() - t0;
    if (!t_slow && complete(&slow)) t_slow = now() - t0;
  }
  CHECK(t_quick > 0 && t_slow > 0);
  CHECK(t_quick < t_slow); /* answered while the worker slept */
  CHECK(t_quick < 0.15);
  CHECK(t_slow >= 0.19);
  slow.got[slow.ngot < sizeof slow.got ? slow.ngot : sizeof slow.got - 1] = '\0';
  CHECK(strstr(slow.got, "\r\nX-Slept: 200\r\n") != NULL);
  CHECK(strstr(slow.got, "\r\n\r\nPOST /sleep/200 h=yes b=data v=11 peer=1") != NULL);

  /* A Failure: 500, logged with the request, never sent. */
  dial(r, lp, &bad);
  for (int i = 0; i < 200 && !complete(&bad); i++) weft_reactor_iterate(r, 0.005);
  CHECK(strncmp(bad.got, "HTTP/1.1 500 ", 13) == 0);
  CHECK_INT(weft_logged_errors_flush(errors, "GET /fail"), 1);

  /* The abandoned job still ends, and nothing of its request is left. */
  for (int i = 0; i < 200; i++) {
    weft_threadpool_stats_get(r, &st);
    if (st.completed >= 3 && st.busy == 0) break;
    weft_reactor_iterate(r, 0.005);
  }
  CHECK_INT(st.completed, 3);
  if (slow.t) weft_transport_lose_connection(slow.t);
  if (quick.t) weft_transport_lose_connection(quick.t);
  if (bad.t) weft_transport_lose_connection(bad.t);
  for (int i = 0; i < 200 && weft_http_server_connections(srv) > 0; i++) weft_reactor_iterate(r, 0.005);
  CHECK_INT(weft_http_server_connections(srv), 0);
  CHECK_INT(weft_logged_errors_count(errors), 0);
  weft_listening_port_close(lp);
  weft_http_server_free(srv);
  weft_http_router_free(rt);
  weft_threadpool_stop(r);
  weft_logged_errors_free(errors);
  close_reactor(r);
}

int main(void) {
  RUN(test_sleeping_handler_blocks_nothing);
  return CHECK_DONE();
}
