/* http_static_dir.c: directories in the static server (twisted.web.static's DirectoryLister and
 * File's redirect to the slash form): the 301 to "dir/", and an HTML listing when asked for. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "web/http_static_internal.h"
#include "weft/errors.h"

void weft__static_redirect_slash(weft_http_request *req) {
  size_t tl;
  const char *t = weft_http_request_target(req, &tl);
  /* absolute-form ("http://host/p?q"): keep only the path and query */
  const char *scheme = tl > 3 ? memchr(t, ':', tl) : NULL;
  if (t[0] != '/' && scheme && (size_t)(scheme - t) + 3 <= tl && scheme[1] == '/' && scheme[2] == '/') {
    const char *p = memchr(scheme + 3, '/', tl - (size_t)(scheme + 3 - t));
    const char *q = memchr(scheme + 3, '?', tl - (size_t)(scheme + 3 - t));
    if (!p || (q && q < p)) p = q;
    size_t skip = p ? (size_t)(p - t) : tl;
    t += skip;
    tl -= skip;
  }
  /* "//host/..." in a Location is another host to a browser (an open redirect): one '/' */
  while (tl > 1 && t[0] == '/' && t[1] == '/') t++, tl--;
  const char *q = memchr(t, '?', tl);
  size_t pl = q ? (size_t)(q - t) : tl;
  char *loc = weft__malloc(tl + 3);
  if (!loc) {
    weft_http_respond(req, 503, NULL, 0, NULL, 0);
    return;
  }
  size_t n = 0;
  if (pl == 0 || t[0] != '/') loc[n++] = '/';
  memcpy(loc + n, t, pl);
  n += pl;
  if (loc[n - 1] != '/') loc[n++] = '/';
  memcpy(loc + n, t + pl, tl - pl);
  n += tl - pl;
  loc[n] = '\0';
  weft_http_header h[2] = {{"Location", loc}, {"Content-Type", "text/plain; charset=utf-8"}};
  static const char body[] = "Moved Permanently\n";
  weft_http_respond(req, 301, h, 2, body, sizeof body - 1);
  weft__free(loc);
}

/* ---- listings ---- */

/* At most this many entries are listed, so a huge directory cannot make a huge answer. */
#define LIST_MAX 10000

typedef struct text {
  char *p;
  size_t len, cap;
  bool failed;
} text;

static void add(text *t, const char *s, size_t n) {
  if (t->failed) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + n + 1) cap *= 2;
    char *p = weft__realloc(t->p, cap);
    if (!p) {
      t->failed = true;
      return;
    }
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
}

static void add_str(text *t, const char *s) { add(t, s, strlen(s)); }

/* Text for HTML (&<>"'), or for an href: percent-encoded bytes outside the unreserved set. */
static void add_escaped(text *t, const char *s, bool href) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char buf[8];
    if (href) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
        add(t, s, 1);
      } else {
        buf[0] = '%', buf[1] = hex[c >> 4], buf[2] = hex[c & 15];
        add(t, buf, 3);
      }
      continue;
    }
    switch (c) {
      case '&': add_str(t, "&amp;"); break;
      case '<': add_str(t, "&lt;"); break;
      case '>': add_str(t, "&gt;"); break;
      case '"': add_str(t, "&quot;"); break;
      case '\'': add_str(t, "&#39;"); break;
      default: add(t, s, 1);
    }
  }
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void weft__static_list_dir(weft_http_request *req, const char *full) {
  DIR *d = opendir(full);
  if (!d) {
    weft_http_respond(req, 403, NULL, 0, "Forbidden\n", 10);
    return;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  bool failed = false;
  struct dirent *de;
  while (!failed && n < LIST_MAX && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    bool is_dir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
      struct stat sb;
      is_dir = fstatat(dirfd(d), de->d_name, &sb, 0) == 0 && S_ISDIR(sb.st_mode);
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = weft__realloc(names, cap * sizeof *names);
      if (!nn) {
        failed = true;
        break;
      }
      names = nn;
    }
    size_t len = strlen(de->d_name);
    char *s = weft__malloc(len + 2);
    if (!s) {
      failed = true;
      break;
    }
    memcpy(s, de->d_name, len);
    s[len] = is_dir ? '/' : '\0';
    s[len + is_dir] = '\0';
    names[n++] = s;
  }
  closedir(d);
  text t = {0};
  if (!failed) {
    qsort(names, n, sizeof *names, by_name);
    size_t pl;
    const char *path = weft_http_request_path(req, &pl);
    char *title = weft__malloc(pl + 1);
    if (title) {
      memcpy(title, path, pl);
      title[pl] = '\0';
    }
    add_str(&t, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    if (title) add_escaped(&t, title, false);
    add_str(&t, "</title></head>\n<body><h1>Index of ");
    if (title) add_escaped(&t, title, false);
    add_str(&t, "</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n");
    weft__free(title);
    for (size_t i = 0; i < n; i++) {
      size_t len = strlen(names[i]);
      bool dir = len && names[i][len - 1] == '/';
      if (dir) names[i][len - 1] = '\0';
      add_str(&t, "<li><a href=\"");
      add_escaped(&t, names[i], true);
      add_str(&t, dir ? "/\">" : "\">");
      add_escaped(&t, names[i], false);
      add_str(&t, dir ? "/</a></li>\n" : "</a></li>\n");
    }
    add_str(&t, "</ul></body></html>\n");
  }
  for (size_t i = 0; i < n; i++) weft__free(names[i]);
  weft__free(names);
  if (failed || t.failed) {
    weft__free(t.p);
    weft_http_respond(req, 503, NULL, 0, NULL, 0);
    return;
  }
  weft_http_header h = {"Content-Type", "text/html; charset=utf-8"};
  weft_http_respond(req, 200, &h, 1, t.p, t.len);
  weft__free(t.p);
}
