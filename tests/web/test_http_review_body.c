/* test_http_review_body.c: a streamed request body's consumer that finishes the request from
 * inside its end callback when the body fails (the natural place: http.h says req is inert then
 * and "the handler must still finish it"). */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "web/http_fixture.h"
#include "weft/http.h"
#include "weft/testing.h"

static int ended, end_error, respond_rc;

static void on_data(weft_http_request *req, const void *data, size_t len, void *user) {
  (void)req, (void)data, (void)len, (void)user;
}

/* Finishes the request whatever happened, as a handler that owns nothing else would. */
static void on_end(weft_http_request *req, int error, void *user) {
  (void)user;
  ended++;
  end_error = error;
  respond_rc = weft_http_respond(req, error ? 500 : 200, NULL, 0, "handler", 7);
}

static const weft_http_body_consumer consumer = {on_data, on_end, NULL};

static void handler(weft_http_request *req, void *user) {
  (void)user;
  CHECK_INT(weft_http_request_body_stream(req, &consumer, NULL), 0);
}

static void setup_stream(fixture *f, uint64_t max_body) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.stream_bodies = true;
  o.max_body = max_body;
  setup_with(f, &o);
  connect_client(f);
  weft_http_server_set_handler(f->srv, handler, NULL);
  ended = end_error = 0;
  respond_rc = -1;
}

/* The client goes mid-body: the request finished inside end is released, and so is the
 * connection (it was kept forever: weft_http_server_connections stayed 1). */
static void test_finish_in_end_when_client_gone(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(ended, 1);
  CHECK_INT(end_error, WEFT_ECLOSED);
  CHECK_INT(respond_rc, WEFT_ECLOSED);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown(&f);
}

/* The body goes over max_body: the client gets one answer, the 413, and the connection is
 * released once closed (the handler's answer went out first, then a 413 behind it). */
static void test_finish_in_end_when_body_too_large(void) {
  fixture f;
  setup_stream(&f, 8);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n");
  CHECK_INT(ended, 1);
  CHECK_INT(end_error, WEFT_EMSGSIZE);
  CHECK(strncmp(out(&f), "HTTP/1.1 413 ", 13) == 0);
  CHECK_INT(count(out(&f), "HTTP/1.1 "), 1);
  CHECK(weft_string_transport_disconnecting(f.st));
  weft_string_transport_finish(f.st);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown(&f);
}

/* Bad chunked framing: the same with 400. */
static void test_finish_in_end_when_framing_bad(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
  CHECK_INT(ended, 1);
  CHECK_INT(end_error, WEFT_EPARSE);
  CHECK(strncmp(out(&f), "HTTP/1.1 400 ", 13) == 0);
  CHECK_INT(count(out(&f), "HTTP/1.1 "), 1);
  weft_string_transport_finish(f.st);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown(&f);
}

static weft_http_request *unclaimed;
static void hold_handler(weft_http_request *req, void *user) {
  (void)user;
  unclaimed = req;
}

/* The client goes before the handler claims the body: claiming it later still ends it (end was
 * never called, so a handler waiting for it held the request, and the connection, forever). */
static void test_claim_after_client_gone(void) {
  fixture f;
  setup_stream(&f, 1 << 20);
  weft_http_server_set_handler(f.srv, hold_handler, NULL);
  unclaimed = NULL;
  feed(&f, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
  REQUIRE(unclaimed != NULL);
  CHECK_INT(weft_string_transport_close(f.st, WEFT_ECONNRESET), 0);
  CHECK_INT(weft_http_request_body_stream(unclaimed, &consumer, NULL), 0);
  CHECK_INT(ended, 1);
  CHECK_INT(end_error, WEFT_ECLOSED);
  CHECK_INT(respond_rc, WEFT_ECLOSED);
  CHECK_INT(weft_http_server_connections(f.srv), 0);
  teardown(&f);
}

int main(void) {
  RUN(test_claim_after_client_gone);
  RUN(test_finish_in_end_when_client_gone);
  RUN(test_finish_in_end_when_body_too_large);
  RUN(test_finish_in_end_when_framing_bad);
  return CHECK_DONE();
}
