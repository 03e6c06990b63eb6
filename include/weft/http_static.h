/* http_static.h: serving files from a directory over the HTTP server (twisted.web.static.File).
 *
 * A static root answers GET and HEAD for the files below a directory: Content-Type from the
 * extension (the MIME table is read once, at creation), Content-Length, Last-Modified and an ETag
 * made of the size and modification time; 304 for If-None-Match / If-Modified-Since, 412 for
 * If-Match / If-Unmodified-Since that do not hold.
 *
 * Ranges: "Range: bytes=..." with one range answers 206 with Content-Range; with several, 206
 * multipart/byteranges (a random boundary per response), the ranges sorted and overlapping or
 * adjacent ones merged into one part. More than 16 ranges, or ranges adding up to more than the
 * file (overlap used to amplify an answer), are answered with the whole file (200), as nginx
 * does; a syntax error or another unit too. 416 when no range falls inside the file. If-Range
 * (strong ETag or exact date) applies.
 *
 * Precompressed files (option precompressed, on by default): when the client's Accept-Encoding
 * takes gzip (q > 0; "gzip;q=0" refuses it, "*" counts when gzip is not named) and FILE.gz is a
 * regular file next to FILE, not older than it, the .gz is sent with Content-Encoding: gzip, the
 * original's Content-Type, Vary: Accept-Encoding, and its own ETag (ending "-gz") and
 * Last-Modified; ranges apply to the .gz bytes. The sibling is only looked for when the client
 * takes gzip, so the identity answer carries no Vary.
 *
 * Directories: a target naming a directory without a trailing '/' is answered 301 to the same
 * target with the '/' (the query kept); with it, the index file, else 403, or an HTML listing
 * when list_directories is set.
 *
 * Bodies: up to chunk_size bytes go in one write with the head. Bigger ones on a plain TCP or
 * Unix connection go by sendfile(2) in pieces as the connection drains (no copy through user
 * space, nothing held in memory); over TLS or other transports a pull producer reads chunk_size
 * bytes at a time. Either way a slow client holds at most a piece and the connection's water
 * marks queued.
 *
 * Open-file cache (open_file_cache entries, default 64; 0 turns it off): open descriptors and
 * their fstat results by path, least recently used out first, closed when the root is freed (a
 * file still being sent stays open until sent). An entry is trusted for one second of the
 * reactor's clock after it was checked, then the path is resolved, checked and opened again (no
 * inotify), so a file changed or removed on disk is seen at most a second late. The cache makes a
 * root belong to one reactor thread: do not share one root between reactors on several threads.
 *
 * Nothing escapes the root: a ".." segment, an encoded slash (%2F) or NUL (%00) in the target is
 * refused with 403, and by default a path whose symlinks lead outside the root (checked with
 * realpath) is refused with 403 as well (follow_symlinks_out allows it); each refusal is logged
 * at info under "weft.http.static". A missing or unreadable file is 404.
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
  /* Serve FILE.gz to clients that take gzip (see above). Default true. */
  bool precompressed;
  /* An HTML listing for a directory without an index file. Default false (403). */
  bool list_directories;
  /* Open files kept by path (see above); 0 turns the cache off. Default 64. */
  size_t open_file_cache;
} weft_http_static_options;

/* Fills o with the defaults; call before setting fields. */
void weft_http_static_options_init(weft_http_static_options *o);

/* Creates a static root at the directory root (resolved with realpath now). Returns 0,
 * WEFT_EINVAL (root is not a directory, default_type holds a control character, or index a
 * '/'), a negative errno from realpath (WEFT_ENOENT...), or WEFT_ENOMEM. */
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

/* Files held open by the open-file cache now (for tests and monitoring). */
size_t weft_http_static_cached_files(const weft_http_static *st);

/* The Content-Type st sends for a file name (NUL-terminated). */
const char *weft_http_static_content_type(const weft_http_static *st, const char *name);

#ifdef __cplusplus
}
#endif
#endif
