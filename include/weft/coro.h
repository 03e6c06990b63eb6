/* coro.h: coroutines that await Deferreds (twisted.internet.defer.inlineCallbacks,
 * ensureDeferred and async def / await; weft_react is twisted.internet.task.react).
 *
 * A coroutine is a function that runs on its own small stack and may suspend in weft_await until
 * a Deferred fires, so asynchronous code reads top to bottom:
 *
 *   static weft_value fetch(weft_coro *co, void *arg) {
 *     weft_value v = weft_await(co, start_request(arg));
 *     if (weft_value_is_failure(v)) return v;          // the "except": pass the Failure on
 *     weft_value body = weft_await(co, read_body(v));   // ... or handle it and go on
 *     return body;
 *   }
 *   weft_deferred *d;
 *   weft_coro_start(&d, r, fetch, req, NULL);
 *
 * Threading: a coroutine belongs to the reactor (thread) that started it; it runs only on that
 * thread. Resumption happens synchronously inside the awaited Deferred's callback, as Twisted's
 * inlineCallbacks does: the coroutine runs until its next await (or its end) before the code that
 * fired the Deferred continues. Code that fires Deferreds must therefore be ready for arbitrary
 * code to run inside weft_deferred_callback, as it always must with Deferreds.
 *
 * Stacks are guarded (running off one dies with SIGSEGV, never writes over other memory), 64 KiB
 * by default, of which only the touched pages use memory (typically one or two), and recycled
 * through a small per-thread pool. Large local arrays, deep recursion and functions that need big
 * stacks (some resolvers, printf of long doubles on some platforms) need a bigger stack_size.
 * Each stack is one or two memory mappings: on Linux kernels before 6.13 (no MADV_GUARD_INSTALL)
 * vm.max_map_count (65530 by default) limits a process to about 32,000 live coroutines. */
#ifndef WEFT_CORO_H
#define WEFT_CORO_H

#include <stddef.h>

#include "weft/deferred.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_coro weft_coro;

/* A coroutine's body. It runs on the coroutine's stack and may call weft_await. What it returns
 * (a value, or a Failure: weft_failed(f)) fires the coroutine's Deferred; ownership passes to
 * that Deferred. Returning a Deferred (weft_chain) chains it, as a callback may. */
typedef weft_value (*weft_coro_fn)(weft_coro *co, void *arg);

typedef struct weft_coro_options {
  /* Usable stack in bytes, rounded up to whole pages; 0 means the default (64 KiB). */
  size_t stack_size;
} weft_coro_options;

/* Fills o with the defaults; call before setting fields, so new fields get defaults too. */
void weft_coro_options_init(weft_coro_options *o);

/* Starts fn(co, arg) as a coroutine of reactor r (Twisted's ensureDeferred on an async def, or a
 * call of an inlineCallbacks function). fn runs at once, inside this call, until its first
 * weft_await of a Deferred that has not fired (or until it returns). *out receives the
 * coroutine's Deferred, one reference owned by the caller (drop it with weft_deferred_unref); it
 * fires with fn's return value once fn returns (possibly before weft_coro_start returns). It fires
 * from the coroutine's stack, as its last act, so its callbacks share that stack like any code
 * the coroutine triggers (and coroutines awaiting each other any number deep finish without
 * growing the resumer's stack); the stack returns to the pool right after.
 * Cancelling it (weft_deferred_cancel) cancels the Deferred the coroutine is awaiting: see
 * weft_await. opts may be NULL for defaults. Returns 0, WEFT_EINVAL (NULL out, r or fn), or
 * WEFT_ENOMEM (no memory or no stack could be mapped; *out is then NULL and fn has not run). */
int weft_coro_start(weft_deferred **out, weft_reactor *r, weft_coro_fn fn, void *arg,
                    const weft_coro_options *opts);

/* Waits for d inside coroutine co (Twisted's `await d` / `yield d`). Takes the caller's reference
 * to d. If d has already fired, its result is taken at once with no switch; otherwise the
 * coroutine suspends (its caller, or the code that resumed it, continues) until d fires, and the
 * result is returned when d's chain reaches this point. The result is owned by the caller: either
 * a value, or a Failure (weft_value_is_failure) that the caller handles or returns, as Python
 * code catches or lets an exception propagate. d's chain continues with NONE afterwards.
 * While the coroutine waits, cancelling its Deferred cancels d: weft_await then usually returns a
 * WEFT_ECANCELED Failure (whatever d's canceller fired d with), and the coroutine should clean up
 * and return. If it goes on instead, its Deferred has already failed with WEFT_ECANCELED and
 * what it finally returns is released unused (Twisted behaves alike).
 * Must be called from co's own body (not from another coroutine, nor outside any). A NULL d
 * returns a WEFT_EINVAL Failure. A coroutine waiting on a Deferred that never fires is never
 * freed (nor its stack): cancel it. */
weft_value weft_await(weft_coro *co, weft_deferred *d);

/* The reactor co was started on (borrowed). */
weft_reactor *weft_coro_reactor(const weft_coro *co);

/* Runs a program's main on a new reactor (Twisted's task.react): creates a reactor with the
 * default options, calls main_fn(r, arg), runs the reactor until the Deferred main_fn returns
 * (whose reference weft_react takes) has fired, then stops the reactor (shutdown triggers run)
 * and frees it. main_fn typically starts a coroutine and returns its Deferred.
 * Returns the exit status: 0 when the Deferred fired with a value, 1 when it fired with a
 * Failure (logged at error level through the reactor's log publisher, namespace "weft.react",
 * field "failure" holding weft_failure_text), when main_fn returned NULL, or when the reactor
 * could not be created or stopped before the Deferred fired (the Deferred is then cancelled and
 * its Failure logged). Handles main_fn left open keep the reactor from being freed: that is
 * logged (warn) and the reactor is leaked rather than freed under them. */
int weft_react(weft_deferred *(*main_fn)(weft_reactor *r, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif
