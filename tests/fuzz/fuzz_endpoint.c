/* libFuzzer target for the endpoint-string parser (src/net/endpoint.c): any bytes either parse
 * or give WEFT_EPARSE with a NUL-terminated message; a parsed endpoint describes itself in a
 * form that parses back to the same description. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/endpoint.h"
#include "weft/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *desc = malloc(size + 1);
  if (!desc) return 0;
  memcpy(desc, data, size);
  desc[size] = '\0'; /* embedded NULs end the string early, as they would for a C caller */
  weft_server_endpoint *e = NULL;
  char err[256];
  int rc = weft_server_endpoint_parse(&e, desc, err, sizeof err);
  if (rc == 0) {
    char canon[1024], again[1024];
    if (weft_server_endpoint_describe(e, canon, sizeof canon) == 0) {
      weft_server_endpoint *e2 = NULL;
      if (weft_server_endpoint_parse(&e2, canon, err, sizeof err) != 0) abort(); /* must round-trip */
      if (weft_server_endpoint_describe(e2, again, sizeof again) != 0 || strcmp(canon, again) != 0) abort();
      weft_server_endpoint_free(e2);
    }
    weft_server_endpoint_free(e);
  } else {
    if (rc != WEFT_EPARSE && rc != WEFT_ENOMEM) abort();
    if (memchr(err, '\0', sizeof err) == NULL) abort();
  }
  free(desc);
  return 0;
}
