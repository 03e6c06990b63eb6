/* splice.c: the pipe through which weft_transport_splice_to moves bytes from socket to socket in
 * the kernel, with splice(2), so they never enter user space (no Twisted counterpart: Twisted's
 * portforward copies through dataReceived). Linux only; elsewhere every call says WEFT_ENOTSUP. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/splice.h"
#include "weft/errors.h"

#ifdef __linux__

int weft__splice_new(weft__splice **out) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -errno;
  /* Room for a whole chunk even in page-sized pieces (the default pipe has 16 slots). Refused
   * past the per-user pipe limit: the pipe then just moves less per fill. */
  (void)fcntl(fds[1], F_SETPIPE_SZ, WEFT__SPLICE_CHUNK);
  weft__splice *sp = weft__calloc(1, sizeof *sp);
  if (!sp) {
    close(fds[0]);
    close(fds[1]);
    return WEFT_ENOMEM;
  }
  sp->rd = fds[0];
  sp->wr = fds[1];
  *out = sp;
  return 0;
}

ssize_t weft__splice_fill(weft__splice *sp, int fd) {
  ssize_t n = splice(fd, NULL, sp->wr, NULL, WEFT__SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n < 0) return -errno;
  sp->pending += (size_t)n;
  return n;
}

ssize_t weft__splice_drain(weft__splice *sp, int fd) {
  ssize_t n = splice(sp->rd, NULL, fd, NULL, sp->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n < 0) return -errno;
  sp->pending -= (size_t)n;
  return n;
}

#else

int weft__splice_new(weft__splice **out) {
  (void)out;
  return WEFT_ENOTSUP;
}

ssize_t weft__splice_fill(weft__splice *sp, int fd) {
  (void)sp;
  (void)fd;
  return WEFT_ENOTSUP;
}

ssize_t weft__splice_drain(weft__splice *sp, int fd) {
  (void)sp;
  (void)fd;
  return WEFT_ENOTSUP;
}

#endif

void weft__splice_free(weft__splice *sp) {
  close(sp->rd);
  close(sp->wr);
  weft__free(sp);
}
