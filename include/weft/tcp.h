/* tcp.h: stream sockets: TCP and Unix listening ports and outgoing connections
 * (Twisted's listenTCP/connectTCP/listenUNIX/connectUNIX). */
#ifndef WEFT_TCP_H
#define WEFT_TCP_H

#include <stdbool.h>

#include "weft/address.h"
#include "weft/protocol.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_listening_port weft_listening_port;
typedef struct weft_connector weft_connector;

typedef struct weft_listen_options {
  /* Numeric address to bind; NULL: every interface, dual stack ("::" accepting IPv4 too) where
   * IPv6 exists, else 0.0.0.0. */
  const char *interface;
  int backlog;          /* default 511 */
  bool reuseport;       /* SO_REUSEPORT, for several processes on one port */
  bool ipv6_only;       /* for an IPv6 interface: refuse IPv4-mapped connections */
  unsigned mode;        /* Unix sockets: file mode of the socket (0: leave the umask's) */
  int accept_batch;     /* connections accepted per readiness, at most (default 64) */
  double emfile_retry;  /* seconds accepting pauses when out of descriptors (default 0.1) */
} weft_listen_options;

/* Fills the defaults. */
void weft_listen_options_init(weft_listen_options *o);

/* Listens on TCP port (0: the kernel picks; see weft_listening_port_address). SO_REUSEADDR is
 * set. For each connection f->build_protocol is called and then connection_made. o may be NULL.
 * When descriptors run out (EMFILE/ENFILE), accepting pauses for emfile_retry seconds, logs a
 * warning and retries, while existing connections keep being served. Returns 0,
 * WEFT_EADDRINUSE, WEFT_EACCES, WEFT_EINVAL (bad interface), or another socket error. */
int weft_tcp_listen(weft_listening_port **out, weft_reactor *r, int port, const weft_listen_options *o,
                    const weft_factory *f);

/* Listens on a Unix stream socket at path ('@name' is a Linux abstract name). An existing socket
 * file at path is replaced only if nothing listens on it. Returns as weft_tcp_listen, plus
 * WEFT_ENAMETOOLONG. The socket file is removed when the port closes. */
int weft_unix_listen(weft_listening_port **out, weft_reactor *r, const char *path,
                     const weft_listen_options *o, const weft_factory *f);

/* Listens on fd, a stream socket (TCP or Unix) that is already bound and listening, as made by
 * a supervisor (systemd socket activation, inetd, a parent process): Twisted's adoptStreamPort.
 * The port works on a duplicate of fd (close-on-exec, made non-blocking, which the caller's fd
 * shares as one open file): the caller keeps fd and may close it at once. Only accept_batch and
 * emfile_retry of o are used (o may be NULL); a Unix socket file is not removed on close, since
 * the port did not create it. Returns 0, WEFT_EBADF (fd not open), WEFT_EINVAL (not a listening
 * stream socket), or another error (WEFT_EMFILE, ...). */
int weft_tcp_listen_fd(weft_listening_port **out, weft_reactor *r, int fd, const weft_listen_options *o,
                       const weft_factory *f);

/* The bound address (with the real port when 0 was asked). Returns 0 or the getsockname error. */
int weft_listening_port_address(const weft_listening_port *p, weft_address *out);

/* Stops listening and frees the port; connections it accepted live on. The factory's
 * stop_factory is called. Safe inside the port's own build_protocol or connection_made (to
 * serve a single client, say): no further connection is accepted. */
void weft_listening_port_close(weft_listening_port *p);

typedef struct weft_connect_options {
  double timeout;                   /* seconds; <= 0: none (default 30) */
  const weft_address *bind_address; /* local address to bind first, or NULL */
} weft_connect_options;

/* Fills the defaults (30 s timeout, no bind address). */
void weft_connect_options_init(weft_connect_options *o);

/* Connects to an IP address without blocking. On success f->build_protocol and connection_made
 * run; on failure f->connection_failed(reason) (WEFT_ECONNREFUSED, WEFT_ETIMEDOUT, ...), always
 * from the reactor, never inside this call. *out (may be NULL) is a handle valid until one of
 * those has been called. Returns 0, or an immediate error (WEFT_EINVAL, WEFT_EMFILE, ...), in
 * which case no callback follows. */
int weft_tcp_connect(weft_connector **out, weft_reactor *r, const weft_address *to,
                     const weft_connect_options *o, const weft_factory *f);

/* Connects to a Unix stream socket ('@name': abstract). As weft_tcp_connect. */
int weft_unix_connect(weft_connector **out, weft_reactor *r, const char *path,
                      const weft_connect_options *o, const weft_factory *f);

/* Abandons a pending attempt (Twisted's stopConnecting): connection_failed(WEFT_ECANCELED) is
 * called and the handle is gone. */
void weft_connector_cancel(weft_connector *c);

#ifdef __cplusplus
}
#endif
#endif
