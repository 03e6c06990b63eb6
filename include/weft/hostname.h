/* hostname.h: connecting to a host name with Happy Eyeballs v2, RFC 8305 (Twisted's
 * HostnameEndpoint).
 *
 * weft_hostname_connect resolves the name, then races TCP connections to its addresses:
 * - the addresses are interleaved by family (RFC 8305 section 4): the first address the resolver
 *   gave (RFC 6724's choice, usually IPv6), then one of the other family, and so on, each family
 *   keeping its own order;
 * - the first attempt starts at once; each next one starts when the attempt delay (250 ms, RFC
 *   8305's "Connection Attempt Delay") has passed since the previous start, or at once when an
 *   attempt fails, whichever comes first;
 * - the first connection made wins; every other attempt is cancelled then (weft_connector_cancel)
 *   and a connection that completes anyway is closed before any protocol sees it: the user's
 *   factory builds exactly one protocol, for the winner;
 * - an overall timeout cancels everything still pending;
 * - when every attempt failed, the Failure names every address tried with its error.
 *
 * Observing the race (optional): weft_hostname_options.on_attempt reports each attempt's start
 * and end, for logs, metrics, tests and the example that prints the race. */
#ifndef WEFT_HOSTNAME_H
#define WEFT_HOSTNAME_H

#include "weft/address.h"
#include "weft/deferred.h"
#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/resolver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What happened to an attempt, for weft_hostname_options.on_attempt. */
typedef enum weft_attempt_event {
  WEFT_ATTEMPT_STARTED = 1,   /* the connect began (reason 0) */
  WEFT_ATTEMPT_FAILED = 2,    /* it failed by itself: refused, unreachable, timed out (reason) */
  WEFT_ATTEMPT_WON = 3,       /* its connection is the one handed to the factory (reason 0) */
  WEFT_ATTEMPT_CANCELLED = 4, /* stopped because another won, the overall timeout passed or the
                               * connect was cancelled (reason WEFT_ECANCELED); reported once, when
                               * the race ends (a connection that still completes is then closed
                               * without a further report) */
} weft_attempt_event;

/* index: the attempt's number in start order (0, 1, ...); to: its address (borrowed for the
 * call). Called on the reactor, from inside the race: it must not cancel the connect. */
typedef void (*weft_attempt_fn)(void *user, size_t index, const weft_address *to, weft_attempt_event ev,
                                int reason);

typedef struct weft_hostname_options {
  /* Seconds between attempt starts (RFC 8305 recommends 0.25; values under 0.01 are taken as
   * 0.01, its minimum). Default 0.25. */
  double attempt_delay;
  /* Seconds for the whole connect, resolution included; <= 0: none (each attempt then still
   * gives up after 30 s, weft_tcp_connect's default). Default 30. */
  double timeout;
  /* Local address to bind each attempt to (copied), or NULL. When set, only addresses of its
   * family are asked of the resolver (unless family says otherwise, then the other family's
   * attempts fail at bind). Its port is normally 0. */
  const weft_address *bind_address;
  /* AF_UNSPEC (both families, the default), AF_INET or AF_INET6: passed to the resolver. */
  int family;
  weft_attempt_fn on_attempt; /* optional observer */
  void *on_attempt_user;
} weft_hostname_options;

/* Fills the defaults (0.25 s delay, 30 s timeout, no bind address, both families). */
void weft_hostname_options_init(weft_hostname_options *o);

/* Connects to host:port (port 1..65535) with Happy Eyeballs as described at the top, and returns
 * a new Deferred (the caller's reference).
 *
 * resolver: the name resolver to use (the struct is copied; its user must outlive the connect);
 * NULL: a c-ares weft_resolver with default options is made for this connect and freed after it.
 * A numeric host goes through the resolver as well (weft_resolver answers it without a query).
 *
 * f: the user's client factory, borrowed until the Deferred has fired. Its build_protocol is
 * called once, for the winning connection only, with the peer's address; start_factory,
 * stop_factory and connection_failed are not called (the outcome is the Deferred's).
 *
 * On success the Deferred fires, right after the protocol's connection_made has returned, with
 * the protocol's user pointer as a borrowed WEFT_VALUE_PTR (destroy NULL): Twisted's "connected
 * protocol". The transport is the one connection_made got.
 *
 * On failure it fails with:
 * - the resolver's Failure (domain "weft.dns", naming the host) if resolution failed;
 * - WEFT_FAILURE_DOMAIN / the last attempt's error (WEFT_ECONNREFUSED, ...) when every attempt
 *   failed, with a message naming each address and its error, e.g.
 *     could not connect to "example.com" port 80: [2001:db8::1]:80: connection refused;
 *     192.0.2.1:80: network is unreachable
 *   and each attempt's Failure chained as a cause (first attempt first);
 * - WEFT_ETIMEDOUT after the overall timeout, naming the host and the attempts made so far;
 * - the error of build_protocol if the user's factory refused the winning connection (the
 *   connection is closed);
 * - WEFT_EINVAL for a NULL or empty host, a port out of range or a NULL factory (already failed).
 * Cancelling it (weft_deferred_cancel) stops the lookup, cancels every pending attempt and timer,
 * and fails it with WEFT_ECANCELED; nothing reaches the factory afterwards.
 *
 * Every timer and connect is on r; nothing blocks. Returns NULL only when out of memory.
 *
 * Testing note: on a memory reactor (testing.h) connects give no handle to cancel, so a losing
 * attempt cannot be stopped; the race marks it cancelled and keeps its small state (an open
 * handle of r) until the test ends the recorded connect (connection_failed, or
 * weft_string_transport_attach_factory, which the race then refuses). */
weft_deferred *weft_hostname_connect(weft_reactor *r, const weft_name_resolver *resolver, const char *host,
                                     int port, const weft_factory *f, const weft_hostname_options *o);

#ifdef __cplusplus
}
#endif
#endif
