/* log.c: structured log events, their publisher and the text and JSON observers (twisted.logger). */
#include "weft/log.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "weft/errors.h"

/* Most fields weft_log_emit collects: enough for any real event, small enough for the stack. */
#define MAX_VARIADIC_FIELDS 32

/* A removed observer keeps its slot with fn == NULL until no dispatch is running, so that an
 * observer may add or remove observers (itself included) while the publisher walks the list. */
typedef struct observer {
  weft_log_observer_fn fn;
  void *user;
  weft_log_level min_level;
} observer;

struct weft_log_publisher {
  observer *obs;
  size_t n, cap;
  size_t live;    /* entries with fn != NULL */
  int min_level;  /* lowest level anyone (or the default) receives: makes enabled() one compare */
  unsigned depth; /* nested dispatches in progress */
  int dirty;      /* some entries are marked removed */
};

static int level_valid(weft_log_level level) {
  return (int)level >= (int)WEFT_LOG_DEBUG && (int)level <= (int)WEFT_LOG_CRITICAL;
}

/* ---- publisher ------------------------------------------------------------------------------ */

int weft_log_publisher_new(weft_log_publisher **out) {
  weft_log_publisher *p = weft__calloc(1, sizeof *p);
  if (!p) return WEFT_ENOMEM;
  p->min_level = WEFT_LOG_WARN;
  *out = p;
  return 0;
}

void weft_log_publisher_free(weft_log_publisher *p) {
  if (!p) return;
  weft__free(p->obs);
  weft__free(p);
}

static void recompute_min_level(weft_log_publisher *p) {
  int min = WEFT_LOG_CRITICAL + 1;
  for (size_t i = 0; i < p->n; i++)
    if (p->obs[i].fn && (int)p->obs[i].min_level < min) min = (int)p->obs[i].min_level;
  p->min_level = p->live ? min : WEFT_LOG_WARN;
}

static observer *find_live(weft_log_publisher *p, weft_log_observer_fn fn, void *user) {
  for (size_t i = 0; i < p->n; i++)
    if (p->obs[i].fn == fn && p->obs[i].user == user) return &p->obs[i];
  return NULL;
}

int weft_log_add_observer(weft_log_publisher *p, weft_log_level min_level, weft_log_observer_fn fn,
                          void *user) {
  if (!p || !fn || !level_valid(min_level)) return WEFT_EINVAL;
  if (find_live(p, fn, user)) return WEFT_EEXIST;
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 4;
    observer *obs = weft__realloc(p->obs, cap * sizeof *obs);
    if (!obs) return WEFT_ENOMEM;
    p->obs = obs;
    p->cap = cap;
  }
  p->obs[p->n++] = (observer){.fn = fn, .user = user, .min_level = min_level};
  p->live++;
  recompute_min_level(p);
  return 0;
}

/* Drops the slots marked removed; only called when no dispatch holds an index into the list. */
static void sweep(weft_log_publisher *p) {
  size_t j = 0;
  for (size_t i = 0; i < p->n; i++)
    if (p->obs[i].fn) p->obs[j++] = p->obs[i];
  p->n = j;
  p->dirty = 0;
}

int weft_log_remove_observer(weft_log_publisher *p, weft_log_observer_fn fn, void *user) {
  observer *o = (p && fn) ? find_live(p, fn, user) : NULL;
  if (!o) return WEFT_ENOENT;
  o->fn = NULL;
  p->live--;
  p->dirty = 1;
  if (p->depth == 0) sweep(p);
  recompute_min_level(p);
  return 0;
}

int weft_log_enabled(const weft_log_publisher *p, weft_log_level level) {
  return (int)level >= (p ? p->min_level : (int)WEFT_LOG_WARN);
}

/* Walks the list by index, re-reading each slot, because an observer may grow (realloc) or mark
 * it; observers added during the walk see the next event, not this one. */
static void dispatch(weft_log_publisher *p, const weft_log_event *ev) {
  if (!p || p->live == 0) {
    if (ev->level >= WEFT_LOG_WARN) weft_log_text_observer(ev, stderr);
    return;
  }
  size_t n = p->n;
  p->depth++;
  for (size_t i = 0; i < n; i++) {
    observer o = p->obs[i];
    if (o.fn && ev->level >= o.min_level) o.fn(ev, o.user);
  }
  if (--p->depth == 0 && p->dirty) sweep(p);
}

static double now(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0.0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void publish(weft_log_publisher *p, weft_log_level level, const char *ns, const char *format,
                    const weft_log_field *fields, size_t nfields) {
  weft_log_event ev = {
      .ns = ns ? ns : "",
      .level = level,
      .format = format ? format : "",
      .fields = fields,
      .nfields = nfields,
      .time = now(),
  };
  dispatch(p, &ev);
}

void weft_log_emitv(weft_log_publisher *p, weft_log_level level, const char *ns, const char *format,
                    const weft_log_field *fields) {
  if (!weft_log_enabled(p, level)) return;
  size_t n = 0;
  while (fields && fields[n].type != WEFT_LOG_FIELD_END) n++;
  publish(p, level, ns, format, n ? fields : NULL, n);
}

void weft_log_emit(weft_log_publisher *p, weft_log_level level, const char *ns, const char *format, ...) {
  if (!weft_log_enabled(p, level)) return;
  weft_log_field fields[MAX_VARIADIC_FIELDS];
  size_t n = 0;
  va_list ap;
  va_start(ap, format);
  while (n < MAX_VARIADIC_FIELDS) {
    weft_log_field f = va_arg(ap, weft_log_field);
    if (f.type == WEFT_LOG_FIELD_END) break;
    fields[n++] = f;
  }
  va_end(ap);
  publish(p, level, ns, format, n ? fields : NULL, n);
}

/* ---- output sinks ----------------------------------------------------------------------------- */

/* Where rendered text goes: a caller's buffer (snprintf semantics) or a FILE, optionally as the
 * inside of a JSON string. One renderer serves all three, so observers never allocate. */
typedef struct sink {
  char *buf;
  size_t size;
  size_t len; /* bytes produced so far, including any that did not fit */
  FILE *f;
  int json;
} sink;

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 if it is not one (RFC 3629: no
 * overlongs, surrogates or code points past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) {
    len = 2;
  } else if (c < 0xF0) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c < 0xF5) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return len;
}

/* Writes s as the inside of a JSON string (RFC 8259): quote, backslash and control characters
 * escaped, and bytes that are not UTF-8 replaced by U+FFFD, since a JSON text must be UTF-8 and
 * log fields often carry bytes from peers. */
static void json_escape(FILE *f, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t start = 0, i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t k = (c == '"' || c == '\\' || c < 0x20) ? 0 : utf8_len(s + i, n - i);
    if (k) {
      i += k;
      continue;
    }
    fwrite(s + start, 1, i - start, f);
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputs("\\ufffd", f);
    start = ++i;
  }
  fwrite(s + start, 1, n - start, f);
}

static void sink_put(sink *s, const char *p, size_t n) {
  if (s->f) {
    if (s->json)
      json_escape(s->f, p, n);
    else
      fwrite(p, 1, n, s->f);
  } else if (s->len + 1 < s->size) {
    size_t room = s->size - 1 - s->len;
    memcpy(s->buf + s->len, p, n < room ? n : room);
  }
  s->len += n;
}

static void sink_puts(sink *s, const char *p) { sink_put(s, p, strlen(p)); }

/* ---- message rendering ------------------------------------------------------------------------ */

/* weft_strerror takes an int; a value outside int cannot be a weft code, so it maps to one that
 * is "unknown error" rather than being truncated into a misleading one. */
static int err_code(long long v) { return (v < INT_MIN || v > INT_MAX) ? INT_MIN : (int)v; }

static void render_field(sink *s, const weft_log_field *f) {
  char tmp[64];
  switch (f->type) {
  case WEFT_LOG_FIELD_STR: sink_puts(s, f->v.s ? f->v.s : "(null)"); return;
  case WEFT_LOG_FIELD_INT: snprintf(tmp, sizeof tmp, "%lld", f->v.i); break;
  case WEFT_LOG_FIELD_UINT: snprintf(tmp, sizeof tmp, "%llu", f->v.u); break;
  case WEFT_LOG_FIELD_DOUBLE: snprintf(tmp, sizeof tmp, "%g", f->v.d); break;
  case WEFT_LOG_FIELD_ERR: sink_puts(s, weft_strerror(err_code(f->v.i))); return;
  default: return;
  }
  sink_puts(s, tmp);
}

static const weft_log_field *find_field(const weft_log_event *ev, const char *name, size_t len) {
  for (size_t i = 0; i < ev->nfields; i++) {
    const char *key = ev->fields[i].key;
    if (key && strncmp(key, name, len) == 0 && key[len] == '\0') return &ev->fields[i];
  }
  return NULL;
}

/* The format mini-language of twisted.logger, minus format specs: {name}, {{ and }}. */
static void render_message(sink *s, const weft_log_event *ev) {
  const char *p = ev->format ? ev->format : "";
  while (*p) {
    size_t run = strcspn(p, "{}");
    sink_put(s, p, run);
    p += run;
    if (!*p) break;
    if (p[0] == p[1]) { /* "{{" or "}}" */
      sink_put(s, p, 1);
      p += 2;
      continue;
    }
    const char *close = p[0] == '{' ? strchr(p + 1, '}') : NULL;
    const weft_log_field *f = close ? find_field(ev, p + 1, (size_t)(close - p - 1)) : NULL;
    if (f) {
      render_field(s, f);
      p = close + 1;
    } else { /* a lone brace or an unknown name: kept as written */
      sink_put(s, p, 1);
      p++;
    }
  }
}

size_t weft_log_format_message(const weft_log_event *ev, char *buf, size_t size) {
  sink s = {.buf = buf, .size = buf ? size : 0};
  render_message(&s, ev);
  if (s.size) s.buf[s.len < s.size ? s.len : s.size - 1] = '\0';
  return s.len;
}

/* ---- observers -------------------------------------------------------------------------------- */

/* "2026-11-25T17:00:00.123Z"; a time that gmtime cannot represent is shown as such, not faked. */
static void format_time(double t, char out[48]) {
  static const char bad[] = "invalid-time";
  if (!(t > -1e15 && t < 1e15)) {
    memcpy(out, bad, sizeof bad);
    return;
  }
  /* Round to the nearest millisecond in integers: the fraction of a double near 1.8e9 is off by
   * ~1e-7, which truncation would turn into the millisecond below. Floors by hand to keep libm
   * out and to be right before 1970. */
  double x = t * 1000.0 + 0.5;
  long long m = (long long)x;
  if ((double)m > x) m--;
  long long ms = m % 1000;
  if (ms < 0) ms += 1000;
  time_t secs = (time_t)((m - ms) / 1000);
  struct tm tm;
  size_t n = gmtime_r(&secs, &tm) ? strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
  if (n == 0) {
    memcpy(out, bad, sizeof bad);
    return;
  }
  snprintf(out + n, 48 - n, ".%03dZ", (int)ms);
}

/* Writes a line rendered by render to f in one piece: the line is built in memory first and
 * goes out with one fwrite, so lines never interleave, neither between threads sharing the FILE
 * (its lock) nor between processes sharing the file (an unbuffered stderr makes one write(2) of
 * it: `weft web --workers N` has N+1 processes logging to one stderr). Without memory for the
 * line, it is written piece by piece under the lock, as before. */
static void write_line(FILE *f, void (*render)(FILE *, const weft_log_event *), const weft_log_event *ev) {
  char *line = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&line, &len);
  if (m) {
    render(m, ev);
    if (fclose(m) == 0) {
      flockfile(f);
      fwrite(line, 1, len, f);
      funlockfile(f);
      fflush(f);
      free(line); /* open_memstream's, from the C library */
      return;
    }
    free(line);
  }
  flockfile(f);
  render(f, ev);
  funlockfile(f);
  fflush(f);
}

static void render_text(FILE *f, const weft_log_event *ev) {
  char when[48];
  format_time(ev->time, when);
  fprintf(f, "%s [%s#%s] ", when, ev->ns ? ev->ns : "", weft_log_level_name(ev->level));
  sink s = {.f = f};
  render_message(&s, ev);
  fputc('\n', f);
}

void weft_log_text_observer(const weft_log_event *ev, void *file) { write_line(file ? file : stderr, render_text, ev); }

static void json_string(FILE *f, const char *str) {
  fputc('"', f);
  if (str) json_escape(f, str, strlen(str));
  fputc('"', f);
}

/* Shortest %g that reads back as the same double, so 0.1 is written 0.1, not 0.10000000000000001. */
static void json_double(FILE *f, double d) {
  char tmp[40];
  if (!isfinite(d)) {
    fputs("null", f);
    return;
  }
  snprintf(tmp, sizeof tmp, "%.15g", d);
  if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
  /* printf follows LC_NUMERIC, whose decimal point may be "," (or longer): not JSON. Whatever is
   * not a digit, sign or exponent is that decimal point, written as "." once. */
  int in_point = 0;
  for (const char *c = tmp; *c; c++) {
    if ((*c >= '0' && *c <= '9') || strchr("+-eE", *c)) {
      fputc(*c, f);
      in_point = 0;
    } else if (!in_point) {
      fputc('.', f);
      in_point = 1;
    }
  }
}

static void json_value(FILE *f, const weft_log_field *fl) {
  switch (fl->type) {
  case WEFT_LOG_FIELD_STR:
    if (fl->v.s)
      json_string(f, fl->v.s);
    else
      fputs("null", f);
    break;
  case WEFT_LOG_FIELD_INT: fprintf(f, "%lld", fl->v.i); break;
  case WEFT_LOG_FIELD_UINT: fprintf(f, "%llu", fl->v.u); break;
  case WEFT_LOG_FIELD_DOUBLE: json_double(f, fl->v.d); break;
  case WEFT_LOG_FIELD_ERR: {
    int code = err_code(fl->v.i);
    fprintf(f, "{\"code\":%lld,\"name\":", fl->v.i);
    json_string(f, weft_err_name(code));
    fputs(",\"message\":", f);
    json_string(f, weft_strerror(code));
    fputc('}', f);
    break;
  }
  default: fputs("null", f); break;
  }
}

/* JSON names should be unique (RFC 8259), so a field named like a standard member or like an
 * earlier field is left out: readers disagree on which duplicate wins. */
static int json_key_taken(const weft_log_event *ev, size_t i) {
  static const char *const reserved[] = {"time", "level", "namespace", "format", "text"};
  const char *key = ev->fields[i].key;
  if (!key || ev->fields[i].type == WEFT_LOG_FIELD_END) return 1;
  for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
    if (strcmp(key, reserved[r]) == 0) return 1;
  for (size_t j = 0; j < i; j++)
    if (ev->fields[j].key && strcmp(ev->fields[j].key, key) == 0) return 1;
  return 0;
}

static void render_json(FILE *f, const weft_log_event *ev) {
  fputs("{\"time\":", f);
  json_double(f, ev->time);
  fputs(",\"level\":", f);
  json_string(f, weft_log_level_name(ev->level));
  fputs(",\"namespace\":", f);
  json_string(f, ev->ns);
  fputs(",\"format\":", f);
  json_string(f, ev->format);
  fputs(",\"text\":\"", f);
  sink s = {.f = f, .json = 1};
  render_message(&s, ev);
  fputc('"', f);
  for (size_t i = 0; i < ev->nfields; i++) {
    if (json_key_taken(ev, i)) continue;
    fputc(',', f);
    json_string(f, ev->fields[i].key);
    fputc(':', f);
    json_value(f, &ev->fields[i]);
  }
  fputs("}\n", f);
}

void weft_log_json_observer(const weft_log_event *ev, void *file) { write_line(file ? file : stderr, render_json, ev); }

/* ---- levels ----------------------------------------------------------------------------------- */

static const char *const level_names[] = {"debug", "info", "warn", "error", "critical"};

const char *weft_log_level_name(weft_log_level level) {
  return level_valid(level) ? level_names[level] : "unknown";
}

int weft_log_level_parse(const char *name, weft_log_level *out) {
  if (!name || !out) return WEFT_EINVAL;
  /* "warning" is Python's and syslog's spelling; people type it. */
  if (strcasecmp(name, "warning") == 0) {
    *out = WEFT_LOG_WARN;
    return 0;
  }
  for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
    if (strcasecmp(name, level_names[i]) == 0) {
      *out = (weft_log_level)i;
      return 0;
    }
  }
  return WEFT_EINVAL;
}
