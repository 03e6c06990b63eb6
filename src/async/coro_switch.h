/* coro_switch.h: stacks and context switches under weft's coroutines (what greenlet gives
 * Twisted's inlineCallbacks users; Python's generators need none). Internal.
 *
 * Three layers:
 * - weft__coro_ctx: a saved execution context. On x86-64 and AArch64 a switch is a few
 *   instructions (callee-saved registers pushed on the old stack, stack pointer swapped, popped
 *   from the new one); elsewhere it is swapcontext. Define WEFT_CORO_UCONTEXT to force the
 *   portable one.
 * - weft__coro_stack: an mmap'd stack with an inaccessible guard page below it, so an overflow
 *   dies with SIGSEGV instead of writing over other memory. Stacks are recycled through a small
 *   bounded per-thread pool (a reactor is one per thread, so this is the reactor's pool).
 * - weft__fiber: a function running on its own stack, resumed from any context and yielding back
 *   to whoever resumed it (asymmetric coroutines), with the ASan and Valgrind annotations that let
 *   those tools follow the stack switches. */
#ifndef WEFT_ASYNC_CORO_SWITCH_H
#define WEFT_ASYNC_CORO_SWITCH_H

#include <stdbool.h>
#include <stddef.h>

/* WEFT__ASAN: built with AddressSanitizer (clang says so with __has_feature, gcc with a macro);
 * the stacks and switches then tell ASan about each fiber. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(WEFT__ASAN)
#define WEFT__ASAN 1
#endif

#if !defined(WEFT_CORO_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define WEFT_CORO_UCONTEXT 1
#endif

#ifdef WEFT_CORO_UCONTEXT
#include <ucontext.h>
typedef struct weft__coro_ctx {
  ucontext_t uc;
} weft__coro_ctx;
#else
typedef struct weft__coro_ctx {
  void *sp; /* the stack pointer saved by the last switch away */
} weft__coro_ctx;
#endif

/* Prepares c so that the first switch to it calls entry(arg) on the stack [lo, lo + size).
 * entry must never return: it ends by switching away for good. */
void weft__coro_ctx_make(weft__coro_ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg);

/* Saves the current context in from and continues in to; returns when something switches back
 * to from. No sanitizer bookkeeping here (see weft__fiber). */
void weft__coro_ctx_switch(weft__coro_ctx *from, weft__coro_ctx *to);

/* ---- stacks ---- */

typedef struct weft__coro_stack {
  void *map;      /* the whole mapping (guard page included), NULL when none */
  size_t map_len;
  void *lo;       /* usable stack: [lo, lo + size) */
  size_t size;
  unsigned vg_id; /* Valgrind's stack id */
} weft__coro_stack;

#define WEFT__CORO_STACK_DEFAULT (64u * 1024u)
/* Stacks kept for reuse per thread; more than this are unmapped when released. */
#define WEFT__CORO_POOL_MAX 64

/* Gets a stack of at least size bytes (0: the default; rounded up to pages) from this thread's
 * pool or a new mapping. Returns 0, WEFT_ENOMEM (mmap failed: memory or vm.max_map_count). */
int weft__coro_stack_get(weft__coro_stack *s, size_t size);
/* Gives s back to this thread's pool, or unmaps it when the pool is full. s->map becomes NULL. */
void weft__coro_stack_put(weft__coro_stack *s);
/* Unmaps every pooled stack of this thread (also done at thread exit). */
void weft__coro_stack_pool_drain(void);
/* Stacks in this thread's pool, and stacks mapped by this process and not unmapped (for tests). */
size_t weft__coro_stack_pool_len(void);
size_t weft__coro_stack_live(void);

/* ---- fibers ---- */

typedef struct weft__fiber weft__fiber;
struct weft__fiber {
  weft__coro_ctx ctx;    /* the fiber's own context while it is suspended */
  weft__coro_ctx caller; /* where weft__fiber_yield goes: whoever resumed it */
  weft__coro_stack stack;
  void (*fn)(weft__fiber *f, void *arg);
  void *arg;
  bool started, running, finished;
  /* ASan: the fiber's fake stack while suspended, and the resumer's stack bounds. */
  void *asan_fake;
  const void *caller_bottom;
  size_t caller_size;
};

/* Prepares f to run fn(f, arg) on a stack of stack_size bytes (0: default). Nothing runs yet.
 * Returns 0 or WEFT_ENOMEM. */
int weft__fiber_init(weft__fiber *f, size_t stack_size, void (*fn)(weft__fiber *f, void *arg), void *arg);

/* Runs f (from any context, including another fiber) until it yields or fn returns. Returns true
 * once fn has returned: f must then not be resumed again. */
bool weft__fiber_resume(weft__fiber *f);

/* From inside f: back to the context that resumed it; returns when f is resumed again. */
void weft__fiber_yield(weft__fiber *f);

/* Gives f's stack back to the pool. f must have finished or never started: the stack of a fiber
 * suspended in the middle of fn holds live frames, and ASan would lose track of them. */
void weft__fiber_release(weft__fiber *f);

#endif
