/* poll_kqueue.c: the kqueue backend (BSD and macOS; Twisted's kqreactor). Compiled only where
 * <sys/event.h> exists; read and write interest are separate filters. */
#include <errno.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

#define MAX_EVENTS 256

typedef struct kq_state {
  int kq;
  struct kevent events[MAX_EVENTS];
} kq_state;

static int kq_init(weft_reactor *r) {
  kq_state *s = weft__malloc(sizeof *s);
  if (!s) return WEFT_ENOMEM;
  s->kq = kqueue();
  if (s->kq < 0) {
    int err = -errno;
    weft__free(s);
    return err;
  }
  r->backend_data = s;
  return 0;
}

static void kq_destroy(weft_reactor *r) {
  kq_state *s = r->backend_data;
  close(s->kq);
  weft__free(s);
}

static int kq_ctl(weft_reactor *r, int fd, unsigned old_events, unsigned new_events) {
  kq_state *s = r->backend_data;
  struct kevent ch[2];
  int n = 0;
  unsigned added = new_events & ~old_events, removed = old_events & ~new_events;
  if (added & WEFT__READ) EV_SET(&ch[n++], fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
  if (removed & WEFT__READ) EV_SET(&ch[n++], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
  if (added & WEFT__WRITE) EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
  if (removed & WEFT__WRITE) EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
  if (n == 0) return 0;
  if (kevent(s->kq, ch, n, NULL, 0, NULL) < 0 && !(new_events == 0 && errno == ENOENT)) return -errno;
  return 0;
}

static int kq_wait(weft_reactor *r, int timeout_ms) {
  kq_state *s = r->backend_data;
  struct timespec ts, *tp = NULL;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    tp = &ts;
  }
  int n = kevent(s->kq, NULL, 0, s->events, MAX_EVENTS, tp);
  weft__reactor_update_time(r);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    struct kevent *e = &s->events[i];
    unsigned rev = e->filter == EVFILT_READ ? WEFT__READ : WEFT__WRITE;
    if (e->flags & (EV_EOF | EV_ERROR)) rev |= WEFT__READ | WEFT__WRITE;
    weft__io_dispatch(r, (int)e->ident, rev);
  }
  return n;
}

const weft__backend_ops weft__backend_kqueue = {"kqueue", kq_init, kq_destroy, kq_ctl, kq_wait};
