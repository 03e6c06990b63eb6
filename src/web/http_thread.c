/* http_thread.c: handlers that block (a C library with no async API) run on the reactor's thread
 * pool, the answer to WSGI in the book's chapter 5: the worker gets a snapshot of the request (its
 * own copies, no pointer into the connection) and returns the answer as a value, which the
 * reactor thread sends. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "web/http_internal.h"
#include "weft/threads.h"

typedef struct snap_param {
  const char *name, *value;
  size_t value_len;
} snap_param;

struct weft_http_snapshot {
  const char *method, *target, *path, *query, *body;
  size_t method_len, target_len, path_len, query_len, body_len;
  int version;
  bool has_peer;
  weft_address peer;
  weft__h1_field *fields;
  size_t nfields, nparams;
  snap_param *params;
  char data[];
};

static char *put(char **p, const char *s, size_t n) {
  char *at = *p;
  if (n) memcpy(at, s, n);
  *p += n;
  return at;
}

weft_http_snapshot *weft__http_snapshot_new(const weft_http_request *req, const weft__http_param *params, size_t n) {
  size_t bl;
  const void *body = weft_http_request_body(req, &bl);
  size_t total = req->method_len + req->target_len + req->path_len + req->query_len + bl;
  total += req->nfields * sizeof(weft__h1_field) + n * sizeof(snap_param);
  for (uint32_t i = 0; i < req->nfields; i++) total += req->fields[i].name_len + req->fields[i].value_len;
  for (size_t i = 0; i < n; i++) total += strlen(params[i].name) + 1 + params[i].len + 1;
  weft_http_snapshot *s = weft__malloc(sizeof *s + total);
  if (!s) return NULL;
  /* The arrays first (aligned: data follows the struct, whose size keeps pointer alignment). */
  s->fields = (weft__h1_field *)(void *)s->data;
  s->params = (snap_param *)(void *)(s->fields + req->nfields);
  char *p = (char *)(s->params + n);
  s->method = put(&p, req->method, s->method_len = req->method_len);
  s->target = put(&p, req->target, s->target_len = req->target_len);
  s->path = put(&p, req->path, s->path_len = req->path_len);
  s->query = req->query ? put(&p, req->query, req->query_len) : NULL;
  s->query_len = req->query_len;
  s->body = put(&p, body, s->body_len = bl);
  s->nfields = req->nfields;
  for (uint32_t i = 0; i < req->nfields; i++) {
    s->fields[i] = req->fields[i];
    s->fields[i].name = put(&p, req->fields[i].name, req->fields[i].name_len);
    s->fields[i].value = put(&p, req->fields[i].value, req->fields[i].value_len);
  }
  s->nparams = n;
  for (size_t i = 0; i < n; i++) {
    s->params[i].name = put(&p, params[i].name, strlen(params[i].name) + 1);
    s->params[i].value = put(&p, params[i].p, params[i].len);
    *p++ = '\0'; /* a convenience for atoi and friends */
    s->params[i].value_len = params[i].len;
  }
  s->version = weft_http_request_version(req);
  s->has_peer = weft_http_request_peer(req, &s->peer) == 0;
  return s;
}

/* ---- the job ---- */

typedef struct job {
  weft_http_thread_fn fn;
  void *user;
  weft_http_snapshot *snap;
  weft_deferred *pool_d; /* the pool's Deferred: never cancelled, so the job never outlives it */
  weft_deferred *answer; /* what the request waits on; cancelled when the client goes */
} job;

static weft_value run(void *arg) { /* on a worker */
  job *j = arg;
  return j->fn(j->snap, j->user);
}

/* Back on the reactor thread, the worker done with the snapshot: pass the answer on. */
static weft_value done(weft_value v, void *arg) {
  job *j = arg;
  weft_deferred *answer = j->answer;
  weft_deferred_unref(j->pool_d);
  weft__free(j->snap);
  weft__free(j);
  if (answer) {
    weft_deferred_callback(answer, v); /* no-op (v released) if cancelled meanwhile */
    weft_deferred_unref(answer);
  } else {
    weft_value_release(v);
  }
  return weft_none();
}

/* The client went: the request stops waiting; the job, already running or queued, finishes and
 * its answer is dropped. */
static void abandon(weft_deferred *d, void *arg) {
  (void)d;
  job *j = arg;
  weft_deferred_unref(j->answer);
  j->answer = NULL;
}

int weft__http_run_in_thread(weft_http_request *req, weft_http_thread_fn fn, void *user,
                             const weft__http_param *params, size_t n) {
  weft_reactor *r = weft_http_request_reactor(req);
  job *j = weft__calloc(1, sizeof *j);
  weft_http_snapshot *s = j ? weft__http_snapshot_new(req, params, n) : NULL;
  weft_deferred *answer = s ? weft_deferred_new_cancellable(weft_reactor_log(r), abandon, j) : NULL;
  if (!answer) {
    weft__free(s);
    weft__free(j);
    return weft_http_request_answer_deferred(req, NULL); /* 500 */
  }
  *j = (job){fn, user, s, NULL, weft_deferred_ref(answer)};
  j->pool_d = weft_defer_to_thread(r, run, j);
  if (!j->pool_d) { /* not even a Deferred: the job never runs */
    weft_deferred_unref(j->answer);
    weft__free(s);
    weft__free(j);
    weft_deferred_errback(answer, weft_failure_from_error(WEFT_ENOMEM));
    return weft_http_request_answer_deferred(req, answer);
  }
  weft_deferred_add_both(j->pool_d, done, j);
  return weft_http_request_answer_deferred(req, answer);
}

int weft_http_request_run_in_thread(weft_http_request *req, weft_http_thread_fn fn, void *user) {
  if (!fn) return WEFT_EINVAL;
  if (weft_http_request_body_pending(req)) return WEFT_ESTATE; /* the snapshot needs it whole */
  return weft__http_run_in_thread(req, fn, user, NULL, 0);
}

/* ---- accessors (any thread: the snapshot is read-only) ---- */

const char *weft_http_snapshot_method(const weft_http_snapshot *s, size_t *len) {
  *len = s->method_len;
  return s->method;
}

const char *weft_http_snapshot_target(const weft_http_snapshot *s, size_t *len) {
  *len = s->target_len;
  return s->target;
}

const char *weft_http_snapshot_path(const weft_http_snapshot *s, size_t *len) {
  *len = s->path_len;
  return s->path;
}

const char *weft_http_snapshot_query(const weft_http_snapshot *s, size_t *len) {
  *len = s->query_len;
  return s->query;
}

int weft_http_snapshot_version(const weft_http_snapshot *s) { return s->version; }

const char *weft_http_snapshot_header(const weft_http_snapshot *s, const char *name, size_t *len) {
  size_t n = strlen(name);
  for (size_t i = 0; i < s->nfields; i++)
    if (s->fields[i].name_len == n && weft__http_name_eq(s->fields[i].name, name, n)) {
      *len = s->fields[i].value_len;
      return s->fields[i].value;
    }
  *len = 0;
  return NULL;
}

const void *weft_http_snapshot_body(const weft_http_snapshot *s, size_t *len) {
  *len = s->body_len;
  return s->body;
}

int weft_http_snapshot_peer(const weft_http_snapshot *s, weft_address *out) {
  if (!s->has_peer) return WEFT_ENOTSUP;
  *out = s->peer;
  return 0;
}

int weft_http_snapshot_param(const weft_http_snapshot *s, const char *name, const char **p, size_t *len) {
  for (size_t i = 0; i < s->nparams; i++)
    if (strcmp(s->params[i].name, name) == 0) {
      *p = s->params[i].value;
      *len = s->params[i].value_len;
      return 0;
    }
  return WEFT_ENOENT;
}
