/* deferred_chain: a Deferred's callback chain (chapter 2): add, divide, multiply, with an errback
 * that recovers from a division by zero so the chain goes on with a value.
 * Run: build/examples/deferred_chain  (no arguments; prints each step of two chains). */
#include <stdint.h>
#include <stdio.h>

#include "weft/weft.h"

#define MATH "example.math"
#define EDIVZERO 1

static weft_value add(weft_value v, void *arg) {
  int64_t n = (int64_t)(intptr_t)arg;
  printf("  add %lld: %lld -> %lld\n", (long long)n, (long long)v.v.i, (long long)(v.v.i + n));
  return weft_int(v.v.i + n);
}

static weft_value divide(weft_value v, void *arg) {
  int64_t n = (int64_t)(intptr_t)arg;
  if (n == 0) {
    printf("  divide by 0: failed\n");
    return weft_failed(weft_failure_new(MATH, EDIVZERO, "division by zero"));
  }
  printf("  divide by %lld: %lld -> %lld\n", (long long)n, (long long)v.v.i, (long long)(v.v.i / n));
  return weft_int(v.v.i / n);
}

static weft_value multiply(weft_value v, void *arg) {
  int64_t n = (int64_t)(intptr_t)arg;
  printf("  multiply by %lld: %lld -> %lld\n", (long long)n, (long long)v.v.i, (long long)(v.v.i * n));
  return weft_int(v.v.i * n);
}

/* The errback: a division by zero becomes 0 and the chain is back on its callbacks. */
static weft_value recover(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, MATH, EDIVZERO)) return v;
  printf("  recover: \"%s\" -> 0\n", weft_failure_message(v.v.f));
  weft_value_release(v);
  return weft_int(0);
}

static void run_chain(int64_t divisor) {
  printf("chain with divisor %lld:\n", (long long)divisor);
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_callback(d, add, (void *)(intptr_t)5);
  weft_deferred_add_callback(d, divide, (void *)(intptr_t)divisor);
  weft_deferred_add_errback(d, recover, NULL);
  weft_deferred_add_callback(d, multiply, (void *)(intptr_t)3);
  weft_deferred_callback(d, weft_int(10)); /* the chain runs now */
  printf("  final result: %lld\n", (long long)weft_deferred_result(d).v.i);
  weft_deferred_unref(d);
}

int main(void) {
  run_chain(5);
  run_chain(0);
  return 0;
}
