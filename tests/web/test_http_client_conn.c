/* The HTTP/1.1 client's connection handling over real sockets on loopback (port 0): a request
 * on a reused connection that the server closed is sent once more on a new connection when it is
 * idempotent (a POST is not: it fails, saying why); IPv6 literal URLs against a server on ::1;
 * and an https request cancelled (or timed out) while its TLS handshake runs closes that
 * connection at once. The peers here are small raw protocols, so the server's side is exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/tcp.h"
#include "weft/testing.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void spin(weft_reactor *r, double seconds) {
  double end = now() + seconds;
  do weft_reactor_iterate(r, 0.01);
  while (now() < end);
}

static bool wait_for(weft_reactor *r, weft_deferred *d) {
  double end = now() + 5;
  while (!weft_deferred_called(d) && now() < end) weft_reactor_iterate(r, 0.01);
  return weft_deferred_called(d);
}

/* ---- a raw peer: answers the first request on each connection, closes at the second ---- */

typedef struct peer {
  int accepted, lost, made;
  bool answer; /* false: never answers (a TLS port that never does its handshake) */
  char seen[4][16]; /* the method of each request received, in order */
  int nseen;
} peer;

typedef struct peer_conn {
  peer *p;
  int id, requests;
  char buf[4096];
  size_t len;
} peer_conn;

static void pc_made(weft_transport *t, void *user) {
  (void)t;
  peer_conn *c = user;
  c->p->made++;
}

static void pc_data(weft_transport *t, const void *data, size_t len, void *user) {
  peer_conn *c = user;
  if (!c->p->answer || c->len + len > sizeof c->buf) return;
  memcpy(c->buf + c->len, data, len);
  c->len += len;
  char *end;
  while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4))) { /* one whole head (bodies are short) */
    size_t head = (size_t)(end + 4 - c->buf), body = 0;
    const char *cl = memmem(c->buf, head, "Content-Length: ", 16);
    if (cl) body = (size_t)atoi(cl + 16);
    if (c->len < head + body) return;
    if (c->p->nseen < 4) sscanf(c->buf, "%15s", c->p->seen[c->p->nseen++]);
    memmove(c->buf, c->buf + head + body, c->len - head - body);
    c->len -= head + body;
    if (++c->requests > 1) { /* the second request: the server had given up on the connection */
      weft_transport_lose_connection(t);
      return;
    }
    char out[128];
    int n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nconn%d", c->id);
    weft_transport_write(t, out, (size_t)n);
  }
}

static void pc_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  peer_conn *c = user;
  c->p->lost++;
  free(c);
}

static const weft_protocol_callbacks pc_cb = {.connection_made = pc_made, .data_received = pc_data,
                                              .connection_lost = pc_lost};

static int peer_build(void *user, const weft_address *a, weft_protocol *out) {
  (void)a;
  peer *p = user;
  peer_conn *c = calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  c->p = p;
  c->id = ++p->accepted;
  *out = (weft_protocol){&pc_cb, c};
  return 0;
}

static int listen_on(weft_listening_port **port, weft_reactor *r, const char *iface, const weft_factory *f) {
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = iface;
  int rc = weft_tcp_listen(port, r, 0, &lo, f);
  if (rc) return -rc;
  weft_address a;
  weft_listening_port_address(*port, &a);
  return weft_address_port(&a);
}

/* Sends method url (body may be NULL); returns the body or NULL with the Failure's code and text. */
static char *fetch(weft_reactor *r, weft_http_agent *a, const char *method, const char *url, const char *body, int *code,
                   char *why, size_t n) {
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.body = body;
  o.body_len = body ? strlen(body) : 0;
  weft_deferred *d = weft_http_agent_request(a, method, url, &o);
  REQUIRE(d && wait_for(r, d));
  *code = 0;
  weft_value v;
  if (weft_success_result_of(d, &v, why, n) != 0) {
    weft_deferred_unref(d);
    /* the text is in why; the code is the number after the domain ("weft.http.client/-104") */
    const char *slash = strstr(why, WEFT_HTTP_CLIENT_DOMAIN "/");
    if (slash) *code = atoi(slash + strlen(WEFT_HTTP_CLIENT_DOMAIN) + 1);
    return NULL;
  }
  weft_deferred_unref(d);
  weft_deferred *c = weft_http_response_content(v.v.p, 0);
  REQUIRE(wait_for(r, c));
  weft_value b;
  char *out = NULL;
  if (weft_success_result_of(c, &b, why, n) == 0) {
    out = strdup(((weft_http_bytes *)b.v.p)->data);
    weft_value_release(b);
  }
  weft_deferred_unref(c);
  weft_value_release(v);
  return out;
}

static void test_retry_once_idempotent_only(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  peer p = {.answer = true};
  weft_factory f = {.build_protocol = peer_build, .user = &p};
  weft_listening_port *port;
  int portno = listen_on(&port, r, "127.0.0.1", &f);
  REQUIRE(portno > 0);
  weft_http_agent *a;
  REQUIRE(weft_http_agent_new(&a, r, NULL) == 0);
  char url[96], why[1024];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", portno);
  int code;
  char *body = fetch(r, a, "GET", url, NULL, &code, why, sizeof why);
  CHECK_STR(body, "conn1");
  free(body);
  /* the pooled connection carries the next GET; the server closes it without a byte: the GET
   * goes once more, on a new connection, and the caller never sees the first attempt */
  body = fetch(r, a, "GET", url, NULL, &code, why, sizeof why);
  if (!body) fprintf(stderr, "  %s\n", why);
  CHECK_STR(body, "conn2");
  free(body);
  CHECK_INT(p.accepted, 2);
  CHECK_INT(weft_http_agent_connections_made(a), 2);
  /* a POST is not retried: it may have been acted on; it fails and says so */
  body = fetch(r, a, "POST", url, "x", &code, why, sizeof why);
  CHECK(body == NULL);
  free(body);
  CHECK_INT(code, WEFT_ECONNRESET);
  char want[160];
  snprintf(want, sizeof want, "POST %s: the connection closed before any response", url);
  CHECK(strstr(why, want) != NULL);
  CHECK_INT(p.accepted, 2);
  CHECK_INT(p.nseen, 4);
  CHECK_STR(p.seen[3], "POST"); /* the server saw it once */
  /* the closed connection left the pool: the next request gets a new one */
  body = fetch(r, a, "GET", url, NULL, &code, why, sizeof why);
  CHECK_STR(body, "conn3");
  free(body);
  weft_http_agent_free(a);
  weft_listening_port_close(port);
  spin(r, 0.05);
  CHECK_INT(p.lost, p.accepted);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

/* ---- IPv6 ---- */

static void host_echo(weft_http_request *req, void *user) {
  (void)user;
  size_t hl;
  const char *h = weft_http_request_header(req, "host", &hl);
  weft_http_respond(req, 200, NULL, 0, h, h ? hl : 0);
}

static void test_ipv6_literal(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_http_server *srv;
  REQUIRE(weft_http_server_new(&srv, r, NULL) == 0);
  weft_http_server_set_handler(srv, host_echo, NULL);
  weft_listening_port *port;
  int portno = listen_on(&port, r, "::1", weft_http_server_factory(srv));
  if (portno <= 0) {
    fprintf(stderr, "  skipped: cannot listen on ::1 (no IPv6 here): %s\n", weft_strerror(-portno));
  } else {
    weft_http_agent *a;
    REQUIRE(weft_http_agent_new(&a, r, NULL) == 0);
    char url[96], why[1024], want[64];
    snprintf(url, sizeof url, "http://[::1]:%d/where", portno);
    int code;
    for (int i = 0; i < 2; i++) { /* and the pool keys the address without its brackets */
      char *body = fetch(r, a, "GET", url, NULL, &code, why, sizeof why);
      if (!body) fprintf(stderr, "  %s\n", why);
      snprintf(want, sizeof want, "[::1]:%d", portno); /* Host keeps the brackets */
      CHECK_STR(body, want);
      free(body);
    }
    CHECK_INT(weft_http_agent_connections_made(a), 1);
    weft_http_agent_free(a);
    weft_listening_port_close(port);
  }
  spin(r, 0.05);
  weft_http_server_free(srv);
  spin(r, 0.05);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

/* ---- a TLS handshake cut short ---- */

static void test_cancel_during_tls_handshake(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  peer p = {.answer = false}; /* accepts, reads the ClientHello, never answers it */
  weft_factory f = {.build_protocol = peer_build, .user = &p};
  weft_listening_port *port;
  int portno = listen_on(&port, r, "127.0.0.1", &f);
  REQUIRE(portno > 0);
  weft_http_agent *a;
  REQUIRE(weft_http_agent_new(&a, r, NULL) == 0);
  char url[96];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/", portno);
  weft_deferred *d = weft_http_agent_request(a, "GET", url, NULL);
  double end = now() + 5;
  while (p.made < 1 && now() < end) weft_reactor_iterate(r, 0.01);
  REQUIRE(p.made == 1);
  spin(r, 0.05); /* the handshake is under way */
  CHECK(!weft_deferred_called(d));
  CHECK_INT(weft_http_agent_open_connections(a), 1);
  double t0 = now();
  weft_deferred_cancel(d);
  weft_failure *cf = weft_failure_result_of(d, NULL, WEFT_FAILURE_ANY_CODE, NULL, 0);
  CHECK(cf && weft_failure_code(cf) == WEFT_ECANCELED);
  weft_failure_unref(cf);
  weft_deferred_unref(d);
  /* the connection is closed now, not when the handshake would have ended (never, here) */
  end = now() + 2;
  while (p.lost < 1 && now() < end) weft_reactor_iterate(r, 0.01);
  CHECK_INT(p.lost, 1);
  CHECK(now() - t0 < 0.5);
  CHECK_INT(weft_http_agent_open_connections(a), 0);
  weft_http_agent_free(a);
  /* the connect timeout covers the handshake the same way */
  weft_http_agent_options o;
  weft_http_agent_options_init(&o);
  o.connect_timeout = 0.3;
  REQUIRE(weft_http_agent_new(&a, r, &o) == 0);
  t0 = now();
  d = weft_http_agent_request(a, "GET", url, NULL);
  REQUIRE(wait_for(r, d));
  char why[512];
  weft_failure *tf = weft_failure_result_of(d, WEFT_HTTP_CLIENT_DOMAIN, WEFT_ETIMEDOUT, why, sizeof why);
  if (!tf) fprintf(stderr, "  %s\n", why);
  CHECK(tf && strstr(weft_failure_message(tf), "timed out after 0.3 s") != NULL);
  weft_failure_unref(tf);
  weft_deferred_unref(d);
  end = now() + 2;
  while (p.lost < 2 && now() < end) weft_reactor_iterate(r, 0.01);
  CHECK_INT(p.accepted, 2);
  CHECK_INT(p.lost, 2);
  CHECK(now() - t0 < 1.5);
  weft_http_agent_free(a);
  weft_listening_port_close(port);
  spin(r, 0.05);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_reactor_free(r);
}

int main(void) {
  RUN(test_retry_once_idempotent_only);
  RUN(test_ipv6_literal);
  RUN(test_cancel_during_tls_handshake);
  return CHECK_DONE();
}
