/* string_transport.c: a transport that keeps its output in memory and is fed by the test
 * (Twisted's proto_helpers.StringTransport).
 *
 * It implements the same operations table as the socket stream, and leaves the shared parts
 * (closing state, refusing writes, water marks, producers) to transport.c, so a protocol sees
 * exactly the behaviour it will see on TCP. What a socket does by itself (bytes arriving, the
 * peer closing, output leaving) happens here only when the test says so. */
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "net/transport_internal.h"
#include "weft/errors.h"
#include "weft/testing.h"

typedef struct byte_buf {
  char *data;
  size_t len, cap;
} byte_buf;

struct weft_string_transport {
  weft_transport base;
  byte_buf out;          /* everything written since the last clear, NUL-terminated */
  byte_buf in;           /* fed while reading was paused, not yet delivered */
  weft__task input_task; /* delivers held input on the reactor's next turn */
  weft_address peer, host;
  int lost_reason;
  bool attached, lost, lose_called, aborted, manual_drain;
  bool read_eof, eof_pending, write_done, nodelay, keepalive;
};

#define FROM_TASK(task) \
  ((weft_string_transport *)((char *)(task) - offsetof(weft_string_transport, input_task)))

/* Appends len bytes, keeping a NUL after them. */
static int buf_append(byte_buf *b, const void *data, size_t len) {
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len + 1) cap *= 2;
    char *p = weft__realloc(b->data, cap);
    if (!p) return WEFT_ENOMEM;
    b->data = p;
    b->cap = cap;
  }
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

/* ---- the transport table ---- */

static int s_write(weft_transport *t, const struct iovec *iov, int iovcnt, size_t total) {
  weft_string_transport *st = (weft_string_transport *)t;
  size_t before = st->out.len;
  for (int i = 0; i < iovcnt; i++) {
    if (buf_append(&st->out, iov[i].iov_base, iov[i].iov_len)) {
      st->out.len = before; /* all or nothing, as a queued write */
      if (st->out.data) st->out.data[before] = '\0';
      return WEFT_ENOMEM;
    }
  }
  if (st->manual_drain) t->buffered += total;
  /* as after a socket flush: a pull producer is asked for more, a streaming one paused above the
   * high mark */
  weft__transport_buffer_changed(t);
  return 0;
}

static void s_lose(weft_transport *t) {
  /* transport.c has marked it closing and dropped a streaming producer; the test calls finish */
  ((weft_string_transport *)t)->lose_called = true;
}

static void s_abort(weft_transport *t) {
  weft_string_transport *st = (weft_string_transport *)t;
  if (st->lost) return;
  st->aborted = true;
  t->buffered = 0; /* queued output is discarded */
  weft__transport_lost(t); /* closing, and the producer stopped now, as a stream does */
}

static int s_shutdown_write(weft_transport *t) {
  (void)t; /* write_shut is set by transport.c; write_connection_lost comes from finish */
  return 0;
}

static void s_set_reading(weft_transport *t, bool on) {
  weft_string_transport *st = (weft_string_transport *)t;
  /* never re-entrantly inside resume_reading: on the next turn, as a socket turning readable */
  if (on && (st->in.len > 0 || st->eof_pending) && t->r) weft__task_queue(t->r, &st->input_task);
}

static int s_address(const weft_address *a, weft_address *out) {
  if (a->len == 0) return WEFT_ENOTSUP;
  *out = *a;
  return 0;
}

static int s_get_peer(weft_transport *t, weft_address *out) {
  return s_address(&((weft_string_transport *)t)->peer, out);
}

static int s_get_host(weft_transport *t, weft_address *out) {
  return s_address(&((weft_string_transport *)t)->host, out);
}

static int s_set_option(weft_transport *t, int option, bool on) {
  weft_string_transport *st = (weft_string_transport *)t;
  if (option == WEFT__OPT_NODELAY) st->nodelay = on;
  else if (option == WEFT__OPT_KEEPALIVE) st->keepalive = on;
  else return WEFT_EINVAL;
  return 0;
}

static const weft__transport_ops string_ops = {
    .write = s_write,
    .lose_connection = s_lose,
    .abort_connection = s_abort,
    .shutdown_write = s_shutdown_write,
    .set_reading = s_set_reading,
    .get_peer = s_get_peer,
    .get_host = s_get_host,
    .set_option = s_set_option,
};

/* ---- input: bytes, end of input, connection loss ---- */

static void do_eof(weft_string_transport *st);

/* Delivers held input (then a held end of input) while reading is on and the connection open. */
static void deliver_input(weft_string_transport *st) {
  weft_transport *t = &st->base;
  while (st->in.len > 0 && !t->reading_paused && !t->closing) {
    /* take the buffer: data_received may pause, and the bytes must stay valid during the call */
    byte_buf held = st->in;
    memset(&st->in, 0, sizeof st->in);
    if (t->proto.cb->data_received) t->proto.cb->data_received(t, held.data, held.len, t->proto.user);
    if (!st->in.data) {
      held.len = 0;
      st->in = held; /* keep the allocation for the next pause */
    } else {
      weft__free(held.data);
    }
  }
  if (st->eof_pending && st->in.len == 0 && !t->reading_paused && !t->closing) do_eof(st);
}

static void input_task(weft__task *task) { deliver_input(FROM_TASK(task)); }

static int input_refused(const weft_string_transport *st) {
  if (!st->attached) return WEFT_ESTATE;
  /* a closing transport stops reading, as a stream does after lose_connection */
  if (st->base.closing || st->read_eof || st->eof_pending) return WEFT_ECLOSED;
  return 0;
}

int weft_string_transport_feed(weft_string_transport *st, const void *data, size_t len) {
  int rc = input_refused(st);
  if (rc == WEFT_ECLOSED && len == 0 && st->eof_pending && !st->base.closing) rc = 0; /* deliver held */
  if (rc) return rc;
  weft_transport *t = &st->base;
  if (t->reading_paused || st->in.len > 0) {
    if (len && (rc = buf_append(&st->in, data, len)) != 0) return rc;
    deliver_input(st);
    return 0;
  }
  if (len && t->proto.cb->data_received) t->proto.cb->data_received(t, data, len, t->proto.user);
  return 0;
}

static void do_eof(weft_string_transport *st) {
  weft_transport *t = &st->base;
  st->read_eof = true;
  st->eof_pending = false;
  if (t->proto.cb->read_connection_lost) {
    t->proto.cb->read_connection_lost(t, t->proto.user);
    /* both directions done: the stream closes cleanly */
    if (st->write_done && !st->lost) weft_string_transport_close(st, WEFT_REASON_CLEAN);
  } else {
    weft_transport_lose_connection(t);
    if (!st->lost) weft_string_transport_close(st, WEFT_REASON_CLEAN);
  }
}

int weft_string_transport_feed_eof(weft_string_transport *st) {
  int rc = input_refused(st);
  if (rc) return rc;
  st->eof_pending = true;
  deliver_input(st);
  return 0;
}

int weft_string_transport_close(weft_string_transport *st, int reason) {
  if (!st->attached) return WEFT_ESTATE;
  if (st->lost) return WEFT_EALREADY;
  weft_transport *t = &st->base;
  st->lost = true;
  st->lost_reason = reason;
  t->buffered = 0;
  st->in.len = 0;
  st->eof_pending = false;
  if (t->r) weft__task_cancel(t->r, &st->input_task);
  weft__transport_lost(t);
  weft__proto_lost(t, reason);
  return 0;
}

int weft_string_transport_finish(weft_string_transport *st) {
  if (!st->attached) return WEFT_ESTATE;
  if (st->lost) return WEFT_EALREADY;
  if (st->aborted) return weft_string_transport_close(st, WEFT_EABORTED);
  if (st->lose_called) return weft_string_transport_close(st, WEFT_REASON_CLEAN);
  if (st->base.write_shut && !st->write_done) {
    weft_transport *t = &st->base;
    st->write_done = true;
    if (t->proto.cb->write_connection_lost) t->proto.cb->write_connection_lost(t, t->proto.user);
    if (st->read_eof && !st->lost) weft_string_transport_close(st, WEFT_REASON_CLEAN);
    return 0;
  }
  return WEFT_ESTATE;
}

/* ---- life cycle ---- */

int weft_string_transport_new(weft_string_transport **out, weft_reactor *r) {
  weft_string_transport *st = weft__calloc(1, sizeof *st);
  if (!st) return WEFT_ENOMEM;
  weft__transport_init(&st->base, &string_ops, r);
  st->input_task.fn = input_task;
  weft_address_from_ip(&st->host, "127.0.0.1", 12345);
  weft_address_from_ip(&st->peer, "127.0.0.1", 54321);
  if (r) weft__handle_ref(r);
  *out = st;
  return 0;
}

void weft_string_transport_free(weft_string_transport *st) {
  if (!st) return;
  weft_reactor *r = st->base.r;
  if (st->attached && !st->lost)
    weft_string_transport_close(st, st->lose_called && !st->aborted ? WEFT_REASON_CLEAN : WEFT_EABORTED);
  else if (st->base.has_producer)
    weft__transport_lost(&st->base);
  if (r) {
    weft__task_cancel(r, &st->input_task);
    weft__task_cancel(r, &st->base.pull_task);
    weft__handle_unref(r);
  }
  weft__free(st->out.data);
  weft__free(st->in.data);
  weft__free(st);
}

weft_transport *weft_string_transport_transport(weft_string_transport *st) { return &st->base; }

int weft_string_transport_attach(weft_string_transport *st, const weft_protocol *p) {
  if (st->attached) return WEFT_ESTATE;
  if (!p || !p->cb) return WEFT_EINVAL;
  st->base.proto = *p;
  st->attached = true;
  weft__proto_made(&st->base);
  return 0;
}

int weft_string_transport_attach_factory(weft_string_transport *st, const weft_factory *f) {
  if (st->attached) return WEFT_ESTATE;
  if (!f || !f->build_protocol) return WEFT_EINVAL;
  weft_protocol p = {0};
  int rc = f->build_protocol(f->user, st->peer.len ? &st->peer : NULL, &p);
  if (rc) return rc;
  return weft_string_transport_attach(st, &p);
}

/* ---- output and flow control ---- */

const char *weft_string_transport_value(const weft_string_transport *st) {
  return st->out.data ? st->out.data : "";
}

size_t weft_string_transport_len(const weft_string_transport *st) { return st->out.len; }

void weft_string_transport_clear(weft_string_transport *st) {
  st->out.len = 0;
  if (st->out.data) st->out.data[0] = '\0';
}

void weft_string_transport_set_manual_drain(weft_string_transport *st, bool on) {
  st->manual_drain = on;
  if (!on) weft_string_transport_drain(st, SIZE_MAX);
}

size_t weft_string_transport_drain(weft_string_transport *st, size_t n) {
  weft_transport *t = &st->base;
  size_t take = n < t->buffered ? n : t->buffered;
  if (take == 0) return 0;
  t->buffered -= take;
  weft__transport_buffer_changed(t);
  return take;
}

/* ---- state ---- */

bool weft_string_transport_connected(const weft_string_transport *st) { return st->attached && !st->lost; }
bool weft_string_transport_disconnecting(const weft_string_transport *st) {
  return st->lose_called || st->aborted;
}
bool weft_string_transport_aborted(const weft_string_transport *st) { return st->aborted; }
bool weft_string_transport_write_shut(const weft_string_transport *st) { return st->base.write_shut; }
bool weft_string_transport_reading_paused(const weft_string_transport *st) { return st->base.reading_paused; }
bool weft_string_transport_has_producer(const weft_string_transport *st) { return st->base.has_producer; }
bool weft_string_transport_producer_streaming(const weft_string_transport *st) {
  return st->base.has_producer && st->base.streaming;
}
bool weft_string_transport_producer_paused(const weft_string_transport *st) {
  return st->base.has_producer && st->base.producer_paused;
}
bool weft_string_transport_nodelay(const weft_string_transport *st) { return st->nodelay; }
bool weft_string_transport_keepalive(const weft_string_transport *st) { return st->keepalive; }

bool weft_string_transport_lost(const weft_string_transport *st, int *reason) {
  if (st->lost && reason) *reason = st->lost_reason;
  return st->lost;
}

void weft_string_transport_set_peer(weft_string_transport *st, const weft_address *a) {
  if (a) st->peer = *a;
  else memset(&st->peer, 0, sizeof st->peer);
}

void weft_string_transport_set_host(weft_string_transport *st, const weft_address *a) {
  if (a) st->host = *a;
  else memset(&st->host, 0, sizeof st->host);
}
