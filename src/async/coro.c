/* coro.c: coroutines awaiting Deferreds (Twisted's inlineCallbacks / ensureDeferred) and
 * weft_react (task.react).
 *
 * A coroutine is a fiber (coro_switch.h) plus the Deferred it fires when its body returns. Await
 * adds one callback pair to the awaited Deferred; when the chain reaches it, the pair stores the
 * result and, if the coroutine is suspended, resumes it right there, inside the callback, as
 * inlineCallbacks does. Resuming from a reactor task instead would cost a turn per await and
 * reorder the coroutine after code that runs later in the firer, for no safety gained: code that
 * fires a Deferred must already expect arbitrary callbacks inside the call. */
#include "weft/coro.h"

#include <stdbool.h>
#include <stdlib.h>

#include "async/coro_switch.h"
#include "base/alloc.h"

struct weft_coro {
  weft__fiber fiber;
  weft_reactor *r;
  weft_coro_fn fn;
  void *arg;
  weft_deferred *done;     /* the coroutine's Deferred; this reference is used to fire it */
  weft_deferred *awaiting; /* what weft_await waits on (borrowed from the await), or NULL */
  weft_value result;       /* the awaited result */
  bool has_result;         /* the awaited Deferred has delivered */
  bool suspended;          /* switched away inside weft_await */
};

void weft_coro_options_init(weft_coro_options *o) { *o = (weft_coro_options){.stack_size = 0}; }

weft_reactor *weft_coro_reactor(const weft_coro *co) { return co->r; }

/* The fiber's function. The coroutine's Deferred fires here, on the coroutine's own stack, not
 * on its resumer's: when coroutines await each other N deep, each one's end resumes the next
 * from its own stack, so the cascade costs one small frame per stack instead of N frames on the
 * resumer's stack (which overflowed the main stack at ~20,000 levels). */
static void body(weft__fiber *f, void *arg) {
  (void)f;
  weft_coro *co = arg;
  weft_value v = co->fn(co, co->arg);
  /* A returned Deferred chains, as a callback's does: its result becomes the coroutine's. */
  while (v.kind == WEFT_VALUE_DEFERRED) v = weft_await(co, v.v.d);
  weft_deferred *done = co->done;
  co->done = NULL; /* fired from here on: its canceller no longer runs */
  /* WEFT_EALREADY when a cancel failed it while the body went on: v is then released. */
  (void)weft_deferred_callback(done, v);
  weft_deferred_unref(done);
}

/* Runs co until it suspends or returns; once it has returned (we are back on the resumer's
 * stack), its stack goes back to the pool and co is freed. */
static void run(weft_coro *co) {
  if (!weft__fiber_resume(&co->fiber)) return;
  weft__fiber_release(&co->fiber);
  weft__free(co);
}

/* The callback pair on an awaited Deferred. */
static weft_value on_fired(weft_value result, void *arg) {
  weft_coro *co = arg;
  co->result = result;
  co->has_result = true;
  if (co->suspended) run(co);
  return weft_none();
}

/* Canceller of the coroutine's Deferred: cancel what it awaits; its failure resumes the body. */
static void on_cancel(weft_deferred *done, void *arg) {
  (void)done;
  weft_coro *co = arg;
  weft_deferred *d = co->awaiting;
  if (!d) return; /* running, not awaiting: the Deferred just fails with WEFT_ECANCELED */
  /* The resumed body drops its reference to d (and may finish and free co) inside this call. */
  weft_deferred_ref(d);
  weft_deferred_cancel(d);
  weft_deferred_unref(d);
}

weft_value weft_await(weft_coro *co, weft_deferred *d) {
  weft_value v;
  if (!d) return weft_failed(weft_failure_from_error(WEFT_EINVAL));
  if (weft_deferred_take_result(d, &v) == 0) {
    weft_deferred_unref(d);
    return v;
  }
  co->has_result = false;
  co->awaiting = d;
  weft_deferred_add_both(d, on_fired, co);
  /* Fired and not paused, yet our step did not run: adding it failed (out of memory), and d's
   * result is the WEFT_ENOMEM Failure. Take that rather than wait forever. */
  if (!co->has_result && weft_deferred_called(d) && !weft_deferred_paused(d) &&
      weft_deferred_take_result(d, &co->result) == 0)
    co->has_result = true;
  if (!co->has_result) {
    co->suspended = true;
    weft__fiber_yield(&co->fiber);
    co->suspended = false;
  }
  co->awaiting = NULL;
  v = co->result;
  co->result = weft_none();
  weft_deferred_unref(d);
  return v;
}

int weft_coro_start(weft_deferred **out, weft_reactor *r, weft_coro_fn fn, void *arg,
                    const weft_coro_options *opts) {
  if (!out) return WEFT_EINVAL;
  *out = NULL;
  if (!r || !fn) return WEFT_EINVAL;
  weft_coro *co = weft__calloc(1, sizeof *co);
  if (!co) return WEFT_ENOMEM;
  co->r = r;
  co->fn = fn;
  co->arg = arg;
  int rc = weft__fiber_init(&co->fiber, opts ? opts->stack_size : 0, body, co);
  if (rc == 0) {
    co->done = weft_deferred_new_cancellable(weft_reactor_log(r), on_cancel, co);
    if (!co->done) rc = WEFT_ENOMEM;
  }
  if (rc != 0) {
    weft__fiber_release(&co->fiber);
    weft__free(co);
    return rc;
  }
  *out = weft_deferred_ref(co->done);
  run(co);
  return 0;
}

/* ---- weft_react ---- */

typedef struct react_state {
  weft_reactor *r;
  bool fired;
  int status;
} react_state;

static void log_failure(weft_reactor *r, const char *what, const weft_failure *f) {
  char small[512], *text = small;
  size_t n = weft_failure_text(f, small, sizeof small);
  if (n >= sizeof small && (text = weft__malloc(n + 1)) != NULL)
    weft_failure_text(f, text, n + 1);
  else if (!text)
    text = small; /* truncated is better than nothing */
  weft_log_emit(weft_reactor_log(r), WEFT_LOG_ERROR, "weft.react", "{what}: {failure}",
                WEFT_LOG_STR("what", what), WEFT_LOG_STR("failure", text), WEFT_LOG_END);
  if (text != small) weft__free(text);
}

static weft_value react_done(weft_value v, void *arg) {
  react_state *st = arg;
  st->fired = true;
  if (weft_value_is_failure(v)) {
    st->status = 1;
    log_failure(st->r, "main failed", v.v.f);
  }
  weft_value_release(v);
  weft_reactor_stop(st->r); /* ignored when the reactor is not running yet */
  return weft_none();
}

static void stop_now(void *arg) { weft_reactor_stop(arg); }

int weft_react(weft_deferred *(*main_fn)(weft_reactor *r, void *arg), void *arg) {
  weft_reactor *r;
  if (!main_fn || weft_reactor_new(&r, NULL) != 0) return 1;
  react_state st = {.r = r};
  weft_deferred *d = main_fn(r, arg);
  if (d) {
    weft_deferred_add_both(d, react_done, &st);
  } else {
    st.fired = true;
    st.status = 1;
    weft_log_emit(weft_reactor_log(r), WEFT_LOG_ERROR, "weft.react", "main returned no Deferred", WEFT_LOG_END);
  }
  /* Already done: still run, so startup and shutdown triggers happen as Twisted's react does. */
  if (!st.fired || weft_reactor_call_soon(r, stop_now, r)) weft_reactor_run(r);
  if (!st.fired) {
    /* Stopped by someone else (a signal handler, weft_reactor_stop): cancel what main awaits. */
    weft_deferred_cancel(d);
    if (!st.fired) {
      st.status = 1;
      weft_log_emit(weft_reactor_log(r), WEFT_LOG_ERROR, "weft.react",
                    "reactor stopped before main's Deferred fired", WEFT_LOG_END);
    }
  }
  weft_deferred_unref(d);
  size_t open = weft_reactor_open_handles(r);
  if (weft_reactor_free(r) != 0)
    weft_log_emit(weft_reactor_log(r), WEFT_LOG_WARN, "weft.react",
                  "{handles} handles still open after main: reactor not freed",
                  WEFT_LOG_UINT("handles", open), WEFT_LOG_END);
  return st.status;
}
