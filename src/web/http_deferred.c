/* http_deferred.c: handlers that return a Deferred (twisted.web's NOT_DONE_YET with a Deferred,
 * as Klein does it): answering from the result, 500 for a Failure, cancel on disconnect. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "web/http_internal.h"

/* One allocation: the struct, the header array, then the body and the header strings. */
typedef struct resp_value {
  int status;
  size_t len, nheaders;
  const char *body;
  weft_http_header headers[];
} resp_value;

static void resp_value_free(void *p) { weft__free(p); }

weft_value weft_http_response_value_headers(int status, const weft_http_header *headers, size_t n,
                                            const void *body, size_t len) {
  size_t strings = 0;
  for (size_t i = 0; i < n; i++) {
    if (!headers[i].name || !headers[i].value) return weft_failed(weft_failure_from_error(WEFT_EINVAL));
    strings += strlen(headers[i].name) + strlen(headers[i].value) + 2;
  }
  resp_value *v = weft__malloc(sizeof *v + n * sizeof(weft_http_header) + len + strings);
  if (!v) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  char *p = (char *)(v->headers + n);
  v->status = status;
  v->len = len;
  v->nheaders = n;
  v->body = p;
  if (len) memcpy(p, body, len);
  p += len;
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(headers[i].name) + 1, vl = strlen(headers[i].value) + 1;
    v->headers[i].name = memcpy(p, headers[i].name, nl);
    p += nl;
    v->headers[i].value = memcpy(p, headers[i].value, vl);
    p += vl;
  }
  return weft_ptr(v, resp_value_free);
}

weft_value weft_http_response_value(int status, const char *content_type, const void *body, size_t len) {
  weft_http_header ct = {"Content-Type", content_type};
  return weft_http_response_value_headers(status, &ct, content_type ? 1 : 0, body, len);
}

static void copy_slice(char *dst, size_t size, const char *p, size_t n) {
  if (n >= size) n = size - 1;
  memcpy(dst, p, n);
  dst[n] = '\0';
}

/* Logs a handler's error with the request it was answering. */
static void log_request_error(weft_http_request *req, const char *format, const char *detail) {
  char method[32], target[512], peer[128];
  copy_slice(method, sizeof method, req->method, req->method_len);
  copy_slice(target, sizeof target, req->target, req->target_len);
  weft__http_request_peer_text(req, peer, sizeof peer);
  weft_log_emit(weft__http_log(req->conn->srv), WEFT_LOG_ERROR, "weft.http", format, WEFT_LOG_STR("method", method),
                WEFT_LOG_STR("target", target), WEFT_LOG_STR("peer", peer), WEFT_LOG_STR("failure", detail),
                WEFT_LOG_END);
}

static void log_failure(weft_http_request *req, const weft_failure *f) {
  char text[2048];
  weft_failure_text(f, text, sizeof text);
  log_request_error(req, "{method} {target} from {peer}: the handler failed: {failure}", text);
}

static const char internal_error[] = "Internal Server Error\n";

/* weft_http_respond out of memory leaves req unfinished: nothing else would ever finish it, so
 * the connection is closed instead (the client sees it end without an answer). */
static void respond_or_abort(weft_http_request *req, int status, const weft_http_header *h, size_t nh,
                             const void *body, size_t len) {
  if (weft_http_respond(req, status, h, nh, body, len) == WEFT_ENOMEM) weft__http_response_abort(req);
}

static void answer_500(weft_http_request *req) {
  static const weft_http_header ct = {"Content-Type", "text/plain; charset=utf-8"};
  respond_or_abort(req, 500, &ct, 1, internal_error, sizeof internal_error - 1);
}

static void answer_failure(weft_http_request *req, weft_failure *f) {
  /* The cancel we made ourselves when the client left is no error worth a log line. */
  if (!(req->conn->lost && weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED))) log_failure(req, f);
  if (req->phase == WEFT__HTTP_HANDLING) answer_500(req);
  else weft__http_response_abort(req); /* the status line has gone: only closing tells the client */
}

static void answer_value(weft_http_request *req, weft_value v) {
  weft_http_server *srv = req->conn->srv;
  if (req->phase != WEFT__HTTP_HANDLING) {
    /* Streaming, finished later by the handler; a value on top of that is a handler bug. */
    if (v.kind != WEFT_VALUE_NONE) log_request_error(req, "{method} {target} from {peer}: {failure}",
                                                     "the handler's Deferred gave a value after a response started");
    return;
  }
  if (v.kind == WEFT_VALUE_PTR && v.destroy == resp_value_free) {
    resp_value *rv = v.v.p;
    int rc = weft_http_respond(req, rv->status, rv->headers, rv->nheaders, rv->body, rv->len);
    if (rc == WEFT_EINVAL) {
      log_request_error(req, "{method} {target} from {peer}: {failure}", "invalid status or header");
      answer_500(req);
    } else if (rc == WEFT_ENOMEM) {
      weft__http_response_abort(req);
    }
    return;
  }
  if (v.kind == WEFT_VALUE_STR && v.v.s) {
    weft_http_header ct = {"Content-Type", srv->default_content_type};
    respond_or_abort(req, 200, &ct, srv->default_content_type ? 1 : 0, v.v.s, strlen(v.v.s));
    return;
  }
  log_request_error(req, "{method} {target} from {peer}: {failure}",
                    v.kind == WEFT_VALUE_NONE ? "the handler's Deferred fired without an answer"
                                              : "the handler's Deferred fired with a value that is no answer");
  answer_500(req);
}

/* Between a request and the Deferred answering it. The request may be finished through req
 * before the Deferred fires (a coroutine answers, then returns): the link then forgets it, since
 * the request's memory goes to the next request on the connection. */
struct weft__http_dlink {
  weft_http_request *req; /* NULL once the request is finished */
  weft_deferred *d;       /* our reference until it fires */
};

static weft_value on_result(weft_value v, void *arg) {
  weft__http_dlink *l = arg;
  weft_http_request *req = l->req;
  weft_deferred *d = l->d;
  weft__free(l);
  if (req) {
    req->dl = NULL;
    if (weft_value_is_failure(v)) answer_failure(req, v.v.f);
    else answer_value(req, v);
    weft_value_release(v);
    v = weft_none();
  }
  /* Else answered through req already: what is left has nothing to change (a Failure goes on
   * down the chain, reported as unhandled when the Deferred goes). */
  weft_deferred_unref(d); /* safe: a running chain holds its own reference */
  return v;
}

void weft__http_deferred_forget(weft_http_request *req) {
  if (!req->dl) return;
  req->dl->req = NULL;
  req->dl = NULL;
}

int weft_http_request_answer_deferred(weft_http_request *req, weft_deferred *d) {
  if (req->phase == WEFT__HTTP_IDLE || req->phase == WEFT__HTTP_DONE || req->dl) {
    weft_deferred_unref(d);
    return WEFT_ESTATE;
  }
  if (!d) {
    log_request_error(req, "{method} {target} from {peer}: {failure}", "the handler returned no Deferred");
    if (req->phase == WEFT__HTTP_HANDLING) answer_500(req);
    else weft__http_response_abort(req);
    return 0;
  }
  weft__http_dlink *l = weft__malloc(sizeof *l);
  if (!l) {
    weft_deferred_cancel(d);
    weft_deferred_unref(d);
    if (req->phase == WEFT__HTTP_HANDLING) answer_500(req);
    else weft__http_response_abort(req);
    return 0;
  }
  *l = (weft__http_dlink){req, d};
  req->dl = l;
  weft_deferred_add_both(d, on_result, l);
  return 0;
}

void weft__http_dispatch_deferred(weft_http_request *req) {
  weft_http_server *srv = req->conn->srv;
  weft_deferred *d = srv->dhandler(req, srv->handler_user);
  if (d && req->phase == WEFT__HTTP_DONE) {
    /* Answered through req already: the Deferred's outcome has nothing left to change (a Failure
     * is still reported, by the Deferred itself, as unhandled). */
    weft_deferred_unref(d);
    return;
  }
  weft_http_request_answer_deferred(req, d);
}

void weft__http_deferred_cancel(weft_http_request *req) {
  if (req->dl) weft_deferred_cancel(req->dl->d);
}
