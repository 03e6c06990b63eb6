/* udp.h: datagram sockets (Twisted's listenUDP, DatagramProtocol, connected UDP, multicast). */
#ifndef WEFT_UDP_H
#define WEFT_UDP_H

#include <stddef.h>

#include "weft/address.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_udp weft_udp;

typedef struct weft_datagram_protocol {
  /* A datagram arrived; data and from are borrowed for the call. */
  void (*datagram_received)(weft_udp *u, const void *data, size_t len, const weft_address *from,
                            void *user);
  /* Optional: a connected socket learned of an error (e.g. WEFT_ECONNREFUSED from ICMP). */
  void (*error_received)(weft_udp *u, int err, void *user);
  void *user;
} weft_datagram_protocol;

/* Binds a datagram socket to local (port 0: the kernel picks). The protocol struct is copied.
 * Returns 0, WEFT_EADDRINUSE, WEFT_EINVAL, or another socket error. */
int weft_udp_bind(weft_udp **out, weft_reactor *r, const weft_address *local,
                  const weft_datagram_protocol *p);

/* Sends one datagram to `to` (NULL on a connected socket). Never queues: a full socket buffer
 * gives WEFT_EAGAIN (the datagram is dropped, as UDP would). Returns 0, WEFT_EMSGSIZE, ... */
int weft_udp_send(weft_udp *u, const void *data, size_t len, const weft_address *to);

/* Connects the socket: only datagrams from peer arrive and sends need no address. */
int weft_udp_connect(weft_udp *u, const weft_address *peer);

/* Joins/leaves a multicast group (IPv4 or IPv6 literal) on interface (a literal IPv4 address or
 * an interface name; NULL: the default). Returns 0 or the setsockopt error. */
int weft_udp_join_group(weft_udp *u, const char *group, const char *interface);
int weft_udp_leave_group(weft_udp *u, const char *group, const char *interface);

/* Sets IP_MULTICAST_LOOP (whether our own multicast comes back to us). */
int weft_udp_set_multicast_loop(weft_udp *u, int on);

/* The bound address (real port). */
int weft_udp_address(const weft_udp *u, weft_address *out);

/* Closes the socket and frees the handle. */
void weft_udp_close(weft_udp *u);

#ifdef __cplusplus
}
#endif
#endif
