/* pipe.h: one end of a pipe as a transport (Twisted's process.ProcessReader/ProcessWriter).
 * Internal: processes make them for a child's stdin, stdout, stderr and extra descriptors. */
#ifndef WEFT_NET_PIPE_H
#define WEFT_NET_PIPE_H

#include "net/transport_internal.h"

typedef enum { WEFT__PIPE_READER = 1, WEFT__PIPE_WRITER = 2 } weft__pipe_dir;

/* Wraps fd, our end of a pipe (owned from now on; made non-blocking here), as a transport whose
 * callbacks are proto's, then calls proto's connection_made. A reader delivers data_received and,
 * at end of file, connection_lost(0). A writer queues writes and flushes them once per turn;
 * writing after the reading end has gone fails without SIGPIPE, and a writer notices that the
 * reader has gone (the child exited or closed it) even when it has nothing to send: both end in
 * connection_lost(WEFT_EPIPE). lose_connection on a writer closes once the queue is sent, on a
 * reader at once. Returns 0, or WEFT_ENOMEM or the backend's error (fd is closed then, and no
 * callback runs). */
int weft__pipe_open(weft_transport **out, weft_reactor *r, int fd, weft__pipe_dir dir, const weft_protocol *proto);

#endif
