/* clock.c: a clock that moves only when the test advances it (Twisted's task.Clock). */
#include <stdint.h>

#include "base/alloc.h"
#include "weft/errors.h"
#include "weft/testing.h"

struct weft_test_clock {
  weft_clock clock; /* what reactors copy; its user is the clock itself */
  int64_t now_ns;
};

static int64_t manual_now(void *user) { return ((const weft_test_clock *)user)->now_ns; }

int weft_test_clock_new(weft_test_clock **out) {
  weft_test_clock *c = weft__calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  c->clock.now_ns = manual_now;
  c->clock.user = c;
  *out = c;
  return 0;
}

void weft_test_clock_free(weft_test_clock *c) { weft__free(c); }

const weft_clock *weft_test_clock_clock(weft_test_clock *c) { return &c->clock; }

int weft_test_clock_advance(weft_test_clock *c, weft_reactor *r, double seconds) {
  if (!(seconds >= 0)) return WEFT_EINVAL; /* time is monotonic; NaN fails this test too */
  /* rounded to the nanosecond, as the reactor rounds delays, so advancing by exactly a delay
   * reaches its deadline */
  int64_t add = seconds > 9e9 ? INT64_MAX / 4 : (int64_t)(seconds * 1e9 + 0.5);
  /* saturate far below overflow: the reactor adds delays to this time */
  c->now_ns = c->now_ns > INT64_MAX / 2 - add ? INT64_MAX / 2 : c->now_ns + add;
  return r ? weft_reactor_iterate(r, 0) : 0;
}

double weft_test_clock_seconds(const weft_test_clock *c) { return (double)c->now_ns / 1e9; }
