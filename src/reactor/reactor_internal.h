/* reactor_internal.h: the reactor's insides, shared by the files of src/reactor and by the
 * transports in src/net and src/testing that plug into it. Not installed. */
#ifndef WEFT_REACTOR_INTERNAL_H
#define WEFT_REACTOR_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/chunkq.h"
#include "weft/reactor.h"

/* ---- I/O interest (Redis ae style: one watcher per descriptor) ---- */

enum { WEFT__READ = 1u, WEFT__WRITE = 2u };

typedef struct weft__io weft__io;
/* revents: WEFT__READ/WEFT__WRITE; errors and hang-ups are reported as both, so the handler's
 * own read or write finds the error. */
typedef void (*weft__io_fn)(weft__io *io, unsigned revents);

struct weft__io {
  int fd;
  unsigned events;     /* what the owner wants */
  unsigned registered; /* what the backend has (0: not added) */
  weft__io_fn cb;
};

/* Sets the interest of io (0 removes it from the backend). Cheap when nothing changes. Returns 0
 * or the backend's error. */
int weft__io_set(weft_reactor *r, weft__io *io, unsigned events);
/* Forgets io before its descriptor is closed (events already fetched for it are dropped). */
void weft__io_stop(weft_reactor *r, weft__io *io);

/* ---- backends: the small internal interface ---- */

typedef struct weft__backend_ops {
  const char *name;
  int (*init)(weft_reactor *r);
  void (*destroy)(weft_reactor *r);
  /* Changes fd's interest from old to new events (either may be 0). */
  int (*ctl)(weft_reactor *r, int fd, unsigned old_events, unsigned new_events);
  /* Waits up to timeout_ms (-1: forever), refreshes the reactor's time with
   * weft__reactor_update_time as soon as it wakes (so I/O callbacks see and schedule from the
   * time after the wait, not before it), then calls weft__io_dispatch for each ready fd. Returns
   * the number of ready fds or a negative WEFT_E*. */
  int (*wait)(weft_reactor *r, int timeout_ms);
} weft__backend_ops;

extern const weft__backend_ops weft__backend_epoll;
extern const weft__backend_ops weft__backend_kqueue;
extern const weft__backend_ops weft__backend_poll;

/* Called by backends: delivers revents to the watcher of fd, if it still has one. */
void weft__io_dispatch(weft_reactor *r, int fd, unsigned revents);

/* ---- tasks: internal work queued for later in this turn, no allocation ---- */

typedef struct weft__task weft__task;
struct weft__task {
  weft__task *next;
  void (*fn)(weft__task *t);
  bool queued;
};

/* Queues t to run after this turn's I/O and timers (FIFO); does nothing if already queued. */
void weft__task_queue(weft_reactor *r, weft__task *t);
/* Queues t in the flush list, run just before the reactor waits (writes gather there). */
void weft__flush_queue(weft_reactor *r, weft__task *t);
/* Unlinks a queued task (from either list). */
void weft__task_cancel(weft_reactor *r, weft__task *t);

/* ---- handle accounting, for weft_reactor_open_handles / free ---- */

void weft__handle_ref(weft_reactor *r);
void weft__handle_unref(weft_reactor *r);

/* ---- hooks the test kit's memory reactor uses to record network calls ---- */

typedef struct weft__net_hooks weft__net_hooks; /* defined by src/testing */
const weft__net_hooks *weft__reactor_net_hooks(const weft_reactor *r);
void weft__reactor_set_net_hooks(weft_reactor *r, const weft__net_hooks *h, void *user);
void *weft__reactor_net_hooks_user(const weft_reactor *r);
/* fn(user) runs once weft_reactor_free has freed the reactor, so state attached to it (the memory
 * reactor's records and manual clock) goes with it. One hook per reactor; NULL removes it. */
void weft__reactor_set_free_hook(weft_reactor *r, void (*fn)(void *user), void *user);

/* Monotonic nanoseconds of the reactor's clock, refreshed now (not the per-turn cache). */
int64_t weft__reactor_update_time(weft_reactor *r);
int64_t weft__reactor_now_ns(const weft_reactor *r);

/* A shared read buffer (one per reactor): transports read into it and hand slices of it to
 * data_received, so an idle connection owns no read buffer. */
void *weft__reactor_read_buffer(weft_reactor *r, size_t *size);

/* The reactor whose turn (weft_reactor_run or weft_reactor_iterate) the calling thread is inside,
 * or NULL: a thread-local, so code that may run on any thread (the thread pool's
 * weft_block_on_reactor) can tell that it was called on the reactor's own thread. */
weft_reactor *weft__reactor_current(void);

/* Used by src/reactor/signals.c and threads.c: the wake-up descriptor. */
void weft__reactor_wakeup(weft_reactor *r);

/* Timer internals (timers.c) used by reactor.c. */
/* A heap entry keeps its call's keys inline, so sifting compares without touching the calls. */
typedef struct weft__timer_slot {
  int64_t when;
  uint64_t seq;
  weft_delayed_call *dc;
} weft__timer_slot;

typedef struct weft__timer_heap {
  weft__timer_slot *items;
  size_t len, cap;
  uint64_t next_seq;
  weft_delayed_call *pool; /* freed calls, reused to keep call_later allocation-free */
  size_t pool_len;
} weft__timer_heap;

void weft__timers_init(weft__timer_heap *h);
void weft__timers_destroy(weft__timer_heap *h);
/* Runs every call due at now that was scheduled before this pass began; returns how many ran. */
int weft__timers_run(weft_reactor *r, weft__timer_heap *h, int64_t now);
/* Nanoseconds until the first deadline (0 if due), or -1 when there is none. */
int64_t weft__timers_next(const weft__timer_heap *h, int64_t now);

/* Signals and thread calls (signals.c, threads.c). */
typedef struct weft__thread_call weft__thread_call;
/* A call_from_thread made ahead of time, for code that must reach the reactor from another thread
 * even when memory has run out (the thread pool's reports): weft__thread_call_new allocates one
 * (NULL when out of memory), weft__reactor_post queues it to run fn(arg) on r's thread and cannot
 * fail (c is the reactor's from then on: freed after it ran, or when r is freed), and
 * weft__thread_call_free frees one that was never posted. Thread-safe. */
weft__thread_call *weft__thread_call_new(void);
void weft__reactor_post(weft_reactor *r, weft__thread_call *c, weft_callback fn, void *arg);
void weft__thread_call_free(weft__thread_call *c);
void weft__threads_drain(weft_reactor *r);
void weft__threads_destroy(weft_reactor *r);
void weft__signals_dispatch(weft_reactor *r);
void weft__signals_destroy(weft_reactor *r);

/* Triggers (triggers.c). */
typedef struct weft__triggers weft__triggers;
/* Runs the phase's triggers; returns true if "before" left holds the reactor must wait for. */
void weft__triggers_fire(weft_reactor *r, weft_system_event ev, weft_trigger_phase phase);
size_t weft__triggers_holds(const weft_reactor *r);
void weft__triggers_destroy(weft_reactor *r);

struct weft_signal_watch;
struct weft_trigger;

struct weft_reactor {
  const weft__backend_ops *backend;
  void *backend_data;

  /* Descriptor -> watcher, so that stale events for a closed descriptor find nothing. */
  weft__io **ios;
  int nios;

  weft_clock clock;
  bool own_clock;
  int64_t now; /* cached per turn */

  weft__timer_heap timers;

  weft__task *tasks_head, *tasks_tail;
  weft__task *flush_head, *flush_tail;
  weft__task *run_head, *run_tail; /* the batch run_list is running, so a cancel can unlink */

  size_t handles;
  bool running, stop_requested, stopping;

  weft_log_publisher *log;
  bool own_log;

  /* Wake-up: eventfd (or a pipe) read by wake_io; shared by threads and signals. */
  int wake_fd[2];
  weft__io wake_io;
  volatile sig_atomic_t woken;

  /* call_from_thread queue */
  pthread_mutex_t thread_lock;
  weft__thread_call *thread_head, *thread_tail;

  /* signals: watches on this reactor, and per-signal pending flags set by the handler */
  struct weft_signal_watch *signals;
  volatile sig_atomic_t sig_pending[65];
  volatile sig_atomic_t any_sig_pending;
  int sig_dispatching; /* watches freed while > 0 are unlinked afterwards */

  /* system event triggers */
  struct weft_trigger *triggers;
  size_t holds;
  bool in_before_trigger;

  const weft__net_hooks *net_hooks;
  void *net_hooks_user;
  void (*free_hook)(void *user);
  void *free_hook_user;

  /* The default thread pool (src/async/threadpool.c), NULL until first used. Touched only on the
   * reactor's thread. The pool holds a handle while it exists, so the reactor is never freed
   * under it; the pool clears this slot when it goes. */
  struct weft_threadpool *threadpool;

  weft__chunk_pool chunks; /* output chunks shared by the reactor's transports */
  void *read_buf;
  size_t read_buf_size;
};

#endif
