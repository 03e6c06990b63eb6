/* chunkq.h: a byte queue made of chunks, for output waiting to be sent. Writes copy into the
 * tail chunk while it has room; whole chunks go back to a pool when sent, so a connection in the
 * steady state allocates nothing and an idle one owns no buffer at all. Internal. */
#ifndef WEFT_BASE_CHUNKQ_H
#define WEFT_BASE_CHUNKQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct weft__chunk weft__chunk;

typedef struct weft__chunkq {
  weft__chunk *head, *tail;
  size_t len; /* bytes queued */
} weft__chunkq;

/* Free chunks of the standard size, shared by every queue of one reactor. */
typedef struct weft__chunk_pool {
  weft__chunk *free;
  size_t count;
} weft__chunk_pool;

#define WEFT__CHUNK_SIZE (16u * 1024u)

/* Appends the buffers (copying). Returns 0 or WEFT_ENOMEM (then nothing was appended). */
int weft__chunkq_append(weft__chunkq *q, weft__chunk_pool *pool, const struct iovec *iov, int iovcnt,
                        size_t total);

/* Fills at most max iovecs with the queued bytes, in order; returns how many. */
int weft__chunkq_peek(const weft__chunkq *q, struct iovec *iov, int max);

/* Drops the first n bytes (n <= len). */
void weft__chunkq_consume(weft__chunkq *q, weft__chunk_pool *pool, size_t n);

/* Drops everything. */
void weft__chunkq_clear(weft__chunkq *q, weft__chunk_pool *pool);

/* Frees the pooled chunks. */
void weft__chunk_pool_destroy(weft__chunk_pool *pool);

#endif
