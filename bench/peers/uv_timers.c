/* uv_timers: the libuv side of bench/timers.c: the same delays, the same operations, with
 * uv_timer_t (which the caller allocates, so libuv does no allocation per timer).
 * Built by bench/timers.sh with cc -O2 -luv. Usage: uv_timers [N]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long fired;
static void on_fire(uv_timer_t *t) {
  (void)t;
  fired++;
}

static unsigned lcg = 12345;
static int next_delay_ms(void) {
  lcg = lcg * 1103515245u + 12345u;
  return 1 + (int)((lcg >> 16) % 50);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000000;
  uv_loop_t *loop = uv_default_loop();
  uv_timer_t *timers = malloc((size_t)n * sizeof *timers);
  if (!timers) return 1;
  for (int i = 0; i < n; i++) uv_timer_init(loop, &timers[i]);
  uv_update_time(loop);

  double t0 = now_s();
  for (int i = 0; i < n; i++) uv_timer_start(&timers[i], on_fire, (uint64_t)next_delay_ms(), 0);
  double t1 = now_s();
  struct timespec pause = {0, 60 * 1000 * 1000};
  nanosleep(&pause, NULL);
  double t2 = now_s();
  while (fired < (unsigned long long)n) uv_run(loop, UV_RUN_NOWAIT);
  double t3 = now_s();

  uv_update_time(loop);
  for (int i = 0; i < n; i++) uv_timer_start(&timers[i], on_fire, (uint64_t)next_delay_ms(), 0);
  double t4 = now_s();
  for (int i = 0; i < n; i++) uv_timer_stop(&timers[(size_t)i * 7919 % (size_t)n]);
  double t5 = now_s();

  printf("schedule_ns=%.1f fire_ns=%.1f cancel_ns=%.1f n=%d\n", (t1 - t0) * 1e9 / n, (t3 - t2) * 1e9 / n,
         (t5 - t4) * 1e9 / n, n);
  for (int i = 0; i < n; i++) uv_close((uv_handle_t *)&timers[i], NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  free(timers);
  return 0;
}
