/* Tests edge paths of the async layer (src/async/deferred.c): references that must still be let go
 * when a chain is abandoned before it runs, and freeing or cancelling deep chains without deep
 * recursion (on a coroutine's small stack too). */
#include <stdlib.h>

#include "check.h"
#include "weft/coro.h"
#include "weft/deferred.h"
#include "weft/errors.h"

static int destroyed;
static void count_destroy(void *p) {
  (void)p;
  destroyed++;
}

/* chain_to keeps a reference to `other` in a's chain; if a is freed without ever firing, that
 * reference must go with it, or `other` (and whatever result it holds) is never freed. */
static void test_chain_to_unfired_source_releases_target(void) {
  destroyed = 0;
  weft_deferred *a = weft_deferred_new(NULL);
  weft_deferred *b = weft_succeed(NULL, weft_ptr(&destroyed, count_destroy));
  weft_deferred_chain_to(a, b);
  weft_deferred_unref(b); /* the caller's reference: a's chain holds its own */
  CHECK_INT(destroyed, 0);
  weft_deferred_unref(a); /* a never fired: b must be freed now */
  CHECK_INT(destroyed, 1);
}

/* The same when a is paused on an inner Deferred with the chain_to step still to run. */
static weft_value return_inner(weft_value v, void *arg) {
  weft_value_release(v);
  return weft_chain(weft_deferred_ref(arg));
}
static void test_chain_to_paused_source_releases_target(void) {
  destroyed = 0;
  weft_deferred *inner = weft_deferred_new(NULL);
  weft_deferred *a = weft_deferred_new(NULL);
  weft_deferred *b = weft_succeed(NULL, weft_ptr(&destroyed, count_destroy));
  weft_deferred_add_callback(a, return_inner, inner);
  weft_deferred_chain_to(a, b);
  weft_deferred_callback(a, weft_int(1));
  CHECK(weft_deferred_paused(a));
  weft_deferred_unref(b);
  weft_deferred_unref(a);
  CHECK_INT(destroyed, 1);
  weft_deferred_unref(inner);
}

/* Once the step has run, its reference is spent: freeing a afterwards must not drop it again. */
static void test_chain_to_fired_source_drops_once(void) {
  destroyed = 0;
  weft_deferred *a = weft_deferred_new(NULL);
  weft_deferred *b = weft_deferred_new(NULL);
  weft_deferred_chain_to(a, b);
  weft_deferred_callback(a, weft_ptr(&destroyed, count_destroy));
  CHECK(weft_deferred_called(b));
  weft_deferred_unref(a);
  CHECK_INT(destroyed, 0); /* b still holds the value, and b is still ours */
  weft_deferred_unref(b);
  CHECK_INT(destroyed, 1);
}

/* Freeing a paused Deferred releases its chain_to target, whose result's destructor may run any
 * code, here firing the inner Deferred the freed one was waiting on: the inner one must no
 * longer hand its result to the Deferred being freed. */
static void fire_on_destroy(void *p) { weft_deferred_callback(p, weft_int(9)); }
static void test_free_paused_source_whose_release_fires_inner(void) {
  weft_deferred *inner = weft_deferred_new(NULL);
  weft_deferred *a = weft_deferred_new(NULL);
  weft_deferred *b = weft_succeed(NULL, weft_ptr(inner, fire_on_destroy));
  weft_deferred_add_callback(a, return_inner, inner);
  weft_deferred_chain_to(a, b);
  weft_deferred_callback(a, weft_int(1));
  REQUIRE(weft_deferred_paused(a));
  weft_deferred_unref(b);
  weft_deferred_unref(a); /* frees b, whose value fires inner */
  CHECK(weft_deferred_called(inner));
  weft_value v;
  CHECK_INT(weft_deferred_take_result(inner, &v), 0);
  CHECK_INT(v.kind, WEFT_VALUE_INT);
  CHECK_INT(v.v.i, 9);
  weft_deferred_unref(inner);
}

/* ---- deep paused chains, freed or cancelled on a coroutine's 64 KiB stack ---- */

#define DEEP 20000

/* d[0] waits on d[1], which waits on d[2], ...; d[DEEP-1] never fires. Only d[0] is still held. */
static weft_deferred *paused_chain(void) {
  weft_deferred **d = malloc(DEEP * sizeof *d);
  REQUIRE(d);
  for (int i = 0; i < DEEP; i++) d[i] = weft_deferred_new(NULL);
  for (int i = 0; i + 1 < DEEP; i++) weft_deferred_add_callback(d[i], return_inner, d[i + 1]);
  for (int i = 0; i + 1 < DEEP; i++) weft_deferred_callback(d[i], weft_int(0));
  weft_deferred *head = d[0];
  for (int i = DEEP - 1; i > 0; i--) weft_deferred_unref(d[i]); /* each still held by its outer */
  free(d);
  return head;
}

static weft_value drop_chain(weft_coro *co, void *arg) {
  (void)co;
  weft_deferred_unref(arg); /* frees all DEEP Deferreds */
  return weft_int(1);
}

static weft_value cancel_chain(weft_coro *co, void *arg) {
  (void)co;
  weft_deferred_cancel(arg); /* cancels d[DEEP-1]; its failure flows back out to d[0] */
  return weft_int(1);
}

static void run_on_coro(weft_coro_fn fn, weft_deferred *chain) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_deferred *done;
  REQUIRE(weft_coro_start(&done, r, fn, chain, NULL) == 0);
  CHECK(weft_deferred_called(done));
  weft_deferred_unref(done);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_free_deep_paused_chain_on_small_stack(void) {
  run_on_coro(drop_chain, paused_chain());
}

static void test_cancel_deep_paused_chain_on_small_stack(void) {
  weft_deferred *head = paused_chain();
  run_on_coro(cancel_chain, head);
  CHECK(!weft_deferred_paused(head));
  CHECK(weft_trap(weft_deferred_result(head), WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  weft_value v;
  CHECK_INT(weft_deferred_take_result(head, &v), 0);
  weft_value_release(v);
  weft_deferred_unref(head);
}

int main(void) {
  RUN(test_chain_to_unfired_source_releases_target);
  RUN(test_chain_to_paused_source_releases_target);
  RUN(test_chain_to_fired_source_drops_once);
  RUN(test_free_paused_source_whose_release_fires_inner);
  RUN(test_free_deep_paused_chain_on_small_stack);
  RUN(test_cancel_deep_paused_chain_on_small_stack);
  return CHECK_DONE();
}
