/* Twisted itself as the oracle for src/async/deferred.c: the scripted chains of
 * tests/async/twisted_chains.py (nested Deferreds, errback recovery, cancellation, chaining,
 * DeferredList flags, gather's failure, cancelling the aggregates) run here on weft's Deferreds
 * and there on twisted.internet.defer (Debian's python3-twisted,
 * installed by scripts/deps); both print one line per event in the same neutral format, and this
 * test compares the two outputs line by line, printing the first difference.
 * Each chainN function here has a twin of the same name in the script: change both together.
 * WEFT_TWCOMPARE_PRINT=1 prints weft's side in full. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "weft/deferred.h"
#include "weft/deferred_list.h"
#include "weft/errors.h"

#define PYTHON "/usr/bin/python3"
#define SCRIPT WEFT_SOURCE_DIR "/tests/async/twisted_chains.py"
#define SCRIPT_TIMEOUT_MS 30000

extern char **environ;

/* ---- weft's side of the output ---- */

static char out[32768];
static size_t out_len;

static void emit(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + out_len, sizeof out - out_len, fmt, ap);
  va_end(ap);
  REQUIRE(n >= 0 && out_len + (size_t)n + 1 < sizeof out);
  out_len += (size_t)n;
  out[out_len++] = '\n';
  out[out_len] = '\0';
}

#define DOMAIN "test" /* the application errors, Python's CodedError */

/* snprintf that returns the length written (never past size): renderings here are short, and
 * one cut short still shows up as a difference. */
__attribute__((format(printf, 3, 4))) static size_t put(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* A gather's result is a list of values (Python's list), a DeferredList's a list of (ok, value)
 * pairs: the same weft_result_list, shown as the script shows each. */
static bool show_values_only;

static void show(weft_value v, char *buf, size_t size);

static void show_list(const weft_result_list *l, char *buf, size_t size) {
  size_t len = put(buf, size, "[");
  for (size_t i = 0; i < weft_result_list_count(l); i++) {
    char item[128];
    show(weft_result_list_get(l, i), item, sizeof item);
    const char *sep = i ? ", " : "";
    if (show_values_only) len += put(buf + len, size - len, "%s%s", sep, item);
    else len += put(buf + len, size - len, "%s[%s, %s]", sep, weft_result_list_ok(l, i) ? "true" : "false", item);
  }
  put(buf + len, size - len, "]");
}

static void show_failure(const weft_failure *f, char *buf, size_t size) {
  size_t index;
  char cause[128];
  if (weft_failure_check(f, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED)) {
    put(buf, size, "fail cancelled");
  } else if (weft_failure_check(f, DOMAIN, WEFT_FAILURE_ANY_CODE)) {
    put(buf, size, "fail E%d", weft_failure_code(f));
  } else if (weft_first_error_index(f, &index)) {
    show_failure(weft_failure_cause(f), cause, sizeof cause);
    put(buf, size, "fail first-error index %zu cause %s", index, cause);
  } else {
    put(buf, size, "fail %s/%d", weft_failure_domain(f), weft_failure_code(f));
  }
}

static void show(weft_value v, char *buf, size_t size) {
  const weft_result_list *l;
  const weft_indexed_value *iv;
  char item[128];
  switch (v.kind) {
    case WEFT_VALUE_NONE: put(buf, size, "none"); break;
    case WEFT_VALUE_INT: put(buf, size, "%lld", (long long)v.v.i); break;
    case WEFT_VALUE_FAILURE: show_failure(v.v.f, buf, size); break;
    case WEFT_VALUE_PTR:
      if ((l = weft_result_list_of(v))) {
        show_list(l, buf, size);
      } else if ((iv = weft_indexed_value_of(v))) {
        show(iv->value, item, sizeof item);
        put(buf, size, "[%s, %zu]", item, iv->index); /* Twisted's (result, index) */
      } else {
        put(buf, size, "unknown pointer");
      }
      break;
    default: put(buf, size, "value of kind %d", (int)v.kind); break;
  }
}

static weft_log_publisher *log_pub;
static int unhandled;
static void count_unhandled(const weft_log_event *ev, void *user) {
  (void)user;
  if (strcmp(ev->ns, "weft.defer") == 0) unhandled++;
}

static weft_deferred *new_deferred(void) {
  weft_deferred *d = weft_deferred_new(log_pub);
  REQUIRE(d);
  return d;
}

/* Prints d's state; a failed result is then taken out (handled), as the script does. */
static void final(const char *chain, const char *name, weft_deferred *d) {
  char s[96];
  if (!weft_deferred_called(d)) snprintf(s, sizeof s, "unfired");
  else if (weft_deferred_paused(d)) snprintf(s, sizeof s, "paused");
  else show(weft_deferred_result(d), s, sizeof s);
  emit("%s %s final %s", chain, name, s);
  weft_value v;
  if (weft_value_is_failure(weft_deferred_result(d)) && weft_deferred_take_result(d, &v) == 0) weft_value_release(v);
}

static void fire(const char *chain, const char *name, weft_deferred *d, weft_value v) {
  int rc = weft_deferred_callback(d, v);
  emit("%s fire %s returned %s", chain, name, rc == 0 ? "ok" : rc == WEFT_EALREADY ? "already-called" : weft_err_name(rc));
}

static weft_value coded(int code) { return weft_failed(weft_failure_new(DOMAIN, code, "coded error %d", code)); }

/* ---- steps: log what they got, then apply their operation ---- */

typedef enum { OP_ADD, OP_TIMES, OP_FAIL, OP_RECOVER, OP_PASS, OP_RET, OP_WRAP, OP_LIST, OP_LEN } op_kind;

typedef struct spec {
  const char *chain;
  int n;
  op_kind op;
  int64_t k;
  weft_deferred *d, *d2; /* OP_RET returns d; OP_LIST a DeferredList of d and d2 */
} spec;

static spec specs[128];
static int nspecs;

static spec *S(const char *chain, int n, op_kind op, int64_t k) {
  REQUIRE(nspecs < (int)(sizeof specs / sizeof specs[0]));
  specs[nspecs] = (spec){chain, n, op, k, NULL, NULL};
  return &specs[nspecs++];
}
static spec *RET(const char *chain, int n, weft_deferred *d) {
  spec *s = S(chain, n, OP_RET, 0);
  s->d = d;
  return s;
}

static weft_value run_spec(weft_value in, void *arg) {
  const spec *s = arg;
  char got[96];
  show(in, got, sizeof got);
  emit("%s step%d %s got %s", s->chain, s->n, weft_value_is_failure(in) ? "errback" : "callback", got);
  switch (s->op) {
    case OP_ADD: return weft_int(in.v.i + s->k);
    case OP_TIMES: return weft_int(in.v.i * s->k);
    case OP_PASS: return in;
    case OP_FAIL: weft_value_release(in); return coded((int)s->k);
    case OP_RECOVER: weft_value_release(in); return weft_int(s->k);
    case OP_RET: weft_value_release(in); return weft_chain(weft_deferred_ref(s->d));
    case OP_LIST: {
      weft_value_release(in);
      weft_deferred *ds[] = {weft_deferred_ref(s->d), weft_deferred_ref(s->d2)};
      return weft_chain(weft_deferred_list(log_pub, ds, 2, WEFT_CONSUME_ERRORS));
    }
    case OP_LEN: {
      const weft_result_list *l = weft_result_list_of(in);
      int64_t n = l ? (int64_t)weft_result_list_count(l) : -1;
      weft_value_release(in);
      return weft_int(n);
    }
    case OP_WRAP: {
      weft_value f = coded(weft_failure_code(in.v.f) + 1000);
      weft_failure_set_cause(f.v.f, in.v.f);
      return f;
    }
  }
  return in;
}

static void cb(weft_deferred *d, spec *s) { weft_deferred_add_callback(d, run_spec, s); }
static void eb(weft_deferred *d, spec *s) { weft_deferred_add_errback(d, run_spec, s); }
static void both(weft_deferred *d, spec *s) { weft_deferred_add_both(d, run_spec, s); }

/* ---- chains: twins of the script's ---- */

static void chain1(void) {
  weft_deferred *d = new_deferred();
  cb(d, S("chain1", 1, OP_ADD, 1));
  cb(d, S("chain1", 2, OP_TIMES, 10));
  fire("chain1", "d", d, weft_int(1));
  final("chain1", "d", d);
  weft_deferred_unref(d);
}

static void chain2(void) {
  weft_deferred *d = new_deferred();
  cb(d, S("chain2", 1, OP_FAIL, 7));
  cb(d, S("chain2", 2, OP_ADD, 1));
  eb(d, S("chain2", 3, OP_RECOVER, 99));
  eb(d, S("chain2", 4, OP_RECOVER, 0));
  both(d, S("chain2", 5, OP_PASS, 0));
  cb(d, S("chain2", 6, OP_ADD, 1));
  fire("chain2", "d", d, weft_int(6));
  final("chain2", "d", d);
  weft_deferred_unref(d);
}

static void chain3(void) {
  weft_deferred *outer = new_deferred(), *inner = new_deferred();
  cb(outer, RET("chain3", 1, inner));
  cb(outer, S("chain3", 2, OP_ADD, 1));
  cb(inner, S("chain3", 3, OP_TIMES, 3));
  fire("chain3", "outer", outer, weft_int(0));
  final("chain3", "outer", outer);
  fire("chain3", "inner", inner, weft_int(5));
  final("chain3", "outer", outer);
  final("chain3", "inner", inner);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain4(void) {
  weft_deferred *inner = weft_fail(log_pub, coded(4).v.f), *outer = new_deferred();
  cb(outer, RET("chain4", 1, inner));
  cb(outer, S("chain4", 2, OP_ADD, 1));
  eb(outer, S("chain4", 3, OP_RECOVER, 40));
  cb(outer, S("chain4", 4, OP_ADD, 2));
  fire("chain4", "outer", outer, weft_int(0));
  final("chain4", "outer", outer);
  final("chain4", "inner", inner);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain5(void) {
  weft_deferred *a = new_deferred(), *b = new_deferred(), *c = new_deferred();
  cb(a, RET("chain5", 1, b));
  cb(a, S("chain5", 2, OP_ADD, 100));
  cb(b, RET("chain5", 3, c));
  cb(b, S("chain5", 4, OP_TIMES, 2));
  cb(c, S("chain5", 5, OP_ADD, 1));
  fire("chain5", "b", b, weft_int(1));
  fire("chain5", "a", a, weft_int(0));
  final("chain5", "a", a);
  final("chain5", "b", b);
  final("chain5", "c", c);
  fire("chain5", "c", c, weft_int(4));
  final("chain5", "a", a);
  final("chain5", "b", b);
  final("chain5", "c", c);
  weft_deferred_unref(a);
  weft_deferred_unref(b);
  weft_deferred_unref(c);
}

static void chain6(void) {
  weft_deferred *outer = new_deferred(), *inner = new_deferred();
  cb(outer, S("chain6", 1, OP_FAIL, 3));
  eb(outer, RET("chain6", 2, inner));
  cb(outer, S("chain6", 3, OP_ADD, 1));
  fire("chain6", "outer", outer, weft_int(0));
  fire("chain6", "inner", inner, weft_int(7));
  final("chain6", "outer", outer);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain7(void) {
  weft_deferred *outer = new_deferred(), *inner = new_deferred();
  cb(inner, S("chain7", 1, OP_FAIL, 5));
  cb(outer, RET("chain7", 2, inner));
  eb(outer, S("chain7", 3, OP_WRAP, 0));
  cb(outer, S("chain7", 4, OP_ADD, 1));
  eb(outer, S("chain7", 5, OP_PASS, 0));
  fire("chain7", "outer", outer, weft_int(0));
  fire("chain7", "inner", inner, weft_int(1));
  eb(outer, S("chain7", 6, OP_RECOVER, 1));
  final("chain7", "outer", outer);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain8(void) {
  weft_deferred *d = weft_succeed(log_pub, weft_int(1));
  emit("chain8 adding");
  cb(d, S("chain8", 1, OP_ADD, 1));
  emit("chain8 added");
  final("chain8", "d", d);
  weft_deferred_unref(d);
}

static void chain9(void) {
  weft_deferred *d = new_deferred();
  fire("chain9", "d", d, weft_int(1));
  fire("chain9", "d", d, weft_int(2));
  fire("chain9", "d", d, coded(1));
  final("chain9", "d", d);
  weft_deferred_unref(d);
}

static void chain10(void) {
  weft_deferred *d = new_deferred();
  both(d, S("chain10", 1, OP_PASS, 0));
  weft_deferred_cancel(d);
  fire("chain10", "d", d, weft_int(5));
  fire("chain10", "d", d, weft_int(6));
  final("chain10", "d", d);
  weft_deferred_unref(d);
}

static void chain11_canceller(weft_deferred *d, void *arg) {
  (void)d;
  (void)arg;
  emit("chain11 canceller ran");
}

static void chain11(void) {
  weft_deferred *d = weft_deferred_new_cancellable(log_pub, chain11_canceller, NULL);
  eb(d, S("chain11", 1, OP_PASS, 0));
  weft_deferred_cancel(d);
  weft_deferred_cancel(d);
  fire("chain11", "d", d, weft_int(5));
  final("chain11", "d", d);
  weft_deferred_unref(d);
}

static void chain12_canceller(weft_deferred *d, void *arg) {
  (void)arg;
  emit("chain12 canceller ran");
  weft_deferred_callback(d, weft_int(-1));
}

static void chain12(void) {
  weft_deferred *d = weft_deferred_new_cancellable(log_pub, chain12_canceller, NULL);
  cb(d, S("chain12", 1, OP_ADD, 1));
  weft_deferred_cancel(d);
  final("chain12", "d", d);
  weft_deferred_unref(d);
}

static void chain13_canceller(weft_deferred *d, void *arg) {
  (void)d;
  (void)arg;
  emit("chain13 inner canceller ran");
}

static void chain13(void) {
  weft_deferred *outer = new_deferred();
  weft_deferred *inner = weft_deferred_new_cancellable(log_pub, chain13_canceller, NULL);
  REQUIRE(inner);
  cb(outer, RET("chain13", 1, inner));
  both(outer, S("chain13", 2, OP_PASS, 0));
  fire("chain13", "outer", outer, weft_int(0));
  weft_deferred_cancel(outer);
  final("chain13", "outer", outer);
  final("chain13", "inner", inner);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain14(void) {
  weft_deferred *d = weft_succeed(log_pub, weft_int(3));
  weft_deferred_cancel(d);
  cb(d, S("chain14", 1, OP_ADD, 1));
  final("chain14", "d", d);
  weft_deferred_unref(d);
}

static void chain15(void) {
  weft_deferred *a = new_deferred(), *b = new_deferred();
  cb(b, S("chain15", 1, OP_ADD, 1));
  weft_deferred_chain_to(a, b);
  cb(a, S("chain15", 2, OP_PASS, 0));
  fire("chain15", "a", a, weft_int(1));
  final("chain15", "a", a);
  final("chain15", "b", b);
  weft_deferred_unref(a);
  weft_deferred_unref(b);
}

static void chain16(void) {
  weft_deferred *outer = new_deferred(), *inner = new_deferred();
  cb(outer, RET("chain16", 1, inner));
  fire("chain16", "outer", outer, weft_int(0));
  cb(outer, S("chain16", 2, OP_ADD, 1));
  final("chain16", "outer", outer);
  fire("chain16", "inner", inner, weft_int(5));
  final("chain16", "outer", outer);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain17(void) {
  weft_deferred *outer = new_deferred(), *inner = new_deferred();
  cb(inner, S("chain17", 1, OP_TIMES, 2));
  fire("chain17", "inner", inner, weft_int(3));
  cb(outer, RET("chain17", 2, inner));
  cb(outer, S("chain17", 3, OP_ADD, 1));
  fire("chain17", "outer", outer, weft_int(0));
  final("chain17", "outer", outer);
  final("chain17", "inner", inner);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain18(void) {
  weft_deferred *outer = new_deferred(), *inner = new_deferred();
  cb(outer, RET("chain18", 1, inner));
  both(outer, S("chain18", 2, OP_PASS, 0));
  fire("chain18", "outer", outer, weft_int(0));
  both(inner, S("chain18", 3, OP_PASS, 0));
  fire("chain18", "inner", inner, weft_int(5));
  final("chain18", "outer", outer);
  final("chain18", "inner", inner);
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
}

static void chain19(void) {
  weft_deferred *a = new_deferred(), *b = new_deferred(), *c = new_deferred();
  cb(a, RET("chain19", 1, b));
  cb(a, S("chain19", 2, OP_ADD, 1));
  cb(b, RET("chain19", 3, c));
  fire("chain19", "a", a, weft_int(0));
  fire("chain19", "b", b, weft_int(0));
  both(b, S("chain19", 4, OP_PASS, 0));
  both(c, S("chain19", 5, OP_PASS, 0));
  fire("chain19", "c", c, weft_int(9));
  final("chain19", "a", a);
  final("chain19", "b", b);
  final("chain19", "c", c);
  weft_deferred_unref(a);
  weft_deferred_unref(b);
  weft_deferred_unref(c);
}

/* ---- DeferredList and gather (see the script for what is left out and why) ---- */

/* The aggregates take the caller's reference to each input: the chains keep their own. */
#define REFS(...) ((weft_deferred *[]){__VA_ARGS__})
static weft_deferred *R(weft_deferred *d) { return weft_deferred_ref(d); }

static void chain20(void) {
  weft_deferred *d1 = new_deferred(), *d2 = new_deferred(), *d3 = new_deferred();
  weft_deferred *dl = weft_deferred_list(log_pub, REFS(R(d1), R(d2), R(d3)), 3, 0);
  fire("chain20", "d2", d2, weft_int(2));
  fire("chain20", "d3", d3, coded(3));
  final("chain20", "list", dl);
  fire("chain20", "d1", d1, weft_int(1));
  final("chain20", "list", dl);
  final("chain20", "d3", d3);
  weft_deferred_unref(dl);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
  weft_deferred_unref(d3);
}

static void chain21(void) {
  weft_deferred *d1 = new_deferred(), *d2 = new_deferred();
  weft_deferred *dl = weft_deferred_list(log_pub, REFS(R(d1), R(d2)), 2, WEFT_FIRE_ON_ONE_CALLBACK);
  fire("chain21", "d2", d2, weft_int(5));
  final("chain21", "list", dl);
  fire("chain21", "d1", d1, weft_int(7));
  final("chain21", "list", dl);
  final("chain21", "d1", d1);
  weft_deferred_unref(dl);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void chain22(void) {
  weft_deferred *d1 = new_deferred(), *d2 = new_deferred();
  weft_deferred *dl = weft_deferred_list(log_pub, REFS(R(d1), R(d2)), 2, WEFT_FIRE_ON_ONE_ERRBACK);
  fire("chain22", "d1", d1, weft_int(1));
  final("chain22", "list", dl);
  fire("chain22", "d2", d2, coded(4));
  final("chain22", "list", dl);
  final("chain22", "d2", d2);
  weft_deferred_unref(dl);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void chain23(void) {
  weft_deferred *d1 = new_deferred(), *d2 = weft_succeed(log_pub, weft_int(2));
  weft_deferred *dl = weft_deferred_list(log_pub, REFS(R(d1), R(d2)), 2, WEFT_CONSUME_ERRORS);
  fire("chain23", "d1", d1, coded(5));
  final("chain23", "list", dl);
  final("chain23", "d1", d1);
  weft_deferred_unref(dl);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void chain24(void) {
  weft_deferred *d1 = new_deferred(), *d2 = new_deferred();
  weft_deferred *dl =
      weft_deferred_list(log_pub, REFS(R(d1), R(d2)), 2, WEFT_FIRE_ON_ONE_CALLBACK | WEFT_CONSUME_ERRORS);
  fire("chain24", "d1", d1, coded(1));
  fire("chain24", "d2", d2, coded(2));
  final("chain24", "list", dl);
  weft_deferred_unref(dl);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void chain25(void) {
  show_values_only = true;
  weft_deferred *d1 = weft_succeed(log_pub, weft_int(1)), *d2 = new_deferred();
  weft_deferred *g = weft_gather(log_pub, REFS(R(d1), R(d2)), 2, 0);
  final("chain25", "gather", g);
  fire("chain25", "d2", d2, weft_int(2));
  final("chain25", "gather", g);
  weft_deferred_unref(g);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
  show_values_only = false;
}

static void chain26(void) {
  weft_deferred *d1 = new_deferred(), *d2 = new_deferred(), *d3 = new_deferred();
  weft_deferred *g = weft_gather(log_pub, REFS(R(d1), R(d2), R(d3)), 3, 0);
  both(g, S("chain26", 1, OP_PASS, 0));
  fire("chain26", "d1", d1, weft_int(1));
  fire("chain26", "d2", d2, coded(6));
  fire("chain26", "d3", d3, coded(7));
  final("chain26", "gather", g);
  final("chain26", "d2", d2);
  final("chain26", "d3", d3);
  weft_deferred_unref(g);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
  weft_deferred_unref(d3);
}

static void chain27(void) {
  weft_deferred *d1 = weft_succeed(log_pub, weft_int(1)), *d2 = new_deferred();
  weft_deferred *dl = weft_deferred_list(log_pub, REFS(R(d1), R(d2)), 2, 0);
  weft_deferred_cancel(dl);
  final("chain27", "list", dl); /* d2's state not compared: see the script */
  weft_deferred_unref(dl);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void chain28(void) {
  show_values_only = true;
  weft_deferred *d1 = new_deferred(), *d2 = new_deferred();
  weft_deferred *g = weft_gather(log_pub, REFS(R(d1), R(d2)), 2, WEFT_CONSUME_ERRORS);
  weft_deferred_cancel(g);
  final("chain28", "gather", g);
  final("chain28", "d1", d1);
  final("chain28", "d2", d2);
  weft_deferred_unref(g);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
  show_values_only = false;
}

static void chain29(void) {
  weft_deferred *outer = new_deferred(), *d1 = new_deferred(), *d2 = new_deferred();
  spec *list = S("chain29", 1, OP_LIST, 0);
  list->d = d1;
  list->d2 = d2;
  cb(outer, list);
  cb(outer, S("chain29", 2, OP_LEN, 0));
  fire("chain29", "outer", outer, weft_int(0));
  fire("chain29", "d2", d2, coded(8));
  final("chain29", "outer", outer);
  fire("chain29", "d1", d1, weft_int(1));
  final("chain29", "outer", outer);
  weft_deferred_unref(outer);
  weft_deferred_unref(d1);
  weft_deferred_unref(d2);
}

static void (*const chains[])(void) = {chain1,  chain2,  chain3,  chain4,  chain5,  chain6,  chain7,
                                       chain8,  chain9,  chain10, chain11, chain12, chain13, chain14,
                                       chain15, chain16, chain17, chain18, chain19, chain20, chain21,
                                       chain22, chain23, chain24, chain25, chain26, chain27, chain28,
                                       chain29};

/* ---- Twisted's side: run the script, capture its stdout ---- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs the script; returns its exit status (-1 if it could not run or timed out), output in buf. */
static int run_script(char *buf, size_t size) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  char *argv[] = {PYTHON, SCRIPT, NULL};
  pid_t pid;
  int err = posix_spawn(&pid, PYTHON, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (err != 0) {
    fprintf(stderr, "cannot run %s: %s\n", PYTHON, strerror(err));
    close(fds[0]);
    return -1;
  }
  size_t len = 0;
  double deadline = now_ms() + SCRIPT_TIMEOUT_MS;
  bool timed_out = false;
  for (;;) {
    int left = (int)(deadline - now_ms());
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    int n = left > 0 ? poll(&p, 1, left) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = true;
      break;
    }
    ssize_t r = read(fds[0], buf + len, size - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    REQUIRE(len < size - 1);
  }
  buf[len] = '\0';
  close(fds[0]);
  if (timed_out) {
    fprintf(stderr, "%s took longer than %d ms: killed\n", SCRIPT, SCRIPT_TIMEOUT_MS);
    kill(pid, SIGKILL);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Compares line by line; prints the first difference with the lines before it for context. */
static void compare_lines(const char *want, const char *got) {
  int line = 1;
  const char *w = want, *g = got;
  while (*w || *g) {
    size_t wl = strcspn(w, "\n"), gl = strcspn(g, "\n");
    if (wl != gl || memcmp(w, g, wl) != 0) {
      CHECK_FAIL_("line %d differs\n  twisted: %.*s\n  weft:    %.*s", line, (int)wl, *w ? w : "(end of output)",
                  (int)gl, *g ? g : "(end of output)");
      if (*w == '\0') fprintf(stderr, "  (twisted's output ended; weft printed more)\n");
      if (*g == '\0') fprintf(stderr, "  (weft's output ended; twisted printed more)\n");
      return;
    }
    w += wl + (w[wl] == '\n');
    g += gl + (g[gl] == '\n');
    line++;
  }
  fprintf(stderr, "  %d lines agree\n", line - 1);
}

static void test_chains_match_twisted(void) {
  REQUIRE(weft_log_publisher_new(&log_pub) == 0);
  weft_log_add_observer(log_pub, WEFT_LOG_DEBUG, count_unhandled, NULL);
  out_len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) chains[i]();
  CHECK_INT(unhandled, 0); /* every failed result was taken, as the script handles them */
  weft_log_publisher_free(log_pub);
  if (getenv("WEFT_TWCOMPARE_PRINT")) fputs(out, stdout);

  static char twisted[sizeof out];
  int status = run_script(twisted, sizeof twisted);
  if (status == 3) {
    CHECK_FAIL_("%s cannot import twisted: install python3-twisted (scripts/deps does)", PYTHON);
    return;
  }
  CHECK_INT(status, 0);
  compare_lines(twisted, out);
}

int main(void) {
  RUN(test_chains_match_twisted);
  return CHECK_DONE();
}
