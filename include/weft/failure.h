/* failure.h: asynchronous errors (twisted.python.failure.Failure).
 *
 * A Failure carries a domain (a static string such as "weft.dns"; weft's own errno-style errors
 * use WEFT_FAILURE_DOMAIN), a code (a WEFT_E* or an errno), a message, optional user data with
 * its destructor, a cause (another Failure: the chain is rendered by weft_failure_text) and the
 * place it was made (file, line, function), so a log shows where an asynchronous error came from,
 * not only where it surfaced.
 *
 * Failures are reference-counted: weft_failure_new returns one reference; Deferreds move
 * references along their chains. Creating a Failure never fails: when memory runs out, a static
 * "out of memory" Failure (domain WEFT_FAILURE_DOMAIN, code WEFT_ENOMEM) is returned instead,
 * whose reference counting does nothing.
 *
 * Threads: like everything on a reactor, a Failure belongs to one thread. Its reference count is
 * a plain int, so a Failure must not be shared across threads (ref/unref, set_cause, set_data,
 * or even reading while another thread writes) without external locking; hand it over whole
 * instead. The static out-of-memory Failure is never written and may be used from any thread.
 *
 * Every function here accepts NULL for f: accessors then return NULL, 0 or "" and
 * weft_failure_check returns false. */
#ifndef WEFT_FAILURE_H
#define WEFT_FAILURE_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_failure weft_failure;

/* The domain of failures made from WEFT_E* codes (cancellation, timeouts, socket errors). */
#define WEFT_FAILURE_DOMAIN "weft"
/* For weft_failure_check: matches any code of the domain. */
#define WEFT_FAILURE_ANY_CODE (-2147483647 - 1)

/* Makes a Failure; fmt (printf-style, may be NULL for an empty message) gives the message, of
 * any length vsnprintf can produce (an unformattable one becomes ""). domain must be a string
 * that outlives the Failure (a literal; NULL is taken as ""); file and func likewise (the macro
 * passes __FILE__ and __func__). Returns one reference, never NULL: the static out-of-memory
 * Failure when allocation fails. Use the macro, which records where it was called. */
weft_failure *weft_failure_new_at(const char *file, int line, const char *func, const char *domain, int code,
                                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
#define weft_failure_new(domain, code, ...) \
  weft_failure_new_at(__FILE__, __LINE__, __func__, (domain), (code), __VA_ARGS__)

/* A Failure in WEFT_FAILURE_DOMAIN for a WEFT_E* code, with weft_strerror's text as message. */
#define weft_failure_from_error(code) \
  weft_failure_new_at(__FILE__, __LINE__, __func__, WEFT_FAILURE_DOMAIN, (code), "%s", weft_strerror(code))

/* Adds/drops a reference. The last unref frees the Failure, its cause and its data. NULL is
 * ignored. weft_failure_ref returns f. */
weft_failure *weft_failure_ref(weft_failure *f);
void weft_failure_unref(weft_failure *f);

/* Sets the cause (taking the caller's reference to cause; a previous cause is released; NULL
 * removes the cause). f is returned, for chaining. Setting a cause on the static out-of-memory
 * Failure (or on NULL) drops the cause. A cause that would make a cycle (f itself, or a Failure
 * whose chain leads to f) is refused: f keeps its previous cause and the reference to cause is
 * released. Checking costs nothing when the caller holds the only reference to f (the usual case
 * of wrapping a new Failure around an old one), otherwise a walk down cause's chain. */
weft_failure *weft_failure_set_cause(weft_failure *f, weft_failure *cause);

/* Attaches user data, freed with destroy (may be NULL) when the Failure goes (a previous one is
 * destroyed first, unless it is the same pointer: then only the destructor is replaced). Ignored
 * on the static out-of-memory Failure or NULL (then data is destroyed at once). */
void weft_failure_set_data(weft_failure *f, void *data, void (*destroy)(void *));

/* Accessors; the strings and the cause are borrowed for as long as f lives. */
const char *weft_failure_domain(const weft_failure *f);
int weft_failure_code(const weft_failure *f);
const char *weft_failure_message(const weft_failure *f); /* never NULL ("" when none) */
const weft_failure *weft_failure_cause(const weft_failure *f); /* borrowed, or NULL */
void *weft_failure_data(const weft_failure *f);
/* Where the Failure was made; file and func may be NULL when unknown. */
const char *weft_failure_file(const weft_failure *f);
int weft_failure_line(const weft_failure *f);
const char *weft_failure_func(const weft_failure *f);

/* True if f's domain equals domain (by string) and its code is code, or code is
 * WEFT_FAILURE_ANY_CODE. Only f itself is checked, not its causes (as Python's except). */
bool weft_failure_check(const weft_failure *f, const char *domain, int code);

/* Renders f and its cause chain, one line each:
 *   "weft.dns/-3008: no address for example.invalid (at dns.c:120 in resolve_done)"
 *   "  caused by: weft/-111: connection refused (at connector.c:50 in finish)"
 * into buf (NUL-terminated when size > 0); returns the length the whole text needs, like
 * snprintf (so size > returned value means nothing was cut). Lines are separated by '\n', with
 * none after the last. The file is shown as its last path component; ": message" is left out
 * when the message is empty, and the place shrinks to "(at file:line)" or "(in func)" (or goes)
 * when file or func is unknown. At most 32 Failures are rendered; a longer chain ends with a line
 * "  ... N more causes". buf may be NULL when size is 0. NULL f renders as "". */
size_t weft_failure_text(const weft_failure *f, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
