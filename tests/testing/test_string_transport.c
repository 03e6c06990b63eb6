/* Tests src/testing/string_transport.c: output capture, feeding input, closing as the test
 * decides, and flow control measured in bytes, as a protocol author relies on them. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/testing.h"

/* A protocol that records what happens to it and can be told how to react. */
typedef struct recorder {
  int made, lost, read_eof, write_lost;
  int lost_reason;
  char got[256];
  size_t got_len;
  bool echo;             /* write back what arrives */
  bool lose_on_data;     /* write "bye" then lose_connection on the first data */
  bool write_in_lost;    /* try to write inside connection_lost */
  int write_in_lost_rc;
  const char *greeting;  /* written in connection_made */
} recorder;

static void rec_made(weft_transport *t, void *user) {
  recorder *rc = user;
  rc->made++;
  if (rc->greeting) weft_transport_write(t, rc->greeting, strlen(rc->greeting));
}

static void rec_data(weft_transport *t, const void *data, size_t len, void *user) {
  recorder *rc = user;
  if (rc->got_len + len <= sizeof rc->got) {
    memcpy(rc->got + rc->got_len, data, len);
    rc->got_len += len;
  }
  if (rc->echo) weft_transport_write(t, data, len);
  if (rc->lose_on_data) {
    weft_transport_write(t, "bye", 3);
    weft_transport_lose_connection(t);
  }
}

static void rec_lost(weft_transport *t, int reason, void *user) {
  recorder *rc = user;
  rc->lost++;
  rc->lost_reason = reason;
  if (rc->write_in_lost) rc->write_in_lost_rc = weft_transport_write(t, "late", 4);
}

static void rec_read_eof(weft_transport *t, void *user) {
  recorder *rc = user;
  rc->read_eof++;
  /* a half-closing protocol answers and shuts its own side */
  weft_transport_write(t, "done", 4);
  weft_transport_shutdown_write(t);
}

static void rec_write_lost(weft_transport *t, void *user) {
  (void)t;
  ((recorder *)user)->write_lost++;
}

static const weft_protocol_callbacks rec_cb = {
    .connection_made = rec_made, .data_received = rec_data, .connection_lost = rec_lost};
static const weft_protocol_callbacks half_close_cb = {.connection_made = rec_made,
                                                      .data_received = rec_data,
                                                      .connection_lost = rec_lost,
                                                      .read_connection_lost = rec_read_eof,
                                                      .write_connection_lost = rec_write_lost};

static weft_string_transport *attached(weft_reactor *r, recorder *rc, const weft_protocol_callbacks *cb) {
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, r) == 0);
  weft_protocol p = {cb, rc};
  REQUIRE(weft_string_transport_attach(st, &p) == 0);
  return st;
}

static void test_write_read_back_and_clear(void) {
  recorder rc = {.greeting = "hello\r\n"};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  CHECK_INT(rc.made, 1);
  CHECK(weft_string_transport_connected(st));
  CHECK_STR(weft_string_transport_value(st), "hello\r\n");
  struct iovec iov[2] = {{"ab", 2}, {"c\0d", 3}};
  CHECK_INT(weft_transport_writev(t, iov, 2), 0);
  CHECK_MEM(weft_string_transport_value(st), weft_string_transport_len(st), "hello\r\nabc\0d", 12);
  CHECK_INT(weft_transport_buffered(t), 0); /* consumed at once by default */
  weft_string_transport_clear(st);
  CHECK_INT(weft_string_transport_len(st), 0);
  CHECK_STR(weft_string_transport_value(st), "");
  CHECK_INT(weft_transport_write(t, "x", 1), 0);
  CHECK_STR(weft_string_transport_value(st), "x");
  weft_string_transport_free(st);
  /* freeing a live connection tears it down under the protocol, once */
  CHECK_INT(rc.lost, 1);
  CHECK_INT(rc.lost_reason, WEFT_EABORTED);
}

static void test_feed_echo_protocol(void) {
  recorder rc = {.echo = true};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  CHECK_INT(weft_string_transport_feed(st, "ping", 4), 0);
  CHECK_INT(weft_string_transport_feed(st, "pong", 4), 0);
  CHECK_MEM(rc.got, rc.got_len, "pingpong", 8);
  CHECK_STR(weft_string_transport_value(st), "pingpong");
  weft_string_transport_free(st);
}

static void test_lose_connection_inside_data_received(void) {
  recorder rc = {.lose_on_data = true};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  CHECK_INT(weft_string_transport_feed(st, "quit", 4), 0);
  CHECK_STR(weft_string_transport_value(st), "bye");
  CHECK(weft_string_transport_disconnecting(st));
  CHECK(!weft_string_transport_aborted(st));
  CHECK(weft_transport_closing(t));
  CHECK_INT(rc.lost, 0); /* the test decides when the close completes */
  CHECK_INT(weft_transport_write(t, "more", 4), WEFT_ECLOSED);
  CHECK_INT(weft_string_transport_feed(st, "x", 1), WEFT_ECLOSED); /* no more reading */
  CHECK_INT(weft_string_transport_finish(st), 0);
  CHECK_INT(rc.lost, 1);
  CHECK_INT(rc.lost_reason, WEFT_REASON_CLEAN);
  int reason = 1;
  CHECK(weft_string_transport_lost(st, &reason));
  CHECK_INT(reason, 0);
  CHECK(!weft_string_transport_connected(st));
  CHECK_INT(weft_string_transport_finish(st), WEFT_EALREADY);
  CHECK_INT(weft_string_transport_close(st, WEFT_ECONNRESET), WEFT_EALREADY);
  weft_string_transport_free(st);
  CHECK_INT(rc.lost, 1); /* at most once, free included */
}

static void test_write_inside_connection_lost_is_closed(void) {
  recorder rc = {.write_in_lost = true};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  CHECK_INT(weft_string_transport_close(st, WEFT_ECONNRESET), 0);
  CHECK_INT(rc.lost, 1);
  CHECK_INT(rc.lost_reason, WEFT_ECONNRESET);
  CHECK_INT(rc.write_in_lost_rc, WEFT_ECLOSED);
  CHECK_INT(weft_string_transport_len(st), 0);
  weft_string_transport_free(st);
  CHECK_INT(rc.lost, 1);
}

static void test_abort_finishes_with_eaborted(void) {
  recorder rc = {0};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  CHECK_INT(weft_transport_abort_connection(t), 0);
  CHECK(weft_string_transport_aborted(st));
  CHECK(weft_string_transport_disconnecting(st));
  CHECK_INT(weft_transport_write(t, "x", 1), WEFT_ECLOSED);
  CHECK_INT(rc.lost, 0);
  CHECK_INT(weft_string_transport_finish(st), 0);
  CHECK_INT(rc.lost_reason, WEFT_EABORTED);
  weft_string_transport_free(st);
  CHECK_INT(rc.lost, 1);
}

static void test_finish_with_nothing_pending(void) {
  recorder rc = {0};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  CHECK_INT(weft_string_transport_finish(st), WEFT_ESTATE);
  CHECK_INT(rc.lost, 0);
  weft_transport_lose_connection(weft_string_transport_transport(st));
  weft_string_transport_free(st); /* lose was asked: the close counts as clean */
  CHECK_INT(rc.lost, 1);
  CHECK_INT(rc.lost_reason, 0);
}

static void test_eof_closes_a_protocol_that_cannot_half_close(void) {
  recorder rc = {0};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  CHECK_INT(weft_string_transport_feed(st, "last", 4), 0);
  CHECK_INT(weft_string_transport_feed_eof(st), 0);
  CHECK_INT(rc.lost, 1);
  CHECK_INT(rc.lost_reason, WEFT_REASON_CLEAN);
  CHECK(weft_string_transport_disconnecting(st));
  CHECK_INT(weft_string_transport_feed(st, "x", 1), WEFT_ECLOSED);
  CHECK_INT(weft_string_transport_feed_eof(st), WEFT_ECLOSED);
  weft_string_transport_free(st);
  CHECK_INT(rc.lost, 1);
}

static void test_eof_half_close(void) {
  recorder rc = {0};
  weft_string_transport *st = attached(NULL, &rc, &half_close_cb);
  CHECK_INT(weft_string_transport_feed_eof(st), 0);
  CHECK_INT(rc.read_eof, 1);
  CHECK_INT(rc.lost, 0); /* still open for writing */
  CHECK_STR(weft_string_transport_value(st), "done");
  CHECK(weft_string_transport_write_shut(st));
  CHECK_INT(weft_transport_write(weft_string_transport_transport(st), "x", 1), WEFT_ECLOSED);
  CHECK_INT(weft_string_transport_feed(st, "x", 1), WEFT_ECLOSED);
  /* the write side flushes when the test says; both directions done: a clean close */
  CHECK_INT(weft_string_transport_finish(st), 0);
  CHECK_INT(rc.write_lost, 1);
  CHECK_INT(rc.lost, 1);
  CHECK_INT(rc.lost_reason, 0);
  weft_string_transport_free(st);
}

/* A streaming producer that counts what the consumer asks of it. */
typedef struct counting_producer {
  int pauses, resumes, stops;
  weft_transport *t;
  size_t piece; /* bytes written on each resume (pull producers) */
} counting_producer;

static void cp_pause(void *u) { ((counting_producer *)u)->pauses++; }
static void cp_resume(void *u) {
  counting_producer *p = u;
  p->resumes++;
  if (p->piece) {
    char buf[64];
    memset(buf, 'p', sizeof buf);
    weft_transport_write(p->t, buf, p->piece);
  }
}
static void cp_stop(void *u) { ((counting_producer *)u)->stops++; }

static void test_streaming_producer_paused_above_high_resumed_below_low(void) {
  recorder rc = {0};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  weft_string_transport_set_manual_drain(st, true);
  CHECK_INT(weft_transport_set_water_marks(t, 100, 40), 0);
  counting_producer cp = {0};
  weft_producer p = {cp_pause, cp_resume, cp_stop, &cp};
  CHECK_INT(weft_transport_register_producer(t, &p, true), 0);
  CHECK(weft_string_transport_has_producer(st));
  CHECK(weft_string_transport_producer_streaming(st));
  char buf[100];
  memset(buf, 'a', sizeof buf);
  CHECK_INT(weft_transport_write(t, buf, 100), 0);
  CHECK_INT(weft_transport_buffered(t), 100);
  CHECK_INT(cp.pauses, 0); /* at the high mark, not above it */
  CHECK(!weft_string_transport_producer_paused(st));
  CHECK_INT(weft_transport_write(t, "b", 1), 0);
  CHECK_INT(cp.pauses, 1);
  CHECK(weft_string_transport_producer_paused(st));
  CHECK_INT(weft_transport_write(t, "c", 1), 0); /* writing anyway is buffered, no second pause */
  CHECK_INT(cp.pauses, 1);
  CHECK_INT(weft_string_transport_drain(st, 61), 61);
  CHECK_INT(weft_transport_buffered(t), 41);
  CHECK_INT(cp.resumes, 0); /* one byte above the low mark */
  CHECK_INT(weft_string_transport_drain(st, 1), 1);
  CHECK_INT(weft_transport_buffered(t), 40);
  CHECK_INT(cp.resumes, 1);
  CHECK(!weft_string_transport_producer_paused(st));
  CHECK_INT(weft_string_transport_drain(st, SIZE_MAX), 40);
  CHECK_INT(cp.resumes, 1);
  CHECK_INT(weft_string_transport_len(st), 102); /* the value keeps everything written */
  CHECK_INT(weft_string_transport_close(st, WEFT_ECONNRESET), 0);
  CHECK_INT(cp.stops, 1);
  CHECK(!weft_string_transport_has_producer(st));
  weft_string_transport_free(st);
  CHECK_INT(cp.stops, 1);
}

static void test_pull_producer_resumed_when_drained(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  recorder rc = {0};
  weft_string_transport *st = attached(r, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  weft_string_transport_set_manual_drain(st, true);
  CHECK_INT(weft_transport_set_water_marks(t, 10, 4), 0);
  counting_producer cp = {.t = t, .piece = 8};
  weft_producer p = {cp_pause, cp_resume, cp_stop, &cp};
  CHECK_INT(weft_transport_register_producer(t, &p, false), 0);
  CHECK(!weft_string_transport_producer_streaming(st));
  CHECK_INT(cp.resumes, 0); /* asked on the next turn, never inside register */
  weft_memory_reactor_advance(r, 0);
  CHECK_INT(cp.resumes, 1);
  CHECK_INT(weft_transport_buffered(t), 8);
  weft_memory_reactor_advance(r, 0);
  CHECK_INT(cp.resumes, 1); /* 8 queued, above the low mark: not asked */
  CHECK_INT(weft_string_transport_drain(st, 3), 3);
  weft_memory_reactor_advance(r, 0);
  CHECK_INT(cp.resumes, 1); /* 5 > 4 */
  CHECK_INT(weft_string_transport_drain(st, 1), 1);
  CHECK_INT(cp.resumes, 1); /* not re-entrantly inside drain */
  weft_memory_reactor_advance(r, 0);
  CHECK_INT(cp.resumes, 2);
  CHECK_INT(weft_transport_buffered(t), 12);
  CHECK_INT(cp.pauses, 0); /* a pull producer is never paused */
  weft_transport_unregister_producer(t);
  weft_string_transport_free(st);
  CHECK_INT(cp.stops, 0);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_pause_reading_holds_input(void) {
  weft_reactor *r;
  REQUIRE(weft_memory_reactor_new(&r) == 0);
  recorder rc = {0};
  weft_string_transport *st = attached(r, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  CHECK_INT(weft_reactor_open_handles(r), 1);
  weft_transport_pause_reading(t);
  CHECK(weft_string_transport_reading_paused(st));
  CHECK_INT(weft_string_transport_feed(st, "ab", 2), 0);
  CHECK_INT(weft_string_transport_feed(st, "c", 1), 0);
  CHECK_INT(weft_string_transport_feed_eof(st), 0);
  CHECK_INT(rc.got_len, 0);
  weft_transport_resume_reading(t);
  CHECK(!weft_string_transport_reading_paused(st));
  CHECK_INT(rc.got_len, 0); /* on the next turn, as a socket turning readable */
  weft_memory_reactor_advance(r, 0);
  CHECK_MEM(rc.got, rc.got_len, "abc", 3);
  CHECK_INT(rc.lost, 1); /* the end of input came after the bytes */
  weft_string_transport_free(st);
  CHECK_INT(weft_reactor_open_handles(r), 0);
  CHECK_INT(weft_reactor_free(r), 0);
}

static void test_pause_reading_without_reactor(void) {
  recorder rc = {0};
  weft_string_transport *st = attached(NULL, &rc, &rec_cb);
  weft_transport *t = weft_string_transport_transport(st);
  weft_transport_pause_reading(t);
  CHECK_INT(weft_string_transport_feed(st, "xy", 2), 0);
  weft_transport_resume_reading(t);
  CHECK_INT(rc.got_len, 0);
  CHECK_INT(weft_string_transport_feed(st, NULL, 0), 0);
  CHECK_MEM(rc.got, rc.got_len, "xy", 2);
  weft_string_transport_free(st);
}

static void test_addresses_and_options(void) {
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, NULL) == 0);
  weft_transport *t = weft_string_transport_transport(st);
  weft_address a;
  char text[WEFT_ADDRSTRLEN];
  CHECK_INT(weft_transport_get_host(t, &a), 0);
  weft_address_format(&a, text, sizeof text);
  CHECK_STR(text, "127.0.0.1:12345");
  CHECK_INT(weft_transport_get_peer(t, &a), 0);
  weft_address_format(&a, text, sizeof text);
  CHECK_STR(text, "127.0.0.1:54321");
  weft_address peer;
  REQUIRE(weft_address_from_ip(&peer, "::1", 4000) == 0);
  weft_string_transport_set_peer(st, &peer);
  CHECK_INT(weft_transport_get_peer(t, &a), 0);
  weft_address_format(&a, text, sizeof text);
  CHECK_STR(text, "[::1]:4000");
  weft_string_transport_set_host(st, NULL);
  CHECK_INT(weft_transport_get_host(t, &a), WEFT_ENOTSUP);
  CHECK(!weft_string_transport_nodelay(st));
  CHECK_INT(weft_transport_set_nodelay(t, true), 0);
  CHECK(weft_string_transport_nodelay(st));
  CHECK_INT(weft_transport_set_keepalive(t, true), 0);
  CHECK(weft_string_transport_keepalive(st));
  CHECK(weft_transport_reactor(t) == NULL);
  weft_string_transport_free(st);
}

/* A factory that refuses, and one that hands out recorders and sees the peer it was given. */
typedef struct test_factory {
  int refuse;
  recorder rec;
  char peer[WEFT_ADDRSTRLEN];
} test_factory;

static int tf_build(void *user, const weft_address *peer, weft_protocol *out) {
  test_factory *f = user;
  if (f->refuse) return f->refuse;
  if (peer) weft_address_format(peer, f->peer, sizeof f->peer);
  out->cb = &rec_cb;
  out->user = &f->rec;
  return 0;
}

static void test_attach_factory(void) {
  test_factory tf = {.refuse = WEFT_ECONNREFUSED};
  weft_factory f = {.build_protocol = tf_build, .user = &tf};
  weft_string_transport *st;
  REQUIRE(weft_string_transport_new(&st, NULL) == 0);
  CHECK_INT(weft_string_transport_attach_factory(st, &f), WEFT_ECONNREFUSED);
  CHECK(!weft_string_transport_connected(st));
  CHECK_INT(weft_string_transport_feed(st, "x", 1), WEFT_ESTATE);
  CHECK_INT(weft_string_transport_close(st, 0), WEFT_ESTATE);
  tf.refuse = 0;
  CHECK_INT(weft_string_transport_attach_factory(st, &f), 0);
  CHECK_INT(tf.rec.made, 1);
  CHECK_STR(tf.peer, "127.0.0.1:54321");
  CHECK_INT(weft_string_transport_attach_factory(st, &f), WEFT_ESTATE);
  weft_string_transport_free(st);
  CHECK_INT(tf.rec.lost, 1);
}

int main(void) {
  RUN(test_write_read_back_and_clear);
  RUN(test_feed_echo_protocol);
  RUN(test_lose_connection_inside_data_received);
  RUN(test_write_inside_connection_lost_is_closed);
  RUN(test_abort_finishes_with_eaborted);
  RUN(test_finish_with_nothing_pending);
  RUN(test_eof_closes_a_protocol_that_cannot_half_close);
  RUN(test_eof_half_close);
  RUN(test_streaming_producer_paused_above_high_resumed_below_low);
  RUN(test_pull_producer_resumed_when_drained);
  RUN(test_pause_reading_holds_input);
  RUN(test_pause_reading_without_reactor);
  RUN(test_addresses_and_options);
  RUN(test_attach_factory);
  return CHECK_DONE();
}
