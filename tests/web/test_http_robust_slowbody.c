/* test_http_robust_slowbody.c: slowhttptest's slow-body mode (-B, R-U-Dead-Yet: whole heads
 * announcing an 8 KiB body, sent a few bytes a second on 200 connections) against the HTTP/1.1
 * server while curl still gets every answer. See http_slow.h for what is run and checked. */
#include "web/http_slow.h"

static void test_slow_body_while_serving(void) { slow_attack("-B", "/echo"); }

int main(void) {
  RUN(test_slow_body_while_serving);
  return CHECK_DONE();
}
