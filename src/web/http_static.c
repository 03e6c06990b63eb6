/* http_static.c: files from a directory over the HTTP server, with validators, conditional
 * requests and byte ranges (twisted.web.static.File). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_static_internal.h"
#include "weft/errors.h"
#include "weft/http_static.h"
#include "weft/log.h"

struct weft_http_static {
  char *root; /* realpath of the root, no trailing '/' unless it is "/" */
  size_t root_len;
  char *index;
  char *default_type;
  size_t chunk;
  bool follow_out;
  weft__mime_table mime;
};

/* One file being sent: the pull producer's state. It holds no pointer to the root. */
typedef struct transfer {
  weft_http_request *req;
  int fd;
  off_t off;
  size_t remaining;
  size_t chunk;
  char buf[];
} transfer;

void weft_http_static_options_init(weft_http_static_options *o) {
  memset(o, 0, sizeof *o);
  o->index = "index.html";
  o->mime_types = "/etc/mime.types";
  o->default_type = "application/octet-stream";
  o->chunk_size = 64 * 1024;
}

static bool has_crlf(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

int weft_http_static_new(weft_http_static **out, const char *root, const weft_http_static_options *o) {
  weft_http_static_options def;
  if (!o) {
    weft_http_static_options_init(&def);
    o = &def;
  }
  if (has_crlf(o->default_type) || (o->index && strchr(o->index, '/'))) return WEFT_EINVAL;
  char *real = realpath(root, NULL);
  if (!real) return errno == ENOMEM ? WEFT_ENOMEM : -errno;
  struct stat sb;
  if (stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    free(real);
    return WEFT_EINVAL;
  }
  weft_http_static *st = calloc(1, sizeof *st);
  if (!st) {
    free(real);
    return WEFT_ENOMEM;
  }
  st->root = real;
  st->root_len = strcmp(real, "/") == 0 ? 0 : strlen(real);
  st->index = o->index && *o->index ? strdup(o->index) : NULL;
  st->default_type = strdup(o->default_type ? o->default_type : "application/octet-stream");
  st->chunk = o->chunk_size ? o->chunk_size : 1;
  st->follow_out = o->follow_symlinks_out;
  if ((o->index && *o->index && !st->index) || !st->default_type || weft__mime_table_load(&st->mime, o->mime_types)) {
    weft_http_static_free(st);
    return WEFT_ENOMEM;
  }
  *out = st;
  return 0;
}

void weft_http_static_free(weft_http_static *st) {
  if (!st) return;
  weft__mime_table_free(&st->mime);
  free(st->root);
  free(st->index);
  free(st->default_type);
  free(st);
}

const char *weft_http_static_content_type(const weft_http_static *st, const char *name) {
  const char *t = weft__mime_table_lookup(&st->mime, name, strlen(name));
  return t ? t : st->default_type;
}

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
  int fd = open(real, O_RDONLY | O_CLOEXEC);
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
static bool etag_listed(const char *list, size_t len, const char *etag) {
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
    if (tl > 2 && tag[0] == 'W' && tag[1] == '/') tag += 2, tl -= 2;
    if (tl && slice_eq(tag, tl, etag)) return true;
    i = j;
  }
  return false;
}

/* An HTTP date (IMF-fixdate) as seconds, or -1. */
static time_t parse_date(const char *s, size_t len) {
  char buf[64];
  if (len >= sizeof buf) return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) return -1;
  return timegm(&tm);
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

/* ---- ranges ---- */

enum { RANGE_NONE, RANGE_ONE, RANGE_UNSATISFIABLE };

static bool parse_u64(const char *s, size_t len, unsigned long long *out) {
  if (len == 0 || len > 18) return false;
  unsigned long long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (unsigned long long)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* A single "bytes=" range against size. Anything else (syntax errors, several ranges, other
 * units) is ignored, which RFC 9110 allows: the whole file is sent with 200. */
static int parse_range(const char *r, size_t len, unsigned long long size, unsigned long long *start,
                       unsigned long long *count) {
  if (len < 6 || strncasecmp(r, "bytes=", 6) != 0) return RANGE_NONE;
  r += 6, len -= 6;
  while (len && (*r == ' ' || *r == '\t')) r++, len--;
  while (len && (r[len - 1] == ' ' || r[len - 1] == '\t')) len--;
  if (memchr(r, ',', len)) return RANGE_NONE;
  const char *dash = memchr(r, '-', len);
  if (!dash) return RANGE_NONE;
  size_t fl = (size_t)(dash - r), ll = len - fl - 1;
  unsigned long long a, b;
  if (fl == 0) { /* suffix: the last b bytes */
    if (!parse_u64(dash + 1, ll, &b)) return RANGE_NONE;
    if (b == 0 || size == 0) return RANGE_UNSATISFIABLE;
    if (b > size) b = size;
    *start = size - b;
    *count = b;
    return RANGE_ONE;
  }
  if (!parse_u64(r, fl, &a)) return RANGE_NONE;
  if (ll == 0) b = size ? size - 1 : 0;
  else if (!parse_u64(dash + 1, ll, &b) || b < a) return RANGE_NONE;
  if (a >= size) return RANGE_UNSATISFIABLE;
  if (b >= size) b = size - 1;
  *start = a;
  *count = b - a + 1;
  return RANGE_ONE;
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

/* ---- the body, pulled as the connection drains ---- */

static void transfer_end(transfer *tr) {
  weft_http_response_finish(tr->req);
  close(tr->fd);
  free(tr);
}

static void tr_pause(void *user) { (void)user; }

static void tr_resume(void *user) {
  transfer *tr = user;
  size_t want = tr->remaining < tr->chunk ? tr->remaining : tr->chunk;
  ssize_t n = pread(tr->fd, tr->buf, want, tr->off);
  if (n <= 0) { /* read error or the file shrank: finish short, which closes the connection */
    weft_log_emit(weft_reactor_log(weft_http_request_reactor(tr->req)), WEFT_LOG_WARN, "weft.http.static",
                  "file ended early or failed to read: {error}", WEFT_LOG_ERR("error", n < 0 ? -errno : WEFT_EIO),
                  WEFT_LOG_END);
    transfer_end(tr);
    return;
  }
  int rc = weft_http_response_write(tr->req, tr->buf, (size_t)n);
  if (rc == WEFT_ECLOSED) return; /* stop_producing follows when the connection is gone */
  tr->off += n;
  tr->remaining -= (size_t)n;
  if (rc != 0 || tr->remaining == 0) transfer_end(tr);
}

static void tr_stop(void *user) { transfer_end(user); }

/* ---- serving ---- */

/* Starts the response: status, headers, then the body through a transfer (or none for HEAD).
 * Takes fd. */
static void send_file(weft_http_request *req, int fd, int status, const char *type, const validators *v,
                      unsigned long long start, unsigned long long count, unsigned long long size, size_t chunk) {
  char len_text[24], range_text[80];
  snprintf(len_text, sizeof len_text, "%llu", count);
  size_t ml;
  const char *method = weft_http_request_method(req, &ml);
  bool head = slice_eq(method, ml, "HEAD");
  transfer *tr = NULL;
  if (!head && count > 0) {
    size_t c = count < chunk ? (size_t)count : chunk;
    tr = malloc(sizeof *tr + c);
    if (!tr) {
      close(fd);
      weft_http_respond(req, 503, NULL, 0, NULL, 0);
      return;
    }
    *tr = (transfer){req, fd, (off_t)start, (size_t)count, c};
  }
  int rc = weft_http_response_start(req, status);
  if (rc == 0) rc = weft_http_response_header(req, "Content-Type", type);
  if (rc == 0) rc = weft_http_response_header(req, "Content-Length", len_text);
  if (rc == 0) rc = weft_http_response_header(req, "Last-Modified", v->last_modified);
  if (rc == 0) rc = weft_http_response_header(req, "ETag", v->etag);
  if (rc == 0) rc = weft_http_response_header(req, "Accept-Ranges", "bytes");
  if (rc == 0 && status == 206) {
    snprintf(range_text, sizeof range_text, "bytes %llu-%llu/%llu", start, start + count - 1, size);
    rc = weft_http_response_header(req, "Content-Range", range_text);
  }
  weft_producer p = {tr_pause, tr_resume, tr_stop, tr};
  if (rc == 0 && tr) rc = weft_http_response_register_producer(req, &p, false);
  if (rc == 0 && tr) return;
  /* HEAD, an empty body, or a failure: finish now (a failure closes the connection, short of
   * its Content-Length). */
  weft_http_response_finish(req);
  close(fd);
  free(tr);
}

static void serve_opened(const weft_http_static *st, weft_http_request *req, int fd, const struct stat *sb,
                         const char *name) {
  validators v;
  make_validators(sb, &v);
  if (not_modified(req, &v)) {
    close(fd);
    weft_http_header h[2] = {{"ETag", v.etag}, {"Last-Modified", v.last_modified}};
    weft_http_respond(req, 304, h, 2, NULL, 0);
    return;
  }
  const char *type = weft_http_static_content_type(st, name);
  unsigned long long size = (unsigned long long)sb->st_size, start = 0, count = size;
  size_t rl;
  const char *range = weft_http_request_header(req, "Range", &rl);
  int kind = range && if_range_holds(req, &v) ? parse_range(range, rl, size, &start, &count) : RANGE_NONE;
  if (kind == RANGE_UNSATISFIABLE) {
    close(fd);
    char cr[48];
    snprintf(cr, sizeof cr, "bytes */%llu", size);
    weft_http_header h[2] = {{"Content-Range", cr}, {"Content-Type", "text/plain; charset=utf-8"}};
    static const char body[] = "Range Not Satisfiable\n";
    weft_http_respond(req, 416, h, 2, body, sizeof body - 1);
    return;
  }
  send_file(req, fd, kind == RANGE_ONE ? 206 : 200, type, &v, start, count, size, st->chunk);
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
  if (!why) why = join_path(st, path, len, full, sizeof full - 1);
  if (why) {
    refuse(req, 403, why);
    return;
  }
  struct stat sb;
  int fd = open_checked(st, full, &sb, &why);
  if (fd >= 0 && S_ISDIR(sb.st_mode)) {
    close(fd);
    size_t fl = strlen(full);
    if (!st->index || fl + 1 + strlen(st->index) >= sizeof full) {
      refuse(req, 404, "directory without an index");
      return;
    }
    snprintf(full + fl, sizeof full - fl, "%s%s", full[fl - 1] == '/' ? "" : "/", st->index);
    fd = open_checked(st, full, &sb, &why);
  }
  if (fd >= 0 && !S_ISREG(sb.st_mode)) {
    close(fd);
    fd = -404;
    why = "not a regular file";
  }
  if (fd < 0) {
    refuse(req, -fd, why);
    return;
  }
  serve_opened(st, req, fd, &sb, full);
}

void weft_http_static_route(weft_http_request *req, const weft_http_match *m, void *user) {
  const char *p = "";
  size_t len = 0;
  if (weft_http_route_param_str(m, "rest", &p, &len) != 0) p = weft_http_match_rest(m, &len);
  weft_http_static_serve(user, req, p ? p : "", p ? len : 0);
}
