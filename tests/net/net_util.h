/* net_util.h: helpers shared by the socket tests: an echo factory, a recording client protocol,
 * and a bounded "turn the reactor until" loop. Header-only, static. */
#ifndef WEFT_TESTS_NET_UTIL_H
#define WEFT_TESTS_NET_UTIL_H

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/reactor.h"
#include "weft/tcp.h"
#include "weft/transport.h"

/* Turns r until *flag is true or `seconds` of real time pass. Returns *flag. */
static inline bool turn_until(weft_reactor *r, const bool *flag, double seconds) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!*flag) {
    weft_reactor_iterate(r, 0.01);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 > seconds) break;
  }
  return *flag;
}

/* Turns r until it has no open handle left (bounded), then frees it and checks both. */
static inline void close_reactor(weft_reactor *r) {
  for (int i = 0; i < 200 && weft_reactor_open_handles(r) > 0; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* ---- echo server ---- */

typedef struct echo_server {
  int made, lost;
  int last_reason;
} echo_server;

static void echo_made(weft_transport *t, void *u) {
  (void)t;
  ((echo_server *)u)->made++;
}
static void echo_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)u;
  weft_transport_write(t, d, n);
}
static void echo_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  ((echo_server *)u)->lost++;
  ((echo_server *)u)->last_reason = reason;
}
static const weft_protocol_callbacks echo_callbacks = {
    .connection_made = echo_made, .data_received = echo_data, .connection_lost = echo_lost};
static int echo_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &echo_callbacks;
  out->user = u; /* all connections share the counters */
  return 0;
}
static inline weft_factory echo_factory(echo_server *s) {
  return (weft_factory){.build_protocol = echo_build, .user = s};
}

/* ---- recording client: sends `send` on connect, collects what comes back ---- */

typedef struct client {
  const char *send;
  size_t send_len;
  char got[1 << 16];
  size_t ngot;
  size_t close_after; /* lose_connection once this many bytes came back (0: never) */
  bool made, lost, failed, half_closed;
  int reason;
  weft_transport *t;
  weft_factory factory; /* set by dial: the factory must outlive the attempt */
} client;

static void cl_made(weft_transport *t, void *u) {
  client *c = u;
  c->made = true;
  c->t = t;
  if (c->send_len) weft_transport_write(t, c->send, c->send_len);
}
static void cl_data(weft_transport *t, const void *d, size_t n, void *u) {
  client *c = u;
  size_t k = n < sizeof c->got - c->ngot ? n : sizeof c->got - c->ngot;
  memcpy(c->got + c->ngot, d, k);
  c->ngot += k;
  if (c->close_after && c->ngot >= c->close_after) weft_transport_lose_connection(t);
}
static void cl_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  client *c = u;
  c->lost = true;
  c->reason = reason;
  c->t = NULL;
}
static const weft_protocol_callbacks client_callbacks = {
    .connection_made = cl_made, .data_received = cl_data, .connection_lost = cl_lost};
static int cl_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &client_callbacks;
  out->user = u;
  return 0;
}
static void cl_failed(void *u, int reason) {
  client *c = u;
  c->failed = true;
  c->reason = reason;
}
static inline weft_factory client_factory(client *c) {
  return (weft_factory){.build_protocol = cl_build, .connection_failed = cl_failed, .user = c};
}

/* Listens on 127.0.0.1, a port the kernel picks, with default options. */
static inline weft_listening_port *listen_local(weft_reactor *r, const weft_factory *f) {
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.interface = "127.0.0.1";
  weft_listening_port *p = NULL;
  REQUIRE(weft_tcp_listen(&p, r, 0, &o, f) == 0);
  return p;
}

/* The loopback address of a listening port (127.0.0.1 or ::1 as asked). */
static inline weft_address loopback_of(weft_listening_port *p, const char *ip) {
  weft_address a, to;
  weft_listening_port_address(p, &a);
  weft_address_from_ip(&to, ip, weft_address_port(&a));
  return to;
}

/* Connects c to p's port on 127.0.0.1 (the connection is made on a later turn). */
static inline void dial(weft_reactor *r, weft_listening_port *p, client *c) {
  c->factory = client_factory(c);
  weft_address to = loopback_of(p, "127.0.0.1");
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, &c->factory) == 0);
}

#endif
