/* Allocation-failure sweep over src/reactor/ and the thread pool (src/async/threadpool.c): a
 * reactor made and freed with timers and looping calls, call_from_thread, defer_to_thread and
 * block_on_reactor; each allocation in turn fails and the run must report WEFT_ENOMEM, not crash,
 * and leave nothing allocated. Real reactors (the backend of $WEFT_REACTOR), real threads. */
#include <pthread.h>
#include <time.h>

#include "base/alloc_sweep.h"
#include "check.h"
#include "weft/alloc.h"
#include "weft/deferred.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/reactor.h"
#include "weft/threads.h"

static weft_log_publisher *quiet; /* made before any sweep: not counted */

static int reactor_new_quiet(weft_reactor **r) {
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.log = quiet;
  return weft_reactor_new(r, &o);
}

static int failure_rc(const weft_failure *f) {
  for (const weft_failure *g = f; g; g = weft_failure_cause(g))
    if (weft_failure_check(g, WEFT_FAILURE_DOMAIN, WEFT_ENOMEM)) return WEFT_ENOMEM;
  return weft_failure_code(f) ? weft_failure_code(f) : WEFT_EINVAL;
}

/* ---- timers and looping calls ---- */

typedef struct ticks {
  int timers, loops;
} ticks;

static void on_timer(void *arg) { ((ticks *)arg)->timers++; }

static void on_loop(weft_looping_call *lc, uint64_t count, void *arg) {
  (void)lc;
  ((ticks *)arg)->loops += (int)count;
}

static int timers(void *arg) {
  (void)arg;
  weft_reactor *r = NULL;
  int rc = reactor_new_quiet(&r);
  if (rc) return rc;
  ticks t = {0, 0};
  weft_looping_call *lc = NULL;
  for (int i = 0; i < 40 && !rc; i++) /* enough to grow the heap */
    if (!weft_reactor_call_later(r, i % 2 ? 0 : 3600, on_timer, &t)) rc = WEFT_ENOMEM;
  if (!rc) rc = weft_looping_call_new(&lc, r, on_loop, &t);
  if (!rc) rc = weft_looping_call_start(lc, 0.001, true);
  for (int i = 0; i < 200 && !rc && (t.timers < 20 || t.loops < 2); i++) weft_reactor_iterate(r, 0.01);
  if (!rc && (t.timers != 20 || t.loops < 2)) rc = WEFT_EINVAL;
  weft_looping_call_free(lc);
  int fr = weft_reactor_free(r); /* cancels the 20 calls an hour away */
  return rc ? rc : fr;
}

/* ---- call_from_thread ---- */

typedef struct from_thread {
  weft_reactor *r;
  int rc, ran;
} from_thread;

static void count_call(void *arg) { ((from_thread *)arg)->ran++; }

static void *caller(void *arg) {
  from_thread *ft = arg;
  for (int i = 0; i < 5 && !ft->rc; i++) ft->rc = weft_reactor_call_from_thread(ft->r, count_call, ft);
  return NULL;
}

static int call_from_thread(void *arg) {
  (void)arg;
  from_thread ft = {0};
  int rc = reactor_new_quiet(&ft.r);
  if (rc) return rc;
  pthread_t th;
  REQUIRE(pthread_create(&th, NULL, caller, &ft) == 0);
  pthread_join(th, NULL);
  int it = 0;
  for (int i = 0; i < 100 && ft.ran < (ft.rc ? 0 : 5); i++) {
    int e = weft_reactor_iterate(ft.r, 0.01);
    if (e < 0) it = e;
  }
  rc = ft.rc ? ft.rc : ft.ran != 5 ? it : 0;
  if (!rc && ft.ran != 5) rc = WEFT_EINVAL;
  int fr = weft_reactor_free(ft.r);
  return rc ? rc : fr;
}

/* ---- defer_to_thread and block_on_reactor ---- */

static weft_value square(void *arg) {
  (void)arg;
  return weft_int(12 * 12);
}

static bool timer_pending; /* make_later's timer has not fired yet */

/* the timer holds a reference of its own */
static void fire_it(void *arg) {
  timer_pending = false;
  weft_deferred_callback(arg, weft_int(1));
  weft_deferred_unref(arg);
}

static weft_value plus_one(weft_value v, void *arg) {
  (void)arg;
  return v.kind == WEFT_VALUE_INT ? weft_int(v.v.i + 1) : v;
}

/* On the reactor thread for block_on_reactor: a Deferred that already has two steps (so the
 * blocking call's step makes its array grow) and fires on a later turn. */
static bool make_later_oom; /* make_later could not make its Deferred */

static weft_deferred *make_later(void *arg) {
  weft_reactor *r = arg;
  weft_deferred *d = weft_deferred_new(weft_reactor_log(r));
  if (!d) {
    make_later_oom = true; /* block_on_reactor's WEFT_EINVAL "no Deferred" is out of memory here */
    return NULL;
  }
  weft_deferred_add_callback(d, plus_one, NULL);
  weft_deferred_add_callback(d, plus_one, NULL);
  if (!weft_reactor_call_later(r, 0.001, fire_it, d)) {
    weft_deferred_errback(d, weft_failure_from_error(WEFT_ENOMEM));
    return d;
  }
  timer_pending = true;
  return weft_deferred_ref(d); /* one for the timer, one handed over */
}


typedef struct blocker {
  weft_reactor *r;
} blocker;

static weft_value blocking_job(void *arg) {
  blocker *b = arg;
  weft_value v = weft_block_on_reactor(b->r, make_later, b->r);
  return v;
}

static int threads(void *arg) {
  (void)arg;
  weft_reactor *r = NULL;
  int rc = reactor_new_quiet(&r);
  if (rc) return rc;
  blocker b = {r};
  make_later_oom = timer_pending = false;
  weft_deferred *d1 = weft_defer_to_thread(r, square, NULL);
  weft_deferred *d2 = weft_defer_to_thread(r, blocking_job, &b);
  for (int i = 0; i < 200 && (timer_pending || !((!d1 || weft_deferred_called(d1)) && (!d2 || weft_deferred_called(d2)))); i++)
    weft_reactor_iterate(r, 0.01);
  int outcomes[2] = {WEFT_ENOMEM, WEFT_ENOMEM};
  int64_t want[2] = {144, 3};
  weft_deferred *ds[2] = {d1, d2};
  for (int i = 0; i < 2; i++) {
    if (!ds[i]) continue;
    weft_value v;
    int t = weft_deferred_take_result(ds[i], &v);
    if (t) outcomes[i] = WEFT_ETIMEDOUT; /* never fired: a thread is stuck */
    else if (v.kind == WEFT_VALUE_FAILURE) outcomes[i] = failure_rc(v.v.f);
    else outcomes[i] = v.kind == WEFT_VALUE_INT && v.v.i == want[i] ? 0 : WEFT_EINVAL;
    if (outcomes[i] == WEFT_EINVAL && make_later_oom) outcomes[i] = WEFT_ENOMEM;
    weft_value_release(v);
    weft_deferred_unref(ds[i]);
  }
  rc = outcomes[0] ? outcomes[0] : outcomes[1];
  if (outcomes[0] == WEFT_ETIMEDOUT || outcomes[1] == WEFT_ETIMEDOUT) {
    CHECK_FAIL_("a Deferred of the thread pool never fired");
    return WEFT_ETIMEDOUT; /* the reactor cannot be freed under a blocked thread: leak it */
  }
  weft_threadpool_stop(r);
  weft_threadpool_stats st;
  for (int i = 0; i < 500; i++) {
    weft_threadpool_stats_get(r, &st);
    if (!st.exists) break;
    weft_reactor_iterate(r, 0.01);
  }
  int fr = weft_reactor_free(r);
  return rc ? rc : fr;
}

int main(void) {
  REQUIRE(weft_test_allocator_install() == 0);
  REQUIRE(weft_log_publisher_new(&quiet) == 0);
  REQUIRE(weft_log_add_observer(quiet, WEFT_LOG_DEBUG, alloc_sweep_quiet, NULL) == 0);
  alloc_sweep("timers", timers, NULL);
  alloc_sweep("call_from_thread", call_from_thread, NULL);
  /* with every allocation after the k-th failing too, the jobs still finish: a worker reports to
   * the reactor with a call allocated when its job was queued (threadpool.c) */
  alloc_sweep("threads", threads, NULL);
  weft_log_publisher_free(quiet);
  weft_test_alloc_stats st;
  weft_test_allocator_stats(&st);
  CHECK_INT(st.live, 0);
  return CHECK_DONE();
}
