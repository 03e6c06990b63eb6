/* http_static_internal.h: what the static file server's files share (twisted.web.static's
 * File, split by concern): the MIME table (mime.c), open files and their cache
 * (http_static_cache.c), byte ranges (http_static_range.c), sending a body
 * (http_static_send.c) and directories (http_static_dir.c). Not installed. */
#ifndef WEFT_HTTP_STATIC_INTERNAL_H
#define WEFT_HTTP_STATIC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "weft/http.h"

/* ---- MIME types (mime.c) ---- */

typedef struct weft__mime_entry {
  const char *ext;  /* lower case, no dot */
  const char *type;
} weft__mime_entry;

/* Extensions mapped to types, sorted by extension; the strings live in pool. */
typedef struct weft__mime_table {
  weft__mime_entry *entries;
  size_t count;
  char *pool;
} weft__mime_table;

/* Loads path (mime.types format: "type ext ext...", '#' comments) once; when path is NULL or
 * cannot be read, a built-in table of common types is used instead. Returns 0 or WEFT_ENOMEM. */
int weft__mime_table_load(weft__mime_table *t, const char *path);

/* The type for name's extension (case-insensitive), or NULL when unknown. */
const char *weft__mime_table_lookup(const weft__mime_table *t, const char *name, size_t len);

void weft__mime_table_free(weft__mime_table *t);

/* ---- open files and the open-file cache (http_static_cache.c) ---- */

/* An open file and what fstat said when it was opened, shared by the cache and the transfers
 * sending it: the last reference closes it. */
typedef struct weft__sfile {
  int fd;
  unsigned refs;
  struct stat sb;
} weft__sfile;

/* Wraps fd (taken) with one reference; NULL (fd closed) when out of memory. */
weft__sfile *weft__sfile_new(int fd, const struct stat *sb);
void weft__sfile_ref(weft__sfile *f);
void weft__sfile_unref(weft__sfile *f);

typedef struct weft__fcache weft__fcache;

/* A cache of at most max open files by path, least recently used out first. Returns 0 or
 * WEFT_ENOMEM. */
int weft__fcache_new(weft__fcache **out, size_t max);
/* Drops the cache's references (files still being sent stay open until sent). */
void weft__fcache_free(weft__fcache *c);
/* The file cached for path (a new reference), or NULL when none or when it was checked a second
 * or more before now (seconds on any monotonic scale): the caller opens it again and puts it. */
weft__sfile *weft__fcache_get(weft__fcache *c, const char *path, double now);
/* Remembers f (a new reference) for path, checked at now, replacing an older entry. Out of
 * memory simply does not cache. */
void weft__fcache_put(weft__fcache *c, const char *path, weft__sfile *f, double now);
/* Entries held (for tests). */
size_t weft__fcache_count(const weft__fcache *c);

/* ---- byte ranges (http_static_range.c) ---- */

typedef struct weft__range {
  uint64_t start, count;
} weft__range;

/* Ranges in one request, at most; more are answered with the whole file (as nginx's
 * max_ranges). */
#define WEFT__RANGES_MAX 16

enum { WEFT__RANGE_NONE, WEFT__RANGE_SOME, WEFT__RANGE_UNSATISFIABLE };

/* Parses a Range header against a representation of size bytes. WEFT__RANGE_SOME fills out with
 * *n ranges, sorted, overlapping and adjacent ones merged. WEFT__RANGE_NONE (send the whole
 * representation, as RFC 9110 allows) for another unit, a syntax error, more than
 * WEFT__RANGES_MAX ranges, or ranges adding up to more than the size (overlap used to amplify a
 * response). WEFT__RANGE_UNSATISFIABLE (416) when none of the ranges falls inside. */
int weft__ranges_parse(const char *r, size_t len, uint64_t size, weft__range *out, size_t *n);

/* ---- sending a body (http_static_send.c) ---- */

/* One piece of a body: text (a part header of a multipart body) or a range of the file. */
typedef struct weft__piece {
  const char *text; /* NULL for a file range */
  uint64_t off, count;
} weft__piece;

/* Sends the pieces (copied; text pointers must stay valid until the call returns: the text is
 * copied too) of f (a new reference is taken) as req's body, its head already started with
 * status and headers; then finishes req. Bodies up to chunk bytes go in one write; bigger file
 * ranges go through sendfile where the connection can, else through reads of chunk bytes by a
 * pull producer. HEAD or an empty body finishes at once. Returns 0; on failure (out of memory)
 * the response is finished short, which closes the connection. */
int weft__static_send(weft_http_request *req, weft__sfile *f, const weft__piece *pieces, size_t n, size_t chunk);

/* Queues len bytes of fd from off as req's body through the connection's sendfile, sending the
 * head first if it has not gone. Returns 0; WEFT_ENOTSUP when the connection cannot (TLS, test
 * transports) or the body is chunked, before anything is sent for a started head; WEFT_EINVAL
 * past the Content-Length; WEFT_ECLOSED; WEFT_ESTATE; WEFT_ENOMEM. (The one hook into the
 * response internals; it lives with the static server.) */
int weft__http_response_sendfile(weft_http_request *req, int fd, off_t off, size_t len);

/* ---- directories (http_static_dir.c) ---- */

/* Answers 301 to the target with a '/' after its path, the query kept. */
void weft__static_redirect_slash(weft_http_request *req);

/* Answers 200 with an HTML list of the directory full (a path below the root), entries sorted,
 * names escaped; 403 when it cannot be read. */
void weft__static_list_dir(weft_http_request *req, const char *full);

#endif
