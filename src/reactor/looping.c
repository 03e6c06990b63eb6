/* looping.c: calls repeated at an interval (Twisted's task.LoopingCall with withCount). The
 * schedule is a grid (start + k * interval), so calls do not drift; when the reactor was late,
 * the callback gets the number of intervals that passed and the missed ones are skipped. */
#include <math.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

struct weft_looping_call {
  weft_reactor *r;
  weft_looping_fn fn;
  void *arg;
  weft_delayed_call *dc;
  int64_t start, interval; /* ns */
  int64_t last_tick;       /* grid index of the previous call */
  bool running, in_fn, free_after;
};

int weft_looping_call_new(weft_looping_call **out, weft_reactor *r, weft_looping_fn fn, void *arg) {
  if (!fn) return WEFT_EINVAL;
  weft_looping_call *lc = weft__calloc(1, sizeof *lc);
  if (!lc) return WEFT_ENOMEM;
  lc->r = r;
  lc->fn = fn;
  lc->arg = arg;
  *out = lc;
  return 0;
}

static void tick(void *arg);

/* Schedules the call at the next grid point after now. */
static int schedule_next(weft_looping_call *lc) {
  int64_t now = weft__reactor_now_ns(lc->r);
  int64_t next_tick = (now - lc->start) / lc->interval + 1;
  if (next_tick <= lc->last_tick) next_tick = lc->last_tick + 1;
  double delay = (double)(lc->start + next_tick * lc->interval - now) / 1e9;
  lc->dc = weft_reactor_call_later(lc->r, delay, tick, lc);
  return lc->dc ? 0 : WEFT_ENOMEM;
}

static void tick(void *arg) {
  weft_looping_call *lc = arg;
  lc->dc = NULL;
  int64_t now = weft__reactor_now_ns(lc->r);
  int64_t this_tick = (now - lc->start) / lc->interval;
  uint64_t count = this_tick > lc->last_tick ? (uint64_t)(this_tick - lc->last_tick) : 1;
  lc->last_tick = this_tick > lc->last_tick ? this_tick : lc->last_tick + 1;
  lc->in_fn = true;
  lc->fn(lc, count, lc->arg);
  lc->in_fn = false;
  if (lc->free_after) {
    weft__free(lc);
    return;
  }
  if (lc->running && !lc->dc && schedule_next(lc) != 0) {
    lc->running = false;
    weft_log_emit(weft_reactor_log(lc->r), WEFT_LOG_ERROR, "weft.looping",
                  "looping call stopped: {error}", WEFT_LOG_ERR("error", WEFT_ENOMEM), WEFT_LOG_END);
  }
}

int weft_looping_call_start(weft_looping_call *lc, double interval, bool now) {
  if (!(interval > 0) || isinf(interval)) return WEFT_EINVAL;
  if (lc->running) return WEFT_EALREADY;
  /* capped (at ~31 years) so the grid arithmetic cannot overflow: such a call never comes */
  lc->interval = interval < 1e9 ? (int64_t)(interval * 1e9 + 0.5) : (int64_t)1000000000 * 1000000000;
  if (lc->interval <= 0) lc->interval = 1;
  lc->start = weft__reactor_now_ns(lc->r);
  lc->running = true;
  if (now) {
    lc->last_tick = -1; /* the call at tick 0 counts one interval */
    lc->dc = weft_reactor_call_soon(lc->r, tick, lc);
    if (!lc->dc) lc->running = false;
    return lc->dc ? 0 : WEFT_ENOMEM;
  }
  lc->last_tick = 0;
  int rc = schedule_next(lc);
  if (rc) lc->running = false;
  return rc;
}

int weft_looping_call_stop(weft_looping_call *lc) {
  if (!lc->running) return WEFT_EALREADY;
  lc->running = false;
  if (lc->dc) weft_delayed_call_cancel(lc->dc);
  lc->dc = NULL;
  return 0;
}

bool weft_looping_call_running(const weft_looping_call *lc) { return lc->running; }

void weft_looping_call_free(weft_looping_call *lc) {
  if (!lc) return;
  if (lc->running) weft_looping_call_stop(lc);
  if (lc->in_fn) lc->free_after = true;
  else weft__free(lc);
}
