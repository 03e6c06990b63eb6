/* Tests src/web/http_query.c: query arguments as twisted.web's request.args gives them, decoded
 * as HTML forms encode them, through weft_http_query_arg and a request's weft_http_request_arg. */
#include "http_fixture.h"

static void test_query_arg_table(void) {
  const char *q = "a=1&b=x+y&b=%2F&empty=&flag&c%20d=sp&bad=%zz&nul=a%00b&a=2";
  size_t ql = strlen(q), len = 99;
  char v[64];
  CHECK_INT(weft_http_query_arg(q, ql, "a", 0, v, sizeof v, &len), 0);
  CHECK_STR(v, "1");
  CHECK_INT(weft_http_query_arg(q, ql, "a", 1, v, sizeof v, &len), 0);
  CHECK_STR(v, "2");
  CHECK_INT(weft_http_query_arg(q, ql, "a", 2, v, sizeof v, &len), WEFT_ENOENT);
  CHECK_INT((long long)len, 0);
  CHECK_INT(weft_http_query_arg(q, ql, "b", 0, v, sizeof v, &len), 0);
  CHECK_STR(v, "x y"); /* '+' is a space */
  CHECK_INT(weft_http_query_arg(q, ql, "b", 1, v, sizeof v, &len), 0);
  CHECK_STR(v, "/");
  CHECK_INT(weft_http_query_arg(q, ql, "empty", 0, v, sizeof v, &len), 0);
  CHECK_STR(v, "");
  CHECK_INT(weft_http_query_arg(q, ql, "flag", 0, v, sizeof v, &len), 0); /* no '=': "" */
  CHECK_STR(v, "");
  CHECK_INT(weft_http_query_arg(q, ql, "c d", 0, v, sizeof v, &len), 0); /* the name decoded too */
  CHECK_STR(v, "sp");
  CHECK_INT(weft_http_query_arg(q, ql, "bad", 0, v, sizeof v, &len), 0); /* kept as sent */
  CHECK_STR(v, "%zz");
  CHECK_INT(weft_http_query_arg(q, ql, "nul", 0, v, sizeof v, &len), 0);
  CHECK_MEM(v, len, "a\0b", 3); /* a NUL byte is data: the length says where it ends */
  CHECK_INT(weft_http_query_arg(q, ql, "missing", 0, v, sizeof v, &len), WEFT_ENOENT);
  /* too small: nothing written past size, the length needed told; size 0 asks */
  CHECK_INT(weft_http_query_arg(q, ql, "b", 0, v, 3, &len), WEFT_ERANGE);
  CHECK_INT((long long)len, 3);
  CHECK_INT(weft_http_query_arg(q, ql, "b", 0, NULL, 0, &len), WEFT_ERANGE);
  CHECK_INT((long long)len, 3);
  CHECK_INT(weft_http_query_arg(NULL, 0, "a", 0, v, sizeof v, &len), WEFT_ENOENT);
  CHECK_INT(weft_http_query_arg(q, ql, NULL, 0, v, sizeof v, &len), WEFT_EINVAL);
  /* only ql bytes count: the rest of the buffer is not the query */
  CHECK_INT(weft_http_query_arg("a=1&z=9", 3, "z", 0, v, sizeof v, &len), WEFT_ENOENT);
}

static char seen[64];
static int seen_rc;
static void args_handler(weft_http_request *req, void *user) {
  (void)user;
  size_t len;
  seen_rc = weft_http_request_arg(req, "q", 0, seen, sizeof seen, &len);
  weft_http_respond(req, 200, NULL, 0, "ok", 2);
}

static void test_request_arg(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, args_handler, NULL);
  feed(&f, "GET /search?q=weft+%26+twisted&page=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(seen_rc, 0);
  CHECK_STR(seen, "weft & twisted");
  feed(&f, "GET /search HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(seen_rc, WEFT_ENOENT);
  CHECK_INT(count(out(&f), "200 OK"), 2);
  teardown(&f);
}

static void tls_handler(weft_http_request *req, void *user) {
  (void)user;
  struct weft_tls_info *none = NULL;
  seen_rc = weft_http_request_tls_info(req, none);
  weft_http_respond(req, 200, NULL, 0, "ok", 2);
}

/* The string transport is not TLS: tls_info says so (the TLS case is in test_http_client_tcp). */
static void test_tls_info_on_plain(void) {
  fixture f;
  setup(&f);
  weft_http_server_set_handler(f.srv, tls_handler, NULL);
  feed(&f, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_INT(seen_rc, WEFT_ENOTSUP);
  teardown(&f);
}

int main(void) {
  RUN(test_query_arg_table);
  RUN(test_request_arg);
  RUN(test_tls_info_on_plain);
  return CHECK_DONE();
}
