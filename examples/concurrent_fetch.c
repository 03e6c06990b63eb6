/* concurrent_fetch: two slow "fetches" running at the same time (chapter 2), collected two ways:
 * a coroutine that starts both and then awaits each (the second is already done by the time it
 * asks), and a DeferredList whose one callback gets both results in the order asked.
 * Run: build/examples/concurrent_fetch  (prints what arrives when; takes about 0.1 s). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

/* A fetch that takes `delay` seconds and answers with the name it was asked for. */
typedef struct fetch_req {
  const char *name;
  double delay;
} fetch_req;

static weft_value answer(weft_value ignored, void *arg) {
  weft_value_release(ignored);
  const fetch_req *q = arg;
  printf("  %s arrived\n", q->name);
  return weft_str(q->name);
}

static weft_deferred *fetch(weft_reactor *r, const fetch_req *q) {
  return weft_defer_later(r, q->delay, answer, (void *)q);
}

static const fetch_req slow = {"slow page", 0.06}, quick = {"quick page", 0.02};

/* ---- way 1: a coroutine ---- */

static weft_value with_await(weft_coro *co, void *arg) {
  (void)arg;
  weft_reactor *r = weft_coro_reactor(co);
  printf("with await: both started\n");
  weft_deferred *a = fetch(r, &slow), *b = fetch(r, &quick); /* both run from now on */
  weft_value va = weft_await(co, a); /* the quick one arrives while we wait for the slow one */
  printf("  awaited the slow one: %s\n", va.v.s);
  weft_value vb = weft_await(co, b); /* already there: no wait */
  printf("  awaited the quick one: %s (no wait)\n", vb.v.s);
  return weft_none();
}

/* ---- way 2: a DeferredList ---- */

static weft_value both_done(weft_value v, void *arg) {
  (void)arg;
  weft_result_list *l = weft_result_list_of(v);
  printf("  list fired: ");
  for (size_t i = 0; i < weft_result_list_count(l); i++)
    printf("%s[%zu] %s", i ? ", " : "", i, weft_result_list_ok(l, i) ? weft_result_list_get(l, i).v.s : "failed");
  printf("\n");
  weft_value_release(v);
  return weft_none();
}

static weft_value then_with_list(weft_value v, void *arg) {
  weft_value_release(v);
  weft_reactor *r = arg;
  printf("with deferred_list: both started\n");
  weft_deferred *ds[2] = {fetch(r, &slow), fetch(r, &quick)};
  weft_deferred *all = weft_deferred_list(weft_reactor_log(r), ds, 2, WEFT_CONSUME_ERRORS);
  return weft_chain(weft_deferred_add_callback(all, both_done, NULL));
}

static weft_deferred *demo(weft_reactor *r, void *arg) {
  (void)arg;
  weft_deferred *d;
  if (weft_coro_start(&d, r, with_await, NULL, NULL) != 0) return weft_fail(NULL, weft_failure_from_error(WEFT_ENOMEM));
  return weft_deferred_add_callback(d, then_with_list, r);
}

int main(void) { return weft_react(demo, NULL); }
