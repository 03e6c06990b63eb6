/* Tests flow control in src/net/transport.c and stream.c over real TCP: a producer is paused
 * above the high-water mark and resumed at or below the low one (measured in bytes), memory
 * stays bounded by the marks while the reader is slow, and a pull producer is asked for more
 * each time the queue drains. */
#include "net_util.h"

#define TOTAL (16u * 1024u * 1024u)
#define PIECE (16u * 1024u)
#define HIGH (64u * 1024u)
#define LOW (16u * 1024u)

typedef struct producer_state {
  weft_transport *t;
  weft_reactor *r;
  bool streaming, paused, done;
  size_t sent;
  int pauses, resumes, stops;
  size_t max_buffered, buffered_at_pause_min, buffered_at_resume_max;
} producer_state;

static char piece[PIECE];

static void produce(void *arg) {
  producer_state *p = arg;
  while (!p->paused && p->sent < TOTAL && p->t) {
    CHECK_INT(weft_transport_write(p->t, piece, PIECE), 0);
    p->sent += PIECE;
    size_t b = weft_transport_buffered(p->t);
    if (b > p->max_buffered) p->max_buffered = b;
    if (!p->streaming) break; /* a pull producer writes one piece per resume */
  }
  if (p->sent >= TOTAL && !p->done && p->t) {
    p->done = true;
    weft_transport_unregister_producer(p->t);
    weft_transport_lose_connection(p->t);
  }
}

static void on_pause(void *u) {
  producer_state *p = u;
  p->paused = true;
  p->pauses++;
  size_t b = weft_transport_buffered(p->t);
  if (!p->buffered_at_pause_min || b < p->buffered_at_pause_min) p->buffered_at_pause_min = b;
}
static void on_resume(void *u) {
  producer_state *p = u;
  p->resumes++;
  size_t b = weft_transport_buffered(p->t);
  if (b > p->buffered_at_resume_max) p->buffered_at_resume_max = b;
  p->paused = false;
  produce(p); /* writing from inside resume_producing is allowed */
}
static void on_stop(void *u) { ((producer_state *)u)->stops++; }

static void server_made(weft_transport *t, void *u) {
  producer_state *p = u;
  p->t = t;
  CHECK_INT(weft_transport_set_water_marks(t, HIGH, LOW), 0);
  weft_producer prod = {on_pause, on_resume, on_stop, p};
  CHECK_INT(weft_transport_register_producer(t, &prod, p->streaming), 0);
  CHECK_INT(weft_transport_register_producer(t, &prod, p->streaming), WEFT_EBUSY);
  if (p->streaming) weft_reactor_call_soon(p->r, produce, p);
}
static void server_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  CHECK_INT(reason, WEFT_REASON_CLEAN);
  ((producer_state *)u)->t = NULL;
}
static const weft_protocol_callbacks server_callbacks = {
    .connection_made = server_made, .data_received = echo_data, .connection_lost = server_lost};
static int server_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &server_callbacks;
  out->user = u;
  return 0;
}

/* The slow reader: reads nothing for 0.2 s, then everything. */
typedef struct slow_reader {
  size_t got;
  bool lost;
  weft_transport *t;
} slow_reader;
static void resume_reader(void *arg) { weft_transport_resume_reading(((slow_reader *)arg)->t); }
static void reader_made(weft_transport *t, void *u) {
  slow_reader *s = u;
  s->t = t;
  weft_transport_pause_reading(t);
  weft_reactor_call_later(weft_transport_reactor(t), 0.2, resume_reader, s);
}
static void reader_data(weft_transport *t, const void *d, size_t n, void *u) {
  (void)t;
  (void)d;
  ((slow_reader *)u)->got += n;
}
static void reader_lost(weft_transport *t, int reason, void *u) {
  (void)t;
  (void)reason;
  ((slow_reader *)u)->lost = true;
}
static const weft_protocol_callbacks reader_callbacks = {
    .connection_made = reader_made, .data_received = reader_data, .connection_lost = reader_lost};
static int reader_build(void *u, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &reader_callbacks;
  out->user = u;
  return 0;
}

static void run_transfer(producer_state *p, slow_reader *s) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  p->r = r;
  weft_factory sf = {.build_protocol = server_build, .user = p};
  weft_factory cf = {.build_protocol = reader_build, .user = s};
  weft_listening_port *port = listen_local(r, &sf);
  weft_address to = loopback_of(port, "127.0.0.1");
  REQUIRE(weft_tcp_connect(NULL, r, &to, NULL, &cf) == 0);
  CHECK(turn_until(r, &s->lost, 20));
  weft_listening_port_close(port);
  close_reactor(r);
}

static void test_push_producer_paused_above_high_resumed_below_low(void) {
  producer_state p = {.streaming = true};
  slow_reader s = {0};
  run_transfer(&p, &s);
  CHECK_INT(s.got, TOTAL); /* nothing lost */
  CHECK(p.pauses >= 1);
  CHECK(p.resumes >= 1);
  /* paused only once above the high mark, resumed only once at or below the low mark */
  CHECK(p.buffered_at_pause_min > HIGH);
  CHECK(p.buffered_at_resume_max <= LOW);
  /* memory stayed bounded by the marks: at most one piece past the high mark */
  CHECK(p.max_buffered <= HIGH + PIECE);
  CHECK_INT(p.stops, 0); /* unregistered before the close, so never stopped */
  fprintf(stderr, "  %d pauses, %d resumes, max buffered %zu bytes (high %u, low %u)\n", p.pauses, p.resumes,
          p.max_buffered, HIGH, LOW);
}

static void test_pull_producer_asked_when_drained(void) {
  producer_state p = {.streaming = false};
  slow_reader s = {0};
  run_transfer(&p, &s);
  CHECK_INT(s.got, TOTAL);
  CHECK_INT(p.pauses, 0); /* a pull producer is never paused ... */
  CHECK(p.resumes >= (int)(TOTAL / PIECE)); /* ... it is asked for each piece */
  CHECK(p.max_buffered <= LOW + PIECE);
}

/* The transport's own producer: reading stops while paused. */
static void test_transport_as_producer_pauses_reading(void) {
  weft_reactor *r;
  REQUIRE(weft_reactor_new(&r, NULL) == 0);
  echo_server es = {0};
  weft_factory sf = echo_factory(&es);
  weft_listening_port *port = listen_local(r, &sf);
  client c = {0};
  dial(r, port, &c);
  CHECK(turn_until(r, &c.made, 5));
  weft_producer prod;
  weft_transport_as_producer(c.t, &prod);
  prod.pause_producing(prod.user);
  weft_transport_write(c.t, "ping", 4);
  for (int i = 0; i < 20; i++) weft_reactor_iterate(r, 0.005);
  CHECK_INT(c.ngot, 0); /* the echo is waiting in the kernel, not delivered */
  prod.resume_producing(prod.user);
  c.close_after = 4;
  CHECK(turn_until(r, &c.lost, 5));
  CHECK_MEM(c.got, c.ngot, "ping", 4);
  weft_listening_port_close(port);
  close_reactor(r);
}

int main(void) {
  RUN(test_push_producer_paused_above_high_resumed_below_low);
  RUN(test_pull_producer_asked_when_drained);
  RUN(test_transport_as_producer_pauses_reading);
  return CHECK_DONE();
}
