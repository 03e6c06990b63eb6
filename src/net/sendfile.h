/* sendfile.h: the file kind of a stream's output queue: ranges of files queued in order among
 * the bytes of the chunk queue and sent by sendfile(2), so a file body never enters user space
 * (weft_transport_sendfile). The stream transport drives it. Internal. */
#ifndef WEFT_NET_SENDFILE_H
#define WEFT_NET_SENDFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct weft__fileseg weft__fileseg;

/* The file ranges waiting, in order. Each one remembers how many bytes the chunk queue had taken
 * in when it was queued (bytes_in then): it goes once the chunk queue has sent that many
 * (bytes_out), so bytes written before it go before it and bytes written after it go after. */
typedef struct weft__fileq {
  weft__fileseg *head, *tail;
  size_t len;                   /* file bytes queued, not sent */
  uint64_t bytes_in, bytes_out; /* chunk-queue bytes appended and sent since the stream began */
} weft__fileq;

/* Queues len bytes of fd from off, after every chunk-queue byte appended so far. fd is
 * duplicated (close-on-exec), so the caller may close its own at once. Returns 0, WEFT_ENOMEM,
 * or the dup error (WEFT_EMFILE...). */
int weft__fileq_push(weft__fileq *q, int fd, off_t off, size_t len);

/* Chunk-queue bytes that go before the first file range now: 0 means the file range is next;
 * SIZE_MAX when no file range waits. */
size_t weft__fileq_bytes_first(const weft__fileq *q);

/* Sends from the first file range to sock, without blocking. Returns the bytes sent (taken off
 * len, the range dropped once whole), or a negative WEFT_E* (WEFT_EAGAIN: sock is full; WEFT_EIO:
 * the file ended before the range did, so the stream cannot be completed). */
ssize_t weft__fileq_send(weft__fileq *q, int sock);

/* Drops every range, closing their descriptors. */
void weft__fileq_clear(weft__fileq *q);

/* True where the system can send files this way (Linux); elsewhere push is never used. */
int weft__fileq_supported(void);

#endif
