/* transport_internal.h: the table of operations every transport implements (TCP and Unix
 * streams, the test kit's string transport, later TLS and pipes), and the consumer bookkeeping
 * they share (transport.c). Not installed. */
#ifndef WEFT_NET_TRANSPORT_INTERNAL_H
#define WEFT_NET_TRANSPORT_INTERNAL_H

#include "reactor/reactor_internal.h"
#include "weft/transport.h"

typedef struct weft__transport_ops {
  /* Queue the buffers (total bytes in all). The common code has checked the closing state. */
  int (*write)(weft_transport *t, const struct iovec *iov, int iovcnt, size_t total);
  void (*lose_connection)(weft_transport *t);
  void (*abort_connection)(weft_transport *t);
  int (*shutdown_write)(weft_transport *t);
  void (*set_reading)(weft_transport *t, bool on);
  int (*get_peer)(weft_transport *t, weft_address *out);
  int (*get_host)(weft_transport *t, weft_address *out);
  int (*set_option)(weft_transport *t, int option, bool on); /* WEFT__OPT_* */
  /* weft_transport_splice_to (NULL: WEFT_ENOTSUP); the common code has checked closing states. */
  int (*splice_to)(weft_transport *from, weft_transport *to);
  /* weft_transport_sendfile (NULL: WEFT_ENOTSUP); len 0 only asks whether it can. The common code
   * has checked the closing state. */
  int (*sendfile)(weft_transport *t, int fd, off_t offset, size_t len);
} weft__transport_ops;

enum { WEFT__OPT_NODELAY = 1, WEFT__OPT_KEEPALIVE = 2 };

/* "Subclasses" embed this first. */
struct weft_transport {
  const weft__transport_ops *ops;
  weft_reactor *r;
  weft_protocol proto;
  size_t buffered; /* kept current by the implementation, then weft__transport_buffer_changed */
  uint32_t high_water, low_water;
  weft_producer producer;
  weft__task pull_task; /* asks a pull producer for more on the next turn */
  bool has_producer, streaming, producer_paused;
  bool closing;      /* lose/abort called, or lost: writes refused */
  bool write_shut;   /* shutdown_write called: writes refused */
  bool reading_paused;
};

/* Sets up the common part. */
void weft__transport_init(weft_transport *t, const weft__transport_ops *ops, weft_reactor *r);

/* Implementations call this after buffered changed: pauses or resumes the producer. */
void weft__transport_buffer_changed(weft_transport *t);

/* Implementations call this when the connection is gone, just before connection_lost: the
 * producer gets stop_producing and is unregistered. */
void weft__transport_lost(weft_transport *t);

/* Hands the connection to another protocol: every callback from now on goes to p (copied).
 * Meant for a wrapper protocol's connection_made, before any data arrived (Happy Eyeballs builds
 * the user's protocol only for the connection that won the race, then steps out of the way). */
static inline void weft__transport_set_protocol(weft_transport *t, const weft_protocol *p) { t->proto = *p; }

/* Protocol callback helpers (NULL-safe). */
static inline void weft__proto_made(weft_transport *t) {
  if (t->proto.cb && t->proto.cb->connection_made) t->proto.cb->connection_made(t, t->proto.user);
}
static inline void weft__proto_lost(weft_transport *t, int reason) {
  if (t->proto.cb && t->proto.cb->connection_lost) t->proto.cb->connection_lost(t, reason, t->proto.user);
}

#endif
