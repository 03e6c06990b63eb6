/* http_client.h: the HTTP/1.1 client (twisted.web.client.Agent with HTTPConnectionPool,
 * RedirectAgent, and treq's convenience layer and StubTreq).
 *
 * An agent sends requests and gives their responses as Deferreds. It keeps a pool of
 * connections per (scheme, host, port): a connection whose response is finished goes back to the
 * pool and carries the next request to the same place (keep-alive); at most max_per_host are
 * open to one place, further requests wait in order; an idle connection is closed after
 * idle_timeout. A request sent on a reused connection that turns out closed before any byte of
 * its response came back is sent once more on a new one, if its method is idempotent.
 *
 * Connections are made by a connector: by default TCP (host names resolved and raced with Happy
 * Eyeballs, hostname.h), and for https TLS over it with verification on (SNI, the system trust
 * store or a CA file). weft_http_stub_new gives an agent whose connector reaches a
 * weft_http_server through in-memory transports, for tests (treq's StubTreq).
 *
 * The response Deferred fires once the response head has arrived, with a weft_http_response*
 * (a WEFT_VALUE_PTR owning it: free it with weft_http_response_free, or let the value be
 * released). Its body follows: collect it (weft_http_response_content) or stream it to a
 * callback (weft_http_response_deliver), with backpressure. Cancelling the Deferred, or freeing a
 * response before its body ended, closes the connection (it never goes back to the pool).
 *
 * Failures have domain WEFT_HTTP_CLIENT_DOMAIN and a WEFT_E* code with a message saying what
 * failed, e.g.
 *   "GET http://127.0.0.1:1/: cannot connect to 127.0.0.1:1: connection refused"
 *   "GET https://localhost:8443/: TLS handshake with localhost:8443 failed: certificate verify
 *    failed: self-signed certificate (depth 0, CN=localhost)"
 *   "GET http://x/: timed out after 5 s", "GET http://x/: malformed response: invalid chunk size"
 * with the lower layer's Failure as cause where there is one. */
#ifndef WEFT_HTTP_CLIENT_H
#define WEFT_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/deferred.h"
#include "weft/http.h"
#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* Jansson's value (include weft/http_json.h to use it) */

#define WEFT_HTTP_CLIENT_DOMAIN "weft.http.client"

typedef struct weft_http_agent weft_http_agent;
typedef struct weft_http_response weft_http_response;
typedef struct weft_http_body_writer weft_http_body_writer;

/* ---- URLs ---- */

/* A parsed http or https URL. Strings are NUL-terminated inside the struct. */
typedef struct weft_http_url {
  char scheme[8];    /* "http" or "https" (lowercased) */
  char host[256];    /* a name or an address, IPv6 without its brackets, lowercased */
  int port;          /* explicit or the scheme's default */
  bool ipv6;         /* host was a bracketed IPv6 literal */
  char target[4096]; /* path and query ("/" when empty), fragment dropped */
} weft_http_url;

/* Parses url. Returns 0 or WEFT_EINVAL with a reason in why (may be NULL when whylen is 0):
 * another scheme, no host, a bad port, a bracketed host that is not IPv6, user info, spaces or
 * control characters, parts that are too long. */
int weft_http_url_parse(weft_http_url *out, const char *url, char *why, size_t whylen);

/* ---- connectors ---- */

/* Makes a connection to (scheme, host, port) and attaches a protocol from f to it: f->build_protocol
 * and the protocol's connection_made once it is up (after the TLS handshake for https), or
 * f->connection_failed(reason) if it could not be made. Returns a Deferred (one reference for the
 * agent) that fires once either happened: NONE on success, a Failure with a clear message on
 * failure (connection_failed may then be skipped). The agent may cancel it: the attempt stops, and
 * a connection that completes anyway must be refused or closed. NULL means out of memory. */
typedef weft_deferred *(*weft_http_connect_fn)(void *user, weft_reactor *r, const char *scheme, const char *host,
                                               int port, const weft_factory *f);

typedef struct weft_http_connector {
  weft_http_connect_fn connect;
  void *user;
} weft_http_connector;

/* ---- the agent ---- */

typedef struct weft_http_agent_options {
  unsigned max_per_host;  /* connections open at once to one (scheme, host, port); default 6 */
  double idle_timeout;    /* seconds an unused pooled connection is kept; default 60; <= 0 none */
  bool persistent;        /* keep connections for reuse (default true); false: one per request */
  double connect_timeout; /* seconds for connect (and TLS handshake); default 30; <= 0 none */
  const char *ca_file;    /* https: trust these CAs (PEM) instead of the system store; copied */
  const char *ca_dir;     /* https: a hashed CA directory; copied */
  bool tls_verify;        /* default true; false accepts any certificate (tests only) */
  const char *user_agent; /* default "weft"; NULL or "" sends none */
  /* the connector; NULL connect: TCP / TLS as described above */
  weft_http_connector connector;
} weft_http_agent_options;

/* Fills the defaults. */
void weft_http_agent_options_init(weft_http_agent_options *o);

/* Creates an agent on r. o may be NULL (defaults); it is copied. Returns 0, WEFT_EINVAL,
 * WEFT_ENOMEM, or the TLS layer's error for an unusable ca_file (WEFT_ETLSCONFIG). */
int weft_http_agent_new(weft_http_agent **out, weft_reactor *r, const weft_http_agent_options *o);

/* Closes every pooled connection and fails (WEFT_ECANCELED) requests still waiting or running,
 * then frees the agent. Responses already delivered stay readable (their bodies fail if
 * unfinished). NULL is ignored. */
void weft_http_agent_free(weft_http_agent *a);

/* Connections the agent has open (idle and busy), and how many were ever made: for tests. */
size_t weft_http_agent_open_connections(const weft_http_agent *a);
size_t weft_http_agent_connections_made(const weft_http_agent *a);

/* A request body written by the application (Twisted's IBodyProducer). start is called once the
 * connection is ready, with a writer to write the body to; pause/resume come from the connection's
 * flow control, stop when the request is abandoned (after stop, never touch the writer). */
typedef struct weft_http_body_producer {
  int64_t length; /* the exact length (Content-Length), or -1: unknown (chunked) */
  void (*start)(weft_http_body_writer *w, void *user);
  void (*pause)(void *user);
  void (*resume)(void *user);
  void (*stop)(void *user);
  void *user;
} weft_http_body_producer;

/* Writes len body bytes (copied). Returns 0, WEFT_EINVAL (more than the length announced),
 * WEFT_ECLOSED (the request was abandoned or finished), WEFT_ENOMEM. */
int weft_http_body_write(weft_http_body_writer *w, const void *data, size_t len);
/* Ends the body (error 0), or abandons the request with error (< 0: the request fails with it
 * and the connection is closed). The writer is gone afterwards. Returns 0 or WEFT_ECLOSED. */
int weft_http_body_finish(weft_http_body_writer *w, int error);

typedef struct weft_http_request_options {
  const weft_http_header *headers; /* extra headers, copied (Host, Content-Length,
                                      Transfer-Encoding and Connection are the agent's) */
  size_t nheaders;
  const void *body;                /* body bytes (copied), or NULL */
  size_t body_len;
  const weft_http_body_producer *producer; /* or a producer (copied); not both */
  bool follow_redirects;           /* default false */
  unsigned max_redirects;          /* default 20 */
  double timeout;                  /* seconds from the request to the end of the body; <= 0 none */
  double idle_timeout;             /* seconds allowed between two reads of the response; <= 0 none */
  uint64_t max_body;               /* a larger response body fails the request; default none */
} weft_http_request_options;

/* Fills the defaults. */
void weft_http_request_options_init(weft_http_request_options *o);

/* Sends method url. Returns a new Deferred (the caller's reference) firing with the response (see
 * the top) or failing; an invalid URL or method gives an already failed Deferred (WEFT_EINVAL,
 * the reason in the message). With follow_redirects, 301, 302 and 303 are followed with GET and
 * no body (a HEAD stays HEAD), 307 and 308 with the same method and body (not followed when the
 * body came from a producer, which cannot give it twice: the 307/308 is the response then);
 * Authorization is not sent to another host; more than max_redirects fails with WEFT_ELIMIT. o
 * may be NULL. NULL only when out of memory. */
weft_deferred *weft_http_agent_request(weft_http_agent *a, const char *method, const char *url,
                                       const weft_http_request_options *o);

/* ---- the response ---- */

/* The status line: the code (200), the reason phrase as sent ("" when none), and the version (10
 * for HTTP/1.0, 11 for HTTP/1.1). Strings live as long as resp. */
int weft_http_response_status(const weft_http_response *resp);
const char *weft_http_response_reason(const weft_http_response *resp);
int weft_http_response_version(const weft_http_response *resp);
/* The URL that was finally answered (after redirects). */
const char *weft_http_response_url(const weft_http_response *resp);
/* The first header named name (ASCII case ignored), NUL-terminated, or NULL. */
const char *weft_http_response_get_header(const weft_http_response *resp, const char *name);
/* The number of header fields, in the order received. */
size_t weft_http_response_header_count(const weft_http_response *resp);
/* The i-th header (strings live as long as resp); returns 0 or WEFT_ERANGE. */
int weft_http_response_header_at(const weft_http_response *resp, size_t i, const char **name, const char **value);

/* A collected body. */
typedef struct weft_http_bytes {
  char *data; /* NUL-terminated (not counted in len) */
  size_t len;
} weft_http_bytes;
/* Frees a collected body and its data. NULL is ignored. */
void weft_http_bytes_free(weft_http_bytes *b);

/* Collects the whole body: a new Deferred firing with a weft_http_bytes* (WEFT_VALUE_PTR, freed
 * by weft_http_bytes_free) once the body ended, or failing (connection lost before the end,
 * timeout, a body over max bytes (0: no limit) with WEFT_ELIMIT). Only one of content/deliver per
 * response; a second call gives a failed Deferred (WEFT_ESTATE). The response must stay alive
 * until the Deferred fired. NULL only when out of memory. */
weft_deferred *weft_http_response_content(weft_http_response *resp, size_t max);

/* Streams the body: on_data for each piece (borrowed for the call), then on_end once with 0 (the
 * whole body came) or an error (< 0; text in reason, may be NULL). From on_data, call
 * weft_http_response_pause to stop the transport reading (backpressure) and resume later. The
 * callbacks may free the response only from on_end. Returns 0 or WEFT_ESTATE (already chosen). */
typedef struct weft_http_body_callbacks {
  void (*on_data)(weft_http_response *resp, const char *data, size_t len, void *user);
  void (*on_end)(weft_http_response *resp, int error, const char *reason, void *user);
  void *user;
} weft_http_body_callbacks;
int weft_http_response_deliver(weft_http_response *resp, const weft_http_body_callbacks *cb);
/* Stops reading the body's connection (no on_data until resumed), and starts it again. Calls that
 * do not change the state are ignored. */
void weft_http_response_pause(weft_http_response *resp);
void weft_http_response_resume(weft_http_response *resp);

/* Frees the response; a body still arriving is abandoned (its connection closed). NULL ignored. */
void weft_http_response_free(weft_http_response *resp);

/* ---- the in-memory client (treq's StubTreq) ---- */

/* An agent whose connector joins each new connection to srv's protocol through a pair of
 * in-memory transports on r (no sockets): the server answers as it would over TCP, and a test
 * driving the memory reactor's clock sees everything happen deterministically (each transfer
 * happens on the reactor's next turn; run weft_reactor_iterate or advance a memory reactor).
 * srv must outlive the agent. Free it with weft_http_agent_free. */
int weft_http_stub_new(weft_http_agent **out, weft_reactor *r, weft_http_server *srv);

/* The stub's connector alone, for an agent made with other options (pool limits, ...). */
weft_http_connector weft_http_stub_connector(weft_http_server *srv);

/* ---- treq-like convenience ---- */

typedef struct weft_http_opts {
  const weft_http_header *headers; /* copied */
  size_t nheaders;
  const void *body;     /* bytes, with content_type if set */
  size_t body_len;
  const char *content_type;
  /* a form body: name/value pairs, encoded as application/x-www-form-urlencoded */
  const weft_http_header *form;
  size_t nform;
  const char *json_text; /* a JSON body already serialized (weft_http_json_body makes one) */
  /* a JSON body (Jansson's json_t, borrowed; http_json.h), sent serialised compactly with
   * Content-Type application/json; one that cannot be serialised fails the request (EINVAL) */
  const struct json_t *json;
  const char *user, *password; /* basic auth when user is set */
  double timeout;              /* seconds, as the request option; <= 0: none */
  bool follow_redirects;       /* default true here, as in treq */
  unsigned max_redirects;      /* default 20 */
} weft_http_opts;

/* Fills the defaults. */
void weft_http_opts_init(weft_http_opts *o);

/* treq.request: method url with opts (NULL: defaults) through agent (named _send: weft_http_request is
 * the server's request type). Returns the response Deferred as
 * weft_http_agent_request. */
weft_deferred *weft_http_send(weft_http_agent *agent, const char *method, const char *url, const weft_http_opts *o);
weft_deferred *weft_http_get(weft_http_agent *agent, const char *url, const weft_http_opts *o);
weft_deferred *weft_http_post(weft_http_agent *agent, const char *url, const weft_http_opts *o);
weft_deferred *weft_http_put(weft_http_agent *agent, const char *url, const weft_http_opts *o);
weft_deferred *weft_http_delete(weft_http_agent *agent, const char *url, const weft_http_opts *o);

/* Collects resp's body (no limit) and frees resp: a Deferred with weft_http_bytes*. Takes
 * ownership of resp (treq.content). */
weft_deferred *weft_http_content(weft_http_response *resp);
/* As weft_http_content, then the bytes as a NUL-terminated char* (WEFT_VALUE_PTR freed by free). */
weft_deferred *weft_http_text(weft_http_response *resp);

/* Percent-encodes pairs as application/x-www-form-urlencoded into a new string (free with
 * free), or NULL when out of memory. */
char *weft_http_form_encode(const weft_http_header *pairs, size_t n);

#ifdef __cplusplus
}
#endif
#endif
