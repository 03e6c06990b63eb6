/* test_coro.c: coroutines awaiting Deferreds and weft_react (src/async/coro.c; Twisted's
 * inlineCallbacks, ensureDeferred and task.react). */
#include "weft/coro.h"

#include <time.h>

#include "async/coro_switch.h"
#include "check.h"
#include "weft/testing.h"

/* ---- helpers ---- */

static weft_reactor *clock_reactor(weft_test_clock **clock) {
  REQUIRE(weft_test_clock_new(clock) == 0);
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.clock = weft_test_clock_clock(*clock);
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, &o) == 0);
  return r;
}

static void close_reactor(weft_reactor *r, weft_test_clock *clock) {
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  weft_test_clock_free(clock);
}

/* A Deferred fired with int(value) after delay seconds (Twisted's deferLater); cancelling it
 * cancels the timer. */
typedef struct sleeper {
  weft_deferred *d;
  weft_delayed_call *dc;
  int64_t value;
} sleeper;

static void sleeper_fire(void *arg) {
  sleeper *s = arg;
  weft_deferred *d = s->d;
  int64_t v = s->value;
  free(s);
  weft_deferred_callback(d, weft_int(v));
  weft_deferred_unref(d);
}

static void sleeper_cancel(weft_deferred *d, void *arg) {
  sleeper *s = arg;
  weft_delayed_call_cancel(s->dc);
  free(s);
  weft_deferred_unref(d); /* the timer's reference; the canceller's caller holds another */
}

static weft_deferred *sleep_for(weft_reactor *r, double delay, int64_t value) {
  sleeper *s = calloc(1, sizeof *s);
  REQUIRE(s);
  s->value = value;
  s->d = weft_deferred_new_cancellable(weft_reactor_log(r), sleeper_cancel, s);
  REQUIRE(s->d);
  s->dc = weft_reactor_call_later(r, delay, sleeper_fire, s);
  REQUIRE(s->dc);
  return weft_deferred_ref(s->d);
}

/* Takes the fired result of d and drops the caller's reference. */
static weft_value take(weft_deferred *d) {
  weft_value v = weft_none();
  CHECK(weft_deferred_called(d));
  CHECK_INT(weft_deferred_take_result(d, &v), 0);
  weft_deferred_unref(d);
  return v;
}

/* ---- plain returns, fired and unfired awaits ---- */

static weft_value return_42(weft_coro *co, void *arg) {
  (void)co;
  *(int *)arg += 1;
  return weft_int(42);
}

static void test_returns_without_await(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  int ran = 0;
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, return_42, &ran, NULL) == 0);
  CHECK_INT(ran, 1); /* ran inside start */
  weft_value v = take(d);
  CHECK_INT(v.kind, WEFT_VALUE_INT);
  CHECK_INT(v.v.i, 42);
  CHECK(weft_coro_start(&d, r, NULL, NULL, NULL) == WEFT_EINVAL);
  CHECK(d == NULL);
  CHECK(weft_coro_start(&d, NULL, return_42, &ran, NULL) == WEFT_EINVAL);
  CHECK(weft_coro_start(NULL, r, return_42, &ran, NULL) == WEFT_EINVAL);
  CHECK_INT(ran, 1);
  close_reactor(r, clock);
}

typedef struct trace {
  char s[64];
  int n;
} trace;

static void mark(trace *t, char c) {
  if (t->n < 63) t->s[t->n++] = c;
  t->s[t->n] = 0;
}

typedef struct await_args {
  weft_deferred *d; /* given to the coroutine, which awaits it */
  trace t;
  weft_value got;
} await_args;

static weft_value await_one(weft_coro *co, void *arg) {
  await_args *a = arg;
  mark(&a->t, 'a');
  a->got = weft_await(co, a->d);
  mark(&a->t, 'c');
  if (weft_value_is_failure(a->got)) return weft_failed(weft_failure_ref(a->got.v.f));
  return weft_int(a->got.v.i + 1);
}

static void test_await_fired(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  await_args a = {.d = weft_succeed(weft_reactor_log(r), weft_int(7))};
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, await_one, &a, NULL) == 0);
  mark(&a.t, 'b');
  CHECK_STR(a.t.s, "acb"); /* no suspension: the body ran to its end inside start */
  CHECK_INT(a.got.v.i, 7);
  CHECK_INT(take(d).v.i, 8);
  close_reactor(r, clock);
}

static void test_await_unfired(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft_deferred *src = weft_deferred_new(weft_reactor_log(r));
  await_args a = {.d = weft_deferred_ref(src)};
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, await_one, &a, NULL) == 0);
  mark(&a.t, 'b');
  CHECK_STR(a.t.s, "ab"); /* suspended in the await; start returned */
  CHECK(!weft_deferred_called(d));
  CHECK_INT(weft_deferred_callback(src, weft_int(99)), 0);
  CHECK_STR(a.t.s, "abc"); /* resumed inside the callback */
  CHECK_INT(weft_deferred_result(src).kind, WEFT_VALUE_NONE); /* the chain goes on with NONE */
  weft_deferred_unref(src);
  CHECK_INT(take(d).v.i, 100);
  close_reactor(r, clock);
}

static void test_await_failure(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft_deferred *src = weft_deferred_new(weft_reactor_log(r));
  await_args a = {.d = weft_deferred_ref(src)};
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, await_one, &a, NULL) == 0);
  weft_deferred_errback(src, weft_failure_new("test.domain", 5, "boom %d", 5));
  weft_deferred_unref(src);
  CHECK(weft_value_is_failure(a.got));
  CHECK(weft_failure_check(a.got.v.f, "test.domain", 5));
  weft_value_release(a.got);
  weft_value v = take(d); /* the coroutine let it propagate */
  REQUIRE(weft_value_is_failure(v));
  CHECK_STR(weft_failure_message(v.v.f), "boom 5");
  weft_value_release(v);
  /* A fired Failure is returned at once too. */
  a = (await_args){.d = weft_fail(weft_reactor_log(r), weft_failure_from_error(WEFT_ETIMEDOUT))};
  REQUIRE(weft_coro_start(&d, r, await_one, &a, NULL) == 0);
  CHECK_STR(a.t.s, "ac");
  CHECK(weft_failure_check(a.got.v.f, WEFT_FAILURE_DOMAIN, WEFT_ETIMEDOUT));
  weft_value_release(a.got);
  weft_value_release(take(d));
  close_reactor(r, clock);
}

static weft_value await_null(weft_coro *co, void *arg) {
  (void)arg;
  return weft_await(co, NULL);
}

static weft_value chain_out(weft_coro *co, void *arg) {
  (void)co;
  return weft_chain(weft_deferred_ref(arg)); /* like a callback returning a Deferred */
}

static void test_await_null_and_chain(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, await_null, NULL, NULL) == 0);
  weft_value v = take(d);
  CHECK(weft_value_is_failure(v) && weft_failure_code(v.v.f) == WEFT_EINVAL);
  weft_value_release(v);

  weft_deferred *src = weft_deferred_new(weft_reactor_log(r));
  REQUIRE(weft_coro_start(&d, r, chain_out, src, NULL) == 0);
  CHECK(!weft_deferred_called(d));
  weft_deferred_callback(src, weft_str("later"));
  weft_deferred_unref(src);
  CHECK_STR(take(d).v.s, "later");
  close_reactor(r, clock);
}

/* ---- nested awaits of timer Deferreds on the manual clock ---- */

typedef struct steps {
  weft_reactor *r;
  trace t;
} steps;

static weft_value inner_steps(weft_coro *co, void *arg) {
  steps *s = arg;
  int64_t sum = 0;
  for (int i = 1; i <= 3; i++) {
    weft_value v = weft_await(co, sleep_for(s->r, 1.0, i));
    mark(&s->t, (char)('0' + v.v.i));
    sum += v.v.i;
  }
  return weft_int(sum);
}

static weft_value outer_steps(weft_coro *co, void *arg) {
  steps *s = arg;
  weft_deferred *inner;
  if (weft_coro_start(&inner, s->r, inner_steps, s, NULL) != 0) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  mark(&s->t, 'i');
  weft_value v = weft_await(co, inner); /* a coroutine awaits another's Deferred */
  mark(&s->t, 'o');
  weft_value w = weft_await(co, sleep_for(s->r, 0.5, 100));
  return weft_int(v.v.i * 1000 + w.v.i);
}

static void test_nested_timer_awaits(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  steps s = {.r = r};
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, outer_steps, &s, NULL) == 0);
  CHECK_STR(s.t.s, "i");
  weft_test_clock_advance(clock, r, 0.9);
  CHECK_STR(s.t.s, "i");
  weft_test_clock_advance(clock, r, 0.1);
  CHECK_STR(s.t.s, "i1");
  weft_test_clock_advance(clock, r, 1.0);
  CHECK_STR(s.t.s, "i12");
  weft_test_clock_advance(clock, r, 1.0);
  CHECK_STR(s.t.s, "i123o"); /* the inner one finished and resumed the outer one at once */
  CHECK(!weft_deferred_called(d));
  weft_test_clock_advance(clock, r, 0.5);
  CHECK_INT(take(d).v.i, 6100);
  close_reactor(r, clock);
}

/* ---- many coroutines interleaving, keeping integer and floating-point locals ---- */

enum { NINT = 50, NROUND = 40 };

typedef struct mixer {
  weft_reactor *r;
  int id;
  uint64_t ires;
  double dres;
} mixer;

static void mix(weft_coro *co, mixer *m) {
  uint64_t a = (uint64_t)m->id * 2654435761u + 1, b = a ^ 0xdeadbeef, c = a * 5;
  double x = m->id + 0.25, y = 1.0 / (m->id + 3), z = 2.5;
  for (int i = 0; i < NROUND; i++) {
    a = a * 6364136223846793005u + 1442695040888963407u;
    b += a >> 17;
    c ^= b * 3;
    x = x * 1.001 + y;
    y = y * 0.99 + z * 1e-3;
    z = z * 0.999 + x * 1e-5;
    /* Alternate delays so the coroutines are resumed in a different order each round. */
    if (co) weft_value_release(weft_await(co, sleep_for(m->r, (i + m->id) % 3 * 0.001, 0)));
  }
  m->ires = a ^ b ^ c;
  m->dres = x + y + z;
}

static weft_value mixer_body(weft_coro *co, void *arg) {
  mix(co, arg);
  return weft_none();
}

static void test_interleaving(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  static mixer ms[NINT], ref[NINT];
  weft_deferred *ds[NINT];
  for (int i = 0; i < NINT; i++) {
    ms[i] = (mixer){.r = r, .id = i};
    ref[i] = (mixer){.r = r, .id = i};
    mix(NULL, &ref[i]);
    REQUIRE(weft_coro_start(&ds[i], r, mixer_body, &ms[i], NULL) == 0);
  }
  for (int step = 0; step < NROUND * 3 + 5; step++) weft_test_clock_advance(clock, r, 0.001);
  for (int i = 0; i < NINT; i++) {
    CHECK(weft_deferred_called(ds[i]));
    weft_deferred_unref(ds[i]);
    CHECK(ms[i].ires == ref[i].ires);
    CHECK(ms[i].dres == ref[i].dres);
  }
  close_reactor(r, clock);
}

/* ---- cancellation ---- */

typedef struct cancel_args {
  weft_reactor *r;
  int mode; /* 0: return the Failure, 1: return a value, 2: go on awaiting */
  int code_seen;
  int destroyed;
} cancel_args;

static void count_destroy(void *p) { (*(int *)p)++; }

static weft_value cancellable_body(weft_coro *co, void *arg) {
  cancel_args *a = arg;
  weft_value v = weft_await(co, sleep_for(a->r, 10.0, 1));
  if (!weft_value_is_failure(v)) return v;
  a->code_seen = weft_failure_code(v.v.f);
  if (a->mode == 0) return v;
  weft_value_release(v);
  if (a->mode == 1) return weft_int(-1);
  weft_value_release(weft_await(co, sleep_for(a->r, 1.0, 2)));
  return weft_ptr(&a->destroyed, count_destroy);
}

static void test_cancel_while_awaiting(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft_deferred *d;

  /* The await returns a cancelled Failure; the coroutine passes it on. */
  cancel_args a = {.r = r, .mode = 0};
  REQUIRE(weft_coro_start(&d, r, cancellable_body, &a, NULL) == 0);
  CHECK_INT(weft_reactor_open_handles(r), 1); /* the timer */
  weft_deferred_cancel(d);
  CHECK_INT(a.code_seen, WEFT_ECANCELED);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  weft_value v = take(d);
  CHECK(weft_value_is_failure(v) && weft_failure_check(v.v.f, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  weft_value_release(v);

  /* The coroutine handles it and returns a value: that is its Deferred's result. */
  a = (cancel_args){.r = r, .mode = 1};
  REQUIRE(weft_coro_start(&d, r, cancellable_body, &a, NULL) == 0);
  weft_deferred_cancel(d);
  CHECK_INT(take(d).v.i, -1);

  /* It swallows the cancellation and goes on: its Deferred fails at once, and what it returns
   * later is released unused; it is not resumed after it returned. */
  a = (cancel_args){.r = r, .mode = 2};
  REQUIRE(weft_coro_start(&d, r, cancellable_body, &a, NULL) == 0);
  weft_deferred_cancel(d);
  CHECK(weft_deferred_called(d));
  CHECK(weft_failure_code(weft_deferred_result(d).v.f) == WEFT_ECANCELED);
  weft_test_clock_advance(clock, r, 1.0);
  CHECK_INT(a.destroyed, 1);
  weft_deferred_cancel(d); /* fired: nothing happens */
  weft_value_release(take(d));

  /* Cancelling a finished coroutine's Deferred does nothing. */
  int ran = 0;
  REQUIRE(weft_coro_start(&d, r, return_42, &ran, NULL) == 0);
  weft_deferred_cancel(d);
  CHECK_INT(take(d).v.i, 42);
  close_reactor(r, clock);
}

/* ---- scale: 10,000 coroutines alive at once, each awaiting a timer ---- */

enum { NMANY = 10000 };

typedef struct many_args {
  weft_reactor *r;
  int finished;
} many_args;

static weft_value sleepy(weft_coro *co, void *arg) {
  many_args *m = arg;
  weft_value v = weft_await(co, sleep_for(m->r, 1.0 + (double)(m->finished % 7) * 0.01, 3));
  m->finished++;
  return v;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_ten_thousand(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft__coro_stack_pool_drain();
  size_t live0 = weft__coro_stack_live();
  double t0 = now_s();
  many_args m = {.r = r};
  static weft_deferred *ds[NMANY];
  for (int i = 0; i < NMANY; i++) REQUIRE(weft_coro_start(&ds[i], r, sleepy, &m, NULL) == 0);
  CHECK_INT(weft__coro_stack_live(), live0 + NMANY); /* all alive at once, one stack each */
  CHECK_INT(weft_reactor_open_handles(r), NMANY);
  CHECK_INT(m.finished, 0);
  weft_test_clock_advance(clock, r, 2.0);
  CHECK_INT(m.finished, NMANY);
  for (int i = 0; i < NMANY; i++) CHECK_INT(take(ds[i]).v.i, 3);
  /* Stacks went back: the pool keeps a bounded number, the rest were unmapped. */
  CHECK_INT(weft__coro_stack_live(), live0 + WEFT__CORO_POOL_MAX);
  CHECK(now_s() - t0 < 8.0);
  weft__coro_stack_pool_drain();
  close_reactor(r, clock);
}

/* ---- a chain of coroutines awaiting each other, 20,000 deep ---- */

enum { NDEEP = 20000 };

typedef struct deep_args {
  weft_reactor *r;
  weft_deferred *leaf;
} deep_args;

typedef struct deep_level {
  deep_args *a;
  long depth;
} deep_level;

static weft_value nest(weft_coro *co, void *arg) {
  deep_level *lv = arg;
  if (lv->depth == NDEEP) {
    lv->a->leaf = weft_deferred_new(weft_reactor_log(lv->a->r));
    return weft_await(co, weft_deferred_ref(lv->a->leaf));
  }
  deep_level next = {.a = lv->a, .depth = lv->depth + 1};
  weft_deferred *d;
  if (weft_coro_start(&d, lv->a->r, nest, &next, NULL) != 0) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  weft_value v = weft_await(co, d);
  return weft_value_is_failure(v) ? v : weft_int(v.v.i + 1);
}

static void test_deep_await_chain(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  deep_args a = {.r = r};
  deep_level top = {.a = &a, .depth = 0};
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, nest, &top, NULL) == 0);
  REQUIRE(a.leaf != NULL);
  /* Each end resumes the next coroutine up from its own stack: the main stack does not grow. */
  weft_deferred_callback(a.leaf, weft_int(0));
  weft_deferred_unref(a.leaf);
  weft_value v = take(d);
  CHECK_INT(v.kind, WEFT_VALUE_INT);
  CHECK_INT(v.v.i, NDEEP);
  weft_value_release(v);
  weft__coro_stack_pool_drain();
  close_reactor(r, clock);
}

/* ---- stacks: reuse, size option ---- */

static weft_value one_sleep(weft_coro *co, void *arg) {
  return weft_await(co, sleep_for(arg, 0.0, 1));
}

static void test_stack_reuse(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft__coro_stack_pool_drain();
  size_t live0 = weft__coro_stack_live();
  for (int i = 0; i < 1000; i++) {
    weft_deferred *d;
    REQUIRE(weft_coro_start(&d, r, one_sleep, r, NULL) == 0);
    weft_test_clock_advance(clock, r, 0.0);
    CHECK_INT(take(d).v.i, 1);
  }
  /* One stack served them all. */
  CHECK_INT(weft__coro_stack_live(), live0 + 1);
  CHECK_INT(weft__coro_stack_pool_len(), 1);
  weft__coro_stack_pool_drain();
  close_reactor(r, clock);
}

static weft_value big_frame(weft_coro *co, void *arg) {
  (void)co;
  (void)arg;
  volatile char buf[200 * 1024];
  for (size_t i = 0; i < sizeof buf; i += 1024) buf[i] = (char)i;
  return weft_int(buf[1024]);
}

static void test_stack_size_option(void) {
  weft_test_clock *clock;
  weft_reactor *r = clock_reactor(&clock);
  weft_coro_options o;
  weft_coro_options_init(&o);
  CHECK_INT(o.stack_size, 0);
  o.stack_size = 512 * 1024;
  weft_deferred *d;
  REQUIRE(weft_coro_start(&d, r, big_frame, NULL, &o) == 0);
  CHECK_INT(take(d).v.i, (char)1024);
  close_reactor(r, clock);
}

/* ---- weft_react ---- */

typedef struct react_args {
  int mode; /* 0: succeed after a timer, 1: fail after a timer, 2: return NULL */
  int errors;
  char text[256];
} react_args;

static void capture(const weft_log_event *ev, void *user) {
  react_args *a = user;
  if (ev->level < WEFT_LOG_ERROR || strcmp(ev->ns, "weft.react") != 0) return;
  a->errors++;
  weft_log_format_message(ev, a->text, sizeof a->text);
}

static weft_value react_body(weft_coro *co, void *arg) {
  react_args *a = arg;
  weft_value v = weft_await(co, sleep_for(weft_coro_reactor(co), 0.001, 5));
  if (a->mode == 1) {
    weft_value_release(v);
    return weft_failed(weft_failure_new("app", 3, "main went wrong"));
  }
  return v;
}

static weft_deferred *react_main(weft_reactor *r, void *arg) {
  react_args *a = arg;
  weft_log_add_observer(weft_reactor_log(r), WEFT_LOG_DEBUG, capture, a);
  if (a->mode == 2) return NULL;
  weft_deferred *d;
  if (weft_coro_start(&d, r, react_body, a, NULL) != 0) return NULL;
  return d;
}

static void test_react(void) {
  react_args a = {.mode = 0};
  CHECK_INT(weft_react(react_main, &a), 0);
  CHECK_INT(a.errors, 0);

  a = (react_args){.mode = 1};
  CHECK_INT(weft_react(react_main, &a), 1);
  CHECK_INT(a.errors, 1);
  CHECK(strstr(a.text, "main went wrong") != NULL);
  CHECK(strstr(a.text, "app/3") != NULL);

  a = (react_args){.mode = 2};
  CHECK_INT(weft_react(react_main, &a), 1);
  CHECK_INT(a.errors, 1);
  CHECK_INT(weft_react(NULL, NULL), 1);
}

int main(void) {
  RUN(test_returns_without_await);
  RUN(test_await_fired);
  RUN(test_await_unfired);
  RUN(test_await_failure);
  RUN(test_await_null_and_chain);
  RUN(test_nested_timer_awaits);
  RUN(test_interleaving);
  RUN(test_cancel_while_awaiting);
  RUN(test_ten_thousand);
  RUN(test_deep_await_chain);
  RUN(test_stack_reuse);
  RUN(test_stack_size_option);
  RUN(test_react);
  weft__coro_stack_pool_drain();
  return CHECK_DONE();
}
