/* A stand-in for the BSD <sys/event.h>, with the declarations weft's kqueue backend uses, in the
 * shapes FreeBSD and macOS document (kqueue(2)). Linux has no kqueue: this lets the build check
 * on Linux that src/reactor/poll_kqueue.c still compiles against that interface. Not for linking. */
#ifndef WEFT_TEST_KQUEUE_SHIM_H
#define WEFT_TEST_KQUEUE_SHIM_H

#include <stdint.h>
#include <time.h>

struct kevent {
  uintptr_t ident;
  short filter;
  unsigned short flags;
  unsigned int fflags;
  intptr_t data;
  void *udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define EV_SET(kevp, a, b, c, d, e, f) \
  do {                                 \
    struct kevent *ev_ = (kevp);       \
    ev_->ident = (a);                  \
    ev_->filter = (b);                 \
    ev_->flags = (c);                  \
    ev_->fflags = (d);                 \
    ev_->data = (e);                   \
    ev_->udata = (f);                  \
  } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif
