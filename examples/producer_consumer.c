/* producer_consumer.c: a fast producer, a slow consumer, and the transport between them pausing
 * the one for the other (Twisted's IPushProducer registered with transport.registerProducer).
 *
 * The server streams 8 MiB to the client through a producer registered with its transport. The
 * client reads slowly: it takes a slice, stops reading (weft_transport_pause_reading), naps on a
 * timer, reads again. The kernel buffers fill, then the transport's queue passes its high-water
 * mark and the transport pauses the producer; when the client has drained the queue below the
 * low-water mark the transport resumes it. The producer prints each pause and resume with the
 * bytes queued (weft_transport_buffered), so the server's memory stays near the marks however
 * slow the client is; the client checks that every byte arrived, in order. On loopback the
 * kernel's socket buffers take megabytes first, so the early pauses last one reactor turn (the
 * producer writes until paused, the queue is flushed at the end of the turn); the later ones
 * last as long as the client naps.
 *
 * Run:
 *   producer_consumer                 demo: 8 MiB on 127.0.0.1 (a free port), under a second
 *   producer_consumer --mebibytes 32  more data
 *   producer_consumer --nap 0         a client that reads as fast as it can */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/errors.h"
#include "weft/tcp.h"
#include "weft/transport.h"

#define CHUNK (16 * 1024)        /* what the producer writes at a time */
#define SLICE (256 * 1024)       /* what the client reads between naps */

typedef struct demo demo;

typedef struct producer {
  demo *d;
  weft_transport *t;
  weft_delayed_call *soon; /* the next produce() */
  size_t sent;
  bool paused;
  double paused_at; /* reactor time of the last pause */
  unsigned pauses, resumes;
  size_t max_buffered;
} producer;

typedef struct consumer {
  demo *d;
  weft_transport *t;
  weft_delayed_call *wake; /* the end of the current nap */
  size_t received, slice;
  size_t bad; /* bytes that were not what the producer wrote there */
  unsigned naps;
} consumer;

struct demo {
  weft_reactor *r;
  weft_listening_port *port;
  size_t total; /* bytes to stream */
  double nap;   /* seconds the client sleeps between slices */
  int open;     /* connections not yet lost */
  producer prod;
  consumer cons;
};

/* The byte at offset i of the stream. 251 is prime, so a chunk lost, doubled or swapped (all
 * power-of-two sized) shifts the pattern and is caught. */
static unsigned char pattern(size_t i) { return (unsigned char)(i % 251); }

static void conn_lost(demo *d) {
  if (--d->open == 0) weft_reactor_stop(d->r);
}

/* ---- the server: a push producer ---- */

/* Writes until paused or done. Each write may pause us at once (above the high-water mark). */
static void produce(void *arg) {
  producer *p = arg;
  p->soon = NULL;
  unsigned char chunk[CHUNK];
  while (!p->paused && p->sent < p->d->total) {
    size_t n = p->d->total - p->sent < CHUNK ? p->d->total - p->sent : CHUNK;
    for (size_t i = 0; i < n; i++) chunk[i] = pattern(p->sent + i);
    p->sent += n;
    weft_transport_write(p->t, chunk, n);
    size_t queued = weft_transport_buffered(p->t);
    if (queued > p->max_buffered) p->max_buffered = queued;
  }
  if (p->sent == p->d->total) {
    printf("producer: all %zu bytes written; paused %u times, resumed %u times, at most %zu bytes queued\n",
           p->sent, p->pauses, p->resumes, p->max_buffered);
    weft_transport_unregister_producer(p->t);
    weft_transport_lose_connection(p->t); /* closes once the queue is sent */
  }
}

static void pause_producing(void *user) {
  producer *p = user;
  p->paused = true;
  p->paused_at = weft_reactor_seconds(p->d->r);
  p->pauses++;
  printf("producer: paused with %zu bytes queued (%zu of %zu written)\n", weft_transport_buffered(p->t),
         p->sent, p->d->total);
}

/* Called by the transport while it flushes: produce on the next turn rather than inside it. */
static void resume_producing(void *user) {
  producer *p = user;
  p->paused = false;
  p->resumes++;
  printf("producer: resumed with %zu bytes queued, after %.3f s\n", weft_transport_buffered(p->t),
         weft_reactor_seconds(p->d->r) - p->paused_at);
  if (!p->soon) p->soon = weft_reactor_call_soon(p->d->r, produce, p);
}

static void stop_producing(void *user) {
  producer *p = user;
  if (p->soon) weft_delayed_call_cancel(p->soon);
  p->soon = NULL;
  printf("producer: stopped after %zu bytes: the connection is gone\n", p->sent);
}

static void server_made(weft_transport *t, void *user) {
  producer *p = user;
  weft_producer wp = {.pause_producing = pause_producing, .resume_producing = resume_producing,
                      .stop_producing = stop_producing, .user = p};
  p->t = t;
  weft_transport_register_producer(t, &wp, true); /* true: a push (streaming) producer */
  p->soon = weft_reactor_call_soon(p->d->r, produce, p);
}

static void server_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t, (void)data, (void)len, (void)user; /* the client sends nothing */
}

static void server_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  producer *p = user;
  if (reason != WEFT_REASON_CLEAN) printf("server: connection lost: %s\n", weft_strerror(reason));
  conn_lost(p->d);
}

static const weft_protocol_callbacks server_callbacks = {
    .connection_made = server_made,
    .data_received = server_data,
    .connection_lost = server_lost,
};

static int server_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  demo *d = user;
  weft_listening_port_close(d->port); /* the demo serves one client */
  d->port = NULL;
  d->open++;
  *out = (weft_protocol){.cb = &server_callbacks, .user = &d->prod};
  return 0;
}

/* ---- the client: a slow consumer ---- */

static void wake_up(void *arg) {
  consumer *c = arg;
  c->wake = NULL;
  weft_transport_resume_reading(c->t);
}

static void client_made(weft_transport *t, void *user) {
  consumer *c = user;
  c->t = t;
}

static void client_data(weft_transport *t, const void *data, size_t len, void *user) {
  consumer *c = user;
  const unsigned char *b = data;
  for (size_t i = 0; i < len; i++)
    if (b[i] != pattern(c->received + i)) c->bad++;
  c->received += len;
  c->slice += len;
  if (c->slice >= SLICE && c->d->nap > 0) { /* enough for now: nap, let the server back up */
    c->slice = 0;
    c->naps++;
    weft_transport_pause_reading(t);
    c->wake = weft_reactor_call_later(c->d->r, c->d->nap, wake_up, c);
  }
}

static void client_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  consumer *c = user;
  if (c->wake) weft_delayed_call_cancel(c->wake);
  c->wake = NULL;
  if (reason != WEFT_REASON_CLEAN) printf("client: connection lost: %s\n", weft_strerror(reason));
  printf("client: received %zu of %zu bytes in %u naps, %s\n", c->received, c->d->total, c->naps,
         c->bad == 0 && c->received == c->d->total ? "all intact" : "NOT intact");
  conn_lost(c->d);
}

static const weft_protocol_callbacks client_callbacks = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = client_lost,
};

static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  demo *d = user;
  d->open++;
  *out = (weft_protocol){.cb = &client_callbacks, .user = &d->cons};
  return 0;
}

static void client_failed(void *user, int reason) {
  demo *d = user;
  printf("client: cannot connect: %s\n", weft_strerror(reason));
  weft_listening_port_close(d->port);
  d->port = NULL;
  weft_reactor_stop(d->r);
}

/* ---- main ---- */

static int usage(void) {
  fprintf(stderr, "usage: producer_consumer [--mebibytes N] [--nap MILLISECONDS]\n");
  return 2;
}

static int run(demo *d) {
  weft_factory server_factory = {.build_protocol = server_build, .user = d};
  weft_factory client_factory = {.build_protocol = client_build, .connection_failed = client_failed, .user = d};
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  weft_address where;
  int rc = weft_tcp_listen(&d->port, d->r, 0, &lo, &server_factory);
  if (rc == 0 && (rc = weft_listening_port_address(d->port, &where)) == 0)
    rc = weft_tcp_connect(NULL, d->r, &where, NULL, &client_factory);
  if (rc == 0) weft_reactor_run(d->r);
  if (d->port) weft_listening_port_close(d->port);
  return rc;
}

int main(int argc, char **argv) {
  demo d = {.total = 8u << 20, .nap = 0.02};
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) return usage();
    if (strcmp(argv[i], "--mebibytes") == 0) d.total = (size_t)atoi(argv[++i]) << 20;
    else if (strcmp(argv[i], "--nap") == 0) d.nap = atoi(argv[++i]) / 1000.0;
    else return usage();
  }
  if (d.total == 0 || d.total > (1024u << 20) || d.nap < 0) return usage();
  d.prod.d = d.cons.d = &d;
  setvbuf(stdout, NULL, _IOLBF, 0);

  int rc = weft_reactor_new(&d.r, NULL);
  if (rc == 0) rc = run(&d);
  if (rc) fprintf(stderr, "producer_consumer: %s\n", weft_strerror(rc));
  if (d.r && weft_reactor_free(d.r) != 0) fprintf(stderr, "producer_consumer: handles left open\n");
  bool ok = rc == 0 && d.cons.received == d.total && d.cons.bad == 0;
  return ok ? 0 : 1;
}
