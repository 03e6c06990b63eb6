/* process_reap.c: reaping each child exactly once (Twisted's _SIGCHLDWaker and reapAllProcesses):
 * a pidfd per child watched by the reactor where the kernel has them, else SIGCHLD and waitpid on
 * the reactor's own pids; and PID-1 duties (reaping orphans, forwarding SIGTERM/SIGINT).
 *
 * Outside PID-1 mode nothing here calls waitpid(-1): other code in the program may have children
 * of its own, and their statuses are theirs. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/process_internal.h"
#include "weft/errors.h"
#include "weft/process.h"

/* One per reactor that has children (or PID-1 duties). */
struct weft__reaper {
  weft__reaper *next_reaper;
  weft_reactor *r;
  weft__reap_entry *children; /* live (not yet reaped) children, newest first */
  size_t n_sigchld;           /* how many of them wait on SIGCHLD rather than a pidfd */
  weft_signal_watch *chld, *term, *intr;
  unsigned flags; /* WEFT_REAPER_ORPHANS | WEFT_REAPER_FORWARD_SIGNALS while enabled */
  weft__task sweep_task;
  int busy; /* inside a sweep: do not free */
};

/* Reactors live on different threads; only the list that finds a reactor's reaper is shared. */
static weft__reaper *registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1: pidfd_open works, -1: the kernel has none (ENOSYS), 0: not tried yet. */
static atomic_int pidfd_support;

static void sweep(weft__reaper *rp);

static weft__reaper *find_reaper(const weft_reactor *r) {
  pthread_mutex_lock(&registry_lock);
  weft__reaper *rp = registry;
  while (rp && rp->r != r) rp = rp->next_reaper;
  pthread_mutex_unlock(&registry_lock);
  return rp;
}

static void sweep_task(weft__task *t) {
  sweep((weft__reaper *)((char *)t - offsetof(weft__reaper, sweep_task)));
}

static weft__reaper *get_reaper(weft_reactor *r) {
  weft__reaper *rp = find_reaper(r);
  if (rp) return rp;
  rp = weft__calloc(1, sizeof *rp);
  if (!rp) return NULL;
  rp->r = r;
  rp->sweep_task.fn = sweep_task;
  pthread_mutex_lock(&registry_lock);
  rp->next_reaper = registry;
  registry = rp;
  pthread_mutex_unlock(&registry_lock);
  return rp;
}

static void maybe_free(weft__reaper *rp) {
  if (rp->children || rp->flags || rp->busy || rp->chld || rp->term || rp->intr) return;
  weft__task_cancel(rp->r, &rp->sweep_task);
  pthread_mutex_lock(&registry_lock);
  weft__reaper **pp = &registry;
  while (*pp != rp) pp = &(*pp)->next_reaper;
  *pp = rp->next_reaper;
  pthread_mutex_unlock(&registry_lock);
  weft__free(rp);
}

static void on_sigchld(weft_reactor *r, int signo, void *arg) {
  (void)r;
  (void)signo;
  sweep(arg);
}

static void on_forward(weft_reactor *r, int signo, void *arg) {
  weft__reaper *rp = arg;
  size_t n = 0;
  for (weft__reap_entry *e = rp->children; e; e = e->next, n++) kill(e->pid, signo);
  weft_log_emit(weft_reactor_log(r), WEFT_LOG_INFO, "weft.process", "forwarded signal {signo} to {children} children",
                WEFT_LOG_INT("signo", signo), WEFT_LOG_UINT("children", n), WEFT_LOG_END);
}

/* Installs or removes one watch so that it exists exactly when wanted. */
static int want_watch(weft__reaper *rp, weft_signal_watch **w, bool want, int signo, weft_signal_fn fn) {
  if (want && !*w) return weft_reactor_watch_signal(w, rp->r, signo, fn, rp);
  if (!want && *w) {
    weft_signal_watch_free(*w);
    *w = NULL;
  }
  return 0;
}

/* SIGCHLD is watched while a child relies on it or orphans are reaped; SIGTERM and SIGINT while
 * they are forwarded. Removing a watch gives the signal its previous disposition back. */
static int sync_watches(weft__reaper *rp) {
  bool fwd = rp->flags & WEFT_REAPER_FORWARD_SIGNALS;
  int rc = want_watch(rp, &rp->chld, rp->n_sigchld > 0 || (rp->flags & WEFT_REAPER_ORPHANS), SIGCHLD, on_sigchld);
  if (!rc) rc = want_watch(rp, &rp->term, fwd, SIGTERM, on_forward);
  if (!rc) rc = want_watch(rp, &rp->intr, fwd, SIGINT, on_forward);
  return rc;
}

static void deliver(weft__reaper *rp, weft__reap_entry *e, int raw) {
  if (e->prev) e->prev->next = e->next;
  else rp->children = e->next;
  if (e->next) e->next->prev = e->prev;
  e->next = e->prev = NULL;
  if (e->pidfd_io.fd >= 0) {
    weft__io_stop(rp->r, &e->pidfd_io);
    close(e->pidfd_io.fd);
    e->pidfd_io.fd = -1;
  } else {
    rp->n_sigchld--;
  }
  e->reaper = NULL;
  e->reaped(e, raw);
}

/* waitpid on this one child; delivers its status if it has ended. */
static void try_reap(weft__reaper *rp, weft__reap_entry *e) {
  int st;
  pid_t w;
  while ((w = waitpid(e->pid, &st, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (w == e->pid) {
    deliver(rp, e, st);
  } else if (w < 0) {
    weft_log_emit(weft_reactor_log(rp->r), WEFT_LOG_WARN, "weft.process",
                  "child {pid} was reaped by someone else (is SIGCHLD ignored?): its status is lost",
                  WEFT_LOG_INT("pid", e->pid), WEFT_LOG_ERR("error", -errno), WEFT_LOG_END);
    deliver(rp, e, -1);
  }
}

/* PID-1 mode: every ended child, ours or an orphan; ours keep their statuses. */
static void reap_all(weft__reaper *rp) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
    if (pid < 0) continue;
    weft__reap_entry *e = rp->children;
    while (e && e->pid != pid) e = e->next;
    if (e) {
      deliver(rp, e, st);
    } else {
      weft_log_emit(weft_reactor_log(rp->r), WEFT_LOG_DEBUG, "weft.process", "reaped orphan {pid} (status {status})",
                    WEFT_LOG_INT("pid", pid), WEFT_LOG_INT("status", st), WEFT_LOG_END);
    }
  }
}

static void sweep(weft__reaper *rp) {
  rp->busy++;
  if (rp->flags & WEFT_REAPER_ORPHANS) reap_all(rp);
  weft__reap_entry *next;
  for (weft__reap_entry *e = rp->children; e; e = next) {
    next = e->next; /* a child started by a callback goes in front: the next sweep sees it */
    if (e->has_raw) deliver(rp, e, e->raw);
    else if (e->pidfd_io.fd < 0) try_reap(rp, e);
  }
  rp->busy--;
  sync_watches(rp); /* only removes here, which cannot fail */
  maybe_free(rp);
}

static void on_pidfd(weft__io *io, unsigned revents) {
  (void)revents;
  weft__reap_entry *e = (weft__reap_entry *)((char *)io - offsetof(weft__reap_entry, pidfd_io));
  weft__reaper *rp = e->reaper;
  rp->busy++;
  try_reap(rp, e);
  rp->busy--;
  maybe_free(rp);
}

static int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  if (atomic_load(&pidfd_support) < 0) return -1;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* pidfds are close-on-exec */
  if (fd < 0 && errno == ENOSYS) atomic_store(&pidfd_support, -1);
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

int weft__reaper_prepare(weft_reactor *r) { return get_reaper(r) ? 0 : WEFT_ENOMEM; }

void weft__reaper_release(weft_reactor *r) {
  weft__reaper *rp = find_reaper(r);
  if (rp) maybe_free(rp);
}

void weft__reap_start(weft_reactor *r, weft__reap_entry *e, bool no_pidfd) {
  weft__reaper *rp = find_reaper(r);
  e->reaper = rp;
  e->has_raw = false;
  e->prev = NULL;
  e->next = rp->children;
  if (rp->children) rp->children->prev = e;
  rp->children = e;
  e->pidfd_io.fd = no_pidfd ? -1 : open_pidfd(e->pid);
  e->pidfd_io.cb = on_pidfd;
  if (e->pidfd_io.fd >= 0 && weft__io_set(r, &e->pidfd_io, WEFT__READ) != 0) {
    close(e->pidfd_io.fd);
    e->pidfd_io.fd = -1;
  }
  if (e->pidfd_io.fd >= 0) return;
  rp->n_sigchld++;
  if (sync_watches(rp) != 0) {
    /* nothing can tell us when it ends: end it now rather than leave a zombie behind */
    kill(e->pid, SIGKILL);
    while (waitpid(e->pid, &e->raw, 0) < 0 && errno == EINTR) {
    }
    e->has_raw = true;
  }
  /* the child may have ended before SIGCHLD was watched: look once on this turn */
  weft__task_queue(r, &rp->sweep_task);
}

int weft_process_reaper_enable(weft_reactor *r, unsigned flags) {
  if (flags & ~(unsigned)WEFT_REAPER_PID1) return WEFT_EINVAL;
  if ((flags & WEFT_REAPER_IF_PID1) && getpid() != 1) return 0;
  flags &= WEFT_REAPER_ORPHANS | WEFT_REAPER_FORWARD_SIGNALS;
  if (!flags) return 0;
  weft__reaper *rp = get_reaper(r);
  if (!rp) return WEFT_ENOMEM;
  if (rp->flags) return WEFT_EALREADY;
  rp->flags = flags;
  int rc = sync_watches(rp);
  if (rc) {
    rp->flags = 0;
    sync_watches(rp);
    maybe_free(rp);
    return rc;
  }
  /* orphans that ended before we watched SIGCHLD */
  if (flags & WEFT_REAPER_ORPHANS) weft__task_queue(r, &rp->sweep_task);
  return 0;
}

void weft_process_reaper_disable(weft_reactor *r) {
  weft__reaper *rp = find_reaper(r);
  if (!rp || !rp->flags) return;
  rp->flags = 0;
  sync_watches(rp);
  maybe_free(rp);
}

unsigned weft_process_reaper_flags(const weft_reactor *r) {
  weft__reaper *rp = find_reaper(r);
  return rp ? rp->flags : 0;
}
