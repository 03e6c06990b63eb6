/* udp.h: datagram sockets (Twisted's listenUDP, DatagramProtocol, connected UDP, multicast).
 *
 * Each time the socket is readable up to 32 datagrams are received, one datagram_received call
 * each, before the reactor turns to other work. A datagram larger than the reactor's read buffer
 * (256 KiB, so only an IPv6 jumbogram) would arrive truncated: it is dropped and logged at
 * WEFT_LOG_WARN on "weft.net.udp" with its size, never delivered in part. */
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
  /* A datagram arrived; data and from are borrowed for the call. weft_udp_close may be called
   * from here (and from error_received): no further callback follows, and u stays valid until
   * this call returns. */
  void (*datagram_received)(weft_udp *u, const void *data, size_t len, const weft_address *from,
                            void *user);
  /* Optional: a connected socket learned of an error (e.g. WEFT_ECONNREFUSED from an ICMP port
   * unreachable answering an earlier send); the socket stays open. NULL: logged at debug. */
  void (*error_received)(weft_udp *u, int err, void *user);
  void *user;
} weft_datagram_protocol;

/* Binds a datagram socket to local, an IPv4 or IPv6 address (port 0: the kernel picks), and
 * starts receiving. The protocol struct is copied (its user pointer stays the caller's); the
 * handle is the caller's until weft_udp_close. Returns 0, WEFT_EADDRINUSE, WEFT_EADDRNOTAVAIL,
 * WEFT_EINVAL (NULL argument, no datagram_received, not an IP address), WEFT_ENOMEM, or another
 * socket error (e.g. WEFT_EAFNOSUPPORT when the host has no IPv6). */
int weft_udp_bind(weft_udp **out, weft_reactor *r, const weft_address *local,
                  const weft_datagram_protocol *p);

/* Sends one datagram to `to` (NULL on a connected socket); data is not kept. Never queues: a
 * full socket buffer gives WEFT_EAGAIN (the datagram is dropped, as UDP would). Returns 0,
 * WEFT_EAGAIN, WEFT_EMSGSIZE (over 65507 bytes on IPv4, 65527 on IPv6), WEFT_ENOTCONN (to is NULL
 * on an unconnected socket), WEFT_EISCONN (to is not the peer of a connected socket),
 * WEFT_ECLOSED (after weft_udp_close, from inside a callback), WEFT_ENETUNREACH, ... On a
 * connected socket an ICMP error not yet received may be returned here instead of reaching
 * error_received (Linux reports it on the next send or receive, whichever comes first): then
 * WEFT_ECONNREFUSED, and this datagram was not sent. */
int weft_udp_send(weft_udp *u, const void *data, size_t len, const weft_address *to);

/* Connects the socket: only datagrams from peer arrive (even those already queued from others
 * are dropped), sends need no address, and ICMP errors reach error_received. May be called again
 * to change the peer. Returns 0, WEFT_EINVAL, WEFT_ECLOSED, or connect's error (e.g.
 * WEFT_EAFNOSUPPORT for a peer of the other family, WEFT_ENETUNREACH). */
int weft_udp_connect(weft_udp *u, const weft_address *peer);

/* Joins/leaves a multicast group (IPv4 or IPv6 literal) on interface (a literal IPv4 address or
 * an interface name such as "eth0"; NULL: the default the routing table gives). Returns 0,
 * WEFT_EINVAL (group not a literal, an IPv6 group on an IPv4 socket or with an IPv4 interface
 * address), WEFT_ENODEV (no interface of that name, or none to route the group), WEFT_ECLOSED, or the
 * setsockopt error (e.g. WEFT_EADDRINUSE when already joined, WEFT_EADDRNOTAVAIL when leaving a
 * group not joined). */
int weft_udp_join_group(weft_udp *u, const char *group, const char *interface);
int weft_udp_leave_group(weft_udp *u, const char *group, const char *interface);

/* Sets IP_MULTICAST_LOOP (and IPV6_MULTICAST_LOOP on an IPv6 socket): whether multicast we send
 * comes back to our own sockets that joined the group. Returns 0, WEFT_ECLOSED or the setsockopt
 * error. */
int weft_udp_set_multicast_loop(weft_udp *u, int on);

/* The bound address, with the real port when bound to port 0 (after connect, the local address
 * the kernel chose). Returns 0, WEFT_ECLOSED, or getsockname's error. */
int weft_udp_address(const weft_udp *u, weft_address *out);

/* Closes the socket and frees the handle (at once, or when the callback it is called from
 * returns). No callback follows; NULL is ignored. */
void weft_udp_close(weft_udp *u);

#ifdef __cplusplus
}
#endif
#endif
