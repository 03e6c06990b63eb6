/* timeouts.c: Deferreds on the reactor's clock: addTimeout, sleep and deferLater
 * (twisted.internet.defer.Deferred.addTimeout, twisted.internet.task.deferLater). */
#include "async/deferred_internal.h"
#include "base/alloc.h"
#include "weft/defer_time.h"
#include "weft/errors.h"

/* ---- addTimeout ---- */

/* Shared by the timer and the step added to the Deferred's chain: either may outlive the other
 * (the timer fires while an earlier step keeps the chain paused; the step runs and removes a
 * timer that has not fired), so each holds one share and the last one frees it. */
typedef struct timeout {
  int refs;
  bool timed_out;        /* the timer fired: a cancellation from now on is ours */
  double seconds;        /* for the message */
  weft_deferred *d;      /* the timer's reference, while dc is pending */
  weft_delayed_call *dc; /* pending timer, or NULL once it fired or was removed */
} timeout;

static void timeout_unref(timeout *t) {
  if (--t->refs == 0) weft__free(t);
}

/* Removes a pending timer and drops what it held (its reference to d, its share of t). */
static void timeout_disarm(timeout *t) {
  if (!t->dc) return;
  weft_delayed_call_cancel(t->dc);
  t->dc = NULL;
  weft_deferred *d = t->d;
  t->d = NULL;
  timeout_unref(t);
  weft_deferred_unref(d); /* never the last one inside d's chain: the chain runner holds d */
}

static void timeout_fire(void *arg) {
  timeout *t = arg;
  weft_deferred *d = t->d;
  t->dc = NULL; /* the reactor forgets the handle when we return */
  t->d = NULL;
  t->timed_out = true;
  weft_deferred_cancel(d); /* usually runs the step below at once */
  timeout_unref(t);
  /* may free d, logging its timeout if nobody else holds it to handle the Failure */
  weft_deferred_unref(d);
}

/* The step: turns our cancellation into a timeout (Twisted's _cancelledToTimedOutError) and,
 * when d got its result first, removes the timer. */
static weft_value timeout_step(weft_value v, void *arg) {
  timeout *t = arg;
  if (t->timed_out && v.kind == WEFT_VALUE_FAILURE &&
      weft_failure_check(v.v.f, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED)) {
    weft_failure *f =
        weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT, "Deferred timed out after %g seconds", t->seconds);
    v = weft_failed(weft_failure_set_cause(f, v.v.f));
  }
  timeout_disarm(t);
  timeout_unref(t);
  return v;
}

int weft_deferred_add_timeout(weft_deferred *d, weft_reactor *r, double seconds) {
  if (!d || !r || !(seconds >= 0)) return WEFT_EINVAL;
  timeout *t = weft__calloc(1, sizeof *t);
  if (!t) return WEFT_ENOMEM;
  t->refs = 2; /* the timer's and the step's */
  t->seconds = seconds;
  t->d = weft_deferred_ref(d);
  t->dc = weft_reactor_call_later(r, seconds, timeout_fire, t);
  if (!t->dc) {
    weft_deferred_unref(d);
    weft__free(t);
    return WEFT_ENOMEM;
  }
  /* from here t may be gone: on a fired Deferred the step runs (and disarms) inside this call */
  if (weft__deferred_add_callbacks(d, timeout_step, t, timeout_step, t) != 0) {
    /* the step could not be stored (d now carries WEFT_ENOMEM, unless it fired already and waits
     * on an inner Deferred): it will never run to disarm the timer and release its share */
    timeout_disarm(t);
    timeout_unref(t);
    return WEFT_ENOMEM;
  }
  return 0;
}

/* ---- sleep and deferLater ---- */

/* The timer behind a sleep; it holds the firer's reference to d. Freed when the timer fires or
 * the Deferred is cancelled, whichever comes first (the other cannot happen after it). */
typedef struct sleeper {
  weft_deferred *d;
  weft_delayed_call *dc;
} sleeper;

static void sleep_done(void *arg) {
  sleeper *s = arg;
  weft_deferred *d = s->d;
  weft__free(s); /* d has fired from here on, so its canceller (which uses s) can no longer run */
  weft_deferred_callback(d, weft_none());
  weft_deferred_unref(d);
}

static void sleep_cancel(weft_deferred *d, void *arg) {
  sleeper *s = arg;
  weft_delayed_call_cancel(s->dc);
  weft__free(s);
  weft_deferred_unref(d); /* the timer's reference; weft_deferred_cancel holds d while we run */
}

weft_deferred *weft_sleep(weft_reactor *r, double seconds) {
  if (!r) return NULL;
  weft_log_publisher *log = weft_reactor_log(r);
  if (!(seconds >= 0))
    return weft_fail(log, weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EINVAL,
                                           "a delay must be a number >= 0, not %g", seconds));
  sleeper *s = weft__calloc(1, sizeof *s);
  if (!s) return NULL;
  weft_deferred *d = weft_deferred_new_cancellable(log, sleep_cancel, s);
  if (!d) {
    weft__free(s);
    return NULL;
  }
  s->d = weft_deferred_ref(d);
  s->dc = weft_reactor_call_later(r, seconds, sleep_done, s);
  if (!s->dc) {
    weft__free(s);
    weft_deferred_unref(d);
    weft_deferred_unref(d);
    return NULL;
  }
  return d;
}

weft_deferred *weft_defer_later(weft_reactor *r, double delay, weft_deferred_fn fn, void *arg) {
  /* as Twisted: a cancellable Deferred fired with None by a delayed call, fn its first callback
   * (so cancelling skips fn, and fn's Failure or Deferred is handled by the chain itself) */
  weft_deferred *d = weft_sleep(r, delay);
  /* the first step of a new Deferred is stored inline: adding it cannot fail */
  if (d && fn) weft_deferred_add_callback(d, fn, arg);
  return d;
}
