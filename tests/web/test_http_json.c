/* Tests for JSON with the HTTP client (src/web/http_json.c, Jansson): response bodies parsed
 * (objects and scalars), invalid JSON and a body over the limit failing clearly, and JSON request
 * bodies from a json_t through the treq layer, with the in-memory client against a weft server. */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "weft/http.h"
#include "weft/http_client.h"
#include "weft/http_json.h"
#include "weft/testing.h"

static void handler(weft_http_request *req, void *user) {
  (void)user;
  size_t pl;
  const char *p = weft_http_request_path(req, &pl);
  char path[128];
  snprintf(path, sizeof path, "%.*s", (int)pl, p);
  weft_http_header json[] = {{"Content-Type", "application/json"}};
  if (!strcmp(path, "/obj")) {
    const char *b = "{\"name\": \"weft\", \"list\": [1, 2.5, true, null], \"nested\": {\"k\": \"\\u00e9\"}}";
    weft_http_respond(req, 200, json, 1, b, strlen(b));
  } else if (!strcmp(path, "/scalar")) {
    weft_http_respond(req, 200, json, 1, "42", 2);
  } else if (!strcmp(path, "/bad")) {
    const char *b = "{\"a\": 1,\n \"b\": }";
    weft_http_respond(req, 200, json, 1, b, strlen(b));
  } else if (!strcmp(path, "/empty")) {
    weft_http_respond(req, 200, json, 1, "", 0);
  } else if (!strcmp(path, "/big")) {
    /* a valid JSON array of 4000 bytes, streamed in pieces */
    weft_http_response_start(req, 200);
    weft_http_response_write(req, "[", 1);
    for (int i = 0; i < 999; i++) weft_http_response_write(req, "100,", 4);
    weft_http_response_write(req, "1]", 2);
    weft_http_response_finish(req);
  } else if (!strcmp(path, "/echo")) {
    /* answers {"type": <Content-Type>, "body": <the body as text>} */
    size_t bl, tl;
    const char *b = weft_http_request_body(req, &bl);
    const char *t = weft_http_request_header(req, "content-type", &tl);
    json_t *o = json_pack("{s:s%,s:s%}", "type", t ? t : "", t ? tl : 0, "body", b ? b : "", b ? bl : 0);
    char *s = json_dumps(o, JSON_COMPACT);
    weft_http_respond(req, 200, json, 1, s, strlen(s));
    free(s);
    json_decref(o);
  } else {
    weft_http_respond(req, 404, NULL, 0, "no", 2);
  }
}

typedef struct fx {
  weft_reactor *r;
  weft_http_server *srv;
  weft_http_agent *agent;
} fx;

static void fx_init(fx *f) {
  REQUIRE(weft_memory_reactor_new(&f->r) == 0);
  REQUIRE(weft_http_server_new(&f->srv, f->r, NULL) == 0);
  weft_http_server_set_handler(f->srv, handler, NULL);
  REQUIRE(weft_http_stub_new(&f->agent, f->r, f->srv) == 0);
}

static void turn(fx *f, int n) {
  for (int i = 0; i < n; i++) weft_memory_reactor_advance(f->r, 0);
}

static void fx_done(fx *f) {
  weft_http_agent_free(f->agent);
  turn(f, 5);
  weft_http_server_free(f->srv);
  turn(f, 5);
  CHECK_INT(weft_reactor_open_handles(f->r), 0);
  weft_reactor_free(f->r);
}

static weft_http_response *response_of(fx *f, weft_deferred *d) {
  REQUIRE(d);
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  weft_value v;
  char why[512];
  int rc = weft_success_result_of(d, &v, why, sizeof why);
  weft_deferred_unref(d);
  if (rc != 0) {
    fprintf(stderr, "  %s\n", why);
    return NULL;
  }
  return v.v.p; /* the caller owns the response */
}

static weft_value take(weft_value v, void *arg) {
  *(weft_value *)arg = v;
  return weft_none();
}

/* GETs path and parses its body with a limit (0: the default); returns the JSON value (one
 * reference, the caller's) or NULL with the failure's code and text in *code and why. */
static json_t *json_of(fx *f, const char *path, size_t max, int *code, char *why, size_t n) {
  char url[128];
  snprintf(url, sizeof url, "http://api.test%s", path);
  weft_http_response *resp = response_of(f, weft_http_get(f->agent, url, NULL));
  REQUIRE(resp);
  weft_deferred *d = max ? weft_http_json_max(resp, max) : weft_http_json(resp);
  REQUIRE(d);
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(f, 1);
  REQUIRE(weft_deferred_called(d));
  /* the result, taken out of d by a last step */
  weft_value v = weft_none();
  weft_deferred_add_both(d, take, &v);
  json_t *out = NULL;
  *code = 0;
  if (!weft_value_is_failure(v)) {
    REQUIRE(v.kind == WEFT_VALUE_PTR);
    out = json_incref(v.v.p);
    weft_value_release(v); /* drops the value's reference: ours stays */
  } else {
    weft_failure *fl = v.v.f;
    CHECK_STR(weft_failure_domain(fl), WEFT_HTTP_CLIENT_DOMAIN);
    *code = weft_failure_code(fl);
    snprintf(why, n, "%s", weft_failure_message(fl));
    weft_failure_unref(fl);
  }
  weft_deferred_unref(d);
  return out;
}

static void test_parse(void) {
  fx f;
  fx_init(&f);
  int code;
  char why[512];
  json_t *j = json_of(&f, "/obj", 0, &code, why, sizeof why);
  REQUIRE(j);
  CHECK(json_is_object(j));
  CHECK_STR(json_string_value(json_object_get(j, "name")), "weft");
  json_t *list = json_object_get(j, "list");
  CHECK_INT(json_array_size(list), 4);
  CHECK_INT(json_integer_value(json_array_get(list, 0)), 1);
  CHECK(json_real_value(json_array_get(list, 1)) == 2.5);
  CHECK(json_is_true(json_array_get(list, 2)));
  CHECK(json_is_null(json_array_get(list, 3)));
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "nested"), "k")), "\xc3\xa9");
  json_decref(j);
  /* any JSON value, as treq.json_content */
  j = json_of(&f, "/scalar", 0, &code, why, sizeof why);
  REQUIRE(j);
  CHECK_INT(json_integer_value(j), 42);
  json_decref(j);
  /* a chunked body of 4000 bytes, collected whole and parsed once */
  j = json_of(&f, "/big", 0, &code, why, sizeof why);
  REQUIRE(j);
  CHECK_INT(json_array_size(j), 1000);
  json_decref(j);
  fx_done(&f);
}

static void test_invalid_and_limit(void) {
  fx f;
  fx_init(&f);
  int code;
  char why[512];
  CHECK(json_of(&f, "/bad", 0, &code, why, sizeof why) == NULL);
  CHECK_INT(code, WEFT_EINVAL);
  /* the URL, then Jansson's reason with its line and column */
  CHECK(strncmp(why, "http://api.test/bad: invalid JSON: ", 35) == 0);
  CHECK(strstr(why, "(line 2, column ") != NULL);
  CHECK(json_of(&f, "/empty", 0, &code, why, sizeof why) == NULL);
  CHECK_INT(code, WEFT_EINVAL);
  CHECK(strstr(why, "invalid JSON:") != NULL);
  /* over the limit: refused, not parsed */
  CHECK(json_of(&f, "/big", 1000, &code, why, sizeof why) == NULL);
  CHECK_INT(code, WEFT_ELIMIT);
  CHECK(strstr(why, "larger than the limit") != NULL);
  /* the agent is still usable afterwards (the connection over the limit was closed) */
  json_t *j = json_of(&f, "/scalar", 0, &code, why, sizeof why);
  CHECK(j && json_integer_value(j) == 42);
  json_decref(j);
  fx_done(&f);
}

static void test_json_request_body(void) {
  fx f;
  fx_init(&f);
  json_t *body = json_pack("{s:i,s:[s,b],s:n}", "n", 7, "xs", "a \"q\"", 1, "none");
  char *text = weft_http_json_body(body);
  CHECK_STR(text, "{\"n\":7,\"xs\":[\"a \\\"q\\\"\",true],\"none\":null}");
  weft_http_opts o;
  weft_http_opts_init(&o);
  o.json = body;
  weft_http_response *resp = response_of(&f, weft_http_post(f.agent, "http://api.test/echo", &o));
  REQUIRE(resp);
  weft_deferred *d = weft_http_json(resp);
  for (int i = 0; i < 50 && !weft_deferred_called(d); i++) turn(&f, 1);
  weft_value v;
  REQUIRE(weft_success_result_of(d, &v, NULL, 0) == 0);
  json_t *echo = v.v.p;
  CHECK_STR(json_string_value(json_object_get(echo, "type")), "application/json");
  CHECK_STR(json_string_value(json_object_get(echo, "body")), text); /* compact, in key order */
  weft_value_release(v);
  weft_deferred_unref(d);
  free(text);
  json_decref(body);
  CHECK(weft_http_json_body(NULL) == NULL);
  fx_done(&f);
}

int main(void) {
  RUN(test_parse);
  RUN(test_invalid_and_limit);
  RUN(test_json_request_body);
  return CHECK_DONE();
}
