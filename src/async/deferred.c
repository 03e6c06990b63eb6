/* deferred.c: the Deferred (twisted.internet.defer.Deferred): a chain of callback/errback pairs
 * run over a result that arrives later.
 *
 * The chain runs in a loop with an explicit list of the Deferreds in progress, as Twisted's
 * _runCallbacks does since it stopped recursing: when a step returns an unfired Deferred, this
 * one pauses and the inner one points back at it; when the inner chain finishes, the loop moves
 * on to the outer one in place. Chains of any depth use constant C stack. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "async/deferred_internal.h"
#include "base/alloc.h"
#include "weft/deferred.h"
#include "weft/errors.h"

#define INLINE_STEPS 2

typedef struct step {
  weft_deferred_fn callback, errback;
  void *callback_arg, *errback_arg;
} step;

struct weft_deferred {
  int refs;
  bool called;            /* fired */
  bool running;           /* its chain is on the stack now */
  bool suppress_once;     /* cancelled without a canceller: eat the firer's later call */
  weft_value result;      /* current result (owned) */
  step *steps;            /* inline_steps until it grows */
  size_t nsteps, cap, next;
  weft_deferred *waiting_on; /* paused: the inner Deferred whose result we wait for (one ref) */
  weft_deferred *resumes;    /* the outer Deferred waiting on us (borrowed: it holds our ref) */
  size_t handover;           /* while resumes is set: the step at which our result goes to it */
  weft_deferred *stack_next; /* run_chain's stack of Deferreds with steps left after a hand-over */
  weft_canceller_fn canceller;
  void *canceller_arg;
  weft_log_publisher *log;
  step inline_steps[INLINE_STEPS];
};

void weft_value_release(weft_value v) {
  switch (v.kind) {
    case WEFT_VALUE_PTR:
      if (v.destroy) v.destroy(v.v.p);
      break;
    case WEFT_VALUE_FAILURE: weft_failure_unref(v.v.f); break;
    case WEFT_VALUE_DEFERRED: weft_deferred_unref(v.v.d); break;
    default: break;
  }
}

bool weft_trap(weft_value v, const char *domain, int code) {
  return v.kind == WEFT_VALUE_FAILURE && weft_failure_check(v.v.f, domain, code);
}

weft_deferred *weft_deferred_new_cancellable(weft_log_publisher *log, weft_canceller_fn canceller, void *arg) {
  weft_deferred *d = weft__malloc(sizeof *d);
  if (!d) return NULL;
  memset(d, 0, offsetof(weft_deferred, inline_steps));
  d->refs = 1;
  d->steps = d->inline_steps;
  d->cap = INLINE_STEPS;
  d->canceller = canceller;
  d->canceller_arg = arg;
  d->log = log;
  return d;
}

weft_deferred *weft_deferred_new(weft_log_publisher *log) { return weft_deferred_new_cancellable(log, NULL, NULL); }

weft_deferred *weft_succeed(weft_log_publisher *log, weft_value v) {
  weft_deferred *d = weft_deferred_new(log);
  if (!d) {
    weft_value_release(v);
    return NULL;
  }
  weft_deferred_callback(d, v);
  return d;
}

weft_deferred *weft_fail(weft_log_publisher *log, weft_failure *f) { return weft_succeed(log, weft_failed(f)); }

weft_deferred *weft_deferred_ref(weft_deferred *d) {
  if (d) d->refs++;
  return d;
}

static void report_unhandled(weft_deferred *d) {
  char text[2048];
  weft_failure_text(d->result.v.f, text, sizeof text);
  weft_log_emit(d->log, WEFT_LOG_ERROR, "weft.defer", "Unhandled error in Deferred: {failure}",
                WEFT_LOG_STR("failure", text), WEFT_LOG_END);
}

static weft_value fire_other(weft_value result, void *arg);

void weft_deferred_unref(weft_deferred *d) {
  /* a loop, not recursion: freeing the head of a deep paused chain frees every level in turn */
  while (d && --d->refs == 0) {
    /* unfired and forgotten by everyone: an outer Deferred cannot be waiting on us (it holds a
     * reference), so only our own inner one needs letting go; it forgets us first, so nothing
     * run from the releases below can hand a result to us */
    weft_deferred *inner = d->waiting_on;
    if (inner) inner->resumes = NULL;
    if (d->result.kind == WEFT_VALUE_FAILURE) report_unhandled(d);
    weft_value_release(d->result);
    /* a chain_to step that will never run still holds its reference to the other Deferred */
    for (size_t i = d->next; i < d->nsteps; i++)
      if (d->steps[i].callback == fire_other) weft_deferred_unref(d->steps[i].callback_arg);
    if (d->steps != d->inline_steps) weft__free(d->steps);
    weft__free(d);
    d = inner;
  }
}

/* ---- running the chain ---- */

/* The result a step returned is a Deferred: take its result now if it has one, else wait for it.
 * Returns true if d is now paused. */
static bool adopt_inner(weft_deferred *d, weft_deferred *inner) {
  if (inner == d) {
    weft_deferred_unref(inner);
    d->result = weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EINVAL,
                                             "a callback returned the Deferred it belongs to"));
    return false;
  }
  if (inner->resumes) {
    weft_deferred_unref(inner);
    d->result = weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EINVAL,
                                             "a callback returned a Deferred another chain already waits on"));
    return false;
  }
  if (inner->called && !inner->running && !inner->waiting_on) {
    d->result = inner->result; /* the inner chain is done: its result moves to us */
    inner->result = weft_none();
    weft_deferred_unref(inner);
    return false;
  }
  d->result = weft_none();
  d->waiting_on = inner; /* our reference to inner, dropped when it hands its result over */
  inner->resumes = d;
  inner->handover = inner->nsteps; /* steps added to inner from now on run after the hand-over */
  return true;
}

/* Runs d's remaining steps; returns the Deferred to continue with (an outer one that d's result
 * resumed), or NULL when there is nothing more to do. */
static weft_deferred *run_steps(weft_deferred *d) {
  if (d->running || d->waiting_on || !d->called) return NULL;
  d->running = true;
  while (d->next < (d->resumes ? d->handover : d->nsteps)) {
    step s = d->steps[d->next++]; /* copied: a step may add steps and move the array */
    bool failed = d->result.kind == WEFT_VALUE_FAILURE;
    weft_deferred_fn fn = failed ? s.errback : s.callback;
    if (!fn) continue;
    weft_value in = d->result;
    d->result = weft_none();
    weft_value out = fn(in, failed ? s.errback_arg : s.callback_arg);
    if (out.kind == WEFT_VALUE_DEFERRED ? adopt_inner(d, out.v.d) : (d->result = out, false)) break;
  }
  d->running = false;
  if (d->waiting_on) return NULL;
  if (d->next == d->nsteps) d->next = d->nsteps = 0; /* every step has run: reuse the array */
  weft_deferred *outer = d->resumes;
  if (!outer) return NULL;
  /* our chain is done and an outer one waits for our result */
  d->resumes = NULL;
  outer->waiting_on = NULL;
  outer->result = d->result;
  d->result = weft_none();
  weft_deferred_unref(d); /* the outer's reference */
  return outer;
}

static void run_chain(weft_deferred *d) {
  /* keep each Deferred alive while its chain runs: a step may drop the last outside reference */
  weft_deferred_ref(d);
  weft_deferred *stack = NULL; /* handed over, with steps left: one reference each */
  while (d) {
    weft_deferred *next = run_steps(d);
    if (next) weft_deferred_ref(next);
    if (next && d->next < d->nsteps) {
      /* steps were added to d after an outer chain took it: as in Twisted, they run once the
       * outer chain has gone as far as it can, and get NONE (d's result went to the outer) */
      d->stack_next = stack;
      stack = d;
    } else {
      weft_deferred_unref(d);
    }
    if (!next && stack) {
      next = stack;
      stack = next->stack_next;
      next->stack_next = NULL;
    }
    d = next;
  }
}

int weft_deferred_callback(weft_deferred *d, weft_value v) {
  if (v.kind == WEFT_VALUE_DEFERRED) {
    weft_value_release(v);
    return WEFT_EINVAL;
  }
  if (d->called) {
    weft_value_release(v);
    if (d->suppress_once) {
      d->suppress_once = false; /* the firer of a cancelled Deferred finished late: fine */
      return 0;
    }
    return WEFT_EALREADY;
  }
  d->called = true;
  d->result = v;
  run_chain(d);
  return 0;
}

int weft_deferred_errback(weft_deferred *d, weft_failure *f) { return weft_deferred_callback(d, weft_failed(f)); }

static bool grow_steps(weft_deferred *d) {
  /* past the inline steps, jump to 16: most long chains then need one allocation */
  size_t cap = d->cap < 16 ? 16 : d->cap * 2;
  step *s = d->steps == d->inline_steps ? weft__malloc(cap * sizeof *s) : weft__realloc(d->steps, cap * sizeof *s);
  if (!s) return false;
  if (d->steps == d->inline_steps) memcpy(s, d->inline_steps, sizeof d->inline_steps);
  d->steps = s;
  d->cap = cap;
  return true;
}

int weft__deferred_add_callbacks(weft_deferred *d, weft_deferred_fn callback, void *callback_arg,
                                 weft_deferred_fn errback, void *errback_arg) {
  if (d->nsteps == d->cap && !grow_steps(d)) {
    /* the step is lost: make sure its failure is not */
    weft_failure *f = weft_failure_from_error(WEFT_ENOMEM);
    if (!d->called) {
      weft_deferred_errback(d, f);
      d->suppress_once = true;
    } else if (!d->waiting_on && !d->running) {
      weft_value_release(d->result);
      d->result = weft_failed(f);
    } else {
      weft_failure_unref(f);
    }
    return WEFT_ENOMEM;
  }
  d->steps[d->nsteps++] = (step){callback, errback, callback_arg, errback_arg};
  if (d->called && !d->running && !d->waiting_on) run_chain(d);
  return 0;
}

weft_deferred *weft_deferred_add_callbacks(weft_deferred *d, weft_deferred_fn callback, void *callback_arg,
                                           weft_deferred_fn errback, void *errback_arg) {
  weft__deferred_add_callbacks(d, callback, callback_arg, errback, errback_arg);
  return d;
}

weft_deferred *weft_deferred_add_callback(weft_deferred *d, weft_deferred_fn callback, void *arg) {
  return weft_deferred_add_callbacks(d, callback, arg, NULL, NULL);
}

weft_deferred *weft_deferred_add_errback(weft_deferred *d, weft_deferred_fn errback, void *arg) {
  return weft_deferred_add_callbacks(d, NULL, NULL, errback, arg);
}

weft_deferred *weft_deferred_add_both(weft_deferred *d, weft_deferred_fn fn, void *arg) {
  return weft_deferred_add_callbacks(d, fn, arg, fn, arg);
}

/* chainDeferred: the result fires `other`; this chain goes on with None. */
static weft_value fire_other(weft_value result, void *arg) {
  weft_deferred *other = arg;
  weft_deferred_callback(other, result);
  weft_deferred_unref(other);
  return weft_none();
}

weft_deferred *weft_deferred_chain_to(weft_deferred *d, weft_deferred *other) {
  if (weft__deferred_add_callbacks(d, fire_other, weft_deferred_ref(other), fire_other, other) != 0) {
    /* the step that would fire other is lost with its reference: other fails as d did */
    weft_deferred_errback(other, weft_failure_from_error(WEFT_ENOMEM));
    weft_deferred_unref(other);
  }
  return d;
}

void weft_deferred_cancel(weft_deferred *d) {
  /* waiting on an inner Deferred: cancel the innermost unfired one instead (a loop, as deep
   * chains must not recurse); its failure flows back out to us */
  while (d && d->called) d = d->waiting_on;
  if (!d) return;
  weft_deferred_ref(d);
  if (d->canceller) d->canceller(d, d->canceller_arg);
  else d->suppress_once = true;
  if (!d->called) weft_deferred_errback(d, weft_failure_from_error(WEFT_ECANCELED));
  weft_deferred_unref(d);
}

bool weft_deferred_called(const weft_deferred *d) { return d->called; }
bool weft_deferred_paused(const weft_deferred *d) { return d->waiting_on != NULL; }
weft_value weft_deferred_result(const weft_deferred *d) { return d->result; }

int weft_deferred_take_result(weft_deferred *d, weft_value *out) {
  if (!d->called || d->waiting_on || d->running) {
    *out = weft_none();
    return WEFT_ESTATE;
  }
  *out = d->result;
  d->result = weft_none();
  return 0;
}

size_t weft_deferred_describe(const weft_deferred *d, char *buf, size_t size) {
  char what[160];
  const weft_value *v = &d->result;
  if (d->waiting_on) snprintf(what, sizeof what, "waiting on Deferred %p", (void *)d->waiting_on);
  else if (!d->called) snprintf(what, sizeof what, "(not fired)");
  else if (v->kind == WEFT_VALUE_INT) snprintf(what, sizeof what, "current result: int %" PRId64, v->v.i);
  else if (v->kind == WEFT_VALUE_STR) snprintf(what, sizeof what, "current result: str \"%.100s\"", v->v.s ? v->v.s : "");
  else if (v->kind == WEFT_VALUE_PTR) snprintf(what, sizeof what, "current result: ptr %p", v->v.p);
  else if (v->kind == WEFT_VALUE_FAILURE)
    snprintf(what, sizeof what, "current result: failure %s/%d: %.80s", weft_failure_domain(v->v.f),
             weft_failure_code(v->v.f), weft_failure_message(v->v.f));
  else snprintf(what, sizeof what, "current result: none");
  int n = snprintf(buf, size, "<Deferred %p %s>", (const void *)d, what);
  return n < 0 ? 0 : (size_t)n;
}
