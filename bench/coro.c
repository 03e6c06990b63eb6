/* coro: the cost of weft's coroutines (Twisted's inlineCallbacks): ns per await of a pending
 * Deferred (new Deferred, await, switch out, fire, switch back in), ns per bare context switch
 * pair, and resident memory per suspended coroutine. Prints
 *   await_ns=... bytes_per_coro=...
 *   switch_pair_ns=... coros=... (details)
 *   sleepers=... sleep_rss_bytes_per_coro=... sleepers_seconds=...
 * The last line is 100,000 coroutines alive at once, each awaiting a 1-second timer
 * (weft_sleep) on a running reactor: memory per coroutine and the wall time until all are done.
 * Usage: coro [AWAITS] [COROS] (defaults 1000000 and 100000). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../src/async/coro_switch.h" /* internal: for the bare switch figure */
#include "weft/coro.h"
#include "weft/defer_time.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* ---- await of a pending Deferred, fired by the main loop ---- */

typedef struct pinger {
  long n;
  weft_deferred *pending; /* the Deferred the coroutine waits on, for main to fire */
} pinger;

static weft_value ping_body(weft_coro *co, void *arg) {
  pinger *p = arg;
  for (long i = 0; i < p->n; i++) {
    p->pending = weft_deferred_new(NULL);
    weft_await(co, weft_deferred_ref(p->pending));
  }
  p->pending = NULL;
  return weft_none();
}

static double bench_await(weft_reactor *r, long n) {
  pinger p = {.n = n};
  weft_deferred *done;
  double t0 = now_s();
  if (weft_coro_start(&done, r, ping_body, &p, NULL) != 0) return -1;
  while (p.pending) {
    weft_deferred *d = p.pending;
    weft_deferred_callback(d, weft_int(1)); /* resumes the coroutine until its next await */
    weft_deferred_unref(d);
  }
  double t1 = now_s();
  weft_deferred_unref(done);
  return (t1 - t0) * 1e9 / (double)n;
}

/* ---- bare switch: resume + yield of a fiber ---- */

static void spin(weft__fiber *f, void *arg) {
  long n = *(long *)arg;
  for (long i = 0; i < n; i++) weft__fiber_yield(f);
}

static double bench_switch(long n) {
  weft__fiber f;
  if (weft__fiber_init(&f, 0, spin, &n) != 0) return -1;
  double t0 = now_s();
  while (!weft__fiber_resume(&f)) {
  }
  double t1 = now_s();
  weft__fiber_release(&f);
  return (t1 - t0) * 1e9 / (double)n;
}

/* ---- memory per suspended coroutine ---- */

static weft_value wait_body(weft_coro *co, void *arg) { return weft_await(co, weft_deferred_ref(arg)); }

static double bench_memory(weft_reactor *r, long n) {
  weft_deferred **src = malloc((size_t)n * sizeof *src), **done = malloc((size_t)n * sizeof *done);
  if (!src || !done) return -1;
  /* The arrays themselves are not the coroutines' cost: touch them before measuring. */
  for (long i = 0; i < n; i++) src[i] = done[i] = NULL;
  long before = rss_bytes();
  long made = 0;
  for (; made < n; made++) {
    src[made] = weft_deferred_new(NULL);
    if (!src[made] || weft_coro_start(&done[made], r, wait_body, src[made], NULL) != 0) break;
  }
  long after = rss_bytes();
  for (long i = 0; i < made; i++) {
    weft_deferred_callback(src[i], weft_none());
    weft_deferred_unref(src[i]);
    weft_deferred_unref(done[i]);
  }
  if (made < n) {
    if (src[made]) weft_deferred_unref(src[made]);
    fprintf(stderr, "coro: only %ld coroutines could start (vm.max_map_count?)\n", made);
  }
  free(src);
  free(done);
  return made ? (double)(after - before) / (double)made : -1;
}

/* ---- many coroutines each holding a timer ---- */

typedef struct sleepers {
  long left;
  long peak_rss;
} sleepers;

static weft_value sleep_body(weft_coro *co, void *arg) {
  sleepers *s = arg;
  weft_value v = weft_await(co, weft_sleep(weft_coro_reactor(co), 1.0));
  weft_value_release(v);
  if (--s->left == 0) weft_reactor_stop(weft_coro_reactor(co));
  return weft_none();
}

static void sample_rss(void *arg) {
  sleepers *s = arg;
  long rss = rss_bytes();
  if (rss > s->peak_rss) s->peak_rss = rss;
}

static void bench_sleepers(long n, double *bytes_per, double *seconds) {
  weft_reactor *r;
  *bytes_per = *seconds = -1;
  if (weft_reactor_new(&r, NULL) != 0) return;
  sleepers s = {.left = n};
  long before = rss_bytes();
  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    weft_deferred *done;
    if (weft_coro_start(&done, r, sleep_body, &s, NULL) != 0) {
      fprintf(stderr, "coro: only %ld sleepers could start\n", i);
      s.left -= n - i;
      break;
    }
    weft_deferred_unref(done);
  }
  weft_reactor_call_later(r, 0.5, sample_rss, &s); /* all are asleep by then */
  if (s.left > 0) weft_reactor_run(r);
  *seconds = now_s() - t0;
  *bytes_per = (double)(s.peak_rss - before) / (double)n;
  weft_reactor_free(r);
}

int main(int argc, char **argv) {
  long awaits = argc > 1 ? atol(argv[1]) : 1000000;
  long coros = argc > 2 ? atol(argv[2]) : 100000;
  if (awaits < 1 || coros < 1) return 2;
  weft_reactor *r;
  if (weft_reactor_new(&r, NULL) != 0) return 1;
  bench_await(r, awaits / 10 + 1); /* warm up: pool, allocator, caches */
  double await_ns = bench_await(r, awaits);
  double switch_ns = bench_switch(awaits);
  double per_coro = bench_memory(r, coros);
  printf("await_ns=%.1f bytes_per_coro=%.0f\n", await_ns, per_coro);
  printf("switch_pair_ns=%.1f awaits=%ld coros=%ld\n", switch_ns, awaits, coros);
  int rc = weft_reactor_free(r) == 0 ? 0 : 1;
  double sleep_bytes, sleep_seconds;
  bench_sleepers(coros, &sleep_bytes, &sleep_seconds);
  printf("sleepers=%ld sleep_rss_bytes_per_coro=%.0f sleepers_seconds=%.2f\n", coros, sleep_bytes, sleep_seconds);
  weft__coro_stack_pool_drain();
  return rc;
}
