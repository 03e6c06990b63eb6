/* Differential test of the HTTP/1.1 request parser (src/web/http1_parser.c) against Python's h11
 * (tests/web/http1_reference.py, Debian's python3-h11, installed by scripts/deps): the same byte
 * streams, hand-written and generated, go through both, and their transcripts must agree.
 *
 * The allow-list: where weft is deliberately stricter than h11 per RFC 9112, weft refuses what
 * h11 accepts. A disagreement is allowed only if weft's transcript matches h11's up to a refusal
 * whose code is listed below AND the input really has the feature that rule is about (checked
 * independently here, so a wrong refusal is still caught):
 *   BARE_LF             a line ending in LF alone (RFC 9112 §2.2 allows refusing; h11 accepts)
 *   OBS_FOLD            obs-fold (§5.2 allows refusing; h11 unfolds)
 *   FIELD_VALUE         a CTL or DEL in a field value (RFC 9110 §5.5; h11 keeps them)
 *   TARGET, TARGET_FORM a target outside RFC 3986 or not in a form its method allows (§3.2;
 *                       h11 accepts any visible characters in any shape)
 *   VERSION_UNSUPPORTED HTTP/x.y with x != 1 (h11 parses HTTP/2.0 as a request)
 *   CL_DUPLICATE, CL_INVALID  Content-Length repeated or a list, even with equal values
 *                       (RFC 9110 §8.6 allows refusing; h11 accepts equal ones)
 *   CL_AND_TE           both framings (§6.3 allows refusing; h11 uses chunked)
 *   TE_HTTP10           Transfer-Encoding in HTTP/1.0 (§6.1: faulty framing; h11 accepts)
 *   HOST_INVALID        a Host value that is not uri-host[:port] (§3.2; h11 does not check)
 *   HOST_MISSING        in HTTP/1.2 and later minors, handled as HTTP/1.1 (RFC 9110 §6.2),
 *                       where h11 requires Host for exactly "1.1"
 *   CHUNK_EXT, CHUNK_SIZE  chunk extensions off the grammar or BWS before CRLF, chunk sizes of
 *                       16+ significant hex digits (h11 takes ";.*" and 20 digits)
 * And a difference of timing, not of verdict: on a stream cut short, weft refuses a bad line as
 * soon as the line is whole, while h11 waits for the whole head (it then has nothing to say).
 * Where weft is laxer (h11 refuses), the one rule, also checked against the input:
 *   empty lines before a request line (§2.2: a server SHOULD ignore at least one), which h11
 *   refuses at the start of a stream and between pipelined requests;
 * and where h11 switches protocols but weft does not: Upgrade in an HTTP/1.0 request, which
 * RFC 9110 §7.8 says a server MUST ignore. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check.h"
#include "web/h1_record.h"
#include "web/http1_syntax.h"

typedef struct dcase {
  char *bytes;
  size_t len;
  const char *laxer; /* hand cases where weft accepts what h11 refuses: why */
} dcase;

static dcase cases[6000];
static size_t ncases;

static void add_case(const char *b, size_t len, const char *laxer) {
  REQUIRE(ncases < sizeof cases / sizeof cases[0]);
  cases[ncases].bytes = malloc(len + 1);
  REQUIRE(cases[ncases].bytes);
  memcpy(cases[ncases].bytes, b, len);
  cases[ncases].len = len;
  cases[ncases].laxer = laxer;
  ncases++;
}

static const char *hand[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n",
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
    "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
    "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\nGET /next HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /next HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nxyz",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "GET / HTTP/1.1\r\nHost: h\r\nX:   spaced   value  \r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: \xe2\x82\xac\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    /* stricter, each on the allow-list */
    "GET / HTTP/1.1\nHost: a\n\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
    "GET /{x} HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n",
};

static const char *laxer_hand[][2] = {
    {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "empty line before the request line (RFC 9112 §2.2)"},
};

/* --- generated streams: requests assembled from fragments, some of them wrong on purpose --- */

static uint32_t lcg = 2463534242u;
static uint32_t rnd(uint32_t n) {
  lcg = lcg * 1664525u + 1013904223u;
  return (lcg >> 8) % n;
}
#define PICK(a) (a)[rnd(sizeof(a) / sizeof((a)[0]))]

static const char *methods[] = {"GET", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "M-SEARCH", "G(T"};
static const char *targets[] = {"/", "/a/b?c=d&e", "/%41", "http://h/x", "*", "/a#b", "/{}", "x", "/~u/;p", "/\xc3\xa9"};
static const char *versions[] = {"HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.1 "};
static const char *hosts[] = {"Host: h\r\n", "Host: h\r\n", "Host: example.com:80\r\n", "Host:\r\n", "host: [::1]\r\n",
                              "", "Host: a\r\nHost: b\r\n", "Host: a b\r\n", "Host : h\r\n"};
static const char *extras[] = {
    "Accept: */*\r\n", "Connection: close\r\n", "Connection: keep-alive\r\n", "X-Empty:\r\n", "X-Tab:\tv\t\r\n",
    "Expect: 100-continue\r\n", "User-Agent: a/1 (b; c)\r\n", "X: a\r\n b\r\n", "X: \x01\r\n", "X\t: y\r\n",
    "X: \xff\xfe\r\n", "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", "Bad[: x\r\n", "X: y\n",
    "Upgrade: websocket\r\nConnection: upgrade\r\n", "X: a\rb\r\n", "X: a\x7f\r\n", "Cookie: a=b; c=d\r\n",
};
static const char *te_values[] = {"chunked", "chunked", "Chunked", " chunked ", "gzip, chunked", "chunked, gzip",
                                  "xchunked", "identity", "chunked, chunked"};
static const char *chunk_lines[] = {"5\r\nhello\r\n", "3;x=y\r\nabc\r\n", "000a\r\n0123456789\r\n", "1 \r\nx\r\n",
                                    "2;q=\"a b\"\r\nok\r\n", "z\r\n", "4\r\nabc\r\n", "1\nx\r\n"};
static const char *endings[] = {"0\r\n\r\n", "0\r\n\r\n", "0\r\nX-T: t\r\n\r\n", "0;e\r\n\r\n", "0\r\n"};

static size_t put(char *out, size_t at, const char *s) {
  size_t n = strlen(s);
  memcpy(out + at, s, n);
  return at + n;
}

static size_t gen_message(char *out, size_t at) {
  char line[256];
  const char *m = PICK(methods), *t = PICK(targets), *v = PICK(versions); /* in this order */
  snprintf(line, sizeof line, "%s %s %s\r\n", m, t, v);
  at = put(out, at, line);
  at = put(out, at, PICK(hosts));
  for (uint32_t i = rnd(3); i > 0; i--) at = put(out, at, PICK(extras));
  switch (rnd(5)) {
    case 0:
    case 1: at = put(out, at, "\r\n"); break;
    case 2: {
      uint32_t n = rnd(12);
      const char *dup = rnd(8) ? "" : "Content-Length: 3\r\n";
      snprintf(line, sizeof line, "Content-Length: %u\r\n%s\r\n", n, dup);
      at = put(out, at, line);
      for (uint32_t i = 0; i < n; i++) out[at++] = (char)('a' + rnd(26));
      break;
    }
    case 3:
    case 4: {
      const char *te = PICK(te_values), *cl = rnd(10) ? "" : "Content-Length: 5\r\n";
      snprintf(line, sizeof line, "Transfer-Encoding: %s\r\n%s\r\n", te, cl);
      at = put(out, at, line);
      for (uint32_t i = rnd(3); i > 0; i--) at = put(out, at, PICK(chunk_lines));
      at = put(out, at, PICK(endings));
      break;
    }
  }
  return at;
}

static void generate(size_t count) {
  static char buf[8192];
  for (size_t k = 0; k < count; k++) {
    size_t n = 0;
    for (uint32_t m = 1 + rnd(3); m > 0; m--) n = gen_message(buf, n);
    if (rnd(4) == 0 && n > 1) n -= rnd((uint32_t)n); /* cut short */
    add_case(buf, n, NULL);
  }
}

/* --- the independent checks behind each allow-list entry --- */

static int has_ci(const char *b, size_t len, const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= len; i++)
    if (strncasecmp(b + i, needle, m) == 0) return 1;
  return 0;
}

static int feature_present(const dcase *c, const char *code) {
  const char *b = c->bytes;
  size_t n = c->len;
  if (!strcmp(code, "BARE_LF")) {
    for (size_t i = 0; i < n; i++)
      if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r')) return 1;
    return 0;
  }
  if (!strcmp(code, "OBS_FOLD")) return has_ci(b, n, "\n ") || has_ci(b, n, "\n\t");
  if (!strcmp(code, "FIELD_VALUE")) {
    for (size_t i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)b[i];
      if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f) return 1;
    }
    return 0;
  }
  if (!strcmp(code, "TARGET")) {
    for (size_t i = 0; i < n; i++)
      if ((b[i] && strchr("\"<>\\^`{|}#", b[i])) || (unsigned char)b[i] >= 0x80) return 1;
    return 0;
  }
  if (!strcmp(code, "TARGET_FORM")) {
    /* a request line whose target does not start with "/" */
    for (size_t i = 0; i < n; i++) {
      if (i && b[i - 1] != '\n') continue;
      size_t j = i;
      while (j < n && b[j] != ' ' && b[j] != ':' && b[j] != '\r' && b[j] != '\n') j++;
      if (j > i && j + 1 < n && b[j] == ' ' && b[j + 1] != '/') return 1;
    }
    return 0;
  }
  if (!strcmp(code, "VERSION_UNSUPPORTED")) {
    for (size_t i = 0; i + 5 < n; i++)
      if (!strncmp(b + i, "HTTP/", 5) && b[i + 5] != '1') return 1;
    return 0;
  }
  if (!strcmp(code, "CL_DUPLICATE") || !strcmp(code, "CL_INVALID")) {
    int count = 0;
    for (size_t i = 0; i + 15 <= n; i++)
      if (!strncasecmp(b + i, "content-length:", 15)) {
        count++;
        for (size_t j = i + 15; j < n && b[j] != '\r' && b[j] != '\n'; j++)
          if (b[j] == ',') return 1;
      }
    return count > 1;
  }
  if (!strcmp(code, "HOST_MISSING")) { /* HTTP/1.2+ is HTTP/1.1 here; h11 asks Host of "1.1" only */
    for (size_t i = 0; i + 7 < n; i++)
      if (!strncmp(b + i, "HTTP/1.", 7) && b[i + 7] >= '2' && b[i + 7] <= '9') return 1;
    return 0;
  }
  if (!strcmp(code, "CL_AND_TE")) return has_ci(b, n, "content-length:") && has_ci(b, n, "transfer-encoding:");
  if (!strcmp(code, "TE_HTTP10")) return has_ci(b, n, "HTTP/1.0") && has_ci(b, n, "transfer-encoding:");
  if (!strcmp(code, "HOST_INVALID")) {
    for (size_t i = 0; i + 5 <= n; i++)
      if (!strncasecmp(b + i, "host:", 5) && (i == 0 || b[i - 1] == '\n')) {
        size_t j = i + 5;
        while (j < n && (b[j] == ' ' || b[j] == '\t')) j++;
        size_t e = j;
        while (e < n && b[e] != '\r' && b[e] != '\n') e++;
        while (e > j && (b[e - 1] == ' ' || b[e - 1] == '\t')) e--;
        for (; j < e; j++)
          if (!(weft__h1_class[(unsigned char)b[j]] & WEFT__H1C_HOST)) return 1;
      }
    return 0;
  }
  if (!strcmp(code, "CHUNK_EXT") || !strcmp(code, "CHUNK_SIZE")) {
    /* a line of hex digits followed by SP, HTAB or ";", or of 16 hex digits or more */
    for (size_t i = 0; i < n; i++) {
      if (i && b[i - 1] != '\n') continue;
      size_t j = i;
      while (j < n && (weft__h1_class[(unsigned char)b[j]] & WEFT__H1C_HEX)) j++;
      if (j > i && j < n && (b[j] == ' ' || b[j] == '\t' || b[j] == ';' || j - i >= 16)) return 1;
    }
    return 0;
  }
  return 0;
}

/* weft ignores empty lines before a request line (RFC 9112 §2.2: a server SHOULD), h11 refuses
 * them: the stream starts with one, or one follows a message's blank line. */
static int empty_line_before_request(const dcase *c) {
  return (c->len >= 2 && !memcmp(c->bytes, "\r\n", 2)) || has_ci(c->bytes, c->len, "\r\n\r\n\r\n");
}

/* Splits a transcript into lines (in place). */
static size_t lines_of(char *t, char **out, size_t max) {
  size_t n = 0;
  for (char *s = t; *s && n < max;) {
    char *nl = strchr(s, '\n');
    if (nl) *nl = '\0';
    out[n++] = s;
    if (!nl) break;
    s = nl + 1;
  }
  return n;
}

static int same_line(const char *a, const char *b) {
  if (!strncmp(a, "ERROR", 5) && !strncmp(b, "ERROR", 5)) return 1; /* h11 gives no code */
  /* h11 lowercases the Transfer-Encoding value it reports */
  if (!strncmp(a, "H transfer-encoding:", 20) && !strncmp(b, "H transfer-encoding:", 20)) return !strcasecmp(a, b);
  return strcmp(a, b) == 0;
}

static size_t agreed, allowed_stricter, allowed_laxer, allowed_early, allow_by_code[WEFT__H1_E_COUNT_];

/* Compares weft's transcript with h11's for case c; returns 0 if they agree or the difference
 * is on the allow-list. */
static int compare(size_t idx, const dcase *c, char *weft, char *ref) {
  char *wl[256], *rl[256], wcopy[1 << 14], rcopy[1 << 14];
  snprintf(wcopy, sizeof wcopy, "%s", weft);
  snprintf(rcopy, sizeof rcopy, "%s", ref);
  size_t wn = lines_of(weft, wl, 256), rn = lines_of(ref, rl, 256), i = 0;
  while (i < wn && i < rn && same_line(wl[i], rl[i])) i++;
  if (i == wn && i == rn) {
    agreed++;
    return 0;
  }
  size_t wi = i; /* weft refusing in a body: h11's body runs on past the bytes weft took */
  if (i + 1 < wn && i < rn && !strncmp(wl[i], "BODY ", 5) && !strncmp(rl[i], wl[i], strlen(wl[i])) &&
      !strncmp(wl[i + 1], "ERROR ", 6))
    wi = i + 1;
  if (wi < wn && !strncmp(wl[wi], "ERROR ", 6)) {
    char code[64] = "";
    sscanf(wl[wi] + 6, "%63s", code);
    static const char *stricter[] = {"BARE_LF", "OBS_FOLD", "FIELD_VALUE", "TARGET", "TARGET_FORM",
                                     "VERSION_UNSUPPORTED", "CL_DUPLICATE", "CL_INVALID", "CL_AND_TE",
                                     "TE_HTTP10", "HOST_INVALID", "CHUNK_EXT", "CHUNK_SIZE", "HOST_MISSING"};
    for (size_t k = 0; k < sizeof stricter / sizeof stricter[0]; k++)
      if (!strcmp(code, stricter[k]) && feature_present(c, code)) {
        allowed_stricter++;
        for (int e = 0; e < WEFT__H1_E_COUNT_; e++)
          if (!strcmp(weft__h1_error_name((weft__h1_error)e), code)) allow_by_code[e]++;
        return 0;
      }
  }
  if (i == rn && i < wn && !strncmp(wl[i], "ERROR ", 6)) {
    allowed_early++; /* h11 looks at a head only once it is whole; weft judges each line */
    return 0;
  }
  if (i < rn && !strcmp(rl[i], "SWITCH") && has_ci(c->bytes, c->len, "HTTP/1.0\r\n") &&
      has_ci(c->bytes, c->len, "\nupgrade:")) {
    allowed_laxer++; /* RFC 9110 §7.8: Upgrade in an HTTP/1.0 request is ignored; h11 switches */
    return 0;
  }
  if (i < rn && !strcmp(rl[i], "ERROR") && (c->laxer || empty_line_before_request(c))) {
    allowed_laxer++;
    return 0;
  }
  h1_text esc = {0};
  h1_text_esc(&esc, c->bytes, c->len, 0);
  CHECK_FAIL_("case %zu disagrees at line %zu\ninput: %s\n--- weft\n%s--- h11\n%s", idx, i, esc.s ? esc.s : "", wcopy, rcopy);
  free(esc.s);
  return 1;
}

static const char *find_python(void) {
  static const char *candidates[] = {"/usr/bin/python3", "python3"};
  for (size_t i = 0; i < 2; i++) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s -c 'import h11' >/dev/null 2>&1", candidates[i]);
    if (system(cmd) == 0) return candidates[i];
  }
  return NULL;
}

static void test_against_h11(void) {
  const char *py = find_python();
  if (!py) {
    CHECK_FAIL_("no python3 with h11: install python3-h11 (scripts/deps does)");
    return;
  }
  for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) add_case(hand[i], strlen(hand[i]), NULL);
  for (size_t i = 0; i < sizeof laxer_hand / sizeof laxer_hand[0]; i++)
    add_case(laxer_hand[i][0], strlen(laxer_hand[i][0]), laxer_hand[i][1]);
  generate(3000);

  char path[] = "/tmp/weft-h1diff-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  FILE *f = fdopen(fd, "wb");
  REQUIRE(f);
  for (size_t i = 0; i < ncases; i++) {
    fprintf(f, "%zu\n", cases[i].len);
    fwrite(cases[i].bytes, 1, cases[i].len, f);
  }
  fclose(f);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s '%s/tests/web/http1_reference.py' '%s'", py, WEFT_SOURCE_DIR, path);
  FILE *p = popen(cmd, "r");
  REQUIRE(p);
  h1_text all = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) h1_text_add(&all, chunk, got);
  CHECK_INT(pclose(p), 0);
  unlink(path);
  REQUIRE(all.s);

  h1_opts o = {0};
  o.diff = 1;
  int failures = 0;
  char *at = all.s;
  for (size_t i = 0; i < ncases && failures < 10; i++) {
    char head[32];
    snprintf(head, sizeof head, "CASE %zu\n", i);
    REQUIRE(!strncmp(at, head, strlen(head)));
    at += strlen(head);
    char *next = strstr(at, "CASE ");
    size_t len = next ? (size_t)(next - at) : strlen(at);
    char *ref = malloc(len + 1);
    REQUIRE(ref);
    memcpy(ref, at, len);
    ref[len] = '\0';
    at += len;
    char *weft = h1_run(cases[i].bytes, cases[i].len, cases[i].len, cases[i].len, &o);
    failures += compare(i, &cases[i], weft, ref);
    free(weft);
    free(ref);
  }
  fprintf(stderr,
          "differential: %zu cases, %zu agree; allowed: %zu weft stricter, %zu weft laxer or RFC where h11 is not, %zu weft refused an "
          "unfinished head that h11 was still waiting for\n",
          ncases, agreed, allowed_stricter, allowed_laxer, allowed_early);
  for (int e = 0; e < WEFT__H1_E_COUNT_; e++)
    if (allow_by_code[e]) fprintf(stderr, "  stricter %-20s %zu\n", weft__h1_error_name((weft__h1_error)e), allow_by_code[e]);
  /* the generator must reach both sides: most cases agree, and the allow-list is exercised */
  CHECK(agreed > ncases / 3);
  CHECK(allowed_stricter > 0);
  free(all.s);
  for (size_t i = 0; i < ncases; i++) free(cases[i].bytes);
}

int main(void) {
  RUN(test_against_h11);
  return CHECK_DONE();
}
