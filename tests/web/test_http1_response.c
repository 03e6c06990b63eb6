/* Tests for the HTTP/1.1 response parser (src/web/http1_response.c): framing by RFC 9112
 * section 6.3, strictness, limits. Every case is also run split at every byte and one byte at a
 * time, and must give the same transcript. */
#include "../check.h"
#include "h1r_record.h"

/* Runs in whole, then split at every point, then byte by byte; all must equal want. */
static void expect_lim(const char *in, const char *methods, const weft__h1r_limits *lim, const char *want) {
  size_t len = strlen(in);
  char *whole = h1r_run(in, len, len, len, methods, lim, 0);
  CHECK_STR(whole, want);
  for (size_t k = 1; k < len; k++) {
    char *split = h1r_run(in, len, k, len, methods, lim, k & 1);
    if (strcmp(split, want) != 0) {
      CHECK_STR(split, want);
      fprintf(stderr, "  (split at %zu)\n", k);
      free(split);
      break;
    }
    free(split);
  }
  char *bytes = h1r_run(in, len, 1, 1, methods, lim, 0);
  CHECK_STR(bytes, want);
  free(bytes);
  free(whole);
}

static void expect(const char *in, const char *methods, const char *want) { expect_lim(in, methods, NULL, want); }

static void test_content_length(void) {
  expect("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c \r\n\r\nhello", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=5 ka=1 interim=0 n=2\n"
         "F Content-Length: 5\nF X-A: b c\nBODY hello\nEND\nEOF\n");
  /* two responses on one connection, the second empty */
  expect("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "GG",
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=2 ka=1 interim=0 n=1\nF Content-Length: 2\nBODY ab\nEND\n"
         "HEAD 404 HTTP/1.1 reason=Not Found framing=1 cl=0 ka=1 interim=0 n=1\nF Content-Length: 0\nEND\nEOF\n");
  /* a list of equal values is one value (RFC 9110 section 8.6) */
  expect("HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\nContent-Length: 1\r\n\r\nx", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=1 ka=1 interim=0 n=2\n"
         "F Content-Length: 1, 1\nF Content-Length: 1\nBODY x\nEND\nEOF\n");
}

static void test_no_body_cases(void) {
  /* HEAD: Content-Length describes the GET's body, none follows */
  expect("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
         "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
         "HGG",
         "HEAD 200 HTTP/1.1 reason=OK framing=0 cl=50 ka=1 interim=0 n=1\nF Content-Length: 50\nEND\n"
         "HEAD 204 HTTP/1.1 reason=No Content framing=0 cl=0 ka=1 interim=0 n=0\nEND\n"
         "HEAD 304 HTTP/1.1 reason=Not Modified framing=0 cl=9 ka=1 interim=0 n=1\nF Content-Length: 9\nEND\nEOF\n");
  /* 100 Continue (and 103) are skipped to the final response */
  expect("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
         "G",
         "HEAD 100 HTTP/1.1 reason=Continue framing=0 cl=0 ka=1 interim=1 n=0\n"
         "HEAD 103 HTTP/1.1 reason=Early Hints framing=0 cl=0 ka=1 interim=1 n=1\nF Link: </a>\n"
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=1 ka=1 interim=0 n=1\nF Content-Length: 1\nBODY z\nEND\nEOF\n");
}

static void test_chunked(void) {
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=\"y\"\r\nhello\r\n1\r\n!\r\n0\r\n"
         "Digest: abc\r\nX-T: 1\r\n\r\n",
         "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=2 cl=0 ka=1 interim=0 n=1\nF Transfer-Encoding: chunked\n"
         "BODY hello!\nT Digest: abc\nT X-T: 1\nEND\nEOF\n");
  /* a chunked response that is cut short is truncated, not complete */
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=2 cl=0 ka=1 interim=0 n=1\nF Transfer-Encoding: chunked\n"
         "BODY hel\nERROR TRUNCATED\n");
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=2 cl=0 ka=1 interim=0 n=1\nF Transfer-Encoding: chunked\n"
         "BODY ab\nERROR CHUNK_DATA_END\n");
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=2 cl=0 ka=1 interim=0 n=1\nF Transfer-Encoding: chunked\n"
         "ERROR CHUNK_SIZE\n");
}

static void test_until_close(void) {
  /* no length at all: the body runs until the connection ends, which completes it */
  expect("HTTP/1.1 200 OK\r\n\r\nall of it", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=3 cl=0 ka=0 interim=0 n=0\nBODY all of it\nEND\nEOF\n");
  /* HTTP/1.0 without keep-alive does not persist, even with a length */
  expect("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "G",
         "HEAD 200 HTTP/1.0 reason=OK framing=1 cl=0 ka=0 interim=0 n=1\nF Content-Length: 0\nEND\nEOF\n");
  expect("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=0 ka=0 interim=0 n=2\nF Connection: close\n"
         "F Content-Length: 0\nEND\nEOF\n");
  /* a coding that is not chunked at the end: until close (RFC 9112 section 6.3 item 4) */
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=3 cl=0 ka=0 interim=0 n=1\nF Transfer-Encoding: gzip\n"
         "BODY zz\nEND\nEOF\n");
  /* a missing reason phrase, with or without its space */
  expect("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "G",
         "HEAD 200 HTTP/1.1 reason= framing=1 cl=0 ka=1 interim=0 n=1\nF Content-Length: 0\nEND\nEOF\n");
}

static void test_strict(void) {
  expect("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "G", "ERROR CL_AND_TE\n");
  expect("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "G", "ERROR CL_CONFLICT\n");
  expect("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", "G", "ERROR CL_CONFLICT\n");
  expect("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "G", "ERROR CL_INVALID\n");
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "G", "ERROR TE_UNSUPPORTED\n");
  expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "G", "ERROR TE_INVALID\n");
  expect("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "G", "ERROR OBS_FOLD\n");
  expect("HTTP/1.1 200 OK\nX: a\r\n\r\n", "G", "ERROR BARE_LF\n");
  expect("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", "G", "ERROR SPACE_BEFORE_COLON\n");
  expect("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", "G", "ERROR FIELD_VALUE\n");
  expect("HTTP/2.0 200 OK\r\n\r\n", "G", "ERROR VERSION\n");
  expect("HTTX/1.1 200 OK\r\n\r\n", "G", "ERROR STATUS_LINE\n");
  expect("HTTP/1.1 20 OK\r\n\r\n", "G", "ERROR STATUS_LINE\n");
  expect("HTTP/1.1 099 OK\r\n\r\n", "G", "ERROR STATUS_LINE\n");
  expect("<html>\r\n", "G", "ERROR STATUS_LINE\n");
  /* bytes nobody asked for */
  expect("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=0 ka=1 interim=0 n=1\nF Content-Length: 0\nEND\nERROR UNEXPECTED\n");
  /* closed mid-head or mid-body */
  expect("HTTP/1.1 200 OK\r\nContent-Le", "G", "ERROR TRUNCATED\n");
  expect("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", "G",
         "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=4 ka=1 interim=0 n=1\nF Content-Length: 4\nBODY ab\nERROR TRUNCATED\n");
  /* nothing at all: the connection closed before any byte */
  expect("", "G", "ERROR TRUNCATED\n");
}

static void test_limits(void) {
  weft__h1r_limits lim;
  weft__h1r_limits_init(&lim);
  lim.max_header_bytes = 30;
  lim.max_headers = 2;
  lim.max_body = 4;
  lim.max_status_line = 20;
  expect_lim("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", "G", &lim, "ERROR TOO_MANY_HEADERS\n");
  expect_lim("HTTP/1.1 200 OK\r\nA: 12345678901234567890123456789\r\n\r\n", "G", &lim, "ERROR HEAD_TOO_LARGE\n");
  expect_lim("HTTP/1.1 200 OK but this reason is long\r\n\r\n", "G", &lim, "ERROR STATUS_LINE\n");
  expect_lim("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "G", &lim,
             "HEAD 200 HTTP/1.1 reason=OK framing=1 cl=5 ka=1 interim=0 n=1\nF Content-Length: 5\n"
             "ERROR BODY_TOO_LARGE\n");
  expect_lim("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "G", &lim,
             "HEAD 200 HTTP/1.1 reason=OK framing=2 cl=0 ka=1 interim=0 n=1\nF Transfer-Encoding: chunked\n"
             "BODY abc\nERROR BODY_TOO_LARGE\n");
  expect_lim("HTTP/1.1 200 OK\r\n\r\nhello", "G", &lim,
             "HEAD 200 HTTP/1.1 reason=OK framing=3 cl=0 ka=0 interim=0 n=0\nBODY hell\nERROR BODY_TOO_LARGE\n");
}

int main(void) {
  RUN(test_content_length);
  RUN(test_no_body_cases);
  RUN(test_chunked);
  RUN(test_until_close);
  RUN(test_strict);
  RUN(test_limits);
  return CHECK_DONE();
}
