/* Tests src/reactor/timers.c (Twisted's callLater / DelayedCall): ordering, cancel, reset and
 * delay, re-arming from inside a callback, no starvation, and a randomised run against a model. */
#include <fcntl.h>
#include <unistd.h>

#include "fixture.h"
#include "reactor/reactor_internal.h"

/* ---- ordering ---- */

static void test_same_deadline_runs_in_scheduling_order(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  for (int i = 0; i < 100; i++) REQUIRE(weft_reactor_call_later(r, 1.0, record_arg, (void *)(intptr_t)i));
  CHECK_INT(weft_reactor_open_handles(r), 100);
  manual_advance(&c, 0.999);
  CHECK_INT(weft_reactor_iterate(r, 0), 0);
  CHECK_INT(call_log_len, 0);
  manual_advance(&c, 0.001);
  CHECK_INT(weft_reactor_iterate(r, 0), 100);
  CHECK_INT(call_log_len, 100);
  for (int i = 0; i < call_log_len; i++) CHECK_INT(call_log[i], i);
  CLOSE_CLEAN(r);
}

static void test_shuffled_deadlines_run_sorted(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  int ms[200];
  for (int i = 0; i < 200; i++) ms[i] = i;
  uint32_t seed = 12345;
  for (int i = 199; i > 0; i--) { /* Fisher-Yates with a fixed LCG: the same shuffle every run */
    seed = seed * 1103515245u + 12345u;
    int j = (int)((seed >> 8) % (uint32_t)(i + 1));
    int t = ms[i];
    ms[i] = ms[j];
    ms[j] = t;
  }
  for (int i = 0; i < 200; i++)
    REQUIRE(weft_reactor_call_later(r, ms[i] / 1000.0, record_arg, (void *)(intptr_t)ms[i]));
  /* half the time passes: exactly the first half runs, in deadline order */
  manual_advance(&c, 0.0995);
  weft_reactor_iterate(r, 0);
  CHECK_INT(call_log_len, 100);
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(call_log_len, 200);
  for (int i = 0; i < call_log_len; i++) CHECK_INT(call_log[i], i);
  CLOSE_CLEAN(r);
}

static void test_negative_delay_counts_as_now(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  weft_delayed_call *dc = weft_reactor_call_later(r, -5.0, record_arg, (void *)1);
  REQUIRE(dc);
  CHECK(weft_delayed_call_time(dc) == weft_reactor_seconds(r));
  weft_reactor_iterate(r, 0);
  CHECK_LOG(1);
  CLOSE_CLEAN(r);
}

/* Deadlines far away (a "never" timeout) stay far away: no overflow, no wrap into the past. */
static void test_far_deadlines_do_not_overflow(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  int ran = 0;
  weft_delayed_call *a = weft_reactor_call_later(r, 1e300, count_arg, &ran);
  weft_delayed_call *b = weft_reactor_call_later(r, 1e12, count_arg, &ran);
  REQUIRE(a && b);
  CHECK_INT(weft_delayed_call_delay(a, 1e300), 0);
  CHECK_INT(weft_delayed_call_delay(b, 1e12), 0);
  CHECK_INT(weft_delayed_call_delay(b, 1e12), 0);
  CHECK(weft_delayed_call_time(b) > weft_reactor_seconds(r) + 1e9);
  CHECK(weft_delayed_call_time(a) > weft_reactor_seconds(r) + 1e9);
  CHECK_INT(weft_delayed_call_delay(b, -1e300), 0); /* and far into the past: due at once */
  manual_advance(&c, 1e6);
  weft_reactor_iterate(r, 0);
  CHECK_INT(ran, 1);
  CHECK_INT(weft_delayed_call_cancel(a), 0);
  CLOSE_CLEAN(r);
}

/* ---- call_soon and I/O ---- */

typedef struct pipe_watch {
  weft__io io;
  int wfd;
} pipe_watch;

static void pipe_readable(weft__io *io, unsigned revents) {
  (void)revents;
  char buf[16];
  while (read(io->fd, buf, sizeof buf) > 0) {
  }
  call_log_add(100);
}

typedef struct soon_ctx {
  weft_reactor *r;
  pipe_watch *pw;
} soon_ctx;

/* A timer that, in one pass, makes I/O ready and asks for a call soon. */
static void write_and_call_soon(void *arg) {
  soon_ctx *s = arg;
  call_log_add(1);
  REQUIRE(weft_reactor_call_soon(s->r, record_arg, (void *)2));
  REQUIRE(write(s->pw->wfd, "x", 1) == 1);
}

static void test_call_soon_runs_next_turn_after_io(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  pipe_watch pw = {.io = {.fd = fds[0], .cb = pipe_readable}, .wfd = fds[1]};
  REQUIRE(weft__io_set(r, &pw.io, WEFT__READ) == 0);
  soon_ctx s = {r, &pw};
  REQUIRE(weft_reactor_call_soon(r, write_and_call_soon, &s));
  weft_reactor_iterate(r, 0);
  CHECK_LOG(1); /* the call made during this turn's timers waits for the next turn */
  weft_reactor_iterate(r, 0);
  CHECK_LOG(1, 100, 2); /* next turn: I/O first, then the call */
  weft__io_stop(r, &pw.io);
  close(fds[0]);
  close(fds[1]);
  CLOSE_CLEAN(r);
}

/* ---- cancel ---- */

static void test_cancel_before_firing(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  weft_delayed_call *a = weft_reactor_call_later(r, 1, record_arg, (void *)1);
  weft_delayed_call *b = weft_reactor_call_later(r, 1, record_arg, (void *)2);
  weft_delayed_call *d = weft_reactor_call_later(r, 2, record_arg, (void *)3);
  REQUIRE(a && b && d);
  CHECK_INT(weft_delayed_call_cancel(b), 0);
  CHECK_INT(weft_reactor_open_handles(r), 2);
  manual_advance(&c, 5);
  weft_reactor_iterate(r, 0);
  CHECK_LOG(1, 3);
  CHECK_INT(weft_delayed_call_cancel(NULL), WEFT_EINVAL);
  CLOSE_CLEAN(r);
}

typedef struct canceller {
  weft_delayed_call *victim;
  int rc;
} canceller;

static void cancel_victim(void *arg) {
  canceller *k = arg;
  call_log_add(1);
  k->rc = weft_delayed_call_cancel(k->victim);
}

static void test_cancel_other_from_callback(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  canceller k1 = {0}, k2 = {0};
  REQUIRE(weft_reactor_call_later(r, 1, cancel_victim, &k1));
  /* both victims are due in the same pass as the canceller: one at the same time, one later */
  k1.victim = weft_reactor_call_later(r, 1, record_arg, (void *)2);
  REQUIRE(weft_reactor_call_later(r, 1, cancel_victim, &k2));
  k2.victim = weft_reactor_call_later(r, 1.5, record_arg, (void *)3);
  REQUIRE(weft_reactor_call_later(r, 1.5, record_arg, (void *)4));
  manual_advance(&c, 2);
  weft_reactor_iterate(r, 0);
  CHECK_INT(k1.rc, 0);
  CHECK_INT(k2.rc, 0);
  CHECK_LOG(1, 1, 4);
  CLOSE_CLEAN(r);
}

typedef struct self_call {
  weft_reactor *r;
  weft_delayed_call *dc;
  int runs;
  int rc_cancel, rc_reset;
  int rearm_times; /* how many times to reset itself */
  bool cancel_after_reset;
  double when_after_reset;
} self_call;

static void cancel_self(void *arg) {
  self_call *s = arg;
  s->runs++;
  s->rc_cancel = weft_delayed_call_cancel(s->dc);
}

static void test_cancel_self_in_callback_is_ealready(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  self_call s = {.r = r};
  s.dc = weft_reactor_call_later(r, 0, cancel_self, &s);
  REQUIRE(s.dc);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 1);
  CHECK_INT(s.rc_cancel, WEFT_EALREADY);
  CLOSE_CLEAN(r);
}

/* ---- reset and delay ---- */

static void reset_self(void *arg) {
  self_call *s = arg;
  s->runs++;
  if (s->rearm_times > 0) {
    s->rearm_times--;
    s->rc_reset = weft_delayed_call_reset(s->dc, 1.0);
    s->when_after_reset = weft_delayed_call_time(s->dc);
    if (s->cancel_after_reset) s->rc_cancel = weft_delayed_call_cancel(s->dc);
  }
}

static void test_reset_inside_callback_rearms(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  self_call s = {.r = r, .rearm_times = 2};
  s.dc = weft_reactor_call_later(r, 0, reset_self, &s);
  REQUIRE(s.dc);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 1);
  CHECK_INT(s.rc_reset, 0);
  CHECK(s.when_after_reset == weft_reactor_seconds(r) + 1.0);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  /* the handle is still the pending call: its time can be read and it can be moved */
  CHECK(weft_delayed_call_time(s.dc) == s.when_after_reset);
  manual_advance(&c, 0.5);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 1);
  manual_advance(&c, 0.5);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 2);
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 3); /* rearm_times ran out: done */
  manual_advance(&c, 10.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 3);
  CLOSE_CLEAN(r);
}

static void test_reset_then_cancel_inside_callback(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  self_call s = {.r = r, .rearm_times = 1, .cancel_after_reset = true};
  s.dc = weft_reactor_call_later(r, 0, reset_self, &s);
  REQUIRE(s.dc);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 1);
  CHECK_INT(s.rc_reset, 0);
  CHECK_INT(s.rc_cancel, 0); /* it was pending again, so the cancel really cancels */
  CHECK_INT(weft_reactor_open_handles(r), 0);
  manual_advance(&c, 10.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 1);
  CLOSE_CLEAN(r);
}

static void delay_self(void *arg) {
  self_call *s = arg;
  s->runs++;
  if (s->runs == 1) s->rc_reset = weft_delayed_call_delay(s->dc, 2.0);
}

static void test_delay_inside_callback_rearms(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  self_call s = {.r = r};
  s.dc = weft_reactor_call_later(r, 1.0, delay_self, &s);
  REQUIRE(s.dc);
  manual_advance(&c, 1.5); /* late by half a second: delay counts from the old deadline */
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 1);
  CHECK_INT(s.rc_reset, 0);
  CHECK(weft_delayed_call_time(s.dc) == (MANUAL_ORIGIN_NS + 3000000000) / 1e9);
  manual_advance(&c, 1.5);
  weft_reactor_iterate(r, 0);
  CHECK_INT(s.runs, 2);
  CLOSE_CLEAN(r);
}

static void test_reset_and_delay_move_pending_calls(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  double t0 = weft_reactor_seconds(r);
  weft_delayed_call *a = weft_reactor_call_later(r, 1, record_arg, (void *)1);
  weft_delayed_call *b = weft_reactor_call_later(r, 2, record_arg, (void *)2);
  weft_delayed_call *d = weft_reactor_call_later(r, 3, record_arg, (void *)3);
  weft_delayed_call *e = weft_reactor_call_later(r, 4, record_arg, (void *)4);
  weft_delayed_call *f = weft_reactor_call_later(r, 4, record_arg, (void *)5);
  REQUIRE(a && b && d && e && f);
  CHECK_INT(weft_delayed_call_reset(a, 2.5), 0); /* 1 -> 2.5: now after b */
  CHECK(weft_delayed_call_time(a) == t0 + 2.5);
  CHECK_INT(weft_delayed_call_delay(d, -2.5), 0); /* 3 -> 0.5: now first */
  CHECK(weft_delayed_call_time(d) == t0 + 0.5);
  /* moved to the same deadline as f, e counts as scheduled after it */
  CHECK_INT(weft_delayed_call_reset(e, 4), 0);
  CHECK_INT(weft_delayed_call_reset(NULL, 1), WEFT_EINVAL);
  CHECK_INT(weft_delayed_call_delay(NULL, 1), WEFT_EINVAL);
  CHECK_INT(weft_reactor_open_handles(r), 5);
  for (int i = 0; i < 10; i++) {
    manual_advance(&c, 0.5);
    weft_reactor_iterate(r, 0);
  }
  CHECK_LOG(3, 2, 1, 5, 4);
  CLOSE_CLEAN(r);
}

/* ---- no starvation ---- */

typedef struct spinner {
  weft_reactor *r;
  int runs;
  bool use_reset;
  weft_delayed_call *dc;
} spinner;

static void spin(void *arg) {
  spinner *s = arg;
  s->runs++;
  if (s->runs >= 50) return;
  if (s->use_reset) REQUIRE(weft_delayed_call_reset(s->dc, 0) == 0);
  else REQUIRE(weft_reactor_call_later(s->r, 0, spin, s));
}

static void test_call_later_zero_from_callback_waits_a_turn(void) {
  for (int use_reset = 0; use_reset <= 1; use_reset++) {
    manual_clock c;
    weft_reactor *r = new_manual_reactor(&c);
    spinner s = {.r = r, .use_reset = use_reset};
    s.dc = weft_reactor_call_soon(r, spin, &s);
    REQUIRE(s.dc);
    for (int turn = 1; turn <= 60; turn++) {
      weft_reactor_iterate(r, 0);
      CHECK_INT(s.runs, turn < 50 ? turn : 50); /* exactly one run per turn, never a loop */
    }
    CLOSE_CLEAN(r);
  }
}

/* ---- handles and free ---- */

static void test_open_handles_counts_pending_timers(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_delayed_call *dcs[10];
  for (int i = 0; i < 10; i++)
    REQUIRE((dcs[i] = weft_reactor_call_later(r, i, record_arg, (void *)(intptr_t)i)));
  CHECK_INT(weft_reactor_open_handles(r), 10);
  weft_delayed_call_cancel(dcs[9]);
  CHECK_INT(weft_reactor_open_handles(r), 9);
  weft_reactor_iterate(r, 0); /* the one due at 0 runs */
  CHECK_INT(weft_reactor_open_handles(r), 8);
  manual_advance(&c, 8);
  weft_reactor_iterate(r, 0);
  CHECK_INT(call_log_len, 9);
  CLOSE_CLEAN(r);
}

static void test_free_cancels_pending_calls(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  int ran = 0;
  for (int i = 0; i < 100; i++) REQUIRE(weft_reactor_call_later(r, i, count_arg, &ran));
  /* some cancelled too, so the reactor also holds calls for reuse */
  for (int i = 0; i < 10; i++) weft_delayed_call_cancel(weft_reactor_call_later(r, 1, count_arg, &ran));
  CHECK_INT(weft_reactor_open_handles(r), 100);
  CHECK_INT(weft_reactor_free(r), 0); /* ASan's leak check sees that they were freed */
  CHECK_INT(ran, 0);
}

/* ---- randomised run against a reference model ---- */

#define MODEL_IDS 100000
#define MODEL_MAX_PENDING 2000

typedef struct model_call {
  weft_delayed_call *dc;
  int64_t when;
  uint64_t seq;
} model_call;

static model_call model[MODEL_IDS];
static int pending_ids[MODEL_MAX_PENDING];
static int npending;
static int fired[MODEL_MAX_PENDING];
static int nfired;
static uint64_t prng_state;

static uint64_t prng(void) { /* xorshift64: deterministic, so a failure replays */
  prng_state ^= prng_state << 13;
  prng_state ^= prng_state >> 7;
  prng_state ^= prng_state << 17;
  return prng_state;
}

static void model_fire(void *arg) {
  REQUIRE(nfired < MODEL_MAX_PENDING);
  fired[nfired++] = (int)(intptr_t)arg;
}

static int by_deadline_then_seq(const void *pa, const void *pb) {
  const model_call *a = &model[*(const int *)pa], *b = &model[*(const int *)pb];
  if (a->when != b->when) return a->when < b->when ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Advances the clock, turns once, and checks that exactly the due calls ran, in model order. */
static bool model_turn(manual_clock *c, weft_reactor *r, int64_t advance_ns) {
  c->ns += advance_ns;
  int due[MODEL_MAX_PENDING];
  int ndue = 0;
  for (int i = 0; i < npending;) {
    if (model[pending_ids[i]].when <= c->ns) {
      due[ndue++] = pending_ids[i];
      pending_ids[i] = pending_ids[--npending];
    } else {
      i++;
    }
  }
  qsort(due, (size_t)ndue, sizeof due[0], by_deadline_then_seq);
  nfired = 0;
  weft_reactor_iterate(r, 0);
  bool ok = nfired == ndue;
  for (int i = 0; ok && i < ndue; i++) ok = fired[i] == due[i];
  if (!ok) CHECK_FAIL_("turn at %" PRId64 ": %d fired, %d due (or out of order)", c->ns, nfired, ndue);
  return ok;
}

static void test_random_operations_match_model(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  prng_state = 0x9e3779b97f4a7c15u;
  npending = 0;
  uint64_t seq = 0;
  int next_id = 0;
  bool ok = true;
  for (int op = 0; op < 100000 && ok; op++) {
    unsigned kind = (unsigned)(prng() % 100);
    int pick = npending ? (int)(prng() % (uint64_t)npending) : -1;
    int64_t ms = (int64_t)(prng() % 50); /* small range: many equal deadlines */
    if (kind < 45 && next_id < MODEL_IDS && npending < MODEL_MAX_PENDING) {
      int id = next_id++;
      void *arg = (void *)(intptr_t)id;
      weft_delayed_call *dc = weft_reactor_call_later(r, (double)ms / 1000.0, model_fire, arg);
      model[id] = (model_call){dc, c.ns + ms * 1000000, seq++};
      REQUIRE(model[id].dc);
      pending_ids[npending++] = id;
    } else if (kind < 65 && pick >= 0) {
      CHECK_INT(weft_delayed_call_cancel(model[pending_ids[pick]].dc), 0);
      pending_ids[pick] = pending_ids[--npending];
    } else if (kind < 75 && pick >= 0) {
      model_call *m = &model[pending_ids[pick]];
      CHECK_INT(weft_delayed_call_reset(m->dc, (double)ms / 1000.0), 0);
      m->when = c.ns + ms * 1000000;
      m->seq = seq++;
    } else if (kind < 80 && pick >= 0) {
      model_call *m = &model[pending_ids[pick]];
      int64_t by = ms - 25; /* earlier or later, possibly into the past */
      CHECK_INT(weft_delayed_call_delay(m->dc, (double)by / 1000.0), 0);
      m->when += by * 1000000;
      m->seq = seq++;
    } else {
      ok = model_turn(&c, r, (int64_t)(prng() % 20) * 1000000);
      CHECK_INT(weft_reactor_open_handles(r), npending);
    }
  }
  if (ok) model_turn(&c, r, (int64_t)3600 * 1000000000);
  CHECK_INT(npending, 0);
  CLOSE_CLEAN(r);
}

int main(void) {
  RUN(test_same_deadline_runs_in_scheduling_order);
  RUN(test_shuffled_deadlines_run_sorted);
  RUN(test_negative_delay_counts_as_now);
  RUN(test_far_deadlines_do_not_overflow);
  RUN(test_call_soon_runs_next_turn_after_io);
  RUN(test_cancel_before_firing);
  RUN(test_cancel_other_from_callback);
  RUN(test_cancel_self_in_callback_is_ealready);
  RUN(test_reset_inside_callback_rearms);
  RUN(test_reset_then_cancel_inside_callback);
  RUN(test_delay_inside_callback_rearms);
  RUN(test_reset_and_delay_move_pending_calls);
  RUN(test_call_later_zero_from_callback_waits_a_turn);
  RUN(test_open_handles_counts_pending_timers);
  RUN(test_free_cancels_pending_calls);
  RUN(test_random_operations_match_model);
  return CHECK_DONE();
}
