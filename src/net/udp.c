/* udp.c: datagram sockets (twisted.internet.udp.Port, connected UDP, MulticastPort).
 *
 * Each readiness receives a bounded batch of datagrams into the reactor's shared read buffer and
 * hands each to datagram_received, so one busy socket cannot starve the others. Sends go straight
 * to the kernel and are never queued: UDP may drop, and so may we (a full buffer is WEFT_EAGAIN).
 * Closing from inside a callback is allowed: the descriptor goes at once, the memory when the
 * receive loop that made the callback returns. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/socket.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"
#include "weft/udp.h"

/* Datagrams received per readiness before the reactor turns to other work. */
#define RECV_BATCH 32

/* Linux returns a truncated datagram's real size when asked, for the log; elsewhere the log
 * gives the size received. */
#ifdef __linux__
#define TRUNC_FLAGS MSG_TRUNC
#else
#define TRUNC_FLAGS 0
#endif

struct weft_udp {
  weft_reactor *r;
  weft__io io;
  weft_datagram_protocol proto;
  weft_address peer; /* as the kernel recorded it, when connected */
  int family;
  bool connected;
  bool closed;    /* descriptor closed and handle released; memory may still be held */
  bool receiving; /* inside on_io: a close there leaves the free to on_io */
};

static void log_udp(weft_udp *u, weft_log_level level, const char *fmt, int err, size_t size, size_t cap) {
  weft_log_publisher *log = weft_reactor_log(u->r);
  if (!weft_log_enabled(log, level)) return;
  char where[WEFT_ADDRSTRLEN] = "(unbound)";
  weft_address a;
  if (weft_udp_address(u, &a) == 0) weft_address_format(&a, where, sizeof where);
  weft_log_emit(log, level, "weft.net.udp", fmt, WEFT_LOG_STR("address", where), WEFT_LOG_ERR("error", err),
                WEFT_LOG_UINT("size", size), WEFT_LOG_UINT("buffer", cap), WEFT_LOG_END);
}

/* Same family, address and port (flow labels and scope are not compared). */
static bool same_endpoint(const weft_address *a, const weft_address *b) {
  int fam = weft_address_family(a);
  if (fam != weft_address_family(b) || weft_address_port(a) != weft_address_port(b)) return false;
  if (fam == AF_INET) return a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
  if (fam == AF_INET6) return memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof(struct in6_addr)) == 0;
  return false;
}

static void report_error(weft_udp *u, int err) {
  if (u->proto.error_received)
    u->proto.error_received(u, err, u->proto.user);
  else
    log_udp(u, WEFT_LOG_DEBUG, "datagram socket {address}: {error}", err, 0, 0);
}

/* No buffer to read into: drop one datagram so a level-triggered backend does not spin. */
static void drop_one(weft_udp *u) {
  char tiny[1];
  recv(u->io.fd, tiny, sizeof tiny, 0);
  log_udp(u, WEFT_LOG_ERROR, "datagram on {address} dropped: {error}", WEFT_ENOMEM, 0, 0);
}

/* Receives one datagram. Returns false when the socket is drained (or gone). */
static bool receive_one(weft_udp *u, void *buf, size_t cap) {
  weft_address from;
  memset(&from, 0, sizeof from);
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_name = &from.u;
  m.msg_namelen = sizeof from.u;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ssize_t n = recvmsg(u->io.fd, &m, TRUNC_FLAGS);
  if (n < 0) {
    if (errno == EINTR) return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    /* an ICMP error (connected sockets) or a socket error: the kernel has cleared it */
    report_error(u, -errno);
    return true;
  }
  from.len = m.msg_namelen;
  if ((m.msg_flags & MSG_TRUNC) || (size_t)n > cap) {
    /* only an IPv6 jumbogram outgrows the shared buffer; a partial datagram is worse than none */
    log_udp(u, WEFT_LOG_WARN, "datagram of {size} bytes on {address} truncated to {buffer}: dropped", 0,
            (size_t)n, cap);
    return true;
  }
  /* datagrams queued before connect still arrive from anyone; the header promises only peer */
  if (u->connected && !same_endpoint(&from, &u->peer)) return true;
  u->proto.datagram_received(u, buf, (size_t)n, &from, u->proto.user);
  return true;
}

static void on_io(weft__io *io, unsigned revents) {
  weft_udp *u = (weft_udp *)((char *)io - offsetof(weft_udp, io));
  if (!(revents & WEFT__READ)) return;
  size_t cap;
  void *buf = weft__reactor_read_buffer(u->r, &cap);
  if (!buf) {
    drop_one(u);
    return;
  }
  u->receiving = true;
  for (int i = 0; i < RECV_BATCH && !u->closed; i++)
    if (!receive_one(u, buf, cap)) break;
  u->receiving = false;
  if (u->closed) weft__free(u);
}

static int open_socket(weft_udp *u, const weft_address *local) {
  int fd = weft__socket(u->family, SOCK_DGRAM);
  if (fd < 0) return fd;
  int rc = bind(fd, &local->u.sa, local->len) < 0 ? -errno : 0;
  u->io.fd = fd;
  if (!rc) rc = weft__io_set(u->r, &u->io, WEFT__READ);
  if (rc) {
    weft__io_stop(u->r, &u->io);
    close(fd);
  }
  return rc;
}

int weft_udp_bind(weft_udp **out, weft_reactor *r, const weft_address *local,
                  const weft_datagram_protocol *p) {
  if (!out || !r || !local || !p || !p->datagram_received) return WEFT_EINVAL;
  int fam = weft_address_family(local);
  if (fam != AF_INET && fam != AF_INET6) return WEFT_EINVAL;
  weft_udp *u = weft__calloc(1, sizeof *u);
  if (!u) return WEFT_ENOMEM;
  u->r = r;
  u->proto = *p;
  u->family = fam;
  u->io.fd = -1;
  u->io.cb = on_io;
  int rc = open_socket(u, local);
  if (rc) {
    weft__free(u);
    return rc;
  }
  weft__handle_ref(r);
  *out = u;
  return 0;
}

int weft_udp_send(weft_udp *u, const void *data, size_t len, const weft_address *to) {
  if (u->closed) return WEFT_ECLOSED;
  if (!data && len) return WEFT_EINVAL;
  const struct sockaddr *sa = NULL;
  socklen_t salen = 0;
  if (u->connected) {
    if (to && !same_endpoint(to, &u->peer)) return WEFT_EISCONN;
  } else {
    if (!to) return WEFT_ENOTCONN;
    if (!to->len) return WEFT_EINVAL;
    sa = &to->u.sa;
    salen = to->len;
  }
  for (;;) {
    if (sendto(u->io.fd, data, len, 0, sa, salen) >= 0) return 0;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? WEFT_EAGAIN : -errno;
  }
}

int weft_udp_connect(weft_udp *u, const weft_address *peer) {
  if (u->closed) return WEFT_ECLOSED;
  if (!peer || !peer->len) return WEFT_EINVAL;
  if (connect(u->io.fd, &peer->u.sa, peer->len) < 0) return -errno;
  /* the kernel may have rewritten it (a wildcard becomes loopback): filter on what it uses */
  weft_address actual;
  actual.len = sizeof actual.u;
  if (getpeername(u->io.fd, &actual.u.sa, &actual.len) < 0) actual = *peer;
  u->peer = actual;
  u->connected = true;
  return 0;
}

/* An IPv4 group on the default interface or one named by its address: the classic ip_mreq. */
static int mcast_v4(weft_udp *u, const struct in_addr *group, const struct in_addr *ifaddr, bool join) {
  struct ip_mreq m;
  memset(&m, 0, sizeof m);
  m.imr_multiaddr = *group;
  m.imr_interface.s_addr = ifaddr ? ifaddr->s_addr : htonl(INADDR_ANY);
  int opt = join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP;
  return setsockopt(u->io.fd, IPPROTO_IP, opt, &m, sizeof m) < 0 ? -errno : 0;
}

/* Any group on an interface index (0: the default), family-independent (RFC 3678). */
static int mcast_by_index(weft_udp *u, const weft_address *group, unsigned ifindex, bool join) {
  struct group_req g;
  memset(&g, 0, sizeof g);
  g.gr_interface = ifindex;
  memcpy(&g.gr_group, &group->u, group->len);
  int level = u->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
  int opt = join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP;
  return setsockopt(u->io.fd, level, opt, &g, sizeof g) < 0 ? -errno : 0;
}

static int mcast_membership(weft_udp *u, const char *group, const char *interface, bool join) {
  if (u->closed) return WEFT_ECLOSED;
  weft_address g;
  if (!group || weft_address_from_ip(&g, group, 0) != 0) return WEFT_EINVAL;
  int gfam = weft_address_family(&g);
  if (gfam == AF_INET6 && u->family != AF_INET6) return WEFT_EINVAL;
  struct in_addr ifaddr;
  bool if_literal = interface && inet_pton(AF_INET, interface, &ifaddr) == 1;
  if (gfam == AF_INET && (!interface || if_literal))
    return mcast_v4(u, &g.u.in4.sin_addr, if_literal ? &ifaddr : NULL, join);
  if (if_literal) return WEFT_EINVAL; /* an IPv6 group is joined on an interface by name */
  unsigned ifindex = 0;
  if (interface && (ifindex = if_nametoindex(interface)) == 0) return WEFT_ENODEV;
  return mcast_by_index(u, &g, ifindex, join);
}

int weft_udp_join_group(weft_udp *u, const char *group, const char *interface) {
  return mcast_membership(u, group, interface, true);
}

int weft_udp_leave_group(weft_udp *u, const char *group, const char *interface) {
  return mcast_membership(u, group, interface, false);
}

int weft_udp_set_multicast_loop(weft_udp *u, int on) {
  if (u->closed) return WEFT_ECLOSED;
  if (u->family == AF_INET6) {
    unsigned v6 = on ? 1u : 0u;
    if (setsockopt(u->io.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &v6, sizeof v6) < 0) return -errno;
  }
  /* u_char is what the BSDs require and Linux accepts; on a dual-stack IPv6 socket the IPv4
   * option governs IPv4 groups, and its failure (a v6-only socket) does not matter */
  unsigned char v4 = on ? 1 : 0;
  int rc = setsockopt(u->io.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &v4, sizeof v4) < 0 ? -errno : 0;
  return u->family == AF_INET ? rc : 0;
}

int weft_udp_address(const weft_udp *u, weft_address *out) {
  if (u->closed) return WEFT_ECLOSED;
  out->len = sizeof out->u;
  return getsockname(u->io.fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

void weft_udp_close(weft_udp *u) {
  if (!u || u->closed) return;
  weft__io_stop(u->r, &u->io);
  close(u->io.fd);
  u->io.fd = -1;
  u->closed = true;
  weft__handle_unref(u->r);
  if (!u->receiving) weft__free(u);
}
