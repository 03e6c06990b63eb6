/* stream.c: a connected TCP or Unix socket as a transport (twisted.internet.tcp.Connection).
 *
 * Reads go through the reactor's shared buffer straight to data_received. Writes are copied to
 * a chunk queue and leave in one writev per turn (the flush list runs just before the reactor
 * waits) or when the socket becomes writable again. connection_lost is always delivered from a
 * task, never inside the caller of abort or lose, and the transport is freed after it returns.
 *
 * A splice (weft_transport_splice_to) replaces read + data_received + write for one direction:
 * readable "from" -> splice into the pipe -> flush "to", which drains the pipe after its queue.
 * Small pieces are copied into "to"'s queue instead (a splice costs more than a copy there) and
 * leave with the turn's other writes. "from" reads only while "to" keeps up (its socket took all
 * it was given, the pipe is empty), so a slow "to" holds at most one read.
 *
 * File ranges (weft_transport_sendfile) are a second kind of queued output: they wait in a file
 * queue (sendfile.c) that knows where each one falls among the chunk queue's bytes, and flush
 * sends each with sendfile(2) when its turn comes. They count in buffered like queued bytes. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/sendfile.h"
#include "net/splice.h"
#include "net/stream.h"
#include "weft/errors.h"

#define MAX_IOV 64
/* A write at least this big into an empty queue goes to the kernel at once, without a copy:
 * there is nothing to gather it with, and it saves a memcpy of bulk data. */
#define DIRECT_WRITE_MIN (64u * 1024u)

typedef struct stream {
  weft_transport base;
  weft__io io;
  weft__task flush_task;
  weft__task lost_task;
  weft__chunkq out;
  weft__fileq files; /* file ranges among out's bytes */
  weft__splice *splice_out; /* this stream is the splice's "from" */
  weft__splice *splice_in;  /* this stream is the splice's "to" */
  int lost_reason;
  uint8_t kind;
  bool fd_closed, read_eof, shut_done, want_write;
  /* Pausing reading is lazy: the poller keeps watching for input until some arrives while
   * paused (then this is set and reading is really turned off). A protocol that pauses while it
   * answers a request and resumes in the same turn (HTTP) then costs no epoll_ctl at all. */
  bool pause_hit;
  /* A write straight to the socket failed (lost_reason holds why): the next flush closes. */
  bool write_failed;
} stream;

#define FROM_FIELD(ptr, field) ((stream *)((char *)(ptr) - offsetof(stream, field)))

static void close_now(stream *s, int reason);
static void splice_lost(stream *s);

/* Output not yet in the kernel: the queue, then what a splice into this stream holds. */
static bool has_output(const stream *s) {
  return s->out.len > 0 || s->files.head || (s->splice_in && s->splice_in->pending > 0);
}

static void update_buffered(stream *s) { s->base.buffered = s->out.len + s->files.len; }

/* A splicing stream reads only while "to" is not backed up (its socket took all it was given
 * and the pipe is empty) and still takes data. A copied piece waits in "to"'s queue only until
 * the end of the turn, with the turn's other writes. */
static bool splice_can_fill(const stream *s) {
  const stream *to = (const stream *)s->splice_out->to;
  return s->splice_out->pending == 0 && !to->want_write && !to->base.closing && !to->base.write_shut;
}

/* writev that never raises SIGPIPE: a peer that has gone away is an error we report through
 * connection_lost, not a signal that kills the process. `more`: a file range follows at once
 * (an HTTP head before its sendfile body), so the kernel holds these bytes to leave in the same
 * segment as the file's first ones instead of sending the head alone. */
static ssize_t send_iov_more(int fd, const struct iovec *iov, int iovcnt, bool more) {
  struct msghdr msg = {0};
  msg.msg_iov = (struct iovec *)iov;
  msg.msg_iovlen = (size_t)iovcnt;
#ifdef MSG_NOSIGNAL
#ifdef MSG_MORE
  if (more) return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_MORE);
#endif
  (void)more;
  return sendmsg(fd, &msg, MSG_NOSIGNAL);
#else
  (void)more;
  return writev(fd, iov, iovcnt); /* where SO_NOSIGPIPE is set on the socket instead */
#endif
}

static ssize_t send_iov(int fd, const struct iovec *iov, int iovcnt) { return send_iov_more(fd, iov, iovcnt, false); }

static void update_interest(stream *s) {
  if (s->fd_closed) return;
  unsigned ev = 0;
  if (!s->base.reading_paused) s->pause_hit = false;
  if ((!s->base.reading_paused || !s->pause_hit) && !s->read_eof && !s->base.closing &&
      (!s->splice_out || splice_can_fill(s)))
    ev |= WEFT__READ;
  if (s->want_write) ev |= WEFT__WRITE;
  int rc = weft__io_set(s->base.r, &s->io, ev);
  if (rc) close_now(s, rc);
}

static void deliver_lost(weft__task *task) {
  stream *s = FROM_FIELD(task, lost_task);
  weft_reactor *r = s->base.r;
  weft__proto_lost(&s->base, s->lost_reason);
  weft__handle_unref(r);
  weft__free(s);
}

static void close_now(stream *s, int reason) {
  if (s->fd_closed) return;
  weft_reactor *r = s->base.r;
  weft__io_stop(r, &s->io);
  close(s->io.fd);
  s->fd_closed = true;
  weft__chunkq_clear(&s->out, &r->chunks);
  weft__fileq_clear(&s->files);
  s->base.buffered = 0;
  weft__task_cancel(r, &s->flush_task);
  s->lost_reason = reason;
  weft__transport_lost(&s->base);
  weft__task_queue(r, &s->lost_task);
  if (s->splice_out || s->splice_in) splice_lost(s);
}

/* Both directions are finished: close cleanly. */
static bool maybe_finish(stream *s) {
  if (has_output(s)) return false;
  if (s->base.closing || (s->read_eof && s->shut_done)) {
    close_now(s, WEFT_REASON_CLEAN);
    return true;
  }
  return false;
}

/* ---- splicing ---- */

static void end_splice(weft__splice *sp) {
  if (sp->from) ((stream *)sp->from)->splice_out = NULL;
  ((stream *)sp->to)->splice_in = NULL;
  weft__splice_free(sp);
}

/* One end of a splice is gone. A "from" past its end of input leaves the pipe to drain into
 * "to". Any other loss ends the splice, discarding the pipe, and aborts the other end: a consumer
 * that goes away stops its producer, and a stream cut short must not look complete. */
static void splice_lost(stream *s) {
  weft__splice *sp = s->splice_out;
  if (sp && sp->eof) {
    sp->from = NULL;
    s->splice_out = NULL;
  } else if (sp) {
    weft_transport *to = sp->to;
    end_splice(sp);
    weft_transport_abort_connection(to);
  }
  sp = s->splice_in;
  if (sp) {
    weft_transport *from = sp->from;
    end_splice(sp);
    if (from) weft_transport_abort_connection(from);
  }
}

/* Moves the pipe into the socket, after the queue. Once it is empty past the end of "from"'s
 * input, the splice ends by shutting this stream's write side. */
static void drain_splice(stream *s) {
  weft__splice *sp = s->splice_in;
  while (sp->pending > 0) {
    ssize_t n = weft__splice_drain(sp, s->io.fd);
    if (n == WEFT_EINTR) continue;
    if (n == WEFT_EAGAIN || n == 0) return; /* flush waits for writable */
    if (n < 0) {
      close_now(s, (int)n);
      return;
    }
  }
  if (sp->eof) {
    end_splice(sp);
    weft_transport_shutdown_write(&s->base);
  }
}

/* Keeps the first iovecs holding at most limit bytes; returns how many. */
static int trim_iov(struct iovec *iov, int n, size_t limit) {
  for (int i = 0; i < n; i++) {
    if (iov[i].iov_len >= limit) {
      iov[i].iov_len = limit;
      return i + 1;
    }
    limit -= iov[i].iov_len;
  }
  return n;
}

/* Sends the first file range when its turn has come. Returns 1 to go on, 0 when the socket is
 * full, -1 when the stream was closed. */
static int flush_file(stream *s) {
  ssize_t n = weft__fileq_send(&s->files, s->io.fd);
  if (n == WEFT_EINTR || n > 0) return 1;
  if (n == WEFT_EAGAIN) return 0;
  close_now(s, (int)n);
  return -1;
}

static void flush(stream *s) {
  weft_reactor *r = s->base.r;
  if (s->write_failed) {
    close_now(s, s->lost_reason);
    return;
  }
  while (s->out.len > 0 || s->files.head) {
    size_t before = weft__fileq_bytes_first(&s->files);
    if (before == 0 || s->out.len == 0) {
      int k = flush_file(s);
      if (k < 0) return;
      update_buffered(s);
      if (k == 0) break;
      continue;
    }
    struct iovec iov[MAX_IOV];
    int n = trim_iov(iov, weft__chunkq_peek(&s->out, iov, MAX_IOV), before);
    ssize_t w = send_iov_more(s->io.fd, iov, n, before <= s->out.len); /* up to a file range */
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_now(s, -errno);
      return;
    }
    weft__chunkq_consume(&s->out, &r->chunks, (size_t)w);
    s->files.bytes_out += (uint64_t)w;
    update_buffered(s);
  }
  if (s->out.len == 0 && !s->files.head && s->splice_in) {
    drain_splice(s);
    if (s->fd_closed) return;
  }
  bool pending = has_output(s);
  if (pending != s->want_write) {
    s->want_write = pending;
    update_interest(s);
    if (s->fd_closed) return;
    if (!pending && s->splice_in && s->splice_in->from) update_interest((stream *)s->splice_in->from);
  }
  weft__transport_buffer_changed(&s->base);
  if (s->fd_closed || pending) return;
  if (s->base.write_shut && !s->shut_done) {
    s->shut_done = true;
    shutdown(s->io.fd, SHUT_WR);
    if (s->base.proto.cb && s->base.proto.cb->write_connection_lost)
      s->base.proto.cb->write_connection_lost(&s->base, s->base.proto.user);
  }
  maybe_finish(s);
}

static void flush_task(weft__task *task) { flush(FROM_FIELD(task, flush_task)); }

static void schedule_flush(stream *s) {
  if (!s->want_write && !s->fd_closed) weft__flush_queue(s->base.r, &s->flush_task);
}

static void on_eof(stream *s) {
  s->read_eof = true;
  update_interest(s);
  if (s->base.proto.cb && s->base.proto.cb->read_connection_lost) {
    s->base.proto.cb->read_connection_lost(&s->base, s->base.proto.user);
    if (!s->fd_closed && s->shut_done) maybe_finish(s);
  } else {
    /* not half-closeable: send what is queued, then close cleanly */
    weft_transport_lose_connection(&s->base);
  }
}

static void do_read(stream *s) {
  size_t size;
  void *buf = weft__reactor_read_buffer(s->base.r, &size);
  if (!buf) {
    close_now(s, WEFT_ENOMEM);
    return;
  }
  ssize_t n = read(s->io.fd, buf, size);
  if (n > 0) {
    if (s->base.proto.cb && s->base.proto.cb->data_received)
      s->base.proto.cb->data_received(&s->base, buf, (size_t)n, s->base.proto.user);
  } else if (n == 0) {
    on_eof(s);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    close_now(s, -errno);
  }
}

/* The small-piece form of a fill: read into the reactor's buffer and write to "to". */
static ssize_t copy_read(stream *s, stream *to) {
  size_t size;
  void *buf = weft__reactor_read_buffer(s->base.r, &size);
  if (!buf) return WEFT_ENOMEM;
  ssize_t n = read(s->io.fd, buf, size);
  if (n <= 0) return n < 0 ? -errno : 0;
  int rc = weft_transport_write(&to->base, buf, (size_t)n);
  return rc ? rc : n;
}

/* The splicing form of do_read: socket -> pipe (or a copy, for small pieces), then on to "to" at
 * once unless it waits for writable anyway. data_received and read_connection_lost are not
 * called. */
static void splice_read(stream *s) {
  weft__splice *sp = s->splice_out;
  stream *to = (stream *)sp->to;
  if (!splice_can_fill(s)) {
    sp->copying = false; /* backed up: let the pipe hold what waits next */
    update_interest(s);
    return;
  }
  bool copied = sp->copying;
  ssize_t n = copied ? copy_read(s, to) : weft__splice_fill(sp, s->io.fd);
  if (s->fd_closed) return; /* writing failed: "to" is gone, which ended the splice and aborted s */
  if (n > 0) sp->copying = (size_t)n < WEFT__SPLICE_COPY_BELOW;
  if (n == 0) {
    sp->eof = true;
    s->read_eof = true;
  } else if (n < 0) {
    if (n != WEFT_EAGAIN && n != WEFT_EINTR) close_now(s, (int)n);
    return;
  }
  if (!to->want_write && (!copied || n == 0)) flush(to); /* a copy is flushed with the turn */
  if (s->fd_closed) return;
  update_interest(s);
  if (s->read_eof && s->shut_done) maybe_finish(s);
}

static void on_io(weft__io *io, unsigned revents) {
  stream *s = (stream *)((char *)io - offsetof(stream, io));
  if ((revents & WEFT__READ) && !s->read_eof && !s->base.closing) {
    if (s->base.reading_paused) {
      s->pause_hit = true; /* input came while paused: stop watching for it now */
      update_interest(s);
    } else if (s->splice_out) {
      splice_read(s);
    } else {
      do_read(s);
    }
  }
  if (s->fd_closed) return;
  if ((revents & WEFT__WRITE) && s->want_write) flush(s);
}

/* ---- the transport table ---- */

static int queue_output(stream *s, const struct iovec *iov, int iovcnt, size_t total) {
  int rc = weft__chunkq_append(&s->out, &s->base.r->chunks, iov, iovcnt, total);
  if (rc) return rc;
  s->files.bytes_in += total;
  update_buffered(s);
  schedule_flush(s);
  weft__transport_buffer_changed(&s->base);
  return 0;
}

static int st_write(weft_transport *t, const struct iovec *iov, int iovcnt, size_t total) {
  stream *s = (stream *)t;
  if (has_output(s) || total < DIRECT_WRITE_MIN || iovcnt > MAX_IOV)
    return queue_output(s, iov, iovcnt, total);
  ssize_t w = send_iov(s->io.fd, iov, iovcnt);
  if (w < 0) {
    /* A hard error (the peer reset) is not acted on inside write: closing here would run
     * stop_producing under the caller's feet (a producer writing from resume_producing would
     * find itself freed). The flush at the end of the turn closes with this error; sending again
     * would not see it (the kernel reports it once) but EPIPE. */
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      if (!s->write_failed) s->lost_reason = -errno;
      s->write_failed = true;
      return queue_output(s, iov, iovcnt, total);
    }
    w = 0;
  }
  size_t done = (size_t)w;
  if (done == total) {
    weft__transport_buffer_changed(t); /* the queue stayed empty: a pull producer is due again */
    return 0;
  }
  /* queue what the kernel did not take */
  struct iovec rest[MAX_IOV];
  int k = 0;
  for (int i = 0; i < iovcnt; i++) {
    if (done >= iov[i].iov_len) {
      done -= iov[i].iov_len;
      continue;
    }
    rest[k].iov_base = (char *)iov[i].iov_base + done;
    rest[k++].iov_len = iov[i].iov_len - done;
    done = 0;
  }
  return queue_output(s, rest, k, total - (size_t)w);
}

static int st_sendfile(weft_transport *t, int fd, off_t off, size_t len) {
  stream *s = (stream *)t;
  if (!weft__fileq_supported()) return WEFT_ENOTSUP;
  if (len == 0) return 0;
  int rc = weft__fileq_push(&s->files, fd, off, len);
  if (rc) return rc;
  update_buffered(s);
  schedule_flush(s);
  weft__transport_buffer_changed(t);
  return 0;
}

static void st_lose(weft_transport *t) {
  stream *s = (stream *)t;
  update_interest(s); /* stop reading, as Twisted's loseConnection does */
  if (!has_output(s)) close_now(s, WEFT_REASON_CLEAN);
  /* otherwise flush() closes once the queue is empty */
}

static void st_abort(weft_transport *t) {
  stream *s = (stream *)t;
  t->closing = true;
  close_now(s, WEFT_EABORTED);
}

static int st_shutdown_write(weft_transport *t) {
  stream *s = (stream *)t;
  if (!has_output(s)) weft__flush_queue(t->r, &s->flush_task);
  return 0;
}

static void st_set_reading(weft_transport *t, bool on) {
  (void)on; /* the wanted state is in t->reading_paused */
  update_interest((stream *)t);
}

static int st_splice_to(weft_transport *ft, weft_transport *tt) {
  stream *from = (stream *)ft, *to = (stream *)tt;
  if (tt->ops != ft->ops) return WEFT_ENOTSUP;
  if (from->read_eof) return WEFT_ECLOSED;
  if (from->splice_out || to->splice_in) return WEFT_EBUSY;
  weft__splice *sp;
  int rc = weft__splice_new(&sp);
  if (rc) return rc;
  sp->from = ft;
  sp->to = tt;
  from->splice_out = sp;
  to->splice_in = sp;
  update_interest(from);
  return 0;
}

static int st_get_peer(weft_transport *t, weft_address *out) {
  stream *s = (stream *)t;
  if (s->fd_closed) return WEFT_ENOTCONN;
  out->len = sizeof out->u;
  return getpeername(s->io.fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

static int st_get_host(weft_transport *t, weft_address *out) {
  stream *s = (stream *)t;
  if (s->fd_closed) return WEFT_ENOTCONN;
  out->len = sizeof out->u;
  return getsockname(s->io.fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

static int st_set_option(weft_transport *t, int option, bool on) {
  stream *s = (stream *)t;
  int v = on;
  if (s->fd_closed) return WEFT_ENOTCONN;
  if (option == WEFT__OPT_NODELAY) {
    if (s->kind != WEFT__STREAM_TCP) return WEFT_ENOTSUP;
    return setsockopt(s->io.fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0 ? -errno : 0;
  }
  if (option == WEFT__OPT_KEEPALIVE) {
    if (s->kind != WEFT__STREAM_TCP) return WEFT_ENOTSUP;
    return setsockopt(s->io.fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v) < 0 ? -errno : 0;
  }
  return WEFT_EINVAL;
}

static const weft__transport_ops stream_ops = {
    .write = st_write,
    .lose_connection = st_lose,
    .abort_connection = st_abort,
    .shutdown_write = st_shutdown_write,
    .set_reading = st_set_reading,
    .get_peer = st_get_peer,
    .get_host = st_get_host,
    .set_option = st_set_option,
    .splice_to = st_splice_to,
    .sendfile = st_sendfile,
};

int weft__stream_start(weft_reactor *r, int fd, weft__stream_kind kind, const weft_factory *f,
                       const weft_address *peer) {
  stream *s = weft__calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return WEFT_ENOMEM;
  }
  weft__transport_init(&s->base, &stream_ops, r);
  s->io.fd = fd;
  s->io.cb = on_io;
  s->flush_task.fn = flush_task;
  s->lost_task.fn = deliver_lost;
  s->kind = (uint8_t)kind;
  int one = 1;
  if (kind == WEFT__STREAM_TCP) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  /* watch first: once a protocol is built it must see connection_made and connection_lost */
  int rc = weft__io_set(r, &s->io, WEFT__READ);
  if (rc == 0 && (rc = f->build_protocol(f->user, peer, &s->base.proto)) != 0) weft__io_stop(r, &s->io);
  if (rc) {
    close(fd);
    weft__free(s);
    return rc;
  }
  weft__handle_ref(r);
  weft__proto_made(&s->base);
  return 0;
}
