/* http1_parse: the HTTP/1.1 request parser (src/web/http1_parser.c) on a typical wrk request
 * (the TechEmpower /plaintext one, 6 header fields), parsed N times one by one, then as a
 * pipelined buffer of 16; prints CPU ns per request. Usage: http1_parse [N] (default 10000000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/web/http1_parser.h"

static const char request[] =
    "GET /plaintext HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.7\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

/* CPU time of this process: the machine may be shared, and the parser never sleeps. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a server does with the head: look at a few things (so nothing is optimised away). */
static unsigned long long sink;
static int on_head(void *ud, const weft__h1_head *h) {
  (void)ud;
  sink += h->target.len + h->nfields + h->keep_alive;
  return 0;
}
static int on_complete(void *ud) {
  (void)ud;
  sink++;
  return 0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000000L;
  const weft__h1_callbacks cb = {.on_head = on_head, .on_message_complete = on_complete};
  weft__h1_parser p;
  weft__h1_parser_init(&p, &cb, NULL, NULL);
  size_t len = sizeof request - 1, used;

  double t0 = now_s();
  for (long i = 0; i < n; i++)
    if (weft__h1_parser_feed(&p, request, len, &used) != WEFT__H1_AGAIN || used != len) return 1;
  double t1 = now_s();

  char *pipe = malloc(16 * len);
  if (!pipe) return 1;
  for (int i = 0; i < 16; i++) memcpy(pipe + (size_t)i * len, request, len);
  long rounds = n / 16;
  double t2 = now_s();
  for (long i = 0; i < rounds; i++)
    if (weft__h1_parser_feed(&p, pipe, 16 * len, &used) != WEFT__H1_AGAIN || used != 16 * len) return 1;
  double t3 = now_s();
  free(pipe);

  printf("single_ns=%.1f pipelined16_ns=%.1f bytes=%zu n=%ld (sink %llu)\n", (t1 - t0) * 1e9 / (double)n,
         (t3 - t2) * 1e9 / (double)(rounds * 16), len, n, sink);
  return 0;
}
