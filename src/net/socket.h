/* socket.h: small helpers for making non-blocking, close-on-exec sockets. Internal. */
#ifndef WEFT_NET_SOCKET_H
#define WEFT_NET_SOCKET_H

#include "weft/address.h"

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC (or fcntl where those flags do not exist).
 * Returns the descriptor or a negative WEFT_E*. */
int weft__socket(int family, int type);

/* Sets O_NONBLOCK and FD_CLOEXEC on fd. Returns 0 or a negative WEFT_E*. */
int weft__set_nonblock_cloexec(int fd);

#endif
