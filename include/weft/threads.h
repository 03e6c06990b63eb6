/* threads.h: running blocking work on threads (Twisted's reactor thread pool, deferToThread and
 * blockingCallFromThread).
 *
 * Each reactor has one thread pool, made when first needed (by weft_defer_to_thread or
 * weft_threadpool_configure) and started lazily: it has no thread until work arrives, then grows
 * one thread per job waiting, up to max_threads; threads beyond min_threads that stay idle for
 * idle_timeout seconds exit. Jobs wait in a FIFO queue of at most queue_limit entries.
 *
 * Results come back on the reactor's thread: a worker that finishes a job hands it over through
 * weft_reactor_call_from_thread, and the job's Deferred fires there, so callbacks never run on a
 * worker. A job's value or Failure is made on the worker and then handed over whole: the worker
 * never touches it again, so reference counts (plain ints) are never used by two threads at once.
 *
 * Lifetime and handles: the pool counts as one open handle of its reactor from its creation until
 * it has stopped and its threads are joined (so weft_reactor_free cannot free a reactor a worker
 * still reports to). It stops
 *   - on reactor shutdown: a "before shutdown" trigger (added when the pool is made) stops it and
 *     holds the shutdown until the running jobs have finished, their Deferreds have fired and the
 *     threads are joined; the reactor keeps turning meanwhile, so jobs may still use
 *     weft_block_on_reactor; or
 *   - with weft_threadpool_stop, for code that drives the reactor with weft_reactor_iterate.
 * A pool made after its shutdown's "before" phase (by a later trigger) lives until
 * weft_threadpool_stop or the next shutdown. Stopping fails every queued job that has not started with WEFT_ECANCELED (on the reactor
 * thread, at once); jobs submitted while the pool stops fail with WEFT_ECANCELED too. Once gone,
 * the next weft_defer_to_thread makes a fresh pool with the default options.
 *
 * Everything here except weft_block_on_reactor must be called on the reactor's thread. */
#ifndef WEFT_THREADS_H
#define WEFT_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "weft/deferred.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_threadpool_options {
  size_t min_threads;  /* kept alive when idle (default 0); none start before work arrives */
  size_t max_threads;  /* at most this many at once (default 10, as Twisted's pool) */
  size_t queue_limit;  /* jobs waiting for a thread (default 1024); 0: no limit */
  double idle_timeout; /* seconds a thread beyond min_threads waits idle before it exits
                          (default 60; real time, not the reactor's clock; 0: never exit) */
} weft_threadpool_options;

/* Fills o with the defaults; call before setting fields, so new fields get defaults too. */
void weft_threadpool_options_init(weft_threadpool_options *o);

/* Sets the options of r's pool, making the pool (without threads) if it does not exist; a live
 * pool takes them at once (new limits apply to the next job; idle threads beyond a lowered
 * max_threads exit). o may be NULL for defaults. Returns 0, WEFT_EINVAL (max_threads 0,
 * min_threads > max_threads, idle_timeout negative or NaN), WEFT_ECANCELED if the pool is
 * stopping, or WEFT_ENOMEM. */
int weft_threadpool_configure(weft_reactor *r, const weft_threadpool_options *o);

/* Runs fn(arg) on a thread of r's pool (making the pool with the defaults if needed). Returns a
 * Deferred (one reference for the caller, as weft_deferred_new) that fires on the reactor thread
 * with fn's return value: a value, or a Failure that goes down the errbacks. fn must not return a
 * Deferred (the Deferred then fails with WEFT_EINVAL); arg stays the caller's.
 * The Deferred fails at once (it has fired when this returns) with:
 *   WEFT_ELIMIT     the queue holds queue_limit jobs already (Twisted's queue is unbounded; here
 *                   a full queue is refused rather than grown);
 *   WEFT_ECANCELED  the pool is stopping (reactor shutdown or weft_threadpool_stop);
 *   WEFT_ENOMEM, or the error of pthread_create when no thread could be started.
 * Cancelling the Deferred removes a job still queued (it will not run) and fails the Deferred
 * with WEFT_ECANCELED; a running job cannot be stopped: the Deferred fails with WEFT_ECANCELED
 * at once and the job's result, when it arrives, is released. Returns NULL only when even the
 * Deferred could not be allocated. */
weft_deferred *weft_defer_to_thread(weft_reactor *r, weft_value (*fn)(void *arg), void *arg);

/* Blocking call from a thread (Twisted's blockingCallFromThread): called on any thread other than
 * r's (typically inside a job of weft_defer_to_thread), runs fn(arg) on the reactor thread, waits
 * until the Deferred it returns has fired, and returns that Deferred's result (owned by the
 * caller: a value, or a Failure with one reference), made on the reactor thread and handed over
 * whole. fn must return a Deferred with one reference, which this call takes; NULL gives a
 * WEFT_EINVAL Failure. Returns a Failure with:
 *   WEFT_EDEADLK   when called inside a turn of r on r's own thread (it would wait forever);
 *   WEFT_ENOMEM    when the call could not be queued.
 * The reactor must keep turning until the Deferred fires: calling this when r will not run again
 * (or fn's Deferred never fires) blocks the thread forever. */
weft_value weft_block_on_reactor(weft_reactor *r, weft_deferred *(*fn)(void *arg), void *arg);

/* What the pool is doing, for tests and logs. */
typedef struct weft_threadpool_stats {
  size_t threads;      /* threads alive */
  size_t busy;         /* threads running a job */
  size_t queued;       /* jobs waiting for a thread */
  size_t peak_threads; /* the most threads alive at once since the pool was made */
  uint64_t completed;  /* jobs whose function has returned */
  uint64_t cancelled;  /* jobs removed before they started (cancel, stop) */
  bool exists;         /* false: r has no pool now (every other field is 0) */
  bool stopping;       /* stopped, waiting for running jobs and threads to finish */
} weft_threadpool_stats;

/* Fills *out with a snapshot of r's pool. */
void weft_threadpool_stats_get(weft_reactor *r, weft_threadpool_stats *out);

/* Stops r's pool without a reactor shutdown: queued jobs fail with WEFT_ECANCELED now; running
 * jobs finish and their Deferreds fire on later turns; when the last thread has exited (seen on a
 * turn of the reactor, which must keep turning) the threads are joined, the pool is freed and its
 * handle goes. Returns 0, or WEFT_EALREADY if r has no pool or it is already stopping. */
int weft_threadpool_stop(weft_reactor *r);

#ifdef __cplusplus
}
#endif
#endif
