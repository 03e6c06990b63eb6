/* log.h: structured logging in the spirit of twisted.logger.
 *
 * An event has a namespace ("weft.tcp"), a level, a format string whose {name} placeholders
 * refer to the event's fields, and the fields themselves (typed key/value pairs). Events go to a
 * publisher, which hands them to its observers; each reactor has one publisher, so a program
 * with several reactors routes their logs separately. The library reports everything through
 * this; it never prints. With no observer added, events at WEFT_LOG_WARN and above go to stderr
 * as text so that errors are not lost silently; adding any observer replaces that default. */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_log_level {
  WEFT_LOG_DEBUG = 0,
  WEFT_LOG_INFO = 1,
  WEFT_LOG_WARN = 2,
  WEFT_LOG_ERROR = 3,
  WEFT_LOG_CRITICAL = 4,
} weft_log_level;

typedef enum weft_log_field_type {
  WEFT_LOG_FIELD_END = 0, /* terminates a field list */
  WEFT_LOG_FIELD_STR,
  WEFT_LOG_FIELD_INT,
  WEFT_LOG_FIELD_UINT,
  WEFT_LOG_FIELD_DOUBLE,
  WEFT_LOG_FIELD_ERR, /* a WEFT_E* code: rendered as its message, named in JSON */
} weft_log_field_type;

/* One field. The strings are borrowed for the duration of the call only: an observer that keeps
 * an event must copy what it keeps. */
typedef struct weft_log_field {
  weft_log_field_type type;
  const char *key;
  union {
    const char *s;
    long long i;
    unsigned long long u;
    double d;
  } v;
} weft_log_field;

/* Field constructors for the variadic emitters; the list ends with WEFT_LOG_END. */
#define WEFT_LOG_STR(k, x) ((weft_log_field){.type = WEFT_LOG_FIELD_STR, .key = (k), .v.s = (x)})
#define WEFT_LOG_INT(k, x) ((weft_log_field){.type = WEFT_LOG_FIELD_INT, .key = (k), .v.i = (x)})
#define WEFT_LOG_UINT(k, x) ((weft_log_field){.type = WEFT_LOG_FIELD_UINT, .key = (k), .v.u = (x)})
#define WEFT_LOG_DOUBLE(k, x) ((weft_log_field){.type = WEFT_LOG_FIELD_DOUBLE, .key = (k), .v.d = (x)})
#define WEFT_LOG_ERR(k, x) ((weft_log_field){.type = WEFT_LOG_FIELD_ERR, .key = (k), .v.i = (x)})
#define WEFT_LOG_END ((weft_log_field){.type = WEFT_LOG_FIELD_END})

/* A log event as observers see it; valid only during the observer call. */
typedef struct weft_log_event {
  const char *ns;     /* namespace, e.g. "weft.tcp" */
  weft_log_level level;
  const char *format; /* "connection from {peer} refused: {error}" */
  const weft_log_field *fields;
  size_t nfields;
  double time; /* wall-clock seconds since the epoch */
} weft_log_event;

typedef struct weft_log_publisher weft_log_publisher;

/* An observer receives every event at or above its min_level. */
typedef void (*weft_log_observer_fn)(const weft_log_event *ev, void *user);

/* Creates a publisher with no observer (so the stderr default applies). Returns 0 or
 * WEFT_ENOMEM. Free with weft_log_publisher_free. */
int weft_log_publisher_new(weft_log_publisher **out);

/* Frees the publisher; its observers' user data is not touched (the caller owns it). Must not be
 * called from inside one of its observers. */
void weft_log_publisher_free(weft_log_publisher *p);

/* Adds an observer that receives events at min_level or above. Returns 0, WEFT_ENOMEM,
 * WEFT_EINVAL for a NULL fn or a min_level out of range, or WEFT_EEXIST if the same (fn, user)
 * pair is already there. May be called from inside an observer: the new one sees the next
 * event, not the one being delivered. */
int weft_log_add_observer(weft_log_publisher *p, weft_log_level min_level, weft_log_observer_fn fn,
                          void *user);

/* Removes the observer added with (fn, user). Returns 0 or WEFT_ENOENT. May be called from inside
 * an observer (even for itself): a removed observer is not called again, not even for the event
 * being delivered. When the last observer goes, the stderr default applies again. */
int weft_log_remove_observer(weft_log_publisher *p, weft_log_observer_fn fn, void *user);

/* Emits an event built from fields (terminated by a WEFT_LOG_END field; fields may be NULL for
 * none). Cheap when nobody listens at that level: nothing is formatted and the clock is not read.
 * A NULL p behaves as a publisher with no observer (the stderr default); a NULL ns or format is
 * taken as "". Observers run synchronously, in the order they were added. */
void weft_log_emitv(weft_log_publisher *p, weft_log_level level, const char *ns, const char *format,
                    const weft_log_field *fields);

/* Variadic form: weft_log_emit(p, WEFT_LOG_INFO, "app", "hello {who}", WEFT_LOG_STR("who", "x"),
 * WEFT_LOG_END). At most 32 fields are taken; the rest are dropped. */
void weft_log_emit(weft_log_publisher *p, weft_log_level level, const char *ns, const char *format, ...);

/* True if some observer (or the default) would receive an event at level. */
int weft_log_enabled(const weft_log_publisher *p, weft_log_level level);

/* Renders an event's message (format with fields substituted) into buf, always NUL-terminated
 * (buf may be NULL when size is 0). Returns the length the whole message needs, like snprintf.
 * "{name}" is replaced by the first field with that key: STR as is (NULL as "(null)"), INT and
 * UINT in decimal, DOUBLE with %g, ERR as weft_strerror(code). Unknown {names} and lone braces
 * stay as written; "{{" and "}}" give literal braces. No format specs ("{x:>8}"). */
size_t weft_log_format_message(const weft_log_event *ev, char *buf, size_t size);

/* Observers provided by weft. Each writes one line per event to the FILE passed as user (stderr
 * if NULL), holding the FILE's lock for the line so lines from several threads do not mix, and
 * flushes it.
 * Text: "2026-11-25T17:00:00.123Z [weft.tcp#warn] message" (UTC, milliseconds); the message is
 * written as rendered, unescaped.
 * JSON lines: one object per event with "time" (seconds since the epoch, a number), "level" (its
 * name), "namespace", "format", "text" (the rendered message), then every field by its key: INT,
 * UINT and DOUBLE as numbers (non-finite doubles as null), STR as a string (NULL as null), ERR as
 * {"code":-111,"name":"ECONNREFUSED","message":"connection refused"}. Strings are escaped per
 * RFC 8259: '"' and '\' with a backslash, control characters as \u00XX, and bytes that are not
 * valid UTF-8 as \ufffd, so every line is valid JSON. A field whose key is NULL, repeats an
 * earlier field's, or is one of the five names above is left out of the object. */
void weft_log_text_observer(const weft_log_event *ev, void *file);
void weft_log_json_observer(const weft_log_event *ev, void *file);

/* Returns "debug", "info", "warn", "error" or "critical" ("unknown" for a value out of range);
 * weft_log_level_parse is the reverse, ignoring case and also taking "warning" (returns 0 and
 * sets *out, or WEFT_EINVAL). */
const char *weft_log_level_name(weft_log_level level);
int weft_log_level_parse(const char *name, weft_log_level *out);

#ifdef __cplusplus
}
#endif
#endif
