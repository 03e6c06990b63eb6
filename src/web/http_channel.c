/* http_channel.c: one HTTP/1.1 connection over the sans-I/O parser (twisted.web.http.HTTPChannel):
 * keep-alive, pipelining in request order, 100-continue, refusals, idle and request timeouts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net/transport_internal.h"
#include "web/http_internal.h"
#include "weft/tls.h"

/* ---- timeouts: one delayed call per connection, moved lazily ----
 * Most requests arrive whole in one read and are answered at once, so the steady state only
 * stores a new deadline; the timer, when it fires early, re-arms itself for what is left. */

static void timer_fn(void *arg);

static void set_deadline(weft__http_conn *c, double secs) {
  if (c->lost) return;
  if (!(secs > 0)) {
    c->deadline = INFINITY;
    return;
  }
  weft_reactor *r = c->srv->r;
  c->unsent = 0;
  c->deadline = weft_reactor_seconds(r) + secs;
  if (!c->timer) c->timer = weft_reactor_call_later(r, secs, timer_fn, c); /* NULL: no timeout */
  else if (weft_delayed_call_time(c->timer) > c->deadline) weft_delayed_call_reset(c->timer, secs);
}

static void timer_fn(void *arg) {
  weft__http_conn *c = arg;
  double now = weft_reactor_seconds(c->srv->r);
  if (c->deadline == INFINITY) {
    c->timer = NULL;
    return;
  }
  if (now < c->deadline) {
    if (weft_delayed_call_reset(c->timer, c->deadline - now) != 0) c->timer = NULL;
    return;
  }
  bool request = c->receiving || c->in_request;
  size_t unsent = request ? 0 : weft_transport_buffered(c->t);
  if (unsent > 0 && (c->unsent == 0 || unsent < c->unsent)) {
    /* Answers are still leaving: closing gently would wait for a flush that may never come
     * (a client that does not read: slowhttptest -X). Another idle period, then, as long as the
     * client takes some of it in each. */
    c->unsent = unsent;
    c->deadline = now + c->srv->o.idle_timeout;
    if (weft_delayed_call_reset(c->timer, c->srv->o.idle_timeout) != 0) c->timer = NULL;
    return;
  }
  c->timer = NULL;
  char peer[128];
  weft__http_request_peer_text(&c->req, peer, sizeof peer);
  weft_log_emit(weft__http_log(c->srv), WEFT_LOG_INFO, "weft.http", "closing the connection from {peer}: {what} timeout",
                WEFT_LOG_STR("peer", peer), WEFT_LOG_STR("what", request ? "request" : unsent ? "send" : "idle"),
                WEFT_LOG_END);
  c->closing = true;
  /* A client too slow to send its request is not waited for to read anything either, nor one
   * that stopped reading its answers. */
  if (request || unsent) weft_transport_abort_connection(c->t);
  else weft_transport_lose_connection(c->t);
}

/* ---- the bytes: parse in place when we can, keep only what must wait ---- */

static int buf_append(weft__http_conn *c, const void *data, size_t len) {
  size_t need = (size_t)c->buf_len + len;
  if (need > UINT32_MAX) return WEFT_ENOMEM;
  if (need > c->buf_cap) {
    size_t cap = c->buf_cap ? c->buf_cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    char *p = weft__realloc(c->buf, cap);
    if (!p) return WEFT_ENOMEM;
    c->buf = p;
    c->buf_cap = (uint32_t)cap;
  }
  memcpy(c->buf + c->buf_len, data, len);
  c->buf_len = (uint32_t)need;
  return 0;
}

static void buf_drop(weft__http_conn *c) {
  weft__free(c->buf);
  c->buf = NULL;
  c->buf_len = c->buf_cap = 0;
}

static void refuse(weft__http_conn *c, int status, const char *reason, const char *name) {
  weft__http_body *bs = c->req.bs;
  bool tell = false; /* a handler holds the request and hears of its body's failure */
  if (bs && !bs->complete) { /* a body being streamed or collected failed */
    if (bs->mode == WEFT__BODY_COLLECT) { /* the server holds the request, not a handler */
      bs->complete = true;
      c->req.phase = WEFT__HTTP_IDLE; /* send_error releases it */
    } else {
      tell = true;
    }
  }
  char peer[128];
  weft__http_request_peer_text(&c->req, peer, sizeof peer);
  weft_log_emit(weft__http_log(c->srv), WEFT_LOG_INFO, "weft.http",
                "refused a request from {peer} with {status}: {reason}", WEFT_LOG_STR("peer", peer),
                WEFT_LOG_INT("status", status), WEFT_LOG_STR("reason", reason), WEFT_LOG_STR("error", name),
                WEFT_LOG_END);
  /* The answer first: the consumer's end is told the server has answered (http.h). */
  weft__http_send_error(c, status);
  if (tell) {
    weft__http_body_fail(c, status == 413 ? WEFT_EMSGSIZE : status == 500 ? WEFT_ENOMEM : WEFT_EPARSE);
    /* Finished inside end, under the dispatching guard: nobody else wraps it up. */
    if (c->req.phase == WEFT__HTTP_DONE) weft__http_request_reset(&c->req);
  }
}

/* What is left of b[0..len) after off: kept in c->buf for the next feed (the parser wants the
 * unconsumed bytes again), and the request in progress detached from bytes about to go. */
static void keep_rest(weft__http_conn *c, const char *b, size_t off, size_t len) {
  if (c->closing) {
    buf_drop(c);
    return;
  }
  if (c->in_request && !c->req.detached && weft__http_request_detach(&c->req) != 0) {
    refuse(c, 500, "out of memory", "ENOMEM");
    buf_drop(c);
    return;
  }
  size_t rest = len - off;
  if (b == c->buf) {
    if (rest && off) memmove(c->buf, c->buf + off, rest);
    c->buf_len = (uint32_t)rest;
  } else if (rest && buf_append(c, b + off, rest) != 0) {
    refuse(c, 500, "out of memory", "ENOMEM");
    buf_drop(c);
    return;
  }
  if (c->buf_len == 0) buf_drop(c);
  if (c->pending || weft__http_body_blocked(c)) {
    if (!c->reading_paused) {
      c->reading_paused = true;
      weft_transport_pause_reading(c->t);
    }
  } else if ((c->in_request || !weft__h1_parser_idle(&c->parser)) && !c->receiving) {
    c->receiving = true;
    set_deadline(c, c->srv->o.request_timeout);
  }
}

static void process(weft__http_conn *c, const char *b, size_t len) {
  size_t off = 0;
  while (!c->closing && !c->pending) {
    size_t used = 0;
    weft__h1_status st = weft__h1_parser_feed(&c->parser, b + off, len - off, &used);
    off += used;
    if (weft__http_upgrading(c)) { /* accepted: the rest is the new protocol's, and c is gone after this */
      weft__http_upgrade_handover(c, b + off, len - off);
      return;
    }
    if (c->closing) break;
    if (c->fail_status) {
      refuse(c, c->fail_status, c->fail_status == 417 ? "unsupported expectation" : "out of memory",
             c->fail_status == 417 ? "EXPECT" : "ENOMEM");
      break;
    }
    if (st == WEFT__H1_ERROR) {
      weft__h1_error e = weft__h1_parser_error(&c->parser);
      refuse(c, weft__h1_error_status(e), weft__h1_error_reason(e), weft__h1_error_name(e));
      break;
    }
    if (st == WEFT__H1_AGAIN) break;
    /* Paused: by us (an answer pending, or closing), or by an Upgrade nobody takes yet. */
    if (c->pending || !weft__h1_parser_upgrade_pending(&c->parser)) break;
    weft__h1_parser_resume(&c->parser);
  }
  keep_rest(c, b, off, len);
}

void weft__http_conn_resume(weft__http_conn *c) {
  if (c->lost || c->closing || c->pending || weft__http_body_blocked(c)) return;
  weft__h1_parser_resume(&c->parser);
  if (c->reading_paused) {
    c->reading_paused = false;
    weft_transport_resume_reading(c->t);
  }
  if (c->buf_len) process(c, c->buf, c->buf_len);
}

/* ---- output backpressure between requests ----
 * Answers given at once are queued on the transport with no producer to pause, so a client that
 * pipelines requests and reads nothing would have the server queue answers without bound. After
 * an answer, while the queue is past the transport's high-water mark, no further request is
 * taken: the channel registers as a pull producer, which the transport asks for more once the
 * queue is below its low-water mark. */

static void drained(void *user) {
  weft__http_conn *c = user;
  if (!c->backed_up) return;
  c->backed_up = false;
  c->pending = false;
  weft_transport_unregister_producer(c->t);
  weft__http_conn_resume(c);
}

static void drain_stopped(void *user) { ((weft__http_conn *)user)->backed_up = false; }

static void hold_while_backed_up(weft__http_conn *c) {
  if (c->closing || weft_transport_buffered(c->t) <= c->t->high_water) return;
  weft_producer p = {NULL, drained, drain_stopped, c};
  if (weft_transport_register_producer(c->t, &p, false) != 0) return;
  c->backed_up = true;
  c->pending = true; /* what follows waits, as behind an answer not finished */
}

/* ---- the request's life ---- */

/* After a response: the connection persists or closes. */
static void after_response(weft__http_conn *c) {
  bool keep = c->req.keep_alive;
  weft__http_request_reset(&c->req);
  if (c->closing) return; /* refused or timed out while the handler held the request */
  if (!keep) {
    c->closing = true;
    weft_transport_lose_connection(c->t);
    return;
  }
  set_deadline(c, c->srv->o.idle_timeout);
  hold_while_backed_up(c);
}

void weft__http_request_done(weft_http_request *req) {
  weft__http_conn *c = req->conn;
  if (c->srv->o.access_log && !req->logged) weft__http_access_log(req, req->status, req->written);
  weft__http_deferred_forget(req);
  req->phase = WEFT__HTTP_DONE;
  if (req->bs && !req->bs->complete) {
    /* Answered before the body was all read: the rest is not read, the connection ends. */
    req->keep_alive = false;
    weft__http_body_fail(c, WEFT_ECANCELED);
  }
  if (c->dispatching) return; /* on_message_complete takes it from here */
  c->pending = false;
  if (c->lost) {
    weft__http_request_reset(req);
    weft__http_conn_maybe_free(c);
    return;
  }
  after_response(c);
  if (c->closing) return;
  /* Nothing buffered to parse: only reading resumes, at once (in the same turn, so a paused
   * socket is never unwatched). Otherwise not now: parsing the next request would call the
   * handler again from inside the handler's own code, which may still hold things of its own. */
  if (c->buf_len == 0 && !c->pending) weft__http_conn_resume(c);
  else weft__task_queue(c->srv->r, &c->resume_task);
}

static void dispatch(weft__http_conn *c) {
  weft_http_server *srv = c->srv;
  weft_http_request *req = &c->req;
  req->phase = WEFT__HTTP_HANDLING;
  c->dispatching = true;
  /* The request's own copy of its head first: the slices the handler reads now must stay valid
   * while it holds the request (http.h), not point into a read buffer or the server's scratch
   * that the next request, on any connection, overwrites. */
  if (!req->detached && weft__http_request_detach(req) != 0) {
    weft_http_respond(req, 500, NULL, 0, "Internal Server Error\n", 22);
  } else if (req->upgrade_req && srv->nupgraders && weft__http_dispatch_upgrade(c)) {
  } else if (srv->dhandler) weft__http_dispatch_deferred(req);
  else if (srv->handler) srv->handler(req, srv->handler_user);
  else weft_http_respond(req, 404, NULL, 0, "Not Found\n", 10);
  c->dispatching = false;
}

static int on_head(void *user, const weft__h1_head *h) {
  weft__http_conn *c = user;
  weft_http_server *srv = c->srv;
  weft__http_request_begin(&c->req, h);
  c->req.upgrade_req = h->upgrade_requested;
  c->in_request = true;
  c->served++;
  if (srv->o.access_log) c->req.started = weft_reactor_seconds(srv->r);
  if ((srv->o.max_requests && c->served >= srv->o.max_requests) || srv->draining) c->req.keep_alive = false;
  if (h->expect_unknown) {
    c->fail_status = 417;
    return WEFT__H1_PAUSE;
  }
  bool fits = h->framing != WEFT__H1_BODY_LENGTH || h->content_length <= srv->o.max_body;
  if (srv->o.stream_bodies && h->framing != WEFT__H1_BODY_NONE && fits && !h->upgrade_requested) {
    /* The handler sees the head now and claims the body (100 Continue waits for that). */
    if (weft__http_body_begin(&c->req, h->expect_continue) != 0) {
      c->fail_status = 500;
      return WEFT__H1_PAUSE;
    }
    dispatch(c);
    if (c->req.phase == WEFT__HTTP_DONE && c->req.bs->complete) { /* answered, body left unread */
      after_response(c);
      return WEFT__H1_PAUSE;
    }
    return c->closing || weft__http_body_blocked(c) ? WEFT__H1_PAUSE : 0;
  }
  /* The body is read right away, so the client may send it now; a body over the limit gets its
   * 413 from the parser instead, before the client sends it. */
  if (h->expect_continue && h->framing != WEFT__H1_BODY_NONE && fits)
    weft_transport_write(c->t, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  return 0;
}

static int on_body(void *user, const char *data, size_t len) {
  weft__http_conn *c = user;
  if (c->req.bs) {
    int rc = weft__http_body_data(c, data, len);
    if (c->req.phase == WEFT__HTTP_DONE) { /* answered from inside data: the rest is not read */
      after_response(c);
      return WEFT__H1_PAUSE;
    }
    return rc || c->closing || weft__http_body_blocked(c) ? WEFT__H1_PAUSE : 0;
  }
  if (weft__http_request_add_body(&c->req, data, len) != 0) {
    c->fail_status = 500;
    return WEFT__H1_PAUSE;
  }
  return 0;
}

static int on_message_complete(void *user) {
  weft__http_conn *c = user;
  c->in_request = false;
  c->receiving = false;
  if (c->req.bs) weft__http_body_complete(c); /* dispatched at the head already */
  else dispatch(c);
  if (weft__http_upgrading(c)) return WEFT__H1_PAUSE; /* process() hands the connection over */
  if (c->req.phase == WEFT__HTTP_DONE) {
    after_response(c);
    return c->closing || c->pending ? WEFT__H1_PAUSE : 0;
  }
  /* Answered later (the request has its own copy of its bytes since dispatch): what follows waits. */
  c->pending = true;
  c->deadline = INFINITY;
  return WEFT__H1_PAUSE;
}

const weft__h1_callbacks weft__http_parser_callbacks = {
    .on_head = on_head, .on_body = on_body, .on_message_complete = on_message_complete};

/* ---- the protocol ---- */

static void on_made(weft_transport *t, void *user) {
  weft__http_conn *c = user;
  c->t = t;
  c->tls = weft_tls_is(t);
  set_deadline(c, c->srv->o.idle_timeout);
}

static void on_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t;
  weft__http_conn *c = user;
  if (c->closing) return;
  if (c->buf_len == 0 && !c->pending) {
    process(c, data, len);
    return;
  }
  if (buf_append(c, data, len) != 0) {
    c->closing = true;
    weft_transport_abort_connection(c->t);
    return;
  }
  if (!c->pending) process(c, c->buf, c->buf_len);
}

static void on_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  (void)reason;
  weft__http_conn *c = user;
  c->lost = true;
  c->closing = true;
  c->t = NULL;
  c->guard = true;
  if (c->timer) weft_delayed_call_cancel(c->timer);
  c->timer = NULL;
  weft__task_cancel(c->srv->r, &c->resume_task);
  buf_drop(c);
  c->req.producer = false; /* the transport told it to stop */
  if (c->req.bs && !c->req.bs->complete) {
    bool own = c->req.bs->mode == WEFT__BODY_COLLECT; /* no handler holds it yet */
    weft__http_body_fail(c, WEFT_ECLOSED);
    /* ...or the consumer's end finished it, under the dispatching guard: released here. */
    if (own || c->req.phase == WEFT__HTTP_DONE) c->req.phase = WEFT__HTTP_IDLE;
  }
  if (c->req.phase == WEFT__HTTP_IDLE) weft__http_request_reset(&c->req);
  else weft__http_deferred_cancel(&c->req); /* its errback releases the request */
  c->guard = false;
  weft__http_conn_maybe_free(c);
}

const weft_protocol_callbacks weft__http_channel_callbacks = {
    .connection_made = on_made, .data_received = on_data, .connection_lost = on_lost};
