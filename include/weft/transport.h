/* transport.h: transports, producers and consumers (twisted.internet.interfaces ITransport,
 * IProducer, IConsumer).
 *
 * A transport is what a protocol writes to. Writes are queued and gathered: everything written
 * in one reactor turn leaves in one writev before the reactor sleeps. A transport is a consumer:
 * a producer registered with it is paused when the queued bytes pass the high-water mark and
 * resumed when they fall below the low-water mark, so memory per connection stays bounded by the
 * marks whatever the peer's speed. A transport is also a producer of what it reads
 * (weft_transport_as_producer), so a proxy can pause the fast side when the slow side backs up. */
#ifndef WEFT_TRANSPORT_H
#define WEFT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "weft/address.h"
#include "weft/protocol.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A producer: pause/resume/stop are called by the consumer it is registered with. For a pull
 * producer (streaming = false) resume_producing means "write one more piece now". */
typedef struct weft_producer {
  void (*pause_producing)(void *user);
  void (*resume_producing)(void *user);
  /* The consumer is going away: stop producing and never write to it again. */
  void (*stop_producing)(void *user);
  void *user;
} weft_producer;

/* Defaults of the water marks, in bytes of queued output. */
#define WEFT_TRANSPORT_HIGH_WATER_DEFAULT (256u * 1024u)
#define WEFT_TRANSPORT_LOW_WATER_DEFAULT (64u * 1024u)

/* Queues len bytes for sending; the transport copies them, so buf may be reused at once.
 * Returns 0, WEFT_ECLOSED if the connection is closing or closed (lose_connection, write side
 * shut, or inside connection_lost), or WEFT_ENOMEM. Above the high-water mark the registered
 * producer is paused; writing anyway is allowed and buffered. */
int weft_transport_write(weft_transport *t, const void *buf, size_t len);

/* Queues the iovcnt buffers in order, as one write. Same returns as weft_transport_write. */
int weft_transport_writev(weft_transport *t, const struct iovec *iov, int iovcnt);

/* Queues len bytes of the file fd from offset, in order with the other writes, to be sent by
 * sendfile(2) without passing through user space. fd is duplicated, so the caller may close it at
 * once; the file must not shrink meanwhile (a range the file no longer holds closes the
 * connection with WEFT_EIO, so a cut body never looks complete). The bytes count in
 * weft_transport_buffered until sent, so water marks and producers work as for write; no memory
 * is held for them. len 0 queues nothing and only says whether the transport can: returns 0,
 * WEFT_ENOTSUP where it cannot (TLS, pipes, the test kit's string transport, systems without
 * sendfile; the caller then reads the file and writes what it read), WEFT_ECLOSED as for write,
 * WEFT_EINVAL (negative fd or offset), WEFT_ENOMEM, or the dup error (WEFT_EMFILE). */
int weft_transport_sendfile(weft_transport *t, int fd, off_t offset, size_t len);

/* Closes once everything queued is sent (Twisted's loseConnection). From now on writes are
 * refused, and a registered producer (push or pull) is no longer paused, resumed or asked for
 * more; it gets stop_producing when the connection is gone (Twisted's connectionLost calling
 * stopProducing), so a paused producer always learns that it will not be resumed.
 * connection_lost follows with 0 (or an error if sending fails). Calling it again does nothing.
 * Returns 0. */
int weft_transport_lose_connection(weft_transport *t);

/* Closes now, discarding queued output; connection_lost follows with WEFT_EABORTED (on the next
 * turn, never re-entrantly inside the caller). Returns 0. */
int weft_transport_abort_connection(weft_transport *t);

/* Half-close: sends FIN once the queue is flushed; reading goes on. write_connection_lost is
 * called when it is done. Returns 0, WEFT_ECLOSED, or WEFT_ENOTSUP for transports that cannot. */
int weft_transport_shutdown_write(weft_transport *t);

/* Stops/restarts delivering data_received (and reading from the socket, so the peer's sends
 * back up into the kernel and then into the peer). Not counted: pausing twice and resuming once
 * resumes. */
void weft_transport_pause_reading(weft_transport *t);
void weft_transport_resume_reading(weft_transport *t);

/* The remote and local addresses. Return 0, or WEFT_ENOTSUP where there is none (pipes). */
int weft_transport_get_peer(weft_transport *t, weft_address *out);
int weft_transport_get_host(weft_transport *t, weft_address *out);

/* TCP_NODELAY (on by default for TCP) and SO_KEEPALIVE. Return 0, WEFT_ENOTSUP on transports that
 * are not TCP, or the setsockopt error. */
int weft_transport_set_nodelay(weft_transport *t, bool on);
int weft_transport_set_keepalive(weft_transport *t, bool on);

/* Bytes queued and not yet handed to the kernel (or to the layer below). */
size_t weft_transport_buffered(const weft_transport *t);

/* Sets the marks (low <= high; 0, 0 restores the defaults). Returns 0 or WEFT_EINVAL. */
int weft_transport_set_water_marks(weft_transport *t, size_t high, size_t low);

/* Registers a producer with this transport as consumer (Twisted's registerProducer). streaming
 * true: a push producer, paused above the high mark and resumed below the low one. false: a pull
 * producer: resume_producing is called now (on the next turn) and each time the queue drains
 * below the low mark. The struct is copied. Returns 0, WEFT_EBUSY if one is registered already,
 * WEFT_ECLOSED if the transport is closing. When the connection is lost the producer gets
 * stop_producing. */
int weft_transport_register_producer(weft_transport *t, const weft_producer *p, bool streaming);

/* Unregisters the producer without calling it. Does nothing if none is registered. */
void weft_transport_unregister_producer(weft_transport *t);

/* Fills *out with a producer whose pause/resume pause and resume reading t and whose stop aborts
 * t: register it with another transport to make a proxy. */
void weft_transport_as_producer(weft_transport *t, weft_producer *out);

/* Forwards everything from reads from here on to `to` inside the kernel (splice(2) through a
 * pipe), without copying it through user space: the zero-copy form of registering `from` as a
 * producer with `to` and writing what data_received gets. One direction; call it twice for a
 * proxy. Small pieces (under 16 KiB, as in request/response traffic) are copied instead, for a
 * splice costs more than a copy there; the first big read goes back to splicing. While it runs:
 * - data_received and read_connection_lost are not called for `from`; pause_reading and
 *   resume_reading on it still pause and resume the forwarding.
 * - Flow control: `from` is read (up to 256 KiB at a time) only while `to` keeps up; when
 *   `to`'s socket is full the bytes wait in the pipe (or, for a copied piece, in `to`'s queue)
 *   and reading `from` stops until `to` has taken them all. Once a connection backs up, reads
 *   splice, so what waits for a slow reader sits in the kernel. Bytes in the pipe are not
 *   counted in weft_transport_buffered(to).
 * - Output already queued on `to` goes first. Writing to `to` yourself meanwhile is allowed but
 *   lands between spliced bytes at no particular boundary.
 * - The end of `from`'s input ends the splice: once the pipe is drained, `to`'s write side is
 *   shut (as weft_transport_shutdown_write). `from` stays open for its other direction; it closes
 *   cleanly once its own write side is shut too, and the pipe still drains after that.
 * - Any other end aborts the other side, discarding the pipe: `from` lost before its end of
 *   input (error, abort, lose_connection) aborts `to`, so a stream cut short never looks
 *   complete, and `to` lost (error, abort, or lose_connection after sending what the pipe held)
 *   aborts `from`, as a consumer that goes away stops its producer.
 * Returns 0; WEFT_ENOTSUP if either transport cannot splice (only TCP and Unix stream sockets, on
 * Linux, can: not TLS, not the test kit's string transport), so the caller falls back to copying;
 * WEFT_ECLOSED if either is closing, `from`'s input has ended or `to`'s write side is shut;
 * WEFT_EBUSY if `from` already splices out or `to` already has a splice in; or the error making
 * the pipe (WEFT_EMFILE, WEFT_ENOMEM, ...). */
int weft_transport_splice_to(weft_transport *from, weft_transport *to);

/* The reactor the transport runs on (NULL for a test transport made without one). */
weft_reactor *weft_transport_reactor(const weft_transport *t);

/* True once lose_connection/abort_connection was called or the connection is gone. */
bool weft_transport_closing(const weft_transport *t);

#ifdef __cplusplus
}
#endif
#endif
