/* connector.c: outgoing TCP and Unix connections (twisted.internet.tcp.Connector/Client):
 * a non-blocking connect watched for writability, with a timeout, whose outcome is reported
 * from the reactor, never inside the call that started it. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/net_hooks.h"
#include "net/socket.h"
#include "net/stream.h"
#include "weft/errors.h"

struct weft_connector {
  weft_reactor *r;
  weft__io io;
  weft__task finish_task; /* reports an outcome known at once (e.g. refused) */
  weft_delayed_call *timer;
  weft_delayed_call *retry; /* a Unix connect that found the backlog full tries again */
  const weft_factory *f;
  weft_address to;
  int reason; /* for finish_task: 0 connected, else the failure */
};

void weft_connect_options_init(weft_connect_options *o) {
  memset(o, 0, sizeof *o);
  o->timeout = 30;
}

static void finish(weft_connector *c, int reason) {
  weft_reactor *r = c->r;
  if (c->timer) weft_delayed_call_cancel(c->timer);
  if (c->retry) weft_delayed_call_cancel(c->retry);
  weft__task_cancel(r, &c->finish_task);
  weft__io_stop(r, &c->io);
  const weft_factory *f = c->f;
  int fd = c->io.fd;
  weft_address to = c->to;
  weft__handle_unref(r);
  weft__free(c);
  if (reason == 0) {
    reason = weft__stream_start(r, fd, to.u.sa.sa_family == AF_UNIX ? WEFT__STREAM_UNIX : WEFT__STREAM_TCP, f, &to);
    if (reason == 0) return;
  } else if (fd >= 0) {
    close(fd);
  }
  if (f->connection_failed) f->connection_failed(f->user, reason);
}

static void on_writable(weft__io *io, unsigned revents);

static void on_retry(void *arg) {
  weft_connector *c = arg;
  c->retry = NULL;
  on_writable(&c->io, WEFT__WRITE);
}

static void on_writable(weft__io *io, unsigned revents) {
  weft_connector *c = (weft_connector *)((char *)io - offsetof(weft_connector, io));
  (void)revents;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  weft_address peer;
  peer.len = sizeof peer.u;
  if (err == 0 && c->to.u.sa.sa_family == AF_UNIX && getpeername(io->fd, &peer.u.sa, &peer.len) < 0) {
    /* A Unix connect that said EAGAIN (backlog full) is not in progress: the socket reports
     * writable at once and never connects by itself. Try again, a little later while the backlog
     * stays full, until connected, refused or timed out (Twisted's doConnect retries too). */
    int rc = connect(io->fd, &c->to.u.sa, c->to.len) == 0 ? 0 : -errno;
    if (rc == WEFT_EAGAIN || rc == WEFT_EINPROGRESS) {
      weft__io_set(c->r, io, 0);
      if ((c->retry = weft_reactor_call_later(c->r, 0.01, on_retry, c)) != NULL) return;
      rc = WEFT_ENOMEM;
    }
    finish(c, rc == WEFT_EISCONN ? 0 : rc);
    return;
  }
  finish(c, -err);
}

static void on_timeout(void *arg) {
  weft_connector *c = arg;
  c->timer = NULL;
  finish(c, WEFT_ETIMEDOUT);
}

static void on_finish_task(weft__task *t) {
  weft_connector *c = (weft_connector *)((char *)t - offsetof(weft_connector, finish_task));
  finish(c, c->reason);
}

static int start(weft_connector **out, weft_reactor *r, const weft_address *to, const weft_connect_options *o,
                 const weft_factory *f) {
  weft_connect_options defaults;
  if (!o) {
    weft_connect_options_init(&defaults);
    o = &defaults;
  }
  if (out) *out = NULL;
  if (!f || !f->build_protocol || !to || !to->len) return WEFT_EINVAL;
  const weft__net_hooks *hooks = weft__reactor_net_hooks(r);
  if (hooks) return hooks->connect(weft__reactor_net_hooks_user(r), (weft_address *)to, o, f);
  int fd = weft__socket(to->u.sa.sa_family, SOCK_STREAM);
  if (fd < 0) return fd;
  if (o->bind_address && bind(fd, &o->bind_address->u.sa, o->bind_address->len) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  weft_connector *c = weft__calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return WEFT_ENOMEM;
  }
  c->r = r;
  c->f = f;
  c->to = *to;
  c->io.fd = fd;
  c->io.cb = on_writable;
  c->finish_task.fn = on_finish_task;
  weft__handle_ref(r);
  int rc = connect(fd, &to->u.sa, to->len) == 0 ? 0 : -errno;
  if (rc == WEFT_EINPROGRESS || rc == WEFT_EAGAIN) {
    /* Unix sockets say EAGAIN when the backlog is full; both wait for writable (where a Unix
     * socket that is not connected tries again: see on_writable) */
    if ((rc = weft__io_set(r, &c->io, WEFT__WRITE)) == 0 && o->timeout > 0 &&
        !(c->timer = weft_reactor_call_later(r, o->timeout, on_timeout, c)))
      rc = WEFT_ENOMEM;
    if (rc) {
      weft__io_stop(r, &c->io);
      close(fd);
      weft__handle_unref(r);
      weft__free(c);
      return rc;
    }
  } else {
    c->reason = rc; /* connected at once, or refused at once: either way, reported later */
    weft__task_queue(r, &c->finish_task);
  }
  if (out) *out = c;
  return 0;
}

int weft_tcp_connect(weft_connector **out, weft_reactor *r, const weft_address *to,
                     const weft_connect_options *o, const weft_factory *f) {
  if (to && to->len && to->u.sa.sa_family != AF_INET && to->u.sa.sa_family != AF_INET6) return WEFT_EINVAL;
  return start(out, r, to, o, f);
}

int weft_unix_connect(weft_connector **out, weft_reactor *r, const char *path, const weft_connect_options *o,
                      const weft_factory *f) {
  weft_address a;
  int rc = weft_address_from_unix(&a, path);
  return rc ? rc : start(out, r, &a, o, f);
}

void weft_connector_cancel(weft_connector *c) {
  if (c) finish(c, WEFT_ECANCELED);
}
