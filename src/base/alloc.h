/* alloc.h: the one place weft allocates through, so a user allocator can be plugged in later
 * without touching every file. Internal. */
#ifndef WEFT_BASE_ALLOC_H
#define WEFT_BASE_ALLOC_H

#include <stdlib.h>

static inline void *weft__malloc(size_t n) { return malloc(n); }
static inline void *weft__calloc(size_t n, size_t size) { return calloc(n, size); }
static inline void *weft__realloc(void *p, size_t n) { return realloc(p, n); }
static inline void weft__free(void *p) { free(p); }

#endif
