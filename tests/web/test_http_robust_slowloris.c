/* test_http_robust_slowloris.c: slowhttptest's slowloris mode (-H: heads sent a few bytes a
 * second on 200 connections) against the HTTP/1.1 server while curl still gets every answer.
 * See http_slow.h for what is run and checked. */
#include "web/http_slow.h"

static void test_slowloris_while_serving(void) { slow_attack("-H", "/hello"); }

int main(void) {
  RUN(test_slowloris_while_serving);
  return CHECK_DONE();
}
