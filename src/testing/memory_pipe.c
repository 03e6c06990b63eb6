/* memory_pipe.c: two transports joined in memory, a connection with no socket (Twisted's
 * iosim.connect / loopback.loopbackAsync): what one end writes reaches the other on the reactor's
 * next turn, with flow control (bytes not yet delivered count as the writer's buffered output,
 * and a reader that paused reading holds them back). */
#include <string.h>

#include "base/alloc.h"
#include "net/transport_internal.h"
#include "weft/errors.h"
#include "weft/testing.h"

typedef struct mp_pair mp_pair;

typedef struct mp_end {
  weft_transport base;
  mp_pair *pair;
  int idx;
  char *in; /* what the other end wrote, not yet delivered here */
  size_t in_len, in_cap;
  weft__task task;
  weft_address peer, host;
  bool lost, made, lose_called, abort_pending;
  int pending_reason; /* set with abort_pending */
} mp_end;

struct mp_pair {
  mp_end e[2];
  weft_reactor *r;
  int alive;
};

#define OTHER(e) (&(e)->pair->e[1 - (e)->idx])

static void pair_maybe_free(mp_pair *p) {
  if (p->alive > 0) return;
  /* a task still queued frees the pair when it runs: it may be in the batch the reactor is
   * running now, which a cancel cannot take it out of (the batch would then step into freed
   * memory) */
  for (int i = 0; i < 2; i++)
    if (p->e[i].task.queued) return;
  for (int i = 0; i < 2; i++) weft__free(p->e[i].in);
  weft__handle_unref(p->r);
  weft__free(p);
}

static void end_lost(mp_end *e, int reason) {
  if (e->lost) return;
  e->lost = true;
  e->base.buffered = 0;
  weft__transport_lost(&e->base);
  if (e->made) weft__proto_lost(&e->base, reason);
  e->pair->alive--;
}

/* Delivers held input to e, then whatever close is due. */
static void deliver(mp_end *e) {
  mp_end *o = OTHER(e);
  /* in pieces of at most 64 KiB, as a socket read gives them, so a reader can pause midway */
  while (e->in_len && !e->lost && !e->base.reading_paused && !e->base.closing) {
    size_t n = e->in_len < 65536 ? e->in_len : 65536;
    char *data = weft__malloc(n);
    if (!data) break;
    memcpy(data, e->in, n);
    memmove(e->in, e->in + n, e->in_len - n);
    e->in_len -= n;
    if (e->base.proto.cb->data_received) e->base.proto.cb->data_received(&e->base, data, n, e->base.proto.user);
    weft__free(data);
    if (!o->lost) {
      o->base.buffered = o->base.buffered > n ? o->base.buffered - n : 0;
      weft__transport_buffer_changed(&o->base);
    }
  }
  if (e->abort_pending) {
    e->abort_pending = false;
    end_lost(e, e->pending_reason);
  }
  /* the other end closed and everything it sent arrived (or we are closing anyway): both go */
  if (!e->lost && ((o->lose_called && e->in_len == 0) || o->lost)) end_lost(e, 0);
  if (!o->lost && o->lose_called && e->lost) end_lost(o, 0);
  /* we asked to close and the other end has taken everything we wrote */
  if (!e->lost && e->lose_called && o->in_len == 0) {
    end_lost(e, 0);
    if (!o->lost) end_lost(o, 0);
  }
}

static void task_fn(weft__task *t) {
  mp_end *e = (mp_end *)((char *)t - offsetof(mp_end, task));
  mp_pair *p = e->pair;
  deliver(e);
  pair_maybe_free(p);
}

static void kick(mp_end *e) {
  if (!e->task.queued) weft__task_queue(e->pair->r, &e->task);
}

static int m_write(weft_transport *t, const struct iovec *iov, int iovcnt, size_t total) {
  mp_end *e = (mp_end *)t, *o = OTHER(e);
  if (o->lost) return 0; /* the bytes go nowhere, as into a reset socket */
  if (o->in_len + total > o->in_cap) {
    size_t cap = o->in_cap ? o->in_cap : 4096;
    while (cap < o->in_len + total) cap *= 2;
    char *np = weft__realloc(o->in, cap);
    if (!np) return WEFT_ENOMEM;
    o->in = np;
    o->in_cap = cap;
  }
  for (int i = 0; i < iovcnt; i++) {
    memcpy(o->in + o->in_len, iov[i].iov_base, iov[i].iov_len);
    o->in_len += iov[i].iov_len;
  }
  t->buffered += total;
  weft__transport_buffer_changed(t);
  kick(o);
  return 0;
}

static void m_lose(weft_transport *t) {
  mp_end *e = (mp_end *)t;
  e->lose_called = true;
  kick(e);
  kick(OTHER(e));
}

static void m_abort(weft_transport *t) {
  mp_end *e = (mp_end *)t, *o = OTHER(e);
  if (e->lost) return;
  e->abort_pending = true;
  e->pending_reason = WEFT_EABORTED;
  t->buffered = 0;
  o->in_len = 0; /* what we wrote is discarded */
  if (!o->lost) {
    o->abort_pending = true;
    o->pending_reason = WEFT_ECONNRESET;
    kick(o);
  }
  kick(e);
}

static int m_shutdown_write(weft_transport *t) {
  (void)t;
  return WEFT_ENOTSUP;
}

static void m_set_reading(weft_transport *t, bool on) {
  mp_end *e = (mp_end *)t;
  if (on && e->in_len) kick(e);
}

static int m_get_peer(weft_transport *t, weft_address *out) {
  *out = ((mp_end *)t)->peer;
  return 0;
}

static int m_get_host(weft_transport *t, weft_address *out) {
  *out = ((mp_end *)t)->host;
  return 0;
}

static int m_set_option(weft_transport *t, int option, bool on) {
  (void)t, (void)option, (void)on;
  return WEFT_ENOTSUP;
}

static const weft__transport_ops pipe_ops = {
    .write = m_write,
    .lose_connection = m_lose,
    .abort_connection = m_abort,
    .shutdown_write = m_shutdown_write,
    .set_reading = m_set_reading,
    .get_peer = m_get_peer,
    .get_host = m_get_host,
    .set_option = m_set_option,
};

int weft_memory_pipe_connect(weft_reactor *r, const weft_factory *client, const weft_factory *server) {
  if (!r || !client || !server || !client->build_protocol || !server->build_protocol) return WEFT_EINVAL;
  mp_pair *p = weft__calloc(1, sizeof *p);
  if (!p) return WEFT_ENOMEM;
  p->r = r;
  weft_address ca, sa;
  weft_address_from_ip(&ca, "127.0.0.1", 54321);
  weft_address_from_ip(&sa, "127.0.0.1", 80);
  for (int i = 0; i < 2; i++) {
    mp_end *e = &p->e[i];
    weft__transport_init(&e->base, &pipe_ops, r);
    e->pair = p;
    e->idx = i;
    e->task.fn = task_fn;
    e->host = i == 0 ? ca : sa;
    e->peer = i == 0 ? sa : ca;
  }
  /* e[0] is the client's end, e[1] the server's */
  int rc = server->build_protocol(server->user, &ca, &p->e[1].base.proto);
  if (rc) {
    weft__free(p);
    return rc;
  }
  rc = client->build_protocol(client->user, &sa, &p->e[0].base.proto);
  weft__handle_ref(r);
  p->alive = 2;
  p->e[1].made = true;
  weft__proto_made(&p->e[1].base);
  if (rc) {
    /* the client refused: the server sees the connection go at once */
    p->e[0].lost = true;
    p->alive--;
    end_lost(&p->e[1], WEFT_ECONNRESET);
    pair_maybe_free(p);
    return rc;
  }
  p->e[0].made = true;
  weft__proto_made(&p->e[0].base);
  return 0;
}
