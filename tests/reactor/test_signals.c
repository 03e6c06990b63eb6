/* Tests src/reactor/signals.c (Twisted's signal handling): delivery as a callback on the reactor
 * thread, several watches, freeing inside the callback, restoring the previous disposition. */
#include <signal.h>

#include "fixture.h"

typedef struct watcher {
  weft_reactor *r;
  weft_signal_watch *w;
  int calls;
  int signo;
  weft_reactor *seen_r;
  struct watcher **free_these; /* NULL-terminated: watches to free when called */
} watcher;

static void on_sig(weft_reactor *r, int signo, void *arg) {
  watcher *w = arg;
  w->calls++;
  w->signo = signo;
  w->seen_r = r;
  for (watcher **p = w->free_these; p && *p; p++) {
    if ((*p)->w) weft_signal_watch_free((*p)->w);
    (*p)->w = NULL;
  }
}

/* Turns the reactor until *count reaches n; bounded so a lost signal fails instead of hanging. */
static void turn_until(weft_reactor *r, const int *count, int n) {
  double t0 = wall_seconds();
  for (int i = 0; i < 1000 && *count < n && wall_seconds() - t0 < 2.0; i++) weft_reactor_iterate(r, 0.01);
}

static void watch(weft_reactor *r, watcher *w, int signo) {
  w->r = r;
  REQUIRE(weft_reactor_watch_signal(&w->w, r, signo, on_sig, w) == 0 && w->w);
}

static void test_raise_is_delivered_on_next_turn(void) {
  weft_reactor *r = new_real_reactor();
  watcher a = {0};
  watch(r, &a, SIGUSR1);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  REQUIRE(raise(SIGUSR1) == 0);
  CHECK_INT(a.calls, 0); /* not from inside the handler */
  turn_until(r, &a.calls, 1);
  CHECK_INT(a.calls, 1);
  CHECK_INT(a.signo, SIGUSR1);
  CHECK(a.seen_r == r);
  /* delivered again for a later signal */
  REQUIRE(raise(SIGUSR1) == 0);
  turn_until(r, &a.calls, 2);
  CHECK_INT(a.calls, 2);
  weft_signal_watch_free(a.w);
  CLOSE_CLEAN(r);
}

static void test_two_watches_both_called(void) {
  weft_reactor *r = new_real_reactor();
  watcher a = {0}, b = {0}, other = {0};
  watch(r, &a, SIGUSR1);
  watch(r, &b, SIGUSR1);
  watch(r, &other, SIGUSR2);
  CHECK_INT(weft_reactor_open_handles(r), 3);
  REQUIRE(raise(SIGUSR1) == 0);
  for (int i = 0; i < 1000 && !(a.calls && b.calls); i++) weft_reactor_iterate(r, 0.01);
  CHECK_INT(a.calls, 1);
  CHECK_INT(b.calls, 1);
  CHECK_INT(other.calls, 0); /* another signal's watch is not called */
  weft_signal_watch_free(a.w);
  weft_signal_watch_free(b.w);
  weft_signal_watch_free(other.w);
  CLOSE_CLEAN(r);
}

static void test_free_watches_inside_callback(void) {
  weft_reactor *r = new_real_reactor();
  watcher a = {0}, b = {0}, c = {0};
  /* whichever is called first frees all three: the others must not be called afterwards */
  watcher *all[] = {&a, &b, &c, NULL};
  a.free_these = b.free_these = c.free_these = all;
  watch(r, &a, SIGUSR1);
  watch(r, &b, SIGUSR1);
  watch(r, &c, SIGUSR1);
  REQUIRE(raise(SIGUSR1) == 0);
  int total = 0;
  for (int i = 0; i < 1000 && total == 0; i++) {
    weft_reactor_iterate(r, 0.01);
    total = a.calls + b.calls + c.calls;
  }
  CHECK_INT(total, 1);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CLOSE_CLEAN(r);
}

static void test_freed_watch_before_turn_is_not_called(void) {
  weft_reactor *r = new_real_reactor();
  watcher a = {0}, b = {0};
  watch(r, &a, SIGUSR1);
  watch(r, &b, SIGUSR1);
  REQUIRE(raise(SIGUSR1) == 0);
  weft_signal_watch_free(a.w);
  turn_until(r, &b.calls, 1);
  CHECK_INT(b.calls, 1);
  CHECK_INT(a.calls, 0);
  weft_signal_watch_free(b.w);
  CLOSE_CLEAN(r);
}

static void previous_handler(int signo) { (void)signo; }

static void (*current_handler(int signo))(int) {
  struct sigaction sa;
  REQUIRE(sigaction(signo, NULL, &sa) == 0);
  return sa.sa_handler;
}

static void test_previous_disposition_returns_after_last_watch(void) {
  struct sigaction mine, saved;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = previous_handler;
  sigemptyset(&mine.sa_mask);
  REQUIRE(sigaction(SIGUSR2, &mine, &saved) == 0);
  weft_reactor *r = new_real_reactor();
  watcher a = {0}, b = {0};
  watch(r, &a, SIGUSR2);
  CHECK(current_handler(SIGUSR2) != previous_handler);
  watch(r, &b, SIGUSR2);
  weft_signal_watch_free(a.w);
  CHECK(current_handler(SIGUSR2) != previous_handler); /* b still watches */
  weft_signal_watch_free(b.w);
  CHECK(current_handler(SIGUSR2) == previous_handler);
  /* again, with the last watch freed inside its own callback */
  watch(r, &a, SIGUSR2);
  watcher *self[] = {&a, NULL};
  a.free_these = self;
  REQUIRE(raise(SIGUSR2) == 0);
  turn_until(r, &a.calls, 1);
  CHECK_INT(a.calls, 1);
  CHECK(current_handler(SIGUSR2) == previous_handler);
  CLOSE_CLEAN(r);
  REQUIRE(sigaction(SIGUSR2, &saved, NULL) == 0);
}

static void test_watch_on_two_reactors(void) {
  weft_reactor *r1 = new_real_reactor(), *r2 = new_real_reactor();
  watcher a = {0}, b = {0};
  watch(r1, &a, SIGUSR1);
  watch(r2, &b, SIGUSR1);
  REQUIRE(raise(SIGUSR1) == 0);
  turn_until(r1, &a.calls, 1);
  turn_until(r2, &b.calls, 1);
  CHECK_INT(a.calls, 1);
  CHECK_INT(b.calls, 1);
  CHECK(a.seen_r == r1);
  CHECK(b.seen_r == r2);
  weft_signal_watch_free(a.w);
  weft_signal_watch_free(b.w);
  CLOSE_CLEAN(r1);
  CLOSE_CLEAN(r2);
}

static void test_uncatchable_signals_are_einval(void) {
  weft_reactor *r = new_real_reactor();
  weft_signal_watch *w = NULL;
  CHECK_INT(weft_reactor_watch_signal(&w, r, SIGKILL, on_sig, NULL), WEFT_EINVAL);
  CHECK_INT(weft_reactor_watch_signal(&w, r, SIGSTOP, on_sig, NULL), WEFT_EINVAL);
  CHECK_INT(weft_reactor_watch_signal(&w, r, 0, on_sig, NULL), WEFT_EINVAL);
  CHECK_INT(weft_reactor_watch_signal(&w, r, 1000, on_sig, NULL), WEFT_EINVAL);
  CHECK_INT(weft_reactor_watch_signal(&w, r, SIGUSR1, NULL, NULL), WEFT_EINVAL);
  CHECK(w == NULL);
  CLOSE_CLEAN(r);
}

int main(void) {
  /* the disposition before any watch: a stray signal after a watch goes must not kill the test */
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  RUN(test_raise_is_delivered_on_next_turn);
  RUN(test_two_watches_both_called);
  RUN(test_free_watches_inside_callback);
  RUN(test_freed_watch_before_turn_is_not_called);
  RUN(test_previous_disposition_returns_after_last_watch);
  RUN(test_watch_on_two_reactors);
  RUN(test_uncatchable_signals_are_einval);
  return CHECK_DONE();
}
