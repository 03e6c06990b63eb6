/* http_static.c: files from a directory over the HTTP server, with validators, conditional
 * requests, byte ranges and precompressed siblings (twisted.web.static.File). Directories are in
 * http_static_dir.c, ranges in http_static_range.c, the open-file cache in http_static_cache.c
 * and the body on its way out in http_static_send.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "web/http_internal.h"
#include "web/http_static_internal.h"
#include "weft/errors.h"
#include "weft/http_static.h"
#include "weft/log.h"

struct weft_http_static {
  char *root; /* realpath of the root, no trailing '/' unless it is "/" */
  size_t root_len;
  char *index;
  char *default_type;
  size_t chunk;
  bool follow_out, precompressed, list_dirs;
  weft__fcache *cache;
  uint64_t boundary_seed, boundaries; /* multipart boundaries: seed and count so far */
  weft__mime_table mime;
};

void weft_http_static_options_init(weft_http_static_options *o) {
  memset(o, 0, sizeof *o);
  o->index = "index.html";
  o->mime_types = "/etc/mime.types";
  o->default_type = "application/octet-stream";
  o->chunk_size = 64 * 1024;
  o->precompressed = true;
  o->open_file_cache = 64;
}

/* A control character (but HTAB) cannot go in a header value. */
static bool has_ctl(const char *s) {
  for (; s && *s; s++)
    if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f) return true;
  return false;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = weft__malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

int weft_http_static_new(weft_http_static **out, const char *root, const weft_http_static_options *o) {
  weft_http_static_options def;
  if (!o) {
    weft_http_static_options_init(&def);
    o = &def;
  }
  if (has_ctl(o->default_type) || (o->index && strchr(o->index, '/'))) return WEFT_EINVAL;
  char *real = realpath(root, NULL);
  if (!real) return errno == ENOMEM ? WEFT_ENOMEM : -errno;
  struct stat sb;
  if (stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    weft__free(real);
    return WEFT_EINVAL;
  }
  weft_http_static *st = weft__calloc(1, sizeof *st);
  if (!st) {
    weft__free(real);
    return WEFT_ENOMEM;
  }
  st->root = real;
  st->root_len = strcmp(real, "/") == 0 ? 0 : strlen(real);
  st->index = o->index && *o->index ? dup_str(o->index) : NULL;
  st->default_type = dup_str(o->default_type ? o->default_type : "application/octet-stream");
  st->chunk = o->chunk_size ? o->chunk_size : 1;
  st->follow_out = o->follow_symlinks_out;
  st->precompressed = o->precompressed;
  st->list_dirs = o->list_directories;
  if (getrandom(&st->boundary_seed, sizeof st->boundary_seed, GRND_NONBLOCK) != sizeof st->boundary_seed)
    st->boundary_seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)st;
  if ((o->index && *o->index && !st->index) || !st->default_type ||
      weft__fcache_new(&st->cache, o->open_file_cache) != 0 || weft__mime_table_load(&st->mime, o->mime_types)) {
    weft_http_static_free(st);
    return WEFT_ENOMEM;
  }
  *out = st;
  return 0;
}

void weft_http_static_free(weft_http_static *st) {
  if (!st) return;
  weft__mime_table_free(&st->mime);
  weft__fcache_free(st->cache);
  weft__free(st->root);
  weft__free(st->index);
  weft__free(st->default_type);
  weft__free(st);
}

const char *weft_http_static_content_type(const weft_http_static *st, const char *name) {
  const char *t = weft__mime_table_lookup(&st->mime, name, strlen(name));
  return t ? t : st->default_type;
}

size_t weft_http_static_cached_files(const weft_http_static *st) { return weft__fcache_count(st->cache); }

/* ---- refusals ---- */

static void refuse(weft_http_request *req, int status, const char *why) {
  size_t tl;
  const char *target = weft_http_request_target(req, &tl);
  char t[512];
  snprintf(t, sizeof t, "%.*s", (int)(tl < sizeof t ? tl : sizeof t - 1), target);
  weft_log_emit(weft_reactor_log(weft_http_request_reactor(req)), WEFT_LOG_INFO, "weft.http.static",
                "refused {target} with {status}: {why}", WEFT_LOG_STR("target", t), WEFT_LOG_INT("status", status),
                WEFT_LOG_STR("why", why), WEFT_LOG_END);
  const char *reason = weft_http_status_reason(status);
  weft_http_header h = {"Content-Type", "text/plain; charset=utf-8"};
  weft_http_respond(req, status, &h, 1, reason, strlen(reason));
}

/* The decoded path cannot show an encoded slash or NUL, so the raw target is checked too. */
static const char *raw_target_problem(weft_http_request *req) {
  size_t tl;
  const char *t = weft_http_request_target(req, &tl);
  for (size_t i = 0; i + 2 < tl && t[i] != '?'; i++) {
    if (t[i] != '%') continue;
    if (t[i + 1] == '2' && (t[i + 2] == 'f' || t[i + 2] == 'F')) return "encoded slash";
    if (t[i + 1] == '0' && t[i + 2] == '0') return "encoded NUL";
  }
  return NULL;
}

/* Joins the root and path's segments into full; "" and "." segments are dropped. Returns NULL
 * or why the path is refused. */
static const char *join_path(const weft_http_static *st, const char *path, size_t len, char *full, size_t cap) {
  if (memchr(path, '\0', len)) return "NUL in path";
  size_t n = st->root_len;
  memcpy(full, st->root, n);
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && path[j] != '/') j++;
    size_t sl = j - i;
    if (sl == 2 && path[i] == '.' && path[i + 1] == '.') return "'..' segment";
    if (sl > 0 && !(sl == 1 && path[i] == '.')) {
      if (n + 1 + sl + 1 > cap) return "path too long";
      full[n++] = '/';
      memcpy(full + n, path + i, sl);
      n += sl;
    }
    i = j + 1;
  }
  if (n == 0) full[n++] = '/';
  full[n] = '\0';
  return NULL;
}

static bool inside_root(const weft_http_static *st, const char *real) {
  if (st->root_len == 0) return true;
  return strncmp(real, st->root, st->root_len) == 0 && (real[st->root_len] == '/' || real[st->root_len] == '\0');
}

/* Opens full after resolving it; returns the fd, or -status with *why set. */
static int open_checked(const weft_http_static *st, const char *full, struct stat *sb, const char **why) {
  char real[PATH_MAX];
  if (!realpath(full, real)) {
    *why = errno == EACCES ? "permission denied" : "not found";
    return errno == EACCES ? -403 : -404;
  }
  if (!st->follow_out && !inside_root(st, real)) {
    *why = "symlink leads outside the root";
    return -403;
  }
  /* O_NONBLOCK: a FIFO (or a device) below the root must not block the reactor thread waiting
   * for a writer; fstat then shows it is no regular file (404). Reads of regular files ignore it. */
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *why = errno == EACCES ? "permission denied" : "cannot open";
    return errno == EACCES ? -403 : -404;
  }
  if (fstat(fd, sb) != 0) {
    close(fd);
    *why = "cannot stat";
    return -404;
  }
  return fd;
}

/* ---- validators and conditional requests ---- */

typedef struct validators {
  char etag[64];
  char last_modified[30];
  time_t mtime;
} validators;

static void make_validators(const struct stat *sb, validators *v) {
  unsigned long long ns = (unsigned long long)sb->st_mtim.tv_sec * 1000000000ull + (unsigned long long)sb->st_mtim.tv_nsec;
  snprintf(v->etag, sizeof v->etag, "\"%llx-%llx\"", (unsigned long long)sb->st_size, ns);
  v->mtime = sb->st_mtim.tv_sec;
  weft_http_date(v->mtime, v->last_modified);
}

static bool slice_eq(const char *a, size_t al, const char *b) { return al == strlen(b) && memcmp(a, b, al) == 0; }

/* If-None-Match: a list of entity tags, compared weakly (W/ ignored), or "*". */
static bool etag_listed_as(const char *list, size_t len, const char *etag, bool weak) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) i++;
    size_t j = i;
    while (j < len && list[j] != ',') j++;
    size_t e = j;
    while (e > i && (list[e - 1] == ' ' || list[e - 1] == '\t')) e--;
    const char *tag = list + i;
    size_t tl = e - i;
    if (tl == 1 && tag[0] == '*') return true;
    if (tl > 2 && tag[0] == 'W' && tag[1] == '/') {
      if (!weak) { /* a weak tag never matches strongly */
        i = j;
        continue;
      }
      tag += 2, tl -= 2;
    }
    if (tl && slice_eq(tag, tl, etag)) return true;
    i = j;
  }
  return false;
}

static bool etag_listed(const char *list, size_t len, const char *etag) { return etag_listed_as(list, len, etag, true); }

/* An HTTP date as seconds, or -1: IMF-fixdate, and the two obsolete forms a recipient must
 * still accept (RFC 9110 section 5.6.7): RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and
 * asctime ("Sun Nov  6 08:49:37 1994"). */
static time_t parse_date(const char *s, size_t len) {
  static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
  char buf[64];
  if (len >= sizeof buf) return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(buf, forms[i], &tm);
    if (end && !*end) return timegm(&tm);
  }
  return -1;
}

/* If-Match (strong comparison), else If-Unmodified-Since: false when the request's condition
 * does not hold, which is answered 412 (RFC 9110 section 13.2.2, steps 1 and 2). */
static bool preconditions_hold(weft_http_request *req, const validators *v) {
  size_t len;
  const char *im = weft_http_request_header(req, "If-Match", &len);
  if (im) return etag_listed_as(im, len, v->etag, false);
  const char *ius = weft_http_request_header(req, "If-Unmodified-Since", &len);
  if (!ius) return true;
  time_t t = parse_date(ius, len);
  return t < 0 || v->mtime <= t; /* an invalid date is ignored */
}

static bool not_modified(weft_http_request *req, const validators *v) {
  size_t len;
  const char *inm = weft_http_request_header(req, "If-None-Match", &len);
  if (inm) return etag_listed(inm, len, v->etag);
  const char *ims = weft_http_request_header(req, "If-Modified-Since", &len);
  if (!ims) return false;
  time_t t = parse_date(ims, len);
  return t >= 0 && v->mtime <= t;
}

/* If-Range: the range applies only if the validator still matches (strong ETag or the exact
 * Last-Modified date). */
static bool if_range_holds(weft_http_request *req, const validators *v) {
  size_t len;
  const char *ir = weft_http_request_header(req, "If-Range", &len);
  if (!ir) return true;
  if (len && ir[0] == '"') return slice_eq(ir, len, v->etag);
  if (len > 1 && ir[0] == 'W' && ir[1] == '/') return false;
  return slice_eq(ir, len, v->last_modified);
}

/* ---- opening, through the cache ---- */

/* The file at full, from the cache or opened and checked now (then cached). Returns NULL with
 * *status and *why set when it cannot be served. */
static weft__sfile *open_file(const weft_http_static *st, weft_http_request *req, const char *full, int *status,
                              const char **why) {
  double now = weft_reactor_seconds(weft_http_request_reactor(req));
  weft__sfile *f = weft__fcache_get(st->cache, full, now);
  if (f) return f;
  struct stat sb;
  int fd = open_checked(st, full, &sb, why);
  if (fd < 0) {
    *status = -fd;
    return NULL;
  }
  if (!(f = weft__sfile_new(fd, &sb))) {
    *status = 503;
    *why = "out of memory";
    return NULL;
  }
  weft__fcache_put(st->cache, full, f, now);
  return f;
}

/* ---- content coding ---- */

/* A qvalue ("1", "0.5", "0.000") is above zero when any digit is not 0. */
static bool q_positive(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] >= '1' && s[i] <= '9') return true;
  return false;
}

/* Whether Accept-Encoding takes gzip: "gzip" (or "x-gzip") listed with q > 0, or not listed and
 * "*" with q > 0. A missing header takes nothing but identity, for our purpose. */
static bool accepts_gzip(weft_http_request *req) {
  size_t len;
  const char *v = weft_http_request_header(req, "Accept-Encoding", &len);
  if (!v) return false;
  int gzip = -1, star = -1;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && v[j] != ',') j++;
    size_t a = i, e = i;
    while (a < j && (v[a] == ' ' || v[a] == '\t')) a++;
    e = a;
    while (e < j && v[e] != ';' && v[e] != ' ' && v[e] != '\t') e++;
    bool yes = true;
    const char *q = memchr(v + e, ';', j - e);
    while (q) { /* parameters: only q matters */
      const char *p = q + 1;
      while (p < v + j && (*p == ' ' || *p == '\t')) p++;
      const char *pe = memchr(p, ';', (size_t)(v + j - p));
      if (!pe) pe = v + j;
      if (pe - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') yes = q_positive(p + 2, (size_t)(pe - p - 2));
      q = pe < v + j ? pe : NULL;
    }
    size_t tl = e - a;
    if ((tl == 4 && strncasecmp(v + a, "gzip", 4) == 0) || (tl == 6 && strncasecmp(v + a, "x-gzip", 6) == 0))
      gzip = yes;
    else if (tl == 1 && v[a] == '*')
      star = yes;
    i = j + 1;
  }
  return gzip >= 0 ? gzip == 1 : star == 1;
}

/* FILE.gz next to full, when it is a regular file and not older than orig; NULL otherwise. */
static weft__sfile *gzip_sibling(const weft_http_static *st, weft_http_request *req, const char *full,
                                 const weft__sfile *orig) {
  char gz[PATH_MAX];
  if ((size_t)snprintf(gz, sizeof gz, "%s.gz", full) >= sizeof gz) return NULL;
  int status;
  const char *why;
  weft__sfile *f = open_file(st, req, gz, &status, &why);
  if (!f) return NULL;
  const struct timespec *a = &f->sb.st_mtim, *b = &orig->sb.st_mtim;
  bool older = a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
  if (!S_ISREG(f->sb.st_mode) || older) {
    weft__sfile_unref(f);
    return NULL;
  }
  return f;
}

/* ---- answers ---- */

typedef struct answer {
  const char *type;    /* of the original file */
  bool gzip;           /* the body is the .gz sibling */
  validators v;
} answer;

static int common_headers(weft_http_request *req, const answer *a, const char *type, uint64_t len) {
  char len_text[24];
  snprintf(len_text, sizeof len_text, "%llu", (unsigned long long)len);
  int rc = weft_http_response_header(req, "Content-Type", type);
  if (rc == 0) rc = weft_http_response_header(req, "Content-Length", len_text);
  if (rc == 0) rc = weft_http_response_header(req, "Last-Modified", a->v.last_modified);
  if (rc == 0) rc = weft_http_response_header(req, "ETag", a->v.etag);
  if (rc == 0) rc = weft_http_response_header(req, "Accept-Ranges", "bytes");
  if (rc == 0 && a->gzip) rc = weft_http_response_header(req, "Content-Encoding", "gzip");
  if (rc == 0 && a->gzip) rc = weft_http_response_header(req, "Vary", "Accept-Encoding");
  return rc;
}

/* Ends a response whose head could not be built (a header refused: a type from a broken
 * mime.types): the connection is closed with nothing sent, since finishing would send a head
 * without Content-Length and an empty body that looks complete. */
static void give_up(weft_http_request *req) { weft__http_response_abort(req); }

static void send_ranges(weft_http_static *st, weft_http_request *req, weft__sfile *f, const answer *a,
                        const weft__range *r, size_t n) {
  uint64_t size = (uint64_t)f->sb.st_size;
  char cr[80];
  if (n == 1) {
    snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)r->start,
             (unsigned long long)(r->start + r->count - 1), (unsigned long long)size);
    weft__piece p = {NULL, r->start, r->count};
    int rc = weft_http_response_start(req, 206);
    if (rc == 0) rc = common_headers(req, a, a->type, r->count);
    if (rc == 0) rc = weft_http_response_header(req, "Content-Range", cr);
    if (rc == 0) weft__static_send(req, f, &p, 1, st->chunk);
    else give_up(req);
    return;
  }
  /* multipart/byteranges: "--B" part headers before each range, "--B--" after the last */
  uint64_t x = st->boundary_seed + ++st->boundaries * 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  char boundary[40], type[96 + 256];
  snprintf(boundary, sizeof boundary, "weft-%016llx", (unsigned long long)(x ^ (x >> 31)));
  snprintf(type, sizeof type, "multipart/byteranges; boundary=%s", boundary);
  size_t per = strlen(boundary) + strlen(a->type) + 128;
  char *text = weft__malloc(per * (n + 1));
  weft__piece pieces[2 * WEFT__RANGES_MAX + 1];
  if (!text) {
    weft_http_respond(req, 503, NULL, 0, NULL, 0);
    return;
  }
  uint64_t total = 0;
  size_t k = 0;
  char *t = text;
  for (size_t i = 0; i <= n; i++) {
    int len = i < n ? snprintf(t, per, "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                                i ? "\r\n" : "", boundary, a->type, (unsigned long long)r[i].start,
                                (unsigned long long)(r[i].start + r[i].count - 1), (unsigned long long)size)
                    : snprintf(t, per, "\r\n--%s--\r\n", boundary);
    pieces[k++] = (weft__piece){t, 0, (uint64_t)len};
    total += (uint64_t)len;
    t += len;
    if (i < n) {
      pieces[k++] = (weft__piece){NULL, r[i].start, r[i].count};
      total += r[i].count;
    }
  }
  int rc = weft_http_response_start(req, 206);
  if (rc == 0) rc = common_headers(req, a, type, total);
  if (rc == 0) weft__static_send(req, f, pieces, k, st->chunk);
  else give_up(req);
  weft__free(text);
}

/* Answers with f (the file or its .gz sibling), name giving the type. */
static void serve_opened(weft_http_static *st, weft_http_request *req, weft__sfile *f, const char *name, bool gzip) {
  answer a = {weft_http_static_content_type(st, name), gzip, {{0}, {0}, 0}};
  make_validators(&f->sb, &a.v);
  size_t el = strlen(a.v.etag);
  if (gzip && el + 3 < sizeof a.v.etag) /* never the identity's tag, even for the same size and time */
    memcpy(a.v.etag + el - 1, "-gz\"", 5);
  if (!preconditions_hold(req, &a.v)) {
    weft_http_header h[2] = {{"ETag", a.v.etag}, {"Content-Type", "text/plain; charset=utf-8"}};
    static const char body[] = "Precondition Failed\n";
    weft_http_respond(req, 412, h, 2, body, sizeof body - 1);
    return;
  }
  if (not_modified(req, &a.v)) {
    weft_http_header h[3] = {{"ETag", a.v.etag}, {"Last-Modified", a.v.last_modified}, {"Vary", "Accept-Encoding"}};
    weft_http_respond(req, 304, h, gzip ? 3 : 2, NULL, 0);
    return;
  }
  uint64_t size = (uint64_t)f->sb.st_size;
  size_t rl, n = 0;
  const char *range = weft_http_request_header(req, "Range", &rl);
  weft__range r[WEFT__RANGES_MAX];
  /* An empty file has no byte to range over: it is sent whole (as nginx does), never a 416. */
  int kind = range && size > 0 && if_range_holds(req, &a.v) ? weft__ranges_parse(range, rl, size, r, &n)
                                                             : WEFT__RANGE_NONE;
  if (kind == WEFT__RANGE_UNSATISFIABLE) {
    char cr[48];
    snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
    weft_http_header h[2] = {{"Content-Range", cr}, {"Content-Type", "text/plain; charset=utf-8"}};
    static const char body[] = "Range Not Satisfiable\n";
    weft_http_respond(req, 416, h, 2, body, sizeof body - 1);
    return;
  }
  if (kind == WEFT__RANGE_SOME) {
    send_ranges(st, req, f, &a, r, n);
    return;
  }
  weft__piece p = {NULL, 0, size};
  int rc = weft_http_response_start(req, 200);
  if (rc == 0) rc = common_headers(req, &a, a.type, size);
  if (rc == 0) weft__static_send(req, f, &p, 1, st->chunk);
  else give_up(req);
}

/* The decoded request path ends with '/' (relative links in the page resolve below it). */
static bool target_has_slash(weft_http_request *req) {
  size_t pl;
  const char *p = weft_http_request_path(req, &pl);
  return pl > 0 && p[pl - 1] == '/';
}

void weft_http_static_serve(weft_http_static *st, weft_http_request *req, const char *path, size_t len) {
  size_t ml;
  const char *method = weft_http_request_method(req, &ml);
  if (!slice_eq(method, ml, "GET") && !slice_eq(method, ml, "HEAD")) {
    weft_http_header h = {"Allow", "GET, HEAD"};
    weft_http_respond(req, 405, &h, 1, NULL, 0);
    return;
  }
  char full[PATH_MAX];
  const char *why = raw_target_problem(req);
  if (!why) why = join_path(st, path, len, full, sizeof full - 4); /* room for ".gz" */
  if (why) {
    refuse(req, 403, why);
    return;
  }
  int status = 404;
  weft__sfile *f = open_file(st, req, full, &status, &why);
  if (f && S_ISDIR(f->sb.st_mode)) {
    weft__sfile_unref(f);
    if (!target_has_slash(req)) {
      weft__static_redirect_slash(req);
      return;
    }
    /* the index, else a listing when asked for, else 403 */
    size_t fl = strlen(full);
    f = NULL;
    bool no_index = true;
    if (st->index && fl + 1 + strlen(st->index) < sizeof full - 4) {
      snprintf(full + fl, sizeof full - fl, "%s%s", full[fl - 1] == '/' ? "" : "/", st->index);
      f = open_file(st, req, full, &status, &why);
      no_index = !f && status == 404; /* an index refused for another reason stays refused */
    }
    if (no_index) {
      status = 403;
      why = "directory without an index";
    }
    if (no_index && st->list_dirs) {
      full[fl] = '\0';
      weft__static_list_dir(req, full);
      return;
    }
  }
  if (f && !S_ISREG(f->sb.st_mode)) {
    weft__sfile_unref(f);
    f = NULL;
    status = 404;
    why = "not a regular file";
  }
  if (!f) {
    refuse(req, status, why);
    return;
  }
  weft__sfile *gz = st->precompressed && accepts_gzip(req) ? gzip_sibling(st, req, full, f) : NULL;
  if (gz) {
    weft__sfile_unref(f);
    f = gz;
  }
  serve_opened(st, req, f, full, gz != NULL);
  weft__sfile_unref(f);
}

void weft_http_static_route(weft_http_request *req, const weft_http_match *m, void *user) {
  const char *p = "";
  size_t len = 0;
  if (weft_http_route_param_str(m, "rest", &p, &len) != 0) p = weft_http_match_rest(m, &len);
  weft_http_static_serve(user, req, p ? p : "", p ? len : 0);
}
