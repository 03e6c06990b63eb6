/* address.c: building and printing socket addresses (IPv4, IPv6, Unix, Linux abstract). */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "weft/address.h"
#include "weft/errors.h"

int weft_address_from_ip(weft_address *out, const char *ip, int port) {
  if (!ip || port < 0 || port > 65535) return WEFT_EINVAL;
  memset(out, 0, sizeof *out);
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(ip);
  if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') {
    if (n - 2 >= sizeof buf) return WEFT_EINVAL;
    memcpy(buf, ip + 1, n - 2);
    buf[n - 2] = '\0';
    ip = buf;
  }
  if (inet_pton(AF_INET, ip, &out->u.in4.sin_addr) == 1) {
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons((uint16_t)port);
    out->len = sizeof out->u.in4;
    return 0;
  }
  if (inet_pton(AF_INET6, ip, &out->u.in6.sin6_addr) == 1) {
    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_port = htons((uint16_t)port);
    out->len = sizeof out->u.in6;
    return 0;
  }
  return WEFT_EINVAL;
}

int weft_address_from_unix(weft_address *out, const char *path) {
  if (!path || !*path) return WEFT_EINVAL;
  memset(out, 0, sizeof *out);
  size_t n = strlen(path);
  if (n >= sizeof out->u.un.sun_path) return WEFT_ENAMETOOLONG;
  out->u.un.sun_family = AF_UNIX;
  memcpy(out->u.un.sun_path, path, n);
  if (path[0] == '@') {
    /* abstract: leading NUL, and the length counts exactly the name (no trailing NUL) */
    out->u.un.sun_path[0] = '\0';
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  } else {
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  }
  return 0;
}

int weft_address_family(const weft_address *a) { return a->len ? a->u.sa.sa_family : AF_UNSPEC; }

int weft_address_port(const weft_address *a) {
  switch (weft_address_family(a)) {
    case AF_INET: return ntohs(a->u.in4.sin_port);
    case AF_INET6: return ntohs(a->u.in6.sin6_port);
    default: return -1;
  }
}

static int format_unix(const weft_address *a, char *buf, size_t size) {
  size_t off = offsetof(struct sockaddr_un, sun_path);
  size_t n = a->len > off ? a->len - off : 0;
  const char *p = a->u.un.sun_path;
  int w;
  if (n == 0) {
    w = snprintf(buf, size, "unix:");
  } else if (p[0] == '\0') {
    w = snprintf(buf, size, "unix:@%.*s", (int)(n - 1), p + 1);
  } else {
    w = snprintf(buf, size, "unix:%.*s", (int)strnlen(p, n), p);
  }
  return w < 0 || (size_t)w >= size ? WEFT_ENOSPC : 0;
}

int weft_address_format(const weft_address *a, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN];
  int w;
  if (size == 0) return WEFT_ENOSPC;
  switch (weft_address_family(a)) {
    case AF_INET:
      inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof ip);
      w = snprintf(buf, size, "%s:%d", ip, weft_address_port(a));
      break;
    case AF_INET6:
      inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip);
      w = snprintf(buf, size, "[%s]:%d", ip, weft_address_port(a));
      break;
    case AF_UNIX: return format_unix(a, buf, size);
    default: w = snprintf(buf, size, "(none)"); break;
  }
  return w < 0 || (size_t)w >= size ? WEFT_ENOSPC : 0;
}
