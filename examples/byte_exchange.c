/* byte_exchange.c: a client and a server that take turns one byte at a time (chapter 1's
 * ping-pong between two event-driven programs), each logging every byte it receives through
 * weft's structured log (twisted.logger).
 *
 * The client sends 'a', the server answers 'A', the client sends 'b', ... N times. Neither side
 * ever blocks waiting for the other: each only reacts to data_received. Every log event carries
 * fields (side, byte, code, n, count) besides its message; the text observer renders the message,
 * the JSON observer (--json) keeps every field, ready for a machine to filter.
 *
 * Run:
 *   byte_exchange              demo: 10 exchanges on 127.0.0.1 (a free port), logged as text
 *   byte_exchange --count 26   another number of exchanges (1..10000)
 *   byte_exchange --json       the same events as JSON lines */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/errors.h"
#include "weft/tcp.h"
#include "weft/transport.h"

#define LOG_NS "byte_exchange"

typedef struct exchange {
  weft_reactor *r;
  weft_listening_port *port;
  unsigned count;     /* exchanges to make */
  unsigned server_n;  /* bytes the server has received */
  unsigned client_n;  /* bytes the client has received */
  unsigned mismatch;  /* answers that were not the expected byte */
  int open;           /* connections not yet lost */
} exchange;

static unsigned char client_byte(unsigned i) { return (unsigned char)('a' + i % 26); }
static unsigned char server_byte(unsigned i) { return (unsigned char)('A' + i % 26); }

static void log_byte(exchange *x, const char *side, unsigned char b, unsigned n) {
  char s[2] = {(char)b, '\0'};
  weft_log_emit(weft_reactor_log(x->r), WEFT_LOG_INFO, LOG_NS, "{side} received '{byte}' ({n} of {count})",
                WEFT_LOG_STR("side", side), WEFT_LOG_STR("byte", s), WEFT_LOG_UINT("code", b),
                WEFT_LOG_UINT("n", n), WEFT_LOG_UINT("count", x->count), WEFT_LOG_END);
}

static void conn_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  exchange *x = user;
  if (reason != WEFT_REASON_CLEAN)
    weft_log_emit(weft_reactor_log(x->r), WEFT_LOG_ERROR, LOG_NS, "connection lost: {reason}",
                  WEFT_LOG_ERR("reason", reason), WEFT_LOG_END);
  if (--x->open == 0) weft_reactor_stop(x->r);
}

/* ---- the server: answers each byte with one byte ---- */

static void server_data(weft_transport *t, const void *data, size_t len, void *user) {
  exchange *x = user;
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) { /* one at a time is the protocol, but TCP could merge them */
    if (p[i] != client_byte(x->server_n)) x->mismatch++;
    log_byte(x, "server", p[i], ++x->server_n);
    unsigned char answer = server_byte(x->server_n - 1);
    weft_transport_write(t, &answer, 1);
  }
}

static const weft_protocol_callbacks server_callbacks = {
    .data_received = server_data,
    .connection_lost = conn_lost,
};

static int server_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  exchange *x = user;
  /* one connection is all this demo serves */
  weft_listening_port_close(x->port);
  x->port = NULL;
  x->open++;
  *out = (weft_protocol){.cb = &server_callbacks, .user = x};
  return 0;
}

/* ---- the client: sends a byte, waits for the answer, sends the next ---- */

static void client_made(weft_transport *t, void *user) {
  unsigned char b = client_byte(0);
  (void)user;
  weft_transport_write(t, &b, 1);
}

static void client_data(weft_transport *t, const void *data, size_t len, void *user) {
  exchange *x = user;
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    if (p[i] != server_byte(x->client_n)) x->mismatch++;
    log_byte(x, "client", p[i], ++x->client_n);
  }
  if (x->client_n >= x->count) {
    weft_transport_lose_connection(t);
    return;
  }
  unsigned char b = client_byte(x->client_n);
  weft_transport_write(t, &b, 1);
}

static const weft_protocol_callbacks client_callbacks = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = conn_lost,
};

static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  exchange *x = user;
  x->open++;
  *out = (weft_protocol){.cb = &client_callbacks, .user = x};
  return 0;
}

static void client_failed(void *user, int reason) {
  exchange *x = user;
  weft_log_emit(weft_reactor_log(x->r), WEFT_LOG_ERROR, LOG_NS, "cannot connect: {reason}",
                WEFT_LOG_ERR("reason", reason), WEFT_LOG_END);
  if (x->port) weft_listening_port_close(x->port);
  x->port = NULL;
  weft_reactor_stop(x->r);
}

/* ---- main ---- */

static int usage(void) {
  fprintf(stderr, "usage: byte_exchange [--count N] [--json]\n");
  return 2;
}

/* Listens on a free loopback port and connects the client to it; runs until both sides close. */
static int run(exchange *x) {
  weft_factory server_factory = {.build_protocol = server_build, .user = x};
  weft_factory client_factory = {.build_protocol = client_build, .connection_failed = client_failed, .user = x};
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  weft_address where;
  int rc = weft_tcp_listen(&x->port, x->r, 0, &lo, &server_factory);
  if (rc == 0 && (rc = weft_listening_port_address(x->port, &where)) == 0)
    rc = weft_tcp_connect(NULL, x->r, &where, NULL, &client_factory);
  if (rc == 0) weft_reactor_run(x->r);
  if (x->port) weft_listening_port_close(x->port);
  return rc;
}

int main(int argc, char **argv) {
  exchange x = {.count = 10};
  weft_log_observer_fn observer = weft_log_text_observer;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) x.count = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0) observer = weft_log_json_observer;
    else return usage();
  }
  if (x.count < 1 || x.count > 10000) return usage();

  int rc = weft_reactor_new(&x.r, NULL);
  if (rc) {
    fprintf(stderr, "byte_exchange: %s\n", weft_strerror(rc));
    return 1;
  }
  /* route the reactor's log (weft's own events too) to stdout */
  weft_log_add_observer(weft_reactor_log(x.r), WEFT_LOG_INFO, observer, stdout);
  rc = run(&x);
  if (rc) fprintf(stderr, "byte_exchange: %s\n", weft_strerror(rc));
  if (weft_reactor_free(x.r) != 0) fprintf(stderr, "byte_exchange: handles left open\n");
  bool ok = rc == 0 && x.mismatch == 0 && x.server_n == x.count && x.client_n == x.count;
  printf("byte_exchange: %u bytes each way, %s\n", x.client_n, ok ? "all as expected" : "NOT as expected");
  return ok ? 0 : 1;
}
