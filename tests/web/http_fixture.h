/* http_fixture.h: the HTTP server tests' fixture: a memory reactor, a server, one string-transport
 * connection, the "weft.http" log events it emitted, and no error logged by the end. */
#ifndef WEFT_TESTS_HTTP_FIXTURE_H
#define WEFT_TESTS_HTTP_FIXTURE_H

#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "weft/http.h"
#include "weft/testing.h"

/* ---- fixture: a memory reactor, a server, one string-transport connection ---- */

typedef struct fixture {
  weft_reactor *r;
  weft_http_server *srv;
  weft_string_transport *st;
  weft_logged_errors *errors;
  int http_events; /* "weft.http" log events at info and above */
  char last_event[512];
} fixture;

static inline void on_event(const weft_log_event *ev, void *user) {
  fixture *f = user;
  if (strcmp(ev->ns, "weft.http") != 0) return;
  f->http_events++;
  weft_log_format_message(ev, f->last_event, sizeof f->last_event);
}

static inline void setup_with(fixture *f, const weft_http_server_options *o) {
  memset(f, 0, sizeof *f);
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  f->errors = weft_logged_errors_capture(weft_reactor_log(f->r));
  REQUIRE(f->errors);
  REQUIRE(weft_log_add_observer(weft_reactor_log(f->r), WEFT_LOG_INFO, on_event, f) == 0);
  REQUIRE(weft_http_server_new(&f->srv, f->r, o) == 0);
  REQUIRE(weft_string_transport_new(&f->st, f->r) == 0);
}

static inline void connect_client(fixture *f) {
  REQUIRE(weft_string_transport_attach_factory(f->st, weft_http_server_factory(f->srv)) == 0);
}

static inline void setup(fixture *f) {
  setup_with(f, NULL);
  connect_client(f);
}

static inline void teardown(fixture *f) {
  weft_string_transport_free(f->st);
  CHECK_INT(weft_http_server_connections(f->srv), 0);
  weft_http_server_free(f->srv);
  for (size_t i = 0; i < weft_logged_errors_count(f->errors); i++)
    fprintf(stderr, "unexpected error logged: %s\n", weft_logged_errors_text(f->errors, i));
  CHECK_INT(weft_logged_errors_count(f->errors), 0);
  weft_logged_errors_free(f->errors);
  weft_log_remove_observer(weft_reactor_log(f->r), on_event, f);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  CHECK_INT(weft_reactor_free(f->r), 0);
}

static inline void feed(fixture *f, const char *s) { CHECK_INT(weft_string_transport_feed(f->st, s, strlen(s)), 0); }
static inline const char *out(fixture *f) { return weft_string_transport_value(f->st); }
static inline void turn(fixture *f) { weft_memory_reactor_advance(f->r, 0); }

/* Number of non-overlapping occurrences of needle in hay. */
static inline int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

#endif
