/* http_stub_fixture.h: the fixture of the test_http_stub_* tests: a weft_http_server on a memory
 * reactor reached through the in-memory client (weft_http_stub_connector, treq's StubTreq), the
 * errors logged on the reactor's publisher captured, and a clean reactor checked at the end.
 * Requests are made as a user of the client makes them (weft_http_get/post/send) and answers are
 * read through the client's response (status, headers, body); every transfer happens on a turn
 * of the memory reactor, and time moves only when a test advances the clock. */
#ifndef WEFT_TESTS_HTTP_STUB_FIXTURE_H
#define WEFT_TESTS_HTTP_STUB_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/testing.h"

typedef struct stub {
  weft_reactor *r;
  weft_http_server *srv;
  weft_http_agent *agent;
  weft_logged_errors *errors;
} stub;

/* A server with options o (NULL: defaults) and no handler yet, and an agent reaching it. */
static inline void stub_init(stub *s, const weft_http_server_options *o) {
  memset(s, 0, sizeof *s);
  REQUIRE(weft_memory_reactor_new(&s->r) == 0);
  s->errors = weft_logged_errors_capture(weft_reactor_log(s->r));
  REQUIRE(s->errors);
  REQUIRE(weft_http_server_new(&s->srv, s->r, o) == 0);
  REQUIRE(weft_http_stub_new(&s->agent, s->r, s->srv) == 0);
}

static inline void stub_handler(stub *s, weft_http_handler fn, void *user) {
  weft_http_server_set_handler(s->srv, fn, user);
}

/* n turns of the reactor at the current time. */
static inline void stub_turns(stub *s, int n) {
  for (int i = 0; i < n; i++) weft_memory_reactor_advance(s->r, 0);
}

/* Moves the clock by seconds (one turn), then runs the work due "now" (a few more turns). */
static inline void stub_advance(stub *s, double seconds) {
  weft_memory_reactor_advance(s->r, seconds);
  stub_turns(s, 3);
}

/* Frees the agent and the server and checks that nothing is left: no connection, no handle, no
 * error logged that the test did not flush. */
static inline void stub_done(stub *s) {
  stub_turns(s, 5);
  weft_http_agent_free(s->agent);
  stub_turns(s, 5);
  CHECK_INT(weft_http_server_connections(s->srv), 0);
  weft_http_server_free(s->srv);
  stub_turns(s, 5);
  for (size_t i = 0; i < weft_logged_errors_count(s->errors); i++)
    fprintf(stderr, "  unexpected error logged: %s\n", weft_logged_errors_text(s->errors, i));
  CHECK_INT(weft_logged_errors_count(s->errors), 0);
  weft_logged_errors_free(s->errors);
  CHECK_INT(weft_reactor_open_handles(s->r), 0);
  CHECK_INT(weft_reactor_free(s->r), 0);
}

/* Turns (at most 200) until d has fired; true if it did. */
static inline bool stub_wait(stub *s, weft_deferred *d) {
  for (int i = 0; i < 200 && !weft_deferred_called(d); i++) stub_turns(s, 1);
  return weft_deferred_called(d);
}

/* An answer as the client saw it: the response (for its headers) and its whole body. */
typedef struct stub_answer {
  weft_http_response *resp; /* NULL when the request failed */
  int status;               /* 0 when the request failed */
  char *body;               /* NUL-terminated; "" when none */
  size_t len;
} stub_answer;

/* Waits for the response Deferred d (the caller's reference, taken), then collects its body.
 * On a failure, prints why and leaves a->resp NULL and a->status 0. */
static inline void stub_answer_of(stub *s, weft_deferred *d, stub_answer *a) {
  memset(a, 0, sizeof *a);
  a->body = strdup("");
  REQUIRE(d && a->body);
  stub_wait(s, d);
  weft_value v;
  char why[512];
  int rc = weft_success_result_of(d, &v, why, sizeof why);
  weft_deferred_unref(d);
  if (rc != 0) {
    fprintf(stderr, "  response: %s\n", why);
    return;
  }
  /* The value's destroy would free the response: keep the pointer, drop the value's ownership. */
  a->resp = v.v.p;
  a->status = weft_http_response_status(a->resp);
  weft_deferred *c = weft_http_response_content(a->resp, 0);
  REQUIRE(c);
  stub_wait(s, c);
  if (weft_success_result_of(c, &v, why, sizeof why) == 0) {
    weft_http_bytes *b = v.v.p;
    free(a->body);
    a->body = malloc(b->len + 1);
    REQUIRE(a->body);
    memcpy(a->body, b->data, b->len + 1);
    a->len = b->len;
    weft_value_release(v);
  } else {
    fprintf(stderr, "  body: %s\n", why);
  }
  weft_deferred_unref(c);
}

/* The first header named name in a's response, or NULL. */
static inline const char *stub_header(const stub_answer *a, const char *name) {
  return a->resp ? weft_http_response_get_header(a->resp, name) : NULL;
}

static inline void stub_answer_free(stub_answer *a) {
  weft_http_response_free(a->resp);
  free(a->body);
  memset(a, 0, sizeof *a);
}

/* Sends method url with extra headers (NULL-terminated name, value pairs; may be NULL) and no
 * body, and fills a with the answer. Redirects are not followed, so 301s are seen. */
static inline void stub_fetch(stub *s, const char *method, const char *url, const char *const *headers,
                              stub_answer *a) {
  weft_http_header h[16];
  size_t n = 0;
  for (; headers && headers[2 * n] && n < 16; n++) h[n] = (weft_http_header){headers[2 * n], headers[2 * n + 1]};
  weft_http_opts o;
  weft_http_opts_init(&o);
  o.headers = h;
  o.nheaders = n;
  o.follow_redirects = false;
  stub_answer_of(s, weft_http_send(s->agent, method, url, &o), a);
}

/* Waits for d (taken) to fail and returns its Failure (the caller unrefs it), or NULL (printed). */
static inline weft_failure *stub_failure_of(stub *s, weft_deferred *d) {
  stub_wait(s, d);
  char why[512];
  weft_failure *f = weft_failure_result_of(d, NULL, WEFT_FAILURE_ANY_CODE, why, sizeof why);
  if (!f) fprintf(stderr, "  expected a failure: %s\n", why);
  weft_deferred_unref(d);
  return f;
}

#endif
