/* threads.c: call_from_thread, the reactor's one thread-safe entry (Twisted's
 * callFromThread): a locked queue plus a wake-up of the reactor's eventfd or pipe. */
#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

struct weft__thread_call {
  weft__thread_call *next;
  weft_callback fn;
  void *arg;
};

weft__thread_call *weft__thread_call_new(void) { return weft__malloc(sizeof(weft__thread_call)); }

void weft__thread_call_free(weft__thread_call *c) { weft__free(c); }

void weft__reactor_post(weft_reactor *r, weft__thread_call *c, weft_callback fn, void *arg) {
  c->next = NULL;
  c->fn = fn;
  c->arg = arg;
  pthread_mutex_lock(&r->thread_lock);
  bool was_empty = r->thread_head == NULL;
  if (r->thread_tail) r->thread_tail->next = c;
  else r->thread_head = c;
  r->thread_tail = c;
  pthread_mutex_unlock(&r->thread_lock);
  /* one wake-up per batch: the reactor drains the whole queue when it wakes */
  if (was_empty) weft__reactor_wakeup(r);
}

int weft_reactor_call_from_thread(weft_reactor *r, weft_callback fn, void *arg) {
  weft__thread_call *c = weft__thread_call_new();
  if (!c) return WEFT_ENOMEM;
  weft__reactor_post(r, c, fn, arg);
  return 0;
}

/* Detaches the whole queue under the lock; the calls are then the caller's. */
static weft__thread_call *take_all(weft_reactor *r) {
  pthread_mutex_lock(&r->thread_lock);
  weft__thread_call *c = r->thread_head;
  r->thread_head = r->thread_tail = NULL;
  pthread_mutex_unlock(&r->thread_lock);
  return c;
}

/* Frees a detached list, running each call first when run is true. */
static void finish_all(weft__thread_call *c, bool run) {
  while (c) {
    weft__thread_call *next = c->next;
    if (run) c->fn(c->arg);
    weft__free(c);
    c = next;
  }
}

void weft__threads_drain(weft_reactor *r) { finish_all(take_all(r), true); }

/* Calls that never ran are dropped, as Twisted drops them when the reactor is gone. */
void weft__threads_destroy(weft_reactor *r) { finish_all(take_all(r), false); }
