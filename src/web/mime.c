/* mime.c: MIME types by file extension from /etc/mime.types, with a built-in fallback
 * (twisted.web.static.loadMimeTypes and Python's mimetypes). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "http_static_internal.h"
#include "weft/errors.h"

/* Used when the system file is missing (minimal containers have none). */
static const char builtin[] = "text/html html htm\n"
                              "text/css css\n"
                              "text/javascript js mjs\n"
                              "text/plain txt text log\n"
                              "text/csv csv\n"
                              "text/markdown md\n"
                              "application/json json map\n"
                              "application/xml xml\n"
                              "application/pdf pdf\n"
                              "application/wasm wasm\n"
                              "application/zip zip\n"
                              "application/gzip gz\n"
                              "application/x-tar tar\n"
                              "application/octet-stream bin\n"
                              "image/png png\n"
                              "image/jpeg jpg jpeg\n"
                              "image/gif gif\n"
                              "image/svg+xml svg svgz\n"
                              "image/webp webp\n"
                              "image/avif avif\n"
                              "image/x-icon ico\n"
                              "font/woff woff\n"
                              "font/woff2 woff2\n"
                              "font/ttf ttf\n"
                              "font/otf otf\n"
                              "audio/mpeg mp3\n"
                              "audio/ogg ogg oga\n"
                              "video/mp4 mp4\n"
                              "video/webm webm\n";

static char *read_all(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return NULL;
  size_t cap = 65536, len = 0;
  char *buf = weft__malloc(cap);
  while (buf) {
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0) break;
    if (cap - len - 1 == 0) {
      char *nb = cap < (64u << 20) ? weft__realloc(buf, cap * 2) : NULL;
      if (!nb) {
        weft__free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[len] = '\0';
  return buf;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const weft__mime_entry *)a)->ext, ((const weft__mime_entry *)b)->ext);
}

/* Splits the pool in place into NUL-terminated words and records each (extension, type) pair.
 * With out NULL only counts. */
static size_t parse(char *pool, weft__mime_entry *out) {
  size_t n = 0;
  char *line = pool;
  while (*line) {
    char *end = strchr(line, '\n');
    char *next = end ? end + 1 : line + strlen(line);
    if (out && end) *end = '\0';
    char *p = line, *type = NULL;
    for (;;) {
      while (p < next && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
      if (p >= next || *p == '\0' || *p == '\n' || *p == '#') break;
      char *w = p;
      while (p < next && *p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') p++;
      bool last = p >= next || *p == '\0' || *p == '\n';
      if (out) *p = '\0';
      if (!type) type = w;
      else {
        if (out) {
          for (char *c = w; *c; c++) *c = (char)tolower((unsigned char)*c);
          out[n] = (weft__mime_entry){w, type};
        }
        n++;
      }
      if (last) break;
      p++;
    }
    line = next;
  }
  return n;
}

int weft__mime_table_load(weft__mime_table *t, const char *path) {
  memset(t, 0, sizeof *t);
  char *pool = path ? read_all(path) : NULL;
  if (!pool) pool = weft__strdup(builtin);
  if (!pool) return WEFT_ENOMEM;
  size_t n = parse(pool, NULL);
  weft__mime_entry *e = weft__malloc((n ? n : 1) * sizeof *e);
  if (!e) {
    weft__free(pool);
    return WEFT_ENOMEM;
  }
  n = parse(pool, e);
  /* An extension listed twice maps to one of its types (mime.types files do not repeat them). */
  qsort(e, n, sizeof *e, cmp_entry);
  t->entries = e;
  t->count = n;
  t->pool = pool;
  return 0;
}

const char *weft__mime_table_lookup(const weft__mime_table *t, const char *name, size_t len) {
  size_t dot = len;
  while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/') dot--;
  if (dot == 0 || name[dot - 1] != '.') return NULL;
  size_t el = len - dot;
  char ext[32];
  if (el == 0 || el >= sizeof ext) return NULL;
  for (size_t i = 0; i < el; i++) ext[i] = (char)tolower((unsigned char)name[dot + i]);
  ext[el] = '\0';
  weft__mime_entry key = {ext, NULL};
  const weft__mime_entry *hit = bsearch(&key, t->entries, t->count, sizeof key, cmp_entry);
  return hit ? hit->type : NULL;
}

void weft__mime_table_free(weft__mime_table *t) {
  weft__free(t->entries);
  weft__free(t->pool);
  memset(t, 0, sizeof *t);
}
