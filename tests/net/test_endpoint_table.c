/* Tests src/net/endpoint_parse.c, endpoint_server.c and endpoint_client.c as parsers: a table of
 * server and client endpoint strings (Twisted's serverFromString / clientFromString syntax), each
 * with its canonical description or the exact error message a user sees. */
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "check.h"
#include "weft/endpoint.h"
#include "weft/errors.h"

typedef struct row {
  const char *desc;
  const char *type; /* NULL: must fail */
  const char *want; /* the canonical description, or the error message */
} row;

/* Parses desc and checks the outcome; a canonical form must parse back to itself. */
static void check_server(const row *w) {
  weft_server_endpoint *e = (weft_server_endpoint *)&e; /* must come back NULL on failure */
  char err[512], got[512];
  int rc = weft_server_endpoint_parse(&e, w->desc, err, sizeof err);
  if (!w->type) {
    if (rc != WEFT_EPARSE) CHECK_FAIL_("server \"%s\" parsed (%s), expected: %s", w->desc, weft_err_name(rc), w->want);
    else CHECK_STR(err, w->want);
    CHECK(rc != 0 || e == NULL);
    if (rc == 0) weft_server_endpoint_free(e);
    return;
  }
  if (rc) {
    CHECK_FAIL_("server \"%s\" failed: %s", w->desc, err);
    return;
  }
  CHECK_STR(err, "");
  CHECK_STR(weft_server_endpoint_type(e), w->type);
  CHECK_INT(weft_server_endpoint_describe(e, got, sizeof got), 0);
  CHECK_STR(got, w->want);
  weft_server_endpoint_free(e);
  REQUIRE(weft_server_endpoint_parse(&e, w->want, err, sizeof err) == 0);
  weft_server_endpoint_describe(e, got, sizeof got);
  CHECK_STR(got, w->want);
  weft_server_endpoint_free(e);
}

static void check_client(const row *w) {
  weft_client_endpoint *e = (weft_client_endpoint *)&e;
  char err[512], got[512];
  int rc = weft_client_endpoint_parse(&e, w->desc, err, sizeof err);
  if (!w->type) {
    if (rc != WEFT_EPARSE) CHECK_FAIL_("client \"%s\" parsed (%s), expected: %s", w->desc, weft_err_name(rc), w->want);
    else CHECK_STR(err, w->want);
    CHECK(rc != 0 || e == NULL);
    if (rc == 0) weft_client_endpoint_free(e);
    return;
  }
  if (rc) {
    CHECK_FAIL_("client \"%s\" failed: %s", w->desc, err);
    return;
  }
  CHECK_STR(weft_client_endpoint_type(e), w->type);
  CHECK_INT(weft_client_endpoint_describe(e, got, sizeof got), 0);
  CHECK_STR(got, w->want);
  weft_client_endpoint_free(e);
  REQUIRE(weft_client_endpoint_parse(&e, w->want, err, sizeof err) == 0);
  weft_client_endpoint_describe(e, got, sizeof got);
  CHECK_STR(got, w->want);
  weft_client_endpoint_free(e);
}

static const row servers[] = {
    /* tcp: Twisted's positional order port, interface, backlog; keywords anywhere */
    {"tcp:8000", "tcp", "tcp:8000"},
    {"tcp:0", "tcp", "tcp:0"},
    {"tcp:65535", "tcp", "tcp:65535"},
    {"tcp:port=8000", "tcp", "tcp:8000"},
    {"tcp:8000:interface=127.0.0.1:backlog=50", "tcp", "tcp:8000:interface=127.0.0.1:backlog=50"},
    {"tcp:80:10.0.0.1:7", "tcp", "tcp:80:interface=10.0.0.1:backlog=7"},
    {"tcp:backlog=9:port=81", "tcp", "tcp:81:backlog=9"},
    {"tcp:interface=127.0.0.1:82", "tcp", "tcp:82:interface=127.0.0.1"},
    {"tcp:80:reuseport=yes", "tcp", "tcp:80:reuseport=yes"},
    {"tcp:80:reuseport=0", "tcp", "tcp:80:reuseport=0"},
    {"tcp:80:interface=\\:\\:1", "tcp", "tcp:80:interface=\\:\\:1"},
    {"tcp:80:interface=fe80\\:\\:1", "tcp", "tcp:80:interface=fe80\\:\\:1"},
    /* tcp6 */
    {"tcp6:8080", "tcp6", "tcp6:8080"},
    {"tcp6:0:interface=\\:\\:1:backlog=5:reuseport=true", "tcp6", "tcp6:0:interface=\\:\\:1:backlog=5:reuseport=true"},
    {"tcp6:80:interface=127.0.0.1", NULL,
     "bad endpoint \"tcp6:80:interface=127.0.0.1\": interface must be a numeric IPv6 address, not \"127.0.0.1\""},
    {"tcp6:80:interface=::1", NULL,
     "bad endpoint \"tcp6:80:interface=::1\": interface must be a numeric IPv6 address, not \"\" (write the colons "
     "of an IPv6 address as \\:)"},
    /* unix */
    {"unix:/run/app.sock", "unix", "unix:/run/app.sock"},
    {"unix:address=/run/app.sock", "unix", "unix:/run/app.sock"},
    {"unix:/run/app.sock:mode=0660", "unix", "unix:/run/app.sock:mode=0660"},
    {"unix:/run/app.sock:660:5", "unix", "unix:/run/app.sock:mode=0660:backlog=5"},
    {"unix:/run/app.sock:lockfile=1", "unix", "unix:/run/app.sock:lockfile=1"},
    {"unix:/run/app.sock:660:5:yes", "unix", "unix:/run/app.sock:mode=0660:backlog=5:lockfile=yes"},
    {"unix:@abstract", "unix", "unix:@abstract"},
    {"unix:/tmp/a\\:b", "unix", "unix:/tmp/a\\:b"},
    {"unix:/tmp/a\\=b", "unix", "unix:/tmp/a\\=b"},
    {"unix:/tmp/\\x\\=y", "unix", "unix:/tmp/x\\=y"},
    {"unix:/tmp/back\\\\slash", "unix", "unix:/tmp/back\\\\slash"},
    {"unix:@abstract:lockfile=1", NULL,
     "bad endpoint \"unix:@abstract:lockfile=1\": lockfile needs a filesystem path, not an abstract name"},
    {"unix:/x:lockfile=maybe", NULL,
     "bad endpoint \"unix:/x:lockfile=maybe\": lockfile must be yes or no (true/false, 1/0), not \"maybe\""},
    /* systemd */
    {"systemd:domain=INET:index=0", "systemd", "systemd:domain=INET:index=0"},
    {"systemd:index=2:domain=INET6", "systemd", "systemd:domain=INET6:index=2"},
    {"systemd:domain=UNIX:name=web", "systemd", "systemd:domain=UNIX:name=web"},
    {"systemd:INET:3", "systemd", "systemd:domain=INET:index=3"},
    {"systemd:domain=INET", NULL, "bad endpoint \"systemd:domain=INET\": missing index (or name)"},
    {"systemd:domain=INET:index=0:name=web", NULL,
     "bad endpoint \"systemd:domain=INET:index=0:name=web\": give index or name, not both"},
    {"systemd:domain=IPX:index=0", NULL,
     "bad endpoint \"systemd:domain=IPX:index=0\": domain must be INET, INET6 or UNIX, not \"IPX\""},
    {"systemd:index=0", NULL, "bad endpoint \"systemd:index=0\": missing domain"},
    {"systemd:domain=INET:index=-1", NULL,
     "bad endpoint \"systemd:domain=INET:index=-1\": index must be 0..65535, not \"-1\""},
    {"systemd:domain=INET:name=", NULL,
     "bad endpoint \"systemd:domain=INET:name=\": name must be 1..255 bytes without ':'"},
    /* fd */
    {"fd:3", "fd", "fd:3"},
    {"fd:fileno=7", "fd", "fd:7"},
    {"fd:x", NULL, "bad endpoint \"fd:x\": fileno must be a descriptor number, not \"x\""},
    {"fd", NULL, "bad endpoint \"fd\": missing fileno"},
    /* errors that name the bad part */
    {"tcp:70000", NULL, "bad endpoint \"tcp:70000\": port must be 0..65535"},
    {"tcp:-1", NULL, "bad endpoint \"tcp:-1\": port must be 0..65535"},
    {"tcp:8o", NULL, "bad endpoint \"tcp:8o\": port must be 0..65535"},
    {"tcp:", NULL, "bad endpoint \"tcp:\": port must be 0..65535"},
    {"tcp", NULL, "bad endpoint \"tcp\": missing port"},
    {"tcp:interface=127.0.0.1", NULL, "bad endpoint \"tcp:interface=127.0.0.1\": missing port"},
    {"foo:1", NULL, "unknown endpoint type \"foo\" in \"foo:1\""},
    {"TCP:1", NULL, "unknown endpoint type \"TCP\" in \"TCP:1\""},
    {"8000", NULL, "unknown endpoint type \"8000\" in \"8000\" (did you mean \"tcp:8000\"?)"},
    {"", NULL, "bad endpoint \"\": empty description"},
    {"tcp:80:bogus=1", NULL, "unknown option \"bogus\" for tcp in \"tcp:80:bogus=1\""},
    {"unix:/x:interface=1.2.3.4", NULL, "unknown option \"interface\" for unix in \"unix:/x:interface=1.2.3.4\""},
    {"tcp:80:interface=localhost", NULL,
     "bad endpoint \"tcp:80:interface=localhost\": interface must be a numeric IPv4 or IPv6 address, not "
     "\"localhost\""},
    {"tcp:80:interface=::1", NULL,
     "bad endpoint \"tcp:80:interface=::1\": interface must be a numeric IPv4 or IPv6 address, not \"\" (write the "
     "colons of an IPv6 address as \\:)"},
    {"tcp:80:1.2.3.4:5:yes:6", NULL, "bad endpoint \"tcp:80:1.2.3.4:5:yes:6\": too many arguments for tcp at \"6\""},
    {"tcp:80:backlog=0", NULL, "bad endpoint \"tcp:80:backlog=0\": backlog must be a positive integer"},
    {"tcp:80:port=81", NULL, "bad endpoint \"tcp:80:port=81\": port given twice"},
    {"unix:/x:mode=0999", NULL, "bad endpoint \"unix:/x:mode=0999\": mode must be an octal number 0..07777, not \"0999\""},
    {"unix:", NULL, "bad endpoint \"unix:\": path is empty"},
    {"unix:mode=0600", NULL, "bad endpoint \"unix:mode=0600\": missing address"},
    {"tcp:80\\", NULL, "bad endpoint \"tcp:80\\\": trailing backslash"},
    /* ssl and its alias tls: Twisted's order port, privateKey, certKey, then interface, backlog */
    {"ssl:443:privateKey=k.pem", "ssl", "ssl:443:privateKey=k.pem"},
    {"ssl:443:k.pem:c.pem", "ssl", "ssl:443:privateKey=k.pem:certKey=c.pem"},
    {"tls:8443:privateKey=/etc/k.pem:certKey=/etc/c.pem:extraCertChain=/etc/chain.pem:interface=127.0.0.1:backlog=9",
     "tls", "tls:8443:privateKey=/etc/k.pem:certKey=/etc/c.pem:interface=127.0.0.1:backlog=9:extraCertChain=/etc/chain.pem"},
    {"ssl:443:privateKey=k.pem:dhParameters=dh.pem", "ssl", "ssl:443:privateKey=k.pem:dhParameters=dh.pem"},
    {"ssl:443", NULL, "bad endpoint \"ssl:443\": missing privateKey"},
    {"ssl:443:privateKey=", NULL, "bad endpoint \"ssl:443:privateKey=\": privateKey is empty"},
    {"tls:443:privateKey=k.pem:sslmethod=TLSv1_METHOD", NULL,
     "unknown option \"sslmethod\" for tls in \"tls:443:privateKey=k.pem:sslmethod=TLSv1_METHOD\""},
};

static const row clients[] = {
    {"tcp:host=127.0.0.1:port=80", "tcp", "tcp:host=127.0.0.1:port=80"},
    {"tcp:127.0.0.1:80", "tcp", "tcp:host=127.0.0.1:port=80"},
    {"tcp:port=80:host=example.com", "tcp", "tcp:host=example.com:port=80"},
    {"tcp:\\:\\:1:443", "tcp", "tcp:host=\\:\\:1:port=443"},
    {"tcp:host=[\\:\\:1]:port=443", "tcp", "tcp:host=[\\:\\:1]:port=443"},
    {"tcp:host=10.0.0.1:port=22:timeout=5", "tcp", "tcp:host=10.0.0.1:port=22:timeout=5"},
    {"tcp:host=10.0.0.1:port=22:timeout=0.25:bindAddress=10.0.0.2", "tcp",
     "tcp:host=10.0.0.1:port=22:timeout=0.25:bindAddress=10.0.0.2"},
    {"tcp:a-b_c.example.:1", "tcp", "tcp:host=a-b_c.example.:port=1"},
    {"unix:path=/run/app.sock", "unix", "unix:path=/run/app.sock"},
    {"unix:/run/app.sock:timeout=3", "unix", "unix:path=/run/app.sock:timeout=3"},
    {"unix:@abstract", "unix", "unix:path=@abstract"},
    {"tcp:host=127.0.0.1", NULL, "bad endpoint \"tcp:host=127.0.0.1\": missing port"},
    {"tcp:port=80", NULL, "bad endpoint \"tcp:port=80\": missing host"},
    {"tcp:127.0.0.1:0", NULL, "bad endpoint \"tcp:127.0.0.1:0\": port must be 1..65535"},
    {"tcp:::1:80", NULL,
     "bad endpoint \"tcp:::1:80\": host must be a host name or a numeric address, not \"\" (write the colons of an "
     "IPv6 address as \\:)"},
    {"tcp:bad host:80", NULL, "bad endpoint \"tcp:bad host:80\": host must be a host name or a numeric address, not \"bad host\""},
    {"tcp:a..b:80", NULL, "bad endpoint \"tcp:a..b:80\": host must be a host name or a numeric address, not \"a..b\""},
    {"tcp:h:80:timeout=0", NULL, "bad endpoint \"tcp:h:80:timeout=0\": timeout must be a positive number of seconds, not \"0\""},
    {"tcp:h:80:timeout=1e3", NULL,
     "bad endpoint \"tcp:h:80:timeout=1e3\": timeout must be a positive number of seconds, not \"1e3\""},
    {"tcp:h:80:timeout=.5", NULL, "bad endpoint \"tcp:h:80:timeout=.5\": timeout must be a positive number of seconds, not \".5\""},
    {"tcp:h:80:bindAddress=h2", NULL,
     "bad endpoint \"tcp:h:80:bindAddress=h2\": bindAddress must be a numeric IPv4 or IPv6 address, not \"h2\""},
    {"tcp:\\:\\:1:80:bindAddress=127.0.0.1", NULL,
     "bad endpoint \"tcp:\\:\\:1:80:bindAddress=127.0.0.1\": bindAddress 127.0.0.1 is not of the same family as host ::1"},
    {"tcp:h:80:interface=1.2.3.4", NULL, "unknown option \"interface\" for tcp in \"tcp:h:80:interface=1.2.3.4\""},
    {"unix:", NULL, "bad endpoint \"unix:\": path is empty"},
    {"unix:/x:mode=0600", NULL, "unknown option \"mode\" for unix in \"unix:/x:mode=0600\""},
    {"127.0.0.1:80", NULL, "unknown endpoint type \"127.0.0.1\" in \"127.0.0.1:80\" (did you mean \"tcp:host=127.0.0.1:port=80\"?)"},
    {"systemd:domain=INET:index=0", NULL, "unknown endpoint type \"systemd\" in \"systemd:domain=INET:index=0\""},
    {"tls:example.com:443", "tls", "tls:host=example.com:port=443"},
    {"tls:host=127.0.0.1:port=8443:trustRoots=/etc/ca:certificate=c.pem:privateKey=k.pem:timeout=3", "tls",
     "tls:host=127.0.0.1:port=8443:timeout=3:certificate=c.pem:privateKey=k.pem:trustRoots=/etc/ca"},
    {"tls:h:443:privateKey=k.pem", NULL, "bad endpoint \"tls:h:443:privateKey=k.pem\": privateKey needs certificate"},
    {"tls:h", NULL, "bad endpoint \"tls:h\": missing port"},
};

static void test_server_table(void) {
  for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) check_server(&servers[i]);
}

static void test_client_table(void) {
  for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) check_client(&clients[i]);
}

static void test_long_unix_path(void) {
  char longpath[300], want[400];
  memset(longpath, 'a', sizeof longpath);
  memcpy(longpath, "unix:/", 6);
  longpath[sizeof longpath - 1] = '\0';
  snprintf(want, sizeof want, "bad endpoint \"%s\": path is too long (at most %zu bytes)", longpath,
           sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
  check_server(&(row){longpath, NULL, want});
  check_client(&(row){longpath, NULL, want});
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
  weft_client_endpoint *c;
  CHECK_INT(weft_client_endpoint_parse(&c, NULL, NULL, 0), WEFT_EINVAL);
  CHECK_INT(weft_client_endpoint_parse(&c, "tcp:h", NULL, 0), WEFT_EPARSE);
  weft_client_endpoint_free(NULL);
}

static void test_known_types(void) {
  CHECK(weft_server_endpoint_type_known("tcp6"));
  CHECK(weft_server_endpoint_type_known("systemd"));
  CHECK(!weft_server_endpoint_type_known("tcp4"));
  CHECK(weft_client_endpoint_type_known("unix"));
  CHECK(!weft_client_endpoint_type_known("fd"));
  CHECK(!weft_client_endpoint_type_known(NULL));
}

int main(void) {
  RUN(test_server_table);
  RUN(test_client_table);
  RUN(test_long_unix_path);
  RUN(test_error_buffer_is_truncated_and_optional);
  RUN(test_known_types);
  return CHECK_DONE();
}
