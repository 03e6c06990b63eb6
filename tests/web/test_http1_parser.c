/* Tests for the HTTP/1.1 request parser (src/web/http1_parser.c): events, connection semantics,
 * every strictness rule with its status, the request-smuggling table, limits, pipelining and
 * pausing. Every case is also fed split at every byte boundary and byte by byte, and must give
 * the same transcript each time. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "web/h1_record.h"

static const h1_opts plain = {0};

/* Runs `in` whole, split in two at every boundary, byte by byte and in 7-byte pieces; every run
 * must give the same transcript, which is returned (the caller frees it). */
static char *runs_n(const char *in, size_t len, const h1_opts *o) {
  char *whole = h1_run(in, len, len, len, o);
  size_t every = len <= 3000 ? 1 : len / 97; /* long inputs: a sample of the boundaries */
  for (size_t k = 1; k < len; k += every) {
    char *t = h1_run(in, len, k, len, o);
    if (strcmp(t, whole) != 0) {
      CHECK_FAIL_("split at %zu of %zu differs:\n--- whole\n%s--- split\n%s", k, len, whole, t);
      free(t);
      break;
    }
    free(t);
  }
  size_t steps[] = {1, 7};
  for (size_t i = 0; i < 2; i++) {
    if (steps[i] == 1 && len > 20000) continue;
    char *t = h1_run(in, len, steps[i], steps[i], o);
    if (strcmp(t, whole) != 0) CHECK_FAIL_("%zu-byte pieces differ:\n--- whole\n%s--- pieces\n%s", steps[i], whole, t);
    free(t);
  }
  if (strstr(whole, H1_BAD_SLICE)) CHECK_FAIL_("a slice outside the fed buffer:\n%s", whole);
  return whole;
}
static char *runs(const char *in, const h1_opts *o) { return runs_n(in, strlen(in), o); }

#define CHECK_HAS(t, s)                                                                           \
  do {                                                                                            \
    if (!strstr((t), (s))) CHECK_FAIL_("transcript lacks \"%s\":\n%s", (s), (t));               \
  } while (0)
#define CHECK_LACKS(t, s)                                                                         \
  do {                                                                                            \
    if (strstr((t), (s))) CHECK_FAIL_("transcript has \"%s\":\n%s", (s), (t));                  \
  } while (0)

#define WRK_REQUEST                                                                               \
  "GET /plaintext HTTP/1.1\r\n"                                                                   \
  "Host: localhost:8080\r\n"                                                                      \
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/115.0\r\n"                 \
  "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.7\r\n"                \
  "Accept-Language: en-US,en;q=0.5\r\n"                                                           \
  "Accept-Encoding: gzip, deflate\r\n"                                                            \
  "Connection: keep-alive\r\n"                                                                    \
  "\r\n"

static void test_simple_get(void) {
  char *t = runs(WRK_REQUEST, &plain);
  const char *want =
      "HEAD GET /plaintext HTTP/1.1 cont=0 form=0 method=1 ka=1 expx=0 framing=0 cl=0 host=localhost:8080 up=0: n=6\n"
      "F Host: localhost:8080\n"
      "F User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/115.0\n"
      "F Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.7\n"
      "F Accept-Language: en-US,en;q=0.5\n"
      "F Accept-Encoding: gzip, deflate\n"
      "F Connection: keep-alive\n"
      "END ka=1\n"
      "EOF idle=1 rest=0\n";
  CHECK_STR(t, want);
  free(t);
}

/* Values lose their surrounding OWS but keep inner whitespace; empty values are fine. */
static void test_field_values(void) {
  char *t = runs("GET / HTTP/1.1\r\nHost:x\r\nA: \t a \t b \t\r\nB:\r\nC:   \r\nD: \xc3\xa9t\xc3\xa9\r\n\r\n", &plain);
  CHECK_HAS(t, "F Host: x\nF A: a \\x09 b\nF B: \nF C: \nF D: \\xc3\\xa9t\\xc3\\xa9\nEND ka=1\n");
  free(t);
}

static void test_incomplete_head_is_not_consumed(void) {
  char *t = runs("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n", &plain);
  CHECK_STR(t, "EOF idle=0 rest=38\n");
  free(t);
}

static void test_body_content_length(void) {
  char *t = runs("POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello worldGET / HTTP/1.1\r\nHost: h\r\n\r\n", &plain);
  CHECK_HAS(t, "framing=1 cl=11");
  CHECK_HAS(t, "BODY hello world\nEND ka=1\nHEAD GET / ");
  CHECK_HAS(t, "EOF idle=1 rest=0");
  free(t);
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &plain);
  CHECK_HAS(t, "framing=0 cl=0");
  CHECK_HAS(t, "END ka=1\nEOF idle=1");
  free(t);
}

static void test_chunked_with_extensions_and_trailers(void) {
  const char *in = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5;name=value;flag\r\nhello\r\n"
                   "6 ; q=\"a \\\"quoted\\\" ;=, ext\"\r\n world\r\n"
                   "000A\r\n0123456789\r\n"
                   "0;last=1\r\nX-Checksum: abc\r\nX-Other:  two \r\n\r\n"
                   "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  char *t = runs(in, &plain);
  CHECK_HAS(t, "framing=2");
  CHECK_HAS(t, "BODY hello world0123456789\nT X-Checksum: abc\nT X-Other: two\nEND ka=1\nHEAD GET /next");
  free(t);
  /* no trailers: no on_trailers */
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", &plain);
  CHECK_HAS(t, "BODY abc\nEND ka=1\nEOF idle=1 rest=0");
  CHECK_LACKS(t, "\nT ");
  free(t);
  /* transfer codings are case-insensitive and OWS around the value is not part of it */
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \t ChUnKeD \r\n\r\n0\r\n\r\n", &plain);
  CHECK_HAS(t, "framing=2");
  CHECK_HAS(t, "END ka=1");
  free(t);
}

static void test_pipelined_with_pause(void) {
  h1_opts o = {0};
  o.pause_each = 1;
  char in[4096] = "";
  for (int i = 0; i < 16; i++) {
    char one[128];
    snprintf(one, sizeof one, "GET /r%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    strcat(in, one);
  }
  char *t = runs(in, &o);
  /* every request answered in order, the parser stopping after each one */
  const char *at = t;
  for (int i = 0; i < 16; i++) {
    char want[64];
    snprintf(want, sizeof want, "HEAD GET /r%d ", i);
    const char *h = strstr(at, want);
    CHECK(h != NULL);
    if (!h) break;
    at = strstr(h, "END ka=1\nPAUSE\n");
    CHECK(at != NULL);
    if (!at) break;
  }
  free(t);
  /* a paused parser consumes nothing until resumed, and resumes where it stopped */
  weft__h1_parser p;
  weft__h1_parser_init(&p, NULL, NULL, NULL);
  size_t used = 0;
  CHECK_INT(weft__h1_parser_feed(&p, in, strlen(in), &used), WEFT__H1_AGAIN);
  CHECK_INT(used, strlen(in));
  weft__h1_parser_pause(&p);
  CHECK_INT(weft__h1_parser_feed(&p, in, strlen(in), &used), WEFT__H1_PAUSED);
  CHECK_INT(used, 0);
  weft__h1_parser_resume(&p);
  CHECK_INT(weft__h1_parser_feed(&p, "", 0, &used), WEFT__H1_AGAIN);
}

static void test_pause_in_head(void) {
  h1_opts o = {0};
  o.pause_head = 1;
  char *t = runs("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", &o);
  CHECK_HAS(t, "cont=1");
  CHECK_HAS(t, "F Content-Length: 3\nPAUSE\nBODY abc\nEND");
  free(t);
}

static void test_http10_keep_alive(void) {
  struct {
    const char *in;
    int ka;
  } rows[] = {
      {"GET / HTTP/1.0\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: CLOSE\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 1},
      {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 1}, /* a later 1.x is handled as 1.1 */
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char *t = runs(rows[i].in, &plain);
    char want[32];
    snprintf(want, sizeof want, " ka=%d ", rows[i].ka);
    CHECK_HAS(t, want);
    free(t);
  }
  /* HTTP/1.0 needs no Host; Expect and Upgrade are ignored there */
  char *t = runs("POST / HTTP/1.0\r\nExpect: 100-continue\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                 "Content-Length: 1\r\n\r\nx",
                 &plain);
  CHECK_HAS(t, "HTTP/1.0 cont=0");
  CHECK_HAS(t, "host=(none) up=0:");
  CHECK_HAS(t, "END ka=0\nEOF");
  free(t);
}

static void test_target_forms(void) {
  char *t = runs("GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", &plain);
  CHECK_HAS(t, "HEAD GET http://example.com:8080/a/b?c=d HTTP/1.1 cont=0 form=1 ");
  free(t);
  t = runs("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &plain);
  CHECK_HAS(t, "HEAD OPTIONS * HTTP/1.1 cont=0 form=3 method=7 ");
  free(t);
  t = runs("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01", &plain);
  CHECK_HAS(t, "HEAD CONNECT example.com:443 HTTP/1.1 cont=0 form=2 method=6 ");
  CHECK_HAS(t, "END ka=1\nSWITCH\nEOF idle=1 rest=3\n"); /* the tunnel's bytes are left to the server */
  free(t);
  t = runs("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", &plain);
  CHECK_HAS(t, "form=2");
  free(t);
  t = runs("PURGE /x?y=%20&z=a:b@c;d!$'()*+,= HTTP/1.1\r\nHost: h\r\n\r\n", &plain);
  CHECK_HAS(t, "HEAD PURGE /x?y=%20&z=a:b@c;d!$'()*+,= HTTP/1.1 cont=0 form=0 method=0 ");
  free(t);
}

static void test_upgrade_and_expect(void) {
  char *t = runs("GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n\x81\x85",
                 &plain);
  CHECK_HAS(t, "up=1:websocket n=4");
  CHECK_HAS(t, "END ka=1\nSWITCH\nEOF idle=1 rest=2\n");
  free(t);
  /* without "upgrade" in Connection the Upgrade field is not a request to switch */
  t = runs("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", &plain);
  CHECK_HAS(t, "up=0:");
  CHECK_HAS(t, "HEAD GET /2");
  CHECK_LACKS(t, "SWITCH");
  free(t);
  /* a declined upgrade: resume and the next request is parsed as HTTP/1.1 */
  weft__h1_parser p;
  weft__h1_parser_init(&p, NULL, NULL, NULL);
  const char *in = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n";
  size_t used = 0;
  CHECK_INT(weft__h1_parser_feed(&p, in, strlen(in), &used), WEFT__H1_PAUSED);
  CHECK_INT(used, strlen(in));
  CHECK(weft__h1_parser_upgrade_pending(&p));
  weft__h1_parser_resume(&p);
  CHECK(!weft__h1_parser_upgrade_pending(&p));
  CHECK_INT(weft__h1_parser_feed(&p, in, 5, &used), WEFT__H1_AGAIN);
  CHECK(!weft__h1_parser_idle(&p));
  /* expectations */
  t = runs("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", &plain);
  CHECK_HAS(t, "cont=1 form=0 method=4 ka=1 expx=0");
  free(t);
  t = runs("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", &plain);
  CHECK_HAS(t, "cont=0 form=0 method=4 ka=1 expx=1");
  free(t);
}

static void test_leading_empty_lines(void) {
  char *t = runs("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", &plain);
  CHECK_HAS(t, "HEAD GET / ");
  CHECK_HAS(t, "HEAD GET /b ");
  CHECK_HAS(t, "EOF idle=1 rest=0");
  free(t);
  t = runs("\r\n", &plain);
  CHECK_STR(t, "EOF idle=1 rest=0\n");
  free(t);
}

/* Every refusal: input, then the transcript's last event. */
static const struct {
  const char *in, *want;
} refusals[] = {
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", "ERROR BARE_LF 400"},
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", "ERROR BARE_LF 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", "ERROR BARE_LF 400"},
    {"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR BARE_LF 400"},
    {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", "ERROR BARE_CR 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\n\rX", "ERROR BARE_CR 400"},
    {"GET / HTTP/1.1\rHost: h\r\n\r\n", "ERROR BARE_CR 400"},
    {"\r\rGET / HTTP/1.1\r\n\r\n", "ERROR BARE_CR 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", "ERROR NUL 400"},
    {"GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR NUL 400"},
    {"G\0T / HTTP/1.1\r\n\r\n", "ERROR NUL 400"},
    {"GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n", "ERROR NUL 400"},
    {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR METHOD 400"},
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR REQUEST_LINE 400"},
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR REQUEST_LINE 400"},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "ERROR VERSION 400"},
    {"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR REQUEST_LINE 400"},
    {"GET /\r\n\r\n", "ERROR REQUEST_LINE 400"}, /* HTTP/0.9 */
    {"GET / x HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR VERSION 400"},
    {"GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET /a<b> HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET /a{b}|^` HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET 400"},
    {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET_FORM 400"},
    {"GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD GET example.com:80 HTTP/1.1 cont=0 form=1"},
    {"GET foo HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET_FORM 400"},
    {"GET 1http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET_FORM 400"},
    {"CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET_FORM 400"},
    {"CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET_FORM 400"},
    {"CONNECT :443 HTTP/1.1\r\nHost: h\r\n\r\n", "ERROR TARGET_FORM 400"},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", "ERROR VERSION 400"},
    {"GET / HTTP/1.1.1\r\nHost: h\r\n\r\n", "ERROR VERSION 400"},
    {"GET / HTTP/11\r\nHost: h\r\n\r\n", "ERROR VERSION 400"},
    {"GET / HTTP/1\r\nHost: h\r\n\r\n", "ERROR VERSION 400"},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", "ERROR VERSION_UNSUPPORTED 505"},
    {"GET / HTTP/3\r\nHost: h\r\n\r\n", "ERROR VERSION_UNSUPPORTED 505"},
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", "ERROR VERSION_UNSUPPORTED 505"},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "ERROR VERSION_UNSUPPORTED 505"},
    {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", "ERROR OBS_FOLD 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n", "ERROR OBS_FOLD 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", "ERROR OBS_FOLD 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX Y: a\r\n\r\n", "ERROR FIELD_NAME 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX \t : a\r\n\r\n", "ERROR SPACE_BEFORE_COLON 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", "ERROR FIELD_NAME 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX(: a\r\n\r\n", "ERROR FIELD_NAME 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", "ERROR FIELD_NAME 400"},
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", "ERROR SPACE_BEFORE_COLON 400"},
    {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", "ERROR SPACE_BEFORE_COLON 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", "ERROR FIELD_VALUE 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", "ERROR FIELD_VALUE 400"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: abcdefghijklmnop\x1bqrst\r\n\r\n", "ERROR FIELD_VALUE 400"},
    {"GET / HTTP/1.1\r\n\r\n", "ERROR HOST_MISSING 400"},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "ERROR HOST_DUPLICATE 400"},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "ERROR HOST_INVALID 400"},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "ERROR HOST_INVALID 400"},
    {"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", "ERROR HOST_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", "ERROR CL_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "ERROR CL_DUPLICATE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", "ERROR CL_DUPLICATE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "ERROR TE_UNSUPPORTED 501"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity, chunked\r\n\r\n", "ERROR TE_UNSUPPORTED 501"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", "ERROR TE_NOT_CHUNKED 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", "ERROR TE_NOT_CHUNKED 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", "ERROR TE_INVALID 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", "ERROR TE_INVALID 400"},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "ERROR TE_HTTP10 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", "ERROR CHUNK_SIZE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "ERROR CHUNK_SIZE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n", "ERROR CHUNK_SIZE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "ERROR CHUNK_SIZE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "ERROR CHUNK_SIZE 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", "ERROR CHUNK_EXT 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n", "ERROR CHUNK_EXT 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n", "ERROR CHUNK_EXT 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n", "ERROR CHUNK_EXT 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n", "ERROR CHUNK_EXT 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", "ERROR BARE_LF 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", "ERROR CHUNK_DATA_END 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX", "ERROR CHUNK_DATA_END 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n", "ERROR CHUNK_DATA_END 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded: x\r\n\r\n", "ERROR OBS_FOLD 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\n\r\n", "ERROR FIELD_NAME 400"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", "ERROR BODY_TOO_LARGE 413"},
};

static void test_refusals(void) {
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    /* sizeof - 1: some inputs hold NUL bytes */
    const char *in = refusals[i].in;
    size_t len = strlen(in);
    if (strstr(refusals[i].want, "NUL")) len = strlen(in) + 1 + strlen(in + strlen(in) + 1);
    char *t = runs_n(in, len, &plain);
    if (!strstr(t, refusals[i].want)) CHECK_FAIL_("row %zu: want \"%s\", got:\n%s", i, refusals[i].want, t);
    free(t);
  }
}

/* The request-smuggling table of issue 6: every row is refused with 400, and the parser stays
 * refused (the server must close: nothing after the refusal may be read as a request). */
static const char *smuggling[] = {
    /* CL.TE and TE.CL: both framings present, whichever comes first */
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    /* TE.TE: an obfuscated Transfer-Encoding next to a Content-Length */
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\nGPOST",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding:  chunked\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding:\tchunked\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding : chunked\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n Transfer-Encoding: chunked\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nX: y\r\n\tTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: \x0b chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding\r\n : chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\rX: y\r\n\r\n",
    /* TE alone but not really chunked */
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n5c\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
    /* duplicate or list Content-Length */
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nGPOST",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 40\r\n\r\nabcd",
    /* obs-fold hiding a header */
    "POST / HTTP/1.1\r\nHost: h\r\nX-Junk: a\r\n Content-Length: 40\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n" /* the first request
      is fine; the rest is a pipelined one: this row is the control, see below */,
};

static void test_smuggling_table(void) {
  size_t n = sizeof smuggling / sizeof smuggling[0];
  for (size_t i = 0; i + 1 < n; i++) {
    char *t = runs(smuggling[i], &plain);
    if (!strstr(t, " 400\n") || strstr(t, "HEAD ") || strstr(t, "END"))
      CHECK_FAIL_("smuggling row %zu not refused with 400 before any request:\n%s", i, t);
    free(t);
  }
  char *t = runs(smuggling[n - 1], &plain);
  CHECK_LACKS(t, "ERROR");
  free(t);
}

static void test_limits(void) {
  weft__h1_limits lim;
  weft__h1_limits_init(&lim);
  CHECK_INT(lim.max_request_line, 8192);
  CHECK_INT(lim.max_header_bytes, 16384);
  CHECK_INT(lim.max_headers, 100);
  CHECK_INT(lim.max_body, 1024 * 1024);
  h1_opts o = {0};
  lim.max_request_line = 64;
  lim.max_header_bytes = 100;
  lim.max_headers = 4;
  lim.max_chunk_line = 16;
  lim.max_body = 10;
  o.limits = &lim;
  char in[1024];
  /* request line: 64 bytes is fine, 65 is 414 (even before its end arrives) */
  char as[128];
  memset(as, 'a', sizeof as);
  snprintf(in, sizeof in, "GET /%.50s HTTP/1.1\r\nHost: h\r\n\r\n", as);
  CHECK_INT(strlen(in) - strlen("\r\nHost: h\r\n\r\n"), 64);
  char *t = runs(in, &o);
  CHECK_HAS(t, "END ka=1");
  free(t);
  snprintf(in, sizeof in, "GET /%.51s HTTP/1.1\r\nHost: h\r\n\r\n", as);
  t = runs(in, &o);
  CHECK_HAS(t, "ERROR URI_TOO_LONG 414");
  free(t);
  snprintf(in, sizeof in, "GET /%.70s", as);
  t = runs(in, &o);
  CHECK_HAS(t, "ERROR URI_TOO_LONG 414");
  free(t);
  /* header count: 4 fine, 5 is 431 */
  t = runs("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &o);
  CHECK_HAS(t, "END ka=1");
  free(t);
  t = runs("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &o);
  CHECK_HAS(t, "ERROR TOO_MANY_HEADERS 431");
  free(t);
  /* header bytes: field lines with CRLFs, 100 fine, 101 is 431 (without waiting for the end) */
  snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nX: %.86s\r\n\r\n", as);
  t = runs(in, &o);
  CHECK_HAS(t, "END ka=1");
  free(t);
  snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nX: %.87s\r\n\r\n", as);
  t = runs(in, &o);
  CHECK_HAS(t, "ERROR HEADERS_TOO_LARGE 431");
  free(t);
  snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nX: %.100s", as);
  t = runs(in, &o);
  CHECK_HAS(t, "ERROR HEADERS_TOO_LARGE 431");
  free(t);
  /* body: Content-Length over the limit before any body byte, chunked on the running total */
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", &o);
  CHECK_HAS(t, "BODY 0123456789\nEND");
  free(t);
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", &o);
  CHECK_HAS(t, "F Content-Length: 11\nERROR BODY_TOO_LARGE 413\nEOF idle=0 rest=0\n");
  free(t);
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n6\r\n", &o);
  CHECK_HAS(t, "BODY 01234\nERROR BODY_TOO_LARGE 413");
  free(t);
  /* chunk line limit; trailer limits */
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;aaaaaaaaaaaaaaaaaaaa\r\nx\r\n", &o);
  CHECK_HAS(t, "ERROR CHUNK_LINE_TOO_LONG 400");
  free(t);
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", &o);
  CHECK_HAS(t, "ERROR TRAILERS_TOO_LARGE 431");
  free(t);
  /* a per-request body limit set in on_head */
  o.set_limit = 1;
  o.limit = 1000;
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n01234567890123456789", &o);
  CHECK_HAS(t, "BODY 01234567890123456789\nEND");
  free(t);
  o.limit = 2;
  t = runs("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", &o);
  CHECK_HAS(t, "ERROR BODY_TOO_LARGE 413");
  free(t);
}

static void test_default_limits_at_scale(void) {
  /* 100 fields is the default maximum, the 101st is refused; the request line may take 8 KiB */
  static char in[40000];
  size_t n = (size_t)sprintf(in, "GET / HTTP/1.1\r\nHost: h\r\n");
  for (int i = 0; i < 99; i++) n += (size_t)sprintf(in + n, "X-Field-%d: value %d\r\n", i, i);
  strcpy(in + n, "\r\n");
  char *t = runs(in, &plain);
  CHECK_HAS(t, "n=100\n");
  free(t);
  strcpy(in + n, "One-More: x\r\n\r\n");
  t = runs(in, &plain);
  CHECK_HAS(t, "ERROR TOO_MANY_HEADERS 431");
  free(t);
  memset(in, 'a', sizeof in);
  memcpy(in, "GET /", 5);
  memcpy(in + 8192 - 9, " HTTP/1.1\r\nHost: h\r\n\r\n", 22);
  t = runs_n(in, 8192 - 9 + 22, &plain);
  CHECK_HAS(t, "END ka=1");
  free(t);
  in[8192 - 9] = 'a';
  memcpy(in + 8192 - 8, " HTTP/1.1\r\nHost: h\r\n\r\n", 22);
  t = runs_n(in, 8192 - 8 + 22, &plain);
  CHECK_HAS(t, "ERROR URI_TOO_LONG 414");
  free(t);
}

static void test_error_table(void) {
  /* every code has a status among those a server sends, a name and a reason */
  for (int e = 1; e < WEFT__H1_E_COUNT_; e++) {
    int s = weft__h1_error_status((weft__h1_error)e);
    CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
    CHECK(strlen(weft__h1_error_reason((weft__h1_error)e)) > 5);
    CHECK(strcmp(weft__h1_error_name((weft__h1_error)e), "UNKNOWN") != 0);
  }
  CHECK_STR(weft__h1_error_name(WEFT__H1_E_OBS_FOLD), "OBS_FOLD");
  CHECK_INT(weft__h1_error_status(WEFT__H1_E_NONE), 0);
}

static void test_parser_is_small(void) {
  /* embedded in every connection: keep it small (the idle-connection goal is 1 KiB in all) */
  CHECK(sizeof(weft__h1_parser) <= 128);
}

int main(void) {
  RUN(test_simple_get);
  RUN(test_field_values);
  RUN(test_incomplete_head_is_not_consumed);
  RUN(test_body_content_length);
  RUN(test_chunked_with_extensions_and_trailers);
  RUN(test_pipelined_with_pause);
  RUN(test_pause_in_head);
  RUN(test_http10_keep_alive);
  RUN(test_target_forms);
  RUN(test_upgrade_and_expect);
  RUN(test_leading_empty_lines);
  RUN(test_refusals);
  RUN(test_smuggling_table);
  RUN(test_limits);
  RUN(test_default_limits_at_scale);
  RUN(test_error_table);
  RUN(test_parser_is_small);
  return CHECK_DONE();
}
