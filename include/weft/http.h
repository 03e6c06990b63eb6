/* http.h: the HTTP/1.1 server core (twisted.web.http's HTTPChannel, Request and HTTPFactory).
 *
 * A server is a factory of connections: pass weft_http_server_factory(srv) to weft_tcp_listen,
 * weft_unix_listen, a server endpoint or a TLS factory, and each connection speaks HTTP/1.1 over
 * whatever transport carries it. Every complete request goes to the server's handler, one at a
 * time per connection: requests pipelined behind one whose answer is not finished wait (parsing
 * and reading pause) so that responses leave in request order.
 *
 * A handler answers at once or later. It gets a weft_http_request that stays valid until the
 * response is finished (weft_http_respond, or weft_http_response_finish after a streamed
 * response), whether or not the client is still there: when the client disconnects first, the
 * request becomes inert (writes return WEFT_ECLOSED) and the handler must still finish it to
 * release it. A Deferred handler returns a Deferred instead; the server answers from its result,
 * cancels it when the client disconnects, and answers 500 when it fails (the Failure is logged,
 * never sent).
 *
 * Strings of a request (method, target, path, query, header names and values) are byte slices,
 * not NUL-terminated: each accessor returns a pointer and a length. They stay valid as long as the
 * request does.
 *
 * Logs go to the reactor's publisher under the namespace "weft.http": refused requests and
 * timeouts at info, failed handlers at error. */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "weft/address.h"
#include "weft/deferred.h"
#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_server weft_http_server;
typedef struct weft_http_request weft_http_request;

/* A response header for weft_http_respond: NUL-terminated name and value, borrowed for the call. */
typedef struct weft_http_header {
  const char *name;
  const char *value;
} weft_http_header;

/* Answers req, now (before returning) or later (keeping req until it finishes the response). */
typedef void (*weft_http_handler)(weft_http_request *req, void *user);

/* Returns a Deferred (one reference, which the server takes) that fires with the answer:
 *   - a value made by weft_http_response_value (status, content type, body);
 *   - a WEFT_VALUE_STR: 200 with that body, Content-Type the server's default_content_type;
 *   - WEFT_VALUE_NONE: the handler answers through req itself (it may have done so already, or
 *     streams the response and finishes it later); if req has no answer started when the Deferred
 *     fires, that is a handler bug and the client gets a 500;
 *   - a Failure: the client gets 500 with a generic body and the Failure is logged at error with
 *     the request (method, target, peer). If the response had started streaming, the connection
 *     is closed instead, since a status can no longer be sent.
 * NULL is taken as out of memory (500). When the client disconnects before the Deferred fires,
 * the server cancels it and releases req: from the cancellation on (the Deferred's canceller, or
 * its errback with WEFT_ECANCELED), a handler that was streaming through req must not touch it
 * again. */
typedef weft_deferred *(*weft_http_handler_deferred)(weft_http_request *req, void *user);

typedef struct weft_http_server_options {
  /* Parser limits. A longer request line is answered 414, a larger header section or more
   * fields 431, a larger body 413; each with Connection: close. */
  uint32_t max_request_line; /* default 8192 bytes */
  uint32_t max_header_bytes; /* default 16384 bytes, field lines with their CRLFs */
  uint32_t max_headers;      /* default 100 (at most 128) */
  uint64_t max_body;         /* default 1 MiB; the body is collected in memory up to this */
  /* Seconds a request may take to arrive whole, from its first byte (slow clients: slowloris,
   * slow bodies). The connection is closed when it passes. <= 0: no limit. Default 30. */
  double request_timeout;
  /* Seconds a connection may wait for the next request (and for the first) before it is closed.
   * Also the send timeout: answers still queued when it passes get further periods as long as
   * the client takes some of them in each; a client that takes nothing for a whole period is
   * aborted (a client that never reads cannot hold a connection). <= 0: no limit. Default 60. */
  double idle_timeout;
  /* Requests served on one connection before the server answers with Connection: close (so
   * long-lived connections move between processes and leak nothing). 0: no limit. Default 10000. */
  uint32_t max_requests;
  /* The Server header's value (copied); NULL or "" sends none. Default "weft". */
  const char *server_name;
  /* Content-Type of answers given as plain strings by Deferred handlers (copied).
   * Default "text/plain; charset=utf-8". */
  const char *default_content_type;
  /* Emit one event per finished request (refused ones included) to the reactor's log publisher:
   * namespace "weft.http.access", level info, message the Combined Log Format line
   *   127.0.0.1 - - [25/Nov/2026:19:30:06 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/7.88.1"
   * (the time is when the request arrived, in UTC; the size counts body bytes sent), fields
   * "remote" (the client's host, "-" once it has gone), "timestamp" (as in the line), "request"
   * (the request line, "-" for one that could not be parsed), "method", "target", "protocol"
   * ("HTTP/1.1"), "status", "bytes", "referer" and "user_agent" ("-" when absent), "duration"
   * (seconds from the whole head having arrived to the end of the answer). The strings from the
   * client are escaped as nginx does ('"', '\' and bytes outside printable ASCII as \xHH), so a
   * line can not be forged. weft_log_json_observer prints them as JSON lines. Default false. */
  bool access_log;
  /* Streamed request bodies: a request with a body goes to the handler as soon as its head has
   * arrived, before the body, which then waits (unread, with no 100 Continue sent) until the
   * handler claims it with weft_http_request_body_stream or weft_http_request_body_collect. A
   * handler that answers without claiming it gets its answer sent with Connection: close. A
   * router does this per route (weft_http_router_add_streaming); its other routes see collected
   * bodies. max_body still applies to streamed bodies. Default false. */
  bool stream_bodies;
} weft_http_server_options;

/* Fills o with the defaults; call before setting fields, so new fields get defaults too. */
void weft_http_server_options_init(weft_http_server_options *o);

/* Creates a server on reactor r with options o (NULL: defaults; copied). It answers 404 to
 * everything until a handler is set. Returns 0, WEFT_EINVAL (max_headers over 128, a server name
 * or content type with CR, LF or NUL... is refused), or WEFT_ENOMEM. */
int weft_http_server_new(weft_http_server **out, weft_reactor *r, const weft_http_server_options *o);

/* Sets the handler (replacing a Deferred handler if one was set). Requests already being handled
 * finish with the handler they got. */
void weft_http_server_set_handler(weft_http_server *srv, weft_http_handler fn, void *user);

/* Sets a Deferred-returning handler (replacing a plain one). */
void weft_http_server_set_deferred_handler(weft_http_server *srv, weft_http_handler_deferred fn, void *user);

/* Handles a request asking to switch to the upgrader's protocol (the token it was registered
 * with is given). It answers as any handler does: weft_http_upgrade_accept to switch (now or
 * later), or a normal response to decline (426, 400...; the connection stays HTTP). */
typedef void (*weft_http_upgrader)(weft_http_request *req, const char *token, void *user);

/* Registers fn for requests with "Connection: upgrade" and an Upgrade list naming token
 * (compared ignoring case; a "/version" suffix is ignored), HTTP/1.1 only, collected body
 * included. Requests asking for tokens nobody registered go to the handler as usual. Returns 0,
 * WEFT_EINVAL (empty token, not a token, NULL fn), WEFT_EEXIST, WEFT_ENOMEM. */
int weft_http_server_add_upgrader(weft_http_server *srv, const char *token, weft_http_upgrader fn, void *user);

/* From an upgrader: answers "101 Switching Protocols" with Connection: Upgrade, Upgrade: the
 * token, and the n headers given (at most 32, copied), then hands the transport to p (copied; p's
 * callbacks borrowed): p's connection_made runs, then its data_received with the bytes that
 * followed the request head, if any were read already; every later callback is p's. The request
 * is finished and the connection no longer counts as the server's (drain and
 * weft_http_server_free leave it alone). Returns 0; WEFT_EINVAL (p NULL, a bad header or more
 * than 32; nothing changes); WEFT_ESTATE (not an upgrader's request, or answered already);
 * WEFT_ECLOSED (the client has gone: req is released all the same); WEFT_ENOMEM. */
int weft_http_upgrade_accept(weft_http_request *req, const weft_http_header *headers, size_t n, const weft_protocol *p);

/* The factory to listen with (owned by srv, valid until weft_http_server_free). */
const weft_factory *weft_http_server_factory(weft_http_server *srv);

/* Number of connections open now (for tests and drain logic). */
size_t weft_http_server_connections(const weft_http_server *srv);

/* Drains the server gracefully (what to do on SIGTERM): idle keep-alive connections (and ones
 * with only part of a request head received) are closed now; a connection with a request in
 * progress finishes its current response, sent with Connection: close when its head has not gone
 * yet, then closes; requests pipelined behind it are not started. A connection accepted from now
 * on is closed at once: the caller stops its listening ports itself (weft_listening_port_close or _stop),
 * before or after. Returns a Deferred (one reference, the caller's) that fires with
 * WEFT_VALUE_NONE when the last connection is gone, or when timeout seconds have passed, after
 * aborting the connections left (timeout <= 0 or infinite: no deadline). A connection whose client
 * left while a handler still holds its request counts until the handler finishes it. Cancelling
 * the Deferred stops waiting (the deadline too); the server stays draining. A second call returns
 * a Deferred failed with WEFT_EALREADY; NULL when out of memory. weft_http_server_free during a
 * drain fails the Deferred with WEFT_ECANCELED. */
weft_deferred *weft_http_server_drain(weft_http_server *srv, double timeout);

/* Frees the server. Close the ports listening with its factory first. Open connections are
 * aborted (their connection_lost follows on the reactor's next turns); the memory goes once the
 * last connection and the last request a handler still holds are gone. NULL is ignored. */
void weft_http_server_free(weft_http_server *srv);

/* ---- the request ---- */

/* The method as sent ("GET"), the request target as sent ("/a%20b?x=1"). */
const char *weft_http_request_method(const weft_http_request *req, size_t *len);
const char *weft_http_request_target(const weft_http_request *req, size_t *len);

/* The path, percent-decoded ("/a b"): for an origin-form target the part before '?', for an
 * absolute-form target ("http://host/p?q") the path after the authority ("/p", or "/" when
 * empty), "*" for OPTIONS *, "" for CONNECT. Invalid escapes stay as sent; %00 decodes to a NUL
 * byte, which code that opens files must refuse. */
const char *weft_http_request_path(const weft_http_request *req, size_t *len);

/* The raw query after '?', not decoded; NULL (and *len 0) when the target has no '?'. */
const char *weft_http_request_query(const weft_http_request *req, size_t *len);

/* 10 for HTTP/1.0, 11 for HTTP/1.1 (and 1.x above, answered as 1.1). */
int weft_http_request_version(const weft_http_request *req);

/* The value of the first header field named name (compared ignoring ASCII case), or NULL. */
const char *weft_http_request_header(const weft_http_request *req, const char *name, size_t *len);

/* Header fields by position, in the order received: the count, then the i-th (returns 0, or
 * WEFT_ERANGE when i >= the count). */
size_t weft_http_request_header_count(const weft_http_request *req);
int weft_http_request_header_at(const weft_http_request *req, size_t i, const char **name, size_t *name_len,
                                const char **value, size_t *value_len);

/* The index-th value (0: the first) of the query argument `name` ("?a=1&b=x+y&b=%2F": b's values
 * are "x y" and "/"), percent-decoded with '+' as a space, as HTML forms send them; names are
 * decoded the same way before comparing. A name without '=' has the value "". Writes the value
 * and a NUL into out (size bytes) and its length into *len (len may be NULL). Returns 0,
 * WEFT_ENOENT (no such argument; *len 0), WEFT_ERANGE (out too small: *len says how long the
 * value is; pass size 0 to ask), WEFT_EINVAL (name NULL). The value may hold NUL bytes (%00):
 * use *len, not strlen, where that matters. weft_http_query_arg does the same on any query
 * string (qlen bytes; query may be NULL). */
int weft_http_request_arg(const weft_http_request *req, const char *name, size_t index, char *out, size_t size,
                          size_t *len);
int weft_http_query_arg(const char *query, size_t qlen, const char *name, size_t index, char *out, size_t size,
                        size_t *len);

/* The request body, collected whole (at most max_body bytes); "" with *len 0 when none. */
const void *weft_http_request_body(const weft_http_request *req, size_t *len);

/* ---- streamed request bodies (see the stream_bodies option) ---- */

/* Where a streamed body goes. Both are called on the reactor thread with the request. */
typedef struct weft_http_body_consumer {
  /* Body bytes as they arrive, de-chunked, borrowed for the call. */
  void (*data)(weft_http_request *req, const void *data, size_t len, void *user);
  /* The body is over: error 0 when it arrived whole; WEFT_EMSGSIZE over max_body (the server
   * answers 413 and closes), WEFT_EPARSE bad chunked framing (400 and close), WEFT_ECLOSED the
   * client went away, WEFT_ENOMEM. On an error the server has answered if the handler had not
   * started its response (else it aborts the connection), and req is inert: the handler must
   * still finish it. Called once; no call after it. */
  void (*end)(weft_http_request *req, int error, void *user);
  void *user;
} weft_http_body_consumer;

/* Claims req's body as a stream into c (copied). The connection is a producer: *producer (if not
 * NULL) is filled with one whose pause_producing stops reading the client (nothing more is
 * buffered than one read), resume_producing goes on, and stop_producing drops the rest of the
 * body (the connection then closes after the answer); register it with a consumer of yours
 * (weft_transport_register_producer to forward the body elsewhere) or call it directly. It is
 * valid until end has been called. Sends 100 Continue now if the client asked for it. A body
 * that was collected already (a server without stream_bodies, a request without a body) is
 * delivered at once, data then end, before this returns. Returns 0, WEFT_ESTATE (claimed
 * already, or the request is finished), WEFT_EINVAL (c without data or end). */
int weft_http_request_body_stream(weft_http_request *req, const weft_http_body_consumer *c, weft_producer *producer);

/* Claims req's body to be collected in memory (up to max_body), then calls fn(req, user) as a
 * server handler is called: from then on weft_http_request_body gives the whole body. If the body
 * fails (413, 400, the client gone), the server answers and finishes req itself and fn is not
 * called. A body already complete calls fn before this returns. Returns 0, WEFT_ESTATE, or
 * WEFT_EINVAL (fn NULL). */
int weft_http_request_body_collect(weft_http_request *req, weft_http_handler fn, void *user);

/* True while req's body has arrived only in part and nobody has claimed it (the handler was
 * called early, under stream_bodies). */
bool weft_http_request_body_pending(const weft_http_request *req);

/* The client's address. Returns 0, WEFT_ECLOSED once the client has gone, WEFT_ENOTSUP for a
 * transport without addresses. */
int weft_http_request_peer(const weft_http_request *req, weft_address *out);

/* The TLS session of the request's connection (version, cipher, ALPN, peer certificate...; see
 * tls.h). Returns 0, WEFT_ENOTSUP (not TLS), WEFT_ECLOSED (the client has gone). */
struct weft_tls_info;
int weft_http_request_tls_info(const weft_http_request *req, struct weft_tls_info *out);

/* True if the connection is TLS. */
bool weft_http_request_is_tls(const weft_http_request *req);

/* True once the client has disconnected: the request is inert, writes return WEFT_ECLOSED. */
bool weft_http_request_closed(const weft_http_request *req);

/* The reactor the request's server runs on. */
weft_reactor *weft_http_request_reactor(const weft_http_request *req);

/* ---- the response ---- */

/* Answers req in one piece: status line, Date, Server, the nheaders headers given, Content-Length
 * and Connection as needed, then the body (left out for HEAD, 1xx, 204 and 304). The bytes are
 * copied. Content-Length and Transfer-Encoding among headers are ignored (the server sets the
 * framing); "Connection: close" closes the connection after this response. Finishes the request:
 * req must not be used afterwards. Returns 0; WEFT_ECLOSED if the client has gone (req is
 * released all the same); WEFT_ESTATE if a response was already started or finished (nothing
 * changes); WEFT_ENOMEM; WEFT_EINVAL for a status outside 200..999 (interim 1xx answers are not
 * final responses) or a header name that is not a token or a
 * value holding CR, LF or NUL (the request is not finished then). */
int weft_http_respond(weft_http_request *req, int status, const weft_http_header *headers, size_t nheaders,
                      const void *body, size_t len);

/* Starts a streamed response with status. Headers follow with weft_http_response_header; they
 * are sent with the first write (or at finish). Returns 0, WEFT_ECLOSED (client gone; the request
 * still has to be finished), WEFT_ESTATE (already started), WEFT_EINVAL (status outside
 * 200..999). */
int weft_http_response_start(weft_http_request *req, int status);

/* Adds a header (copied) before the first write. A Content-Length header makes the body exactly
 * that long, sent as is; without one the body is chunked for HTTP/1.1 clients and delimited by
 * closing the connection for HTTP/1.0 ones. "Connection: close" closes after this response;
 * Transfer-Encoding is refused (the server frames the body). Returns 0, WEFT_ESTATE (not started,
 * or headers already sent), WEFT_EINVAL (not a token name, a value with CR/LF/NUL, a bad
 * Content-Length, Transfer-Encoding), WEFT_ECLOSED, WEFT_ENOMEM. */
int weft_http_response_header(weft_http_request *req, const char *name, const char *value);

/* Sends len bytes of body (copied; sends the head first if not yet). Writing above the
 * connection's high-water mark is allowed and buffered; register a producer to be paused.
 * For HEAD and bodiless statuses the bytes are dropped. Returns 0, WEFT_ESTATE (not started or
 * finished), WEFT_EINVAL (more than the Content-Length announced), WEFT_ECLOSED (client gone),
 * WEFT_ENOMEM. */
int weft_http_response_write(weft_http_request *req, const void *data, size_t len);

/* Ends the streamed response (the last chunk for chunked bodies) and releases req: it must not
 * be used afterwards. A body shorter than its Content-Length closes the connection, since the
 * client can no longer find the next response. Returns 0; WEFT_ECLOSED (client gone: req is
 * released all the same); WEFT_ESTATE (not started: nothing changes). */
int weft_http_response_finish(weft_http_request *req);

/* Registers a producer of the body with the connection (the struct is copied): streaming
 * producers are paused when the connection's queued output passes its high-water mark and
 * resumed below the low one; a pull producer is asked for each piece. It gets stop_producing if
 * the client disconnects, and is unregistered (without a call) by weft_http_response_finish.
 * Returns 0, WEFT_ESTATE (no response started), WEFT_EBUSY (one is registered), WEFT_ECLOSED. */
int weft_http_response_register_producer(weft_http_request *req, const weft_producer *p, bool streaming);

/* A result for a Deferred handler's Deferred: status, Content-Type (NULL: none) and a body, all
 * copied. Returns a WEFT_VALUE_PTR owning the copy (released like any value), or a Failure value
 * (WEFT_ENOMEM) when out of memory. */
weft_value weft_http_response_value(int status, const char *content_type, const void *body, size_t len);

/* As weft_http_response_value, with any headers (each name and value copied; Content-Length,
 * Transfer-Encoding and Connection are handled as weft_http_respond handles them). May be made
 * on any thread (a thread-pool handler's answer). Returns the value, or a Failure value: WEFT_EINVAL
 * (a NULL name or value; a header the server refuses gives a 500 when sent), WEFT_ENOMEM. */
weft_value weft_http_response_value_headers(int status, const weft_http_header *headers, size_t n,
                                            const void *body, size_t len);

/* Answers req from d's result as the server answers from a Deferred handler's Deferred (see
 * weft_http_handler_deferred: a response value, a string, NONE when answered through req, a
 * Failure for 500), taking the caller's reference to d; when the client disconnects first, d is
 * cancelled. For handlers that are not Deferred handlers themselves (routes, coroutines). If req
 * is finished through req before d fires, d's result is left alone. NULL d is taken as out of
 * memory (500). Returns 0, or WEFT_ESTATE (req finished, or already answered from a Deferred;
 * d is then unreferenced unused). */
int weft_http_request_answer_deferred(weft_http_request *req, weft_deferred *d);

/* ---- blocking handlers on the reactor's thread pool (threads.h) ---- */

/* A request as a thread-pool handler sees it: copies of the head, the collected body, the peer
 * and the route's parameters, readable from any thread, valid during the handler call. */
typedef struct weft_http_snapshot weft_http_snapshot;

/* Runs on a worker thread: may block; must not touch the reactor (except through
 * weft_block_on_reactor). Returns the answer as a Deferred handler's Deferred fires with it: a
 * value from weft_http_response_value(_headers), a static string (200), or a Failure (500,
 * logged). */
typedef weft_value (*weft_http_thread_fn)(const weft_http_snapshot *s, void *user);

/* Answers req from fn(snapshot, user) run on the reactor's thread pool; the reactor thread sends
 * the answer, and meanwhile serves other requests. A client that disconnects stops req waiting:
 * the job still runs (a running thread cannot be stopped) and its answer is dropped. A pool that
 * is full or stopping gives a 500. Call it from a handler, as the handler's answer. Returns 0,
 * WEFT_EINVAL (fn NULL), WEFT_ESTATE (req finished or already answered from a Deferred, or its
 * body not collected yet under stream_bodies: call it from a weft_http_request_body_collect
 * callback). */
int weft_http_request_run_in_thread(weft_http_request *req, weft_http_thread_fn fn, void *user);

/* The snapshot's method, target, decoded path, query (NULL when none), version (10, 11), first
 * header named name (ignoring case, NULL when none), body, and client address (0, or WEFT_ENOTSUP
 * when it was not known): as the weft_http_request_* accessors. */
const char *weft_http_snapshot_method(const weft_http_snapshot *s, size_t *len);
const char *weft_http_snapshot_target(const weft_http_snapshot *s, size_t *len);
const char *weft_http_snapshot_path(const weft_http_snapshot *s, size_t *len);
const char *weft_http_snapshot_query(const weft_http_snapshot *s, size_t *len);
int weft_http_snapshot_version(const weft_http_snapshot *s);
const char *weft_http_snapshot_header(const weft_http_snapshot *s, const char *name, size_t *len);
const void *weft_http_snapshot_body(const weft_http_snapshot *s, size_t *len);
int weft_http_snapshot_peer(const weft_http_snapshot *s, weft_address *out);
/* A route parameter (weft_http_router_add_thread) by name, as text ("42" for <int:id>),
 * NUL-terminated as well: 0, or WEFT_ENOENT. */
int weft_http_snapshot_param(const weft_http_snapshot *s, const char *name, const char **p, size_t *len);

/* The reason phrase of a status ("Not Found"), "" for one weft does not know. */
const char *weft_http_status_reason(int status);

/* Formats t (seconds since the epoch) as an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT": 29
 * characters and a NUL into out. */
void weft_http_date(time_t t, char out[30]);

#ifdef __cplusplus
}
#endif
#endif
