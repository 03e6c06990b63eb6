/* poll_poll.c: the poll(2) backend, the portable fallback (Twisted's pollreactor). A dense array
 * of pollfds plus fd -> slot, so add and remove are O(1). */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

typedef struct poll_state {
  struct pollfd *fds;
  int len, cap;
  int *slot_of; /* fd -> index in fds, -1 if absent */
  int nslots;
  /* ready descriptors of one wait, copied out so callbacks may change fds while we dispatch;
   * as large as fds (grown with it), so a wait needs no memory: out of memory then would leave
   * every ready descriptor undispatched for as long as the shortage lasts */
  struct pollfd *ready;
} poll_state;

static int pl_init(weft_reactor *r) {
  poll_state *s = weft__calloc(1, sizeof *s);
  if (!s) return WEFT_ENOMEM;
  r->backend_data = s;
  return 0;
}

static void pl_destroy(weft_reactor *r) {
  poll_state *s = r->backend_data;
  weft__free(s->fds);
  weft__free(s->slot_of);
  weft__free(s->ready);
  weft__free(s);
}

static int grow(poll_state *s, int fd) {
  if (fd >= s->nslots) {
    int n = s->nslots ? s->nslots : 64;
    while (n <= fd) n *= 2;
    int *p = weft__realloc(s->slot_of, (size_t)n * sizeof *p);
    if (!p) return WEFT_ENOMEM;
    for (int i = s->nslots; i < n; i++) p[i] = -1;
    s->slot_of = p;
    s->nslots = n;
  }
  if (s->len == s->cap) {
    int n = s->cap ? s->cap * 2 : 64;
    struct pollfd *p = weft__realloc(s->fds, (size_t)n * sizeof *p);
    if (!p) return WEFT_ENOMEM;
    s->fds = p;
    p = weft__realloc(s->ready, (size_t)n * sizeof *p);
    if (!p) return WEFT_ENOMEM; /* fds stays larger than cap says: harmless, regrown next time */
    s->ready = p;
    s->cap = n;
  }
  return 0;
}

static short to_poll(unsigned ev) {
  return (short)(((ev & WEFT__READ) ? POLLIN : 0) | ((ev & WEFT__WRITE) ? POLLOUT : 0));
}

static int pl_ctl(weft_reactor *r, int fd, unsigned old_events, unsigned new_events) {
  poll_state *s = r->backend_data;
  (void)old_events;
  int slot = fd < s->nslots ? s->slot_of[fd] : -1;
  if (!new_events) {
    if (slot < 0) return 0;
    s->fds[slot] = s->fds[--s->len];
    if (slot < s->len) s->slot_of[s->fds[slot].fd] = slot;
    s->slot_of[fd] = -1;
    return 0;
  }
  if (slot < 0) {
    int rc = grow(s, fd);
    if (rc) return rc;
    slot = s->len++;
    s->slot_of[fd] = slot;
    s->fds[slot].fd = fd;
  }
  s->fds[slot].events = to_poll(new_events);
  s->fds[slot].revents = 0;
  return 0;
}

static int pl_wait(weft_reactor *r, int timeout_ms) {
  poll_state *s = r->backend_data;
  int n = poll(s->fds, (nfds_t)s->len, timeout_ms);
  weft__reactor_update_time(r);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  if (n == 0) return 0;
  int k = 0;
  for (int i = 0; i < s->len && k < n; i++)
    if (s->fds[i].revents) s->ready[k++] = s->fds[i];
  for (int i = 0; i < k; i++) {
    short e = s->ready[i].revents;
    unsigned rev = 0;
    if (e & POLLIN) rev |= WEFT__READ;
    if (e & POLLOUT) rev |= WEFT__WRITE;
    if (e & (POLLERR | POLLHUP | POLLNVAL)) rev |= WEFT__READ | WEFT__WRITE;
    weft__io_dispatch(r, s->ready[i].fd, rev);
  }
  return k;
}

const weft__backend_ops weft__backend_poll = {"poll", pl_init, pl_destroy, pl_ctl, pl_wait};
