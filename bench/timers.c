/* timers: 1,000,000 delayed calls scheduled, fired and cancelled on weft's reactor, in ns per
 * operation. bench/peers/uv_timers.c does the same with libuv's timers; bench/timers.sh runs
 * both in one run and prints the ratio. Usage: timers [N] (default 1000000). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weft/reactor.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long fired;
static void on_fire(void *arg) {
  (void)arg;
  fired++;
}

/* The same deterministic delays for both libraries: 1..50 ms, spread (an LCG). */
static unsigned lcg = 12345;
static int next_delay_ms(void) {
  lcg = lcg * 1103515245u + 12345u;
  return 1 + (int)((lcg >> 16) % 50);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000000;
  weft_reactor *r;
  if (weft_reactor_new(&r, NULL) != 0) return 1;
  weft_delayed_call **calls = malloc((size_t)n * sizeof *calls);
  if (!calls) return 1;

  /* schedule + fire */
  double t0 = now_s();
  for (int i = 0; i < n; i++) calls[i] = weft_reactor_call_later(r, next_delay_ms() / 1000.0, on_fire, NULL);
  double t1 = now_s();
  struct timespec pause = {0, 60 * 1000 * 1000}; /* every call is due after this (not timed) */
  nanosleep(&pause, NULL);
  double t2 = now_s();
  while (fired < (unsigned long long)n) weft_reactor_iterate(r, 0);
  double t3 = now_s();

  /* schedule again, then cancel in a scattered order */
  for (int i = 0; i < n; i++) calls[i] = weft_reactor_call_later(r, next_delay_ms() / 1000.0, on_fire, NULL);
  double t4 = now_s();
  for (int i = 0; i < n; i++) weft_delayed_call_cancel(calls[(size_t)i * 7919 % (size_t)n]);
  double t5 = now_s();

  printf("schedule_ns=%.1f fire_ns=%.1f cancel_ns=%.1f n=%d\n", (t1 - t0) * 1e9 / n, (t3 - t2) * 1e9 / n,
         (t5 - t4) * 1e9 / n, n);
  free(calls);
  return weft_reactor_free(r) == 0 ? 0 : 1;
}
