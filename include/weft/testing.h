/* testing.h: the test kit, for testing protocols without sockets or real time (Twisted's
 * task.Clock, proto_helpers.MemoryReactor and StringTransport).
 *
 * - weft_test_clock: a clock that moves only when the test says so; give it to a reactor through
 *   weft_reactor_options.clock and advance it to fire delayed and looping calls.
 * - memory reactor: a normal weft_reactor on a manual clock whose listen and connect calls are
 *   recorded instead of opening sockets; the test reads the records (address, options, factory)
 *   and drives the recorded factory's protocols over string transports.
 * - weft_string_transport: a transport that keeps what the protocol writes in memory, lets the
 *   test feed it bytes, end of input or a connection loss, and shows the transport's state
 *   (disconnecting, aborted, producer paused, ...). It implements the same transport table as TCP,
 *   so flow control (water marks, producers) behaves as on a real connection.
 * - Deferred helpers (Twisted's SynchronousTestCase.assertNoResult, successResultOf,
 *   failureResultOf, flushLoggedErrors): check a Deferred's state from any C test framework.
 *
 * Everything here is deterministic: nothing waits, nothing reads the real time. */
#ifndef WEFT_TESTING_H
#define WEFT_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include "weft/address.h"
#include "weft/deferred.h"
#include "weft/log.h"
#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/tcp.h"
#include "weft/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- manual clock (Twisted's task.Clock) ---- */

typedef struct weft_test_clock weft_test_clock;

/* Creates a clock at time 0. Returns 0 or WEFT_ENOMEM. */
int weft_test_clock_new(weft_test_clock **out);

/* Frees the clock. A reactor given its weft_clock reads it until the reactor is freed, so free the
 * reactor first. NULL is ignored. */
void weft_test_clock_free(weft_test_clock *c);

/* The clock as a weft_clock, for weft_reactor_options.clock (the reactor copies the struct, whose
 * user pointer is c). Valid as long as c. */
const weft_clock *weft_test_clock_clock(weft_test_clock *c);

/* Moves the time forward by seconds (>= 0), then, when r is not NULL, runs one turn of r without
 * waiting (weft_reactor_iterate(r, 0)): every delayed call due at the new time that was scheduled
 * before the turn runs, in deadline order (ties in scheduling order), along with queued internal
 * work. Calls that those callbacks schedule for "now" wait for the next turn: advance by 0 to run
 * them. r must use this clock. Returns the number of callbacks run (>= 0), WEFT_EINVAL for a
 * negative or NaN amount (the time does not move), or the reactor's error. */
int weft_test_clock_advance(weft_test_clock *c, weft_reactor *r, double seconds);

/* The clock's time in seconds since it was made. */
double weft_test_clock_seconds(const weft_test_clock *c);

/* ---- memory reactor (Twisted's MemoryReactorClock) ---- */

typedef enum weft_memory_kind {
  WEFT_MEMORY_TCP = 1,  /* an IPv4 or IPv6 address */
  WEFT_MEMORY_UNIX = 2, /* a Unix socket path or abstract name */
} weft_memory_kind;

/* One recorded weft_tcp_listen or weft_unix_listen call. A value: copied out by
 * weft_memory_reactor_listen_info. */
typedef struct weft_memory_listen {
  weft_memory_kind kind;
  /* What weft_listening_port_address reports: the interface ("::" when none was named) and the
   * port asked, or, when port 0 was asked, a made-up port (32768, 32769, ... one per listen). For
   * Unix: the path. */
  weft_address address;
  int port;                /* TCP: the port asked (0 too); Unix: -1 */
  char interface[64];      /* TCP: weft_listen_options.interface as given, "" for NULL (all) */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* Unix: path, '@name' if abstract */
  int backlog;             /* weft_listen_options as given (the defaults when NULL was passed) */
  bool reuseport;
  bool ipv6_only;
  unsigned mode;
  const weft_factory *factory; /* the caller's factory (borrowed, as by a real port) */
  bool closed;                 /* weft_listening_port_close was called on the port */
} weft_memory_listen;

/* One recorded weft_tcp_connect or weft_unix_connect call. Nothing follows such a call: no
 * build_protocol, no connection_failed; the test decides (see weft_string_transport_attach_factory,
 * or call factory->connection_failed itself). */
typedef struct weft_memory_connect {
  weft_memory_kind kind;
  weft_address address;    /* the address connected to */
  char host[64];           /* TCP: the IP address as text ("127.0.0.1", "::1"); Unix: "" */
  int port;                /* TCP: the port; Unix: -1 */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* Unix: path, '@name' if abstract */
  double timeout;          /* weft_connect_options.timeout (30 when NULL was passed) */
  bool has_bind_address;
  weft_address bind_address; /* weft_connect_options.bind_address, copied, if has_bind_address */
  const weft_factory *factory; /* the caller's factory (borrowed) */
} weft_memory_connect;

/* Creates a memory reactor: a normal weft_reactor (poll backend, whatever $WEFT_REACTOR says) on
 * its own manual clock starting at 0, whose weft_tcp_listen / weft_unix_listen /
 * weft_tcp_connect / weft_unix_connect record the call and open no socket. Listens succeed
 * (start_factory is called) and the port is an open handle until weft_listening_port_close,
 * which records it as closed (stop_factory is called). Connects succeed with *out set to NULL
 * and are not open handles. Everything else (timers, looping calls, call_from_thread, triggers,
 * string transports) works as on any reactor. Free it with weft_reactor_free, which also frees
 * the clock and the records. Returns 0, WEFT_ENOMEM, or the error of weft_reactor_new. */
int weft_memory_reactor_new(weft_reactor **out);

/* True if r was made by weft_memory_reactor_new. */
bool weft_memory_reactor_is(const weft_reactor *r);

/* Advances the memory reactor's clock by seconds and runs one turn: weft_test_clock_advance on
 * its clock. Returns the callbacks run, WEFT_EINVAL for a negative amount or a reactor that is
 * not a memory reactor. */
int weft_memory_reactor_advance(weft_reactor *r, double seconds);

/* The memory reactor's clock (owned by the reactor), or NULL if r is not a memory reactor. */
weft_test_clock *weft_memory_reactor_clock(weft_reactor *r);

/* Number of listen calls recorded (closed ports included), 0 for another reactor. */
size_t weft_memory_reactor_listen_count(const weft_reactor *r);

/* Copies the i-th recorded listen (in call order) into *out. Returns 0, WEFT_EINVAL if r is not a
 * memory reactor, WEFT_ERANGE if i >= the count. */
int weft_memory_reactor_listen_info(const weft_reactor *r, size_t i, weft_memory_listen *out);

/* Number of connect calls recorded, 0 for another reactor. */
size_t weft_memory_reactor_connect_count(const weft_reactor *r);

/* Copies the i-th recorded connect into *out. Returns 0, WEFT_EINVAL, WEFT_ERANGE as above. */
int weft_memory_reactor_connect_info(const weft_reactor *r, size_t i, weft_memory_connect *out);

/* ---- string transport (Twisted's proto_helpers.StringTransport) ---- */

typedef struct weft_string_transport weft_string_transport;

/* Creates a string transport on reactor r, or on none (r NULL); the caller owns it and frees it
 * with weft_string_transport_free. No protocol is attached yet.
 * - With a reactor it counts as an open handle of r until freed, and what real transports do "on
 *   the next turn" happens on r's next turn: a pull producer's resume_producing, bytes held while
 *   reading was paused. Without one, a pull producer is never asked (give the transport a
 *   reactor, e.g. a memory reactor, to test one) and held bytes wait for the next feed.
 * - Output is consumed as soon as it is written (weft_transport_buffered stays 0) unless manual
 *   draining is turned on (weft_string_transport_set_manual_drain).
 * - lose_connection and abort_connection only mark the transport (writes are refused from then
 *   on); connection_lost follows when the test calls weft_string_transport_finish, as in Twisted,
 *   where the test decides when a close completes.
 * - The host address defaults to 127.0.0.1:12345 and the peer to 127.0.0.1:54321.
 * Returns 0 or WEFT_ENOMEM. */
int weft_string_transport_new(weft_string_transport **out, weft_reactor *r);

/* Frees st. If a protocol is attached and connection_lost has not been delivered, it is
 * delivered first (reason 0 if the protocol called lose_connection, else WEFT_EABORTED: the
 * connection was torn down under it) so the protocol frees its state; a registered producer gets
 * stop_producing. Not to be called from inside one of st's protocol callbacks. NULL is ignored. */
void weft_string_transport_free(weft_string_transport *st);

/* The transport to hand to code under test. Valid until weft_string_transport_free (unlike a
 * real transport, st stays readable after connection_lost, so the test can inspect it). */
weft_transport *weft_string_transport_transport(weft_string_transport *st);

/* Attaches the protocol (the struct is copied; p->cb and p->user are borrowed, as by any
 * transport) and calls its connection_made. Returns 0, WEFT_EINVAL if p or p->cb is NULL, or
 * WEFT_ESTATE if a protocol is attached already (a transport carries one connection). */
int weft_string_transport_attach(weft_string_transport *st, const weft_protocol *p);

/* As a listening port or connector would: calls f->build_protocol(f->user, peer, &proto) with
 * st's peer address (NULL if it has none), then attaches the protocol. Returns 0, WEFT_ESTATE as
 * weft_string_transport_attach, WEFT_EINVAL for a factory without build_protocol, or the error
 * build_protocol returned (then nothing is attached and no callback runs). */
int weft_string_transport_attach_factory(weft_string_transport *st, const weft_factory *f);

/* The peer sends len bytes: data_received(data, len) is called now. While reading is paused
 * (weft_transport_pause_reading) the bytes are held instead, as a socket holds them, and are
 * delivered in order once reading resumes: on the reactor's next turn, or, for a transport
 * without a reactor, by the next call of this function (len may be 0 just to deliver them, and
 * a held end of input after them).
 * Returns 0, WEFT_ESTATE with no protocol attached, WEFT_ECLOSED after end of input or when the
 * connection is closing or lost (the bytes are dropped, as a closed socket would), WEFT_ENOMEM. */
int weft_string_transport_feed(weft_string_transport *st, const void *data, size_t len);

/* The peer shuts down its write side (end of input). A protocol with read_connection_lost gets
 * it and the connection stays open for writing; without one, the connection closes cleanly as a
 * real stream's would: lose_connection, then connection_lost(0) at once. Held bytes come first:
 * while reading is paused the end of input is held behind them and delivered when they are.
 * Returns 0, WEFT_ESTATE with no protocol, WEFT_ECLOSED if input already ended or the connection
 * is closing or lost. */
int weft_string_transport_feed_eof(weft_string_transport *st);

/* The connection ends now with reason (0 clean, WEFT_ECONNRESET, WEFT_ETIMEDOUT, ...): a
 * registered producer gets stop_producing, buffered output is dropped, writes are refused, and
 * connection_lost(reason) is called. connection_lost is delivered at most once: returns 0,
 * WEFT_EALREADY if it was delivered already, WEFT_ESTATE with no protocol attached. */
int weft_string_transport_close(weft_string_transport *st, int reason);

/* Completes what the protocol asked, when the test decides (lose and abort never deliver
 * connection_lost by themselves on a string transport, as in Twisted): after abort_connection,
 * connection_lost(WEFT_EABORTED); after lose_connection, connection_lost(0); after
 * shutdown_write, write_connection_lost, and then connection_lost(0) if input has ended too (both
 * directions done, as a stream closes). Returns 0, WEFT_ESTATE if none of those is pending,
 * WEFT_EALREADY if connection_lost was delivered already. */
int weft_string_transport_finish(weft_string_transport *st);

/* Everything the protocol wrote since creation or the last clear, in order. The pointer is valid
 * until the next write or clear; the bytes are followed by a NUL (not counted) for convenience. */
const char *weft_string_transport_value(const weft_string_transport *st);
size_t weft_string_transport_len(const weft_string_transport *st);

/* Forgets what was written (weft_string_transport_value becomes ""). Does not change the
 * flow-control count: see weft_string_transport_drain. */
void weft_string_transport_clear(weft_string_transport *st);

/* Turns manual draining on or off. On: each write adds to weft_transport_buffered until the test
 * calls weft_string_transport_drain, so water marks and producers can be tested byte by byte.
 * Off (the default): writes are consumed at once; turning it off drains everything. */
void weft_string_transport_set_manual_drain(weft_string_transport *st, bool on);

/* The peer read n bytes (SIZE_MAX: all): the buffered count drops by up to n, and, as on a real
 * transport, a paused streaming producer is resumed once it is at or below the low-water mark and
 * a pull producer is asked for more (on the reactor's next turn). Returns the bytes drained. */
size_t weft_string_transport_drain(weft_string_transport *st, size_t n);

/* The transport's state, for assertions. */
bool weft_string_transport_connected(const weft_string_transport *st);     /* attached, not lost */
bool weft_string_transport_disconnecting(const weft_string_transport *st); /* lose or abort called */
bool weft_string_transport_aborted(const weft_string_transport *st);       /* abort called */
bool weft_string_transport_write_shut(const weft_string_transport *st);    /* shutdown_write called */
bool weft_string_transport_reading_paused(const weft_string_transport *st);
bool weft_string_transport_has_producer(const weft_string_transport *st);
bool weft_string_transport_producer_streaming(const weft_string_transport *st);
bool weft_string_transport_producer_paused(const weft_string_transport *st);
bool weft_string_transport_nodelay(const weft_string_transport *st);   /* last set_nodelay */
bool weft_string_transport_keepalive(const weft_string_transport *st); /* last set_keepalive */

/* True once connection_lost was delivered; *reason (may be NULL) gets its reason. */
bool weft_string_transport_lost(const weft_string_transport *st, int *reason);

/* Sets the addresses weft_transport_get_peer / get_host report (copied). NULL: none (they return
 * WEFT_ENOTSUP, as a pipe's do). */
void weft_string_transport_set_peer(weft_string_transport *st, const weft_address *a);
void weft_string_transport_set_host(weft_string_transport *st, const weft_address *a);

/* ---- in-memory connections (Twisted's iosim / loopbackAsync) ---- */

/* Connects a protocol built by client to one built by server through a pair of in-memory
 * transports on r: no socket, no address lookup. Both build_protocol calls and connection_made
 * calls happen now (server first; the client's peer is 127.0.0.1:80, the server's
 * 127.0.0.1:54321). What one end writes reaches the other on r's next turn (drive it with
 * weft_reactor_iterate, or advance a memory reactor); bytes not yet delivered count as the
 * writer's buffered output, so water marks and producers work, and a reader that paused reading
 * holds them back. lose_connection closes both ends once what was written has arrived
 * (connection_lost(0) on both); abort_connection ends both on the next turn (WEFT_EABORTED here,
 * WEFT_ECONNRESET there). shutdown_write is WEFT_ENOTSUP. The pair counts as one open handle of r
 * until both ends are lost. Returns 0, WEFT_EINVAL, WEFT_ENOMEM, or the error a build_protocol
 * returned (nothing connected then: if only the client refused, the server's connection is lost
 * at once with WEFT_ECONNRESET). */
int weft_memory_pipe_connect(weft_reactor *r, const weft_factory *client, const weft_factory *server);

/* ---- Deferred helpers (Twisted's SynchronousTestCase) ----
 *
 * For any C test framework: they never abort or print. Each returns whether the expectation held
 * and, when it did not, writes why into why (at most n bytes, always NUL-terminated when n > 0;
 * why may be NULL when n is 0; "" when the expectation held), so the framework's own assertion
 * can show it, e.g.
 *   "expected a result, the Deferred has not fired"
 *   "expected success, got failure weft/-111: connection refused (at connector.c:50 in finish)"
 * Results are described as "none", "int 42", "str \"text\"", "ptr 0x...", or "failure " and
 * the Failure's text with its causes (weft_failure_text). A Deferred "has a result" when it has
 * fired and is not waiting on an inner Deferred (Twisted's rule: a paused Deferred has none). As
 * in Twisted, a helper that meets a Failure it did not return takes it out of d and releases it,
 * so it is reported once, through why, not again as "Unhandled error in Deferred". */

/* True if d has no result yet (unfired, or waiting on an inner Deferred). False if it has one:
 * why says which; a Failure result is taken out of d and released (d's result becomes NONE), a
 * value stays. NULL d: false ("expected a Deferred, got NULL"). */
bool weft_assert_no_result(weft_deferred *d, char *why, size_t n);

/* Takes d's successful result out of d into *out (d's result becomes NONE; the caller owns *out
 * and frees it with weft_value_release). Returns 0; WEFT_ESTATE if d has no result yet (*out is
 * NONE, d is unchanged); WEFT_EINVAL if the result is a Failure (taken out and released, *out is
 * NONE) or d is NULL. out may be NULL: the value is then released. */
int weft_success_result_of(weft_deferred *d, weft_value *out, char *why, size_t n);

/* Takes d's Failure out of d and returns it (one reference: the caller unrefs it) when it matches
 * domain and code (weft_failure_check; domain NULL matches any Failure, code
 * WEFT_FAILURE_ANY_CODE any code of the domain). Returns NULL with why set otherwise: d has no
 * result yet (d unchanged), its result is a value (taken out and released), or its Failure does
 * not match (taken out and released). */
weft_failure *weft_failure_result_of(weft_deferred *d, const char *domain, int code, char *why, size_t n);

/* ---- logged-error capture (Twisted's flushLoggedErrors) ---- */

typedef struct weft_logged_errors weft_logged_errors;

/* Starts collecting every event at WEFT_LOG_ERROR or above published on p (in particular the
 * "Unhandled error in Deferred" reports), as rendered messages (weft_log_format_message), so a
 * test can check that it produced none it did not expect and flush the ones it did. Adding this
 * observer replaces p's stderr default (log.h): captured errors are not printed. Collection is
 * thread-safe (events may come from any thread). p is borrowed: free the capture before p (before
 * the reactor, for weft_reactor_log(r)). Returns NULL when p is NULL or memory runs out. */
weft_logged_errors *weft_logged_errors_capture(weft_log_publisher *p);

/* Removes the captured errors whose message contains substring (NULL: all of them) and returns
 * how many were removed. An error that could not be stored for lack of memory is counted and is
 * removed only by a NULL substring. */
size_t weft_logged_errors_flush(weft_logged_errors *c, const char *substring);

/* Number of captured errors not flushed yet (0 for NULL). */
size_t weft_logged_errors_count(const weft_logged_errors *c);

/* The i-th captured error's message, in the order they were logged (borrowed: valid until the
 * next flush or free), or NULL if i >= the number stored. For showing unexpected errors. */
const char *weft_logged_errors_text(const weft_logged_errors *c, size_t i);

/* Removes the observer from the publisher and frees the capture and what it holds. NULL is
 * ignored. */
void weft_logged_errors_free(weft_logged_errors *c);

#ifdef __cplusplus
}
#endif
#endif
