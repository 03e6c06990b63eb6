/* defer_time.h: Deferreds and the reactor's clock: timeouts, sleeps and delayed calls with a result
 * (Twisted's Deferred.addTimeout, task.deferLater, and the sleep built on it).
 *
 * Everything here runs on the reactor's clock (weft_reactor_options.clock), so a test drives it by
 * hand with the test kit's manual clock (testing.h) and needs no real time. The timers are
 * ordinary delayed calls: while one is pending it counts in weft_reactor_open_handles. Like any
 * delayed call, a pending one is dropped without running when the reactor is freed, and what it
 * holds (a reference to the Deferred) is then never released: let it fire or cancel the Deferred
 * before freeing the reactor, as a clean test does.
 *
 * The Deferreds made here log unhandled errors to weft_reactor_log(r), so they must be freed
 * before the reactor. */
#ifndef WEFT_DEFER_TIME_H
#define WEFT_DEFER_TIME_H

#include "weft/deferred.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Gives d a deadline (Twisted's addTimeout): if d has not produced a result seconds from now
 * (reactor time), d is cancelled (weft_deferred_cancel: its canceller runs, or the inner Deferred
 * it waits on is cancelled). If that cancellation produced a WEFT_ECANCELED Failure (domain
 * WEFT_FAILURE_DOMAIN), it is replaced by a WEFT_ETIMEDOUT Failure, "Deferred timed out after N
 * seconds", whose cause is the cancellation Failure; any other result a canceller chose (a value,
 * another Failure) goes on unchanged. A cancellation by anyone else before the deadline stays
 * WEFT_ECANCELED.
 *
 * This works by appending one step to d's chain (as Twisted adds its callbacks), so the timeout
 * covers what d's chain does up to this point; steps added later see the WEFT_ETIMEDOUT Failure.
 * When the step runs before the deadline (d fired first), it removes the timer: no delayed call
 * is left in the reactor. Added to a Deferred that has already fired and is not waiting, the step
 * runs at once and nothing stays scheduled.
 *
 * Ownership: the timer holds its own reference to d until it fires or is removed, so the caller
 * may drop its references at any time; a Deferred nobody else holds any more then still times
 * out at the deadline, and its WEFT_ETIMEDOUT Failure, if unhandled, is logged as "Unhandled
 * error in Deferred" when the timer lets go of it (as in Twisted, where the reactor keeps such a
 * Deferred alive).
 *
 * Returns 0, WEFT_EINVAL for a NULL d or r or for seconds < 0 or NaN (nothing is changed), or
 * WEFT_ENOMEM (nothing is scheduled; if the step itself could not be added, d has failed with
 * WEFT_ENOMEM as weft_deferred_add_callbacks documents). */
int weft_deferred_add_timeout(weft_deferred *d, weft_reactor *r, double seconds);

/* A Deferred that fires with NONE seconds from now (reactor time), on the reactor's turn after
 * the deadline. Cancelling it before then removes its timer and fails it with WEFT_ECANCELED.
 * The caller gets the one reference it must drop; the timer holds its own until it fires, so
 * dropping the Deferred early is allowed (the timer still runs, then frees it).
 * Returns the Deferred; one that has already failed with WEFT_EINVAL (and nothing scheduled) for
 * seconds < 0 or NaN; NULL when r is NULL or memory runs out. */
weft_deferred *weft_sleep(weft_reactor *r, double seconds);

/* Twisted's deferLater: a Deferred that, delay seconds from now, calls fn(weft_none(), arg) and
 * fires with what fn returns, as its first callback: a value, a Failure (the chain goes to the
 * errbacks) or a Deferred (the chain waits for it; cancelling then cancels that one). fn NULL:
 * fires with NONE, as weft_sleep. Cancelled before the delay, fn never runs, the timer is removed
 * and the Deferred fails with WEFT_ECANCELED. Ownership and errors as weft_sleep (for an invalid
 * delay fn never runs). arg is borrowed: it must stay valid until fn has run or the Deferred was
 * cancelled. */
weft_deferred *weft_defer_later(weft_reactor *r, double delay, weft_deferred_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
