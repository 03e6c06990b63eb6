/* endpoint_adopt.c: listening on sockets someone else opened: systemd socket activation and
 * inherited descriptors (twisted.internet.endpoints._SystemdParser, AdoptedStreamServerEndpoint).
 *
 * systemd passes LISTEN_FDS descriptors starting at 3, LISTEN_PID naming the process they are
 * meant for (a child that inherits the environment must not take them), and optionally
 * LISTEN_FDNAMES, colon-separated names in the same order. The environment is only read: several
 * endpoints may adopt several of the sockets, and re-adopting one is harmless because the port
 * works on a duplicate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/endpoint_internal.h"
#include "weft/errors.h"

enum { SD_DOMAIN, SD_INDEX, SD_NAME };

#define SD_LISTEN_FDS_START 3

static const char *domain_name(int family) {
  switch (family) {
    case AF_INET: return "INET";
    case AF_INET6: return "INET6";
    case AF_UNIX: return "UNIX";
    default: return "another domain";
  }
}

/* A whole decimal number from the environment, or -1. */
static long env_number(const char *s) {
  if (!s || !*s) return -1;
  char *end;
  long v = strtol(s, &end, 10);
  return *end || v < 0 ? -1 : v;
}

/* The position of name in LISTEN_FDNAMES, or -1. */
static long index_of_name(const char *names, const char *name) {
  size_t len = strlen(name);
  long i = 0;
  for (const char *p = names; p; i++) {
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n == len && memcmp(p, name, n) == 0) return i;
    p = colon ? colon + 1 : NULL;
  }
  return -1;
}

/* Which descriptor the endpoint means, or a negative error with why written. */
static int systemd_fd(const weft__ep_vals *v, char *why, size_t n) {
  const char *pid_env = getenv("LISTEN_PID");
  long pid = env_number(pid_env), count = env_number(getenv("LISTEN_FDS"));
  if (pid < 0 || count < 0) {
    snprintf(why, n, "no sockets from systemd (LISTEN_PID and LISTEN_FDS are not set)");
    return WEFT_ENOENT;
  }
  if (pid != (long)getpid()) {
    snprintf(why, n, "the systemd sockets are not for this process (LISTEN_PID is %ld, this is %ld)", pid,
             (long)getpid());
    return WEFT_ENOENT;
  }
  long index = v->num[SD_INDEX];
  if (weft__ep_given(v, SD_NAME)) {
    const char *names = getenv("LISTEN_FDNAMES");
    if (!names || (index = index_of_name(names, v->text[SD_NAME])) < 0) {
      snprintf(why, n, "no systemd socket named \"%s\" in LISTEN_FDNAMES", v->text[SD_NAME]);
      return WEFT_ENOENT;
    }
  }
  if (index >= count) {
    snprintf(why, n, "systemd passed %ld socket%s, so index %ld does not exist", count, count == 1 ? "" : "s", index);
    return WEFT_ENOENT;
  }
  return SD_LISTEN_FDS_START + (int)index;
}

int weft__ep_listen_systemd(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                            char *why, size_t n) {
  int fd = systemd_fd(v, why, n);
  if (fd < 0) return fd;
  weft_address a;
  a.len = sizeof a.u;
  if (getsockname(fd, &a.u.sa, &a.len) < 0) {
    snprintf(why, n, "systemd socket fd %d is not a socket", fd);
    return WEFT_EINVAL;
  }
  if (a.u.sa.sa_family != v->num[SD_DOMAIN]) {
    snprintf(why, n, "systemd socket fd %d is %s, not %s", fd, domain_name(a.u.sa.sa_family),
             domain_name((int)v->num[SD_DOMAIN]));
    return WEFT_EINVAL;
  }
  int rc = weft_tcp_listen_fd(out, r, fd, NULL, f);
  if (rc == WEFT_EINVAL) snprintf(why, n, "systemd socket fd %d is not a listening stream socket", fd);
  return rc;
}

int weft__ep_listen_fd(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                       char *why, size_t n) {
  int fd = (int)v->num[0];
  int rc = weft_tcp_listen_fd(out, r, fd, NULL, f);
  if (rc == WEFT_EBADF) snprintf(why, n, "descriptor %d is not open", fd);
  else if (rc == WEFT_EINVAL) snprintf(why, n, "descriptor %d is not a listening stream socket", fd);
  return rc;
}
