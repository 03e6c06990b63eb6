/* signals.c: POSIX signals as ordinary callbacks on the reactor thread (Twisted's
 * _SIGCHLDWaker / signal handling). The handler only sets a flag and writes to the reactor's
 * wake-up descriptor (async-signal-safe); the reactor calls the watches when it wakes. */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

#define MAX_SIG 64
#define MAX_REACTORS_PER_SIGNAL 16

struct weft_signal_watch {
  weft_signal_watch *next;
  weft_reactor *r;
  int signo;
  weft_signal_fn fn;
  void *arg;
  bool dead; /* freed while the dispatch loop was on it */
};

/* Process-wide: which reactors want each signal, and the disposition to restore. The handler
 * reads the table; registration changes it under a lock with the signal blocked. */
static weft_reactor *volatile sig_table[MAX_SIG + 1][MAX_REACTORS_PER_SIGNAL];
static int sig_users[MAX_SIG + 1];
static struct sigaction sig_saved[MAX_SIG + 1];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int signo) {
  for (int i = 0; i < MAX_REACTORS_PER_SIGNAL; i++) {
    weft_reactor *r = sig_table[signo][i];
    if (!r) continue;
    r->sig_pending[signo] = 1;
    r->any_sig_pending = 1;
    weft__reactor_wakeup(r);
  }
}

/* Adds or removes r for signo in the table (once per reactor, however many watches). */
static int table_update(weft_reactor *r, int signo, bool add) {
  int rc = 0;
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, signo);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  pthread_mutex_lock(&sig_lock);
  int free_slot = -1, found = -1;
  for (int i = 0; i < MAX_REACTORS_PER_SIGNAL; i++) {
    if (sig_table[signo][i] == r) found = i;
    if (!sig_table[signo][i] && free_slot < 0) free_slot = i;
  }
  if (add && found < 0) {
    if (free_slot < 0) {
      rc = WEFT_ELIMIT;
    } else {
      sig_table[signo][free_slot] = r;
      if (sig_users[signo]++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(signo, &sa, &sig_saved[signo]) < 0) {
          rc = WEFT_EINVAL;
          sig_users[signo]--;
          sig_table[signo][free_slot] = NULL;
        }
      }
    }
  } else if (!add && found >= 0) {
    sig_table[signo][found] = NULL;
    if (--sig_users[signo] == 0) sigaction(signo, &sig_saved[signo], NULL);
  }
  pthread_mutex_unlock(&sig_lock);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

static bool reactor_watches(weft_reactor *r, int signo, const weft_signal_watch *except) {
  for (weft_signal_watch *w = r->signals; w; w = w->next)
    if (w != except && !w->dead && w->signo == signo) return true;
  return false;
}

int weft_reactor_watch_signal(weft_signal_watch **out, weft_reactor *r, int signo, weft_signal_fn fn,
                              void *arg) {
  if (signo <= 0 || signo > MAX_SIG || signo == SIGKILL || signo == SIGSTOP || !fn) return WEFT_EINVAL;
  weft_signal_watch *w = weft__calloc(1, sizeof *w);
  if (!w) return WEFT_ENOMEM;
  if (!reactor_watches(r, signo, NULL)) {
    int rc = table_update(r, signo, true);
    if (rc) {
      weft__free(w);
      return rc;
    }
  }
  w->r = r;
  w->signo = signo;
  w->fn = fn;
  w->arg = arg;
  w->next = r->signals;
  r->signals = w;
  weft__handle_ref(r);
  *out = w;
  return 0;
}

static void unlink_dead(weft_reactor *r) {
  weft_signal_watch **pp = &r->signals;
  while (*pp) {
    weft_signal_watch *w = *pp;
    if (w->dead) {
      *pp = w->next;
      weft__free(w);
    } else {
      pp = &w->next;
    }
  }
}

void weft_signal_watch_free(weft_signal_watch *w) {
  if (!w || w->dead) return;
  weft_reactor *r = w->r;
  if (!reactor_watches(r, w->signo, w)) table_update(r, w->signo, false);
  w->dead = true;
  weft__handle_unref(r);
  if (!r->sig_dispatching) unlink_dead(r);
}

void weft__signals_dispatch(weft_reactor *r) {
  r->any_sig_pending = 0;
  r->sig_dispatching++;
  for (int signo = 1; signo <= MAX_SIG; signo++) {
    if (!r->sig_pending[signo]) continue;
    r->sig_pending[signo] = 0;
    for (weft_signal_watch *w = r->signals; w; w = w->next)
      if (!w->dead && w->signo == signo) w->fn(r, signo, w->arg);
  }
  r->sig_dispatching--;
  unlink_dead(r);
}

void weft__signals_destroy(weft_reactor *r) {
  for (weft_signal_watch *w = r->signals; w; w = w->next)
    if (!w->dead) weft_signal_watch_free(w);
  unlink_dead(r);
}
