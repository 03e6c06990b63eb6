/* reactor.c: the event loop itself (twisted.internet.base.ReactorBase): turns, I/O watchers,
 * internal task queues, the clock, the wake-up descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"
#include "weft_config.h"

#ifdef WEFT_HAVE_EVENTFD
#include <sys/eventfd.h>
#endif

/* One read buffer per reactor: big reads mean fewer syscalls for bulk transfers. */
#define WEFT_READ_BUFFER_SIZE (256u * 1024u)

void weft_reactor_options_init(weft_reactor_options *o) {
  memset(o, 0, sizeof *o);
  o->backend = WEFT_BACKEND_DEFAULT;
}

int weft_backend_parse(const char *name, weft_backend *out) {
  if (!name) return WEFT_EINVAL;
  if (!strcmp(name, "epoll")) *out = WEFT_BACKEND_EPOLL;
  else if (!strcmp(name, "kqueue")) *out = WEFT_BACKEND_KQUEUE;
  else if (!strcmp(name, "poll")) *out = WEFT_BACKEND_POLL;
  else return WEFT_EINVAL;
  return 0;
}

static const weft__backend_ops *backend_ops(weft_backend b) {
  switch (b) {
#ifdef WEFT_HAVE_EPOLL
    case WEFT_BACKEND_EPOLL: return &weft__backend_epoll;
#endif
#ifdef WEFT_HAVE_KQUEUE
    case WEFT_BACKEND_KQUEUE: return &weft__backend_kqueue;
#endif
    case WEFT_BACKEND_POLL: return &weft__backend_poll;
    default: return NULL;
  }
}

bool weft_backend_available(weft_backend b) { return backend_ops(b) != NULL; }

static int choose_backend(weft_backend asked, const weft__backend_ops **out) {
  if (asked == WEFT_BACKEND_DEFAULT) {
    const char *env = getenv("WEFT_REACTOR");
    if (env && *env) {
      int rc = weft_backend_parse(env, &asked);
      if (rc) return rc;
    }
  }
  if (asked == WEFT_BACKEND_DEFAULT) {
#if defined(WEFT_HAVE_EPOLL)
    asked = WEFT_BACKEND_EPOLL;
#elif defined(WEFT_HAVE_KQUEUE)
    asked = WEFT_BACKEND_KQUEUE;
#else
    asked = WEFT_BACKEND_POLL;
#endif
  }
  *out = backend_ops(asked);
  return *out ? 0 : WEFT_EBACKEND;
}

static int64_t monotonic_ns(void *user) {
  (void)user;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake_io_ready(weft__io *io, unsigned revents);

static int wake_open(weft_reactor *r) {
#ifdef WEFT_HAVE_EVENTFD
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return -errno;
  r->wake_fd[0] = r->wake_fd[1] = fd;
#else
  if (pipe(r->wake_fd) < 0) return -errno;
  for (int i = 0; i < 2; i++) {
    fcntl(r->wake_fd[i], F_SETFD, FD_CLOEXEC);
    fcntl(r->wake_fd[i], F_SETFL, O_NONBLOCK);
  }
#endif
  r->wake_io.fd = r->wake_fd[0];
  r->wake_io.cb = wake_io_ready;
  return weft__io_set(r, &r->wake_io, WEFT__READ);
}

static void wake_close(weft_reactor *r) {
  if (r->wake_fd[0] < 0) return;
  weft__io_stop(r, &r->wake_io);
  close(r->wake_fd[0]);
  if (r->wake_fd[1] != r->wake_fd[0]) close(r->wake_fd[1]);
  r->wake_fd[0] = r->wake_fd[1] = -1;
}

/* Async-signal-safe: the signal handler calls this. */
void weft__reactor_wakeup(weft_reactor *r) {
  int saved = errno;
#ifdef WEFT_HAVE_EVENTFD
  uint64_t one = 1;
  ssize_t n = write(r->wake_fd[1], &one, sizeof one);
#else
  char one = 1;
  ssize_t n = write(r->wake_fd[1], &one, 1);
#endif
  (void)n; /* EAGAIN means a wake-up is already pending, which is all we need */
  errno = saved;
}

static void wake_io_ready(weft__io *io, unsigned revents) {
  (void)revents;
  weft_reactor *r = (weft_reactor *)((char *)io - offsetof(weft_reactor, wake_io));
  char buf[64];
  while (read(r->wake_fd[0], buf, sizeof buf) > 0) {
  }
  if (r->any_sig_pending) weft__signals_dispatch(r);
  weft__threads_drain(r);
}

int weft_reactor_new(weft_reactor **out, const weft_reactor_options *o) {
  weft_reactor_options defaults;
  if (!o) {
    weft_reactor_options_init(&defaults);
    o = &defaults;
  }
  const weft__backend_ops *ops;
  int rc = choose_backend(o->backend, &ops);
  if (rc) return rc;
  weft_reactor *r = weft__calloc(1, sizeof *r);
  if (!r) return WEFT_ENOMEM;
  r->backend = ops;
  r->wake_fd[0] = r->wake_fd[1] = -1;
  r->clock = o->clock ? *o->clock : (weft_clock){monotonic_ns, NULL};
  r->now = r->clock.now_ns(r->clock.user);
  weft__timers_init(&r->timers);
  pthread_mutex_init(&r->thread_lock, NULL);
  if (o->log) {
    r->log = o->log;
  } else if ((rc = weft_log_publisher_new(&r->log)) != 0) {
    goto fail;
  } else {
    r->own_log = true;
  }
  if ((rc = ops->init(r)) != 0) goto fail;
  if ((rc = wake_open(r)) != 0) {
    wake_close(r); /* the eventfd may be open if registering it failed */
    ops->destroy(r);
    weft__free(r->ios);
    goto fail;
  }
  *out = r;
  return 0;
fail:
  if (r->own_log) weft_log_publisher_free(r->log);
  pthread_mutex_destroy(&r->thread_lock);
  weft__timers_destroy(&r->timers);
  weft__free(r);
  return rc;
}

int weft_reactor_free(weft_reactor *r) {
  if (!r) return 0;
  if (r->handles > 0 || r->running) return WEFT_EBUSY;
  weft__signals_destroy(r);
  weft__threads_destroy(r);
  weft__triggers_destroy(r);
  weft__timers_destroy(&r->timers);
  wake_close(r);
  r->backend->destroy(r);
  weft__free(r->ios);
  weft__free(r->read_buf);
  weft__chunk_pool_destroy(&r->chunks);
  if (r->own_log) weft_log_publisher_free(r->log);
  pthread_mutex_destroy(&r->thread_lock);
  void (*hook)(void *) = r->free_hook;
  void *hook_user = r->free_hook_user;
  weft__free(r);
  if (hook) hook(hook_user);
  return 0;
}

/* ---- I/O watchers ---- */

static int ios_reserve(weft_reactor *r, int fd) {
  if (fd < r->nios) return 0;
  int n = r->nios ? r->nios : 64;
  while (n <= fd) n *= 2;
  weft__io **p = weft__realloc(r->ios, (size_t)n * sizeof *p);
  if (!p) return WEFT_ENOMEM;
  memset(p + r->nios, 0, (size_t)(n - r->nios) * sizeof *p);
  r->ios = p;
  r->nios = n;
  return 0;
}

int weft__io_set(weft_reactor *r, weft__io *io, unsigned events) {
  io->events = events;
  if (events == io->registered) return 0;
  int rc = ios_reserve(r, io->fd);
  if (rc) return rc;
  rc = r->backend->ctl(r, io->fd, io->registered, events);
  if (rc) return rc;
  io->registered = events;
  r->ios[io->fd] = events ? io : NULL;
  return 0;
}

void weft__io_stop(weft_reactor *r, weft__io *io) {
  if (io->registered) r->backend->ctl(r, io->fd, io->registered, 0);
  io->registered = io->events = 0;
  if (io->fd >= 0 && io->fd < r->nios && r->ios[io->fd] == io) r->ios[io->fd] = NULL;
}

void weft__io_dispatch(weft_reactor *r, int fd, unsigned revents) {
  if (fd < 0 || fd >= r->nios) return;
  weft__io *io = r->ios[fd];
  if (!io) return;
  revents &= io->events;
  if (revents) io->cb(io, revents);
}

/* ---- tasks ---- */

static void list_push(weft__task **head, weft__task **tail, weft__task *t) {
  t->next = NULL;
  if (*tail) (*tail)->next = t;
  else *head = t;
  *tail = t;
  t->queued = true;
}

void weft__task_queue(weft_reactor *r, weft__task *t) {
  if (!t->queued) list_push(&r->tasks_head, &r->tasks_tail, t);
}

void weft__flush_queue(weft_reactor *r, weft__task *t) {
  if (!t->queued) list_push(&r->flush_head, &r->flush_tail, t);
}

static bool list_unlink(weft__task **head, weft__task **tail, weft__task *t) {
  weft__task *prev = NULL;
  for (weft__task *p = *head; p; prev = p, p = p->next) {
    if (p != t) continue;
    if (prev) prev->next = p->next;
    else *head = p->next;
    if (*tail == p) *tail = prev;
    return true;
  }
  return false;
}

void weft__task_cancel(weft_reactor *r, weft__task *t) {
  if (!t->queued) return;
  if (!list_unlink(&r->tasks_head, &r->tasks_tail, t) && !list_unlink(&r->flush_head, &r->flush_tail, t))
    list_unlink(&r->run_head, &r->run_tail, t);
  t->queued = false;
}

/* Runs the tasks queued before this call began; tasks they queue wait for the next pass. The
 * batch stays reachable from r while it runs, so a task that cancels (and frees) another task of
 * the same batch unlinks it instead of leaving the loop a dangling next pointer. A turn run from
 * inside a task (weft_reactor_iterate nested) keeps the outer batch aside and gives it back. */
static int run_list(weft_reactor *r, weft__task **head, weft__task **tail) {
  int n = 0;
  if (!*head) return 0;
  weft__task *outer_head = r->run_head, *outer_tail = r->run_tail;
  r->run_head = *head;
  r->run_tail = *tail;
  *head = *tail = NULL;
  weft__task *t;
  while ((t = r->run_head) != NULL) {
    r->run_head = t->next;
    if (!r->run_head) r->run_tail = NULL;
    t->next = NULL;
    t->queued = false;
    t->fn(t);
    n++;
  }
  r->run_head = outer_head;
  r->run_tail = outer_tail;
  return n;
}

/* ---- handles, time, misc ---- */

void weft__handle_ref(weft_reactor *r) { r->handles++; }
void weft__handle_unref(weft_reactor *r) { r->handles--; }

size_t weft_reactor_open_handles(const weft_reactor *r) { return r->handles + r->timers.len; }

int64_t weft__reactor_update_time(weft_reactor *r) { return r->now = r->clock.now_ns(r->clock.user); }
int64_t weft__reactor_now_ns(const weft_reactor *r) { return r->now; }
double weft_reactor_seconds(const weft_reactor *r) { return (double)r->now / 1e9; }
weft_log_publisher *weft_reactor_log(const weft_reactor *r) { return r->log; }
const char *weft_reactor_backend_name(const weft_reactor *r) { return r->backend->name; }
bool weft_reactor_running(const weft_reactor *r) { return r->running; }

const weft__net_hooks *weft__reactor_net_hooks(const weft_reactor *r) { return r->net_hooks; }
void *weft__reactor_net_hooks_user(const weft_reactor *r) { return r->net_hooks_user; }
void weft__reactor_set_net_hooks(weft_reactor *r, const weft__net_hooks *h, void *user) {
  r->net_hooks = h;
  r->net_hooks_user = user;
}
void weft__reactor_set_free_hook(weft_reactor *r, void (*fn)(void *user), void *user) {
  r->free_hook = fn;
  r->free_hook_user = user;
}

void *weft__reactor_read_buffer(weft_reactor *r, size_t *size) {
  if (!r->read_buf) {
    r->read_buf = weft__malloc(WEFT_READ_BUFFER_SIZE);
    if (!r->read_buf) return NULL;
    r->read_buf_size = WEFT_READ_BUFFER_SIZE;
  }
  *size = r->read_buf_size;
  return r->read_buf;
}

/* ---- the loop ---- */

static int timeout_ms(weft_reactor *r, double timeout) {
  if (r->tasks_head || r->stop_requested) return 0;
  int64_t next = weft__timers_next(&r->timers, r->now);
  /* converted with care: a huge timeout must not overflow, NaN counts as 0 (do not wait) */
  int64_t limit = 0;
  if (timeout < 0) limit = -1;
  else if (timeout < 86400.0) limit = (int64_t)(timeout * 1e9);
  else if (timeout >= 86400.0) limit = (int64_t)86400 * 1000000000;
  if (next < 0 || (limit >= 0 && limit < next)) next = limit;
  if (next < 0) return -1;
  /* round up so a timer is not woken for a fraction of a millisecond too early */
  int64_t ms = (next + 999999) / 1000000;
  return ms > 86400000 ? 86400000 : (int)ms;
}

static _Thread_local weft_reactor *current_reactor;

weft_reactor *weft__reactor_current(void) { return current_reactor; }

static int iterate(weft_reactor *r, double timeout);

int weft_reactor_iterate(weft_reactor *r, double timeout) {
  weft_reactor *outer = current_reactor; /* restored: a turn may run inside another reactor's */
  current_reactor = r;
  int rc = iterate(r, timeout);
  current_reactor = outer;
  return rc;
}

static int iterate(weft_reactor *r, double timeout) {
  int ran = 0;
  /* writes made since the last turn leave now, gathered, before we sleep */
  while (r->flush_head) ran += run_list(r, &r->flush_head, &r->flush_tail);
  /* the wait counts from now, not from before this turn's callbacks, or a slow turn makes the
   * next timer late; the backend refreshes the time again when it wakes (see its wait) */
  weft__reactor_update_time(r);
  int rc = r->backend->wait(r, timeout_ms(r, timeout));
  if (rc < 0 && rc != WEFT_EINTR) return rc;
  if (rc > 0) ran += rc;
  ran += weft__timers_run(r, &r->timers, r->now);
  ran += run_list(r, &r->tasks_head, &r->tasks_tail);
  while (r->flush_head) ran += run_list(r, &r->flush_head, &r->flush_tail);
  return ran;
}

void weft_reactor_stop(weft_reactor *r) {
  /* ignored once shutdown has begun: a stop request makes every turn non-blocking, so honouring
   * one while shutdown waits for holds would spin the CPU until they are released */
  if (r->running && !r->stopping) r->stop_requested = true;
}

/* Turns the loop until the holds taken by "before" triggers are released (or a stop is asked). */
static int wait_for_holds(weft_reactor *r) {
  while (weft__triggers_holds(r) > 0 && !r->stop_requested) {
    int rc = weft_reactor_iterate(r, -1);
    if (rc < 0) return rc;
  }
  return 0;
}

static int run(weft_reactor *r);

int weft_reactor_run(weft_reactor *r) {
  if (r->running) return WEFT_ESTATE;
  weft_reactor *outer = current_reactor; /* triggers run outside turns: mark them too */
  current_reactor = r;
  int rc = run(r);
  current_reactor = outer;
  return rc;
}

static int run(weft_reactor *r) {
  r->running = true;
  r->stop_requested = false;
  weft__reactor_update_time(r);
  /* Startup: "before" triggers may hold the reactor, as on shutdown. A stop while it waits cuts
   * the wait short; the shutdown below then waits for those holds. */
  weft__triggers_fire(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_BEFORE);
  int rc = wait_for_holds(r);
  weft__triggers_fire(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_DURING);
  weft__triggers_fire(r, WEFT_EVENT_STARTUP, WEFT_TRIGGER_AFTER);
  while (rc == 0 && !r->stop_requested) {
    rc = weft_reactor_iterate(r, -1);
    if (rc > 0) rc = 0;
  }
  /* Shutdown: "before" triggers may hold the reactor; it keeps turning until they release. */
  r->stopping = true;
  r->stop_requested = false;
  weft__triggers_fire(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_BEFORE);
  wait_for_holds(r);
  weft__triggers_fire(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING);
  weft__triggers_fire(r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_AFTER);
  /* let closes started by the triggers finish (queued tasks and flushes) */
  while (r->tasks_head || r->flush_head) weft_reactor_iterate(r, 0);
  r->stopping = false;
  r->running = false;
  r->stop_requested = false;
  return rc < 0 ? rc : 0;
}
