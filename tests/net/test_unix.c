/* Tests Unix stream sockets (src/net/listener.c, connector.c): file mode, abstract names, stale
 * socket files replaced, live ones refused, the file removed on close. */
#include <sys/stat.h>
#include <unistd.h>

#include "net_util.h"

static char dir[64];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/weft-test-unix-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
}

static void round_trip(weft_reactor *r, const char *path) {
  client c = {.send = "unix!", .send_len = 5, .close_after = 5};
  weft_factory cf = client_factory(&c);
  REQUIRE(weft_unix_connect(NULL, r, path, NULL, &cf) == 0);
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "unix!", 5);
  CHECK_INT(c.reason, WEFT_REASON_CLEAN);
}

static void test_unix_listen_mode_and_round_trip(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  char path[128];
  snprintf(path, sizeof path, "%s/echo.sock", dir);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listen_options o;
  weft_listen_options_init(&o);
  o.mode = 0600;
  weft_listening_port *p;
  REQUIRE(weft_unix_listen(&p, r, path, &o, &sf) == 0);
  struct stat st;
  REQUIRE(stat(path, &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK_INT(st.st_mode & 0777, 0600);
  weft_address a;
  weft_listening_port_address(p, &a);
  char text[WEFT_ADDRSTRLEN], want[200];
  weft_address_format(&a, text, sizeof text);
  snprintf(want, sizeof want, "unix:%s", path);
  CHECK_STR(text, want);

  round_trip(r, path);
  /* a second listener on a live socket is refused */
  weft_listening_port *q;
  CHECK_INT(weft_unix_listen(&q, r, path, NULL, &sf), WEFT_EADDRINUSE);
  weft_listening_port_close(p);
  CHECK(access(path, F_OK) != 0); /* removed on close */
  close_reactor(r);
  CHECK_INT(es.made, 1);
}

static void test_unix_stale_socket_replaced(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  char path[128];
  snprintf(path, sizeof path, "%s/stale.sock", dir);
  /* a socket file with nothing behind it, as a crashed server leaves */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  weft_address a;
  weft_address_from_unix(&a, path);
  REQUIRE(bind(fd, &a.u.sa, a.len) == 0);
  close(fd);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p;
  CHECK_INT(weft_unix_listen(&p, r, path, NULL, &sf), 0);
  round_trip(r, path);
  weft_listening_port_close(p);
  /* a regular file is never replaced */
  FILE *f = fopen(path, "w");
  REQUIRE(f);
  fclose(f);
  CHECK_INT(weft_unix_listen(&p, r, path, NULL, &sf), WEFT_EADDRINUSE);
  unlink(path);
  close_reactor(r);
}

static void test_unix_abstract_name(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  char name[64];
  snprintf(name, sizeof name, "@weft-test-%d", (int)getpid());
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *p;
  REQUIRE(weft_unix_listen(&p, r, name, NULL, &sf) == 0);
  weft_address a;
  weft_listening_port_address(p, &a);
  char text[WEFT_ADDRSTRLEN], want[100];
  weft_address_format(&a, text, sizeof text);
  snprintf(want, sizeof want, "unix:%s", name);
  CHECK_STR(text, want);
  round_trip(r, name);
  weft_listening_port_close(p);
  close_reactor(r);
}

static void test_unix_connect_missing_and_long_path(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  char path[128];
  snprintf(path, sizeof path, "%s/missing.sock", dir);
  client c = {0};
  weft_factory cf = client_factory(&c);
  REQUIRE(weft_unix_connect(NULL, r, path, NULL, &cf) == 0);
  CHECK(!c.failed); /* reported from the reactor, not inside the call */
  CHECK(turn_until(r, &c.failed, 5));
  CHECK_INT(c.reason, WEFT_ENOENT);
  char longpath[300];
  memset(longpath, 'a', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = '\0';
  CHECK_INT(weft_unix_connect(NULL, r, longpath, NULL, &cf), WEFT_ENAMETOOLONG);
  close_reactor(r);
}

int main(void) {
  make_dir();
  RUN(test_unix_listen_mode_and_round_trip);
  RUN(test_unix_stale_socket_replaced);
  RUN(test_unix_abstract_name);
  RUN(test_unix_connect_missing_and_long_path);
  rmdir(dir);
  return CHECK_DONE();
}
