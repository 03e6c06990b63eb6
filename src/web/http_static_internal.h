/* http_static_internal.h: the MIME table shared by the static file server (src/web/http_static.c)
 * and its loader (src/web/mime.c); twisted.web.static's loadMimeTypes. */
#ifndef WEFT_HTTP_STATIC_INTERNAL_H
#define WEFT_HTTP_STATIC_INTERNAL_H

#include <stddef.h>

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

#endif
