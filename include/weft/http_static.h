/* http_static.h: serving files from a directory over the HTTP server (twisted.web.static.File).
 *
 * A static root answers GET and HEAD for the files below a directory: Content-Type from the
 * extension (the MIME table is read once, at creation), Content-Length, Last-Modified and an ETag
 * made of the size and modification time; 304 for If-None-Match / If-Modified-Since; single
 * byte ranges (206, 416, If-Range). A directory is answered with its index file when it has one,
 * else 404 (no listings). Bodies are read in chunks by a pull producer as the connection drains,
 * so a slow client holds at most a chunk and the connection's water marks of the file in memory.
 * (sendfile is a later optimisation; multi-range requests are answered whole, with 200.)
 *
 * Nothing escapes the root: a ".." segment, an encoded slash (%2F) or NUL (%00) in the target is
 * refused with 403, and by default a path whose symlinks lead outside the root (checked with
 * realpath) is refused with 403 as well; each refusal is logged at info under "weft.http.static".
 * A missing or unreadable file is 404.
 *
 * Mount it with the router: weft_http_router_add(rt, "GET", "/files/<path:rest>",
 * weft_http_static_route, st) (and "/files/" for the index), or give weft_http_static_serve the
 * path yourself. The root must outlive the routes using it; transfers in flight do not use it. */
#ifndef WEFT_HTTP_STATIC_H
#define WEFT_HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/http.h"
#include "weft/http_router.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_static weft_http_static;

typedef struct weft_http_static_options {
  /* File answered for a directory (copied); NULL or "" for none. Default "index.html". */
  const char *index;
  /* The mime.types file to read (copied path, read at creation); when NULL or unreadable a
   * built-in table of common types is used. Default "/etc/mime.types". */
  const char *mime_types;
  /* Content-Type for unknown extensions (copied). Default "application/octet-stream". */
  const char *default_type;
  /* Bytes read from the file per piece sent. Default 64 KiB (at least 1). */
  size_t chunk_size;
  /* Serve files whose symlinks lead outside the root. Default false (403). */
  bool follow_symlinks_out;
} weft_http_static_options;

/* Fills o with the defaults; call before setting fields. */
void weft_http_static_options_init(weft_http_static_options *o);

/* Creates a static root at the directory root (resolved with realpath now). Returns 0,
 * WEFT_EINVAL (root is not a directory, or an option holds CR/LF), a negative errno from
 * realpath (WEFT_ENOENT...), or WEFT_ENOMEM. */
int weft_http_static_new(weft_http_static **out, const char *root, const weft_http_static_options *o);

/* Frees st. Responses already streaming go on (they hold their own file). NULL is ignored. */
void weft_http_static_free(weft_http_static *st);

/* Answers req with the file at path (len bytes, '/'-separated, relative to the root; a leading
 * '/' is ignored), as described above. The refusals also look at req's raw target. Methods other
 * than GET and HEAD get 405 with Allow. */
void weft_http_static_serve(weft_http_static *st, weft_http_request *req, const char *path, size_t len);

/* A route function (user: the weft_http_static): serves the route's "rest" parameter, or the
 * root's index when the route has none ("/files/"). */
void weft_http_static_route(weft_http_request *req, const weft_http_match *m, void *user);

/* The Content-Type st sends for a file name (NUL-terminated). */
const char *weft_http_static_content_type(const weft_http_static *st, const char *name);

#ifdef __cplusplus
}
#endif
#endif
