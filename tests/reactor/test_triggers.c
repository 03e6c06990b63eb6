/* Tests src/reactor/triggers.c (Twisted's addSystemEventTrigger): phase order on startup and
 * shutdown, holds taken by before-triggers, removal. */
#include <time.h>

#include "fixture.h"

/* Log codes: event * 100 + phase * 10 + index. */
#define CODE(ev, ph, i) ((ev) * 100 + (ph) * 10 + (i))

typedef struct trig {
  int code;
  /* hold: take a hold and release it from a timer after this many turns */
  int hold_turns;
  weft_trigger_hold *hold;
  weft_trigger_hold *hold_got; /* what hold_new returned (for the NULL checks) */
  bool try_hold;
  weft_trigger *remove_this;
  bool stop;
} trig;

typedef struct releaser {
  weft_reactor *r;
  trig *t;
  int turns_left;
} releaser;

static releaser the_releaser;

static void release_later(void *arg) {
  releaser *rl = arg;
  if (--rl->turns_left > 0) {
    REQUIRE(weft_reactor_call_soon(rl->r, release_later, rl));
    return;
  }
  call_log_add(-1); /* the release, in the log */
  weft_trigger_release(rl->t->hold);
  rl->t->hold = NULL;
}

static void on_trigger(weft_trigger_ctx *ctx, void *arg) {
  trig *t = arg;
  weft_reactor *r = weft_trigger_ctx_reactor(ctx);
  call_log_add(t->code);
  if (t->try_hold) t->hold_got = weft_trigger_hold_new(ctx);
  if (t->hold_turns > 0) {
    t->hold = weft_trigger_hold_new(ctx);
    REQUIRE(t->hold);
    the_releaser = (releaser){r, t, t->hold_turns};
    REQUIRE(weft_reactor_call_soon(r, release_later, &the_releaser));
  }
  if (t->remove_this) weft_reactor_remove_trigger(r, t->remove_this);
  if (t->stop) weft_reactor_stop(r);
}

static void stop_cb(void *arg) {
  call_log_add(1);
  weft_reactor_stop(arg);
}

static weft_trigger *add(weft_reactor *r, weft_system_event ev, weft_trigger_phase ph, trig *t) {
  weft_trigger *h = NULL;
  REQUIRE(weft_reactor_add_trigger(&h, r, ev, ph, on_trigger, t) == 0 && h);
  return h;
}

static void test_startup_phases_run_in_order(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig a = {.code = CODE(0, 2, 0)}, d = {.code = CODE(0, 1, 0)}, b1 = {.code = CODE(0, 0, 1)},
       b2 = {.code = CODE(0, 0, 2)}, s = {.code = CODE(1, 1, 0)};
  /* added out of phase order: the phase decides, then the order added */
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_AFTER, &a);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &s);
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_DURING, &d);
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_BEFORE, &b1);
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_BEFORE, &b2);
  REQUIRE(weft_reactor_call_soon(r, stop_cb, r));
  CHECK_INT(call_log_len, 0); /* nothing before run */
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_LOG(CODE(0, 0, 1), CODE(0, 0, 2), CODE(0, 1, 0), CODE(0, 2, 0), 1, CODE(1, 1, 0));
  CLOSE_CLEAN(r);
}

static void test_shutdown_phases_run_in_order_on_stop(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig b = {.code = CODE(1, 0, 0)}, d1 = {.code = CODE(1, 1, 1)}, d2 = {.code = CODE(1, 1, 2)},
       a = {.code = CODE(1, 2, 0)};
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_AFTER, &a);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &d1);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_BEFORE, &b);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &d2);
  REQUIRE(weft_reactor_call_later(r, 0, stop_cb, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_LOG(1, CODE(1, 0, 0), CODE(1, 1, 1), CODE(1, 1, 2), CODE(1, 2, 0));
  CHECK(!weft_reactor_running(r));
  CLOSE_CLEAN(r);
}

static void test_startup_trigger_may_stop(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig st = {.code = CODE(0, 1, 0), .stop = true}, sh = {.code = CODE(1, 1, 0)};
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_DURING, &st);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &sh);
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_LOG(CODE(0, 1, 0), CODE(1, 1, 0));
  CLOSE_CLEAN(r);
}

/* A hold taken in a before-trigger: the loop keeps turning (the releasing timer runs) and
 * "during" waits until the release. */
static void check_hold_delays_during(weft_system_event ev) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig b = {.code = CODE(ev, 0, 0), .hold_turns = 3}, d = {.code = CODE(ev, 1, 0)},
       a = {.code = CODE(ev, 2, 0)};
  add(r, ev, WEFT_TRIGGER_BEFORE, &b);
  add(r, ev, WEFT_TRIGGER_DURING, &d);
  add(r, ev, WEFT_TRIGGER_AFTER, &a);
  /* stop once startup is over (a stop while startup waits would cut the wait short) */
  if (ev == WEFT_EVENT_STARTUP) a.stop = true;
  else REQUIRE(weft_reactor_call_soon(r, stop_cb, r));
  CHECK_INT(weft_reactor_run(r), 0);
  if (ev == WEFT_EVENT_STARTUP)
    CHECK_LOG(CODE(ev, 0, 0), -1, CODE(ev, 1, 0), CODE(ev, 2, 0));
  else
    CHECK_LOG(1, CODE(ev, 0, 0), -1, CODE(ev, 1, 0), CODE(ev, 2, 0));
  CHECK(b.hold == NULL);
  CLOSE_CLEAN(r);
}

static void test_hold_delays_startup_during(void) { check_hold_delays_during(WEFT_EVENT_STARTUP); }

static void test_hold_delays_shutdown_during(void) { check_hold_delays_during(WEFT_EVENT_SHUTDOWN); }

/* A stop while startup waits for a hold cuts the wait short; the shutdown then waits for it. */
static void test_stop_during_startup_hold(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig b = {.code = CODE(0, 0, 0), .hold_turns = 3}, d = {.code = CODE(0, 1, 0)}, a = {.code = CODE(0, 2, 0)},
       sd = {.code = CODE(1, 1, 0)};
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_BEFORE, &b);
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_DURING, &d);
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_AFTER, &a);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &sd);
  REQUIRE(weft_reactor_call_soon(r, stop_cb, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_LOG(CODE(0, 0, 0), 1, CODE(0, 1, 0), CODE(0, 2, 0), -1, CODE(1, 1, 0));
  CLOSE_CLEAN(r);
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void release_now(void *arg) {
  trig *t = arg;
  weft_trigger_release(t->hold);
  t->hold = NULL;
}

static void hold_and_stop_again(weft_trigger_ctx *ctx, void *arg) {
  trig *t = arg;
  weft_reactor *r = weft_trigger_ctx_reactor(ctx);
  t->hold = weft_trigger_hold_new(ctx);
  REQUIRE(t->hold);
  REQUIRE(weft_reactor_call_later(r, 0.1, release_now, t));
  weft_reactor_stop(r); /* "calling it twice is harmless": it must not make the wait spin */
}

static void test_stop_during_shutdown_hold_does_not_spin(void) {
  weft_reactor *r = new_real_reactor();
  trig t = {0};
  weft_trigger *h = NULL;
  REQUIRE(weft_reactor_add_trigger(&h, r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_BEFORE, hold_and_stop_again,
                                   &t) == 0);
  REQUIRE(weft_reactor_call_soon(r, stop_cb, r));
  call_log_reset();
  double cpu0 = cpu_seconds(), wall0 = wall_seconds();
  CHECK_INT(weft_reactor_run(r), 0);
  double cpu = cpu_seconds() - cpu0, wall = wall_seconds() - wall0;
  CHECK(t.hold == NULL);
  CHECK(wall >= 0.09);
  CHECK(cpu < 0.05); /* a 100 ms wait spent asleep, not turning */
  CLOSE_CLEAN(r);
}

static void test_remove_trigger(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig t1 = {.code = 11}, t2 = {.code = 12}, t3 = {.code = 13}, t4 = {.code = 14};
  weft_trigger *h1 = add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &t1);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &t2);
  weft_trigger *h3 = add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, &t3);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_AFTER, &t4);
  weft_reactor_remove_trigger(r, h1); /* before it runs */
  t2.remove_this = h3;                /* from inside an earlier trigger of the same phase */
  REQUIRE(weft_reactor_call_soon(r, stop_cb, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_LOG(1, 12, 14);
  weft_reactor_remove_trigger(r, NULL);
  CLOSE_CLEAN(r); /* the removed triggers are freed too: ASan checks */
}

static void test_hold_new_outside_before_trigger_is_null(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  trig d = {.code = 1, .try_hold = true}, a = {.code = 2, .try_hold = true};
  add(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_DURING, &d);
  add(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_AFTER, &a);
  REQUIRE(weft_reactor_call_soon(r, stop_cb, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK(d.hold_got == NULL);
  CHECK(a.hold_got == NULL);
  CHECK(weft_trigger_hold_new(NULL) == NULL);
  weft_trigger_release(NULL);
  CLOSE_CLEAN(r);
}

static void test_add_trigger_checks_arguments(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  trig t = {0};
  weft_trigger *h = NULL;
  const weft_system_event bad_event = (weft_system_event)7;
  const weft_trigger_phase bad_phase = (weft_trigger_phase)3;
  CHECK_INT(weft_reactor_add_trigger(&h, r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_BEFORE, NULL, &t), WEFT_EINVAL);
  CHECK_INT(weft_reactor_add_trigger(&h, r, bad_event, WEFT_TRIGGER_BEFORE, on_trigger, &t), WEFT_EINVAL);
  CHECK_INT(weft_reactor_add_trigger(&h, r, WEFT_EVENT_STARTUP, bad_phase, on_trigger, &t), WEFT_EINVAL);
  CHECK(h == NULL);
  CLOSE_CLEAN(r);
}

int main(void) {
  RUN(test_startup_phases_run_in_order);
  RUN(test_shutdown_phases_run_in_order_on_stop);
  RUN(test_startup_trigger_may_stop);
  RUN(test_hold_delays_startup_during);
  RUN(test_hold_delays_shutdown_during);
  RUN(test_stop_during_startup_hold);
  RUN(test_stop_during_shutdown_hold_does_not_spin);
  RUN(test_remove_trigger);
  RUN(test_hold_new_outside_before_trigger_is_null);
  RUN(test_add_trigger_checks_arguments);
  return CHECK_DONE();
}
