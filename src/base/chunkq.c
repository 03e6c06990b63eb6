/* chunkq.c: the chunked output queue (see chunkq.h). */
#include <string.h>

#include "base/alloc.h"
#include "base/chunkq.h"
#include "weft/errors.h"

#define POOL_MAX 256 /* 4 MiB of standard chunks kept per reactor at most */

struct weft__chunk {
  weft__chunk *next;
  size_t head, tail, cap; /* unsent bytes are data[head, tail) */
  unsigned char data[];
};

static weft__chunk *chunk_get(weft__chunk_pool *pool, size_t need) {
  weft__chunk *c;
  if (need <= WEFT__CHUNK_SIZE && pool->free) {
    c = pool->free;
    pool->free = c->next;
    pool->count--;
  } else {
    size_t cap = need > WEFT__CHUNK_SIZE ? need : WEFT__CHUNK_SIZE;
    c = weft__malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->cap = cap;
  }
  c->next = NULL;
  c->head = c->tail = 0;
  return c;
}

static void chunk_put(weft__chunk_pool *pool, weft__chunk *c) {
  if (c->cap == WEFT__CHUNK_SIZE && pool->count < POOL_MAX) {
    c->next = pool->free;
    pool->free = c;
    pool->count++;
  } else {
    weft__free(c);
  }
}

int weft__chunkq_append(weft__chunkq *q, weft__chunk_pool *pool, const struct iovec *iov, int iovcnt,
                        size_t total) {
  weft__chunk *t = q->tail;
  size_t room = t ? t->cap - t->tail : 0;
  weft__chunk *extra = NULL;
  /* one allocation at most, made before copying, so failure leaves the queue as it was */
  if (total > room && !(extra = chunk_get(pool, total - room))) return WEFT_ENOMEM;
  for (int i = 0; i < iovcnt; i++) {
    const unsigned char *p = iov[i].iov_base;
    size_t n = iov[i].iov_len;
    while (n > 0) {
      if (!t || t->tail == t->cap) {
        t = extra;
        extra = NULL;
        if (q->tail) q->tail->next = t;
        else q->head = t;
        q->tail = t;
      }
      size_t k = t->cap - t->tail < n ? t->cap - t->tail : n;
      memcpy(t->data + t->tail, p, k);
      t->tail += k;
      p += k;
      n -= k;
    }
  }
  if (extra) chunk_put(pool, extra);
  q->len += total;
  return 0;
}

int weft__chunkq_peek(const weft__chunkq *q, struct iovec *iov, int max) {
  int n = 0;
  for (weft__chunk *c = q->head; c && n < max; c = c->next) {
    if (c->tail == c->head) continue;
    iov[n].iov_base = c->data + c->head;
    iov[n].iov_len = c->tail - c->head;
    n++;
  }
  return n;
}

void weft__chunkq_consume(weft__chunkq *q, weft__chunk_pool *pool, size_t n) {
  q->len -= n;
  while (q->head) {
    weft__chunk *c = q->head;
    size_t avail = c->tail - c->head;
    if (n < avail) {
      c->head += n;
      return;
    }
    /* a sent chunk goes back at once, even the tail: an idle connection keeps no buffer */
    n -= avail;
    q->head = c->next;
    if (!q->head) q->tail = NULL;
    chunk_put(pool, c);
  }
}

void weft__chunkq_clear(weft__chunkq *q, weft__chunk_pool *pool) {
  while (q->head) {
    weft__chunk *c = q->head;
    q->head = c->next;
    chunk_put(pool, c);
  }
  q->tail = NULL;
  q->len = 0;
}

void weft__chunk_pool_destroy(weft__chunk_pool *pool) {
  while (pool->free) {
    weft__chunk *c = pool->free;
    pool->free = c->next;
    weft__free(c);
  }
  pool->count = 0;
}
