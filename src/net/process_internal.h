/* process_internal.h: what process.c (spawning, pipes, callbacks) and process_reap.c (pidfd,
 * SIGCHLD, PID 1) share. Internal. */
#ifndef WEFT_REACTOR_PROCESS_INTERNAL_H
#define WEFT_REACTOR_PROCESS_INTERNAL_H

#include <sys/types.h>

#include "reactor/reactor_internal.h"

typedef struct weft__reaper weft__reaper;
typedef struct weft__reap_entry weft__reap_entry;

/* One child waiting to be reaped; embedded in its process object. */
struct weft__reap_entry {
  weft__reap_entry *next, *prev; /* in its reaper's list of live children */
  weft__reaper *reaper;
  pid_t pid;
  weft__io pidfd_io; /* fd -1 when this child is reaped on SIGCHLD */
  bool has_raw;      /* reaped already (see weft__reap_start): raw waits for the next sweep */
  int raw;
  /* Called once, when the child is reaped: raw is waitpid's status, or -1 if it was lost (some
   * other code reaped it, or SIGCHLD is ignored so the kernel did). e has left the list. */
  void (*reaped)(weft__reap_entry *e, int raw);
};

/* Makes sure r has a reaper before a child is started, so that starting one cannot fail
 * afterwards for want of memory. Returns 0 or WEFT_ENOMEM. */
int weft__reaper_prepare(weft_reactor *r);

/* Drops a reaper that prepare made if nothing came to use it. */
void weft__reaper_release(weft_reactor *r);

/* Watches e->pid (a child just started) until it is reaped: by its pidfd where the kernel has
 * them (and no_pidfd is false), else on SIGCHLD. prepare must have been called. If nothing can
 * watch it (out of memory), the child is killed and reaped at once, and e->reaped is called from
 * a task. Never fails. */
void weft__reap_start(weft_reactor *r, weft__reap_entry *e, bool no_pidfd);

#endif
