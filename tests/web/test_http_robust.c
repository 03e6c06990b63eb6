/* test_http_robust.c: request smuggling against the real HTTP/1.1 server on loopback. Each case
 * is a request whose framing two parsers could read differently (CL.TE, TE.CL, TE.TE variants,
 * duplicate and malformed Content-Length, obs-fold, bare LF and CR, NUL), followed in the same
 * bytes by a second request a lenient parser would answer. The server must refuse the first with
 * 400 (501 for an unknown coding), close the connection, never run the handler, and never
 * answer the second. */
#include "web/http_live.h"

#define SMUGGLED "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n" /* 36 bytes */
#define CASE(name, bytes, status) {name, bytes, sizeof(bytes) - 1, status}

typedef struct smuggle_case {
  const char *name;
  const char *bytes;
  size_t len; /* literal length: some cases hold a NUL */
  int status; /* the status wanted */
} smuggle_case;

static const smuggle_case cases[] = {
    /* CL.TE and TE.CL: both framings in one message */
    CASE("CL.TE",
         "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 41\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE.CL",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n24\r\n" SMUGGLED
         "\r\n0\r\n\r\n",
         400),
    /* TE.TE: a Transfer-Encoding one parser honours and another ignores */
    /* chunked not the final coding: the length cannot be known, 400 (RFC 9112 6.3) */
    CASE("TE xchunked", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    /* chunked last but a coding before it unknown: 501 (RFC 9112 6.1), and still closed */
    CASE("TE xchunked, chunked",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked, chunked\r\n\r\n0\r\n\r\n" SMUGGLED, 501),
    /* weft refuses a second Transfer-Encoding line as such (400), as it does a second
     * Content-Length, before it looks at the codings the two lines would make together */
    CASE("TE gzip then chunked",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE xchunked + CL",
         "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE space before colon",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE line starting with a space",
         "POST /a HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE first line starting with a space",
         "POST /a HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    CASE("TE chunked, identity",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    CASE("TE identity, chunked + CL",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\nContent-Length: "
         "5\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE tab + CL",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE twice",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE chunked, chunked",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    CASE("TE chunked then x",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("TE with a bare LF before the colon",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    /* Content-Length: duplicate, differing, signed, spaced, a list, huge */
    CASE("CL twice, same",
         "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" SMUGGLED, 400),
    CASE("CL twice, differing",
         "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n" SMUGGLED, 400),
    CASE("CL list", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 36\r\n\r\n" SMUGGLED, 400),
    CASE("CL +", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: +0\r\n\r\n" SMUGGLED, 400),
    CASE("CL -", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: -36\r\n\r\n" SMUGGLED, 400),
    CASE("CL space inside", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3 6\r\n\r\n" SMUGGLED, 400),
    CASE("CL hex", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0x0\r\n\r\n" SMUGGLED, 400),
    CASE("CL empty", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n" SMUGGLED, 400),
    CASE("CL overflow", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551617\r\n\r\n" SMUGGLED, 400),
    /* obs-fold, bare LF, bare CR, NUL */
    CASE("obs-fold", "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n" SMUGGLED, 400),
    CASE("obs-fold with a tab", "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\r\n\tTransfer-Encoding: chunked\r\n\r\n" SMUGGLED,
         400),
    CASE("bare LF ends a field", "POST /a HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("bare LF everywhere", "GET /a HTTP/1.1\nHost: a\n\n" SMUGGLED, 400),
    CASE("bare LF after the request line", "GET /a HTTP/1.1\nHost: a\r\n\r\n" SMUGGLED, 400),
    CASE("bare CR in a field", "POST /a HTTP/1.1\r\nHost: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
         400),
    CASE("bare CR ends the head", "GET /a HTTP/1.1\r\nHost: a\r\n\r" SMUGGLED, 400),
    CASE("NUL in a value", "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n" SMUGGLED, 400),
    CASE("NUL in a name", "GET /a HTTP/1.1\r\nHost: a\r\nX-\0A: b\r\n\r\n" SMUGGLED, 400),
    CASE("NUL in the target", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n" SMUGGLED, 400),
    /* the chunked framing itself */
    CASE("chunk size overflow",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000024\r\n" SMUGGLED
         "\r\n0\r\n\r\n",
         400),
    CASE("chunk size with a bare LF",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n" SMUGGLED, 400),
    CASE("chunk size 0x", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x0\r\n\r\n" SMUGGLED, 400),
    CASE("chunk data longer than its size",
         "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n" SMUGGLED, 400),
};

static void run_case(live_server *s, const smuggle_case *c) {
  int fd = raw_connect(s->portno);
  int requests = s->app.requests;
  CHECK(raw_send(s->r, fd, c->bytes, c->len)); /* one write: both requests arrive together */
  raw_in in = {0};
  raw_read_until_closed(s->r, fd, &in, 5);
  const char *o = in.buf ? in.buf : "";
  int status = strncmp(o, "HTTP/1.1 ", 9) == 0 ? atoi(o + 9) : -1;
  bool ok = status == c->status;
  if (!ok) CHECK_FAIL_("%s: got status %d, wanted %d; the server sent:\n%.600s", c->name, status, c->status, o);
  if (!in.eof && !in.error) CHECK_FAIL_("%s: the connection stays open", c->name);
  int answers = live_count(o, in.len, "HTTP/1.");
  if (answers != 1) CHECK_FAIL_("%s: %d answers; the server sent:\n%.600s", c->name, answers, o);
  if (ok && !strstr(o, "\r\nConnection: close\r\n")) CHECK_FAIL_("%s: the refusal does not say Connection: close", c->name);
  if (s->app.requests != requests) CHECK_FAIL_("%s: the handler ran (paths: %s)", c->name, s->app.paths);
  close(fd);
  raw_in_free(&in);
}

static void test_smuggling_table(void) {
  live_server s;
  live_start(&s, NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&s, &cases[i]);
  CHECK(strstr(s.app.paths, "/smuggled") == NULL);
  CHECK_INT(s.app.requests, 0);
  /* The server is still fine afterwards. */
  int fd = raw_connect(s.portno);
  raw_in in = {0};
  CHECK(raw_send(s.r, fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 32));
  CHECK(raw_read_until_count(s.r, fd, &in, "hello\n", 1, 5));
  close(fd);
  raw_in_free(&in);
  live_stop(&s);
}

/* The same after a good request on the same connection: the good one is answered, then the
 * refusal, and nothing for the smuggled request. */
static void test_smuggling_after_a_good_request(void) {
  live_server s;
  live_start(&s, NULL);
  static const char *const good = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const smuggle_case *c = &cases[i];
    int fd = raw_connect(s.portno);
    char *bytes = malloc(strlen(good) + c->len);
    REQUIRE(bytes);
    memcpy(bytes, good, strlen(good));
    memcpy(bytes + strlen(good), c->bytes, c->len);
    CHECK(raw_send(s.r, fd, bytes, strlen(good) + c->len));
    free(bytes);
    raw_in in = {0};
    raw_read_until_closed(s.r, fd, &in, 5);
    const char *o = in.buf ? in.buf : "";
    const char *second = strstr(o, "hello\n");
    second = second ? second + 6 : "";
    int status = strncmp(second, "HTTP/1.1 ", 9) == 0 ? atoi(second + 9) : -1;
    if (strncmp(o, "HTTP/1.1 200 OK\r\n", 17) != 0 || status != c->status ||
        live_count(o, in.len, "HTTP/1.") != 2 || !(in.eof || in.error))
      CHECK_FAIL_("%s after a good request: the server sent:\n%.800s", c->name, o);
    close(fd);
    raw_in_free(&in);
  }
  CHECK(strstr(s.app.paths, "/smuggled") == NULL);
  CHECK_INT(s.app.requests, (int)(sizeof cases / sizeof cases[0]));
  live_stop(&s);
}

int main(void) {
  RUN(test_smuggling_table);
  RUN(test_smuggling_after_a_good_request);
  return CHECK_DONE();
}
