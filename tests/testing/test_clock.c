/* Tests src/testing/clock.c: a reactor on the manual clock fires delayed calls exactly when the
 * test advances time past them, in order, never early; looping calls count skipped intervals. */
#include <math.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/testing.h"

static weft_reactor *reactor_on(weft_test_clock *c) {
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.clock = weft_test_clock_clock(c);
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, &o) == 0);
  return r;
}

static void test_clock_starts_at_zero(void) {
  weft_test_clock *c;
  REQUIRE(weft_test_clock_new(&c) == 0);
  CHECK(weft_test_clock_seconds(c) == 0.0);
  const weft_clock *wc = weft_test_clock_clock(c);
  CHECK_INT(wc->now_ns(wc->user), 0);
  CHECK_INT(weft_test_clock_advance(c, NULL, 1.5), 0);
  CHECK(weft_test_clock_seconds(c) == 1.5);
  CHECK_INT(wc->now_ns(wc->user), 1500000000);
  CHECK_INT(weft_test_clock_advance(c, NULL, -0.1), WEFT_EINVAL);
  CHECK_INT(weft_test_clock_advance(c, NULL, NAN), WEFT_EINVAL);
  CHECK(weft_test_clock_seconds(c) == 1.5);
  weft_test_clock_free(c);
}

typedef struct trace {
  char order[16];
  int n;
} trace;

typedef struct mark {
  trace *t;
  char name;
} mark;

static void record(void *arg) {
  mark *m = arg;
  if (m->t->n < (int)sizeof m->t->order - 1) m->t->order[m->t->n++] = m->name;
}

static void test_call_later_fires_in_order_and_not_early(void) {
  weft_test_clock *c;
  REQUIRE(weft_test_clock_new(&c) == 0);
  weft_reactor *r = reactor_on(c);
  trace t = {{0}, 0};
  mark m3 = {&t, '3'}, m1 = {&t, '1'}, m2a = {&t, 'a'}, m2b = {&t, 'b'};
  REQUIRE(weft_reactor_call_later(r, 3, record, &m3));
  REQUIRE(weft_reactor_call_later(r, 1, record, &m1));
  REQUIRE(weft_reactor_call_later(r, 2, record, &m2a));
  REQUIRE(weft_reactor_call_later(r, 2, record, &m2b));
  CHECK_INT(weft_reactor_open_handles(r), 4);
  CHECK_INT(weft_test_clock_advance(c, r, 0.999999999), 0); /* one nanosecond early */
  CHECK_INT(t.n, 0);
  CHECK_INT(weft_test_clock_advance(c, r, 0.000000001), 1);
  CHECK_STR(t.order, "1");
  CHECK(weft_reactor_seconds(r) == 1.0);
  CHECK_INT(weft_test_clock_advance(c, r, 1), 2);
  CHECK_STR(t.order, "1ab"); /* same deadline: scheduling order */
  CHECK_INT(weft_test_clock_advance(c, r, 0.5), 0);
  CHECK_STR(t.order, "1ab");
  /* a jump past several deadlines runs them all, in deadline order */
  REQUIRE(weft_reactor_call_later(r, 1, record, &m1)); /* due 3.5, after '3' */
  CHECK_INT(weft_test_clock_advance(c, r, 10), 2);
  CHECK_STR(t.order, "1ab31");
  CHECK(weft_test_clock_seconds(c) == 12.5);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  weft_test_clock_free(c);
}

static void count_call(void *arg) { (*(int *)arg)++; }

/* 1.001 s is not exact in binary (1.001 * 1e9 is just under 1001000000): advancing by the amount
 * a call was scheduled with must reach its deadline, however the two round. */
static void test_advance_by_exactly_the_delay_fires(void) {
  weft_test_clock *c;
  REQUIRE(weft_test_clock_new(&c) == 0);
  weft_reactor *r = reactor_on(c);
  int n = 0;
  const double delays[] = {0.3, 1.001, 1.003, 2.9};
  for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
    REQUIRE(weft_reactor_call_later(r, delays[i], count_call, &n));
    CHECK_INT(weft_test_clock_advance(c, r, delays[i]), 1);
    CHECK_INT(n, (int)i + 1);
  }
  CHECK_INT(weft_reactor_free(r), 0);
  weft_test_clock_free(c);
}

typedef struct chain {
  weft_reactor *r;
  int first, second;
} chain;

static void second_call(void *arg) { ((chain *)arg)->second++; }
static void first_call(void *arg) {
  chain *ch = arg;
  ch->first++;
  weft_reactor_call_soon(ch->r, second_call, ch);
}

static void test_call_scheduled_now_waits_for_next_turn(void) {
  weft_test_clock *c;
  REQUIRE(weft_test_clock_new(&c) == 0);
  weft_reactor *r = reactor_on(c);
  chain ch = {r, 0, 0};
  REQUIRE(weft_reactor_call_later(r, 1, first_call, &ch));
  CHECK_INT(weft_test_clock_advance(c, r, 1), 1);
  CHECK_INT(ch.first, 1);
  CHECK_INT(ch.second, 0);
  CHECK_INT(weft_test_clock_advance(c, r, 0), 1);
  CHECK_INT(ch.second, 1);
  CHECK_INT(weft_reactor_free(r), 0);
  weft_test_clock_free(c);
}

static void test_reset_and_cancel_on_manual_clock(void) {
  weft_test_clock *c;
  REQUIRE(weft_test_clock_new(&c) == 0);
  weft_reactor *r = reactor_on(c);
  trace t = {{0}, 0};
  mark mx = {&t, 'x'}, my = {&t, 'y'};
  weft_delayed_call *dx = weft_reactor_call_later(r, 5, record, &mx);
  weft_delayed_call *dy = weft_reactor_call_later(r, 1, record, &my);
  REQUIRE(dx && dy);
  CHECK_INT(weft_test_clock_advance(c, r, 4), 1);
  CHECK_STR(t.order, "y");
  CHECK_INT(weft_delayed_call_reset(dx, 3), 0); /* now due at 7 */
  CHECK(weft_delayed_call_time(dx) == 7.0);
  CHECK_INT(weft_test_clock_advance(c, r, 2.5), 0);
  CHECK_INT(weft_delayed_call_cancel(dx), 0);
  CHECK_INT(weft_test_clock_advance(c, r, 100), 0);
  CHECK_STR(t.order, "y");
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  weft_test_clock_free(c);
}

typedef struct loop_log {
  uint64_t counts[8];
  int n;
} loop_log;

static void on_loop(weft_looping_call *lc, uint64_t count, void *arg) {
  (void)lc;
  loop_log *log = arg;
  if (log->n < 8) log->counts[log->n++] = count;
}

/* Twisted's LoopingCall.withCount under task.Clock: a late reactor reports how many intervals
 * passed, and the schedule stays on its grid. */
static void test_looping_call_with_count(void) {
  weft_test_clock *c;
  REQUIRE(weft_test_clock_new(&c) == 0);
  weft_reactor *r = reactor_on(c);
  loop_log log = {{0}, 0};
  weft_looping_call *lc;
  REQUIRE(weft_looping_call_new(&lc, r, on_loop, &log) == 0);
  CHECK_INT(weft_looping_call_start(lc, 2.0, true), 0);
  CHECK_INT(weft_test_clock_advance(c, r, 0), 1); /* now=true: at once, counting one */
  CHECK_INT(log.n, 1);
  CHECK_INT(log.counts[0], 1);
  CHECK_INT(weft_test_clock_advance(c, r, 7), 1); /* 3.5 intervals late: one call, count 3 */
  CHECK_INT(log.n, 2);
  CHECK_INT(log.counts[1], 3);
  CHECK_INT(weft_test_clock_advance(c, r, 0.999), 0); /* next grid point is 8, not 9 */
  CHECK_INT(log.n, 2);
  CHECK_INT(weft_test_clock_advance(c, r, 0.001), 1);
  CHECK_INT(log.n, 3);
  CHECK_INT(log.counts[2], 1);
  CHECK_INT(weft_test_clock_advance(c, r, 2), 1);
  CHECK_INT(log.counts[3], 1);
  CHECK_INT(weft_looping_call_stop(lc), 0);
  CHECK_INT(weft_test_clock_advance(c, r, 10), 0);
  CHECK_INT(log.n, 4);
  weft_looping_call_free(lc);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  weft_test_clock_free(c);
}

int main(void) {
  RUN(test_clock_starts_at_zero);
  RUN(test_call_later_fires_in_order_and_not_early);
  RUN(test_advance_by_exactly_the_delay_fires);
  RUN(test_call_scheduled_now_waits_for_next_turn);
  RUN(test_reset_and_cancel_on_manual_clock);
  RUN(test_looping_call_with_count);
  return CHECK_DONE();
}
