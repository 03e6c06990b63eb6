/* pipe.c: one end of a pipe as a transport (twisted.internet.process ProcessReader/ProcessWriter).
 *
 * Built like stream.c: reads go through the reactor's shared buffer to data_received; writes are
 * copied to a chunk queue and leave in one writev per turn (or when the pipe drains);
 * connection_lost is delivered from a task and the transport freed after it. A pipe has one
 * direction, so there is no half-close, and no address. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/pipe.h"
#include "weft/errors.h"

#define MAX_IOV 64

typedef struct pipe_end {
  weft_transport base;
  weft__io io;
  weft__task flush_task;
  weft__task lost_task;
  weft__chunkq out;
  int lost_reason;
  bool writer, fd_closed, want_write;
} pipe_end;

#define FROM_FIELD(ptr, field) ((pipe_end *)((char *)(ptr) - offsetof(pipe_end, field)))

static void close_now(pipe_end *pe, int reason);

/* writev that never raises SIGPIPE: a pipe has no MSG_NOSIGNAL, so SIGPIPE is blocked on this
 * thread for the call, and the one it raised (it is sent to the writing thread) is taken back
 * before unblocking. A reader that has gone is an error for connection_lost, not a signal that
 * kills the program. */
static ssize_t write_nosigpipe(int fd, const struct iovec *iov, int iovcnt) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t w = writev(fd, iov, iovcnt);
  int err = errno;
  if (w < 0 && err == EPIPE && !sigismember(&old, SIGPIPE)) {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = err;
  return w;
}

/* A writer keeps read interest too: the only "readable" event a pipe's write end can report is
 * the error that says its reader has gone, which is how we learn that a child closed its stdin
 * (or exited) while we had nothing to send. */
static void update_interest(pipe_end *pe) {
  if (pe->fd_closed) return;
  unsigned ev = 0;
  if (pe->writer) {
    ev = WEFT__READ;
    if (pe->want_write) ev |= WEFT__WRITE;
  } else if (!pe->base.reading_paused && !pe->base.closing) {
    ev = WEFT__READ;
  }
  int rc = weft__io_set(pe->base.r, &pe->io, ev);
  if (rc) close_now(pe, rc);
}

static void deliver_lost(weft__task *task) {
  pipe_end *pe = FROM_FIELD(task, lost_task);
  weft_reactor *r = pe->base.r;
  weft__proto_lost(&pe->base, pe->lost_reason);
  weft__handle_unref(r);
  weft__free(pe);
}

static void close_now(pipe_end *pe, int reason) {
  if (pe->fd_closed) return;
  weft_reactor *r = pe->base.r;
  weft__io_stop(r, &pe->io);
  close(pe->io.fd);
  pe->fd_closed = true;
  weft__chunkq_clear(&pe->out, &r->chunks);
  pe->base.buffered = 0;
  weft__task_cancel(r, &pe->flush_task);
  pe->lost_reason = reason;
  weft__transport_lost(&pe->base);
  weft__task_queue(r, &pe->lost_task);
}

static void flush(pipe_end *pe) {
  weft_reactor *r = pe->base.r;
  while (pe->out.len > 0) {
    struct iovec iov[MAX_IOV];
    int n = weft__chunkq_peek(&pe->out, iov, MAX_IOV);
    ssize_t w = write_nosigpipe(pe->io.fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_now(pe, -errno);
      return;
    }
    weft__chunkq_consume(&pe->out, &r->chunks, (size_t)w);
    pe->base.buffered = pe->out.len;
  }
  bool pending = pe->out.len > 0;
  if (pending != pe->want_write) {
    pe->want_write = pending;
    update_interest(pe);
    if (pe->fd_closed) return;
  }
  /* a producer resumed here may queue more, and close after it: look at the queue again */
  weft__transport_buffer_changed(&pe->base);
  if (!pe->fd_closed && pe->out.len == 0 && pe->base.closing) close_now(pe, WEFT_REASON_CLEAN);
}

static void flush_task(weft__task *task) { flush(FROM_FIELD(task, flush_task)); }

static void do_read(pipe_end *pe) {
  size_t size;
  void *buf = weft__reactor_read_buffer(pe->base.r, &size);
  if (!buf) {
    close_now(pe, WEFT_ENOMEM);
    return;
  }
  ssize_t n = read(pe->io.fd, buf, size);
  if (n > 0) {
    if (pe->base.proto.cb && pe->base.proto.cb->data_received)
      pe->base.proto.cb->data_received(&pe->base, buf, (size_t)n, pe->base.proto.user);
  } else if (n == 0) {
    close_now(pe, WEFT_REASON_CLEAN);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    close_now(pe, -errno);
  }
}

/* True if the write end reports an error: its reader has gone. */
static bool reader_gone(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

static void on_io(weft__io *io, unsigned revents) {
  pipe_end *pe = (pipe_end *)((char *)io - offsetof(pipe_end, io));
  if (!pe->writer) {
    if ((revents & WEFT__READ) && !pe->base.reading_paused && !pe->base.closing) do_read(pe);
    return;
  }
  if ((revents & WEFT__WRITE) && pe->want_write) flush(pe);
  if (pe->fd_closed) return;
  if ((revents & WEFT__READ) && reader_gone(pe->io.fd)) close_now(pe, WEFT_EPIPE);
}

/* ---- the transport table ---- */

static int pp_write(weft_transport *t, const struct iovec *iov, int iovcnt, size_t total) {
  pipe_end *pe = (pipe_end *)t;
  if (!pe->writer) return WEFT_ENOTSUP;
  int rc = weft__chunkq_append(&pe->out, &t->r->chunks, iov, iovcnt, total);
  if (rc) return rc;
  pe->base.buffered = pe->out.len;
  if (!pe->want_write) weft__flush_queue(t->r, &pe->flush_task);
  weft__transport_buffer_changed(t);
  return 0;
}

static void pp_lose(weft_transport *t) {
  pipe_end *pe = (pipe_end *)t;
  if (pe->out.len == 0) close_now(pe, WEFT_REASON_CLEAN);
  /* otherwise flush() closes once the queue is empty */
}

static void pp_abort(weft_transport *t) {
  t->closing = true;
  close_now((pipe_end *)t, WEFT_EABORTED);
}

static void pp_set_reading(weft_transport *t, bool on) {
  (void)on; /* the wanted state is in t->reading_paused */
  update_interest((pipe_end *)t);
}

static const weft__transport_ops pipe_ops = {
    .write = pp_write,
    .lose_connection = pp_lose,
    .abort_connection = pp_abort,
    .set_reading = pp_set_reading,
};

int weft__pipe_open(weft_transport **out, weft_reactor *r, int fd, weft__pipe_dir dir, const weft_protocol *proto) {
  pipe_end *pe = weft__calloc(1, sizeof *pe);
  int fl = fcntl(fd, F_GETFL);
  if (!pe || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int rc = pe ? -errno : WEFT_ENOMEM;
    close(fd);
    weft__free(pe);
    return rc;
  }
  weft__transport_init(&pe->base, &pipe_ops, r);
  pe->base.proto = *proto;
  pe->io.fd = fd;
  pe->io.cb = on_io;
  pe->flush_task.fn = flush_task;
  pe->lost_task.fn = deliver_lost;
  pe->writer = dir == WEFT__PIPE_WRITER;
  int rc = weft__io_set(r, &pe->io, WEFT__READ);
  if (rc) {
    close(fd);
    weft__free(pe);
    return rc;
  }
  weft__handle_ref(r);
  *out = &pe->base;
  weft__proto_made(&pe->base);
  return 0;
}
