/* alloc.h: the one place weft allocates through, so that a user allocator (weft_set_allocator,
 * include/weft/alloc.h) sees every allocation of weft's own. Internal.
 *
 * weft__allocator is NULL once the C library is for good (the common case: one load and one
 * predictable branch before the libc call), or points at the installed allocator, or, before
 * anything was allocated, at a stand-in whose first allocation locks in the C library (so
 * weft_set_allocator can refuse to change allocators under live memory). */
#ifndef WEFT_BASE_ALLOC_H
#define WEFT_BASE_ALLOC_H

#include <stdatomic.h>
#include <stdlib.h>

#include "weft/alloc.h"

extern _Atomic(const weft_allocator *) weft__allocator;

#if defined(__GNUC__) || defined(__clang__)
#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define WEFT__LIKELY(x) (x)
#endif

/* acquire: a thread that sees the installed allocator sees its functions too */
static inline const weft_allocator *weft__alloc_get(void) {
  return atomic_load_explicit(&weft__allocator, memory_order_acquire);
}

static inline void *weft__malloc(size_t n) {
  const weft_allocator *a = weft__alloc_get();
  if (WEFT__LIKELY(!a)) return malloc(n);
  return a->malloc(n, a->user_data);
}

static inline void *weft__calloc(size_t n, size_t size) {
  const weft_allocator *a = weft__alloc_get();
  if (WEFT__LIKELY(!a)) return calloc(n, size);
  return a->calloc(n, size, a->user_data);
}

static inline void *weft__realloc(void *p, size_t n) {
  const weft_allocator *a = weft__alloc_get();
  if (WEFT__LIKELY(!a)) return realloc(p, n);
  return a->realloc(p, n, a->user_data);
}

static inline void weft__free(void *p) {
  const weft_allocator *a = weft__alloc_get();
  if (WEFT__LIKELY(!a)) free(p);
  else a->free(p, a->user_data);
}

/* strdup through weft's allocator (free the copy with weft__free). NULL when out of memory. */
char *weft__strdup(const char *s);

#endif
