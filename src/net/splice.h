/* splice.h: the kernel pipe behind weft_transport_splice_to, and the two moves through it
 * (socket -> pipe, pipe -> socket). The stream transport drives it. Internal. */
#ifndef WEFT_NET_SPLICE_H
#define WEFT_NET_SPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "weft/transport.h"

/* A fill moves at most this much, and only into an empty pipe, so it bounds what waits for a
 * slow "to". The same as the reactor's read buffer: a splice moves what one read would. Bigger
 * moves measured slower on bench/portforward.sh (a connection's bytes wait longer in each hop). */
#define WEFT__SPLICE_CHUNK (256 * 1024)

/* A fill smaller than this makes the next reads copy through the reactor's read buffer instead,
 * until one is big again: for small pieces a splice costs more than a copy (64-byte ping-pong
 * through portforward measured about 6% more CPU per round trip spliced). */
#define WEFT__SPLICE_COPY_BELOW (16 * 1024)

typedef struct weft__splice {
  int rd, wr;        /* the pipe's ends, non-blocking */
  size_t pending;    /* bytes in the pipe */
  bool eof;          /* from's input ended: once the pipe drains, to's write side is shut */
  bool copying;      /* pieces are small: read and write instead of splicing */
  weft_transport *from, *to; /* from is NULL once it is gone after its end of input */
} weft__splice;

/* Opens the pipe. Returns 0, WEFT_ENOTSUP where the system has no splice(2), WEFT_ENOMEM, or the
 * pipe2 error (WEFT_EMFILE, ...). */
int weft__splice_new(weft__splice **out);

/* Closes the pipe (discarding what it holds) and frees sp. */
void weft__splice_free(weft__splice *sp);

/* Moves up to WEFT__SPLICE_CHUNK of what fd has received into the pipe, without blocking.
 * Returns the bytes moved (added to pending), 0 at fd's end of input, or a negative WEFT_E*
 * (WEFT_EAGAIN: nothing to move now). */
ssize_t weft__splice_fill(weft__splice *sp, int fd);

/* Moves bytes from the pipe to fd, without blocking. Returns the bytes moved (taken off pending)
 * or a negative WEFT_E* (WEFT_EAGAIN: fd is full). */
ssize_t weft__splice_drain(weft__splice *sp, int fd);

#endif
