/* Tests edge paths of the async layer (src/async/deferred.c): references that must still be let go
 * when a chain is abandoned before it runs. No reactor needed: Deferreds are plain objects. */
#include "check.h"
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

int main(void) {
  RUN(test_chain_to_unfired_source_releases_target);
  RUN(test_chain_to_paused_source_releases_target);
  RUN(test_chain_to_fired_source_drops_once);
  return CHECK_DONE();
}
