/* test_http_review_lifetime.c: what a handler keeps of a request it answers later (http.h: the
 * strings of a request "stay valid as long as the request does"; http_router.h: the match's
 * slices too), and the connection's life around requests answered later. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/testing.h"
#include "web/http_fixture.h"

/* What a handler that answers later keeps: the slices it read while it was called. */
typedef struct kept {
  weft_http_request *req;
  const char *path, *tag, *method, *param;
  size_t path_len, tag_len, method_len, param_len;
} kept;

static kept held[4];
static int nheld;

static void keep_handler(weft_http_request *req, void *user) {
  (void)user;
  kept *k = &held[nheld++];
  k->req = req;
  k->path = weft_http_request_path(req, &k->path_len);
  k->tag = weft_http_request_header(req, "x-tag", &k->tag_len);
  k->method = weft_http_request_method(req, &k->method_len);
}

static void keep_route(weft_http_request *req, const weft_http_match *m, void *user) {
  keep_handler(req, user);
  kept *k = &held[nheld - 1];
  REQUIRE(weft_http_route_param_str(m, "name", &k->param, &k->param_len) == 0);
}

/* Answers the i-th kept request with what it kept: "<method> <path> <tag> <param>". */
static void answer_kept(int i) {
  kept *k = &held[i];
  char body[256];
  int n = snprintf(body, sizeof body, "%.*s %.*s %.*s %.*s", (int)k->method_len, k->method, (int)k->path_len,
                   k->path, (int)k->tag_len, k->tag ? k->tag : "", (int)k->param_len, k->param ? k->param : "");
  CHECK_INT(weft_http_respond(k->req, 200, NULL, 0, body, (size_t)n), 0);
}

/* Feeds s from a heap copy freed right after, as a reactor reuses its read buffer. */
static void feed_heap(weft_string_transport *st, const char *s) {
  size_t n = strlen(s);
  char *copy = malloc(n);
  REQUIRE(copy);
  memcpy(copy, s, n);
  CHECK_INT(weft_string_transport_feed(st, copy, n), 0);
  memset(copy, 'Z', n);
  free(copy);
}

static const char *body_of(const char *o) {
  const char *e = strstr(o, "\r\n\r\n");
  return e ? e + 4 : "";
}

static void check_kept_slices(bool routed) {
  fixture f;
  setup(&f);
  weft_http_router *rt = NULL;
  if (routed) {
    REQUIRE(weft_http_router_new(&rt) == 0);
    REQUIRE(weft_http_router_add(rt, "GET", "/items/<name>", keep_route, NULL) == 0);
    weft_http_handler_binding b = weft_http_router_handler(rt);
    weft_http_server_set_handler(f.srv, b.fn, b.user);
  } else {
    weft_http_server_set_handler(f.srv, keep_handler, NULL);
  }
  nheld = 0;
  feed_heap(f.st, "GET /items/a%20b HTTP/1.1\r\nHost: x\r\nX-Tag: one\r\n\r\n");
  REQUIRE(nheld == 1);
  /* A second client's request is parsed meanwhile (the server's scratch space is reused). */
  weft_string_transport *st2;
  REQUIRE(weft_string_transport_new(&st2, f.r) == 0);
  REQUIRE(weft_string_transport_attach_factory(st2, weft_http_server_factory(f.srv)) == 0);
  feed_heap(st2, "GET /items/zz%20zz HTTP/1.1\r\nHost: x\r\nX-Tag: two\r\n\r\n");
  REQUIRE(nheld == 2);
  answer_kept(0);
  CHECK_STR(body_of(out(&f)), routed ? "GET /items/a b one a b" : "GET /items/a b one ");
  answer_kept(1);
  CHECK_STR(body_of(weft_string_transport_value(st2)), routed ? "GET /items/zz zz two zz zz" : "GET /items/zz zz two ");
  weft_string_transport_free(st2);
  turn(&f);
  teardown(&f);
  weft_http_router_free(rt);
}

/* A handler answering later reads the strings it got while it was called: they must still be
 * the request's, not bytes of the reactor's read buffer or of the next request parsed. */
static void test_slices_kept_by_a_later_answer(void) { check_kept_slices(false); }

/* The same for a route's parameters, which point into the decoded path. */
static void test_route_params_kept_by_a_later_answer(void) { check_kept_slices(true); }

int main(void) {
  RUN(test_slices_kept_by_a_later_answer);
  RUN(test_route_params_kept_by_a_later_answer);
  return CHECK_DONE();
}
