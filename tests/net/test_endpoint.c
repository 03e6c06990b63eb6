/* Tests src/net/endpoint_server.c, endpoint_client.c, endpoint_adopt.c and endpoint_plugin.c on
 * real loopback sockets: listen and connect through Deferreds (tcp, tcp6, unix with a lock file),
 * stopping a port without touching its connections, cancelling a pending connect, systemd socket
 * activation and fd:N adoption in-process, TLS through ssl:/tls: endpoints, and an application's
 * endpoint plugin. (The strings
 * themselves are tested by test_endpoint_table.c.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_util.h"
#include "tls_util.h"
#include "weft/deferred.h"
#include "weft/endpoint.h"
#include "weft/testing.h"
#include "weft/tls.h"

static weft_reactor *new_reactor(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  return r;
}

static weft_server_endpoint *server(const char *desc) {
  weft_server_endpoint *e = NULL;
  char err[256];
  if (weft_server_endpoint_parse(&e, desc, err, sizeof err) != 0) CHECK_FAIL_("parse \"%s\": %s", desc, err);
  REQUIRE(e != NULL);
  return e;
}

static weft_client_endpoint *client_ep(const char *desc) {
  weft_client_endpoint *e = NULL;
  char err[256];
  if (weft_client_endpoint_parse(&e, desc, err, sizeof err) != 0) CHECK_FAIL_("parse \"%s\": %s", desc, err);
  REQUIRE(e != NULL);
  return e;
}

/* Listens on desc and returns the port, which the test now owns (NULL on failure, reported). */
static weft_listening_port *listen_on(weft_reactor *r, const char *desc, const weft_factory *f) {
  weft_server_endpoint *e = server(desc);
  weft_deferred *d = weft_server_endpoint_listen(e, r, f);
  weft_server_endpoint_free(e); /* the port does not need it */
  weft_value v;
  char why[512];
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) CHECK_FAIL_("listen on %s: %s", desc, why);
  weft_deferred_unref(d);
  return v.kind == WEFT_VALUE_PTR ? v.v.p : NULL; /* taking v.p: the port is ours to close */
}

/* Listens on desc, which must fail with code and exactly the message want. */
static void listen_fails(weft_reactor *r, const char *desc, const weft_factory *f, int code, const char *want) {
  weft_server_endpoint *e = server(desc);
  weft_deferred *d = weft_server_endpoint_listen(e, r, f);
  weft_server_endpoint_free(e);
  char why[512];
  weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, code, why, sizeof why);
  if (!fl) CHECK_FAIL_("listen on %s: %s", desc, why);
  else CHECK_STR(weft_failure_message(fl), want);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
}

/* Connects through desc and turns the reactor until the Deferred fires (bounded); returns it. */
static weft_deferred *connect_to(weft_reactor *r, const char *desc, const weft_factory *f) {
  weft_client_endpoint *e = client_ep(desc);
  weft_deferred *d = weft_client_endpoint_connect(e, r, f);
  weft_client_endpoint_free(e); /* the attempt does not need it */
  REQUIRE(d != NULL);
  for (int i = 0; i < 500 && !weft_deferred_called(d); i++) weft_reactor_iterate(r, 0.01);
  return d;
}

/* The Deferred of a connect fired with the protocol's user pointer, want. */
static void check_connected(weft_deferred *d, void *want) {
  weft_value v;
  char why[512];
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) CHECK_FAIL_("connect: %s", why);
  else CHECK(v.kind == WEFT_VALUE_PTR && v.v.p == want && v.destroy == NULL);
  weft_deferred_unref(d);
}

static void check_failed(weft_deferred *d, int code, const char *want) {
  char why[512];
  weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, code, why, sizeof why);
  if (!fl) CHECK_FAIL_("expected failure %s: %s", weft_err_name(code), why);
  else if (want) CHECK_STR(weft_failure_message(fl), want);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
}

static int port_of(weft_listening_port *p) {
  weft_address a;
  weft_listening_port_address(p, &a);
  return weft_address_port(&a);
}

/* ---- tcp ---- */

static void test_tcp_listen_connect_and_stop(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_on(r, "tcp:0:interface=127.0.0.1:backlog=8", &sf);
  REQUIRE(p != NULL);
  char desc[128];
  snprintf(desc, sizeof desc, "tcp:host=127.0.0.1:port=%d", port_of(p));
  client c = {.send = "ping", .send_len = 4};
  weft_factory cf = client_factory(&c);
  weft_deferred *d = connect_to(r, desc, &cf);
  CHECK(c.made); /* connection_made ran before the Deferred fired */
  check_connected(d, &c);
  CHECK(!c.failed); /* failures go through the Deferred, never connection_failed */

  /* stopping the port leaves the live connection alone and refuses new ones */
  weft_deferred *stopped = weft_listening_port_stop(p);
  CHECK(weft_success_result_of(stopped, NULL, NULL, 0) == 0);
  weft_deferred_unref(stopped);
  bool got4 = false;
  for (int i = 0; i < 500 && !got4; i++) got4 = (weft_reactor_iterate(r, 0.01), c.ngot >= 4);
  CHECK_MEM(c.got, c.ngot, "ping", 4);
  CHECK(!c.lost);
  weft_transport_write(c.t, "more", 4);
  for (int i = 0; i < 500 && c.ngot < 8; i++) weft_reactor_iterate(r, 0.01);
  CHECK_MEM(c.got, c.ngot, "pingmore", 8);
  client c2 = {0};
  weft_factory cf2 = client_factory(&c2);
  char want[200];
  snprintf(want, sizeof want, "cannot connect to %s: connection refused", desc);
  check_failed(connect_to(r, desc, &cf2), WEFT_ECONNREFUSED, want);
  CHECK(!c2.made && !c2.failed);

  weft_transport_lose_connection(c.t);
  CHECK(turn_until(r, &c.lost, 5));
  close_reactor(r);
  CHECK_INT(es.made, 1);
}

static void test_listen_failure_names_the_endpoint(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_on(r, "tcp:0:interface=127.0.0.1", &sf);
  REQUIRE(p != NULL);
  char desc[64], want[160];
  snprintf(desc, sizeof desc, "tcp:%d:interface=127.0.0.1", port_of(p));
  snprintf(want, sizeof want, "cannot listen on %s: address already in use", desc);
  listen_fails(r, desc, &sf, WEFT_EADDRINUSE, want);
  weft_listening_port_close(p);
  close_reactor(r);
}

/* A listen whose result nobody takes closes its port when the Deferred goes: no leak. */
static void test_unclaimed_port_is_closed(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_server_endpoint *e = server("tcp:0:interface=127.0.0.1");
  weft_deferred *d = weft_server_endpoint_listen(e, r, &sf);
  weft_server_endpoint_free(e);
  CHECK(weft_deferred_called(d));
  CHECK_INT(weft_reactor_open_handles(r), 1);
  weft_deferred_cancel(d); /* fired already: nothing happens */
  weft_deferred_unref(d);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_tcp6_is_ipv6_only(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_server_endpoint *e = server("tcp6:0");
  weft_deferred *d = weft_server_endpoint_listen(e, r, &sf);
  weft_server_endpoint_free(e);
  weft_value v;
  if (weft_success_result_of(d, &v, NULL, 0) != 0) {
    fprintf(stderr, "  (no IPv6 here: tcp6 not tested)\n");
    weft_deferred_unref(d);
    close_reactor(r);
    return;
  }
  weft_deferred_unref(d);
  weft_listening_port *p = v.v.p;
  weft_address a;
  weft_listening_port_address(p, &a);
  CHECK_INT(weft_address_family(&a), AF_INET6);
  char desc[128];
  client c = {0}, c4 = {0};
  weft_factory cf = client_factory(&c), cf4 = client_factory(&c4);
  snprintf(desc, sizeof desc, "tcp:\\:\\:1:%d", port_of(p));
  check_connected(connect_to(r, desc, &cf), &c);
  snprintf(desc, sizeof desc, "tcp:host=127.0.0.1:port=%d", port_of(p));
  check_failed(connect_to(r, desc, &cf4), WEFT_ECONNREFUSED, NULL); /* IPV6_V6ONLY */
  weft_transport_abort_connection(c.t);
  CHECK(turn_until(r, &c.lost, 5));
  weft_listening_port_close(p);
  close_reactor(r);
}

/* ---- unix, with a lock file ---- */

static void test_unix_with_lockfile(void) {
  char dir[] = "/tmp/weft-endpoint-XXXXXX", desc[160], cdesc[160], sock[128], lock[128];
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(desc, sizeof desc, "unix:%s/a\\:b.sock:mode=0600:lockfile=1", dir);
  snprintf(cdesc, sizeof cdesc, "unix:path=%s/a\\:b.sock:timeout=5", dir);
  snprintf(sock, sizeof sock, "%s/a:b.sock", dir);
  snprintf(lock, sizeof lock, "%s/a:b.sock.lock", dir);
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_on(r, desc, &sf);
  REQUIRE(p != NULL);
  struct stat st;
  CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600);
  CHECK_INT(stat(lock, &st), 0);
  char want[600];
  snprintf(want, sizeof want, "cannot listen on %s: lock file %s is held by another process", desc, lock);
  listen_fails(r, desc, &sf, WEFT_EADDRINUSE, want);
  CHECK(stat(sock, &st) == 0); /* the holder's socket is untouched */

  client c = {.send = "hi", .send_len = 2, .close_after = 2};
  weft_factory cf = client_factory(&c);
  check_connected(connect_to(r, cdesc, &cf), &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "hi", 2);
  weft_deferred_unref(weft_listening_port_stop(p));
  CHECK(stat(sock, &st) < 0 && errno == ENOENT);
  CHECK(stat(lock, &st) < 0 && errno == ENOENT);

  /* a dead server's socket file is replaced by the next lock holder */
  int dead = socket(AF_UNIX, SOCK_STREAM, 0);
  weft_address da;
  weft_address_from_unix(&da, sock);
  REQUIRE(bind(dead, &da.u.sa, da.len) == 0 && listen(dead, 1) == 0);
  close(dead); /* its file stays */
  p = listen_on(r, desc, &sf);
  CHECK(p != NULL);
  weft_listening_port_close(p);
  close_reactor(r);
  rmdir(dir);
}

/* ---- connection attempts ---- */

/* A listener whose backlog is full, so a connect to it stays pending (as in test_tcp.c). */
static int full_listener(weft_address *to, int fillers[4]) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  weft_address_from_ip(to, "127.0.0.1", 0);
  REQUIRE(bind(lfd, &to->u.sa, to->len) == 0 && listen(lfd, 0) == 0);
  to->len = sizeof to->u;
  getsockname(lfd, &to->u.sa, &to->len);
  for (int i = 0; i < 4; i++) {
    fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(fillers[i], &to->u.sa, to->len);
  }
  return lfd;
}

static void test_cancel_pending_connect(void) {
  weft_reactor *r = new_reactor();
  weft_address to;
  int fillers[4], lfd = full_listener(&to, fillers);
  char desc[96];
  snprintf(desc, sizeof desc, "tcp:host=127.0.0.1:port=%d", weft_address_port(&to));
  weft_client_endpoint *e = client_ep(desc);
  client c = {0};
  weft_factory cf = client_factory(&c);
  weft_deferred *d = weft_client_endpoint_connect(e, r, &cf);
  weft_client_endpoint_free(e);
  for (int i = 0; i < 5; i++) weft_reactor_iterate(r, 0.01);
  CHECK(weft_assert_no_result(d, NULL, 0));
  CHECK(weft_reactor_open_handles(r) > 0); /* the pending attempt (and its timeout) */
  weft_deferred_cancel(d);
  CHECK_INT(weft_reactor_open_handles(r), 0); /* its socket and timer are gone at once */
  char want[160];
  snprintf(want, sizeof want, "cannot connect to %s: operation canceled", desc);
  check_failed(d, WEFT_ECANCELED, want);
  CHECK(!c.made && !c.failed);
  close_reactor(r);
  for (int i = 0; i < 4; i++) close(fillers[i]);
  close(lfd);
}

static void test_connect_timeout(void) {
  weft_reactor *r = new_reactor();
  weft_address to;
  int fillers[4], lfd = full_listener(&to, fillers);
  char desc[96];
  snprintf(desc, sizeof desc, "tcp:127.0.0.1:%d:timeout=0.05", weft_address_port(&to));
  client c = {0};
  weft_factory cf = client_factory(&c);
  check_failed(connect_to(r, desc, &cf), WEFT_ETIMEDOUT, NULL);
  close_reactor(r);
  for (int i = 0; i < 4; i++) close(fillers[i]);
  close(lfd);
}

/* A host name goes through the resolver (/etc/hosts has localhost) and Happy Eyeballs. */
static void test_connect_by_name(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_on(r, "tcp:0:interface=127.0.0.1", &sf);
  REQUIRE(p != NULL);
  char desc[96];
  snprintf(desc, sizeof desc, "tcp:host=localhost:port=%d:timeout=5", port_of(p));
  client c = {.send = "by name", .send_len = 7, .close_after = 7};
  weft_factory cf = client_factory(&c);
  check_connected(connect_to(r, desc, &cf), &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "by name", 7);
  /* cancelled while the name is being connected: the attempt fails with ECANCELED, nothing leaks */
  client c2 = {0};
  weft_factory cf2 = client_factory(&c2);
  weft_client_endpoint *e = client_ep(desc);
  weft_deferred *d = weft_client_endpoint_connect(e, r, &cf2);
  weft_client_endpoint_free(e);
  if (!weft_deferred_called(d)) weft_deferred_cancel(d);
  char why[256];
  weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_FAILURE_ANY_CODE, why, sizeof why);
  if (fl) CHECK_INT(weft_failure_code(fl), WEFT_ECANCELED);
  else weft_success_result_of(d, NULL, NULL, 0); /* the connect won the race with the cancel */
  weft_failure_unref(fl);
  weft_deferred_unref(d);
  for (int i = 0; i < 100 && (es.lost < es.made || !c2.lost) && c2.made; i++) weft_reactor_iterate(r, 0.01);
  if (c2.t) weft_transport_abort_connection(c2.t);
  weft_listening_port_close(p);
  close_reactor(r);
}

static int refuse_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)u, (void)peer, (void)out;
  return WEFT_EACCES;
}

static void test_connect_errors(void) {
  weft_reactor *r = new_reactor();
  client c = {0};
  weft_factory cf = client_factory(&c);
  check_failed(connect_to(r, "unix:/nonexistent/weft.sock", &cf), WEFT_ENOENT,
               "cannot connect to unix:path=/nonexistent/weft.sock: no such file or directory");
  /* a protocol the factory refuses to build fails the attempt with its error */
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_on(r, "tcp:0:interface=127.0.0.1", &sf);
  char desc[96];
  snprintf(desc, sizeof desc, "tcp:host=127.0.0.1:port=%d", port_of(p));
  weft_factory refusing = {.build_protocol = refuse_build};
  check_failed(connect_to(r, desc, &refusing), WEFT_EACCES, NULL);
  CHECK(!c.made && !c.failed);
  for (int i = 0; i < 100 && es.lost < es.made; i++) weft_reactor_iterate(r, 0.01);
  weft_listening_port_close(p);
  close_reactor(r);
}

/* ---- adopted sockets ---- */

/* A listening TCP socket on 127.0.0.1 moved to the lowest free descriptor >= at_least. */
static int listening_socket_at(int at_least) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", 0);
  REQUIRE(bind(s, &a.u.sa, a.len) == 0 && listen(s, 8) == 0);
  int fd = fcntl(s, F_DUPFD_CLOEXEC, at_least);
  REQUIRE(fd >= at_least);
  close(s);
  return fd;
}

/* Serves one connection through the port and closes it. */
static void serve_one(weft_reactor *r, weft_listening_port *p, echo_server *es) {
  char desc[96];
  snprintf(desc, sizeof desc, "tcp:host=127.0.0.1:port=%d", port_of(p));
  client c = {.send = "x", .send_len = 1, .close_after = 1};
  weft_factory cf = client_factory(&c);
  check_connected(connect_to(r, desc, &cf), &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_INT(c.ngot, 1);
  for (int i = 0; i < 100 && es->lost < es->made; i++) weft_reactor_iterate(r, 0.01);
}

static void test_systemd_activation(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  /* systemd's fds start at 3; the test's socket sits at 3 + index with the ones before it unused */
  int fd = listening_socket_at(40), index = fd - 3;
  char n[32], desc[96], want[600];
  snprintf(n, sizeof n, "%d", index + 1);
  setenv("LISTEN_FDS", n, 1);
  snprintf(n, sizeof n, "%ld", (long)getpid());
  setenv("LISTEN_PID", n, 1);
  snprintf(desc, sizeof desc, "systemd:domain=INET:index=%d", index);
  weft_listening_port *p = listen_on(r, desc, &sf);
  REQUIRE(p != NULL);
  serve_one(r, p, &es);
  weft_listening_port_close(p);
  CHECK(fcntl(fd, F_GETFD) >= 0); /* the inherited descriptor stays */

  /* by name */
  char names[256] = "";
  for (int i = 0; i < index; i++) strcat(names, "other:");
  strcat(names, "web");
  setenv("LISTEN_FDNAMES", names, 1);
  p = listen_on(r, "systemd:domain=INET:name=web", &sf);
  CHECK(p != NULL);
  weft_listening_port_close(p);

  snprintf(desc, sizeof desc, "systemd:domain=INET6:index=%d", index);
  snprintf(want, sizeof want, "cannot listen on %s: systemd socket fd %d is INET, not INET6", desc, fd);
  listen_fails(r, desc, &sf, WEFT_EINVAL, want);
  snprintf(desc, sizeof desc, "systemd:domain=INET:index=%d", index + 1);
  snprintf(want, sizeof want, "cannot listen on %s: systemd passed %d sockets, so index %d does not exist", desc,
           index + 1, index + 1);
  listen_fails(r, desc, &sf, WEFT_ENOENT, want);
  listen_fails(r, "systemd:domain=INET:name=api", &sf, WEFT_ENOENT,
               "cannot listen on systemd:domain=INET:name=api: no systemd socket named \"api\" in LISTEN_FDNAMES");
  setenv("LISTEN_PID", "1", 1); /* meant for another process */
  snprintf(desc, sizeof desc, "systemd:domain=INET:index=%d", index);
  snprintf(want, sizeof want,
           "cannot listen on %s: the systemd sockets are not for this process (LISTEN_PID is 1, this is %ld)", desc,
           (long)getpid());
  listen_fails(r, desc, &sf, WEFT_ENOENT, want);
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  snprintf(want, sizeof want, "cannot listen on %s: no sockets from systemd (LISTEN_PID and LISTEN_FDS are not set)", desc);
  listen_fails(r, desc, &sf, WEFT_ENOENT, want);
  close(fd);
  close_reactor(r);
}

static void test_fd_adoption(void) {
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  int fd = listening_socket_at(3);
  char desc[64], want[200];
  snprintf(desc, sizeof desc, "fd:%d", fd);
  weft_listening_port *p = listen_on(r, desc, &sf);
  REQUIRE(p != NULL);
  serve_one(r, p, &es);
  weft_listening_port_close(p);
  CHECK(fcntl(fd, F_GETFD) >= 0); /* the caller's descriptor stays; the port used a duplicate */
  close(fd);
  snprintf(want, sizeof want, "cannot listen on %s: descriptor %d is not open", desc, fd);
  listen_fails(r, desc, &sf, WEFT_EBADF, want);
  int plain = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not listening */
  snprintf(desc, sizeof desc, "fd:%d", plain);
  snprintf(want, sizeof want, "cannot listen on %s: descriptor %d is not a listening stream socket", desc, plain);
  listen_fails(r, desc, &sf, WEFT_EINVAL, want);
  close(plain);
  close_reactor(r);
}


/* ---- ssl / tls ---- */

/* TLS terminated by an ssl: port, originated by a tls: client endpoint, verified against the
 * test CA; the same without the CA fails verification, saying why. */
static void test_tls_listen_and_connect(void) {
  test_pki pki;
  pki_make(&pki);
  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  char desc[512], cdesc[512], want[600];
  const char *prefixes[] = {"ssl", "tls"};
  for (int i = 0; i < 2; i++) {
    snprintf(desc, sizeof desc, "%s:0:privateKey=%s:certKey=%s:interface=127.0.0.1", prefixes[i], pki.server_key,
             pki.server);
    weft_listening_port *p = listen_on(r, desc, &sf);
    REQUIRE(p != NULL);
    snprintf(cdesc, sizeof cdesc, "tls:127.0.0.1:%d:trustRoots=%s:timeout=5", port_of(p), pki.ca);
    client c = {.send = "secret", .send_len = 6, .close_after = 6};
    weft_factory cf = client_factory(&c);
    weft_deferred *d = connect_to(r, cdesc, &cf);
    check_connected(d, &c);
    CHECK(c.made && weft_tls_is(c.t)); /* the protocol sits on the TLS transport */
    CHECK(turn_until(r, &c.lost, 5));
    CHECK_MEM(c.got, c.ngot, "secret", 6);
    CHECK_INT(c.reason, 0);

    /* the system trust store does not know the test CA */
    snprintf(cdesc, sizeof cdesc, "tls:host=127.0.0.1:port=%d", port_of(p));
    client bad = {0};
    weft_factory bf = client_factory(&bad);
    d = connect_to(r, cdesc, &bf);
    snprintf(want, sizeof want, "cannot connect to %s: %s", cdesc, weft_strerror(WEFT_ETLSUNKNOWNCA));
    char why[512];
    weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ETLSUNKNOWNCA, why, sizeof why);
    if (!fl) CHECK_FAIL_("%s", why);
    else CHECK(strncmp(weft_failure_message(fl), want, strlen(want)) == 0);
    weft_failure_unref(fl);
    weft_deferred_unref(d);
    CHECK(!bad.made && !bad.failed);
    weft_listening_port_close(p);
    for (int k = 0; k < 100 && es.lost < es.made; k++) weft_reactor_iterate(r, 0.01);
  }
  snprintf(desc, sizeof desc, "ssl:0:privateKey=%s/missing.key", pki.dir);
  weft_server_endpoint *e = server(desc);
  weft_deferred *d = weft_server_endpoint_listen(e, r, &sf);
  weft_server_endpoint_free(e);
  snprintf(want, sizeof want, "cannot listen on %s: %s", desc, weft_strerror(WEFT_ETLSCONFIG));
  weft_failure *fl = weft_failure_result_of(d, WEFT_FAILURE_DOMAIN, WEFT_ETLSCONFIG, NULL, 0);
  CHECK(fl && strncmp(weft_failure_message(fl), want, strlen(want)) == 0);
  weft_failure_unref(fl);
  weft_deferred_unref(d);
  close_reactor(r);
  pki_remove(&pki);
}

/* A cancel during the handshake (the peer accepts TCP and never answers) ends the connection. */
static void test_cancel_during_tls_handshake(void) {
  weft_reactor *r = new_reactor();
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  weft_address a;
  weft_address_from_ip(&a, "127.0.0.1", 0);
  REQUIRE(bind(s, &a.u.sa, a.len) == 0 && listen(s, 4) == 0);
  a.len = sizeof a.u;
  getsockname(s, &a.u.sa, &a.len);
  char desc[96];
  snprintf(desc, sizeof desc, "tls:127.0.0.1:%d", weft_address_port(&a));
  weft_client_endpoint *e = client_ep(desc);
  client c = {0};
  weft_factory cf = client_factory(&c);
  weft_deferred *d = weft_client_endpoint_connect(e, r, &cf);
  weft_client_endpoint_free(e);
  for (int i = 0; i < 20; i++) weft_reactor_iterate(r, 0.01); /* connected; the hello waits unanswered */
  CHECK(weft_assert_no_result(d, NULL, 0));
  weft_deferred_cancel(d);
  check_failed(d, WEFT_ECANCELED, NULL);
  close_reactor(r); /* the TCP connection goes */
  CHECK(!c.made && !c.failed);
  close(s);
}

/* ---- plugins ---- */

/* An application's endpoint type: "lo:PORT" listens on (and connects to) 127.0.0.1:PORT by
 * delegating to the built-in tcp endpoints. */
typedef struct lo_state {
  char tcp[96];
} lo_state;

static int frees;

static int lo_parse(void **state, const weft_endpoint_args *a, char *why, size_t n, void *user) {
  const char *port = a->n == 1 && !a->v[0].key ? a->v[0].value : weft_endpoint_args_get(a, "port");
  if (!port || a->n != 1 || strspn(port, "0123456789") != strlen(port) || !*port)
    return snprintf(why, n, "%s takes one argument, a port", a->type), WEFT_EPARSE;
  lo_state *s = malloc(sizeof *s);
  if (!s) return WEFT_ENOMEM;
  snprintf(s->tcp, sizeof s->tcp, user ? "tcp:%s:interface=127.0.0.1" : "tcp:host=127.0.0.1:port=%s", port);
  *state = s;
  return 0;
}

static void lo_free(void *state, void *user) {
  (void)user;
  frees++;
  free(state);
}

static weft_deferred *lo_listen(void *state, weft_reactor *r, const weft_factory *f, void *user) {
  (void)user;
  weft_server_endpoint *e = server(((lo_state *)state)->tcp);
  weft_deferred *d = weft_server_endpoint_listen(e, r, f);
  weft_server_endpoint_free(e);
  return d;
}

static weft_deferred *lo_connect(void *state, weft_reactor *r, const weft_factory *f, void *user) {
  (void)user;
  weft_client_endpoint *e = client_ep(((lo_state *)state)->tcp);
  weft_deferred *d = weft_client_endpoint_connect(e, r, f);
  weft_client_endpoint_free(e);
  return d;
}

static void test_plugin(void) {
  static int server_marker;
  weft_server_endpoint_plugin sp = {.parse = lo_parse, .listen = lo_listen, .free_state = lo_free, .user = &server_marker};
  weft_client_endpoint_plugin cp = {.parse = lo_parse, .connect = lo_connect, .free_state = lo_free};
  CHECK_INT(weft_endpoint_register_server("lo", &sp), 0);
  CHECK_INT(weft_endpoint_register_client("lo", &cp), 0);
  CHECK_INT(weft_endpoint_register_server("lo", &sp), WEFT_EEXIST);
  CHECK_INT(weft_endpoint_register_server("tcp", &sp), WEFT_EEXIST);
  CHECK_INT(weft_endpoint_register_client("unix", &cp), WEFT_EEXIST);
  CHECK_INT(weft_endpoint_register_server("a:b", &sp), WEFT_EINVAL);
  CHECK_INT(weft_endpoint_register_server("", &sp), WEFT_EINVAL);
  CHECK_INT(weft_endpoint_register_server("ok", &(weft_server_endpoint_plugin){0}), WEFT_EINVAL);
  CHECK(weft_server_endpoint_type_known("lo") && weft_client_endpoint_type_known("lo"));

  weft_server_endpoint *e = NULL;
  char err[256], got[128];
  CHECK_INT(weft_server_endpoint_parse(&e, "lo", err, sizeof err), WEFT_EPARSE);
  CHECK_STR(err, "bad endpoint \"lo\": lo takes one argument, a port");
  CHECK_INT(weft_server_endpoint_parse(&e, "lo:port=0", err, sizeof err), 0);
  CHECK_STR(weft_server_endpoint_type(e), "lo");
  weft_server_endpoint_describe(e, got, sizeof got);
  CHECK_STR(got, "lo:port=0");
  weft_server_endpoint_free(e);
  CHECK_INT(frees, 1);

  weft_reactor *r = new_reactor();
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p = listen_on(r, "lo:0", &sf);
  REQUIRE(p != NULL);
  char desc[64];
  snprintf(desc, sizeof desc, "lo:%d", port_of(p));
  client c = {.send = "plug", .send_len = 4, .close_after = 4};
  weft_factory cf = client_factory(&c);
  check_connected(connect_to(r, desc, &cf), &c);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "plug", 4);
  weft_listening_port_close(p);
  close_reactor(r);

  CHECK_INT(weft_endpoint_unregister_server("lo"), 0);
  CHECK_INT(weft_endpoint_unregister_server("lo"), WEFT_ENOENT);
  CHECK_INT(weft_server_endpoint_parse(&e, "lo:0", err, sizeof err), WEFT_EPARSE);
  CHECK_STR(err, "unknown endpoint type \"lo\" in \"lo:0\"");
  CHECK(weft_client_endpoint_type_known("lo")); /* the client side is registered apart */
  CHECK_INT(weft_endpoint_unregister_client("lo"), 0);
}

/* Registration and parsing from several threads at once (the registry's lock). */
static void *churn(void *arg) {
  char prefix[16];
  snprintf(prefix, sizeof prefix, "p%d", (int)(long)arg);
  weft_server_endpoint_plugin sp = {.parse = lo_parse, .listen = lo_listen, .free_state = lo_free, .user = &frees};
  for (int i = 0; i < 2000; i++) {
    if (weft_endpoint_register_server(prefix, &sp) != 0) return (void *)1;
    weft_server_endpoint *e = NULL;
    char desc[32];
    snprintf(desc, sizeof desc, "%s:1", prefix);
    if (weft_server_endpoint_parse(&e, desc, NULL, 0) != 0) return (void *)2;
    weft_server_endpoint_free(e);
    if (weft_endpoint_unregister_server(prefix) != 0) return (void *)3;
  }
  return NULL;
}

static void test_plugin_registry_threads(void) {
  pthread_t t[4];
  frees = 0;
  for (long i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, churn, (void *)i) == 0);
  for (int i = 0; i < 4; i++) {
    void *rc;
    pthread_join(t[i], &rc);
    CHECK(rc == NULL);
  }
}

int main(void) {
  RUN(test_tcp_listen_connect_and_stop);
  RUN(test_listen_failure_names_the_endpoint);
  RUN(test_unclaimed_port_is_closed);
  RUN(test_tcp6_is_ipv6_only);
  RUN(test_unix_with_lockfile);
  RUN(test_cancel_pending_connect);
  RUN(test_connect_timeout);
  RUN(test_connect_errors);
  RUN(test_connect_by_name);
  RUN(test_systemd_activation);
  RUN(test_fd_adoption);
  RUN(test_tls_listen_and_connect);
  RUN(test_cancel_during_tls_handshake);
  RUN(test_plugin);
  RUN(test_plugin_registry_threads);
  return CHECK_DONE();
}
