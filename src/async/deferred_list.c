/* deferred_list.c: one Deferred from many (twisted.internet.defer.DeferredList, gatherResults,
 * race).
 *
 * One allocation (struct weft_result_list) holds the bookkeeping of all n inputs: a slot per
 * input with its result, the aggregate Deferred, and the (index, value) pair of a first success.
 * The same block is the result list (or holds the pair) handed out when the aggregate fires, so
 * firing with a result allocates nothing. The block is reference-counted: each input whose step has not run holds a
 * reference (its step's argument points at its slot), and so does every result handed out (the
 * list itself, the (index, value) pair, a race's all-failed Failure). */
#include <stdint.h>

#include "async/deferred_internal.h"
#include "base/alloc.h"
#include "weft/deferred_list.h"
#include "weft/errors.h"

/* weft_race: when every input has failed, fail with EALLFAILED instead of firing the list. */
#define RACE (1u << 16)
#define PUBLIC_FLAGS (WEFT_FIRE_ON_ONE_CALLBACK | WEFT_FIRE_ON_ONE_ERRBACK | WEFT_CONSUME_ERRORS | WEFT_CANCEL_REST)

typedef struct slot {
  weft_deferred *input; /* our reference, until the input's result has arrived */
  size_t index;         /* finds the block from the slot (the step's only argument) */
  weft_value value;     /* the result kept for the list (owned) */
  bool ok;
  bool cancelled; /* we cancelled it: its failure is ours to consume */
} slot;

struct weft_result_list {
  size_t refs;
  unsigned flags;
  bool decided;           /* the aggregate's outcome is chosen: results arriving now are late */
  size_t n, pending;      /* inputs, and inputs whose result has not arrived */
  weft_deferred *agg;     /* our reference, until we fire it */
  weft_indexed_value first; /* the first success, handed out by pointer */
  slot slots[];
};

typedef struct weft_result_list list;

static list *owner(slot *s) { return (list *)((char *)(s - s->index) - offsetof(list, slots)); }

static void list_unref(list *m) {
  if (--m->refs > 0) return;
  /* no input is held any more (each held a reference) and the aggregate has been fired */
  for (size_t i = 0; i < m->n; i++) weft_value_release(m->slots[i].value);
  weft_value_release(m->first.value);
  weft__free(m);
}

/* Destructors of the results handed out; their addresses also tag the weft_ptr values. */
static void list_destroy(void *p) { list_unref(p); }

static void first_destroy(void *p) {
  list *m = (list *)((char *)p - offsetof(list, first));
  weft_value_release(m->first.value);
  m->first.value = weft_none();
  list_unref(m);
}

static void fire(list *m, weft_value v) {
  weft_deferred *agg = m->agg;
  m->agg = NULL;
  /* someone else fired it (a misuse, but not ours to crash on): keep our result to ourselves */
  if (!agg || weft_deferred_called(agg)) weft_value_release(v);
  else weft_deferred_callback(agg, v);
  weft_deferred_unref(agg);
}

static bool consumes(const list *m, const slot *s) { return (m->flags & WEFT_CONSUME_ERRORS) || s->cancelled; }

/* Cancels every input whose result has not arrived. Each usually fires at once, which runs our
 * step on it, so the slot is read again after each cancel. */
static void cancel_pending(list *m) {
  for (size_t i = 0; i < m->n; i++) {
    slot *s = &m->slots[i];
    if (!s->input || s->cancelled) continue;
    s->cancelled = true;
    weft_deferred *in = weft_deferred_ref(s->input);
    weft_deferred_cancel(in);
    weft_deferred_unref(in);
  }
}

/* The aggregate fires before all results are in: what was gathered is no longer needed. */
static void decide_early(list *m) {
  m->decided = true;
  for (size_t i = 0; i < m->n; i++) {
    weft_value_release(m->slots[i].value);
    m->slots[i].value = weft_none();
  }
  if (m->flags & WEFT_CANCEL_REST) cancel_pending(m);
}

static weft_failure *first_error(weft_failure *cause, size_t index, size_t n) {
  weft_failure *f = weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EFIRSTERROR, "Deferred #%zu of %zu failed first", index, n);
  weft_failure_set_data(f, (void *)(uintptr_t)(index + 1), NULL); /* 0 would read as "no index" */
  return weft_failure_set_cause(f, weft_failure_ref(cause));
}

/* Every result is in and none decided early. */
static void decide_all(list *m) {
  m->decided = true;
  m->refs++; /* for the list handed out, directly or as the Failure's data */
  if (!(m->flags & RACE)) {
    fire(m, weft_ptr(m, list_destroy));
    return;
  }
  weft_failure *f = weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EALLFAILED, "all %zu Deferreds of the race failed", m->n);
  if (m->n > 0 && weft_value_is_failure(m->slots[0].value)) weft_failure_set_cause(f, weft_failure_ref(m->slots[0].value.v.f));
  weft_failure_set_data(f, m, list_destroy);
  fire(m, weft_failed(f));
}

/* A result arriving before the outcome is decided. Returns what the input goes on with. */
static weft_value arrive(list *m, slot *s, weft_value v) {
  bool ok = !weft_value_is_failure(v);
  if (ok && (m->flags & WEFT_FIRE_ON_ONE_CALLBACK)) {
    m->first = (weft_indexed_value){s->index, v};
    decide_early(m);
    m->refs++;
    fire(m, weft_ptr(&m->first, first_destroy));
    return weft_none();
  }
  if (!ok && (m->flags & WEFT_FIRE_ON_ONE_ERRBACK)) {
    weft_failure *f = first_error(v.v.f, s->index, m->n);
    if (consumes(m, s)) {
      weft_value_release(v);
      v = weft_none();
    }
    decide_early(m);
    fire(m, weft_failed(f));
    return v;
  }
  s->ok = ok;
  s->value = v;
  weft_value back = ok || consumes(m, s) ? weft_none() : weft_failed(weft_failure_ref(v.v.f));
  if (m->pending == 0) decide_all(m);
  return back;
}

/* The step added to every input, as callback and errback. */
static weft_value on_result(weft_value v, void *arg) {
  slot *s = arg;
  list *m = owner(s);
  weft_deferred *input = s->input; /* still alive: its chain, running us, holds it */
  s->input = NULL;
  m->pending--;
  weft_value back;
  if (!m->decided) {
    back = arrive(m, s, v);
  } else if (weft_value_is_failure(v) && consumes(m, s)) {
    weft_value_release(v); /* late, and ours to consume */
    back = weft_none();
  } else {
    back = v; /* late: left to the input's owner */
  }
  weft_deferred_unref(input);
  list_unref(m);
  return back;
}

/* The aggregate's canceller. */
static void cancel_all(weft_deferred *agg, void *arg) {
  (void)agg;
  list *m = arg;
  m->refs++; /* the last input's step may otherwise free m under us */
  cancel_pending(m);
  if (!m->decided) {
    decide_early(m);
    fire(m, weft_failed(weft_failure_from_error(WEFT_ECANCELED)));
  }
  list_unref(m);
}

static weft_deferred *start(weft_log_publisher *log, weft_deferred *const *ds, size_t n, unsigned flags) {
  list *m = NULL;
  weft_deferred *agg = NULL;
  if (n <= (SIZE_MAX - sizeof *m) / sizeof(slot)) m = weft__malloc(sizeof *m + n * sizeof(slot));
  if (m) agg = weft_deferred_new_cancellable(log, cancel_all, m);
  if (!agg) {
    weft__free(m);
    for (size_t i = 0; i < n; i++) weft_deferred_unref(ds[i]);
    return NULL;
  }
  m->refs = n + 1; /* each input's step, and this function while it registers them */
  m->flags = flags;
  m->decided = false;
  m->n = m->pending = n;
  m->agg = weft_deferred_ref(agg);
  m->first = (weft_indexed_value){0, weft_none()};
  for (size_t i = 0; i < n; i++) m->slots[i] = (slot){.input = ds[i], .index = i, .value = weft_none()};
  /* an input that has fired runs our step inside the add call; it may decide the outcome and
   * cancel inputs not yet registered, whose failures then arrive when they are */
  for (size_t i = 0; i < n; i++)
    if (weft__deferred_add_callbacks(ds[i], on_result, &m->slots[i], on_result, &m->slots[i]) != 0)
      /* the step is lost (ds[i] failed with WEFT_ENOMEM): the input's result can never reach us,
       * so that Failure arrives now, releasing the slot's input and its reference to m */
      weft_value_release(on_result(weft_failed(weft_failure_from_error(WEFT_ENOMEM)), &m->slots[i]));
  if (n == 0) decide_all(m);
  list_unref(m);
  return agg;
}

weft_deferred *weft_deferred_list(weft_log_publisher *log, weft_deferred *const *ds, size_t n, unsigned flags) {
  return start(log, ds, n, flags & PUBLIC_FLAGS);
}

weft_deferred *weft_gather(weft_log_publisher *log, weft_deferred *const *ds, size_t n, unsigned flags) {
  return start(log, ds, n, WEFT_FIRE_ON_ONE_ERRBACK | (flags & (WEFT_CONSUME_ERRORS | WEFT_CANCEL_REST)));
}

weft_deferred *weft_race(weft_log_publisher *log, weft_deferred *const *ds, size_t n) {
  return start(log, ds, n, WEFT_FIRE_ON_ONE_CALLBACK | WEFT_CONSUME_ERRORS | WEFT_CANCEL_REST | RACE);
}

/* ---- reading results ---- */

weft_result_list *weft_result_list_of(weft_value v) {
  return v.kind == WEFT_VALUE_PTR && v.destroy == list_destroy ? v.v.p : NULL;
}

size_t weft_result_list_count(const weft_result_list *l) { return l->n; }

bool weft_result_list_ok(const weft_result_list *l, size_t i) { return i < l->n && l->slots[i].ok; }

weft_value weft_result_list_get(const weft_result_list *l, size_t i) {
  return i < l->n ? l->slots[i].value : weft_none();
}

weft_value weft_result_list_take(weft_result_list *l, size_t i) {
  if (i >= l->n) return weft_none();
  weft_value v = l->slots[i].value;
  l->slots[i].value = weft_none();
  return v;
}

weft_indexed_value *weft_indexed_value_of(weft_value v) {
  return v.kind == WEFT_VALUE_PTR && v.destroy == first_destroy ? v.v.p : NULL;
}

bool weft_first_error_index(const weft_failure *f, size_t *index) {
  if (!weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_EFIRSTERROR) || !weft_failure_data(f)) return false;
  if (index) *index = (size_t)((uintptr_t)weft_failure_data(f) - 1);
  return true;
}

const weft_result_list *weft_race_failures(const weft_failure *f) {
  return weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_EALLFAILED) ? weft_failure_data(f) : NULL;
}
