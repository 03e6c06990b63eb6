/* coro_stack.c: guarded coroutine stacks and their per-thread pool (the stacks greenlet or
 * Twisted's inlineCallbacks users never see: Python keeps generator frames on the heap).
 *
 * A stack is one anonymous mapping whose lowest page is made inaccessible, so running off the
 * bottom faults instead of corrupting the neighbour's memory. Where the kernel has
 * MADV_GUARD_INSTALL (Linux 6.13) the guard is installed inside the mapping, which keeps one
 * memory area per stack (or fewer: neighbours merge); otherwise mprotect splits the mapping in
 * two, and Linux's vm.max_map_count (65530 by default) then caps live stacks near 32,000.
 * Only touched pages cost memory, so a 64 KiB stack that a coroutine uses 3 KiB of costs one
 * page. */
#include "async/coro_switch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weft/errors.h"

#ifdef WEFT__ASAN
#include <sanitizer/asan_interface.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT__VALGRIND 1
#endif
#endif

#ifndef MAP_STACK
#define MAP_STACK 0
#endif
#if defined(__linux__) && !defined(MADV_GUARD_INSTALL)
#define MADV_GUARD_INSTALL 102
#endif

typedef struct stack_pool {
  weft__coro_stack items[WEFT__CORO_POOL_MAX];
  size_t len;
  bool keyed; /* registered for the thread-exit drain */
} stack_pool;

static _Thread_local stack_pool pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_key_t pool_key;
static atomic_size_t live_stacks;

static size_t page_size(void) {
  static size_t cached;
  if (!cached) {
    long p = sysconf(_SC_PAGESIZE);
    cached = p > 0 ? (size_t)p : 4096;
  }
  return cached;
}

static void unmap_stack(weft__coro_stack *s) {
#ifdef WEFT__VALGRIND
  VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
#ifdef WEFT__ASAN
  /* Frames that never returned (a fiber's entry) leave poisoned redzones in the shadow; the
   * next mapping at this address must not inherit them. */
  __asan_unpoison_memory_region(s->lo, s->size);
#endif
  munmap(s->map, s->map_len);
  atomic_fetch_sub(&live_stacks, 1);
  s->map = NULL;
}

static int guard_low_page(void *map, size_t page) {
#ifdef MADV_GUARD_INSTALL
  if (madvise(map, page, MADV_GUARD_INSTALL) == 0) return 0;
#endif
  return mprotect(map, page, PROT_NONE);
}

static int map_stack(weft__coro_stack *s, size_t size) {
  size_t page = page_size();
  size_t len = size + page;
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return WEFT_ENOMEM;
  if (guard_low_page(map, page) != 0) {
    munmap(map, len);
    return WEFT_ENOMEM;
  }
  s->map = map;
  s->map_len = len;
  s->lo = (char *)map + page;
  s->size = size;
#ifdef WEFT__VALGRIND
  s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + size);
#else
  s->vg_id = 0;
#endif
  atomic_fetch_add(&live_stacks, 1);
  return 0;
}

int weft__coro_stack_get(weft__coro_stack *s, size_t size) {
  size_t page = page_size();
  if (size == 0) size = WEFT__CORO_STACK_DEFAULT;
  if (size > SIZE_MAX / 2) return WEFT_ENOMEM;
  size = (size + page - 1) / page * page;
  /* Newest first: its pages are the likeliest to be warm. */
  for (size_t i = pool.len; i-- > 0;) {
    if (pool.items[i].size == size) {
      *s = pool.items[i];
      pool.items[i] = pool.items[--pool.len];
      return 0;
    }
  }
  return map_stack(s, size);
}

static void drain(stack_pool *p) {
  while (p->len) unmap_stack(&p->items[--p->len]);
}

static void drain_at_exit(void *p) { drain(p); }

static void make_key(void) { (void)pthread_key_create(&pool_key, drain_at_exit); }

void weft__coro_stack_put(weft__coro_stack *s) {
  if (!s->map) return;
  if (pool.len == WEFT__CORO_POOL_MAX) {
    unmap_stack(s);
    return;
  }
  if (!pool.keyed) {
    pthread_once(&pool_once, make_key);
    pool.keyed = pthread_setspecific(pool_key, &pool) == 0;
  }
#ifdef WEFT__ASAN
  __asan_unpoison_memory_region(s->lo, s->size);
#endif
  pool.items[pool.len++] = *s;
  s->map = NULL;
}

void weft__coro_stack_pool_drain(void) { drain(&pool); }

size_t weft__coro_stack_pool_len(void) { return pool.len; }

size_t weft__coro_stack_live(void) { return atomic_load(&live_stacks); }
