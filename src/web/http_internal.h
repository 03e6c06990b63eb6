/* http_internal.h: the HTTP/1.1 server's shared state (twisted.web.http's HTTPChannel and
 * Request as C structs): the server, one connection with its request embedded, and the calls
 * between http_server.c, http_channel.c, http_request.c, http_response.c and
 * http_deferred.c. Not installed. */
#ifndef WEFT_WEB_HTTP_INTERNAL_H
#define WEFT_WEB_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "web/http1_parser.h"
#include "weft/http.h"

typedef struct weft__http_conn weft__http_conn;
typedef struct weft__http_body weft__http_body;
typedef struct weft__http_dlink weft__http_dlink;

/* Where a request's answer stands. */
enum {
  WEFT__HTTP_IDLE = 0, /* no request (between requests) */
  WEFT__HTTP_HANDLING, /* the handler has it; nothing answered yet */
  WEFT__HTTP_STARTED,  /* weft_http_response_start called; head not sent */
  WEFT__HTTP_SENT,     /* head sent, body streaming */
  WEFT__HTTP_DONE      /* finished; the connection takes it back */
};

struct weft_http_request {
  weft__http_conn *conn;
  /* Slices: into the bytes being parsed while the request is dispatched synchronously, into
   * `store` once detached (a handler that answers later keeps its own copy, since the reactor's
   * read buffer is reused by the next read). */
  const char *method, *target, *path, *query;
  uint32_t method_len, target_len, path_len, query_len;
  const weft__h1_field *fields;
  uint32_t nfields;
  uint8_t minor;
  uint8_t phase;
  bool head;       /* a HEAD request: no body in the answer */
  bool keep_alive; /* the connection persists after this response */
  bool detached;
  /* Response framing, decided when the head goes out. */
  bool chunked, has_length, no_body, producer;
  bool upgrade_req; /* Connection: upgrade with an Upgrade list (HTTP/1.1) */
  bool upgrader;    /* ...and an upgrader has it */
  bool logged;      /* its access log event has gone (a refusal while a handler holds it) */
  int status;
  uint32_t hbuf_len, hbuf_cap; /* of hbuf below (a head is far below 4 GiB) */
  uint64_t length, written; /* the announced Content-Length and the body bytes sent */
  char *store;              /* the detached copy of the head */
  char *body;               /* the collected request body (heap), body_len bytes */
  size_t body_len, body_cap;
  char *hbuf; /* a streamed response's head, built by start/header */
  weft__http_dlink *dl; /* the Deferred answering it, until it fires (http_deferred.c) */
  double started;   /* reactor seconds at the head, with the access log on */
  weft__http_body *bs; /* a body handed out as it arrives (stream_bodies), else NULL */
};

struct weft__http_conn {
  weft_http_server *srv;
  weft_transport *t; /* NULL once the connection is lost */
  weft__http_conn *prev, *next;
  weft__h1_parser parser;
  weft_http_request req;
  char *buf; /* bytes not consumed yet (a partial head, or what follows a pending request) */
  uint32_t buf_len, buf_cap;
  weft_delayed_call *timer;
  double deadline; /* reactor seconds; the timer checks it lazily */
  weft__task resume_task;
  uint32_t served;
  bool tls;
  bool lost;        /* connection_lost came: the request (if held) is inert */
  bool closing;     /* we are closing: ignore input */
  bool pending;     /* a handler holds req past the parse that produced it */
  bool dispatching; /* inside the handler call, on the parser's stack */
  bool in_request;  /* between on_head and on_message_complete */
  bool receiving;   /* a partial request is buffered: the request timeout runs */
  bool reading_paused;
  bool backed_up; /* answers queued past the high-water mark: no new request until they drain */
  bool guard; /* inside connection_lost: do not free the conn under it */
  uint16_t fail_status; /* set by a parser callback that hit an error of ours (500 on ENOMEM) */
  /* Output still queued when the idle deadline last passed (the send timeout: a client that
   * reads nothing of its answers is dropped; one that reads slowly is not). */
  size_t unsent;
};

/* Percent-decodes n bytes of src into dst (room for n; NULL only counts); invalid escapes are
 * copied as sent; with plus_is_space, '+' becomes ' ' (query strings, HTML forms). Returns the
 * decoded length. */
size_t weft__http_percent_decode(char *dst, const char *src, size_t n, bool plus_is_space);

struct weft_http_server {
  weft_reactor *r;
  weft_http_server_options o;
  char *server_name;
  char *default_content_type;
  weft__h1_limits limits;
  weft_factory factory;
  weft_http_handler handler;
  weft_http_handler_deferred dhandler;
  void *handler_user;
  weft__http_conn *conns;
  struct weft__http_upgrader *upgraders;
  size_t nupgraders;
  /* An upgrade accepted inside a parser callback, until process() hands the transport over (one
   * at a time: it happens before that process() returns). Kept here, not in every connection. */
  weft__http_conn *upgrading;
  weft_protocol upgrade_to;
  size_t nconns; /* lost connections whose request a handler still holds included */
  bool freeing;
  bool draining; /* weft_http_server_drain was called: no new requests, no new connections */
  weft_deferred *drain_d;         /* the drain's Deferred until it fires (our reference) */
  weft_delayed_call *drain_timer; /* the drain's deadline */
  /* "Date: <IMF-fixdate>\r\nServer: <name>\r\n", the date rewritten once a second. */
  char *common;
  size_t common_len;
  double date_next; /* reactor seconds at which the date must be formatted again */
  /* Scratch for the request being dispatched synchronously: the parser's fields (valid only in
   * on_head) and the decoded path. One request at a time uses them; a request that outlives its
   * parse is detached into its own copy first. */
  weft__h1_field fields[WEFT__H1_MAX_FIELDS];
  char *path_scratch; /* max_request_line bytes */
};

/* ASCII case-insensitive equality of n bytes (header names). */
static inline bool weft__http_name_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x == y) continue;
    unsigned char lx = x | 0x20;
    if (lx != (y | 0x20) || lx < 'a' || lx > 'z') return false;
  }
  return true;
}

/* http_channel.c: the connection protocol. */
extern const weft_protocol_callbacks weft__http_channel_callbacks;
extern const weft__h1_callbacks weft__http_parser_callbacks;
/* The request is finished (phase DONE): called by http_response.c. */
void weft__http_request_done(weft_http_request *req);
/* The server's log. */
weft_log_publisher *weft__http_log(const weft_http_server *srv);
/* Frees the conn if nothing refers to it any more (lost, and no request held). */
void weft__http_conn_maybe_free(weft__http_conn *c);
/* Goes on with the bytes buffered behind a request answered later (the resume task). */
void weft__http_conn_resume(weft__http_conn *c);

/* http_request.c */
/* Fills req from a parsed head (slices into the current bytes; fields copied to the scratch). */
void weft__http_request_begin(weft_http_request *req, const weft__h1_head *h);
/* Copies what req points at into its own storage. Returns 0 or WEFT_ENOMEM. */
int weft__http_request_detach(weft_http_request *req);
/* Appends body bytes. Returns 0 or WEFT_ENOMEM. */
int weft__http_request_add_body(weft_http_request *req, const char *data, size_t len);
/* Frees what the request owns and clears it for the next one. */
void weft__http_request_reset(weft_http_request *req);
/* "GET /x from 127.0.0.1:5000" style fields for log lines: fills peer (NUL-terminated). */
void weft__http_request_peer_text(const weft_http_request *req, char *peer, size_t size);

/* http_response.c */
/* Answers a request the server refuses (parser errors, 417, 500) with a short text body and
 * Connection: close, then closes. */
void weft__http_send_error(weft__http_conn *c, int status);
/* Brings the cached Date header up to date. */
void weft__http_refresh_date(weft_http_server *srv);
/* Ends a response that can no longer be completed (a streamed response whose producer failed):
 * aborts the connection and releases the request. */
void weft__http_response_abort(weft_http_request *req);

/* http_drain.c */
/* Puts one connection into drain: closes it if idle, or makes its current response the last. */
void weft__http_conn_drain(weft__http_conn *c);
/* Fires the drain's Deferred if the last connection has gone. May free srv (the Deferred's
 * callbacks may): the caller must not touch srv afterwards. */
void weft__http_drain_check(weft_http_server *srv);
/* The server is being freed: the drain's timer goes and its Deferred fails with WEFT_ECANCELED. */
void weft__http_drain_abandon(weft_http_server *srv);

/* http_access_log.c: emits req's access log event (the server's access_log option is on). */
void weft__http_access_log(weft_http_request *req, int status, uint64_t bytes);

/* http_body.c: streamed request bodies (allocated per request, only under stream_bodies). */
enum { WEFT__BODY_UNCLAIMED = 0, WEFT__BODY_STREAM, WEFT__BODY_COLLECT, WEFT__BODY_STOPPED };
struct weft__http_body {
  weft_http_body_consumer consumer;
  weft_http_handler collect_fn;
  void *collect_user;
  uint8_t mode;
  bool paused;          /* the consumer paused it */
  bool complete;        /* the body is over (whole, or failed): nothing more arrives */
  bool expect_continue; /* 100 Continue is owed when the body is claimed */
  int error;            /* why it failed (complete before it was claimed: told when it is) */
};
/* on_head under stream_bodies for a request with a body: allocates req->bs. Returns 0 or
 * WEFT_ENOMEM. */
int weft__http_body_begin(weft_http_request *req, bool expect_continue);
/* The parser must stop before more body (unclaimed, or the consumer paused). */
bool weft__http_body_blocked(const weft__http_conn *c);
/* Parser events for a request with c->req.bs: return WEFT__H1_PAUSE or 0 as parser callbacks. */
int weft__http_body_data(weft__http_conn *c, const char *data, size_t len);
void weft__http_body_complete(weft__http_conn *c);
/* The body failed (error as weft_http_body_consumer.end gets it). Called after the server
 * answered a refusal, or on connection loss. A consumer's end may finish the request: the caller
 * releases it then (the dispatching guard keeps weft__http_request_done from doing so). */
void weft__http_body_fail(weft__http_conn *c, int error);

/* http_thread.c */
typedef struct weft__http_param {
  const char *name; /* NUL-terminated */
  const char *p;
  size_t len;
} weft__http_param;
/* A snapshot of req with these route parameters (copied), or NULL when out of memory. */
weft_http_snapshot *weft__http_snapshot_new(const weft_http_request *req, const weft__http_param *params, size_t n);
/* weft_http_request_run_in_thread with route parameters. */
int weft__http_run_in_thread(weft_http_request *req, weft_http_thread_fn fn, void *user,
                             const weft__http_param *params, size_t n);

/* http_upgrade.c */
typedef struct weft__http_upgrader weft__http_upgrader;
void weft__http_upgraders_free(weft_http_server *srv);
/* An upgrade request for a registered token: its upgrader is called. False: none registered. */
bool weft__http_dispatch_upgrade(weft__http_conn *c);
/* Hands the transport to srv->upgrade_to with the bytes that followed the request; frees c. */
void weft__http_upgrade_handover(weft__http_conn *c, const char *rest, size_t n);
static inline bool weft__http_upgrading(const weft__http_conn *c) { return c->srv->upgrading == c; }

/* http_response.c: weft_http_respond for a 101 (Connection headers sent as given). */
int weft__http_respond_head(weft_http_request *req, int status, const weft_http_header *headers, size_t n);

/* http_deferred.c */
void weft__http_dispatch_deferred(weft_http_request *req);
/* The request is finished: a Deferred still to fire no longer refers to it. */
void weft__http_deferred_forget(weft_http_request *req);
/* Cancels the Deferred answering req, if any (the client has gone). */
void weft__http_deferred_cancel(weft_http_request *req);

#endif
