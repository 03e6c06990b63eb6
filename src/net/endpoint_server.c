/* endpoint_server.c: server endpoints parsed from strings and listened on, with a Deferred
 * (twisted.internet.endpoints.serverFromString, TCP4ServerEndpoint, TCP6ServerEndpoint,
 * UNIXServerEndpoint, and IListeningPort.stopListening). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/endpoint_internal.h"
#include "weft/errors.h"
#include "weft/tls.h"

typedef int (*listen_fn)(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                         char *why, size_t n);

typedef struct server_type {
  weft__ep_type t;
  listen_fn listen;
} server_type;

struct weft_server_endpoint {
  const server_type *type; /* NULL: a plugin's */
  weft__ep_vals vals;
  /* plugins */
  weft_server_endpoint_plugin plugin;
  void *state;
  weft__ep_tokens tokens; /* as given, for describe and the type's name */
};

/* Slots of tcp and tcp6, and of unix. */
enum { TCP_PORT, TCP_INTERFACE, TCP_BACKLOG, TCP_REUSEPORT };
enum { UNIX_ADDRESS, UNIX_MODE, UNIX_BACKLOG, UNIX_LOCKFILE };
enum { SYSTEMD_INDEX = 1, SYSTEMD_NAME = 2 };
enum { SSL_PORT, SSL_KEY, SSL_CERT, SSL_INTERFACE, SSL_BACKLOG, SSL_CHAIN, SSL_DH };

static void options_from(const weft__ep_vals *v, weft_listen_options *o) {
  weft_listen_options_init(o);
  if (weft__ep_given(v, TCP_BACKLOG)) o->backlog = (int)v->num[TCP_BACKLOG];
}

static int listen_tcp(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                      char *why, size_t n) {
  (void)why, (void)n;
  weft_listen_options o;
  options_from(v, &o);
  o.interface = v->text[TCP_INTERFACE];
  o.reuseport = v->num[TCP_REUSEPORT] != 0;
  return weft_tcp_listen(out, r, (int)v->num[TCP_PORT], &o, f);
}

static int listen_tcp6(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                       char *why, size_t n) {
  (void)why, (void)n;
  weft_listen_options o;
  options_from(v, &o);
  o.interface = v->text[TCP_INTERFACE] ? v->text[TCP_INTERFACE] : "::";
  o.reuseport = v->num[TCP_REUSEPORT] != 0;
  o.ipv6_only = true;
  return weft_tcp_listen(out, r, (int)v->num[TCP_PORT], &o, f);
}

/* ---- what a port owns beyond its socket ---- */

/* A factory in front of the caller's that owns what must live exactly as long as the port (a
 * lock file, a TLS factory): the port calls stop_factory when it closes, which releases them. */
typedef struct front {
  weft_factory f;
  const weft_factory *inner; /* the caller's, or the TLS factory's outer one */
  weft_tls_factory *tls;
  int lock_fd; /* -1: none */
  char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
} front;

static void front_free(front *fr) {
  if (fr->lock_fd >= 0) {
    unlink(fr->lock_path); /* while still holding the lock: a waiter then finds a fresh file */
    close(fr->lock_fd);
  }
  weft_tls_factory_free(fr->tls); /* handshakes under way keep their own reference */
  weft__free(fr);
}

static int front_build(void *user, const weft_address *peer, weft_protocol *out) {
  const weft_factory *inner = ((front *)user)->inner;
  return inner->build_protocol(inner->user, peer, out);
}

static void front_start(void *user) {
  const weft_factory *inner = ((front *)user)->inner;
  if (inner->start_factory) inner->start_factory(inner->user);
}

static void front_stop(void *user) {
  front *fr = user;
  if (fr->inner->stop_factory) fr->inner->stop_factory(fr->inner->user);
  front_free(fr);
}

static front *front_new(const weft_factory *inner) {
  front *fr = weft__calloc(1, sizeof *fr);
  if (!fr) return NULL;
  fr->f = (weft_factory){.build_protocol = front_build, .start_factory = front_start, .stop_factory = front_stop,
                         .user = fr};
  fr->inner = inner;
  fr->lock_fd = -1;
  return fr;
}

/* ---- unix, with an optional lock file ---- */

/* Takes PATH.lock. The file is checked to be the one still at the path after the lock is
 * taken: an unlocking holder unlinks it, and a lock on an unlinked file protects nothing. */
static int take_lock(front *l, const char *path, char *why, size_t n) {
  snprintf(l->lock_path, sizeof l->lock_path, "%s.lock", path);
  for (int tries = 0; tries < 3; tries++) {
    struct stat held, named;
    int fd = open(l->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      int err = -errno;
      snprintf(why, n, "cannot open lock file %s: %s", l->lock_path, weft_strerror(err));
      return err;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
      int err = errno == EWOULDBLOCK ? WEFT_EADDRINUSE : -errno;
      close(fd);
      snprintf(why, n, "lock file %s is held by another process", l->lock_path);
      return err;
    }
    if (fstat(fd, &held) == 0 && stat(l->lock_path, &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      if (ftruncate(fd, 0) == 0) dprintf(fd, "%ld\n", (long)getpid()); /* for whoever looks */
      l->lock_fd = fd;
      return 0;
    }
    close(fd);
  }
  snprintf(why, n, "lock file %s keeps changing", l->lock_path);
  return WEFT_EADDRINUSE;
}

static int listen_unix(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                       char *why, size_t n) {
  weft_listen_options o;
  options_from(v, &o);
  if (weft__ep_given(v, UNIX_BACKLOG)) o.backlog = (int)v->num[UNIX_BACKLOG];
  o.mode = (unsigned)v->num[UNIX_MODE];
  const char *path = v->text[UNIX_ADDRESS];
  if (!v->num[UNIX_LOCKFILE]) return weft_unix_listen(out, r, path, &o, f);
  front *l = front_new(f);
  if (!l) return WEFT_ENOMEM;
  int rc = take_lock(l, path, why, n);
  if (rc) {
    weft__free(l);
    return rc;
  }
  /* holding the lock, any socket file at path is a dead server's */
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  rc = weft_unix_listen(out, r, path, &o, &l->f);
  if (rc) front_free(l);
  return rc;
}

/* ---- ssl (tls): TCP with TLS terminated by the port ---- */

static int listen_ssl(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                      char *why, size_t n) {
  weft_tls_server_options to;
  weft_tls_server_options_init(&to);
  to.key_file = v->text[SSL_KEY];
  to.cert_file = v->text[SSL_CERT] ? v->text[SSL_CERT] : v->text[SSL_KEY]; /* Twisted: one PEM with both */
  to.extra_chain_file = v->text[SSL_CHAIN];
  weft_tls_context *ctx = NULL;
  int rc = weft_tls_server_context_new(&ctx, &to);
  if (rc) {
    snprintf(why, n, "%s: %s", weft_strerror(rc), weft_tls_last_error());
    return rc;
  }
  front *fr = front_new(NULL);
  rc = fr ? weft_tls_wrap_factory(&fr->tls, ctx, NULL, f) : WEFT_ENOMEM;
  weft_tls_context_free(ctx); /* the factory holds its own reference */
  if (rc) {
    if (fr) front_free(fr);
    return rc;
  }
  fr->inner = weft_tls_factory_get(fr->tls);
  weft_listen_options o;
  options_from(v, &o);
  if (weft__ep_given(v, SSL_BACKLOG)) o.backlog = (int)v->num[SSL_BACKLOG];
  o.interface = v->text[SSL_INTERFACE];
  rc = weft_tcp_listen(out, r, (int)v->num[SSL_PORT], &o, &fr->f);
  if (rc) front_free(fr);
  return rc;
}

/* ---- the type table ---- */

static int check_unix(const weft__ep_vals *v, char *why, size_t n) {
  if (v->num[UNIX_LOCKFILE] && v->text[UNIX_ADDRESS][0] == '@')
    return weft__ep_fail(why, n, "lockfile needs a filesystem path, not an abstract name");
  return 0;
}

static int check_systemd(const weft__ep_vals *v, char *why, size_t n) {
  bool index = weft__ep_given(v, SYSTEMD_INDEX), name = weft__ep_given(v, SYSTEMD_NAME);
  if (index == name) return weft__ep_fail(why, n, index ? "give index or name, not both" : "missing index (or name)");
  return 0;
}

#define TCP_ARGS                                                                                     \
  {{"port", WEFT__EP_PORT, true}, {"interface", WEFT__EP_IP, false}, {"backlog", WEFT__EP_BACKLOG, false}, \
   {"reuseport", WEFT__EP_BOOL, false}}

/* Twisted's _parseSSL(port, privateKey, certKey, sslmethod, interface, backlog, extraCertChain,
 * dhParameters), without the obsolete sslmethod (TLS 1.2 is weft's minimum). dhParameters is
 * accepted for Twisted's strings but not read: OpenSSL 3 picks its own (RFC 7919) groups. */
#define SSL_ARGS                                                                                          \
  {{"port", WEFT__EP_PORT, true},           {"privateKey", WEFT__EP_FILE, true},                          \
   {"certKey", WEFT__EP_FILE, false},       {"interface", WEFT__EP_IP, false},                            \
   {"backlog", WEFT__EP_BACKLOG, false},    {"extraCertChain", WEFT__EP_FILE, false},                     \
   {"dhParameters", WEFT__EP_FILE, false}}

/* Argument names and order follow Twisted's _parseTCP(port, interface, backlog) and
 * _parseUNIX(address, mode, backlog, lockfile). */
static const server_type types[] = {
    {{"tcp", TCP_ARGS, 1, NULL}, listen_tcp},
    {{"tcp6",
      {{"port", WEFT__EP_PORT, true}, {"interface", WEFT__EP_IP6, false}, {"backlog", WEFT__EP_BACKLOG, false},
       {"reuseport", WEFT__EP_BOOL, false}},
      1,
      NULL},
     listen_tcp6},
    {{"unix",
      {{"address", WEFT__EP_PATH, true}, {"mode", WEFT__EP_MODE, false}, {"backlog", WEFT__EP_BACKLOG, false},
       {"lockfile", WEFT__EP_BOOL, false}},
      1,
      check_unix},
     listen_unix},
    {{"systemd",
      {{"domain", WEFT__EP_DOMAIN, true}, {"index", WEFT__EP_INDEX, false}, {"name", WEFT__EP_FDNAME, false}},
      0,
      check_systemd},
     weft__ep_listen_systemd},
    {{"fd", {{"fileno", WEFT__EP_FD, true}}, 1, NULL}, weft__ep_listen_fd},
    {{"ssl", SSL_ARGS, 1, NULL}, listen_ssl},
    {{"tls", SSL_ARGS, 1, NULL}, listen_ssl},
};

static const server_type *find_type(const char *name) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcmp(types[i].t.name, name) == 0) return &types[i];
  return NULL;
}

const weft__ep_type *weft__ep_server_type(const char *name) {
  const server_type *t = find_type(name);
  return t ? &t->t : NULL;
}

/* ---- parse ---- */

int weft_server_endpoint_parse(weft_server_endpoint **out, const char *desc, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!out) return WEFT_EINVAL;
  *out = NULL;
  if (!desc) return WEFT_EINVAL;
  weft_server_endpoint *e = weft__calloc(1, sizeof *e);
  if (!e) return WEFT_ENOMEM;
  int rc = weft__ep_tokenize(&e->tokens, desc, err, errlen);
  if (rc) {
    weft__free(e);
    return rc;
  }
  const weft_endpoint_arg *head = &e->tokens.v[0];
  if (!head->key && (e->type = find_type(head->value)) != NULL) {
    rc = weft__ep_assign(&e->type->t, &e->tokens, &e->vals, desc, err, errlen);
    weft__ep_tokens_free(&e->tokens); /* the values hold what is needed */
  } else if (!head->key && weft__ep_find_server_plugin(head->value, &e->plugin)) {
    rc = weft__ep_parse_plugin(e->plugin.parse, e->plugin.user, &e->state, &e->tokens, desc, err, errlen);
  } else {
    rc = weft__ep_unknown_type(desc, true, err, errlen);
  }
  if (rc) {
    weft_server_endpoint_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

/* ---- listen ---- */

static void close_port(void *p) { weft_listening_port_close(p); }

weft_deferred *weft_server_endpoint_listen(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f) {
  weft_log_publisher *log = r ? weft_reactor_log(r) : NULL;
  if (e && r && f && !e->type) return e->plugin.listen(e->state, r, f, e->plugin.user);
  char why[256] = "", desc[512] = "?";
  weft_listening_port *p = NULL;
  int rc = !e || !r || !f || !f->build_protocol ? WEFT_EINVAL : e->type->listen(&e->vals, r, f, &p, why, sizeof why);
  if (rc == 0) return weft_succeed(log, weft_ptr(p, close_port)); /* on NULL the port was closed */
  if (e) weft_server_endpoint_describe(e, desc, sizeof desc);
  return weft_fail(log, weft_failure_new(WEFT_FAILURE_DOMAIN, rc, "cannot listen on %s: %s", desc,
                                         why[0] ? why : weft_strerror(rc)));
}

weft_deferred *weft_listening_port_stop(weft_listening_port *p) {
  weft_listening_port_close(p);
  return weft_succeed(NULL, weft_none());
}

/* ---- the rest ---- */

int weft_server_endpoint_describe(const weft_server_endpoint *e, char *buf, size_t size) {
  return e->type ? weft__ep_describe(&e->type->t, &e->vals, buf, size) : weft__ep_describe_tokens(&e->tokens, buf, size);
}

const char *weft_server_endpoint_type(const weft_server_endpoint *e) {
  return e->type ? e->type->t.name : e->tokens.v[0].value;
}

void weft_server_endpoint_free(weft_server_endpoint *e) {
  if (!e) return;
  if (!e->type && e->state && e->plugin.free_state) e->plugin.free_state(e->state, e->plugin.user);
  weft__ep_vals_free(&e->vals);
  weft__ep_tokens_free(&e->tokens);
  weft__free(e);
}
