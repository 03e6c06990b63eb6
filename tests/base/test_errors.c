/* Tests src/base/errors.c: every code has a name and message; errno codes pass through. */
#include <errno.h>

#include "check.h"
#include "weft/errors.h"

static void test_errno_codes_are_negated_errno(void) {
  CHECK_INT(WEFT_ECONNREFUSED, -ECONNREFUSED);
  CHECK_INT(WEFT_EMFILE, -EMFILE);
  CHECK_STR(weft_err_name(WEFT_ECONNREFUSED), "ECONNREFUSED");
  CHECK_STR(weft_strerror(WEFT_ECONNREFUSED), "connection refused");
}

static void test_own_codes(void) {
  CHECK(WEFT_ECLOSED < -4000);
  CHECK_STR(weft_err_name(WEFT_ECLOSED), "ECLOSED");
  CHECK_STR(weft_strerror(WEFT_EABORTED), "connection aborted locally");
  CHECK_STR(weft_err_name(0), "OK");
  CHECK_STR(weft_strerror(0), "success");
}

static void test_unknown_codes(void) {
  CHECK_STR(weft_err_name(-99999), "UNKNOWN");
  CHECK_STR(weft_strerror(-99999), "unknown error");
  /* an errno the table does not list still gets the C library's text */
  CHECK(strlen(weft_strerror(-EDOM)) > 0);
  CHECK(strcmp(weft_strerror(-EDOM), "unknown error") != 0);
}

int main(void) {
  RUN(test_errno_codes_are_negated_errno);
  RUN(test_own_codes);
  RUN(test_unknown_codes);
  return CHECK_DONE();
}
