/* Tests src/reactor/reactor.c (Twisted's ReactorBase): run/stop, iterate, backend choice, the
 * clock as I/O callbacks see it, and freeing. */
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fixture.h"
#include "reactor/reactor_internal.h"

/* ---- run and stop ---- */

typedef struct stopper {
  weft_reactor *r;
  bool running_inside;
  int nested_run_rc;
} stopper;

static void stop_it(void *arg) {
  stopper *s = arg;
  s->running_inside = weft_reactor_running(s->r);
  s->nested_run_rc = weft_reactor_run(s->r);
  call_log_add(1);
  weft_reactor_stop(s->r);
  weft_reactor_stop(s->r); /* twice is harmless */
  /* a call for the next turn: the reactor stops before it */
  REQUIRE(weft_reactor_call_soon(s->r, record_arg, (void *)9));
}

static void test_run_until_stop(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  stopper s = {.r = r};
  weft_reactor_stop(r); /* not running: ignored, so it cannot stop the run below at once */
  REQUIRE(weft_reactor_call_soon(r, stop_it, &s));
  REQUIRE(weft_reactor_call_soon(r, record_arg, (void *)2));
  CHECK(!weft_reactor_running(r));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK(!weft_reactor_running(r));
  CHECK(s.running_inside);
  CHECK_INT(s.nested_run_rc, WEFT_ESTATE);
  /* stop finished the turn (2 ran after the stopping call) but no new turn began (9 did not) */
  CHECK_LOG(1, 2);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  weft_reactor_iterate(r, 0);
  CHECK_LOG(1, 2, 9);
  /* the reactor can run again after a stop */
  REQUIRE(weft_reactor_call_soon(r, stop_it, &s));
  CHECK_INT(weft_reactor_run(r), 0);
  CHECK_LOG(1, 2, 9, 1);
  weft_reactor_iterate(r, 0);
  CLOSE_CLEAN(r);
}

/* ---- iterate ---- */

static void test_iterate_zero_does_not_block(void) {
  weft_reactor *r = new_real_reactor();
  int ran = 0;
  weft_delayed_call *far = weft_reactor_call_later(r, 30, count_arg, &ran);
  REQUIRE(far);
  double t0 = wall_seconds();
  for (int i = 0; i < 10; i++) CHECK_INT(weft_reactor_iterate(r, 0), 0);
  CHECK(wall_seconds() - t0 < 1.0);
  CHECK_INT(ran, 0);
  weft_delayed_call_cancel(far);
  t0 = wall_seconds();
  CHECK_INT(weft_reactor_iterate(r, 0), 0); /* nothing at all pending: still returns at once */
  CHECK(wall_seconds() - t0 < 1.0);
  CLOSE_CLEAN(r);
}

static void test_iterate_odd_timeouts(void) {
  weft_reactor *r = new_real_reactor();
  call_log_reset();
  /* a due call means no wait, however long the timeout; nothing may overflow on the way */
  REQUIRE(weft_reactor_call_soon(r, record_arg, (void *)1));
  CHECK_INT(weft_reactor_iterate(r, 1e300), 1);
  REQUIRE(weft_reactor_call_soon(r, record_arg, (void *)2));
  CHECK_INT(weft_reactor_iterate(r, NAN), 1);
  double t0 = wall_seconds();
  CHECK_INT(weft_reactor_iterate(r, NAN), 0); /* NaN is no timeout: do not wait */
  CHECK(wall_seconds() - t0 < 1.0);
  CHECK_LOG(1, 2);
  CLOSE_CLEAN(r);
}

static void test_iterate_timeout_waits_about_that_long(void) {
  weft_reactor *r = new_real_reactor();
  double t0 = wall_seconds();
  CHECK_INT(weft_reactor_iterate(r, 0.02), 0);
  double waited = wall_seconds() - t0;
  CHECK(waited >= 0.015);
  CHECK(waited < 2.0);
  /* a timer due sooner than the timeout ends the wait early and runs */
  call_log_reset();
  REQUIRE(weft_reactor_call_later(r, 0.01, record_arg, (void *)1));
  t0 = wall_seconds();
  for (int i = 0; i < 100 && call_log_len == 0; i++) weft_reactor_iterate(r, 5.0);
  waited = wall_seconds() - t0;
  CHECK_LOG(1);
  CHECK(waited >= 0.005);
  CHECK(waited < 2.0);
  CLOSE_CLEAN(r);
}

/* I/O callbacks run after the wait: the time they see and schedule from is the time after it. */
typedef struct timed_io {
  weft__io io;
  weft_reactor *r;
  double seen;
  int fired;
} timed_io;

static void timed_io_ready(weft__io *io, unsigned revents) {
  (void)revents;
  timed_io *t = (timed_io *)io;
  char buf[16];
  while (read(io->fd, buf, sizeof buf) > 0) {
  }
  t->seen = weft_reactor_seconds(t->r);
  REQUIRE(weft_reactor_call_later(t->r, 1.0, count_arg, &t->fired));
}

static void test_io_callbacks_see_time_after_wait(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  timed_io t = {.io = {.fd = fds[0], .cb = timed_io_ready}, .r = r};
  REQUIRE(weft__io_set(r, &t.io, WEFT__READ) == 0);
  weft_reactor_iterate(r, 0);
  /* the reactor was idle for 10 s (time passes), then data arrives */
  manual_advance(&c, 10.0);
  REQUIRE(write(fds[1], "x", 1) == 1);
  weft_reactor_iterate(r, 0);
  CHECK(t.seen == (MANUAL_ORIGIN_NS + 10000000000) / 1e9);
  CHECK_INT(t.fired, 0); /* scheduled 1 s after the data, not 1 s after the previous turn */
  CHECK_INT(weft_reactor_open_handles(r), 1);
  manual_advance(&c, 1.0);
  weft_reactor_iterate(r, 0);
  CHECK_INT(t.fired, 1);
  weft__io_stop(r, &t.io);
  close(fds[0]);
  close(fds[1]);
  CLOSE_CLEAN(r);
}

static void slow_callback(void *arg) { manual_advance(arg, 1.0); }

/* The wait is computed from the time after the turn's callbacks, not before them: a slow turn
 * must not make the next timer late. */
static void test_slow_turn_does_not_delay_next_timer(void) {
  manual_clock c;
  weft_reactor *r = new_manual_reactor(&c);
  call_log_reset();
  REQUIRE(weft_reactor_call_later(r, 1.0, record_arg, (void *)1));
  REQUIRE(weft_reactor_call_soon(r, slow_callback, &c));
  weft_reactor_iterate(r, 0); /* the slow callback "takes" 1 s */
  CHECK_INT(call_log_len, 0);
  double t0 = wall_seconds();
  weft_reactor_iterate(r, 10.0); /* the timer is due now: no 1 s sleep */
  CHECK(wall_seconds() - t0 < 0.5);
  CHECK_LOG(1);
  CLOSE_CLEAN(r);
}

/* ---- freeing ---- */

static void on_signal_ignored(weft_reactor *r, int signo, void *arg) {
  (void)r;
  (void)signo;
  (void)arg;
}

static void test_free_is_busy_with_open_handles(void) {
  weft_reactor *r = new_real_reactor();
  weft_signal_watch *w = NULL;
  REQUIRE(weft_reactor_watch_signal(&w, r, SIGUSR2, on_signal_ignored, NULL) == 0);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  CHECK_INT(weft_reactor_free(r), WEFT_EBUSY);
  /* nothing was freed: the reactor still works */
  call_log_reset();
  REQUIRE(weft_reactor_call_soon(r, record_arg, (void *)1));
  weft_reactor_iterate(r, 0);
  CHECK_LOG(1);
  weft_signal_watch_free(w);
  CHECK_INT(weft_reactor_free(NULL), 0);
  CLOSE_CLEAN(r);
}

/* ---- backends ---- */

static void test_bogus_weft_reactor_env_is_einval(void) {
  const char *old = getenv("WEFT_REACTOR");
  char *saved = old ? strdup(old) : NULL;
  REQUIRE(setenv("WEFT_REACTOR", "bogus", 1) == 0);
  weft_reactor *r = NULL;
  CHECK_INT(weft_reactor_new(&r, NULL), WEFT_EINVAL);
  CHECK(r == NULL);
  /* an explicit backend does not consult the environment */
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.backend = WEFT_BACKEND_POLL;
  REQUIRE(weft_reactor_new(&r, &o) == 0);
  CHECK_STR(weft_reactor_backend_name(r), "poll");
  CLOSE_CLEAN(r);
  if (saved) setenv("WEFT_REACTOR", saved, 1);
  else unsetenv("WEFT_REACTOR");
  free(saved);
}

static void test_backend_option_chooses_backend(void) {
  static const struct {
    weft_backend b;
    const char *name;
  } all[] = {{WEFT_BACKEND_EPOLL, "epoll"}, {WEFT_BACKEND_KQUEUE, "kqueue"}, {WEFT_BACKEND_POLL, "poll"}};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    weft_backend parsed = WEFT_BACKEND_DEFAULT;
    CHECK_INT(weft_backend_parse(all[i].name, &parsed), 0);
    CHECK_INT(parsed, all[i].b);
    weft_reactor_options o;
    weft_reactor_options_init(&o);
    o.backend = all[i].b;
    weft_reactor *r = NULL;
    int rc = weft_reactor_new(&r, &o);
    if (!weft_backend_available(all[i].b)) {
      CHECK_INT(rc, WEFT_EBACKEND);
      continue;
    }
    REQUIRE(rc == 0);
    CHECK_STR(weft_reactor_backend_name(r), all[i].name);
    /* the backend really works: a timer with a real wait */
    call_log_reset();
    REQUIRE(weft_reactor_call_later(r, 0.001, record_arg, (void *)1));
    for (int k = 0; k < 1000 && call_log_len == 0; k++) weft_reactor_iterate(r, 1.0);
    CHECK_LOG(1);
    CLOSE_CLEAN(r);
  }
  weft_backend b;
  CHECK_INT(weft_backend_parse("select", &b), WEFT_EINVAL);
  CHECK_INT(weft_backend_parse(NULL, &b), WEFT_EINVAL);
}

static void test_new_reports_setup_errno(void) {
  struct rlimit old;
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  int lowest_free = dup(0);
  REQUIRE(lowest_free >= 0);
  close(lowest_free);
  /* every descriptor below lowest_free is taken: with this limit no new one can be made, or
   * just one (then epoll's own descriptor works and the wake-up's fails) */
  for (int spare = 0; spare <= 1; spare++) {
    struct rlimit few = {(rlim_t)(lowest_free + spare), old.rlim_max};
    REQUIRE(setrlimit(RLIMIT_NOFILE, &few) == 0);
    weft_reactor *r = NULL;
    int rc = weft_reactor_new(&r, NULL);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
    if (spare == 1 && rc == 0) { /* poll needs only the wake-up descriptor */
      CHECK_STR(weft_reactor_backend_name(r), "poll");
      CLOSE_CLEAN(r);
      continue;
    }
    CHECK_INT(rc, WEFT_EMFILE);
    CHECK(r == NULL);
    /* nothing leaked: the next descriptor is the same one (ASan checks the memory) */
    int again = dup(0);
    CHECK_INT(again, lowest_free);
    close(again);
  }
}

static void test_backend_available(void) {
  CHECK(weft_backend_available(WEFT_BACKEND_POLL));
#ifdef __linux__
  CHECK(weft_backend_available(WEFT_BACKEND_EPOLL));
  CHECK(!weft_backend_available(WEFT_BACKEND_KQUEUE));
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  CHECK(weft_backend_available(WEFT_BACKEND_KQUEUE));
#endif
  /* the suite runs once per backend through $WEFT_REACTOR: check it really gets that backend */
  const char *env = getenv("WEFT_REACTOR");
  if (env && *env) {
    weft_reactor *r = new_real_reactor();
    CHECK_STR(weft_reactor_backend_name(r), env);
    CLOSE_CLEAN(r);
  }
}

/* ---- tasks: a task may cancel another of the same batch ---- */

typedef struct task_pair {
  weft_reactor *r;
  weft__task first, second;
  int ran_first, ran_second;
} task_pair;

static void first_fn(weft__task *t) {
  task_pair *p = (task_pair *)((char *)t - offsetof(task_pair, first));
  p->ran_first++;
  weft__task_cancel(p->r, &p->second); /* queued behind us in the batch being run */
}
static void second_fn(weft__task *t) {
  task_pair *p = (task_pair *)((char *)t - offsetof(task_pair, second));
  p->ran_second++;
}

/* A task that cancels another queued in the same turn (the memory pipe frees both ends of a
 * connection from one end's task) must take it out of the batch: the cancelled one never runs,
 * and its memory may go at once. Before, the batch's loop still held it and ran or read it. */
static void test_task_cancels_another_of_its_batch(void) {
  task_pair *p = calloc(1, sizeof *p);
  REQUIRE(p);
  REQUIRE(weft_reactor_new(&p->r, NULL) == 0);
  p->first.fn = first_fn;
  p->second.fn = second_fn;
  weft__task_queue(p->r, &p->first);
  weft__task_queue(p->r, &p->second);
  weft_reactor_iterate(p->r, 0);
  CHECK_INT(p->ran_first, 1);
  CHECK_INT(p->ran_second, 0);
  /* both can be queued again and run */
  weft__task_queue(p->r, &p->second);
  weft_reactor_iterate(p->r, 0);
  CHECK_INT(p->ran_second, 1);
  CHECK_INT(weft_reactor_free(p->r), 0);
  free(p);
}

int main(void) {
  RUN(test_run_until_stop);
  RUN(test_iterate_zero_does_not_block);
  RUN(test_iterate_odd_timeouts);
  RUN(test_iterate_timeout_waits_about_that_long);
  RUN(test_io_callbacks_see_time_after_wait);
  RUN(test_slow_turn_does_not_delay_next_timer);
  RUN(test_free_is_busy_with_open_handles);
  RUN(test_bogus_weft_reactor_env_is_einval);
  RUN(test_backend_option_chooses_backend);
  RUN(test_new_reports_setup_errno);
  RUN(test_backend_available);
  RUN(test_task_cancels_another_of_its_batch);
  return CHECK_DONE();
}
