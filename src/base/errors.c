/* errors.c: weft_strerror and weft_err_name from the one table in errors.h (libuv's uv_strerror). */
#include <string.h>

#include "weft/errors.h"

const char *weft_strerror(int err) {
  if (err == 0) return "success";
  switch (err) {
#define WEFT_ERR_MSG_(name, value, msg) \
  case (value):                         \
    return msg;
    WEFT_ERRNO_TABLE(WEFT_ERR_MSG_)
    WEFT_OWN_TABLE(WEFT_ERR_MSG_)
#undef WEFT_ERR_MSG_
  }
  /* A negated errno that the table does not list: the C library's text is static here. */
  if (err < 0 && err > -4000) return strerror(-err);
  return "unknown error";
}

const char *weft_err_name(int err) {
  if (err == 0) return "OK";
  switch (err) {
#define WEFT_ERR_NAME_(name, value, msg) \
  case (value):                          \
    return #name;
    WEFT_ERRNO_TABLE(WEFT_ERR_NAME_)
    WEFT_OWN_TABLE(WEFT_ERR_NAME_)
#undef WEFT_ERR_NAME_
  }
  return "UNKNOWN";
}
