/* failing_alloc.c: the test kit's counting allocator, which fails the k-th allocation on demand
 * (the allocation-failure sweep of nghttp2's and SQLite's test suites). */
#include <stdatomic.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "weft/alloc.h"

static atomic_uint_fast64_t calls, failed, fail_at;
static atomic_bool fail_after;
static atomic_int_fast64_t live;

/* counts the call; true if it is to fail */
static bool should_fail(void) {
  uint64_t n = atomic_fetch_add(&calls, 1) + 1;
  uint64_t k = atomic_load(&fail_at);
  if (k == 0 || n < k || (n > k && !atomic_load(&fail_after))) return false;
  atomic_fetch_add(&failed, 1);
  return true;
}

static void *t_malloc(size_t size, void *u) {
  (void)u;
  if (should_fail()) return NULL;
  void *p = malloc(size);
  if (p) atomic_fetch_add(&live, 1);
  return p;
}

static void *t_calloc(size_t count, size_t size, void *u) {
  (void)u;
  if (should_fail()) return NULL;
  void *p = calloc(count, size);
  if (p) atomic_fetch_add(&live, 1);
  return p;
}

static void *t_realloc(void *old, size_t size, void *u) {
  (void)u;
  if (should_fail()) return NULL;
  void *p = realloc(old, size);
  if (p && !old) atomic_fetch_add(&live, 1);
  return p;
}

static void t_free(void *p, void *u) {
  (void)u;
  if (!p) return;
  atomic_fetch_sub(&live, 1);
  free(p);
}

int weft_test_allocator_install(void) {
  static const weft_allocator a = {t_malloc, t_calloc, t_realloc, t_free, NULL};
  int err = weft_set_allocator(&a);
  /* installed by an earlier call: the allocator in place is ours, which is what the caller wants */
  const weft_allocator *cur = weft__alloc_get();
  if (err && cur && cur->malloc == t_malloc) return 0;
  return err;
}

void weft_test_allocator_fail_at(uint64_t k, bool every_after) {
  atomic_store(&fail_at, 0);
  atomic_store(&calls, 0);
  atomic_store(&failed, 0);
  atomic_store(&fail_after, every_after);
  atomic_store(&fail_at, k);
}

void weft_test_allocator_stats(weft_test_alloc_stats *out) {
  out->calls = atomic_load(&calls);
  out->failed = atomic_load(&failed);
  out->live = atomic_load(&live);
}
