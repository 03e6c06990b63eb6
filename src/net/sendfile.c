/* sendfile.c: file ranges in a stream's output queue, sent with sendfile(2) from the page cache
 * straight to the socket (nginx's and h2o's static path; Twisted has no counterpart and reads the
 * file through user space). Linux only; elsewhere weft_transport_sendfile says WEFT_ENOTSUP and
 * callers read the file themselves. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/sendfile.h"
#include "weft/errors.h"

#ifdef __linux__
#include <sys/sendfile.h>
#endif

struct weft__fileseg {
  weft__fileseg *next;
  int fd;
  off_t off;
  size_t len; /* bytes left */
  uint64_t at; /* chunk-queue bytes that go before it (q->bytes_in when queued) */
};

/* One sendfile call moves at most this much, so one connection's flush yields to the others
 * once the kernel is quick enough to take more. */
#define SEND_MAX (1u << 20)

int weft__fileq_supported(void) {
#ifdef __linux__
  return 1;
#else
  return 0;
#endif
}

int weft__fileq_push(weft__fileq *q, int fd, off_t off, size_t len) {
  weft__fileseg *s = weft__malloc(sizeof *s);
  if (!s) return WEFT_ENOMEM;
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) {
    int e = -errno;
    weft__free(s);
    return e;
  }
  *s = (weft__fileseg){NULL, dup_fd, off, len, q->bytes_in};
  if (q->tail) q->tail->next = s;
  else q->head = s;
  q->tail = s;
  q->len += len;
  return 0;
}

size_t weft__fileq_bytes_first(const weft__fileq *q) {
  if (!q->head) return SIZE_MAX;
  return q->head->at > q->bytes_out ? (size_t)(q->head->at - q->bytes_out) : 0;
}

static void pop(weft__fileq *q) {
  weft__fileseg *s = q->head;
  q->head = s->next;
  if (!q->head) q->tail = NULL;
  close(s->fd);
  weft__free(s);
}

ssize_t weft__fileq_send(weft__fileq *q, int sock) {
#ifdef __linux__
  weft__fileseg *s = q->head;
  size_t want = s->len < SEND_MAX ? s->len : SEND_MAX;
  /* sendfile has no MSG_NOSIGNAL: on a connection the peer has reset it raises SIGPIPE (even
   * when it returns the bytes it sent before), which would kill a process that left the signal
   * at its default. It is blocked around the call, and one the call raised is taken back before
   * unblocking, unless one was pending already. Four syscalls per piece of up to SEND_MAX. */
  sigset_t pipe_only, old, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
  ssize_t n = sendfile(sock, s->fd, &s->off, want);
  int err = errno;
  if (!was_pending) {
    const struct timespec now = {0, 0};
    sigtimedwait(&pipe_only, NULL, &now);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (n < 0) return err == EWOULDBLOCK ? WEFT_EAGAIN : -err;
  if (n == 0) return WEFT_EIO; /* the file is shorter than the range now */
  s->len -= (size_t)n;
  q->len -= (size_t)n;
  if (s->len == 0) pop(q);
  return n;
#else
  (void)q;
  (void)sock;
  return WEFT_ENOTSUP;
#endif
}

void weft__fileq_clear(weft__fileq *q) {
  while (q->head) pop(q);
  q->len = 0;
}
