/* poll_epoll.c: the epoll backend (Linux; Twisted's epollreactor). Level-triggered, so a watcher
 * that does not drain its descriptor is simply called again on the next turn. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

#define MAX_EVENTS 256

typedef struct epoll_state {
  int epfd;
  struct epoll_event events[MAX_EVENTS];
} epoll_state;

static int ep_init(weft_reactor *r) {
  epoll_state *s = weft__malloc(sizeof *s);
  if (!s) return WEFT_ENOMEM;
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0) {
    int err = -errno;
    weft__free(s);
    return err;
  }
  r->backend_data = s;
  return 0;
}

static void ep_destroy(weft_reactor *r) {
  epoll_state *s = r->backend_data;
  close(s->epfd);
  weft__free(s);
}

static int ep_ctl(weft_reactor *r, int fd, unsigned old_events, unsigned new_events) {
  epoll_state *s = r->backend_data;
  struct epoll_event ev = {0};
  ev.data.fd = fd;
  if (new_events & WEFT__READ) ev.events |= EPOLLIN;
  if (new_events & WEFT__WRITE) ev.events |= EPOLLOUT;
  int op = !old_events ? EPOLL_CTL_ADD : !new_events ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  if (epoll_ctl(s->epfd, op, fd, &ev) == 0) return 0;
  /* a descriptor closed and reopened under us, or never added: fall back to the other op */
  if (errno == ENOENT && op == EPOLL_CTL_MOD && epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
  if (errno == EEXIST && op == EPOLL_CTL_ADD && epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
  if (op == EPOLL_CTL_DEL && (errno == ENOENT || errno == EBADF)) return 0;
  return -errno;
}

static int ep_wait(weft_reactor *r, int timeout_ms) {
  epoll_state *s = r->backend_data;
  int n = epoll_wait(s->epfd, s->events, MAX_EVENTS, timeout_ms);
  weft__reactor_update_time(r);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    uint32_t e = s->events[i].events;
    unsigned rev = 0;
    if (e & (EPOLLIN | EPOLLRDHUP)) rev |= WEFT__READ;
    if (e & EPOLLOUT) rev |= WEFT__WRITE;
    if (e & (EPOLLERR | EPOLLHUP)) rev |= WEFT__READ | WEFT__WRITE;
    weft__io_dispatch(r, s->events[i].data.fd, rev);
  }
  return n;
}

const weft__backend_ops weft__backend_epoll = {"epoll", ep_init, ep_destroy, ep_ctl, ep_wait};
