/* ticker.c: a ticker on a looping call (Twisted's task.LoopingCall with withCount).
 *
 * weft_looping_call_start(lc, interval, true) calls the function at once, then every interval
 * seconds, on a fixed grid so the ticks do not drift. The function gets a count: the number of
 * intervals since its previous call, 1 when the reactor kept up. A tick that blocks the reactor
 * (--slow K makes tick K sleep for two and a half intervals, standing in for work that takes too
 * long) makes the next tick late: its count says how many intervals went by, and the missed
 * ones are skipped rather than replayed in a burst.
 *
 * Run:
 *   ticker              demo: 5 ticks 0.05 s apart, "tick N (count C)", then stops the reactor
 *   ticker --slow 3     tick 3 is slow, so tick 4 reports count > 1
 *   ticker --ticks 10 --interval 0.5 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/errors.h"
#include "weft/reactor.h"

typedef struct ticker {
  weft_reactor *r;
  int ticks;       /* how many to print */
  int slow;        /* which tick blocks (0: none) */
  double interval; /* seconds */
  int n;           /* ticks so far */
  uint64_t intervals; /* sum of the counts */
} ticker;

/* Blocks the whole thread, as a CPU-bound or blocking call would: nothing else runs meanwhile. */
static void block_for(double seconds) {
  struct timespec ts = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void tick(weft_looping_call *lc, uint64_t count, void *arg) {
  ticker *tk = arg;
  tk->n++;
  tk->intervals += count;
  printf("tick %d (count %llu)\n", tk->n, (unsigned long long)count);
  if (tk->n == tk->slow) {
    printf("tick %d is slow: blocking the reactor for %g s\n", tk->n, tk->interval * 2.5);
    block_for(tk->interval * 2.5);
  }
  if (tk->n == tk->ticks) {
    weft_looping_call_stop(lc); /* safe inside the call itself */
    weft_reactor_stop(tk->r);
  }
}

static int usage(void) {
  fprintf(stderr, "usage: ticker [--ticks N] [--interval SECONDS] [--slow K]\n");
  return 2;
}

int main(int argc, char **argv) {
  ticker tk = {.ticks = 5, .interval = 0.05};
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) return usage();
    if (strcmp(argv[i], "--ticks") == 0) tk.ticks = atoi(argv[++i]);
    else if (strcmp(argv[i], "--interval") == 0) tk.interval = atof(argv[++i]);
    else if (strcmp(argv[i], "--slow") == 0) tk.slow = atoi(argv[++i]);
    else return usage();
  }
  if (tk.ticks < 1 || !(tk.interval > 0 && tk.interval <= 60) || tk.slow < 0) return usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  weft_looping_call *lc = NULL;
  int rc = weft_reactor_new(&tk.r, NULL);
  if (rc == 0) rc = weft_looping_call_new(&lc, tk.r, tick, &tk);
  if (rc == 0) rc = weft_looping_call_start(lc, tk.interval, true); /* now = true: tick 1 at once */
  if (rc == 0) weft_reactor_run(tk.r);
  else fprintf(stderr, "ticker: %s\n", weft_strerror(rc));
  weft_looping_call_free(lc);
  if (tk.r && weft_reactor_free(tk.r) != 0) fprintf(stderr, "ticker: handles left open\n");
  if (rc) return 1;
  printf("ticker: %d ticks over %llu intervals\n", tk.n, (unsigned long long)tk.intervals);
  return 0;
}
