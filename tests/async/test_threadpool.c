/* Tests src/async/threadpool.c: deferToThread, blockingCallFromThread and the reactor's thread
 * pool (limits, queue, cancellation, shutdown). Real threads: waits are bounded condition waits
 * and bounded reactor turns, never sleeps. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "weft/threads.h"

static pthread_t main_thread;

static double real_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Turns r (each turn waits at most 10 ms for a wake-up) until done(arg), for at most 5 s. */
static bool run_until(weft_reactor *r, bool (*done)(void *arg), void *arg) {
  double deadline = real_now() + 5.0;
  while (!done(arg)) {
    if (real_now() > deadline) return false;
    weft_reactor_iterate(r, 0.01);
  }
  return true;
}

static bool int_reaches(void *arg) {
  int *counter_and_goal = arg;
  return counter_and_goal[0] >= counter_and_goal[1];
}

static bool no_handles(void *arg) { return weft_reactor_open_handles(arg) == 0; }

static weft_reactor *new_reactor(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  return r;
}

/* Stops the pool (if any), turns until it is gone, and checks that the reactor closes clean. */
static void close_reactor(weft_reactor *r) {
  weft_threadpool_stop(r);
  CHECK(run_until(r, no_handles, r));
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK(!st.exists);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void configure(weft_reactor *r, size_t max_threads, size_t queue_limit) {
  weft_threadpool_options o;
  weft_threadpool_options_init(&o);
  o.max_threads = max_threads;
  o.queue_limit = queue_limit;
  REQUIRE(weft_threadpool_configure(r, &o) == 0);
}

/* ---- a gate that jobs wait at until the test opens it ---- */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool open;
  int entered; /* jobs that reached the gate */
  int left;    /* jobs that went through */
} gate;

static void gate_init(gate *g) {
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->open = false;
  g->entered = g->left = 0;
}

static void gate_destroy(gate *g) {
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

/* Waits on the gate's condition for at most 50 ms; callers loop until their own deadline. */
static void timed_wait(gate *g) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 50000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&g->cv, &g->mu, &ts);
}

/* In a job: waits (at most 10 s, so a broken test fails instead of hanging) for the gate. */
static void gate_pass(gate *g) {
  double deadline = real_now() + 10.0;
  pthread_mutex_lock(&g->mu);
  g->entered++;
  pthread_cond_broadcast(&g->cv);
  while (!g->open && real_now() < deadline) timed_wait(g);
  g->left++;
  pthread_mutex_unlock(&g->mu);
}

/* In the test: waits (at most 5 s) until n jobs have reached the gate. */
static bool gate_wait_entered(gate *g, int n) {
  double deadline = real_now() + 5.0;
  pthread_mutex_lock(&g->mu);
  while (g->entered < n && real_now() < deadline) timed_wait(g);
  bool ok = g->entered >= n;
  pthread_mutex_unlock(&g->mu);
  return ok;
}

static void gate_open(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = true;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* ---- jobs and callbacks ---- */

static atomic_int ran_on_main; /* jobs that ran on the test's (reactor) thread: must stay 0 */

static weft_value square(void *arg) {
  if (pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&ran_on_main, 1);
  int64_t i = (int64_t)(intptr_t)arg;
  return weft_int(i * i);
}

typedef struct collect {
  int fired[2]; /* count, goal: for int_reaches */
  int64_t values[64];
  int order[64]; /* which job fired n-th */
  int off_thread; /* callbacks that ran off the reactor thread: must stay 0 */
} collect;

typedef struct slot {
  collect *c;
  int index;
} slot;

static weft_value record(weft_value v, void *arg) {
  slot *s = arg;
  if (!pthread_equal(pthread_self(), main_thread)) s->c->off_thread++;
  s->c->values[s->index] = v.kind == WEFT_VALUE_INT ? v.v.i : -1;
  s->c->order[s->c->fired[0]++] = s->index;
  weft_value_release(v);
  return weft_none();
}

static void test_results_arrive_per_job_on_reactor_thread(void) {
  weft_reactor *r = new_reactor();
  configure(r, 4, 0);
  collect c = {.fired = {0, 40}};
  slot slots[40];
  atomic_store(&ran_on_main, 0);
  for (int i = 0; i < 40; i++) {
    slots[i] = (slot){&c, i};
    weft_deferred *d = weft_defer_to_thread(r, square, (void *)(intptr_t)i);
    REQUIRE(d);
    CHECK(!weft_deferred_called(d)); /* the result comes on a later turn, never inside the call */
    weft_deferred_add_both(d, record, &slots[i]);
    weft_deferred_unref(d);
  }
  CHECK(run_until(r, int_reaches, c.fired));
  for (int i = 0; i < 40; i++) CHECK_INT(c.values[i], i * i);
  CHECK_INT(c.off_thread, 0);
  CHECK_INT(atomic_load(&ran_on_main), 0);
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK_INT(st.completed, 40);
  CHECK(st.peak_threads >= 1 && st.peak_threads <= 4);
  close_reactor(r);
}

static void test_one_thread_runs_jobs_in_submission_order(void) {
  weft_reactor *r = new_reactor();
  configure(r, 1, 0);
  collect c = {.fired = {0, 20}};
  slot slots[20];
  for (int i = 0; i < 20; i++) {
    slots[i] = (slot){&c, i};
    weft_deferred *d = weft_defer_to_thread(r, square, (void *)(intptr_t)i);
    weft_deferred_add_both(d, record, &slots[i]);
    weft_deferred_unref(d);
  }
  CHECK(run_until(r, int_reaches, c.fired));
  for (int i = 0; i < 20; i++) CHECK_INT(c.order[i], i);
  close_reactor(r);
}

static weft_value fail_in_worker(void *arg) {
  (void)arg;
  return weft_failed(weft_failure_new("test.worker", 42, "boom in thread %d", 7));
}

typedef struct outcome {
  int fired[2];
  bool failed;
  const char *domain;
  int code;
  char message[64];
  char func[64];
  int64_t value;
} outcome;

static weft_value note_outcome(weft_value v, void *arg) {
  outcome *o = arg;
  o->fired[0]++;
  o->failed = weft_value_is_failure(v);
  if (o->failed) {
    o->domain = weft_failure_domain(v.v.f);
    o->code = weft_failure_code(v.v.f);
    snprintf(o->message, sizeof o->message, "%s", weft_failure_message(v.v.f));
    snprintf(o->func, sizeof o->func, "%s", weft_failure_func(v.v.f) ? weft_failure_func(v.v.f) : "");
  } else if (v.kind == WEFT_VALUE_INT) {
    o->value = v.v.i;
  }
  weft_value_release(v);
  return weft_none();
}

static void watch(weft_deferred *d, outcome *o) {
  o->fired[1] = 1;
  weft_deferred_add_both(d, note_outcome, o);
  weft_deferred_unref(d);
}

static void test_failure_from_worker_goes_down_errbacks(void) {
  weft_reactor *r = new_reactor();
  outcome o = {.fired = {0}};
  watch(weft_defer_to_thread(r, fail_in_worker, NULL), &o);
  CHECK(run_until(r, int_reaches, o.fired));
  CHECK(o.failed);
  CHECK_STR(o.domain, "test.worker");
  CHECK_INT(o.code, 42);
  CHECK_STR(o.message, "boom in thread 7");
  CHECK_STR(o.func, "fail_in_worker"); /* where it was made: on the worker */
  close_reactor(r);
}

static weft_value returns_deferred(void *arg) {
  (void)arg;
  return weft_chain(weft_deferred_new(NULL));
}

static void test_job_returning_deferred_is_einval(void) {
  weft_reactor *r = new_reactor();
  outcome o = {.fired = {0}};
  watch(weft_defer_to_thread(r, returns_deferred, NULL), &o);
  CHECK(run_until(r, int_reaches, o.fired));
  CHECK(o.failed);
  CHECK_INT(o.code, WEFT_EINVAL);
  close_reactor(r);
}

/* ---- limits ---- */

static gate the_gate;
static atomic_int blocked_runs;

static weft_value blocked(void *arg) {
  atomic_fetch_add(&blocked_runs, 1);
  gate_pass(&the_gate);
  return weft_int((int64_t)(intptr_t)arg);
}

static void test_max_threads_respected(void) {
  weft_reactor *r = new_reactor();
  configure(r, 3, 0);
  gate_init(&the_gate);
  atomic_store(&blocked_runs, 0);
  outcome o[8];
  memset(o, 0, sizeof o);
  for (int i = 0; i < 8; i++) watch(weft_defer_to_thread(r, blocked, (void *)(intptr_t)i), &o[i]);
  CHECK(gate_wait_entered(&the_gate, 3));
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK_INT(st.threads, 3);
  CHECK_INT(st.busy, 3);
  CHECK_INT(st.queued, 5);
  CHECK_INT(atomic_load(&blocked_runs), 3); /* the other five wait: no fourth thread */
  gate_open(&the_gate);
  for (int i = 0; i < 8; i++) {
    CHECK(run_until(r, int_reaches, o[i].fired));
    CHECK(!o[i].failed);
    CHECK_INT(o[i].value, i);
  }
  weft_threadpool_stats_get(r, &st);
  CHECK_INT(st.peak_threads, 3);
  CHECK_INT(st.completed, 8);
  CHECK_INT(st.queued, 0);
  CHECK_INT(st.busy, 0);
  close_reactor(r);
  gate_destroy(&the_gate);
}

static void test_full_queue_fails_at_once(void) {
  weft_reactor *r = new_reactor();
  configure(r, 1, 2);
  gate_init(&the_gate);
  outcome a = {.fired = {0}}, b = {.fired = {0}}, c = {.fired = {0}}, d = {.fired = {0}};
  watch(weft_defer_to_thread(r, blocked, (void *)1), &a);
  CHECK(gate_wait_entered(&the_gate, 1)); /* a runs: it no longer counts as queued */
  watch(weft_defer_to_thread(r, blocked, (void *)2), &b);
  watch(weft_defer_to_thread(r, blocked, (void *)3), &c);
  watch(weft_defer_to_thread(r, blocked, (void *)4), &d);
  CHECK_INT(d.fired[0], 1); /* refused inside the call */
  CHECK(d.failed);
  CHECK_STR(d.domain, WEFT_FAILURE_DOMAIN);
  CHECK_INT(d.code, WEFT_ELIMIT);
  CHECK_INT(b.fired[0] + c.fired[0], 0);
  gate_open(&the_gate);
  CHECK(run_until(r, int_reaches, c.fired));
  CHECK_INT(a.value + b.value + c.value, 6);
  close_reactor(r);
  gate_destroy(&the_gate);
}

/* ---- cancellation ---- */

static atomic_int never_runs_calls;
static weft_value never_runs(void *arg) {
  (void)arg;
  atomic_fetch_add(&never_runs_calls, 1);
  return weft_none();
}

static void test_cancel_queued_job_removes_it(void) {
  weft_reactor *r = new_reactor();
  configure(r, 1, 0);
  gate_init(&the_gate);
  atomic_store(&never_runs_calls, 0);
  outcome a = {.fired = {0}}, b = {.fired = {0}};
  watch(weft_defer_to_thread(r, blocked, (void *)5), &a);
  CHECK(gate_wait_entered(&the_gate, 1));
  weft_deferred *d = weft_defer_to_thread(r, never_runs, NULL);
  weft_deferred_add_both(d, note_outcome, &b);
  weft_deferred_cancel(d);
  weft_deferred_unref(d);
  CHECK_INT(b.fired[0], 1);
  CHECK(b.failed);
  CHECK_INT(b.code, WEFT_ECANCELED);
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK_INT(st.queued, 0);
  CHECK_INT(st.cancelled, 1);
  gate_open(&the_gate);
  CHECK(run_until(r, int_reaches, a.fired));
  CHECK_INT(a.value, 5);
  close_reactor(r);
  CHECK_INT(atomic_load(&never_runs_calls), 0);
  gate_destroy(&the_gate);
}

static int released;
static void count_release(void *p) {
  released++;
  free(p);
}

static weft_value blocked_ptr(void *arg) {
  (void)arg;
  gate_pass(&the_gate);
  return weft_ptr(malloc(16), count_release);
}

static void test_cancel_running_job_releases_late_result(void) {
  weft_reactor *r = new_reactor();
  gate_init(&the_gate);
  released = 0;
  outcome a = {.fired = {0}};
  weft_deferred *d = weft_defer_to_thread(r, blocked_ptr, NULL);
  weft_deferred_add_both(d, note_outcome, &a);
  CHECK(gate_wait_entered(&the_gate, 1));
  weft_deferred_cancel(d); /* running: it cannot be stopped, but the Deferred fails now */
  weft_deferred_unref(d);
  CHECK_INT(a.fired[0], 1);
  CHECK_INT(a.code, WEFT_ECANCELED);
  gate_open(&the_gate);
  double deadline = real_now() + 5.0;
  while (released == 0 && real_now() < deadline) weft_reactor_iterate(r, 0.01);
  CHECK_INT(released, 1); /* the late result was freed on arrival (ASan checks it is not leaked) */
  CHECK_INT(a.fired[0], 1);
  close_reactor(r);
  gate_destroy(&the_gate);
}

/* ---- shutdown ---- */

typedef struct shutdown_probe {
  outcome running, queued;
  bool running_done_when_trigger_ran;
  bool queued_failed_when_trigger_ran;
  bool trigger_ran;
} shutdown_probe;

/* A "before shutdown" trigger added after the pool's: the pool has stopped by now, and the
 * shutdown waits for the running job, which this lets go. */
static void after_pool_stopped(weft_trigger_ctx *ctx, void *arg) {
  (void)ctx;
  shutdown_probe *p = arg;
  p->trigger_ran = true;
  p->running_done_when_trigger_ran = p->running.fired[0] != 0;
  p->queued_failed_when_trigger_ran = p->queued.fired[0] != 0;
  gate_open(&the_gate);
}

static void stop_reactor(void *arg) { weft_reactor_stop(arg); }

static void test_shutdown_waits_for_running_and_cancels_queued(void) {
  weft_reactor *r = new_reactor();
  configure(r, 1, 0);
  gate_init(&the_gate);
  atomic_store(&never_runs_calls, 0);
  shutdown_probe probe;
  memset(&probe, 0, sizeof probe);
  watch(weft_defer_to_thread(r, blocked, (void *)9), &probe.running);
  watch(weft_defer_to_thread(r, never_runs, NULL), &probe.queued);
  REQUIRE(weft_reactor_add_trigger(NULL, r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_BEFORE, after_pool_stopped, &probe) == 0);
  CHECK(gate_wait_entered(&the_gate, 1));
  REQUIRE(weft_reactor_call_soon(r, stop_reactor, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK(probe.trigger_ran);
  CHECK(!probe.running_done_when_trigger_ran); /* still running when the shutdown began ... */
  CHECK_INT(probe.running.fired[0], 1);        /* ... and delivered before run returned */
  CHECK(!probe.running.failed);
  CHECK_INT(probe.running.value, 9);
  CHECK(probe.queued_failed_when_trigger_ran); /* queued work is cancelled at once */
  CHECK(probe.queued.failed);
  CHECK_INT(probe.queued.code, WEFT_ECANCELED);
  CHECK_INT(atomic_load(&never_runs_calls), 0);
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK(!st.exists); /* joined and freed by the shutdown */
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  gate_destroy(&the_gate);
}

static void test_shutdown_after_stop_still_waits(void) {
  weft_reactor *r = new_reactor();
  gate_init(&the_gate);
  shutdown_probe probe;
  memset(&probe, 0, sizeof probe);
  watch(weft_defer_to_thread(r, blocked, (void *)11), &probe.running);
  REQUIRE(weft_reactor_add_trigger(NULL, r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_BEFORE, after_pool_stopped, &probe) == 0);
  CHECK(gate_wait_entered(&the_gate, 1));
  CHECK_INT(weft_threadpool_stop(r), 0); /* stopping, but its job still runs */
  REQUIRE(weft_reactor_call_soon(r, stop_reactor, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK(probe.trigger_ran);
  CHECK(!probe.running_done_when_trigger_ran);
  CHECK_INT(probe.running.fired[0], 1);
  CHECK_INT(probe.running.value, 11);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  gate_destroy(&the_gate);
}

static void test_shutdown_of_idle_pool_and_restart(void) {
  weft_reactor *r = new_reactor();
  outcome a = {.fired = {0}};
  watch(weft_defer_to_thread(r, square, (void *)3), &a);
  CHECK(run_until(r, int_reaches, a.fired));
  CHECK_INT(a.value, 9);
  REQUIRE(weft_reactor_call_soon(r, stop_reactor, r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  /* after the shutdown, the next job makes a fresh pool */
  outcome b = {.fired = {0}};
  watch(weft_defer_to_thread(r, square, (void *)4), &b);
  CHECK(run_until(r, int_reaches, b.fired));
  CHECK_INT(b.value, 16);
  close_reactor(r);
}

static void test_pool_is_a_handle_until_stopped(void) {
  weft_reactor *r = new_reactor();
  weft_threadpool_stats st;
  REQUIRE(weft_threadpool_configure(r, NULL) == 0);
  weft_threadpool_stats_get(r, &st);
  CHECK(st.exists);
  CHECK_INT(st.threads, 0); /* started lazily: no thread before the first job */
  CHECK_INT(weft_reactor_open_handles(r), 1);
  CHECK_INT(weft_reactor_free(r), WEFT_EBUSY);
  outcome a = {.fired = {0}};
  watch(weft_defer_to_thread(r, square, (void *)5), &a);
  weft_threadpool_stats_get(r, &st);
  CHECK_INT(st.threads, 1);
  CHECK(run_until(r, int_reaches, a.fired));
  CHECK_INT(weft_threadpool_stop(r), 0);
  CHECK_INT(weft_threadpool_stop(r), WEFT_EALREADY);
  /* a stopping pool refuses work at once (it stays until a turn sees its thread gone) */
  outcome b = {.fired = {0}};
  watch(weft_defer_to_thread(r, square, (void *)6), &b);
  CHECK_INT(b.fired[0], 1);
  CHECK(b.failed);
  CHECK_INT(b.code, WEFT_ECANCELED);
  CHECK(run_until(r, no_handles, r)); /* the pool goes once its thread has exited */
  weft_threadpool_stats_get(r, &st);
  CHECK(!st.exists);
  close_reactor(r);
}

static void test_configure_rejects_bad_options(void) {
  weft_reactor *r = new_reactor();
  weft_threadpool_options o;
  weft_threadpool_options_init(&o);
  o.max_threads = 0;
  CHECK_INT(weft_threadpool_configure(r, &o), WEFT_EINVAL);
  weft_threadpool_options_init(&o);
  o.min_threads = 5;
  o.max_threads = 2;
  CHECK_INT(weft_threadpool_configure(r, &o), WEFT_EINVAL);
  weft_threadpool_options_init(&o);
  o.idle_timeout = -1;
  CHECK_INT(weft_threadpool_configure(r, &o), WEFT_EINVAL);
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK(!st.exists);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static bool threads_down_to(void *arg) {
  void **a = arg;
  weft_threadpool_stats st;
  weft_threadpool_stats_get(a[0], &st);
  return st.threads <= (size_t)(intptr_t)a[1];
}

static void test_idle_threads_above_min_exit(void) {
  weft_reactor *r = new_reactor();
  weft_threadpool_options o;
  weft_threadpool_options_init(&o);
  o.min_threads = 1;
  o.max_threads = 3;
  o.idle_timeout = 0.02;
  REQUIRE(weft_threadpool_configure(r, &o) == 0);
  gate_init(&the_gate);
  outcome a[3];
  memset(a, 0, sizeof a);
  for (int i = 0; i < 3; i++) watch(weft_defer_to_thread(r, blocked, (void *)(intptr_t)i), &a[i]);
  CHECK(gate_wait_entered(&the_gate, 3));
  gate_open(&the_gate);
  for (int i = 0; i < 3; i++) CHECK(run_until(r, int_reaches, a[i].fired));
  void *args[2] = {r, (void *)1};
  CHECK(run_until(r, threads_down_to, args)); /* two of three exit after 20 ms idle */
  weft_threadpool_stats st;
  weft_threadpool_stats_get(r, &st);
  CHECK_INT(st.threads, 1); /* min_threads stays */
  CHECK_INT(st.peak_threads, 3);
  /* the survivor still works, and the pool grows again on demand */
  outcome b = {.fired = {0}};
  watch(weft_defer_to_thread(r, square, (void *)7), &b);
  CHECK(run_until(r, int_reaches, b.fired));
  CHECK_INT(b.value, 49);
  close_reactor(r);
  gate_destroy(&the_gate);
}

/* ---- blockingCallFromThread ---- */

typedef struct later_fire {
  weft_deferred *d;
  weft_value v;
} later_fire;

static void fire_later(void *arg) {
  later_fire *lf = arg;
  weft_deferred_callback(lf->d, lf->v);
  weft_deferred_unref(lf->d);
  free(lf);
}

static atomic_int reactor_side_off_thread;

/* On the reactor thread: a Deferred that fires on a later turn with 20 + arg. */
static weft_deferred *reactor_side(void *arg) {
  weft_reactor *r = arg;
  if (!pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&reactor_side_off_thread, 1);
  weft_deferred *d = weft_deferred_new(weft_reactor_log(r));
  later_fire *lf = malloc(sizeof *lf);
  lf->d = weft_deferred_ref(d);
  lf->v = weft_int(20);
  REQUIRE(weft_reactor_call_soon(r, fire_later, lf));
  return d;
}

static weft_deferred *reactor_side_fails(void *arg) {
  return weft_fail(weft_reactor_log(arg), weft_failure_new("test.reactor", 3, "refused"));
}

static weft_deferred *reactor_side_null(void *arg) {
  (void)arg;
  return NULL;
}

static weft_reactor *job_reactor;

static weft_value job_blocks_on_reactor(void *arg) {
  (void)arg;
  weft_value v = weft_block_on_reactor(job_reactor, reactor_side, job_reactor);
  if (v.kind != WEFT_VALUE_INT) return v;
  weft_value f = weft_block_on_reactor(job_reactor, reactor_side_fails, job_reactor);
  bool failed_right = weft_failure_check(weft_value_is_failure(f) ? f.v.f : NULL, "test.reactor", 3);
  weft_value_release(f);
  weft_value n = weft_block_on_reactor(job_reactor, reactor_side_null, NULL);
  bool null_right = weft_failure_check(weft_value_is_failure(n) ? n.v.f : NULL, WEFT_FAILURE_DOMAIN, WEFT_EINVAL);
  weft_value_release(n);
  return weft_int(v.v.i + (failed_right ? 1 : 0) + (null_right ? 2 : 0));
}

static void test_block_on_reactor_from_worker(void) {
  weft_reactor *r = new_reactor();
  job_reactor = r;
  atomic_store(&reactor_side_off_thread, 0);
  outcome a = {.fired = {0}};
  watch(weft_defer_to_thread(r, job_blocks_on_reactor, NULL), &a);
  CHECK(run_until(r, int_reaches, a.fired));
  CHECK(!a.failed);
  CHECK_INT(a.value, 23); /* 20 from the reactor, +1 failure seen, +2 NULL seen */
  CHECK_INT(atomic_load(&reactor_side_off_thread), 0);
  close_reactor(r);
}

static int reactor_side_calls;
static weft_deferred *count_call(void *arg) {
  reactor_side_calls++;
  return weft_succeed(weft_reactor_log(arg), weft_none());
}

static void block_from_callback(void *arg) {
  outcome *o = arg;
  weft_value v = weft_block_on_reactor(job_reactor, count_call, job_reactor);
  o->fired[0]++;
  o->failed = weft_value_is_failure(v);
  o->code = o->failed ? weft_failure_code(v.v.f) : 0;
  weft_value_release(v);
}

static void test_block_on_reactor_on_reactor_thread_is_edeadlk(void) {
  weft_reactor *r = new_reactor();
  job_reactor = r;
  reactor_side_calls = 0;
  outcome o = {.fired = {0, 1}};
  REQUIRE(weft_reactor_call_soon(r, block_from_callback, &o));
  CHECK(run_until(r, int_reaches, o.fired)); /* returned, instead of waiting forever */
  CHECK(o.failed);
  CHECK_INT(o.code, WEFT_EDEADLK);
  CHECK_INT(reactor_side_calls, 0);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

/* ---- load ---- */

static weft_value add_one(void *arg) { return weft_int((int64_t)(intptr_t)arg + 1); }

typedef struct load {
  int fired[2];
  int64_t sum;
  int refused;
} load;

static weft_value sum_up(weft_value v, void *arg) {
  load *l = arg;
  l->fired[0]++;
  if (v.kind == WEFT_VALUE_INT) l->sum += v.v.i;
  else l->refused++;
  weft_value_release(v);
  return weft_none();
}

static void test_many_small_jobs(void) {
  weft_reactor *r = new_reactor();
  configure(r, 4, 0);
  enum { N = 3000 };
  load l = {.fired = {0, N}};
  for (int i = 0; i < N; i++) {
    weft_deferred *d = weft_defer_to_thread(r, add_one, (void *)(intptr_t)i);
    weft_deferred_add_both(d, sum_up, &l);
    weft_deferred_unref(d);
    if (i % 500 == 0) weft_reactor_iterate(r, 0); /* deliveries interleave with submissions */
  }
  CHECK(run_until(r, int_reaches, l.fired));
  CHECK_INT(l.refused, 0);
  CHECK_INT(l.sum, (int64_t)N * (N + 1) / 2);
  close_reactor(r);
}

int main(void) {
  main_thread = pthread_self();
  RUN(test_results_arrive_per_job_on_reactor_thread);
  RUN(test_one_thread_runs_jobs_in_submission_order);
  RUN(test_failure_from_worker_goes_down_errbacks);
  RUN(test_job_returning_deferred_is_einval);
  RUN(test_max_threads_respected);
  RUN(test_full_queue_fails_at_once);
  RUN(test_cancel_queued_job_removes_it);
  RUN(test_cancel_running_job_releases_late_result);
  RUN(test_shutdown_waits_for_running_and_cancels_queued);
  RUN(test_shutdown_after_stop_still_waits);
  RUN(test_shutdown_of_idle_pool_and_restart);
  RUN(test_pool_is_a_handle_until_stopped);
  RUN(test_configure_rejects_bad_options);
  RUN(test_idle_threads_above_min_exit);
  RUN(test_block_on_reactor_from_worker);
  RUN(test_block_on_reactor_on_reactor_thread_is_edeadlk);
  RUN(test_many_small_jobs);
  return CHECK_DONE();
}
