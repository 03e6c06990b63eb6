/* The HTTP/1.1 client with the in-memory client on a memory reactor, for what a review found:
 * a redirected (or retried) request's read timer, redirects of a request whose body comes from a
 * producer, a relative Location holding "://" in its query, and weft_http_text's string with a
 * user allocator. The test kit's counting allocator is installed, so a block weft allocated and
 * something freed with the C library's free shows in its live count. */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "weft/alloc.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/testing.h"

typedef struct app {
  weft_http_request *drip; /* /drip: started, written to by the test */
  int requests;
} app;

static void redirect(weft_http_request *req, int status, const char *to) {
  weft_http_header h[] = {{"Location", to}};
  weft_http_respond(req, status, h, 1, NULL, 0);
}

static void handler(weft_http_request *req, void *user) {
  app *a = user;
  a->requests++;
  size_t pl, ml, bl;
  const char *p = weft_http_request_path(req, &pl);
  const char *m = weft_http_request_method(req, &ml);
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)pl, p);
  if (!strcmp(path, "/to-drip")) {
    redirect(req, 302, "/drip");
  } else if (!strcmp(path, "/drip")) {
    weft_http_response_start(req, 200);
    weft_http_response_write(req, "a", 1);
    a->drip = req;
  } else if (!strcmp(path, "/see-other")) {
    redirect(req, 303, "/echo");
  } else if (!strcmp(path, "/keep")) {
    redirect(req, 307, "/echo");
  } else if (!strcmp(path, "/next")) {
    redirect(req, 302, "/echo?next=http://elsewhere.test/x");
  } else if (!strcmp(path, "/a/b/up")) {
    redirect(req, 302, "../c/./echo-dots?x=1#frag");
  } else if (!strcmp(path, "/a/over")) {
    redirect(req, 302, "/../../echo");
  } else if (!strcmp(path, "/a/c/echo-dots")) {
    weft_http_respond(req, 200, NULL, 0, "dots", 4);
  } else if (!strcmp(path, "/dir/list")) {
    size_t ql = 0;
    const char *qs = weft_http_request_query(req, &ql);
    if (!qs || ql == 0) redirect(req, 302, "?page=2");
    else weft_http_respond(req, 200, NULL, 0, qs, ql);
  } else if (!strcmp(path, "/echo")) {
    const char *b = weft_http_request_body(req, &bl);
    size_t ql = 0;
    const char *qs = weft_http_request_query(req, &ql);
    char out[512];
    int n = snprintf(out, sizeof out, "%.*s %.*s q=%.*s", (int)ml, m, b ? (int)bl : 0, b ? b : "", qs ? (int)ql : 0,
                     qs ? qs : "");
    weft_http_respond(req, 200, NULL, 0, out, (size_t)n);
  } else {
    weft_http_respond(req, 404, NULL, 0, "no", 2);
  }
}

typedef struct fx {
  weft_reactor *r;
  weft_http_server *srv;
  weft_http_agent *agent;
  app app;
} fx;

static void fx_init(fx *f) {
  memset(f, 0, sizeof *f);
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  REQUIRE(weft_http_server_new(&f->srv, f->r, NULL) == 0);
  weft_http_server_set_handler(f->srv, handler, &f->app);
  REQUIRE(weft_http_stub_new(&f->agent, f->r, f->srv) == 0);
}

static void turn(fx *f, int n) {
  for (int i = 0; i < n; i++) weft_memory_reactor_advance(f->r, 0);
}

static void fx_done(fx *f) {
  turn(f, 5);
  weft_http_agent_free(f->agent);
  turn(f, 5);
  weft_http_server_free(f->srv);
  turn(f, 5);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  weft_reactor_free(f->r);
}

/* Turns until d fired (bounded); the response, or NULL with the failure in why. Takes d. */
static weft_http_response *response_of(fx *f, weft_deferred *d, char *why, size_t n) {
  REQUIRE(d);
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  weft_value v;
  int rc = weft_success_result_of(d, &v, why, n);
  weft_deferred_unref(d);
  return rc ? NULL : v.v.p; /* the value's destroy is the response's free */
}

/* The body of resp (malloc'd) or NULL with the failure in why; frees resp. */
static char *body_of(fx *f, weft_http_response *resp, char *why, size_t n) {
  if (!resp) return NULL;
  weft_deferred *c = weft_http_response_content(resp, 0);
  for (int i = 0; i < 50 && !weft_deferred_called(c); i++) turn(f, 1);
  weft_value b;
  char *s = NULL;
  if (weft_success_result_of(c, &b, why, n) == 0) {
    s = strdup(((weft_http_bytes *)b.v.p)->data);
    weft_value_release(b);
  }
  weft_deferred_unref(c);
  weft_http_response_free(resp);
  return s;
}

/* A read timeout counts from the last read on the connection that carries the request now: the
 * timer started for the request's first hop (a redirect here) must not go on running beside the
 * new one (it fired in the middle of a body that kept arriving, and after the request was freed). */
static void test_read_timeout_across_redirect(void) {
  fx f;
  fx_init(&f);
  char why[512] = "";
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.follow_redirects = true;
  o.idle_timeout = 5;
  weft_http_response *resp =
      response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/to-drip", &o), why, sizeof why);
  REQUIRE(resp != NULL);
  REQUIRE(f.app.drip != NULL);
  weft_deferred *c = weft_http_response_content(resp, 0);
  /* a byte every 2 s: never 5 s without data */
  for (int i = 0; i < 4; i++) {
    weft_memory_reactor_advance(f.r, 2);
    turn(&f, 2);
    CHECK(!weft_deferred_called(c));
    if (weft_deferred_called(c)) break;
    weft_http_response_write(f.app.drip, "b", 1);
    turn(&f, 2);
  }
  if (!weft_deferred_called(c)) weft_http_response_finish(f.app.drip);
  for (int i = 0; i < 10 && !weft_deferred_called(c); i++) turn(&f, 1);
  weft_value v;
  if (weft_success_result_of(c, &v, why, sizeof why) == 0) {
    CHECK_STR(((weft_http_bytes *)v.v.p)->data, "abbbb");
    weft_value_release(v);
  } else {
    CHECK_STR(why, "");
  }
  weft_deferred_unref(c);
  weft_http_response_free(resp);
  /* and nothing fires later on the freed request */
  weft_memory_reactor_advance(f.r, 10);
  turn(&f, 3);
  fx_done(&f);
}

typedef struct prod {
  int started, stopped;
} prod;

static void p_start(weft_http_body_writer *w, void *user) {
  prod *p = user;
  p->started++;
  if (weft_http_body_write(w, "hello", 5) == 0) weft_http_body_finish(w, 0);
}
static void p_stop(void *user) { ((prod *)user)->stopped++; }

static weft_http_response *post_produced(fx *f, prod *p, const char *url, char *why, size_t n) {
  weft_http_body_producer bp = {.length = 5, .start = p_start, .stop = p_stop, .user = p};
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.producer = &bp;
  o.follow_redirects = true;
  return response_of(f, weft_http_agent_request(f->agent, "POST", url, &o), why, n);
}

/* A body from a producer is sent once. A 303 goes on with a GET and no body (the producer is not
 * started again, nor a Content-Length sent without its bytes); a 307, which must repeat the body,
 * is not followed but given as the response. */
static void test_redirect_with_producer(void) {
  fx f;
  fx_init(&f);
  char why[512] = "";
  prod p = {0};
  char *body = body_of(&f, post_produced(&f, &p, "http://app.test/see-other", why, sizeof why), why, sizeof why);
  CHECK_STR(body, "GET  q=");
  if (!body) fprintf(stderr, "  %s\n", why);
  free(body);
  CHECK_INT(p.started, 1);
  CHECK_INT(p.stopped, 0);
  prod q = {0};
  weft_http_response *resp = post_produced(&f, &q, "http://app.test/keep", why, sizeof why);
  CHECK(resp != NULL);
  if (resp) {
    CHECK_INT(weft_http_response_status(resp), 307);
    CHECK_STR(weft_http_response_get_header(resp, "location"), "/echo");
    free(body_of(&f, resp, why, sizeof why));
  } else {
    fprintf(stderr, "  %s\n", why);
  }
  CHECK_INT(q.started, 1);
  CHECK_INT(f.app.requests, 3);
  fx_done(&f);
}

/* A relative Location is relative even when its query holds "://", and one of only a query
 * replaces the query alone. */
static void test_relative_location_with_url_in_query(void) {
  fx f;
  fx_init(&f);
  char why[512] = "";
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.follow_redirects = true;
  weft_http_response *resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/next", &o), why,
                                         sizeof why);
  if (!resp) fprintf(stderr, "  %s\n", why);
  CHECK(resp != NULL);
  if (resp) CHECK_STR(weft_http_response_url(resp), "http://app.test:80/echo?next=http://elsewhere.test/x");
  char *body = body_of(&f, resp, why, sizeof why);
  CHECK_STR(body, "GET  q=next=http://elsewhere.test/x");
  free(body);
  /* a Location of only a query keeps the whole path (RFC 3986 section 5.2.2) */
  resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/dir/list", &o), why, sizeof why);
  if (!resp) fprintf(stderr, "  %s\n", why);
  CHECK(resp != NULL);
  if (resp) CHECK_STR(weft_http_response_url(resp), "http://app.test:80/dir/list?page=2");
  body = body_of(&f, resp, why, sizeof why);
  CHECK_STR(body, "page=2");
  free(body);
  /* dot segments are resolved (RFC 3986 section 5.2.4), never above the root; the fragment is
   * not sent */
  resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/a/b/up", &o), why, sizeof why);
  if (!resp) fprintf(stderr, "  %s\n", why);
  CHECK(resp != NULL);
  if (resp) CHECK_STR(weft_http_response_url(resp), "http://app.test:80/a/c/echo-dots?x=1");
  body = body_of(&f, resp, why, sizeof why);
  CHECK_STR(body, "dots");
  free(body);
  resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/a/over", &o), why, sizeof why);
  CHECK(resp != NULL);
  if (resp) CHECK_STR(weft_http_response_url(resp), "http://app.test:80/echo");
  body = body_of(&f, resp, why, sizeof why);
  CHECK_STR(body, "GET  q=");
  free(body);
  fx_done(&f);
}

/* weft_http_text's string is freed with free, as documented, also when weft has an allocator of
 * its own (the string was weft's block, freed behind the allocator's back). */
static void test_text_with_allocator(void) {
  weft_test_alloc_stats before, after;
  weft_test_allocator_stats(&before);
  fx f;
  fx_init(&f);
  char why[512] = "";
  weft_http_response *resp =
      response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/echo", NULL), why, sizeof why);
  REQUIRE(resp != NULL);
  weft_deferred *t = weft_http_text(resp); /* takes resp */
  for (int i = 0; i < 50 && !weft_deferred_called(t); i++) turn(&f, 1);
  weft_value v;
  REQUIRE(weft_success_result_of(t, &v, why, sizeof why) == 0);
  CHECK_STR(v.v.p, "GET  q=");
  weft_value_release(v); /* free(3) */
  weft_deferred_unref(t);
  fx_done(&f);
  weft_test_allocator_stats(&after);
  CHECK_INT(after.live, before.live);
}

int main(void) {
  REQUIRE(weft_test_allocator_install() == 0);
  RUN(test_read_timeout_across_redirect);
  RUN(test_redirect_with_producer);
  RUN(test_relative_location_with_url_in_query);
  RUN(test_text_with_allocator);
  return CHECK_DONE();
}
