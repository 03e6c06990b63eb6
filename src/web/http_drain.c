/* http_drain.c: graceful drain (what a server does on SIGTERM): no new requests, idle
 * connections closed now, requests in progress finished as the last of their connection, and a
 * deadline after which whatever is left is aborted. */
#include <math.h>

#include "base/alloc.h"
#include "web/http_internal.h"

void weft__http_conn_drain(weft__http_conn *c) {
  if (c->lost || c->closing) return;
  if (c->req.phase != WEFT__HTTP_IDLE || c->in_request) {
    /* In progress (being received, handled or sent): its answer says Connection: close if the
     * head has not gone yet, and after_response closes the connection either way, so requests
     * pipelined behind it are never started. */
    c->req.keep_alive = false;
    return;
  }
  /* Idle, or only part of a head received: nothing was promised to this client. */
  c->closing = true;
  weft_transport_lose_connection(c->t);
}

static void fire(weft_http_server *srv, weft_value v) {
  weft_deferred *d = srv->drain_d;
  srv->drain_d = NULL;
  if (srv->drain_timer) weft_delayed_call_cancel(srv->drain_timer);
  srv->drain_timer = NULL;
  weft_deferred_callback(d, v); /* may free srv */
  weft_deferred_unref(d);
}

void weft__http_drain_check(weft_http_server *srv) {
  if (srv->drain_d && srv->nconns == 0) fire(srv, weft_none());
}

void weft__http_drain_abandon(weft_http_server *srv) {
  if (srv->drain_d) fire(srv, weft_failed(weft_failure_from_error(WEFT_ECANCELED)));
}

static void deadline_fn(void *arg) {
  weft_http_server *srv = arg;
  srv->drain_timer = NULL;
  weft_log_emit(weft__http_log(srv), WEFT_LOG_INFO, "weft.http", "drain deadline passed: aborting {n} connections",
                WEFT_LOG_UINT("n", srv->nconns), WEFT_LOG_END);
  /* Taken first: a transport that reported its loss at once must not fire it mid-loop. */
  weft_deferred *d = srv->drain_d;
  srv->drain_d = NULL;
  weft__http_conn *next;
  for (weft__http_conn *c = srv->conns; c; c = next) {
    next = c->next;
    if (c->lost || !c->t) continue; /* gone already; a handler still holds its request */
    c->closing = true;
    weft_transport_abort_connection(c->t);
  }
  weft_deferred_callback(d, weft_none()); /* may free srv */
  weft_deferred_unref(d);
}

/* The caller gave up waiting: the connections go on closing, nothing fires any more. */
static void drain_cancel(weft_deferred *d, void *arg) {
  (void)d;
  weft_http_server *srv = arg;
  if (srv->drain_timer) weft_delayed_call_cancel(srv->drain_timer);
  srv->drain_timer = NULL;
  weft_deferred_unref(srv->drain_d);
  srv->drain_d = NULL;
}

weft_deferred *weft_http_server_drain(weft_http_server *srv, double timeout) {
  weft_log_publisher *log = weft__http_log(srv);
  if (srv->draining || srv->freeing) return weft_fail(log, weft_failure_from_error(WEFT_EALREADY));
  weft_deferred *d = weft_deferred_new_cancellable(log, drain_cancel, srv);
  if (!d) return NULL;
  if (timeout > 0 && isfinite(timeout)) {
    srv->drain_timer = weft_reactor_call_later(srv->r, timeout, deadline_fn, srv);
    if (!srv->drain_timer) {
      weft_deferred_unref(d);
      return NULL;
    }
  }
  srv->draining = true;
  srv->drain_d = weft_deferred_ref(d);
  weft_log_emit(log, WEFT_LOG_INFO, "weft.http", "draining {n} connections", WEFT_LOG_UINT("n", srv->nconns),
                WEFT_LOG_END);
  weft__http_conn *next;
  for (weft__http_conn *c = srv->conns; c; c = next) {
    next = c->next;
    weft__http_conn_drain(c);
  }
  weft__http_drain_check(srv);
  return d;
}
