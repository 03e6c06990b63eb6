/* protocol.h: protocols and factories (twisted.internet.protocol).
 *
 * A protocol is a table of callbacks plus a user pointer; it never sees a file descriptor, so
 * the same protocol runs over TCP, Unix sockets, TLS, pipes or the test kit's string transport.
 * A factory builds one protocol per connection. */
#ifndef WEFT_PROTOCOL_H
#define WEFT_PROTOCOL_H

#include <stddef.h>

#include "weft/address.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_transport weft_transport;

/* Reasons given to connection_lost (and to a client factory's connection_failed):
 *   0                  a clean close (Twisted's ConnectionDone): the peer closed in order or we
 *                      called weft_transport_lose_connection and everything was sent;
 *   WEFT_EABORTED      we called weft_transport_abort_connection (or the connection was torn down
 *                      by weft itself, e.g. when freeing its port);
 *   any other WEFT_E*  an error, errno-compatible (WEFT_ECONNRESET, WEFT_ETIMEDOUT, ...). */
#define WEFT_REASON_CLEAN 0

/* The callbacks. Only data_received is required. Each gets the protocol's user pointer. */
typedef struct weft_protocol_callbacks {
  /* The connection is up; t is valid until connection_lost returns. */
  void (*connection_made)(weft_transport *t, void *user);
  /* Bytes arrived. data is borrowed: valid only during the call (copy what you keep). */
  void (*data_received)(weft_transport *t, const void *data, size_t len, void *user);
  /* The connection is gone; the last call. The transport is freed after it returns, so this is
   * where the protocol frees its own state. Writing here returns WEFT_ECLOSED. */
  void (*connection_lost)(weft_transport *t, int reason, void *user);
  /* Optional (Twisted's IHalfCloseableProtocol): the peer shut down its write side. When set,
   * the connection stays open for writing; when NULL, end of input closes the connection. */
  void (*read_connection_lost)(weft_transport *t, void *user);
  /* Optional: our write side was shut down (weft_transport_shutdown_write) and flushed. */
  void (*write_connection_lost)(weft_transport *t, void *user);
} weft_protocol_callbacks;

typedef struct weft_protocol {
  const weft_protocol_callbacks *cb;
  void *user;
} weft_protocol;

/* A factory (Twisted's Factory/ClientFactory). The struct is the caller's: it must outlive every
 * port listening with it and every connection attempt made with it. */
typedef struct weft_factory {
  /* Required: fill *out for a new connection from (or to) peer. Return 0 to accept, or a negative
   * WEFT_E* to refuse (the connection is closed at once and no protocol callback runs). */
  int (*build_protocol)(void *user, const weft_address *peer, weft_protocol *out);
  /* Optional: the first port or connection attempt starts using the factory / the last stops. */
  void (*start_factory)(void *user);
  void (*stop_factory)(void *user);
  /* Optional, for clients: a connection attempt failed with reason (WEFT_ECONNREFUSED,
   * WEFT_ETIMEDOUT, WEFT_ECANCELED, ...); build_protocol was not called. */
  void (*connection_failed)(void *user, int reason);
  void *user;
} weft_factory;

#ifdef __cplusplus
}
#endif
#endif
