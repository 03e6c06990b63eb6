/* http_client_internal.h: the client's pieces shared between its files (agent and pool,
 * connection protocol, response). Internal to the web layer. */
#ifndef WEFT_WEB_HTTP_CLIENT_INTERNAL_H
#define WEFT_WEB_HTTP_CLIENT_INTERNAL_H

#include "web/http1_response.h"
#include "weft/http_client.h"
#include "weft/tls.h"

typedef struct hc_pool hc_pool;
typedef struct hc_conn hc_conn;
typedef struct hc_req hc_req;

struct weft_http_agent {
  weft_reactor *r;
  weft_http_agent_options o;
  char *ca_file, *ca_dir, *user_agent;
  weft_tls_context *tls; /* made on the first https request */
  hc_pool *pools;
  size_t open, made;
};

struct hc_pool {
  hc_pool *next;
  weft_http_agent *a;
  char scheme[8], host[256];
  int port;
  hc_conn *conns;               /* every connection of this place, idle or busy */
  hc_req *wait_head, *wait_tail; /* requests waiting for a connection, in order */
  unsigned open;                 /* connections connecting or connected */
};

struct hc_conn {
  weft_http_agent *a; /* NULL once the agent is gone */
  hc_pool *pool;      /* NULL once the agent is gone */
  hc_conn *next;      /* in pool->conns */
  weft_factory factory;
  weft_deferred *connecting; /* the connector's Deferred until it fired */
  weft_transport *t;         /* once connected, until connection_lost */
  weft__h1r_parser parser;
  char *in;
  size_t in_len, in_cap;
  hc_req *req;               /* the exchange on this connection */
  weft_delayed_call *idle;   /* pooled: closes the connection when unused too long */
  unsigned requests;         /* exchanges begun on it */
  weft_delayed_call *kick;   /* processes held bytes after a resume */
  bool up, lost, dead, keep_alive, reading_paused, got_bytes, connect_done, timed_out;
};

enum { HC_BODY_BYTES, HC_BODY_PRODUCER };

struct weft_http_body_writer {
  hc_req *req;
};

struct hc_req {
  weft_http_agent *a;
  weft_deferred *d; /* the response Deferred, until it fired */
  char method[32];
  weft_http_url url;
  char *url_text;
  char **hnames, **hvalues; /* the extra headers, copied */
  size_t nheaders;
  char *body;
  size_t body_len;
  bool has_producer, producer_started, producer_done, chunked_body;
  weft_http_body_producer producer;
  weft_http_body_writer writer;
  uint64_t body_written;
  weft_http_request_options o;
  unsigned redirects;
  bool retried, redirecting, head_seen, finished;
  hc_pool *pool;
  hc_req *wait_next;
  hc_conn *conn;
  weft_http_response *resp;
  weft_delayed_call *timer, *read_timer;
  uint64_t body_seen;
  char *body_discard_location; /* Location of a redirect being read */
  int redirect_status;
};

/* ---- agent (http_client.c) ---- */
/* Ends the exchange: err 0 after a complete response, else fails the Deferred (if not fired) or
 * the body (with why). Frees req. Closes the connection on error. */
void weft__hc_req_finish(hc_req *q, int err, const char *why);
/* A Failure naming the request: "METHOD URL: what". */
weft_failure *weft__hc_failure(hc_req *q, int code, weft_failure *cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Retries q once on a new connection (a reused connection closed before answering): false
 * when it may not be (not idempotent, a producer body, retried already). */
bool weft__hc_req_retry(hc_req *q);
/* A redirect response (status, Location) was read whole: q goes on to the new place (or fails). */
void weft__hc_req_redirect(hc_req *q, int status, const char *location);

/* ---- connection (http_client_conn.c) ---- */
hc_conn *weft__hc_conn_new(hc_pool *pool);
/* Starts q's exchange on the (connected, idle) connection. */
void weft__hc_conn_start(hc_conn *c, hc_req *q);
void weft__hc_conn_abort(hc_conn *c);
/* Feeds the bytes held in c to the parser (after a resume). */
void weft__hc_conn_process(hc_conn *c);
/* The agent lets go of c (agent freed): abort and free once lost. */
void weft__hc_conn_orphan(hc_conn *c);
/* Called by the agent when the connection became usable or failed. */
void weft__hc_pool_conn_ready(hc_pool *p, hc_conn *c);
void weft__hc_pool_conn_gone(hc_pool *p, hc_conn *c, int err, weft_failure *why);

/* ---- response (http_client_response.c) ---- */
weft_http_response *weft__hc_response_new(hc_req *q, const weft__h1r_head *h);
/* Body bytes; returns false when the response was freed meanwhile. */
void weft__hc_response_data(weft_http_response *resp, const char *data, size_t len);
bool weft__hc_response_paused(const weft_http_response *resp);
void weft__hc_response_end(weft_http_response *resp, int err, const char *why);

/* ---- connectors (http_client_connect.c) ---- */
weft_deferred *weft__hc_default_connect(void *user, weft_reactor *r, const char *scheme, const char *host, int port,
                                        const weft_factory *f);

#endif
