/* deferred_helpers.c: assertions on Deferreds for any C test framework, and a capture of logged
 * errors (Twisted's SynchronousTestCase.assertNoResult / successResultOf / failureResultOf and
 * flushLoggedErrors). */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "weft/errors.h"
#include "weft/testing.h"

/* ---- messages ---- */

static void say(char *why, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void say(char *why, size_t n, const char *fmt, ...) {
  if (!why || n == 0) return;
  va_list ap;
  va_start(ap, fmt);
  if (vsnprintf(why, n, fmt, ap) < 0) why[0] = '\0';
  va_end(ap);
}

/* "int 42", "failure weft/-111: connection refused (at ...)" ... into buf. */
static void describe_value(weft_value v, char *buf, size_t size) {
  switch (v.kind) {
    case WEFT_VALUE_INT: snprintf(buf, size, "int %" PRId64, v.v.i); break;
    case WEFT_VALUE_STR: snprintf(buf, size, "str \"%s\"", v.v.s ? v.v.s : "(null)"); break;
    case WEFT_VALUE_PTR: snprintf(buf, size, "ptr %p", v.v.p); break;
    case WEFT_VALUE_FAILURE: {
      int k = snprintf(buf, size, "failure ");
      if (k > 0 && (size_t)k < size) weft_failure_text(v.v.f, buf + k, size - (size_t)k);
      break;
    }
    case WEFT_VALUE_DEFERRED: snprintf(buf, size, "Deferred %p", (void *)v.v.d); break;
    default: snprintf(buf, size, "none"); break;
  }
}

/* Why d has no result to give, or NULL if it has one. */
static const char *why_no_result(weft_deferred *d) {
  if (!weft_deferred_called(d)) return "the Deferred has not fired";
  if (weft_deferred_paused(d)) return "the Deferred is waiting on another Deferred";
  return NULL;
}

/* Takes d's result, or says why it cannot (its chain is running: a helper called from one of
 * d's own callbacks). */
static int take(weft_deferred *d, weft_value *out, const char *expected, char *why, size_t n) {
  const char *none = why_no_result(d);
  if (!none && weft_deferred_take_result(d, out) != 0) none = "the Deferred's chain is running";
  if (!none) return 0;
  say(why, n, "expected %s, %s", expected, none);
  *out = weft_none();
  return WEFT_ESTATE;
}

/* ---- SynchronousTestCase helpers ---- */

bool weft_assert_no_result(weft_deferred *d, char *why, size_t n) {
  if (!d) {
    say(why, n, "expected a Deferred, got NULL");
    return false;
  }
  if (why_no_result(d)) {
    say(why, n, "%s", "");
    return true;
  }
  weft_value v = weft_deferred_result(d);
  char what[1536];
  describe_value(v, what, sizeof what);
  say(why, n, "expected no result, the Deferred has one: %s", what);
  /* a Failure is reported here; taking it out keeps it from being reported again when d goes */
  if (v.kind == WEFT_VALUE_FAILURE && weft_deferred_take_result(d, &v) == 0) weft_value_release(v);
  return false;
}

int weft_success_result_of(weft_deferred *d, weft_value *out, char *why, size_t n) {
  weft_value v = weft_none();
  if (out) *out = weft_none();
  if (!d) {
    say(why, n, "expected a Deferred, got NULL");
    return WEFT_EINVAL;
  }
  int rc = take(d, &v, "a result", why, n);
  if (rc) return rc;
  if (v.kind == WEFT_VALUE_FAILURE) {
    char what[1536];
    describe_value(v, what, sizeof what);
    say(why, n, "expected success, got %s", what);
    weft_value_release(v);
    return WEFT_EINVAL;
  }
  say(why, n, "%s", "");
  if (out) *out = v;
  else weft_value_release(v);
  return 0;
}

/* "failure weft/-110", "failure weft/(any code)", "a failure" */
static void describe_expected(const char *domain, int code, char *buf, size_t size) {
  if (!domain) snprintf(buf, size, "a failure");
  else if (code == WEFT_FAILURE_ANY_CODE) snprintf(buf, size, "failure %s/(any code)", domain);
  else snprintf(buf, size, "failure %s/%d", domain, code);
}

weft_failure *weft_failure_result_of(weft_deferred *d, const char *domain, int code, char *why, size_t n) {
  if (!d) {
    say(why, n, "expected a Deferred, got NULL");
    return NULL;
  }
  char expected[256];
  describe_expected(domain, code, expected, sizeof expected);
  weft_value v;
  if (take(d, &v, expected, why, n)) return NULL;
  if (v.kind == WEFT_VALUE_FAILURE && (!domain || weft_failure_check(v.v.f, domain, code))) {
    say(why, n, "%s", "");
    return v.v.f;
  }
  char what[1536];
  describe_value(v, what, sizeof what);
  say(why, n, "expected %s, got %s%s", expected, v.kind == WEFT_VALUE_FAILURE ? "" : "success: ", what);
  weft_value_release(v);
  return NULL;
}

/* ---- logged-error capture ---- */

struct weft_logged_errors {
  weft_log_publisher *p;
  pthread_mutex_t lock; /* events may be emitted from any thread */
  char **texts;
  size_t len, cap;
  size_t lost; /* errors that could not be stored (out of memory): still counted */
};

static void collect(const weft_log_event *ev, void *user) {
  weft_logged_errors *c = user;
  size_t need = weft_log_format_message(ev, NULL, 0) + 1;
  char *text = weft__malloc(need);
  if (text) weft_log_format_message(ev, text, need);
  pthread_mutex_lock(&c->lock);
  if (text && c->len == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 8;
    char **grown = weft__realloc(c->texts, cap * sizeof *grown);
    if (grown) {
      c->texts = grown;
      c->cap = cap;
    }
  }
  if (text && c->len < c->cap) {
    c->texts[c->len++] = text;
    text = NULL;
  } else {
    c->lost++;
  }
  pthread_mutex_unlock(&c->lock);
  weft__free(text); /* only when it could not be stored */
}

weft_logged_errors *weft_logged_errors_capture(weft_log_publisher *p) {
  if (!p) return NULL;
  weft_logged_errors *c = weft__calloc(1, sizeof *c);
  if (!c) return NULL;
  c->p = p;
  if (pthread_mutex_init(&c->lock, NULL) != 0) {
    weft__free(c);
    return NULL;
  }
  if (weft_log_add_observer(p, WEFT_LOG_ERROR, collect, c) != 0) {
    pthread_mutex_destroy(&c->lock);
    weft__free(c);
    return NULL;
  }
  return c;
}

size_t weft_logged_errors_flush(weft_logged_errors *c, const char *substring) {
  if (!c) return 0;
  pthread_mutex_lock(&c->lock);
  size_t removed = 0, kept = 0;
  for (size_t i = 0; i < c->len; i++) {
    if (!substring || strstr(c->texts[i], substring)) {
      weft__free(c->texts[i]);
      removed++;
    } else {
      c->texts[kept++] = c->texts[i];
    }
  }
  c->len = kept;
  if (!substring) {
    removed += c->lost;
    c->lost = 0;
  }
  pthread_mutex_unlock(&c->lock);
  return removed;
}

size_t weft_logged_errors_count(const weft_logged_errors *c) {
  if (!c) return 0;
  weft_logged_errors *m = (weft_logged_errors *)c; /* the lock is not part of the value */
  pthread_mutex_lock(&m->lock);
  size_t n = c->len + c->lost;
  pthread_mutex_unlock(&m->lock);
  return n;
}

const char *weft_logged_errors_text(const weft_logged_errors *c, size_t i) {
  if (!c) return NULL;
  weft_logged_errors *m = (weft_logged_errors *)c;
  pthread_mutex_lock(&m->lock);
  const char *t = i < c->len ? c->texts[i] : NULL;
  pthread_mutex_unlock(&m->lock);
  return t;
}

void weft_logged_errors_free(weft_logged_errors *c) {
  if (!c) return;
  weft_log_remove_observer(c->p, collect, c);
  weft_logged_errors_flush(c, NULL);
  weft__free(c->texts);
  pthread_mutex_destroy(&c->lock);
  weft__free(c);
}
