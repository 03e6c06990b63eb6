/* socket.c: creating descriptors that never block the reactor and never leak into children. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "net/socket.h"

int weft__set_nonblock_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -errno;
  return 0;
}

int weft__socket(int family, int type) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
#else
  int fd = socket(family, type, 0);
  if (fd < 0) return -errno;
  int rc = weft__set_nonblock_cloexec(fd);
  if (rc) {
    close(fd);
    return rc;
  }
  return fd;
#endif
}
