/* alloc.h: plugging in your own allocator (nghttp2's nghttp2_mem, OpenSSL's
 * CRYPTO_set_mem_functions), and the test kit's counting, failing allocator.
 *
 * The allocator is process-wide: weft has no per-object allocator, because memory often moves
 * between objects (a Failure made on one chain ends on another, a buffer pool outlives a
 * connection). It is set once, before any other weft call, and then stays for the life of the
 * process; reading it is thread-safe (threads of the pool, call_from_thread) and costs the
 * default path one predictable branch.
 *
 * Only weft's own memory goes through it. OpenSSL (TLS) and c-ares (DNS) keep their own
 * allocators: set those with their own functions (CRYPTO_set_mem_functions, ares_library_init_mem)
 * if you need to. */
#ifndef WEFT_ALLOC_H
#define WEFT_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An allocator: the four functions with the C library's meaning (malloc(0) may return NULL or a
 * unique pointer; realloc(NULL, n) allocates; free(NULL) does nothing), each given user_data. All
 * four are required. weft asks realloc only for sizes > 0. They may be called from any thread
 * that calls into weft (a reactor's thread, a thread pool's workers), so they must be thread-safe.
 * A NULL return is an allocation failure, which weft reports as WEFT_ENOMEM (or a Failure with
 * that code) and recovers from without leaking. */
typedef struct weft_allocator {
  void *(*malloc)(size_t size, void *user_data);
  void *(*calloc)(size_t count, size_t size, void *user_data);
  void *(*realloc)(void *p, size_t size, void *user_data);
  void (*free)(void *p, void *user_data);
  void *user_data;
} weft_allocator;

/* Makes every later weft allocation go through a (the struct is copied; user_data is borrowed and
 * must stay valid for the life of the process). Call it once, before any other weft call:
 * memory weft allocated already would otherwise be freed by the wrong allocator. Returns 0,
 * WEFT_EINVAL if a or one of its functions is NULL, or WEFT_ESTATE if weft has allocated already
 * or an allocator was set before (it cannot be changed or removed). Thread-safe, but racing it
 * with weft calls on other threads is the same mistake as calling it late. */
int weft_set_allocator(const weft_allocator *a);

/* ---- for tests: the test kit's allocator ----
 *
 * A weft_allocator over the C library that counts allocations and can fail on purpose, for an
 * allocation-failure sweep: run a scenario once to count its allocations N, then for k = 1..N
 * run it again with the k-th allocation failing, and check that it reports WEFT_ENOMEM and that
 * nothing is left allocated. Thread-safe (the counters are atomic). */

/* Installs the test kit's allocator with weft_set_allocator (so call it first thing in main).
 * Returns what weft_set_allocator returns; 0 also when it is installed already. */
int weft_test_allocator_install(void);

/* Counters of the test kit's allocator. */
typedef struct weft_test_alloc_stats {
  uint64_t calls;  /* malloc, calloc and realloc calls since the last weft_test_allocator_fail_at
                    * (failed ones too) */
  uint64_t failed; /* of those, the ones made to fail */
  int64_t live;    /* blocks allocated since install and not freed yet: 0 when all came back */
} weft_test_alloc_stats;

/* Starts counting calls from 0 and makes the k-th malloc/calloc/realloc call from now on fail
 * (return NULL), k = 1 the next one; with every_after, every call after the k-th fails too.
 * k = 0: nothing fails (just restart the count). */
void weft_test_allocator_fail_at(uint64_t k, bool every_after);

/* Copies the counters into *out. */
void weft_test_allocator_stats(weft_test_alloc_stats *out);

#ifdef __cplusplus
}
#endif
#endif
