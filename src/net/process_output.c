/* process_output.c: a child's output or exit code as a Deferred (twisted.internet.utils
 * getProcessOutput and getProcessValue). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "weft/errors.h"
#include "weft/process.h"

typedef struct grow_buf {
  char *data;
  size_t len, cap;
} grow_buf;

typedef struct getter {
  weft_deferred *d; /* our reference, dropped when the process has ended */
  weft_process *p;
  bool want_output;
  bool cancelled;
  bool oom;
  grow_buf out, err;
  char name[64]; /* argv[0], for the Failure's message */
} getter;

static void append(getter *g, grow_buf *b, const void *data, size_t len) {
  if (!g->want_output || g->oom) return;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len + 1) cap *= 2;
    char *n = weft__realloc(b->data, cap);
    if (!n) {
      g->oom = true;
      return;
    }
    b->data = n;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

static void on_out(weft_process *p, const void *data, size_t len, void *user) {
  (void)p;
  getter *g = user;
  append(g, &g->out, data, len);
}

static void on_err(weft_process *p, const void *data, size_t len, void *user) {
  (void)p;
  getter *g = user;
  append(g, &g->err, data, len);
}

static void on_other(weft_process *p, int fd, const void *data, size_t len, void *user) {
  (void)p, (void)fd, (void)data, (void)len, (void)user; /* extra descriptors: drained, dropped */
}

static void output_free(void *ptr) {
  weft_process_output *o = ptr;
  if (!o) return;
  weft__free(o->data);
  weft__free(o->err);
  weft__free(o);
}

/* Moves the collected bytes into a weft_process_output (empty strings when nothing came). */
static weft_process_output *take_output(getter *g, weft_process_status st) {
  weft_process_output *o = weft__calloc(1, sizeof *o);
  if (!o) return NULL;
  grow_buf *bufs[2] = {&g->out, &g->err};
  for (int i = 0; i < 2; i++) {
    if (!bufs[i]->data && !(bufs[i]->data = weft__calloc(1, 1))) {
      output_free(o);
      return NULL;
    }
  }
  o->data = g->out.data;
  o->len = g->out.len;
  o->err = g->err.data;
  o->err_len = g->err.len;
  o->status = st;
  g->out.data = g->err.data = NULL;
  return o;
}

static weft_value result_of(getter *g, weft_process_status st) {
  if (g->oom) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  weft_process_output *o = NULL;
  if (g->want_output && !(o = take_output(g, st))) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  if (st.signaled) {
    weft_failure *f = weft_failure_new(WEFT_PROCESS_FAILURE_DOMAIN, st.signo, "%s was killed by signal %d%s", g->name,
                                       st.signo, st.core ? " (core dumped)" : "");
    weft_failure_set_data(f, o, output_free); /* what it wrote before it died */
    return weft_failed(f);
  }
  if (!st.exited) {
    output_free(o);
    return weft_failed(weft_failure_new(WEFT_PROCESS_FAILURE_DOMAIN, 0, "%s: exit status lost", g->name));
  }
  return g->want_output ? weft_ptr(o, output_free) : weft_int(st.code);
}

static void on_ended(weft_process *p, weft_process_status st, void *user) {
  (void)p;
  getter *g = user;
  if (!g->cancelled) weft_deferred_callback(g->d, result_of(g, st));
  weft_deferred_unref(g->d);
  weft__free(g->out.data);
  weft__free(g->err.data);
  weft__free(g);
}

/* The Deferred fails with "cancelled" after this returns; the getter lives on until the killed
 * child has been reaped and its pipes closed, so nothing is left behind. */
static void cancel(weft_deferred *d, void *arg) {
  (void)d;
  getter *g = arg;
  g->cancelled = true;
  weft_process_signal(g->p, SIGKILL);
  weft_process_lose_connection(g->p);
}

static const weft_process_protocol getter_proto = {
    .out_received = on_out,
    .err_received = on_err,
    .child_data_received = on_other,
    .process_ended = on_ended,
};

static weft_deferred *start(weft_reactor *r, const char *const argv[], const char *const envp[], const char *cwd,
                            const weft_process_options *opts, bool want_output) {
  weft_log_publisher *log = weft_reactor_log(r);
  getter *g = weft__calloc(1, sizeof *g);
  if (!g) return NULL;
  g->want_output = want_output;
  if (argv && argv[0]) snprintf(g->name, sizeof g->name, "%s", argv[0]);
  g->d = weft_deferred_new_cancellable(log, cancel, g);
  if (!g->d) {
    weft__free(g);
    return NULL;
  }
  weft_process_options defaults;
  if (!opts) {
    weft_process_options_init(&defaults);
    defaults.stdin_mode = WEFT_STDIO_NULL;
    if (!want_output) defaults.stdout_mode = defaults.stderr_mode = WEFT_STDIO_NULL;
    opts = &defaults;
  }
  weft_process_protocol proto = getter_proto;
  proto.user = g;
  int rc = weft_spawn_process(&g->p, r, &proto, argv, envp, cwd, opts);
  weft_deferred *d = weft_deferred_ref(g->d); /* the caller's reference */
  if (rc) {
    weft_deferred_errback(d, weft_failure_new(WEFT_FAILURE_DOMAIN, rc, "could not start %s: %s", g->name,
                                              weft_strerror(rc)));
    weft_deferred_unref(g->d);
    weft__free(g);
  }
  return d;
}

weft_deferred *weft_get_process_output(weft_reactor *r, const char *const argv[], const char *const envp[],
                                       const char *cwd, const weft_process_options *opts) {
  return start(r, argv, envp, cwd, opts, true);
}

weft_deferred *weft_get_process_value(weft_reactor *r, const char *const argv[], const char *const envp[],
                                      const char *cwd, const weft_process_options *opts) {
  return start(r, argv, envp, cwd, opts, false);
}
