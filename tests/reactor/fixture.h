/* fixture.h: what the reactor tests share: a manual clock the test advances by hand (the
 * reactor-level stand-in for Twisted's task.Clock), a call log, and the clean-close check. */
#ifndef WEFT_TESTS_REACTOR_FIXTURE_H
#define WEFT_TESTS_REACTOR_FIXTURE_H

#include <stdint.h>
#include <time.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/reactor.h"

/* Starts away from 0 so that a test cannot pass by confusing "time 0" with "not set". */
#define MANUAL_ORIGIN_NS ((int64_t)1000 * 1000000000)

typedef struct manual_clock {
  int64_t ns;
  weft_clock clock;
} manual_clock;

static inline int64_t manual_now(void *user) { return ((manual_clock *)user)->ns; }

static inline void manual_advance(manual_clock *c, double seconds) {
  c->ns += (int64_t)(seconds * 1e9 + 0.5);
}

/* A reactor on the backend $WEFT_REACTOR names, driven by c (reset to the origin). */
static inline weft_reactor *new_manual_reactor(manual_clock *c) {
  c->ns = MANUAL_ORIGIN_NS;
  c->clock.now_ns = manual_now;
  c->clock.user = c;
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.clock = &c->clock;
  weft_reactor *r = NULL;
  REQUIRE(weft_reactor_new(&r, &o) == 0 && r);
  return r;
}

/* A reactor on the real monotonic clock. */
static inline weft_reactor *new_real_reactor(void) {
  weft_reactor *r = NULL;
  REQUIRE(weft_reactor_new(&r, NULL) == 0 && r);
  return r;
}

/* Every test ends here: nothing left open, and the reactor frees. */
#define CLOSE_CLEAN(r)                                                                            \
  do {                                                                                            \
    CHECK_INT(weft_reactor_open_handles(r), 0);                                                   \
    CHECK_INT(weft_reactor_free(r), 0);                                                           \
  } while (0)

/* Wall time in seconds, for the few lenient checks on real waits. */
static inline double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The order callbacks ran in: each records an int. */
#define CALL_LOG_MAX 4096
__attribute__((unused)) static int call_log[CALL_LOG_MAX];
__attribute__((unused)) static int call_log_len;

static inline void call_log_reset(void) { call_log_len = 0; }

static inline void call_log_add(int v) {
  REQUIRE(call_log_len < CALL_LOG_MAX);
  call_log[call_log_len++] = v;
}

/* A weft_callback recording (int)(intptr_t)arg. */
static inline void record_arg(void *arg) { call_log_add((int)(intptr_t)arg); }

/* A weft_callback counting its calls in the int at arg. */
static inline void count_arg(void *arg) { (*(int *)arg)++; }

#define CHECK_LOG(...)                                                                            \
  do {                                                                                            \
    const int check_want_[] = {__VA_ARGS__};                                                      \
    size_t check_n_ = sizeof check_want_ / sizeof check_want_[0];                                 \
    CHECK_INT(call_log_len, check_n_);                                                            \
    for (size_t check_i_ = 0; check_i_ < check_n_ && check_i_ < (size_t)call_log_len; check_i_++) \
      if (call_log[check_i_] != check_want_[check_i_])                                            \
        CHECK_FAIL_("call_log[%zu] is %d, want %d", check_i_, call_log[check_i_],                 \
                    check_want_[check_i_]);                                                       \
  } while (0)

#endif
