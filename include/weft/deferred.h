/* deferred.h: results that are not there yet (twisted.internet.defer.Deferred).
 *
 * A Deferred holds a chain of (callback, errback) pairs. When it fires, the result goes through
 * the chain: each step gets the current result and returns the next one. A step that returns a
 * Failure switches the chain to the errbacks; an errback that returns a value switches it back.
 * A step that returns another Deferred pauses this chain until that one has fired and run its
 * own chain; its final result becomes this chain's current result. Steps added to that inner
 * Deferred after it was returned run after the hand-over and get NONE (Twisted leaves None as
 * the inner Deferred's result). Chains of any depth (100,000 nested Deferreds) run in a loop,
 * never by recursion.
 *
 * Results (weft_value) carry their ownership: a step receives the current result and owns it;
 * what it returns is owned by the chain. Integers and static strings need no allocation; a
 * pointer result carries its destructor, a Failure its reference. Whoever holds a result at the
 * end frees it: the Deferred does when it is freed.
 *
 * Lifetime: a Deferred is reference-counted. weft_deferred_new returns one reference. The code
 * that will fire it keeps one; the code it is returned to gets one and drops it with
 * weft_deferred_unref when it has added its callbacks (the chain still runs when the Deferred
 * fires). A Deferred whose chain ends in a Failure logs "Unhandled error in Deferred" with the
 * Failure's text when it is freed (Twisted's unhandled-error report).
 *
 * Firing a Deferred twice is an error (WEFT_EALREADY, Twisted's AlreadyCalledError). A callback
 * added to a Deferred that has already fired runs at once, inside the add call: code that
 * adds a callback must be ready for it to run before the add returns. */
#ifndef WEFT_DEFERRED_H
#define WEFT_DEFERRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/failure.h"
#include "weft/log.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_deferred weft_deferred;

typedef enum weft_value_kind {
  WEFT_VALUE_NONE = 0, /* no value (Python's None) */
  WEFT_VALUE_INT,      /* v.i */
  WEFT_VALUE_STR,      /* v.s: a static or borrowed string, never freed */
  WEFT_VALUE_PTR,      /* v.p, freed with destroy (if not NULL) by whoever holds it last */
  WEFT_VALUE_FAILURE,  /* v.f: one reference */
  WEFT_VALUE_DEFERRED, /* v.d: one reference; only as a callback's return value (chaining) */
} weft_value_kind;

typedef struct weft_value {
  weft_value_kind kind;
  union {
    int64_t i;
    const char *s;
    void *p;
    weft_failure *f;
    weft_deferred *d;
  } v;
  void (*destroy)(void *p); /* for WEFT_VALUE_PTR */
} weft_value;

/* Constructors of results: nothing, an integer, a static or borrowed string (never freed), a
 * pointer freed with destroy (may be NULL) by its last holder, a Failure (takes the caller's
 * reference), a Deferred to chain (only as a callback's return value; takes the reference). */
static inline weft_value weft_none(void) { return (weft_value){.kind = WEFT_VALUE_NONE}; }
static inline weft_value weft_int(int64_t i) { return (weft_value){.kind = WEFT_VALUE_INT, .v.i = i}; }
static inline weft_value weft_str(const char *s) { return (weft_value){.kind = WEFT_VALUE_STR, .v.s = s}; }
static inline weft_value weft_ptr(void *p, void (*destroy)(void *)) {
  return (weft_value){.kind = WEFT_VALUE_PTR, .v.p = p, .destroy = destroy};
}
static inline weft_value weft_failed(weft_failure *f) { return (weft_value){.kind = WEFT_VALUE_FAILURE, .v.f = f}; }
static inline weft_value weft_chain(weft_deferred *d) { return (weft_value){.kind = WEFT_VALUE_DEFERRED, .v.d = d}; }
/* True if v is a Failure. */
static inline bool weft_value_is_failure(weft_value v) { return v.kind == WEFT_VALUE_FAILURE; }

/* Twisted's Failure.trap for an errback: true if v is a Failure of domain with code (or any code
 * with WEFT_FAILURE_ANY_CODE). An errback that does not recognise the failure returns v as it is,
 * which keeps the chain failing, so a row of errbacks reads like except clauses:
 *
 *   static weft_value on_missing(weft_value v, void *arg) {
 *     if (!weft_trap(v, "app.db", APP_ENOTFOUND)) return v;  // not ours: re-fail
 *     weft_value_release(v);
 *     return weft_str("default");                            // recovered
 *   }
 */
bool weft_trap(weft_value v, const char *domain, int code);

/* Frees what v owns (a PTR's destroy, a Failure's or Deferred's reference). */
void weft_value_release(weft_value v);

/* A step of the chain: gets the current result (owned) and returns the next (owned by the chain). */
typedef weft_value (*weft_deferred_fn)(weft_value result, void *arg);

/* Called by weft_deferred_cancel on a Deferred that has not fired (Twisted's canceller). It should
 * stop the work behind d; it may fire d itself (with any result), otherwise d fails with
 * WEFT_ECANCELED right after. */
typedef void (*weft_canceller_fn)(weft_deferred *d, void *arg);

/* A new unfired Deferred with one reference, or NULL when out of memory. log receives the
 * "Unhandled error" report (NULL: stderr's default, see log.h); pass weft_reactor_log(r). */
weft_deferred *weft_deferred_new(weft_log_publisher *log);

/* As weft_deferred_new, with a canceller. */
weft_deferred *weft_deferred_new_cancellable(weft_log_publisher *log, weft_canceller_fn canceller, void *arg);

/* An already-fired Deferred (Twisted's succeed / fail), or NULL when out of memory (the value is
 * then released). */
weft_deferred *weft_succeed(weft_log_publisher *log, weft_value v);
weft_deferred *weft_fail(weft_log_publisher *log, weft_failure *f);

/* Reference counting. weft_deferred_ref returns d. The last unref frees d and its result (logging
 * an unhandled Failure). NULL is ignored. */
weft_deferred *weft_deferred_ref(weft_deferred *d);
void weft_deferred_unref(weft_deferred *d);

/* Fires d with v (taking ownership of v in every case). A Failure value fires the errbacks
 * (weft_deferred_errback is the same with a Failure). Returns 0, WEFT_EALREADY if d has already
 * fired (v is released), or WEFT_EINVAL for a Deferred value. */
int weft_deferred_callback(weft_deferred *d, weft_value v);
int weft_deferred_errback(weft_deferred *d, weft_failure *f);

/* Appends a step to the chain (Twisted's addCallbacks/addCallback/addErrback/addBoth). Either fn
 * may be NULL (passes the result through). If d has fired and is not paused, the chain runs now,
 * before the call returns. Returns d, for chaining calls; on allocation failure the step is not
 * added, d's result becomes a WEFT_ENOMEM Failure (so the error is not lost) and d is returned. */
weft_deferred *weft_deferred_add_callbacks(weft_deferred *d, weft_deferred_fn callback, void *callback_arg,
                                           weft_deferred_fn errback, void *errback_arg);
weft_deferred *weft_deferred_add_callback(weft_deferred *d, weft_deferred_fn callback, void *arg);
weft_deferred *weft_deferred_add_errback(weft_deferred *d, weft_deferred_fn errback, void *arg);
weft_deferred *weft_deferred_add_both(weft_deferred *d, weft_deferred_fn fn, void *arg);

/* Chains `other` to d (Twisted's chainDeferred): d's result at this point fires other. Takes no
 * reference from the caller. Returns d. */
weft_deferred *weft_deferred_chain_to(weft_deferred *d, weft_deferred *other);

/* Cancels d (Twisted's cancel): if d has not fired, its canceller runs and, unless it fired d, d
 * fails with a WEFT_ECANCELED Failure. If d is waiting on an inner Deferred, the inner one is
 * cancelled instead (its failure then flows into d). Does nothing on a Deferred that has fired. */
void weft_deferred_cancel(weft_deferred *d);

/* State, for tests and logs. */
bool weft_deferred_called(const weft_deferred *d); /* fired (callback or errback) */
bool weft_deferred_paused(const weft_deferred *d); /* waiting on an inner Deferred */
/* The current result, borrowed (valid until the chain moves on or d is freed); NONE when unfired. */
weft_value weft_deferred_result(const weft_deferred *d);
/* Takes the current result out of a fired, unpaused d (d's result becomes NONE, so d no longer
 * reports it as unhandled). Returns WEFT_ESTATE (and NONE) when d has not fired or is paused. */
int weft_deferred_take_result(weft_deferred *d, weft_value *out);

/* A one-line description for logs, such as
 *   "<Deferred 0x55d0 current result: int 42>", "<Deferred 0x55d0 waiting on Deferred 0x55e0>"
 * into buf (NUL-terminated); returns the length needed, like snprintf. */
size_t weft_deferred_describe(const weft_deferred *d, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
