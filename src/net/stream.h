/* stream.h: the socket stream transport shared by TCP and Unix sockets. Internal. */
#ifndef WEFT_NET_STREAM_H
#define WEFT_NET_STREAM_H

#include "net/transport_internal.h"

typedef enum { WEFT__STREAM_TCP, WEFT__STREAM_UNIX } weft__stream_kind;

/* Wraps a connected non-blocking socket: asks f for a protocol (peer as its argument), then calls
 * connection_made. On refusal or allocation failure the socket is closed and the error returned;
 * nothing else is called. */
int weft__stream_start(weft_reactor *r, int fd, weft__stream_kind kind, const weft_factory *f,
                       const weft_address *peer);

#endif
