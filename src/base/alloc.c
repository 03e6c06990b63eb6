/* alloc.c: the process-wide allocator hook behind src/base/alloc.h (weft_set_allocator; OpenSSL's
 * CRYPTO_set_mem_functions). */
#include "base/alloc.h"

#include <string.h>

#include "weft/errors.h"

/* Until the first allocation, allocations go through this stand-in, which locks in the C library
 * (weft__allocator becomes NULL) so that a later weft_set_allocator is refused: blocks from
 * malloc must not reach the user's free. */
static void lock_in_libc(void);


static void *unset_malloc(size_t n, void *u) {
  (void)u;
  lock_in_libc();
  return malloc(n);
}

static void *unset_calloc(size_t n, size_t size, void *u) {
  (void)u;
  lock_in_libc();
  return calloc(n, size);
}

static void *unset_realloc(void *p, size_t n, void *u) {
  (void)u;
  lock_in_libc();
  return realloc(p, n);
}

static void unset_free(void *p, void *u) {
  (void)u;
  free(p); /* nothing was allocated yet, so p is NULL: no need to lock anything in */
}

static const weft_allocator unset = {unset_malloc, unset_calloc, unset_realloc, unset_free, NULL};

_Atomic(const weft_allocator *) weft__allocator = &unset;

static weft_allocator installed;     /* the user's copy, written once before it is published */
static atomic_flag claimed = ATOMIC_FLAG_INIT; /* weft_set_allocator was called successfully once */

static void lock_in_libc(void) {
  const weft_allocator *expected = &unset;
  atomic_compare_exchange_strong(&weft__allocator, &expected, NULL);
}

int weft_set_allocator(const weft_allocator *a) {
  if (!a || !a->malloc || !a->calloc || !a->realloc || !a->free) return WEFT_EINVAL;
  if (atomic_load(&weft__allocator) != &unset) return WEFT_ESTATE;
  if (atomic_flag_test_and_set(&claimed)) return WEFT_ESTATE;
  installed = *a;
  const weft_allocator *expected = &unset;
  /* release (seq_cst): whoever loads &installed sees the copy made above */
  if (!atomic_compare_exchange_strong(&weft__allocator, &expected, &installed)) return WEFT_ESTATE;
  return 0;
}

char *weft__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = weft__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}
