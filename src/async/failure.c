/* failure.c: reference-counted asynchronous errors with a cause chain (twisted.python.failure). */
#include "weft/failure.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "async/failure_internal.h"
#include "base/alloc.h"

/* Past this many Failures weft_failure_text only counts the rest: a runaway chain must not turn
 * one log line into megabytes. */
#define TEXT_MAX_DEPTH 32

struct weft_failure {
  int refs; /* plain int: a Failure lives on one reactor's thread (see failure.h) */
  int code;
  int line;
  const char *domain;
  const char *file;
  const char *func;
  const char *message; /* points just past the struct, in the same allocation */
  weft_failure *cause; /* one reference */
  void *data;
  void (*destroy)(void *);
};

/* Returned when memory runs out. It is never written (refs stays 0, cause and data stay NULL),
 * so sharing it between threads is safe even though nothing else about Failures is. */
static weft_failure oom_failure = {
    .code = WEFT_ENOMEM,
    .domain = WEFT_FAILURE_DOMAIN,
    .message = "out of memory",
};

static void *default_alloc(size_t size) { return weft__malloc(size); }

static void *(*failure_alloc)(size_t size) = default_alloc;

weft_failure *weft__failure_oom(void) { return &oom_failure; }

int weft__failure_is_oom(const weft_failure *f) { return f == &oom_failure; }

void weft__failure_set_alloc(void *(*fn)(size_t size)) { failure_alloc = fn ? fn : default_alloc; }

/* ---- life ----------------------------------------------------------------------------------- */

weft_failure *weft_failure_new_at(const char *file, int line, const char *func, const char *domain, int code,
                                  const char *fmt, ...) {
  va_list ap;
  int n = 0;
  if (fmt) {
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    /* An unformattable message (an encoding error) should not cost the error itself. */
    if (n < 0) n = 0;
  }
  weft_failure *f = failure_alloc(sizeof *f + (size_t)n + 1);
  if (!f) return &oom_failure;
  char *message = (char *)(f + 1);
  message[0] = '\0';
  if (n > 0) {
    va_start(ap, fmt);
    vsnprintf(message, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  *f = (weft_failure){
      .refs = 1,
      .code = code,
      .line = line,
      .domain = domain ? domain : "",
      .file = file,
      .func = func,
      .message = message,
  };
  return f;
}

weft_failure *weft_failure_ref(weft_failure *f) {
  if (f && f != &oom_failure) {
    assert(f->refs > 0 && f->refs < INT_MAX);
    f->refs++;
  }
  return f;
}

/* A loop, not recursion: the last reference to the head of a 100,000-long chain frees the chain
 * without growing the stack. */
void weft_failure_unref(weft_failure *f) {
  while (f && f != &oom_failure) {
    assert(f->refs > 0);
    if (--f->refs > 0) return;
    weft_failure *cause = f->cause;
    if (f->destroy) f->destroy(f->data);
    weft__free(f);
    f = cause;
  }
}

/* True if f is reachable from cause, so that making cause f's cause would close a loop (which
 * reference counting could never free, and which text rendering would walk forever). */
static bool would_cycle(const weft_failure *f, const weft_failure *cause) {
  if (cause == f) return true;
  /* The caller holds a reference to f; if it is the only one, no Failure has f as its cause, so
   * no chain reaches f. This keeps the usual "wrap a new Failure around an old one" O(1). */
  if (f->refs == 1) return false;
  for (const weft_failure *g = cause; g; g = g->cause)
    if (g == f) return true;
  return false;
}

weft_failure *weft_failure_set_cause(weft_failure *f, weft_failure *cause) {
  if (!f || f == &oom_failure) {
    weft_failure_unref(cause);
    return f;
  }
  if (cause && would_cycle(f, cause)) {
    /* Refused: release the reference given to us, except when cause is f passed with its only
     * reference (releasing it would free f under the caller). */
    if (cause != f || f->refs > 1) weft_failure_unref(cause);
    return f;
  }
  weft_failure *old = f->cause;
  f->cause = cause;
  weft_failure_unref(old);
  return f;
}

void weft_failure_set_data(weft_failure *f, void *data, void (*destroy)(void *)) {
  if (!f || f == &oom_failure) {
    if (destroy) destroy(data);
    return;
  }
  void *old = f->data;
  void (*old_destroy)(void *) = f->destroy;
  /* Store first, destroy after: the old destructor then sees f already in its final state. */
  f->data = data;
  f->destroy = destroy;
  if (old_destroy && old != data) old_destroy(old);
}

/* ---- accessors ------------------------------------------------------------------------------ */

const char *weft_failure_domain(const weft_failure *f) { return f ? f->domain : NULL; }
int weft_failure_code(const weft_failure *f) { return f ? f->code : 0; }
const char *weft_failure_message(const weft_failure *f) { return f ? f->message : ""; }
const weft_failure *weft_failure_cause(const weft_failure *f) { return f ? f->cause : NULL; }
void *weft_failure_data(const weft_failure *f) { return f ? f->data : NULL; }
const char *weft_failure_file(const weft_failure *f) { return f ? f->file : NULL; }
int weft_failure_line(const weft_failure *f) { return f ? f->line : 0; }
const char *weft_failure_func(const weft_failure *f) { return f ? f->func : NULL; }

bool weft_failure_check(const weft_failure *f, const char *domain, int code) {
  if (!f || !domain) return false;
  if (f->domain != domain && strcmp(f->domain, domain) != 0) return false;
  return code == WEFT_FAILURE_ANY_CODE || f->code == code;
}

/* ---- text ----------------------------------------------------------------------------------- */

/* snprintf over several calls: writes what fits, counts everything, keeps buf NUL-terminated. */
typedef struct text_out {
  char *buf;
  size_t size;
  size_t len; /* what the whole text needs so far */
} text_out;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void out_printf(text_out *o, const char *fmt, ...) {
  char *dst = NULL;
  size_t room = 0;
  if (o->len < o->size) {
    dst = o->buf + o->len;
    room = o->size - o->len;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(dst, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
}

/* __FILE__ may be a long build path; the last component is what a reader needs. */
static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static void render_one(text_out *o, const weft_failure *f) {
  out_printf(o, "%s/%d", f->domain, f->code);
  if (f->message[0]) out_printf(o, ": %s", f->message);
  if (f->file && f->func)
    out_printf(o, " (at %s:%d in %s)", base_name(f->file), f->line, f->func);
  else if (f->file)
    out_printf(o, " (at %s:%d)", base_name(f->file), f->line);
  else if (f->func)
    out_printf(o, " (in %s)", f->func);
}

size_t weft_failure_text(const weft_failure *f, char *buf, size_t size) {
  text_out o = {.buf = buf, .size = buf ? size : 0};
  if (o.size > 0) buf[0] = '\0';
  int depth = 0;
  for (; f && depth < TEXT_MAX_DEPTH; f = f->cause, depth++) {
    if (depth > 0) out_printf(&o, "\n  caused by: ");
    render_one(&o, f);
  }
  size_t more = 0;
  for (; f; f = f->cause) more++;
  if (more) out_printf(&o, "\n  ... %zu more cause%s", more, more == 1 ? "" : "s");
  return o.len;
}
