/* timers.c: delayed calls in a heap (twisted.internet.base.DelayedCall and callLater).
 *
 * Ordered by deadline, then by scheduling sequence, so calls due together run in the order they
 * were made. The heap is 4-ary with each entry's keys stored inline: half the depth of a binary
 * heap, and comparisons that stay in the heap array instead of chasing a pointer per level (with
 * a million timers that is the difference between cache hits and misses). A call knows its heap
 * slot, so cancel and reset are O(log n). Freed calls go to a per-reactor pool, so scheduling in
 * the steady state allocates nothing. */
#include <stdint.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

#define NOT_IN_HEAP SIZE_MAX
#define ARITY 4
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
  for (size_t i = 0; i < h->len; i++) weft__free(h->items[i].dc);
  weft__free(h->items);
  while (h->pool) {
    weft_delayed_call *n = h->pool->next_free;
    weft__free(h->pool);
    h->pool = n;
  }
  weft__timers_init(h);
}

static bool before(const weft__timer_slot *a, const weft__timer_slot *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(weft__timer_heap *h, size_t i, weft__timer_slot e) {
  h->items[i] = e;
  e.dc->slot = i;
}

static void sift_up(weft__timer_heap *h, size_t i) {
  weft__timer_slot e = h->items[i];
  while (i > 0) {
    size_t parent = (i - 1) / ARITY;
    if (!before(&e, &h->items[parent])) break;
    place(h, i, h->items[parent]);
    i = parent;
  }
  place(h, i, e);
}

static void sift_down(weft__timer_heap *h, size_t i) {
  weft__timer_slot e = h->items[i];
  for (;;) {
    size_t first = ARITY * i + 1;
    if (first >= h->len) break;
    size_t last = first + ARITY < h->len ? first + ARITY : h->len;
    size_t best = first;
    for (size_t c = first + 1; c < last; c++)
      if (before(&h->items[c], &h->items[best])) best = c;
    if (!before(&h->items[best], &e)) break;
    place(h, i, h->items[best]);
    i = best;
  }
  place(h, i, e);
}

static int heap_push(weft__timer_heap *h, weft_delayed_call *dc) {
  if (h->len == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    weft__timer_slot *items = weft__realloc(h->items, cap * sizeof *items);
    if (!items) return WEFT_ENOMEM;
    h->items = items;
    h->cap = cap;
  }
  h->items[h->len] = (weft__timer_slot){dc->when, dc->seq, dc};
  sift_up(h, h->len++);
  return 0;
}

static void heap_remove(weft__timer_heap *h, weft_delayed_call *dc) {
  size_t i = dc->slot;
  dc->slot = NOT_IN_HEAP;
  weft__timer_slot last = h->items[--h->len];
  if (i == h->len) return;
  place(h, i, last);
  if (i > 0 && before(&last, &h->items[(i - 1) / ARITY])) sift_up(h, i);
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
  h->items[dc->slot].when = when;
  h->items[dc->slot].seq = dc->seq;
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
  int64_t d = h->items[0].when - now;
  return d > 0 ? d : 0;
}

int weft__timers_run(weft_reactor *r, weft__timer_heap *h, int64_t now) {
  /* Calls scheduled by the callbacks of this pass wait for the next turn, even if due, so a
   * callback that re-arms itself with delay 0 cannot starve I/O. */
  uint64_t limit = h->next_seq;
  int ran = 0;
  while (h->len > 0) {
    if (h->items[0].when > now || h->items[0].seq >= limit) break;
    weft_delayed_call *dc = h->items[0].dc;
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
