/* Tests src/net/endpoint.c: server endpoint strings (Twisted's serverFromString): the accepted
 * forms, escaping, error messages that name the bad part, and listening through a parsed endpoint
 * on a real reactor. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "weft/endpoint.h"
#include "weft/errors.h"
#include "weft/reactor.h"
#include "weft/tcp.h"
#include "weft/transport.h"

/* Parses desc, which must be valid, and checks its canonical description. */
static void check_canonical(const char *desc, const char *type, const char *want) {
  weft_server_endpoint *e = NULL;
  char err[256], got[256];
  int rc = weft_server_endpoint_parse(&e, desc, err, sizeof err);
  if (rc != 0) {
    CHECK_FAIL_("parse(\"%s\") failed: %s (%s)", desc, weft_err_name(rc), err);
    return;
  }
  CHECK_STR(err, "");
  CHECK_STR(weft_server_endpoint_type(e), type);
  CHECK_INT(weft_server_endpoint_describe(e, got, sizeof got), 0);
  CHECK_STR(got, want);
  weft_server_endpoint_free(e);
  /* the canonical form parses back to itself */
  rc = weft_server_endpoint_parse(&e, want, err, sizeof err);
  CHECK_INT(rc, 0);
  if (rc) return;
  weft_server_endpoint_describe(e, got, sizeof got);
  CHECK_STR(got, want);
  weft_server_endpoint_free(e);
}

static void test_tcp_forms(void) {
  check_canonical("tcp:8000", "tcp", "tcp:8000");
  check_canonical("tcp:0", "tcp", "tcp:0");
  check_canonical("tcp:65535", "tcp", "tcp:65535");
  check_canonical("tcp:port=8000", "tcp", "tcp:8000");
  check_canonical("tcp:8000:interface=127.0.0.1", "tcp", "tcp:8000:interface=127.0.0.1");
  check_canonical("tcp:8000:interface=127.0.0.1:backlog=50", "tcp", "tcp:8000:interface=127.0.0.1:backlog=50");
  /* Twisted's positional order: port, interface, backlog */
  check_canonical("tcp:80:10.0.0.1:7", "tcp", "tcp:80:interface=10.0.0.1:backlog=7");
  /* keywords in any order, and before positionals */
  check_canonical("tcp:backlog=9:port=81", "tcp", "tcp:81:backlog=9");
  check_canonical("tcp:interface=127.0.0.1:82", "tcp", "tcp:82:interface=127.0.0.1");
}

static void test_escaped_colons(void) {
  check_canonical("tcp:80:interface=\\:\\:1", "tcp", "tcp:80:interface=\\:\\:1");
  check_canonical("tcp:80:interface=fe80\\:\\:1", "tcp", "tcp:80:interface=fe80\\:\\:1");
  check_canonical("unix:/tmp/a\\:b", "unix", "unix:/tmp/a\\:b");
  /* any escaped character stands for itself; '=' and '\' come back escaped */
  check_canonical("unix:/tmp/\\x\\=y", "unix", "unix:/tmp/x\\=y");
  check_canonical("unix:/tmp/back\\\\slash", "unix", "unix:/tmp/back\\\\slash");
}

static void test_unix_forms(void) {
  check_canonical("unix:/run/app.sock", "unix", "unix:/run/app.sock");
  check_canonical("unix:address=/run/app.sock", "unix", "unix:/run/app.sock");
  check_canonical("unix:/run/app.sock:mode=0660", "unix", "unix:/run/app.sock:mode=0660");
  check_canonical("unix:/run/app.sock:660:5", "unix", "unix:/run/app.sock:mode=0660:backlog=5");
  check_canonical("unix:@abstract", "unix", "unix:@abstract");
  /* '=' in a positional value must be escaped; unescaped it is a keyword */
  check_canonical("unix:/tmp/a\\=b", "unix", "unix:/tmp/a\\=b");
}

/* desc must be refused with exactly want as the message. */
static void check_error(const char *desc, const char *want) {
  weft_server_endpoint *e = (weft_server_endpoint *)&e; /* must come back NULL */
  char err[512];
  CHECK_INT(weft_server_endpoint_parse(&e, desc, err, sizeof err), WEFT_EPARSE);
  CHECK(e == NULL);
  CHECK_STR(err, want);
}

static void test_errors_name_the_bad_part(void) {
  check_error("tcp:70000", "bad endpoint \"tcp:70000\": port must be 0..65535");
  check_error("tcp:-1", "bad endpoint \"tcp:-1\": port must be 0..65535");
  check_error("tcp:8o", "bad endpoint \"tcp:8o\": port must be 0..65535");
  check_error("tcp:", "bad endpoint \"tcp:\": port must be 0..65535");
  check_error("tcp", "bad endpoint \"tcp\": missing port");
  check_error("tcp:interface=127.0.0.1", "bad endpoint \"tcp:interface=127.0.0.1\": missing port");
  check_error("foo:1", "unknown endpoint type \"foo\" in \"foo:1\"");
  check_error("TCP:1", "unknown endpoint type \"TCP\" in \"TCP:1\"");
  check_error("8000", "unknown endpoint type \"8000\" in \"8000\" (did you mean \"tcp:8000\"?)");
  check_error("", "bad endpoint \"\": empty description");
  check_error("tcp:80:bogus=1", "unknown option \"bogus\" for tcp in \"tcp:80:bogus=1\"");
  check_error("unix:/x:interface=1.2.3.4", "unknown option \"interface\" for unix in \"unix:/x:interface=1.2.3.4\"");
  check_error("tcp:80:interface=localhost",
              "bad endpoint \"tcp:80:interface=localhost\": interface must be a numeric IPv4 or IPv6 address, "
              "not \"localhost\"");
  /* an unescaped IPv6 address splits into too many arguments, and the message shows where */
  check_error("tcp:80:interface=::1", "bad endpoint \"tcp:80:interface=::1\": interface must be a numeric IPv4 or "
                                     "IPv6 address, not \"\" (write the colons of an IPv6 address as \\:)");
  check_error("tcp:80:1.2.3.4:5:6", "bad endpoint \"tcp:80:1.2.3.4:5:6\": too many arguments for tcp at \"6\"");
  check_error("tcp:80:backlog=0", "bad endpoint \"tcp:80:backlog=0\": backlog must be a positive integer");
  check_error("tcp:80:port=81", "bad endpoint \"tcp:80:port=81\": port given twice");
  check_error("unix:/x:mode=0999", "bad endpoint \"unix:/x:mode=0999\": mode must be an octal number 0..07777, "
                                   "not \"0999\"");
  check_error("unix:", "bad endpoint \"unix:\": path is empty");
  check_error("unix:mode=0600", "bad endpoint \"unix:mode=0600\": missing address");
  check_error("tcp:80\\", "bad endpoint \"tcp:80\\\": trailing backslash");
  char longpath[300], want[400];
  memset(longpath, 'a', sizeof longpath);
  memcpy(longpath, "unix:/", 6);
  longpath[sizeof longpath - 1] = '\0';
  snprintf(want, sizeof want, "bad endpoint \"%s\": path is too long (at most %zu bytes)", longpath,
           sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
  check_error(longpath, want);
}

static void test_error_buffer_is_truncated_and_optional(void) {
  weft_server_endpoint *e;
  char small[12];
  CHECK_INT(weft_server_endpoint_parse(&e, "foo:1", small, sizeof small), WEFT_EPARSE);
  CHECK_STR(small, "unknown end");
  CHECK_INT(weft_server_endpoint_parse(&e, "foo:1", NULL, 0), WEFT_EPARSE);
  CHECK_INT(weft_server_endpoint_parse(&e, NULL, NULL, 0), WEFT_EINVAL);
  CHECK_INT(weft_server_endpoint_parse(&e, "tcp:1", NULL, 0), 0);
  char fits[6], tiny[5];
  CHECK_INT(weft_server_endpoint_describe(e, fits, sizeof fits), 0);
  CHECK_STR(fits, "tcp:1");
  CHECK_INT(weft_server_endpoint_describe(e, tiny, sizeof tiny), WEFT_ENOSPC);
  CHECK_STR(tiny, "tcp:");
  weft_server_endpoint_free(e);
  weft_server_endpoint_free(NULL);
}

/* ---- listening ---- */

typedef struct server {
  int accepted, lost;
  weft_transport *t;
} server;

static void srv_made(weft_transport *t, void *user) { ((server *)user)->t = t; }
static void srv_data(weft_transport *t, const void *d, size_t n, void *user) {
  (void)t, (void)d, (void)n, (void)user;
}
static void srv_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  server *s = user;
  s->lost++;
  s->t = NULL;
}
static const weft_protocol_callbacks srv_cb = {.connection_made = srv_made, .data_received = srv_data,
                                               .connection_lost = srv_lost};
static int srv_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  ((server *)user)->accepted++;
  *out = (weft_protocol){&srv_cb, user};
  return 0;
}

/* Connects a plain socket to a, lets the reactor accept it, then tears everything down. */
static void accept_one(weft_reactor *r, const weft_address *a, server *s) {
  int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  REQUIRE(connect(fd, &a->u.sa, a->len) == 0); /* completes against the backlog */
  for (int i = 0; i < 100 && !s->accepted; i++) weft_reactor_iterate(r, 0.05);
  CHECK_INT(s->accepted, 1);
  if (s->t) weft_transport_abort_connection(s->t);
  for (int i = 0; i < 100 && s->accepted != s->lost; i++) weft_reactor_iterate(r, 0.05);
  CHECK_INT(s->lost, s->accepted);
  close(fd);
}

static void test_listen_tcp_port_zero(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_server_endpoint *e;
  REQUIRE(weft_server_endpoint_parse(&e, "tcp:0:interface=127.0.0.1:backlog=8", NULL, 0) == 0);
  server s = {0};
  weft_factory f = {.build_protocol = srv_build, .user = &s};
  weft_listening_port *p = NULL;
  CHECK_INT(weft_server_endpoint_listen(e, r, &f, &p), 0);
  weft_server_endpoint_free(e); /* the port does not need it */
  REQUIRE(p != NULL);
  weft_address a;
  weft_listening_port_address(p, &a);
  CHECK_INT(weft_address_family(&a), AF_INET);
  CHECK(weft_address_port(&a) > 0);
  accept_one(r, &a, &s);

  /* the same port again is refused with the listen error, not a parse error */
  char desc[64];
  snprintf(desc, sizeof desc, "tcp:%d:interface=127.0.0.1", weft_address_port(&a));
  REQUIRE(weft_server_endpoint_parse(&e, desc, NULL, 0) == 0);
  weft_listening_port *p2 = NULL;
  CHECK_INT(weft_server_endpoint_listen(e, r, &f, &p2), WEFT_EADDRINUSE);
  CHECK(p2 == NULL);
  weft_server_endpoint_free(e);

  weft_listening_port_close(p);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_listen_ipv6_escaped(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_server_endpoint *e;
  REQUIRE(weft_server_endpoint_parse(&e, "tcp:0:interface=\\:\\:1", NULL, 0) == 0);
  server s = {0};
  weft_factory f = {.build_protocol = srv_build, .user = &s};
  weft_listening_port *p = NULL;
  int rc = weft_server_endpoint_listen(e, r, &f, &p);
  weft_server_endpoint_free(e);
  if (rc == WEFT_EAFNOSUPPORT || rc == WEFT_EADDRNOTAVAIL) {
    fprintf(stderr, "  (no IPv6 loopback here: skipped)\n");
  } else {
    CHECK_INT(rc, 0);
    weft_address a;
    weft_listening_port_address(p, &a);
    CHECK_INT(weft_address_family(&a), AF_INET6);
    accept_one(r, &a, &s);
    weft_listening_port_close(p);
  }
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_listen_unix_with_escaped_path_and_mode(void) {
  char dir[] = "/tmp/weft-endpoint-XXXXXX", desc[128], path[128];
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(desc, sizeof desc, "unix:%s/a\\:b.sock:mode=0600", dir);
  snprintf(path, sizeof path, "%s/a:b.sock", dir);
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  weft_server_endpoint *e;
  REQUIRE(weft_server_endpoint_parse(&e, desc, NULL, 0) == 0);
  server s = {0};
  weft_factory f = {.build_protocol = srv_build, .user = &s};
  weft_listening_port *p = NULL;
  CHECK_INT(weft_server_endpoint_listen(e, r, &f, &p), 0);
  weft_server_endpoint_free(e);
  struct stat st;
  CHECK_INT(stat(path, &st), 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK_INT(st.st_mode & 07777, 0600);
  if (p) {
    weft_address a;
    weft_listening_port_address(p, &a);
    accept_one(r, &a, &s);
    weft_listening_port_close(p);
  }
  CHECK(stat(path, &st) < 0 && errno == ENOENT); /* removed with the port */
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
  rmdir(dir);
}

int main(void) {
  RUN(test_tcp_forms);
  RUN(test_escaped_colons);
  RUN(test_unix_forms);
  RUN(test_errors_name_the_bad_part);
  RUN(test_error_buffer_is_truncated_and_optional);
  RUN(test_listen_tcp_port_zero);
  RUN(test_listen_ipv6_escaped);
  RUN(test_listen_unix_with_escaped_path_and_mode);
  return CHECK_DONE();
}
