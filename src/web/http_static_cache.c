/* http_static_cache.c: the static server's open-file cache (nginx's open_file_cache; Twisted
 * opens the file for each request): a small table of open descriptors and their fstat results
 * by path, least recently used out first. An entry is trusted for one second after it was
 * checked; after that the server resolves and opens the path again and replaces it, so a file
 * changed, replaced or removed on disk is seen at most a second late. No inotify: the re-check
 * costs one open per path per second, and works on every file system. */
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "web/http_static_internal.h"
#include "weft/errors.h"

/* ---- shared open files ---- */

weft__sfile *weft__sfile_new(int fd, const struct stat *sb) {
  weft__sfile *f = weft__malloc(sizeof *f);
  if (!f) {
    close(fd);
    return NULL;
  }
  f->fd = fd;
  f->refs = 1;
  f->sb = *sb;
  return f;
}

void weft__sfile_ref(weft__sfile *f) { f->refs++; }

void weft__sfile_unref(weft__sfile *f) {
  if (!f || --f->refs > 0) return;
  close(f->fd);
  weft__free(f);
}

/* ---- the cache ---- */

typedef struct entry {
  struct entry *prev, *next;   /* LRU list, most recent first */
  struct entry *chain;         /* hash bucket */
  uint64_t hash;
  weft__sfile *f;
  double checked;
  char path[];
} entry;

#define BUCKETS_MAX ((size_t)1 << 16)

struct weft__fcache {
  entry **buckets;
  size_t nbuckets; /* a power of two, at least twice max up to BUCKETS_MAX */
  size_t count, max;
  entry *first, *last;
};

static uint64_t hash_path(const char *s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int weft__fcache_new(weft__fcache **out, size_t max) {
  weft__fcache *c = weft__calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  c->max = max;
  c->nbuckets = 8;
  /* at most 64 Ki buckets: a huge max ("no limit") would wrap 2 * max and never end the loop,
   * or ask for a table it will never fill; past the cap the chains just grow */
  while (c->nbuckets < BUCKETS_MAX && c->nbuckets / 2 < max) c->nbuckets *= 2;
  c->buckets = weft__calloc(c->nbuckets, sizeof *c->buckets);
  if (!c->buckets) {
    weft__free(c);
    return WEFT_ENOMEM;
  }
  *out = c;
  return 0;
}

static entry **slot_of(weft__fcache *c, const entry *e) {
  entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];
  while (*p != e) p = &(*p)->chain;
  return p;
}

static void lru_unlink(weft__fcache *c, entry *e) {
  if (e->prev) e->prev->next = e->next;
  else c->first = e->next;
  if (e->next) e->next->prev = e->prev;
  else c->last = e->prev;
}

static void lru_push_front(weft__fcache *c, entry *e) {
  e->prev = NULL;
  e->next = c->first;
  if (c->first) c->first->prev = e;
  else c->last = e;
  c->first = e;
}

static void drop(weft__fcache *c, entry *e) {
  *slot_of(c, e) = e->chain;
  lru_unlink(c, e);
  weft__sfile_unref(e->f);
  weft__free(e);
  c->count--;
}

void weft__fcache_free(weft__fcache *c) {
  if (!c) return;
  while (c->first) drop(c, c->first);
  weft__free(c->buckets);
  weft__free(c);
}

static entry *find(weft__fcache *c, const char *path, uint64_t h) {
  for (entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->chain)
    if (e->hash == h && strcmp(e->path, path) == 0) return e;
  return NULL;
}

weft__sfile *weft__fcache_get(weft__fcache *c, const char *path, double now) {
  if (!c || c->max == 0) return NULL;
  entry *e = find(c, path, hash_path(path));
  if (!e) return NULL;
  if (now - e->checked >= 1.0 || now < e->checked) {
    drop(c, e); /* stale: the caller checks the path again */
    return NULL;
  }
  lru_unlink(c, e);
  lru_push_front(c, e);
  weft__sfile_ref(e->f);
  return e->f;
}

void weft__fcache_put(weft__fcache *c, const char *path, weft__sfile *f, double now) {
  if (!c || c->max == 0) return;
  uint64_t h = hash_path(path);
  entry *old = find(c, path, h);
  if (old) drop(c, old);
  size_t len = strlen(path);
  entry *e = weft__malloc(sizeof *e + len + 1);
  if (!e) return;
  memcpy(e->path, path, len + 1);
  e->hash = h;
  e->f = f;
  weft__sfile_ref(f);
  e->checked = now;
  entry **b = &c->buckets[h & (c->nbuckets - 1)];
  e->chain = *b;
  *b = e;
  lru_push_front(c, e);
  if (++c->count > c->max) drop(c, c->last);
}

size_t weft__fcache_count(const weft__fcache *c) { return c ? c->count : 0; }
