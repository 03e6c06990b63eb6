/* Property test of src/async/deferred.c against a tiny reference model of Twisted's Deferred
 * (twisted.internet.defer): thousands of random cases, each a few Deferreds whose chains hold
 * random callbacks/errbacks, some returning one of the other Deferreds (nesting), fired and
 * cancelled in a random scripted order. The model is a plain recursive interpreter of Twisted's
 * rules; the real Deferreds run the same script. Compared: every step that ran and what it got
 * (in order), each Deferred's final state and result, the return code of each fire, and that no
 * value or Failure leaked (counted per case; LeakSanitizer covers the rest) and an unhandled
 * error was logged exactly for the failed results the test left in place.
 *
 * WEFT_PROP_SEED=<n> and WEFT_PROP_CASES=<n> change the fixed seed and the number of cases;
 * WEFT_PROP_ONLY=<i> runs case i alone (a mismatch prints the seed, the case and both traces). */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "weft/deferred.h"
#include "weft/errors.h"

#define DEFAULT_SEED 0x5eedf00d2024ULL
#define DEFAULT_CASES 5000
#define MAXD 7      /* Deferreds per case */
#define MAXS 12     /* steps per Deferred */
#define MAXEV 16    /* scripted events per case */
#define MAXTRACE 128
#define WRAP_OFFSET 1000 /* an errback that re-fails wraps code c as c + WRAP_OFFSET, cause c */

/* ---- cases ---- */

enum step_kind {
  K_ADD,        /* callback: value + k */
  K_FAIL,       /* callback: fails with code k */
  K_RECOVER,    /* errback: recovers to k */
  K_WRAP,       /* errback: re-fails with a new Failure whose cause is the old one */
  K_BOTH,       /* callback and errback: pass the result through */
  K_PAIR,       /* callback: value + k; errback: recovers to k */
  K_INNER,      /* callback: returns Deferred `target` */
  K_INNER_BOTH, /* callback and errback: return Deferred `target` */
  K_COUNT
};
static const char *const kind_names[K_COUNT] = {"add", "fail", "recover", "wrap", "both", "pair", "inner", "inner_both"};

typedef struct pstep {
  int kind, k, target;
  int owner, index; /* which Deferred's chain, which position: for the trace */
} pstep;

typedef struct pdef {
  int nsteps;
  pstep steps[MAXS];
  bool fire_fail; /* fired with a Failure of code fire_k, else with the value fire_k */
  int fire_k;
  bool take; /* the test takes a failed final result out (else it is logged as unhandled) */
} pdef;

enum ev_kind { EV_FIRE, EV_CANCEL };
typedef struct pevent {
  int what, d;
} pevent;

typedef struct pcase {
  uint64_t seed;
  int nd, nev;
  pdef d[MAXD];
  pevent ev[MAXEV];
  int free_order[MAXD];
} pcase;

static uint64_t rng_next(uint64_t *s) { /* splitmix64: small, good enough, reproducible */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static int rnd(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

static pstep plain_step(uint64_t *s) {
  int kind = rnd(s, K_INNER); /* any kind but the nesting ones */
  int k = kind == K_FAIL ? 1 + rnd(s, 9) : kind == K_RECOVER || kind == K_PAIR ? 100 + rnd(s, 900) : 1 + rnd(s, 9);
  return (pstep){.kind = kind, .k = k, .target = -1};
}

static void insert_step(pdef *d, int pos, pstep st) {
  for (int i = d->nsteps; i > pos; i--) d->steps[i] = d->steps[i - 1];
  d->steps[pos] = st;
  d->nsteps++;
}

static void shuffle_ints(uint64_t *s, int *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = rnd(s, i + 1), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* D0 is the outermost chain; every other Deferred is returned by exactly one step of a Deferred
 * with a smaller index (so the nesting is a tree), which may never run if its chain is failing. */
static void gen_case(pcase *c, uint64_t seed) {
  uint64_t s = seed;
  *c = (pcase){.seed = seed, .nd = 1 + rnd(&s, MAXD)};
  for (int j = 0; j < c->nd; j++) {
    pdef *d = &c->d[j];
    int n = j == 0 ? 1 + rnd(&s, 6) : rnd(&s, 4);
    for (int i = 0; i < n; i++) d->steps[d->nsteps++] = plain_step(&s);
    d->fire_fail = rnd(&s, 3) == 0;
    d->fire_k = d->fire_fail ? 1 + rnd(&s, 9) : rnd(&s, 100);
    d->take = rnd(&s, 4) != 0;
  }
  for (int m = 1; m < c->nd; m++) {
    pdef *p = &c->d[rnd(&s, m)];
    pstep st = {.kind = rnd(&s, 4) == 0 ? K_INNER_BOTH : K_INNER, .target = m};
    insert_step(p, rnd(&s, p->nsteps + 1), st);
  }
  for (int j = 0; j < c->nd; j++)
    for (int i = 0; i < c->d[j].nsteps; i++) {
      c->d[j].steps[i].owner = j;
      c->d[j].steps[i].index = i;
    }
  /* the script: most Deferreds fired once, in random order; some cancelled; a few fired twice */
  for (int j = 0; j < c->nd; j++)
    if (rnd(&s, 100) < (j == 0 ? 97 : 90)) c->ev[c->nev++] = (pevent){EV_FIRE, j};
  for (int n = rnd(&s, 4) == 0 ? 1 + rnd(&s, 2) : 0; n > 0; n--) c->ev[c->nev++] = (pevent){EV_CANCEL, rnd(&s, c->nd)};
  if (rnd(&s, 10) == 0) c->ev[c->nev++] = (pevent){EV_FIRE, rnd(&s, c->nd)};
  for (int i = c->nev - 1; i > 0; i--) {
    int j = rnd(&s, i + 1);
    pevent t = c->ev[i];
    c->ev[i] = c->ev[j];
    c->ev[j] = t;
  }
  for (int j = 0; j < c->nd; j++) c->free_order[j] = j;
  shuffle_ints(&s, c->free_order, c->nd);
}

static void print_case(const pcase *c, int index) {
  fprintf(stderr, "  case %d (case seed 0x%016llx): %d Deferreds\n", index, (unsigned long long)c->seed, c->nd);
  for (int j = 0; j < c->nd; j++) {
    const pdef *d = &c->d[j];
    fprintf(stderr, "    D%d fires %s %d, %s:", j, d->fire_fail ? "fail" : "ok", d->fire_k,
            d->take ? "takes result" : "leaves result");
    for (int i = 0; i < d->nsteps; i++) {
      const pstep *st = &d->steps[i];
      if (st->target >= 0) fprintf(stderr, " [%s D%d]", kind_names[st->kind], st->target);
      else fprintf(stderr, " [%s %d]", kind_names[st->kind], st->k);
    }
    fputc('\n', stderr);
  }
  fprintf(stderr, "    script:");
  for (int i = 0; i < c->nev; i++) fprintf(stderr, " %s D%d", c->ev[i].what == EV_FIRE ? "fire" : "cancel", c->ev[i].d);
  fputc('\n', stderr);
}

/* ---- results and traces (shared by model and real run) ---- */

enum { R_NONE, R_OK, R_FAIL, R_OTHER };
typedef struct res {
  int kind;
  int64_t v;      /* R_OK */
  int code;       /* R_FAIL */
  int depth;      /* R_FAIL: length of the cause chain, itself included */
  bool weft_dom;  /* R_FAIL: domain "weft" (cancellation), else "prop" */
} res;

static res r_ok(int64_t v) { return (res){.kind = R_OK, .v = v}; }
static res r_fail(int code) { return (res){.kind = R_FAIL, .code = code, .depth = 1}; }

static int res_text(res r, char *buf, size_t size) {
  switch (r.kind) {
    case R_NONE: return snprintf(buf, size, "none");
    case R_OK: return snprintf(buf, size, "ok %lld", (long long)r.v);
    case R_FAIL: return snprintf(buf, size, "fail %s/%d depth %d", r.weft_dom ? "weft" : "prop", r.code, r.depth);
    default: return snprintf(buf, size, "unexpected value kind");
  }
}

typedef struct trace {
  int n;
  char line[MAXTRACE][96];
} trace;

static void trace_step(trace *t, const pstep *st, bool errback, res in) {
  if (t->n == MAXTRACE) return;
  char r[40];
  res_text(in, r, sizeof r);
  snprintf(t->line[t->n++], sizeof t->line[0], "D%d.%d %s %s got %s", st->owner, st->index, kind_names[st->kind],
           errback ? "errback" : "callback", r);
}

static void trace_add(trace *t, const char *text) {
  if (t->n < MAXTRACE) snprintf(t->line[t->n++], sizeof t->line[0], "%s", text);
}

static bool has_fn(const pstep *st, bool failed) {
  switch (st->kind) {
    case K_ADD: case K_FAIL: case K_INNER: return !failed;
    case K_RECOVER: case K_WRAP: return failed;
    default: return true;
  }
}

/* What a plain step returns for `in` (the nesting steps are handled by the chain runners). */
static res apply(const pstep *st, res in) {
  bool failed = in.kind == R_FAIL;
  switch (st->kind) {
    case K_ADD: return r_ok(in.v + st->k);
    case K_FAIL: return r_fail(st->k);
    case K_RECOVER: return r_ok(st->k);
    case K_WRAP: return (res){.kind = R_FAIL, .code = in.code + WRAP_OFFSET, .depth = in.depth + 1};
    case K_PAIR: return failed ? r_ok(st->k) : r_ok(in.v + st->k);
    default: return in;
  }
}

/* ---- the model: Twisted's rules, recursively ---- */

typedef struct mdef {
  bool called, suppress; /* suppress: cancelled without a canceller, the next fire is eaten */
  int paused_on, parent; /* the inner Deferred this one waits on; the outer one waiting on it */
  int next;
  res r;
} mdef;

typedef struct model {
  const pcase *c;
  mdef d[MAXD];
  trace t;
} model;

static void model_run(model *m, int j) {
  mdef *d = &m->d[j];
  const pdef *spec = &m->c->d[j];
  if (!d->called || d->paused_on >= 0) return;
  while (d->next < spec->nsteps) {
    const pstep *st = &spec->steps[d->next++];
    bool failed = d->r.kind == R_FAIL;
    if (!has_fn(st, failed)) continue;
    trace_step(&m->t, st, failed, d->r);
    if (st->target < 0) {
      d->r = apply(st, d->r);
      continue;
    }
    mdef *in = &m->d[st->target];
    if (in->called && in->paused_on < 0) { /* done: steal its result, leave None behind */
      d->r = in->r;
      in->r = (res){.kind = R_NONE};
      continue;
    }
    d->r = (res){.kind = R_NONE};
    d->paused_on = st->target;
    in->parent = j;
    return;
  }
  if (d->parent >= 0) { /* an outer chain waits for our result */
    mdef *p = &m->d[d->parent];
    int pj = d->parent;
    d->parent = -1;
    p->paused_on = -1;
    p->r = d->r;
    d->r = (res){.kind = R_NONE};
    model_run(m, pj);
  }
}

static int model_fire(model *m, int j, res v) {
  mdef *d = &m->d[j];
  if (d->called) {
    if (!d->suppress) return WEFT_EALREADY;
    d->suppress = false;
    return 0;
  }
  d->called = true;
  d->r = v;
  model_run(m, j);
  return 0;
}

static void model_cancel(model *m, int j) {
  mdef *d = &m->d[j];
  if (!d->called) {
    d->suppress = true; /* no canceller */
    res c = r_fail(WEFT_ECANCELED);
    c.weft_dom = true;
    model_fire(m, j, c);
  } else if (d->paused_on >= 0) {
    model_cancel(m, d->paused_on);
  }
}

static res fire_value(const pdef *d) { return d->fire_fail ? r_fail(d->fire_k) : r_ok(d->fire_k); }

static void run_model(const pcase *c, trace *t) {
  model m = {.c = c};
  for (int j = 0; j < c->nd; j++) m.d[j] = (mdef){.paused_on = -1, .parent = -1};
  char line[96];
  for (int i = 0; i < c->nev; i++) {
    const pevent *e = &c->ev[i];
    if (e->what == EV_CANCEL) {
      model_cancel(&m, e->d);
      continue;
    }
    int rc = model_fire(&m, e->d, fire_value(&c->d[e->d]));
    snprintf(line, sizeof line, "fire D%d returned %d", e->d, rc);
    trace_add(&m.t, line);
  }
  for (int j = 0; j < c->nd; j++) {
    const mdef *d = &m.d[j];
    char r[40];
    res_text(d->r, r, sizeof r);
    if (!d->called) snprintf(line, sizeof line, "D%d final unfired", j);
    else if (d->paused_on >= 0) snprintf(line, sizeof line, "D%d final paused", j);
    else snprintf(line, sizeof line, "D%d final %s", j, r);
    trace_add(&m.t, line);
  }
  *t = m.t;
}

/* ---- the real run ---- */

static int live_boxes, live_failures, unhandled_logged;

static void box_free(void *p) {
  live_boxes--;
  free(p);
}
static weft_value box(int64_t v) {
  int64_t *p = malloc(sizeof *p);
  REQUIRE(p);
  *p = v;
  live_boxes++;
  return weft_ptr(p, box_free);
}

static void failure_gone(void *data) {
  (void)data;
  live_failures--;
}
static weft_failure *counted_failure(int code) {
  weft_failure *f = weft_failure_new("prop", code, "code %d", code);
  weft_failure_set_data(f, &live_failures, failure_gone);
  live_failures++;
  return f;
}

static res read_value(weft_value v) {
  if (v.kind == WEFT_VALUE_NONE) return (res){.kind = R_NONE};
  if (v.kind == WEFT_VALUE_PTR && v.destroy == box_free) return r_ok(*(int64_t *)v.v.p);
  if (v.kind != WEFT_VALUE_FAILURE) return (res){.kind = R_OTHER};
  res r = {.kind = R_FAIL, .code = weft_failure_code(v.v.f), .depth = 0};
  r.weft_dom = strcmp(weft_failure_domain(v.v.f), WEFT_FAILURE_DOMAIN) == 0;
  for (const weft_failure *f = v.v.f; f; f = weft_failure_cause(f)) r.depth++;
  return r;
}

static struct {
  trace t;
  weft_deferred *d[MAXD];
} run;

static weft_value real_step(weft_value in, void *arg) {
  const pstep *st = arg;
  bool failed = weft_value_is_failure(in);
  res r = read_value(in);
  trace_step(&run.t, st, failed, r);
  if (st->target >= 0) {
    weft_value_release(in);
    return weft_chain(weft_deferred_ref(run.d[st->target]));
  }
  if (st->kind == K_BOTH) return in;
  if (st->kind == K_WRAP) {
    weft_failure *f = counted_failure(r.code + WRAP_OFFSET);
    weft_failure_set_cause(f, in.v.f); /* takes our reference */
    return weft_failed(f);
  }
  weft_value_release(in);
  res out = apply(st, r);
  return out.kind == R_FAIL ? weft_failed(counted_failure(out.code)) : box(out.v);
}

static void add_step(weft_deferred *d, const pstep *st) {
  bool cb = has_fn(st, false), eb = has_fn(st, true);
  weft_deferred_add_callbacks(d, cb ? real_step : NULL, (void *)st, eb ? real_step : NULL, (void *)st);
}

static void run_real(const pcase *c, weft_log_publisher *log, trace *t) {
  run.t.n = 0;
  for (int j = 0; j < c->nd; j++) {
    run.d[j] = weft_deferred_new(log);
    REQUIRE(run.d[j]);
    for (int i = 0; i < c->d[j].nsteps; i++) add_step(run.d[j], &c->d[j].steps[i]);
  }
  char line[96];
  for (int i = 0; i < c->nev; i++) {
    const pevent *e = &c->ev[i];
    if (e->what == EV_CANCEL) {
      weft_deferred_cancel(run.d[e->d]);
      continue;
    }
    const pdef *d = &c->d[e->d];
    weft_value v = d->fire_fail ? weft_failed(counted_failure(d->fire_k)) : box(d->fire_k);
    int rc = weft_deferred_callback(run.d[e->d], v);
    snprintf(line, sizeof line, "fire D%d returned %d", e->d, rc);
    trace_add(&run.t, line);
  }
  for (int j = 0; j < c->nd; j++) {
    weft_deferred *d = run.d[j];
    char r[40];
    res_text(read_value(weft_deferred_result(d)), r, sizeof r);
    if (!weft_deferred_called(d)) snprintf(line, sizeof line, "D%d final unfired", j);
    else if (weft_deferred_paused(d)) snprintf(line, sizeof line, "D%d final paused", j);
    else snprintf(line, sizeof line, "D%d final %s", j, r);
    trace_add(&run.t, line);
  }
  *t = run.t;
}

/* Frees the real Deferreds (in the case's random order), taking out the failed results the case
 * says to handle. Returns how many unhandled-error reports that should log. */
static int free_real(const pcase *c) {
  int expect_logged = 0;
  for (int j = 0; j < c->nd; j++) {
    weft_deferred *d = run.d[j];
    if (!weft_deferred_paused(d) && weft_value_is_failure(weft_deferred_result(d))) {
      if (c->d[j].take) {
        weft_value v;
        CHECK_INT(weft_deferred_take_result(d, &v), 0);
        weft_value_release(v);
      } else {
        expect_logged++;
      }
    }
  }
  for (int i = 0; i < c->nd; i++) weft_deferred_unref(run.d[c->free_order[i]]);
  return expect_logged;
}

static void count_unhandled(const weft_log_event *ev, void *user) {
  (void)user;
  if (strcmp(ev->ns, "weft.defer") == 0) unhandled_logged++;
}

/* ---- driver ---- */

static uint64_t env_u64(const char *name, uint64_t def) {
  const char *s = getenv(name);
  return s && *s ? strtoull(s, NULL, 0) : def;
}

static void report_mismatch(const pcase *c, int index, uint64_t seed, const trace *want, const trace *got,
                            const char *what) {
  fprintf(stderr, "MISMATCH (%s): seed 0x%llx, rerun with WEFT_PROP_SEED=0x%llx WEFT_PROP_ONLY=%d\n", what,
          (unsigned long long)seed, (unsigned long long)seed, index);
  print_case(c, index);
  int n = want->n > got->n ? want->n : got->n;
  for (int i = 0; i < n; i++) {
    const char *w = i < want->n ? want->line[i] : "(nothing)", *g = i < got->n ? got->line[i] : "(nothing)";
    fprintf(stderr, "    %s %-44s | %s\n", strcmp(w, g) ? "!!" : "  ", w, g);
  }
}

static bool traces_equal(const trace *a, const trace *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->line[i], b->line[i]) != 0) return false;
  return true;
}

static void test_random_chains_match_model(void) {
  uint64_t seed = env_u64("WEFT_PROP_SEED", DEFAULT_SEED);
  int cases = (int)env_u64("WEFT_PROP_CASES", DEFAULT_CASES);
  int only = getenv("WEFT_PROP_ONLY") ? (int)env_u64("WEFT_PROP_ONLY", 0) : -1;
  weft_log_publisher *log;
  REQUIRE(weft_log_publisher_new(&log) == 0);
  weft_log_add_observer(log, WEFT_LOG_DEBUG, count_unhandled, NULL);
  static pcase c;
  static trace want, got;
  int mismatches = 0, nested = 0, paused_at_end = 0, steps_run = 0;
  for (int i = 0; i < cases && mismatches < 3; i++) {
    if (only >= 0 && i != only) continue;
    uint64_t s = seed + (uint64_t)i;
    gen_case(&c, rng_next(&s));
    run_model(&c, &want);
    live_boxes = live_failures = unhandled_logged = 0;
    run_real(&c, log, &got);
    int expect_logged = free_real(&c);
    const char *bad = !traces_equal(&want, &got) ? "trace or final results"
                      : live_boxes != 0          ? "values leaked or freed twice"
                      : live_failures != 0       ? "Failures leaked or freed twice"
                      : unhandled_logged != expect_logged ? "unhandled-error reports"
                                                          : NULL;
    if (bad) {
      mismatches++;
      CHECK_FAIL_("case %d: %s differ (boxes %d, failures %d, logged %d, expected %d)", i, bad, live_boxes,
                  live_failures, unhandled_logged, expect_logged);
      report_mismatch(&c, i, seed, &want, &got, bad);
    }
    nested += c.nd > 1;
    for (int k = 0; k < want.n; k++) {
      paused_at_end += strstr(want.line[k], "final paused") != NULL;
      steps_run += strstr(want.line[k], " got ") != NULL;
    }
  }
  fprintf(stderr, "  %d cases from seed 0x%llx: %d nested, %d steps ran, %d chains left paused\n", cases,
          (unsigned long long)seed, nested, steps_run, paused_at_end);
  weft_log_publisher_free(log);
}

int main(void) {
  RUN(test_random_chains_match_model);
  return CHECK_DONE();
}
