/* reactor.h: the event loop (twisted.internet.reactor).
 *
 * One reactor per thread, never shared: every callback runs on the thread that runs it. The only
 * thread-safe entry point is weft_reactor_call_from_thread. Backends (epoll, kqueue, poll) sit
 * behind one internal interface; the default is the platform's best, overridden by the
 * WEFT_REACTOR environment variable or by weft_reactor_options.backend. */
#ifndef WEFT_REACTOR_H
#define WEFT_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_reactor weft_reactor;
typedef struct weft_delayed_call weft_delayed_call;
typedef void (*weft_callback)(void *arg);

typedef enum weft_backend {
  WEFT_BACKEND_DEFAULT = 0, /* $WEFT_REACTOR if set, else epoll/kqueue where present, else poll */
  WEFT_BACKEND_EPOLL,
  WEFT_BACKEND_KQUEUE,
  WEFT_BACKEND_POLL,
} weft_backend;

/* An injectable monotonic clock: now_ns returns nanoseconds from any fixed origin. */
typedef struct weft_clock {
  int64_t (*now_ns)(void *user);
  void *user;
} weft_clock;

typedef struct weft_reactor_options {
  weft_backend backend;
  /* NULL: CLOCK_MONOTONIC. Tests pass the test kit's manual clock (testing.h). */
  const weft_clock *clock;
  /* NULL: the reactor makes its own publisher (weft_reactor_log). Borrowed otherwise. */
  weft_log_publisher *log;
} weft_reactor_options;

/* Fills o with the defaults; call before setting fields, so new fields get defaults too. */
void weft_reactor_options_init(weft_reactor_options *o);

/* Creates a reactor. o may be NULL for defaults. Returns 0, WEFT_ENOMEM, WEFT_EBACKEND when the
 * backend asked for (by option or $WEFT_REACTOR) does not exist here, WEFT_EINVAL for an unknown
 * $WEFT_REACTOR value, or the errno of the backend's setup (e.g. WEFT_EMFILE). */
int weft_reactor_new(weft_reactor **out, const weft_reactor_options *o);

/* Frees the reactor. Pending delayed calls are cancelled (their callbacks do not run); live
 * transports and ports must have been closed first: returns WEFT_EBUSY (and frees nothing) if
 * any handle is still open, else 0. */
int weft_reactor_free(weft_reactor *r);

/* Runs the loop until weft_reactor_stop: fires "startup" triggers, then turns until stopped,
 * then runs the "shutdown" triggers (before, during, after). Returns 0, or WEFT_ESTATE if the
 * reactor is already running. */
int weft_reactor_run(weft_reactor *r);

/* Asks the loop to stop: the current turn finishes, then the shutdown triggers run and
 * weft_reactor_run returns. Safe from any callback; calling it twice is harmless. Ignored when the
 * reactor is not running or its shutdown has already begun. */
void weft_reactor_stop(weft_reactor *r);

/* Runs one turn for embedding: waits at most timeout seconds (0 or NaN: do not wait, <0: wait for
 * the next event or timer) for I/O, then runs due I/O callbacks and timers. Returns the number of
 * callbacks run (>= 0) or a negative WEFT_E* from the backend. */
int weft_reactor_iterate(weft_reactor *r, double timeout);

/* True between weft_reactor_run's start and its return. */
bool weft_reactor_running(const weft_reactor *r);

/* The backend's name: "epoll", "kqueue" or "poll". */
const char *weft_reactor_backend_name(const weft_reactor *r);

/* Parses "epoll"/"kqueue"/"poll" into *out. Returns 0 or WEFT_EINVAL. */
int weft_backend_parse(const char *name, weft_backend *out);

/* True if this build has the backend. */
bool weft_backend_available(weft_backend b);

/* The reactor's current time in seconds (monotonic, from its clock; cached per turn: read again
 * before the reactor waits and as soon as it wakes, so I/O callbacks and timers see the time
 * after the wait). */
double weft_reactor_seconds(const weft_reactor *r);

/* The reactor's log publisher (never NULL). */
weft_log_publisher *weft_reactor_log(const weft_reactor *r);

/* Number of open handles (transports, ports, signal watchers, pending delayed calls, ...);
 * a test ends by checking that it is 0, as a dirty reactor fails a Twisted trial test. */
size_t weft_reactor_open_handles(const weft_reactor *r);

/* ---- timers (Twisted's callLater and DelayedCall) ---- */

/* Schedules fn(arg) after delay seconds (<0 and NaN count as 0; a huge delay is capped at over
 * a century, so the call never comes but can still be cancelled), counted from the reactor's
 * cached time (weft_reactor_seconds). Calls due at the same time run in the order they were
 * scheduled. The handle belongs to the reactor: it stays valid until fn has
 * returned or the call is cancelled, whichever comes first; inside fn, the call may reset or
 * delay itself, which schedules it again and keeps the handle valid. Returns NULL only when out
 * of memory. */
weft_delayed_call *weft_reactor_call_later(weft_reactor *r, double delay, weft_callback fn, void *arg);

/* call_later(0): fn runs on the next turn, after the I/O of this one, in scheduling order. */
weft_delayed_call *weft_reactor_call_soon(weft_reactor *r, weft_callback fn, void *arg);

/* Cancels a pending call; it will not run and the handle is no longer valid. Safe inside any
 * callback, including the call's own (then it is not rescheduled). Returns 0, or WEFT_EALREADY if
 * the call is running now and was not rescheduled (it is already done). */
int weft_delayed_call_cancel(weft_delayed_call *dc);

/* Reschedules the call to run delay seconds from now (Twisted's reset); it then counts as
 * scheduled now for the order of calls due together. Works on a pending call and, from inside its
 * own callback, re-arms it. Returns 0, WEFT_EINVAL for a NULL handle, or WEFT_ENOMEM if re-arming
 * from inside the callback fails (the call is then done). */
int weft_delayed_call_reset(weft_delayed_call *dc, double delay);

/* Moves the call's deadline by `by` seconds (Twisted's delay; negative moves it earlier), like
 * reset otherwise. Returns 0, WEFT_EINVAL or WEFT_ENOMEM as reset does. */
int weft_delayed_call_delay(weft_delayed_call *dc, double by);

/* The time (weft_reactor_seconds scale) at which the call is due. */
double weft_delayed_call_time(const weft_delayed_call *dc);

/* ---- looping calls (Twisted's LoopingCall with withCount) ---- */

typedef struct weft_looping_call weft_looping_call;

/* fn gets the number of intervals that have passed since its previous call: 1 when on time,
 * more when the reactor was late (those intervals are skipped, not replayed). */
typedef void (*weft_looping_fn)(weft_looping_call *lc, uint64_t count, void *arg);

/* Creates a stopped looping call. Returns 0 or WEFT_ENOMEM. */
int weft_looping_call_new(weft_looping_call **out, weft_reactor *r, weft_looping_fn fn, void *arg);

/* Starts calling fn every interval seconds (> 0), and if now is true also at once (on the
 * reactor's next turn, not inside this call). Calls are kept on the grid start + k*interval, so
 * they do not drift. Returns 0, WEFT_EINVAL for interval <= 0 (or NaN or infinite),
 * WEFT_EALREADY if running, WEFT_ENOMEM. */
int weft_looping_call_start(weft_looping_call *lc, double interval, bool now);

/* Stops it (safe inside fn). Returns 0 or WEFT_EALREADY if it was not running. */
int weft_looping_call_stop(weft_looping_call *lc);

/* True between a successful start and stop. */
bool weft_looping_call_running(const weft_looping_call *lc);

/* Stops and frees it; safe inside fn (freed after fn returns). */
void weft_looping_call_free(weft_looping_call *lc);

/* ---- threads and signals ---- */

/* The only thread-safe call: queues fn(arg) to run on the reactor's thread on its next turn,
 * waking it if it sleeps. Calls from one thread run in the order made. Returns 0 or WEFT_ENOMEM. */
int weft_reactor_call_from_thread(weft_reactor *r, weft_callback fn, void *arg);

typedef struct weft_signal_watch weft_signal_watch;
typedef void (*weft_signal_fn)(weft_reactor *r, int signo, void *arg);

/* Delivers signo as an ordinary callback on the reactor's thread (a self-pipe wake-up: the
 * handler itself only records the signal). Several deliveries before the reactor runs may be
 * merged into one call. While any watch exists for signo, its default action is replaced; the
 * previous disposition returns when the last watch goes. Returns 0, WEFT_EINVAL for a signal that
 * cannot be caught, WEFT_ENOMEM. */
int weft_reactor_watch_signal(weft_signal_watch **out, weft_reactor *r, int signo, weft_signal_fn fn,
                              void *arg);

/* Stops delivering; the handle is freed. Safe inside fn. */
void weft_signal_watch_free(weft_signal_watch *w);

/* ---- system event triggers (Twisted's addSystemEventTrigger) ---- */

typedef enum weft_trigger_phase {
  WEFT_TRIGGER_BEFORE = 0,
  WEFT_TRIGGER_DURING = 1,
  WEFT_TRIGGER_AFTER = 2,
} weft_trigger_phase;

typedef enum weft_system_event {
  WEFT_EVENT_STARTUP = 0,
  WEFT_EVENT_SHUTDOWN = 1,
} weft_system_event;

typedef struct weft_trigger weft_trigger;
/* What a "before" trigger may hold up: the phase waits until every hold is released. */
typedef struct weft_trigger_hold weft_trigger_hold;
typedef struct weft_trigger_ctx weft_trigger_ctx;

typedef void (*weft_trigger_fn)(weft_trigger_ctx *ctx, void *arg);

/* Adds fn to run in phase of event. Triggers of one phase run in the order added. Returns 0,
 * WEFT_EINVAL, WEFT_ENOMEM. The handle stays valid until removed or the reactor is freed. */
int weft_reactor_add_trigger(weft_trigger **out, weft_reactor *r, weft_system_event event,
                             weft_trigger_phase phase, weft_trigger_fn fn, void *arg);

/* Removes a trigger that has not run yet (or will run again at a later event). */
void weft_reactor_remove_trigger(weft_reactor *r, weft_trigger *t);

/* Inside a "before" trigger: asks the reactor to wait (the loop keeps turning, so I/O and timers
 * go on) until weft_trigger_release(hold) is called, before starting the "during" phase. Works
 * for startup and shutdown; a stop while startup waits cuts that wait short (startup's "during"
 * and "after" run at once) and the shutdown then waits for the holds instead. Returns NULL
 * outside a before-trigger or when out of memory. The Deferred layer waits on a Deferred with
 * this. */
weft_trigger_hold *weft_trigger_hold_new(weft_trigger_ctx *ctx);

/* Releases a hold (once); when the last one goes the shutdown moves on. */
void weft_trigger_release(weft_trigger_hold *hold);

/* The reactor a trigger runs on. */
weft_reactor *weft_trigger_ctx_reactor(weft_trigger_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
