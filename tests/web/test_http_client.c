/* Tests for the HTTP/1.1 client (src/web/http_client*.c) through the in-memory client
 * (weft_http_stub_new): a weft_http_server answers over memory pipes on a memory reactor, so
 * keep-alive, pool limits, redirects, timeouts and cancellation run deterministically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../check.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/testing.h"

typedef struct app {
  weft_http_request *held[8]; /* /slow requests, answered at the end */
  int nheld;
  int requests;
  char last_auth[128];
  size_t last_auth_len;
  char last_method[16];
  int content_types;      /* Content-Type fields in the last request */
  char last_ctype[64];
} app;

static void handler(weft_http_request *req, void *user) {
  app *a = user;
  a->requests++;
  size_t pl, ml, al;
  const char *p = weft_http_request_path(req, &pl);
  const char *m = weft_http_request_method(req, &ml);
  snprintf(a->last_method, sizeof a->last_method, "%.*s", (int)ml, m);
  const char *auth = weft_http_request_header(req, "authorization", &al);
  snprintf(a->last_auth, sizeof a->last_auth, "%.*s", auth ? (int)al : 0, auth ? auth : "");
  a->last_auth_len = auth ? al : 0;
  a->content_types = 0;
  for (size_t i = 0; i < weft_http_request_header_count(req); i++) {
    const char *n, *v;
    size_t nl, vl;
    weft_http_request_header_at(req, i, &n, &nl, &v, &vl);
    if (nl == 12 && strncasecmp(n, "content-type", 12) == 0) {
      a->content_types++;
      snprintf(a->last_ctype, sizeof a->last_ctype, "%.*s", (int)vl, v);
    }
  }
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)pl, p);
  if (!strcmp(path, "/hello")) {
    weft_http_header h[] = {{"X-Thing", "yes"}, {"Content-Type", "text/plain"}};
    weft_http_respond(req, 200, h, 2, "hello", 5);
  } else if (!strcmp(path, "/chunked")) {
    weft_http_response_start(req, 200);
    for (int i = 0; i < 3; i++) weft_http_response_write(req, "part;", 5);
    weft_http_response_finish(req);
  } else if (!strcmp(path, "/big")) {
    weft_http_response_start(req, 200);
    static char blk[65536];
    memset(blk, 'b', sizeof blk);
    for (int i = 0; i < 16; i++) weft_http_response_write(req, blk, sizeof blk);
    weft_http_response_finish(req);
  } else if (!strcmp(path, "/empty")) {
    weft_http_respond(req, 204, NULL, 0, NULL, 0);
  } else if (!strncmp(path, "/redirect/", 10)) {
    int n = atoi(path + 10);
    char loc[64];
    snprintf(loc, sizeof loc, n > 0 ? "/redirect/%d" : "/hello", n - 1);
    weft_http_header h[] = {{"Location", loc}};
    weft_http_respond(req, 302, h, 1, "moved", 5);
  } else if (!strcmp(path, "/see-other")) {
    weft_http_header h[] = {{"Location", "/echo"}};
    weft_http_respond(req, 303, h, 1, NULL, 0);
  } else if (!strcmp(path, "/keep")) {
    weft_http_header h[] = {{"Location", "/echo"}};
    weft_http_respond(req, 307, h, 1, NULL, 0);
  } else if (!strcmp(path, "/elsewhere")) {
    weft_http_header h[] = {{"Location", "http://other.example/echo"}};
    weft_http_respond(req, 302, h, 1, NULL, 0);
  } else if (!strcmp(path, "/loop")) {
    weft_http_header h[] = {{"Location", "/loop"}};
    weft_http_respond(req, 302, h, 1, NULL, 0);
  } else if (!strcmp(path, "/echo")) {
    size_t bl;
    const void *b = weft_http_request_body(req, &bl);
    char out[512];
    int n = snprintf(out, sizeof out, "%s %.*s", a->last_method, (int)bl, (const char *)b);
    weft_http_respond(req, 200, NULL, 0, out, (size_t)n);
  } else if (!strcmp(path, "/slow")) {
    a->held[a->nheld++] = req;
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

static void fx_init(fx *f, unsigned max_per_host) {
  memset(f, 0, sizeof *f);
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  REQUIRE(weft_http_server_new(&f->srv, f->r, NULL) == 0);
  weft_http_server_set_handler(f->srv, handler, &f->app);
  weft_http_agent_options o;
  weft_http_agent_options_init(&o);
  o.connector = weft_http_stub_connector(f->srv);
  if (max_per_host) o.max_per_host = max_per_host;
  REQUIRE(weft_http_agent_new(&f->agent, f->r, &o) == 0);
}

static void turn(fx *f, int n) {
  for (int i = 0; i < n; i++) weft_memory_reactor_advance(f->r, 0);
}

static void fx_done(fx *f) {
  for (int i = 0; i < f->app.nheld; i++) weft_http_respond(f->app.held[i], 200, NULL, 0, "late", 4);
  turn(f, 5);
  weft_http_agent_free(f->agent);
  turn(f, 5);
  weft_http_server_free(f->srv);
  turn(f, 5);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  weft_reactor_free(f->r);
}

/* Turns until d fired (bounded), then takes its response. */
static weft_http_response *response_of(fx *f, weft_deferred *d) {
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  weft_value v;
  char why[512];
  if (weft_success_result_of(d, &v, why, sizeof why) != 0) {
    fprintf(stderr, "  %s\n", why);
    weft_deferred_unref(d);
    return NULL;
  }
  weft_deferred_unref(d);
  weft_http_response *resp = v.v.p;
  return resp; /* the value's destroy is the response's free: the caller frees it */
}

/* Collects the body of resp, frees resp; returns a malloc'd string or NULL. */
static char *body_of(fx *f, weft_http_response *resp) {
  weft_deferred *d = weft_http_response_content(resp, 0);
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  weft_value v;
  char why[512];
  char *s = NULL;
  if (weft_success_result_of(d, &v, why, sizeof why) == 0) {
    weft_http_bytes *b = v.v.p;
    s = strdup(b->data);
    weft_value_release(v);
  } else {
    fprintf(stderr, "  %s\n", why);
  }
  weft_deferred_unref(d);
  weft_http_response_free(resp);
  return s;
}

static weft_failure *failure_of(fx *f, weft_deferred *d, int code) {
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  char why[512];
  weft_failure *fl = weft_failure_result_of(d, WEFT_HTTP_CLIENT_DOMAIN, code, why, sizeof why);
  if (!fl) fprintf(stderr, "  %s\n", why);
  weft_deferred_unref(d);
  return fl;
}

static void test_get_and_keep_alive(void) {
  fx f;
  fx_init(&f, 0);
  for (int i = 0; i < 3; i++) {
    weft_http_response *resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/hello", NULL));
    REQUIRE(resp);
    CHECK_INT(weft_http_response_status(resp), 200);
    CHECK_STR(weft_http_response_reason(resp), "OK");
    CHECK_STR(weft_http_response_get_header(resp, "x-THING"), "yes");
    CHECK(weft_http_response_get_header(resp, "missing") == NULL);
    char *body = body_of(&f, resp);
    CHECK_STR(body, "hello");
    free(body);
  }
  /* three requests, one connection: it went back to the pool each time */
  CHECK_INT(weft_http_agent_connections_made(f.agent), 1);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 1);
  fx_done(&f);
}

static void test_chunked_head_204(void) {
  fx f;
  fx_init(&f, 0);
  char *body = body_of(&f, response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/chunked", NULL)));
  CHECK_STR(body, "part;part;part;");
  free(body);
  weft_http_response *resp = response_of(&f, weft_http_agent_request(f.agent, "HEAD", "http://app.test/hello", NULL));
  REQUIRE(resp);
  CHECK_STR(weft_http_response_get_header(resp, "content-length"), "5");
  body = body_of(&f, resp);
  CHECK_STR(body, "");
  free(body);
  resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/empty", NULL));
  REQUIRE(resp);
  CHECK_INT(weft_http_response_status(resp), 204);
  body = body_of(&f, resp);
  CHECK_STR(body, "");
  free(body);
  CHECK_INT(weft_http_agent_connections_made(f.agent), 1);
  fx_done(&f);
}

static void test_redirects(void) {
  fx f;
  fx_init(&f, 0);
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  /* not followed unless asked */
  weft_http_response *resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/redirect/2", &o));
  REQUIRE(resp);
  CHECK_INT(weft_http_response_status(resp), 302);
  free(body_of(&f, resp));
  o.follow_redirects = true;
  resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/redirect/2", &o));
  REQUIRE(resp);
  CHECK_INT(weft_http_response_status(resp), 200);
  CHECK_STR(weft_http_response_url(resp), "http://app.test:80/hello");
  free(body_of(&f, resp));
  /* 303 turns POST into GET without a body; 307 keeps both */
  o.body = "data";
  o.body_len = 4;
  char *body = body_of(&f, response_of(&f, weft_http_agent_request(f.agent, "POST", "http://app.test/see-other", &o)));
  CHECK_STR(body, "GET ");
  free(body);
  body = body_of(&f, response_of(&f, weft_http_agent_request(f.agent, "POST", "http://app.test/keep", &o)));
  CHECK_STR(body, "POST data");
  free(body);
  /* Authorization does not follow to another host */
  o.body = NULL;
  o.body_len = 0;
  weft_http_header auth[] = {{"Authorization", "Basic c2VjcmV0"}};
  o.headers = auth;
  o.nheaders = 1;
  free(body_of(&f, response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/elsewhere", &o))));
  CHECK_STR(f.app.last_auth, "");
  free(body_of(&f, response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/redirect/0", &o))));
  CHECK_STR(f.app.last_auth, "Basic c2VjcmV0");
  /* a loop ends at the limit */
  o.headers = NULL;
  o.nheaders = 0;
  o.max_redirects = 5;
  int before = f.app.requests;
  weft_failure *fl = failure_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/loop", &o), WEFT_ELIMIT);
  REQUIRE(fl);
  CHECK(strstr(weft_failure_message(fl), "too many redirects") != NULL);
  weft_failure_unref(fl);
  CHECK_INT(f.app.requests - before, 6);
  fx_done(&f);
}

static void test_timeout_and_cancel(void) {
  fx f;
  fx_init(&f, 0);
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.timeout = 5;
  weft_deferred *d = weft_http_agent_request(f.agent, "GET", "http://app.test/slow", &o);
  turn(&f, 3);
  CHECK(!weft_deferred_called(d));
  weft_memory_reactor_advance(f.r, 4.9);
  CHECK(!weft_deferred_called(d));
  weft_memory_reactor_advance(f.r, 0.2);
  weft_failure *fl = failure_of(&f, d, WEFT_ETIMEDOUT);
  REQUIRE(fl);
  CHECK(strstr(weft_failure_message(fl), "GET http://app.test/slow: timed out after 5 s") != NULL);
  weft_failure_unref(fl);
  turn(&f, 3);
  /* the timed-out connection was closed, not pooled: the server saw its client go */
  CHECK_INT(weft_http_agent_open_connections(f.agent), 0);
  REQUIRE(f.app.nheld == 1);
  CHECK(weft_http_request_closed(f.app.held[0]));
  /* cancelling closes the connection too */
  d = weft_http_agent_request(f.agent, "GET", "http://app.test/slow", NULL);
  turn(&f, 3);
  REQUIRE(f.app.nheld == 2);
  CHECK(!weft_http_request_closed(f.app.held[1]));
  weft_deferred_cancel(d);
  weft_failure *cf = weft_failure_result_of(d, NULL, WEFT_FAILURE_ANY_CODE, NULL, 0);
  CHECK(cf != NULL);
  CHECK_INT(weft_failure_code(cf), WEFT_ECANCELED);
  weft_failure_unref(cf);
  weft_deferred_unref(d);
  turn(&f, 3);
  CHECK_INT(weft_http_agent_open_connections(f.agent), 0);
  CHECK(weft_http_request_closed(f.app.held[1]));
  fx_done(&f);
}

static void test_pool_limit(void) {
  fx f;
  fx_init(&f, 1);
  weft_deferred *slow = weft_http_agent_request(f.agent, "GET", "http://app.test/slow", NULL);
  weft_deferred *next = weft_http_agent_request(f.agent, "GET", "http://app.test/hello", NULL);
  turn(&f, 5);
  CHECK_INT(weft_http_agent_connections_made(f.agent), 1);
  CHECK(!weft_deferred_called(next)); /* waits for the only connection */
  REQUIRE(f.app.nheld == 1);
  weft_http_respond(f.app.held[0], 200, NULL, 0, "first", 5);
  f.app.nheld = 0;
  char *b1 = body_of(&f, response_of(&f, slow));
  char *b2 = body_of(&f, response_of(&f, next));
  CHECK_STR(b1, "first");
  CHECK_STR(b2, "hello");
  free(b1);
  free(b2);
  CHECK_INT(weft_http_agent_connections_made(f.agent), 1);
  fx_done(&f);
}

/* The per-host limit with a burst of held requests: 3 connections without a limit, 2 with a limit
 * of 2 (the third request waits, then reuses one). That the burst's connections start at once is
 * test_http_client_tcp's test_burst_connects_at_once: the in-memory connector connects at once,
 * so here it could not tell one-by-one from all together. */
static void test_pool_burst(void) {
  for (int limit = 0; limit <= 2; limit += 2) {
    fx f;
    fx_init(&f, (unsigned)limit);
    weft_deferred *d[3];
    for (int i = 0; i < 3; i++) d[i] = weft_http_agent_request(f.agent, "GET", "http://app.test/slow", NULL);
    CHECK_INT(weft_http_agent_open_connections(f.agent), limit ? 2 : 3);
    turn(&f, 5);
    CHECK_INT(f.app.nheld, limit ? 2 : 3);
    for (int round = 0; round < 2 && f.app.nheld; round++) {
      int n = f.app.nheld;
      f.app.nheld = 0;
      for (int i = 0; i < n; i++) weft_http_respond(f.app.held[i], 200, NULL, 0, "ok", 2);
      turn(&f, 5);
    }
    for (int i = 0; i < 3; i++) {
      char *b = body_of(&f, response_of(&f, d[i]));
      CHECK_STR(b, "ok");
      free(b);
    }
    CHECK_INT(weft_http_agent_connections_made(f.agent), limit ? 2 : 3);
    fx_done(&f);
  }
}

static void test_bad_url(void) {
  fx f;
  fx_init(&f, 0);
  const char *bad[] = {"ftp://x/", "http://", "http://a b/", "http://x:99999/", "http://[zz]/", "/relative"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    weft_failure *fl = failure_of(&f, weft_http_agent_request(f.agent, "GET", bad[i], NULL), WEFT_EINVAL);
    CHECK(fl != NULL);
    if (fl) CHECK(strstr(weft_failure_message(fl), "invalid URL") != NULL);
    weft_failure_unref(fl);
  }
  weft_http_url u;
  CHECK_INT(weft_http_url_parse(&u, "https://[::1]:8443/a?b=c#frag", NULL, 0), 0);
  CHECK_STR(u.host, "::1");
  CHECK_INT(u.port, 8443);
  CHECK(u.ipv6);
  CHECK_STR(u.target, "/a?b=c");
  CHECK_INT(weft_http_url_parse(&u, "HTTP://Example.COM?q", NULL, 0), 0);
  CHECK_STR(u.host, "example.com");
  CHECK_INT(u.port, 80);
  CHECK_STR(u.target, "/?q");
  fx_done(&f);
}

typedef struct sink {
  size_t got;
  int ended, error, pauses;
  weft_http_response *resp;
} sink;

static void s_data(weft_http_response *resp, const char *data, size_t len, void *user) {
  (void)data;
  sink *s = user;
  s->got += len;
  if (s->got >= 256 * 1024 && s->pauses == 0) {
    s->pauses++;
    weft_http_response_pause(resp);
  }
}
static void s_end(weft_http_response *resp, int error, const char *reason, void *user) {
  (void)resp, (void)reason;
  sink *s = user;
  s->ended++;
  s->error = error;
}

static void test_streaming_backpressure(void) {
  fx f;
  fx_init(&f, 0);
  weft_http_response *resp = response_of(&f, weft_http_agent_request(f.agent, "GET", "http://app.test/big", NULL));
  REQUIRE(resp);
  sink s = {0};
  weft_http_body_callbacks cb = {s_data, s_end, &s};
  CHECK_INT(weft_http_response_deliver(resp, &cb), 0);
  CHECK_INT(weft_http_response_deliver(resp, &cb), WEFT_ESTATE);
  turn(&f, 20);
  CHECK_INT(s.pauses, 1);
  CHECK(!s.ended);
  size_t at_pause = s.got;
  turn(&f, 20);
  CHECK_INT(s.got, at_pause); /* nothing more while paused */
  weft_http_response_resume(resp);
  turn(&f, 40);
  CHECK_INT(s.ended, 1);
  CHECK_INT(s.error, 0);
  CHECK_INT(s.got, 16 * 65536);
  weft_http_response_free(resp);
  fx_done(&f);
}

static void test_treq_layer(void) {
  fx f;
  fx_init(&f, 0);
  weft_http_opts o;
  weft_http_opts_init(&o);
  weft_http_header form[] = {{"a b", "1&2"}, {"x", "\xc3\xa9"}};
  o.form = form;
  o.nform = 2;
  o.user = "al";
  o.password = "pw";
  weft_http_response *resp = response_of(&f, weft_http_post(f.agent, "http://app.test/echo", &o));
  REQUIRE(resp);
  weft_deferred *t = weft_http_text(resp); /* takes resp */
  for (int i = 0; i < 20 && !weft_deferred_called(t); i++) turn(&f, 1);
  weft_value v;
  REQUIRE(weft_success_result_of(t, &v, NULL, 0) == 0);
  CHECK_STR((const char *)v.v.p, "POST a+b=1%262&x=%C3%A9");
  weft_value_release(v);
  weft_deferred_unref(t);
  CHECK_STR(f.app.last_auth, "Basic YWw6cHc=");
  /* redirects are followed by default here, as in treq */
  weft_http_opts_init(&o);
  resp = response_of(&f, weft_http_get(f.agent, "http://app.test/redirect/1", &o));
  REQUIRE(resp);
  CHECK_INT(weft_http_response_status(resp), 200);
  weft_value_release(weft_ptr(resp, (void (*)(void *))weft_http_response_free));
  fx_done(&f);
}

/* Credentials of any length go whole into Basic (they were cut to nothing past 767 bytes), and a
 * Content-Type among the caller's headers is the only one sent (the form's is not added). */
static void test_treq_long_credentials_and_caller_content_type(void) {
  fx f;
  fx_init(&f, 0);
  weft_http_opts o;
  weft_http_opts_init(&o);
  static char user[1001];
  memset(user, 'u', 1000);
  o.user = user;
  o.password = "p";
  weft_http_header form[] = {{"a", "1"}};
  o.form = form;
  o.nform = 1;
  weft_http_header mine[] = {{"content-type", "application/x-mine"}};
  o.headers = mine;
  o.nheaders = 1;
  free(body_of(&f, response_of(&f, weft_http_post(f.agent, "http://app.test/echo", &o))));
  CHECK_INT((long long)f.app.last_auth_len, 6 + 4 * ((1002 + 2) / 3));
  CHECK(strncmp(f.app.last_auth, "Basic dXV1", 10) == 0);
  CHECK_INT(f.app.content_types, 1);
  CHECK_STR(f.app.last_ctype, "application/x-mine");
  fx_done(&f);
}

int main(void) {
  RUN(test_treq_layer);
  RUN(test_treq_long_credentials_and_caller_content_type);
  RUN(test_get_and_keep_alive);
  RUN(test_chunked_head_204);
  RUN(test_redirects);
  RUN(test_timeout_and_cancel);
  RUN(test_pool_limit);
  RUN(test_pool_burst);
  RUN(test_bad_url);
  RUN(test_streaming_backpressure);
  return CHECK_DONE();
}
