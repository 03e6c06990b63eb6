/* timers.c: delayed calls in a binary heap (twisted.internet.base.DelayedCall and callLater).
 *
 * Ordered by deadline, then by scheduling sequence, so calls due together run in the order they
 * were made. A call knows its heap slot, so cancel and reset are O(log n). Freed calls go to a
 * per-reactor pool, so scheduling in the steady state allocates nothing. */
#include <stdint.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

#define NOT_IN_HEAP SIZE_MAX
#define POOL_MAX 4096

struct weft_delayed_call {
  int64_t when;
  uint64_t seq;
  weft_callback fn;
  void *arg;
  weft_reactor *r;
  size_t slot;  /* index in the heap, NOT_IN_HEAP when not scheduled */
  bool running; /* its callback is on the stack: free it when that returns */
  weft_delayed_call *next_free;
};

void weft__timers_init(weft__timer_heap *h) {
  h->items = NULL;
  h->len = h->cap = 0;
  h->next_seq = 0;
  h->pool = NULL;
  h->pool_len = 0;
}

void weft__timers_destroy(weft__timer_heap *h) {
  for (size_t i = 0; i < h->len; i++) weft__free(h->items[i]);
  weft__free(h->items);
  while (h->pool) {
    weft_delayed_call *n = h->pool->next_free;
    weft__free(h->pool);
    h->pool = n;
  }
  weft__timers_init(h);
}

static bool before(const weft_delayed_call *a, const weft_delayed_call *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(weft__timer_heap *h, size_t i, weft_delayed_call *dc) {
  h->items[i] = dc;
  dc->slot = i;
}

static void sift_up(weft__timer_heap *h, size_t i) {
  weft_delayed_call *dc = h->items[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(dc, h->items[parent])) break;
    place(h, i, h->items[parent]);
    i = parent;
  }
  place(h, i, dc);
}

static void sift_down(weft__timer_heap *h, size_t i) {
  weft_delayed_call *dc = h->items[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->len) break;
    if (child + 1 < h->len && before(h->items[child + 1], h->items[child])) child++;
    if (!before(h->items[child], dc)) break;
    place(h, i, h->items[child]);
    i = child;
  }
  place(h, i, dc);
}

static int heap_push(weft__timer_heap *h, weft_delayed_call *dc) {
  if (h->len == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    weft_delayed_call **items = weft__realloc(h->items, cap * sizeof *items);
    if (!items) return WEFT_ENOMEM;
    h->items = items;
    h->cap = cap;
  }
  place(h, h->len++, dc);
  sift_up(h, h->len - 1);
  return 0;
}

static void heap_remove(weft__timer_heap *h, weft_delayed_call *dc) {
  size_t i = dc->slot;
  dc->slot = NOT_IN_HEAP;
  weft_delayed_call *last = h->items[--h->len];
  if (i == h->len) return;
  place(h, i, last);
  if (i > 0 && before(last, h->items[(i - 1) / 2])) sift_up(h, i);
  else sift_down(h, i);
}

static void release(weft__timer_heap *h, weft_delayed_call *dc) {
  if (h->pool_len >= POOL_MAX) {
    weft__free(dc);
    return;
  }
  dc->next_free = h->pool;
  h->pool = dc;
  h->pool_len++;
}

static int64_t delay_ns(double seconds) {
  if (!(seconds > 0)) return 0; /* negative and NaN count as "now" */
  if (seconds > 9e9) return INT64_MAX / 2;
  return (int64_t)(seconds * 1e9 + 0.5);
}

/* when + ns, saturated at +-INT64_MAX/2: a far deadline ("never") stays far, it does not wrap
 * into the past and fire at once. */
static int64_t deadline_add(int64_t when, int64_t ns) {
  const int64_t cap = INT64_MAX / 2;
  if (ns > 0 && when > cap - ns) return cap;
  if (ns < 0 && when < -cap - ns) return -cap;
  return when + ns;
}

weft_delayed_call *weft_reactor_call_later(weft_reactor *r, double delay, weft_callback fn, void *arg) {
  weft__timer_heap *h = &r->timers;
  weft_delayed_call *dc = h->pool;
  if (dc) {
    h->pool = dc->next_free;
    h->pool_len--;
  } else if (!(dc = weft__malloc(sizeof *dc))) {
    return NULL;
  }
  dc->when = deadline_add(r->now, delay_ns(delay));
  dc->seq = h->next_seq++;
  dc->fn = fn;
  dc->arg = arg;
  dc->r = r;
  dc->running = false;
  if (heap_push(h, dc) != 0) {
    release(h, dc);
    return NULL;
  }
  return dc;
}

weft_delayed_call *weft_reactor_call_soon(weft_reactor *r, weft_callback fn, void *arg) {
  return weft_reactor_call_later(r, 0, fn, arg);
}

int weft_delayed_call_cancel(weft_delayed_call *dc) {
  if (!dc) return WEFT_EINVAL;
  weft__timer_heap *h = &dc->r->timers;
  if (dc->slot == NOT_IN_HEAP) return WEFT_EALREADY; /* running now and not rescheduled */
  heap_remove(h, dc);
  if (!dc->running) release(h, dc);
  return 0;
}

/* Moves dc to deadline `when` with a fresh sequence number (it counts as scheduled now). */
static int reschedule(weft_delayed_call *dc, int64_t when) {
  weft__timer_heap *h = &dc->r->timers;
  dc->when = when;
  dc->seq = h->next_seq++;
  if (dc->slot == NOT_IN_HEAP) return heap_push(h, dc);
  sift_up(h, dc->slot);
  sift_down(h, dc->slot);
  return 0;
}

int weft_delayed_call_reset(weft_delayed_call *dc, double delay) {
  if (!dc) return WEFT_EINVAL;
  return reschedule(dc, deadline_add(dc->r->now, delay_ns(delay)));
}

int weft_delayed_call_delay(weft_delayed_call *dc, double by) {
  if (!dc) return WEFT_EINVAL;
  int64_t ns = by < 0 ? -delay_ns(-by) : delay_ns(by);
  return reschedule(dc, deadline_add(dc->when, ns));
}

double weft_delayed_call_time(const weft_delayed_call *dc) { return (double)dc->when / 1e9; }

int64_t weft__timers_next(const weft__timer_heap *h, int64_t now) {
  if (h->len == 0) return -1;
  int64_t d = h->items[0]->when - now;
  return d > 0 ? d : 0;
}

int weft__timers_run(weft_reactor *r, weft__timer_heap *h, int64_t now) {
  /* Calls scheduled by the callbacks of this pass wait for the next turn, even if due, so a
   * callback that re-arms itself with delay 0 cannot starve I/O. */
  uint64_t limit = h->next_seq;
  int ran = 0;
  while (h->len > 0) {
    weft_delayed_call *dc = h->items[0];
    if (dc->when > now || dc->seq >= limit) break;
    heap_remove(h, dc);
    dc->running = true;
    dc->fn(dc->arg);
    dc->running = false;
    if (dc->slot == NOT_IN_HEAP) release(h, dc);
    ran++;
    (void)r;
  }
  return ran;
}
