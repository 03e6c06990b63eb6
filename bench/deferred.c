/* deferred: the cost of a Deferred's whole life (twisted.internet.defer.Deferred): create, add N
 * callbacks, fire, let the chain run, free; for N = 1 and N = 10, in ns per Deferred (median of
 * REPEATS runs of ITERATIONS each). bench/deferred_twisted.py does the same with Twisted's
 * Deferred; bench/deferred.sh runs both and prints the ratio.
 * Usage: deferred [ITERATIONS] [REPEATS]   (defaults 1000000, 5)
 * Prints one line: "cb1_ns=... cb10_ns=... iterations=... repeats=...". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weft/deferred.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static weft_value add_one(weft_value v, void *arg) {
  (void)arg;
  return weft_int(v.v.i + 1);
}

/* ns per Deferred; *sum collects the results so that nothing can be skipped */
static double run(long iterations, int callbacks, long long *sum) {
  double t0 = now_ns();
  for (long i = 0; i < iterations; i++) {
    weft_deferred *d = weft_deferred_new(NULL);
    for (int c = 0; c < callbacks; c++) weft_deferred_add_callback(d, add_one, NULL);
    weft_deferred_callback(d, weft_int(i));
    *sum += weft_deferred_result(d).v.i;
    weft_deferred_unref(d);
  }
  return (now_ns() - t0) / (double)iterations;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_run(long iterations, int repeats, int callbacks, long long *sum) {
  double *t = malloc((size_t)repeats * sizeof *t);
  if (!t) exit(1);
  for (int r = 0; r < repeats; r++) t[r] = run(iterations, callbacks, sum);
  qsort(t, (size_t)repeats, sizeof *t, cmp_double);
  double m = repeats % 2 ? t[repeats / 2] : (t[repeats / 2 - 1] + t[repeats / 2]) / 2;
  free(t);
  return m;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 1000000;
  int repeats = argc > 2 ? atoi(argv[2]) : 5;
  if (iterations < 1 || repeats < 1) {
    fprintf(stderr, "usage: deferred [ITERATIONS] [REPEATS]\n");
    return 2;
  }
  long long sum = 0;
  run(iterations / 10 + 1, 10, &sum); /* warm up caches and the allocator */
  double cb1 = median_run(iterations, repeats, 1, &sum);
  double cb10 = median_run(iterations, repeats, 10, &sum);
  printf("cb1_ns=%.1f cb10_ns=%.1f iterations=%ld repeats=%d\n", cb1, cb10, iterations, repeats);
  return sum == 0 ? 1 : 0; /* sum is never 0: uses it, so the loop is not optimised away */
}
