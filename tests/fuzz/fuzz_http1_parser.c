/* libFuzzer target for the HTTP/1.1 request parser (src/web/http1_parser.c): any bytes give
 * events or a refusal with a known status, every slice lies in the fed buffer, nothing is read
 * out of bounds, and the transcript is the same whether the bytes come whole, split in two at a
 * point the input picks, or one at a time. The first input byte picks the settings (default or
 * tiny limits, pausing after each message) so that limit paths are explored too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../web/h1_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 16384) return 0;
  weft__h1_limits tiny = {.max_request_line = 40, .max_header_bytes = 80, .max_headers = 4,
                          .max_chunk_line = 12, .max_body = 64};
  h1_opts o = {0};
  o.limits = (data[0] & 1) ? &tiny : NULL;
  o.pause_each = (data[0] & 2) != 0;
  o.pause_head = (data[0] & 4) != 0;
  const char *in = (const char *)data + 2;
  size_t len = size - 2;
  char *whole = h1_run(in, len, len, len, &o);
  if (strstr(whole, H1_BAD_SLICE)) abort();
  const char *err = !strncmp(whole, "ERROR ", 6) ? whole : strstr(whole, "\nERROR "); /* at a line start */
  if (err) {
    err += *err == '\n';
    int status = atoi(strchr(err + 6, ' ') + 1);
    if (status != 400 && status != 413 && status != 414 && status != 431 && status != 501 && status != 505) abort();
  }
  size_t k = len ? (size_t)data[1] * len / 256 + 1 : 1;
  char *split = h1_run(in, len, k, len, &o);
  if (strcmp(whole, split) != 0) abort();
  free(split);
  if (len <= 4096) {
    char *bytes = h1_run(in, len, 1, 1, &o);
    if (strcmp(whole, bytes) != 0) abort();
    free(bytes);
  }
  free(whole);
  return 0;
}
