/* libFuzzer target for the HTTP/1.1 response parser (src/web/http1_response.c): any bytes give
 * events or a known error, every slice lies in the fed buffer, nothing is read out of bounds, and
 * the transcript is the same whether the bytes come whole, split at a point the input picks, or
 * one at a time. The first byte picks the settings (tiny limits, pausing, which requests were
 * HEAD) so that limit and framing paths are explored too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../web/h1r_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 16384) return 0;
  weft__h1r_limits tiny = {.max_status_line = 40, .max_header_bytes = 80, .max_headers = 4,
                           .max_chunk_line = 12, .max_body = 64};
  const weft__h1r_limits *lim = (data[0] & 1) ? &tiny : NULL;
  int pause = (data[0] & 2) != 0;
  const char *methods = (data[0] & 4) ? "HGHG" : (data[0] & 8) ? "GHGG" : "GGGG";
  const char *in = (const char *)data + 2;
  size_t len = size - 2;
  char *whole = h1r_run(in, len, len, len, methods, lim, pause);
  if (strstr(whole, H1R_BAD_SLICE)) abort();
  size_t k = len ? (size_t)data[1] * len / 256 + 1 : 1;
  char *split = h1r_run(in, len, k, len, methods, lim, !pause);
  if (strcmp(whole, split) != 0) abort();
  free(split);
  if (len <= 4096) {
    char *bytes = h1r_run(in, len, 1, 1, methods, lim, pause);
    if (strcmp(whole, bytes) != 0) abort();
    free(bytes);
  }
  free(whole);
  return 0;
}
