/* Tests src/reactor/threads.c (Twisted's callFromThread): calls from other threads run on the
 * reactor's thread, in each thread's order, and wake a sleeping reactor. */
#include <pthread.h>

#include "fixture.h"

#define NTHREADS 4
#define NCALLS 1000

typedef struct shared {
  weft_reactor *r;
  pthread_t reactor_thread;
  int last[NTHREADS]; /* last sequence number seen per thread */
  int total;
  int wrong_thread, out_of_order, enqueue_failures;
} shared;

typedef struct producer {
  shared *sh;
  int id;
  pthread_t thread;
} producer;

/* One call: which thread made it and its number there, packed so no allocation is needed. */
static shared *the_shared;

static void on_call(void *arg) {
  shared *sh = the_shared;
  intptr_t v = (intptr_t)arg;
  int id = (int)(v / (NCALLS + 1)), n = (int)(v % (NCALLS + 1));
  if (!pthread_equal(pthread_self(), sh->reactor_thread)) sh->wrong_thread++;
  if (n != sh->last[id] + 1) sh->out_of_order++;
  sh->last[id] = n;
  sh->total++;
}

static void *produce(void *arg) {
  producer *p = arg;
  for (int n = 1; n <= NCALLS; n++) {
    intptr_t v = (intptr_t)p->id * (NCALLS + 1) + n;
    if (weft_reactor_call_from_thread(p->sh->r, on_call, (void *)v) != 0)
      __atomic_add_fetch(&p->sh->enqueue_failures, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void test_calls_from_threads_run_on_reactor_in_order(void) {
  weft_reactor *r = new_real_reactor();
  shared sh = {.r = r, .reactor_thread = pthread_self()};
  the_shared = &sh;
  producer ps[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    ps[i] = (producer){&sh, i, 0};
    REQUIRE(pthread_create(&ps[i].thread, NULL, produce, &ps[i]) == 0);
  }
  double t0 = wall_seconds();
  while (sh.total < NTHREADS * NCALLS && wall_seconds() - t0 < 5.0) weft_reactor_iterate(r, 0.05);
  for (int i = 0; i < NTHREADS; i++) pthread_join(ps[i].thread, NULL);
  CHECK_INT(sh.enqueue_failures, 0);
  CHECK_INT(sh.total, NTHREADS * NCALLS);
  CHECK_INT(sh.wrong_thread, 0);
  CHECK_INT(sh.out_of_order, 0);
  for (int i = 0; i < NTHREADS; i++) CHECK_INT(sh.last[i], NCALLS);
  CLOSE_CLEAN(r);
}

typedef struct waker {
  weft_reactor *r;
  int woke;
  pthread_t thread;
} waker;

static void mark_woken(void *arg) { ((waker *)arg)->woke = 1; }

static void *wake_later(void *arg) {
  waker *w = arg;
  /* give the reactor time to go to sleep first: this is what the test is about */
  nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
  if (weft_reactor_call_from_thread(w->r, mark_woken, w) != 0) abort();
  return NULL;
}

static void test_wakes_reactor_sleeping_forever(void) {
  weft_reactor *r = new_real_reactor();
  waker w = {.r = r};
  int watchdog_fired = 0;
  /* iterate(-1) sleeps until something happens; the watchdog makes sure something does */
  weft_delayed_call *watchdog = weft_reactor_call_later(r, 5.0, count_arg, &watchdog_fired);
  REQUIRE(watchdog);
  REQUIRE(pthread_create(&w.thread, NULL, wake_later, &w) == 0);
  double t0 = wall_seconds();
  for (int i = 0; i < 100 && !w.woke && !watchdog_fired; i++) weft_reactor_iterate(r, -1);
  double took = wall_seconds() - t0;
  pthread_join(w.thread, NULL);
  CHECK_INT(w.woke, 1);
  CHECK_INT(watchdog_fired, 0);
  CHECK(took < 2.0);
  if (!watchdog_fired) weft_delayed_call_cancel(watchdog);
  CLOSE_CLEAN(r);
}

typedef struct self_caller {
  weft_reactor *r;
  int stage;
} self_caller;

static void second(void *arg) { ((self_caller *)arg)->stage = 2; }

static void first(void *arg) {
  self_caller *s = arg;
  s->stage = 1;
  /* from the reactor thread itself: queued like any other, not run re-entrantly */
  REQUIRE(weft_reactor_call_from_thread(s->r, second, s) == 0);
  CHECK_INT(s->stage, 1);
}

static void test_call_from_reactor_thread_runs_next_turn(void) {
  weft_reactor *r = new_real_reactor();
  self_caller s = {r, 0};
  REQUIRE(weft_reactor_call_from_thread(r, first, &s) == 0);
  CHECK_INT(s.stage, 0);
  for (int i = 0; i < 100 && s.stage < 1; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(s.stage, 1);
  for (int i = 0; i < 100 && s.stage < 2; i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(s.stage, 2);
  CLOSE_CLEAN(r);
}

static void test_calls_never_run_are_dropped_at_free(void) {
  weft_reactor *r = new_real_reactor();
  int ran = 0;
  for (int i = 0; i < 10; i++) REQUIRE(weft_reactor_call_from_thread(r, count_arg, &ran) == 0);
  CLOSE_CLEAN(r); /* ASan's leak check sees that the queued calls were freed */
  CHECK_INT(ran, 0);
}

int main(void) {
  RUN(test_calls_from_threads_run_on_reactor_in_order);
  RUN(test_wakes_reactor_sleeping_forever);
  RUN(test_call_from_reactor_thread_runs_next_turn);
  RUN(test_calls_never_run_are_dropped_at_free);
  return CHECK_DONE();
}
