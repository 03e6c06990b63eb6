/* http_static_send.c: a static file's body on its way out (twisted.web.static's
 * NoRangeStaticProducer, SingleRangeStaticProducer and MultipleRangeStaticProducer in one):
 * small bodies in one write, big file ranges by sendfile(2) where the connection is a plain
 * socket, else read piece by piece by a pull producer as the connection drains. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "web/http_internal.h"
#include "web/http_static_internal.h"
#include "weft/log.h"

/* File bytes queued per sendfile step. Nothing is held in memory for them, so they may be more
 * than a read piece; they count in the connection's queued bytes, so a slow reader still holds
 * at most about this plus the high-water mark queued. */
#define SENDFILE_PIECE (256u * 1024u)

int weft__http_response_sendfile(weft_http_request *req, int fd, off_t off, size_t len) {
  if (req->phase != WEFT__HTTP_STARTED && req->phase != WEFT__HTTP_SENT) return WEFT_ESTATE;
  weft__http_conn *c = req->conn;
  if (c->lost) return WEFT_ECLOSED;
  int rc = weft_transport_sendfile(c->t, fd, off, 0); /* can it? before the head goes */
  if (rc) return rc;
  if (req->phase == WEFT__HTTP_STARTED && (rc = weft_http_response_write(req, NULL, 0)) != 0) return rc;
  if (req->no_body || len == 0) return 0;
  if (req->chunked) return WEFT_ENOTSUP;
  if (req->has_length && len > req->length - req->written) return WEFT_EINVAL;
  rc = weft_transport_sendfile(c->t, fd, off, len);
  if (rc == 0) req->written += len;
  return rc;
}

typedef struct transfer {
  weft_http_request *req;
  weft__sfile *f;
  size_t chunk;
  bool sendfile;    /* file pieces go by sendfile until the connection says it cannot */
  size_t n, i;      /* pieces, and the one being sent */
  uint64_t done;    /* bytes of pieces[i] sent */
  char *buf;        /* chunk bytes for reads, made when first needed */
  weft__piece pieces[];
} transfer;

static void transfer_end(transfer *tr) {
  weft_http_response_finish(tr->req);
  weft__sfile_unref(tr->f);
  weft__free(tr->buf);
  weft__free(tr);
}

static void read_failed(weft_http_request *req, ssize_t n) {
  weft_log_emit(weft_reactor_log(weft_http_request_reactor(req)), WEFT_LOG_WARN, "weft.http.static",
                "file ended early or failed to read: {error}", WEFT_LOG_ERR("error", n < 0 ? -errno : WEFT_EIO),
                WEFT_LOG_END);
}

/* Sends the next step of a file piece: one sendfile piece or one read. Returns 0, or an error
 * that ends the transfer (WEFT_ECLOSED: the connection is going, stop_producing follows). */
static int file_step(transfer *tr, const weft__piece *p) {
  uint64_t left = p->count - tr->done;
  off_t at = (off_t)(p->off + tr->done);
  if (tr->sendfile) {
    size_t piece = tr->chunk > SENDFILE_PIECE ? tr->chunk : SENDFILE_PIECE;
    size_t want = left < piece ? (size_t)left : piece;
    int rc = weft__http_response_sendfile(tr->req, tr->f->fd, at, want);
    if (rc != WEFT_ENOTSUP) {
      if (rc == 0) tr->done += want;
      return rc;
    }
    tr->sendfile = false;
  }
  if (!tr->buf && !(tr->buf = weft__malloc(tr->chunk))) return WEFT_ENOMEM;
  size_t want = left < tr->chunk ? (size_t)left : tr->chunk;
  ssize_t n = pread(tr->f->fd, tr->buf, want, at);
  if (n <= 0) { /* a read error or the file shrank: finish short, which closes the connection */
    read_failed(tr->req, n);
    return WEFT_EIO;
  }
  int rc = weft_http_response_write(tr->req, tr->buf, (size_t)n);
  if (rc == 0) tr->done += (uint64_t)n;
  return rc;
}

static void tr_pause(void *user) { (void)user; }

/* One step per call: text pieces (small) go with the file step that follows them. */
static void tr_resume(void *user) {
  transfer *tr = user;
  int rc = 0;
  while (rc == 0 && tr->i < tr->n) {
    const weft__piece *p = &tr->pieces[tr->i];
    bool text = p->text != NULL;
    if (text) {
      rc = weft_http_response_write(tr->req, p->text, (size_t)p->count);
      if (rc == 0) tr->done = p->count;
    } else {
      rc = file_step(tr, p);
    }
    if (rc == 0 && tr->done == p->count) {
      tr->i++;
      tr->done = 0;
    }
    if (!text) break;
  }
  if (rc == WEFT_ECLOSED) return; /* stop_producing ends it when the connection is gone */
  if (rc != 0 || tr->i == tr->n) transfer_end(tr);
}

static void tr_stop(void *user) { transfer_end(user); }

/* The whole body read into one buffer and written at once. */
static int send_small(weft_http_request *req, weft__sfile *f, const weft__piece *pieces, size_t n, uint64_t total) {
  char *b = weft__malloc(total ? (size_t)total : 1);
  if (!b) return WEFT_ENOMEM;
  size_t at = 0;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    size_t len = (size_t)pieces[i].count;
    if (pieces[i].text) {
      memcpy(b + at, pieces[i].text, len);
    } else {
      ssize_t r = len ? pread(f->fd, b + at, len, (off_t)pieces[i].off) : 0;
      if (r != (ssize_t)len) {
        read_failed(req, r);
        rc = WEFT_EIO;
      }
    }
    at += len;
  }
  if (rc == 0) rc = weft_http_response_write(req, b, at);
  weft__free(b);
  return rc;
}

int weft__static_send(weft_http_request *req, weft__sfile *f, const weft__piece *pieces, size_t n, size_t chunk) {
  uint64_t total = 0, text_bytes = 0;
  for (size_t i = 0; i < n; i++) {
    total += pieces[i].count;
    if (pieces[i].text) text_bytes += pieces[i].count;
  }
  size_t ml;
  const char *m = weft_http_request_method(req, &ml);
  if ((ml == 4 && memcmp(m, "HEAD", 4) == 0) || total == 0) {
    weft_http_response_finish(req);
    return 0;
  }
  if (total <= chunk) {
    int rc = send_small(req, f, pieces, n, total);
    weft_http_response_finish(req);
    return rc == WEFT_ECLOSED ? 0 : rc;
  }
  transfer *tr = weft__malloc(sizeof *tr + n * sizeof tr->pieces[0] + (size_t)text_bytes);
  if (!tr) {
    weft_http_response_finish(req);
    return WEFT_ENOMEM;
  }
  *tr = (transfer){.req = req, .f = f, .chunk = chunk, .sendfile = true, .n = n};
  char *text = (char *)(tr->pieces + n);
  for (size_t i = 0; i < n; i++) {
    tr->pieces[i] = pieces[i];
    if (!pieces[i].text) continue;
    memcpy(text, pieces[i].text, (size_t)pieces[i].count);
    tr->pieces[i].text = text;
    text += pieces[i].count;
  }
  weft__sfile_ref(f);
  weft_producer p = {tr_pause, tr_resume, tr_stop, tr};
  int rc = weft_http_response_register_producer(req, &p, false);
  if (rc) transfer_end(tr); /* finishes short, which closes the connection */
  return rc == WEFT_ECLOSED ? 0 : rc;
}
