/* listener.c: listening TCP and Unix sockets (twisted.internet.tcp.Port, unix.Port).
 *
 * Each readiness accepts a bounded batch, so a flood of connections cannot starve the sockets
 * already open. When descriptors run out, accepting pauses for a short while (the backlog holds
 * the waiting clients) instead of spinning on a listening socket that stays readable. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/net_hooks.h"
#include "net/socket.h"
#include "net/stream.h"
#include "weft/errors.h"

struct weft_listening_port {
  weft_reactor *r;
  weft__io io;
  const weft_factory *f;
  weft_address addr; /* as bound (for a fake port: as recorded) */
  weft_delayed_call *retry;
  int batch;
  double emfile_retry;
  int starved; /* retries since descriptors ran out (0: accepting normally) */
  bool is_unix, fake, unlink_on_close;
  /* inside on_accept: a close from build_protocol or connection_made (Twisted allows
   * stopListening there) must leave the struct for on_accept to free */
  bool in_accept, closed;
};

void weft_listen_options_init(weft_listen_options *o) {
  memset(o, 0, sizeof *o);
  o->backlog = 511;
  o->accept_batch = 64;
  o->emfile_retry = 0.1;
}

static void log_accept(weft_listening_port *p, weft_log_level level, const char *fmt, int err) {
  char where[WEFT_ADDRSTRLEN];
  weft_address_format(&p->addr, where, sizeof where);
  weft_log_emit(weft_reactor_log(p->r), level, "weft.net.listen", fmt, WEFT_LOG_STR("address", where),
                WEFT_LOG_ERR("error", err), WEFT_LOG_DOUBLE("retry", p->emfile_retry), WEFT_LOG_END);
}

static void resume_accepting(void *arg) {
  weft_listening_port *p = arg;
  p->retry = NULL;
  weft__io_set(p->r, &p->io, WEFT__READ);
}

static void accept_batch(weft_listening_port *p, weft__io *io) {
  for (int i = 0; i < p->batch; i++) {
    weft_address peer;
    peer.len = sizeof peer.u;
    int fd = accept4(io->fd, &peer.u.sa, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        /* out of resources: stop watching, let the backlog hold clients, retry later */
        weft__io_set(p->r, io, 0);
        p->retry = weft_reactor_call_later(p->r, p->emfile_retry, resume_accepting, p);
        if (p->starved++ == 0) /* once per episode, not once per retry */
          log_accept(p, WEFT_LOG_WARN, "accept on {address} failed: {error}; pausing accepts, retrying every {retry}s", -err);
        if (!p->retry) weft__io_set(p->r, io, WEFT__READ);
        return;
      }
      log_accept(p, WEFT_LOG_ERROR, "accept on {address} failed: {error}", -err);
      return;
    }
    if (p->starved) {
      log_accept(p, WEFT_LOG_INFO, "accepting on {address} again", 0);
      p->starved = 0;
    }
    int rc = weft__stream_start(p->r, fd, p->is_unix ? WEFT__STREAM_UNIX : WEFT__STREAM_TCP, p->f, &peer);
    if (p->closed) return;
    if (rc) log_accept(p, WEFT_LOG_DEBUG, "connection on {address} not started: {error}", rc);
  }
}

static void on_accept(weft__io *io, unsigned revents) {
  weft_listening_port *p = (weft_listening_port *)((char *)io - offsetof(weft_listening_port, io));
  (void)revents;
  p->in_accept = true;
  accept_batch(p, io);
  p->in_accept = false;
  if (p->closed) weft__free(p);
}

static weft_listening_port *port_new(weft_reactor *r, const weft_listen_options *o, const weft_factory *f) {
  weft_listening_port *p = weft__calloc(1, sizeof *p);
  if (!p) return NULL;
  p->r = r;
  p->f = f;
  p->io.fd = -1;
  p->io.cb = on_accept;
  p->batch = o->accept_batch > 0 ? o->accept_batch : 64;
  p->emfile_retry = o->emfile_retry > 0 ? o->emfile_retry : 0.1;
  return p;
}

/* Shared tail of the listen calls: the hooks of a memory reactor, or a real socket. */
static int open_port(weft_listening_port *p, const weft_listen_options *o, int (*setup)(weft_listening_port *,
                                                                                       const weft_listen_options *)) {
  const weft__net_hooks *hooks = weft__reactor_net_hooks(p->r);
  int rc = hooks ? hooks->listen(weft__reactor_net_hooks_user(p->r), &p->addr, o, p->f) : setup(p, o);
  if (rc) return rc;
  p->fake = hooks != NULL;
  weft__handle_ref(p->r);
  if (p->f->start_factory) p->f->start_factory(p->f->user);
  return 0;
}

static int bind_listen(weft_listening_port *p, const weft_listen_options *o) {
  int fd = weft__socket(p->addr.u.sa.sa_family, SOCK_STREAM);
  if (fd < 0) return fd;
  int one = 1, rc = 0;
  if (!p->is_unix) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) rc = -errno;
    if (!rc && p->addr.u.sa.sa_family == AF_INET6) {
      int v6only = o->ipv6_only ? 1 : 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
  }
  if (!rc && bind(fd, &p->addr.u.sa, p->addr.len) < 0) rc = -errno;
  if (!rc && listen(fd, o->backlog > 0 ? o->backlog : 511) < 0) rc = -errno;
  if (!rc) {
    p->addr.len = sizeof p->addr.u;
    getsockname(fd, &p->addr.u.sa, &p->addr.len);
    p->io.fd = fd;
    rc = weft__io_set(p->r, &p->io, WEFT__READ);
  }
  if (rc) {
    close(fd);
    p->io.fd = -1;
  }
  return rc;
}

static int tcp_setup(weft_listening_port *p, const weft_listen_options *o) {
  int rc = bind_listen(p, o);
  /* no IPv6 on this host: fall back from "::" to 0.0.0.0 when no interface was named */
  if (rc == WEFT_EAFNOSUPPORT && !o->interface) {
    weft_address_from_ip(&p->addr, "0.0.0.0", weft_address_port(&p->addr));
    rc = bind_listen(p, o);
  }
  return rc;
}

int weft_tcp_listen(weft_listening_port **out, weft_reactor *r, int port, const weft_listen_options *o,
                    const weft_factory *f) {
  weft_listen_options defaults;
  if (!o) {
    weft_listen_options_init(&defaults);
    o = &defaults;
  }
  if (!f || !f->build_protocol || port < 0 || port > 65535) return WEFT_EINVAL;
  weft_listening_port *p = port_new(r, o, f);
  if (!p) return WEFT_ENOMEM;
  int rc = weft_address_from_ip(&p->addr, o->interface ? o->interface : "::", port);
  if (!rc) rc = open_port(p, o, tcp_setup);
  if (rc) {
    weft__free(p);
    return rc;
  }
  *out = p;
  return 0;
}

/* An existing socket file is replaced only if nothing answers on it (a stale one). */
static int clear_stale_socket(const weft_address *a) {
  const char *path = a->u.un.sun_path;
  struct stat st;
  if (path[0] == '\0' || lstat(path, &st) < 0) return 0;
  if (!S_ISSOCK(st.st_mode)) return WEFT_EADDRINUSE;
  int fd = weft__socket(AF_UNIX, SOCK_STREAM);
  if (fd < 0) return fd;
  int rc = connect(fd, &a->u.sa, a->len) < 0 ? errno : 0;
  close(fd);
  if (rc == ECONNREFUSED) return unlink(path) < 0 ? -errno : 0;
  return WEFT_EADDRINUSE;
}

static int unix_setup(weft_listening_port *p, const weft_listen_options *o) {
  int rc = clear_stale_socket(&p->addr);
  if (!rc) rc = bind_listen(p, o);
  if (rc) return rc;
  const char *path = p->addr.u.un.sun_path;
  if (path[0] != '\0') {
    p->unlink_on_close = true;
    if (o->mode && chmod(path, o->mode) < 0) {
      rc = -errno;
      weft__io_stop(p->r, &p->io);
      close(p->io.fd);
      unlink(path);
    }
  }
  return rc;
}

int weft_unix_listen(weft_listening_port **out, weft_reactor *r, const char *path,
                     const weft_listen_options *o, const weft_factory *f) {
  weft_listen_options defaults;
  if (!o) {
    weft_listen_options_init(&defaults);
    o = &defaults;
  }
  if (!f || !f->build_protocol) return WEFT_EINVAL;
  weft_listening_port *p = port_new(r, o, f);
  if (!p) return WEFT_ENOMEM;
  p->is_unix = true;
  int rc = weft_address_from_unix(&p->addr, path);
  if (!rc) rc = open_port(p, o, unix_setup);
  if (rc) {
    weft__free(p);
    return rc;
  }
  *out = p;
  return 0;
}

/* An adopted socket is already bound and listening: only make it non-blocking and watch it. */
static int adopt_setup(weft_listening_port *p, const weft_listen_options *o) {
  (void)o;
  int rc = weft__set_nonblock_cloexec(p->io.fd);
  return rc ? rc : weft__io_set(p->r, &p->io, WEFT__READ);
}

/* fd must be an open, listening stream socket; the port listens on a duplicate of it. */
static int check_listening(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (fcntl(fd, F_GETFD) < 0) return WEFT_EBADF;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return WEFT_EINVAL;
#ifdef SO_ACCEPTCONN
  int listening = 0;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) return WEFT_EINVAL;
#endif
  return 0;
}

int weft_tcp_listen_fd(weft_listening_port **out, weft_reactor *r, int fd, const weft_listen_options *o,
                       const weft_factory *f) {
  weft_listen_options defaults;
  if (!o) {
    weft_listen_options_init(&defaults);
    o = &defaults;
  }
  if (!f || !f->build_protocol || fd < 0) return WEFT_EINVAL;
  int rc = check_listening(fd);
  if (rc) return rc;
  weft_listening_port *p = port_new(r, o, f);
  if (!p) return WEFT_ENOMEM;
  p->addr.len = sizeof p->addr.u;
  if (getsockname(fd, &p->addr.u.sa, &p->addr.len) < 0 || (p->io.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    rc = -errno;
    weft__free(p);
    return rc;
  }
  p->is_unix = p->addr.u.sa.sa_family == AF_UNIX;
  rc = open_port(p, o, adopt_setup);
  if (rc || p->fake) { /* a memory reactor only records the port: the duplicate is not needed */
    close(p->io.fd);
    p->io.fd = -1;
  }
  if (rc) {
    weft__free(p);
    return rc;
  }
  *out = p;
  return 0;
}

int weft_listening_port_address(const weft_listening_port *p, weft_address *out) {
  *out = p->addr;
  return 0;
}

void weft_listening_port_close(weft_listening_port *p) {
  if (!p) return;
  if (p->retry) weft_delayed_call_cancel(p->retry);
  if (p->fake) {
    const weft__net_hooks *hooks = weft__reactor_net_hooks(p->r);
    if (hooks && hooks->listen_closed) hooks->listen_closed(weft__reactor_net_hooks_user(p->r), &p->addr, p->f);
  } else {
    weft__io_stop(p->r, &p->io);
    close(p->io.fd);
    if (p->unlink_on_close) unlink(p->addr.u.un.sun_path);
  }
  weft__handle_unref(p->r);
  if (p->f->stop_factory) p->f->stop_factory(p->f->user);
  p->closed = true;
  if (!p->in_accept) weft__free(p);
}
