/* Allocation-failure sweep over src/async/ (deferred.c, deferred_list.c, failure.c, timeouts.c,
 * coro.c): each scenario runs with the 1st, 2nd, ... allocation failing and must report
 * WEFT_ENOMEM (an error code or a Failure), not crash, and leave nothing allocated. */
#include "base/alloc_sweep.h"
#include "check.h"
#include "weft/alloc.h"
#include "weft/coro.h"
#include "weft/defer_time.h"
#include "weft/deferred.h"
#include "weft/deferred_list.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/testing.h"

static weft_log_publisher *quiet; /* made before any sweep: not counted */

/* WEFT_ENOMEM if out of memory shows anywhere in f's cause chain, else f's code. */
static int failure_rc(const weft_failure *f) {
  for (const weft_failure *g = f; g; g = weft_failure_cause(g))
    if (weft_failure_check(g, WEFT_FAILURE_DOMAIN, WEFT_ENOMEM)) return WEFT_ENOMEM;
  return weft_failure_code(f) ? weft_failure_code(f) : WEFT_EINVAL;
}

/* Takes d's result and drops d: 0 if it is int want, WEFT_ENOMEM for an out-of-memory Failure,
 * something else for anything else. */
static int outcome(weft_deferred *d, int64_t want) {
  weft_value v;
  int rc = weft_deferred_take_result(d, &v);
  if (rc == 0 && v.kind == WEFT_VALUE_FAILURE) rc = failure_rc(v.v.f);
  else if (rc == 0 && (v.kind != WEFT_VALUE_INT || v.v.i != want)) rc = WEFT_EINVAL;
  weft_value_release(v);
  weft_deferred_unref(d);
  return rc;
}

static weft_value add_one(weft_value v, void *arg) {
  (void)arg;
  if (v.kind != WEFT_VALUE_INT) return v;
  return weft_int(v.v.i + 1);
}

/* An errback that wraps the Failure in one of its own, as a layer adding context does. */
static weft_value wrap(weft_value v, void *arg) {
  (void)arg;
  weft_failure *f = weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EPARSE, "while adding %d", 1);
  return weft_failed(weft_failure_set_cause(f, v.v.f));
}

/* An errback that turns an EPROTO Failure back into a value, and lets others through. */
static weft_value recover(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, WEFT_FAILURE_DOMAIN, WEFT_EPARSE) || failure_rc(v.v.f) == WEFT_ENOMEM) return v;
  weft_value_release(v);
  return weft_int(100);
}

/* A callback returning a Deferred: fired already (adopted at once) or not (the chain pauses). */
static weft_value nested(weft_value v, void *arg) {
  weft_deferred **later = arg;
  if (v.kind != WEFT_VALUE_INT) return v;
  if (!later) {
    weft_deferred *in = weft_succeed(quiet, weft_int(v.v.i * 2));
    return in ? weft_chain(in) : weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  }
  *later = weft_deferred_new(quiet);
  if (!*later) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  return weft_chain(weft_deferred_ref(*later));
}

/* Callbacks past the inline steps, an inner Deferred, chain_to, a failure wrapped and recovered. */
static int chains(void *arg) {
  (void)arg;
  weft_deferred *d = weft_deferred_new(quiet), *other = weft_deferred_new(quiet), *later = NULL;
  if (!d || !other) {
    if (d) weft_deferred_unref(d);
    if (other) weft_deferred_unref(other);
    return WEFT_ENOMEM;
  }
  for (int i = 0; i < 20; i++) weft_deferred_add_callback(d, add_one, NULL); /* grows twice */
  weft_deferred_add_callback(d, nested, NULL);   /* 40 */
  weft_deferred_add_callback(d, nested, &later); /* pauses */
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_chain_to(d, other);
  weft_deferred_callback(d, weft_int(0));
  if (later) {
    weft_deferred_callback(later, weft_int(1000));
    weft_deferred_unref(later);
  }
  weft_deferred_unref(d);
  int rc = outcome(other, 1001);
  if (rc) return rc;

  /* a failure chain: wrapped, then recovered */
  d = weft_fail(quiet, weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_ECONNREFUSED, "refused by %s", "peer"));
  if (!d) return WEFT_ENOMEM;
  weft_deferred_add_errback(d, wrap, NULL);
  weft_deferred_add_errback(d, recover, NULL);
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_add_callback(d, add_one, NULL);
  return outcome(d, 102);
}

/* chain_to's step needs the step array to grow just when it is added. */
static int chain_to_growth(void *arg) {
  (void)arg;
  weft_deferred *d = weft_deferred_new(quiet), *other = weft_deferred_new(quiet);
  if (!d || !other) {
    weft_deferred_unref(d);
    weft_deferred_unref(other);
    return WEFT_ENOMEM;
  }
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_chain_to(d, other); /* the third step: the array grows */
  weft_deferred_callback(d, weft_int(0));
  weft_deferred_unref(d);
  return outcome(other, 2);
}

/* A Deferred list's step on an input whose two inline steps are taken. */
static int list_growth(void *arg) {
  (void)arg;
  int rc = 0;
  weft_deferred *in = weft_deferred_new(quiet);
  if (!in) return WEFT_ENOMEM;
  weft_deferred_add_callback(in, add_one, NULL);
  weft_deferred_add_callback(in, add_one, NULL);
  weft_deferred *mine = weft_deferred_ref(in);
  weft_deferred *agg = weft_gather(quiet, &in, 1, 0); /* its step is the third */
  weft_deferred_callback(mine, weft_int(0));
  weft_deferred_unref(mine);
  if (!agg) return rc ? rc : WEFT_ENOMEM;
  weft_value v;
  int rc2 = weft_deferred_take_result(agg, &v);
  if (!rc2 && v.kind == WEFT_VALUE_FAILURE) rc2 = failure_rc(v.v.f);
  else if (!rc2 && (!weft_result_list_of(v) || weft_result_list_get(weft_result_list_of(v), 0).v.i != 2)) rc2 = WEFT_EINVAL;
  weft_value_release(v);
  weft_deferred_unref(agg);
  return rc ? rc : rc2;
}

/* Three inputs: one fired before, two after; flags as given by arg. */
static int lists(void *arg) {
  int which = *(int *)arg;
  weft_deferred *in[3] = {weft_succeed(quiet, weft_int(1)), weft_deferred_new(quiet), weft_deferred_new(quiet)};
  if (!in[0] || !in[1] || !in[2]) {
    for (int i = 0; i < 3; i++)
      if (in[i]) weft_deferred_unref(in[i]);
    return WEFT_ENOMEM;
  }
  weft_deferred *mine[3] = {weft_deferred_ref(in[0]), weft_deferred_ref(in[1]), weft_deferred_ref(in[2])};
  weft_deferred *agg = which == 0   ? weft_deferred_list(quiet, in, 3, WEFT_CONSUME_ERRORS)
                       : which == 1 ? weft_gather(quiet, in, 3, 0)
                                    : weft_race(quiet, in + 1, 2);
  if (which == 2) weft_deferred_unref(in[0]);
  weft_deferred_callback(mine[1], weft_int(2));
  weft_deferred_callback(mine[2], weft_int(3));
  for (int i = 0; i < 3; i++) weft_deferred_unref(mine[i]);
  if (!agg) return WEFT_ENOMEM;
  weft_value v;
  int rc = weft_deferred_take_result(agg, &v);
  if (rc == 0 && v.kind == WEFT_VALUE_FAILURE) {
    rc = failure_rc(v.v.f);
  } else if (rc == 0 && which == 2) {
    weft_indexed_value *iv = weft_indexed_value_of(v);
    rc = iv && iv->index == 0 && iv->value.v.i == 2 ? 0 : WEFT_EINVAL;
  } else if (rc == 0) {
    weft_result_list *l = weft_result_list_of(v);
    for (size_t i = 0; l && i < 3 && rc == 0; i++) {
      weft_value r = weft_result_list_get(l, i);
      if (r.kind == WEFT_VALUE_FAILURE) rc = failure_rc(r.v.f);
      else if (r.kind != WEFT_VALUE_INT || r.v.i != (int64_t)i + 1) rc = WEFT_EINVAL;
    }
    if (!l) rc = WEFT_EINVAL;
  }
  weft_value_release(v);
  weft_deferred_unref(agg);
  return rc;
}

static weft_value later_fn(weft_value v, void *arg) {
  (void)v;
  (void)arg;
  return weft_int(7);
}

/* Timed Deferreds on a memory reactor: add_timeout (one times out, one fires in time),
 * defer_later, sleep. */
static int timed(void *arg) {
  (void)arg;
  weft_reactor *r = NULL;
  int rc = weft_memory_reactor_new(&r);
  if (rc) return rc;
  weft_deferred *slow = weft_deferred_new(quiet), *fast = weft_deferred_new(quiet);
  weft_deferred *dl = weft_defer_later(r, 1, later_fn, NULL), *sl = weft_sleep(r, 2);
  int e1 = slow ? weft_deferred_add_timeout(slow, r, 1) : WEFT_ENOMEM;
  int e2 = fast ? weft_deferred_add_timeout(fast, r, 5) : WEFT_ENOMEM;
  if (fast) weft_deferred_callback(fast, weft_int(5));
  for (int i = 0; i < 3; i++) weft_memory_reactor_advance(r, 1);
  rc = e1 ? e1 : e2;
  if (slow) {
    weft_value v;
    int t = weft_deferred_take_result(slow, &v);
    if (!rc && !t && v.kind == WEFT_VALUE_FAILURE && failure_rc(v.v.f) != WEFT_ETIMEDOUT) rc = failure_rc(v.v.f);
    else if (!rc && (t || !weft_trap(v, WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT))) rc = t ? t : WEFT_EINVAL;
    weft_value_release(v);
    weft_deferred_unref(slow);
  } else {
    rc = WEFT_ENOMEM;
  }
  int r1 = fast ? outcome(fast, 5) : WEFT_ENOMEM;
  int r2 = dl ? outcome(dl, 7) : WEFT_ENOMEM;
  int r3 = WEFT_ENOMEM;
  if (sl) {
    weft_value v;
    r3 = weft_deferred_take_result(sl, &v);
    if (!r3 && v.kind == WEFT_VALUE_FAILURE) r3 = failure_rc(v.v.f);
    else if (!r3 && v.kind != WEFT_VALUE_NONE) r3 = WEFT_EINVAL;
    weft_value_release(v);
    weft_deferred_unref(sl);
  }
  int fr = weft_reactor_free(r);
  if (!rc) rc = r1 ? r1 : r2 ? r2 : r3 ? r3 : fr;
  return rc;
}

/* add_timeout on a Deferred that has fired but waits on an inner one, its two inline steps
 * taken: the timeout's step is the third, so storing it needs the step array to grow. */
static weft_value to_inner(weft_value v, void *arg) {
  weft_value_release(v);
  return weft_chain(weft_deferred_ref(arg));
}

static int timeout_on_paused(void *arg) {
  (void)arg;
  weft_reactor *r = NULL;
  int rc = weft_memory_reactor_new(&r);
  if (rc) return rc;
  weft_deferred *inner = weft_deferred_new(quiet), *d = weft_deferred_new(quiet);
  if (!inner || !d) {
    weft_deferred_unref(inner);
    weft_deferred_unref(d);
    weft_reactor_free(r);
    return WEFT_ENOMEM;
  }
  weft_deferred_add_callback(d, to_inner, inner);
  weft_deferred_add_callback(d, add_one, NULL);
  weft_deferred_callback(d, weft_int(0)); /* paused on inner */
  int e = weft_deferred_add_timeout(d, r, 5);
  weft_deferred_callback(inner, weft_int(1));
  weft_deferred_unref(inner);
  weft_memory_reactor_advance(r, 10);
  rc = outcome(d, 2);
  int fr = weft_reactor_free(r);
  return e ? e : rc ? rc : fr;
}

/* A coroutine that awaits a sleep, a fired Deferred and an unfired one. */
static weft_deferred *pending_for_coro;

/* weft_await of NULL is a WEFT_EINVAL Failure: a Deferred that could not be made is ENOMEM here */
static weft_value await_made(weft_coro *co, weft_deferred *d) {
  return d ? weft_await(co, d) : weft_failed(weft_failure_from_error(WEFT_ENOMEM));
}

static weft_value coro_body(weft_coro *co, void *arg) {
  (void)arg;
  weft_value v = await_made(co, weft_sleep(weft_coro_reactor(co), 1));
  if (v.kind == WEFT_VALUE_FAILURE) return v;
  v = await_made(co, weft_succeed(quiet, weft_int(20)));
  if (v.kind == WEFT_VALUE_FAILURE) return v;
  weft_deferred *p = weft_deferred_new(quiet);
  if (!p) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  pending_for_coro = weft_deferred_ref(p);
  weft_value w = weft_await(co, p);
  if (w.kind == WEFT_VALUE_FAILURE) return w;
  return weft_int(v.v.i + w.v.i);
}

static int coroutines(void *arg) {
  (void)arg;
  weft_reactor *r = NULL;
  int rc = weft_memory_reactor_new(&r);
  if (rc) return rc;
  weft_deferred *d = NULL;
  pending_for_coro = NULL;
  rc = weft_coro_start(&d, r, coro_body, NULL, NULL);
  weft_memory_reactor_advance(r, 1);
  if (pending_for_coro) {
    weft_deferred_callback(pending_for_coro, weft_int(3));
    weft_deferred_unref(pending_for_coro);
  }
  if (d) rc = outcome(d, 23);
  int fr = weft_reactor_free(r);
  return rc ? rc : fr;
}

int main(void) {
  REQUIRE(weft_test_allocator_install() == 0);
  REQUIRE(weft_log_publisher_new(&quiet) == 0);
  REQUIRE(weft_log_add_observer(quiet, WEFT_LOG_DEBUG, alloc_sweep_quiet, NULL) == 0);
  alloc_sweep("chains", chains, NULL);
  alloc_sweep("chain_to_growth", chain_to_growth, NULL);
  alloc_sweep("list_growth", list_growth, NULL);
  int which[3] = {0, 1, 2};
  alloc_sweep("deferred_list", lists, &which[0]);
  alloc_sweep("gather", lists, &which[1]);
  alloc_sweep("race", lists, &which[2]);
  alloc_sweep("timed", timed, NULL);
  alloc_sweep("timeout_on_paused", timeout_on_paused, NULL);
  alloc_sweep("coroutines", coroutines, NULL);
  weft_log_publisher_free(quiet);
  weft_test_alloc_stats st;
  weft_test_allocator_stats(&st);
  CHECK_INT(st.live, 0);
  return CHECK_DONE();
}
