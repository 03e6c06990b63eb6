/* http_body.c: request bodies handed to the handler as they arrive (the stream_bodies option):
 * the connection is the producer of the body and the handler's consumer pauses it, so a large
 * upload is never held whole in memory. Only requests with a body under stream_bodies have this
 * state, allocated with the request and freed with it. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "web/http_internal.h"

int weft__http_body_begin(weft_http_request *req, bool expect_continue) {
  req->bs = weft__calloc(1, sizeof *req->bs);
  if (!req->bs) return WEFT_ENOMEM;
  req->bs->expect_continue = expect_continue;
  return 0;
}

bool weft__http_body_blocked(const weft__http_conn *c) {
  const weft__http_body *b = c->req.bs;
  return b && !b->complete && (b->mode == WEFT__BODY_UNCLAIMED || b->mode == WEFT__BODY_STOPPED || b->paused);
}

/* Runs user code with the dispatching guard, so a response finished inside it is wrapped up by
 * the parser callback that called it, not under its feet. */
#define GUARDED(c, call)           \
  do {                             \
    bool was_ = (c)->dispatching;  \
    (c)->dispatching = true;       \
    call;                          \
    (c)->dispatching = was_;       \
  } while (0)

int weft__http_body_data(weft__http_conn *c, const char *data, size_t len) {
  weft__http_body *b = c->req.bs;
  if (b->mode == WEFT__BODY_COLLECT) {
    if (weft__http_request_add_body(&c->req, data, len) != 0) {
      c->fail_status = 500;
      return WEFT__H1_PAUSE;
    }
    return 0;
  }
  if (b->mode == WEFT__BODY_STREAM && !b->complete)
    GUARDED(c, b->consumer.data(&c->req, data, len, b->consumer.user));
  return 0;
}

void weft__http_body_complete(weft__http_conn *c) {
  weft__http_body *b = c->req.bs;
  if (b->complete) return;
  b->complete = true;
  if (b->mode == WEFT__BODY_STREAM) GUARDED(c, b->consumer.end(&c->req, 0, b->consumer.user));
  else if (b->mode == WEFT__BODY_COLLECT && c->req.phase == WEFT__HTTP_HANDLING)
    GUARDED(c, b->collect_fn(&c->req, b->collect_user));
}

void weft__http_body_fail(weft__http_conn *c, int error) {
  weft__http_body *b = c->req.bs;
  if (!b || b->complete) return;
  b->complete = true;
  b->error = error;
  if (b->mode == WEFT__BODY_STREAM) GUARDED(c, b->consumer.end(&c->req, error, b->consumer.user));
}

/* ---- the producer the consumer sees ---- */

static void body_pause(void *user) {
  weft_http_request *req = user;
  weft__http_conn *c = req->conn;
  if (!req->bs || req->bs->complete) return;
  req->bs->paused = true;
  weft__h1_parser_pause(&c->parser); /* bytes already buffered wait too */
  if (!c->lost && !c->reading_paused) {
    c->reading_paused = true;
    weft_transport_pause_reading(c->t);
  }
}

/* Parsing goes on from a task, never inside the caller's code (which may be a parser callback:
 * then the parser goes on by itself and the task finds nothing to do). */
static void go_on(weft__http_conn *c) {
  if (!c->lost && !c->closing) weft__task_queue(c->srv->r, &c->resume_task);
}

static void body_resume(void *user) {
  weft_http_request *req = user;
  if (!req->bs || req->bs->complete || !req->bs->paused) return;
  req->bs->paused = false;
  go_on(req->conn);
}

static void body_stop(void *user) {
  weft_http_request *req = user;
  if (!req->bs || req->bs->complete) return;
  req->bs->mode = WEFT__BODY_STOPPED; /* nothing more is read: the connection ends with the answer */
  req->keep_alive = false;
}

/* Claiming: 100 Continue if owed, the request timeout off (the handler sets the pace), parsing
 * resumed. */
static void claim(weft_http_request *req, uint8_t mode) {
  weft__http_conn *c = req->conn;
  weft__http_body *b = req->bs;
  b->mode = mode;
  if (b->expect_continue && !c->lost && !c->closing) weft_transport_write(c->t, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  b->expect_continue = false;
  if (mode == WEFT__BODY_STREAM) {
    c->receiving = true;
    c->deadline = INFINITY;
  }
  go_on(c);
}

static bool answerable(const weft_http_request *req) {
  return req->phase != WEFT__HTTP_IDLE && req->phase != WEFT__HTTP_DONE;
}

int weft_http_request_body_stream(weft_http_request *req, const weft_http_body_consumer *cons, weft_producer *producer) {
  if (!cons || !cons->data || !cons->end) return WEFT_EINVAL;
  if (!answerable(req) || (req->bs && req->bs->mode != WEFT__BODY_UNCLAIMED)) return WEFT_ESTATE;
  if (producer) *producer = (weft_producer){body_pause, body_resume, body_stop, req};
  if (!req->bs) { /* collected already: all of it now */
    size_t n;
    const void *body = weft_http_request_body(req, &n);
    if (n) cons->data(req, body, n, cons->user);
    cons->end(req, 0, cons->user);
    return 0;
  }
  req->bs->consumer = *cons;
  if (req->conn->lost || req->bs->complete) { /* failed (the client gone) before it was claimed */
    req->bs->mode = WEFT__BODY_STREAM;
    req->bs->complete = true;
    cons->end(req, req->bs->error ? req->bs->error : WEFT_ECLOSED, cons->user); /* may release req */
    return 0;
  }
  claim(req, WEFT__BODY_STREAM);
  return 0;
}

int weft_http_request_body_collect(weft_http_request *req, weft_http_handler fn, void *user) {
  if (!fn) return WEFT_EINVAL;
  if (!answerable(req) || (req->bs && req->bs->mode != WEFT__BODY_UNCLAIMED)) return WEFT_ESTATE;
  if (!req->bs) {
    fn(req, user);
    return 0;
  }
  req->bs->collect_fn = fn;
  req->bs->collect_user = user;
  if (req->conn->lost || req->bs->complete) { /* failed: nobody will ever call fn, the server finishes req */
    req->bs->mode = WEFT__BODY_COLLECT;
    req->bs->complete = true;
    weft_http_respond(req, 500, NULL, 0, NULL, 0);
    return 0;
  }
  claim(req, WEFT__BODY_COLLECT);
  return 0;
}

bool weft_http_request_body_pending(const weft_http_request *req) {
  return req->bs && !req->bs->complete && req->bs->mode == WEFT__BODY_UNCLAIMED;
}
