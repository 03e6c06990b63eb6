/* address.h: socket addresses as plain values (IPv4, IPv6, Unix paths and Linux abstract names). */
#ifndef WEFT_ADDRESS_H
#define WEFT_ADDRESS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A value type: copy it freely. len is the meaningful length of the sockaddr (0: none). */
typedef struct weft_address {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr_storage storage;
  } u;
  socklen_t len;
} weft_address;

/* Enough for any weft_address_format output. */
#define WEFT_ADDRSTRLEN 128

/* Builds an address from a numeric IPv4 or IPv6 literal (no name lookup; "[::1]" brackets are
 * accepted) and a port 0..65535. Returns 0 or WEFT_EINVAL naming neither (the caller knows which
 * it passed). */
int weft_address_from_ip(weft_address *out, const char *ip, int port);

/* Builds a Unix-socket address. A path starting with '@' is a Linux abstract name (the '@'
 * becomes the leading NUL). Returns 0, WEFT_ENAMETOOLONG, or WEFT_EINVAL for an empty path. */
int weft_address_from_unix(weft_address *out, const char *path);

/* Writes "127.0.0.1:80", "[::1]:80", "unix:/run/x.sock", "unix:@name" or "unix:" (unnamed) into
 * buf (always NUL-terminated). Returns 0 or WEFT_ENOSPC when buf is too small. */
int weft_address_format(const weft_address *a, char *buf, size_t size);

/* The port of an IP address, or -1 for other families. */
int weft_address_port(const weft_address *a);

/* The family: AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for an empty address. */
int weft_address_family(const weft_address *a);

#ifdef __cplusplus
}
#endif
#endif
