/* test_http_access_log.c: the server's access log (the access_log option): one
 * "weft.http.access" event per finished request, its message the Combined Log Format line, its
 * fields for structured observers, untrusted bytes escaped so no line can be forged. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "web/http_fixture.h"
#include "weft/http.h"
#include "weft/testing.h"

/* The access events seen: the last one's message and a few fields. */
typedef struct access_rec {
  int n;
  char line[1024];
  char remote[64], method[32], target[256], protocol[16], referer[256], agent[256], timestamp[64];
  long long status;
  unsigned long long bytes;
  double duration;
} access_rec;

static void copy_str(char *dst, size_t size, const char *s) { snprintf(dst, size, "%s", s ? s : "(null)"); }

static void on_access(const weft_log_event *ev, void *user) {
  access_rec *a = user;
  if (strcmp(ev->ns, "weft.http.access") != 0) return;
  CHECK_INT(ev->level, WEFT_LOG_INFO);
  a->n++;
  weft_log_format_message(ev, a->line, sizeof a->line);
  for (size_t i = 0; i < ev->nfields; i++) {
    const weft_log_field *f = &ev->fields[i];
    if (strcmp(f->key, "remote") == 0) copy_str(a->remote, sizeof a->remote, f->v.s);
    else if (strcmp(f->key, "method") == 0) copy_str(a->method, sizeof a->method, f->v.s);
    else if (strcmp(f->key, "target") == 0) copy_str(a->target, sizeof a->target, f->v.s);
    else if (strcmp(f->key, "protocol") == 0) copy_str(a->protocol, sizeof a->protocol, f->v.s);
    else if (strcmp(f->key, "referer") == 0) copy_str(a->referer, sizeof a->referer, f->v.s);
    else if (strcmp(f->key, "user_agent") == 0) copy_str(a->agent, sizeof a->agent, f->v.s);
    else if (strcmp(f->key, "timestamp") == 0) copy_str(a->timestamp, sizeof a->timestamp, f->v.s);
    else if (strcmp(f->key, "status") == 0) a->status = f->v.i;
    else if (strcmp(f->key, "bytes") == 0) a->bytes = f->v.u;
    else if (strcmp(f->key, "duration") == 0) a->duration = f->v.d;
  }
}

static weft_http_request *held;

static void handler(weft_http_request *req, void *user) {
  (void)user;
  size_t n;
  const char *p = weft_http_request_path(req, &n);
  if (n >= 5 && memcmp(p, "/hold", 5) == 0) {
    held = req;
    return;
  }
  if (n >= 7 && memcmp(p, "/stream", 7) == 0) {
    CHECK_INT(weft_http_response_start(req, 201), 0);
    CHECK_INT(weft_http_response_write(req, "abc", 3), 0);
    CHECK_INT(weft_http_response_write(req, "defg", 4), 0);
    CHECK_INT(weft_http_response_finish(req), 0);
    return;
  }
  CHECK_INT(weft_http_respond(req, 200, NULL, 0, "hello, world!", 13), 0);
}

static void setup_log(fixture *f, access_rec *a, bool on) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  CHECK(!o.access_log); /* off by default */
  o.access_log = on;
  memset(a, 0, sizeof *a);
  setup_with(f, &o);
  REQUIRE(weft_log_add_observer(weft_reactor_log(f->r), WEFT_LOG_DEBUG, on_access, a) == 0);
  connect_client(f);
  weft_http_server_set_handler(f->srv, handler, NULL);
}

static void teardown_log(fixture *f, access_rec *a) {
  weft_log_remove_observer(weft_reactor_log(f->r), on_access, a);
  teardown(f);
}

/* A line that has the Combined Log Format's shape and no byte that could forge another. */
static bool clf_shaped(const char *line) {
  int quotes = 0;
  for (const char *p = line; *p; p++) {
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) return false;
    if (*p == '"') quotes++;
  }
  int d, y, hh, mm, ss;
  char mon[4];
  const char *br = strchr(line, '[');
  return quotes == 6 && br && sscanf(br, "[%2d/%3s/%4d:%2d:%2d:%2d +0000]", &d, mon, &y, &hh, &mm, &ss) == 6;
}

static void test_off_by_default(void) {
  fixture f;
  access_rec a;
  setup_log(&f, &a, false);
  feed(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(strstr(out(&f), "hello") != NULL);
  CHECK_INT(a.n, 0);
  teardown_log(&f, &a);
}

static void test_combined_line_and_fields(void) {
  fixture f;
  access_rec a;
  setup_log(&f, &a, true);
  feed(&f, "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/7.88.1\r\nReferer: http://r/\r\n\r\n");
  CHECK_INT(a.n, 1);
  const char *want_tail = "] \"GET /x?y=1 HTTP/1.1\" 200 13 \"http://r/\" \"curl/7.88.1\"";
  CHECK(strncmp(a.line, "127.0.0.1 - - [", 15) == 0);
  size_t ll = strlen(a.line), tl = strlen(want_tail);
  CHECK(ll > tl && strcmp(a.line + ll - tl, want_tail) == 0);
  CHECK(clf_shaped(a.line));
  CHECK_STR(a.remote, "127.0.0.1");
  CHECK_STR(a.method, "GET");
  CHECK_STR(a.target, "/x?y=1");
  CHECK_STR(a.protocol, "HTTP/1.1");
  CHECK_STR(a.referer, "http://r/");
  CHECK_STR(a.agent, "curl/7.88.1");
  CHECK_INT(a.status, 200);
  CHECK_INT(a.bytes, 13);
  CHECK(strstr(a.line, a.timestamp) != NULL);

  /* HTTP/1.0, no UA or referer, a HEAD: no body bytes. */
  feed(&f, "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK_INT(a.n, 2);
  CHECK(strstr(a.line, "\"HEAD / HTTP/1.0\" 200 0 \"-\" \"-\"") != NULL);
  CHECK_STR(a.agent, "-");

  /* A streamed response: its status and the body bytes (not the chunk framing). */
  feed(&f, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_INT(a.n, 3);
  CHECK(strstr(a.line, "\"GET /stream HTTP/1.1\" 201 7 ") != NULL);
  teardown_log(&f, &a);
}

static void test_duration_of_a_later_answer(void) {
  fixture f;
  access_rec a;
  setup_log(&f, &a, true);
  held = NULL;
  feed(&f, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(held != NULL);
  CHECK_INT(a.n, 0); /* logged when finished, not before */
  weft_memory_reactor_advance(f.r, 1.5);
  CHECK_INT(weft_http_respond(held, 404, NULL, 0, "no", 2), 0);
  CHECK_INT(a.n, 1);
  CHECK(a.duration > 1.49 && a.duration < 1.51);
  CHECK(strstr(a.line, "\"GET /hold HTTP/1.1\" 404 2 ") != NULL);
  teardown_log(&f, &a);
}

/* Quotes, backslashes, tabs and bytes above ASCII from the client are escaped (the parser lets
 * them through in header values; a target holds only RFC 3986 characters). */
static void test_untrusted_bytes_escaped(void) {
  fixture f;
  access_rec a;
  setup_log(&f, &a, true);
  feed(&f, "GET /a%22 HTTP/1.1\r\nHost: a\r\nUser-Agent: x\" 200 \"\t\\\xff\r\nReferer: \"\r\n\r\n");
  CHECK_INT(a.n, 1);
  CHECK(clf_shaped(a.line));
  CHECK(strstr(a.line, "\"GET /a%22 HTTP/1.1\" 200 13 \"\\x22\" \"x\\x22 200 \\x22\\x09\\x5C\\xFF\"") != NULL);
  CHECK_STR(a.agent, "x\\x22 200 \\x22\\x09\\x5C\\xFF");
  CHECK_STR(a.referer, "\\x22");
  teardown_log(&f, &a);
}

/* A request refused by the parser is logged too: its status, "-" for what could not be read. */
static void test_refused_request_logged(void) {
  fixture f;
  access_rec a;
  setup_log(&f, &a, true);
  feed(&f, "GARBAGE\r\n\r\n");
  CHECK(strncmp(out(&f), "HTTP/1.1 400 ", 13) == 0);
  CHECK_INT(a.n, 1);
  CHECK(strstr(a.line, "] \"-\" 400 12 \"-\" \"-\"") != NULL);
  CHECK(clf_shaped(a.line));
  weft_string_transport_finish(f.st);
  teardown_log(&f, &a);
}

/* A streamed body refused mid-way: one line (the 413), not a second when the handler that
 * holds the request finishes it. */
static void sink_data(weft_http_request *req, const void *data, size_t len, void *user) {
  (void)req, (void)data, (void)len, (void)user;
}
static void sink_end(weft_http_request *req, int error, void *user) {
  (void)req, (void)user;
  CHECK_INT(error, WEFT_EMSGSIZE);
}
static const weft_http_body_consumer sink = {sink_data, sink_end, NULL};

static void stream_hold(weft_http_request *req, void *user) {
  (void)user;
  held = req;
  CHECK_INT(weft_http_request_body_stream(req, &sink, NULL), 0);
}

static void test_refused_stream_logged_once(void) {
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.access_log = true;
  o.stream_bodies = true;
  o.max_body = 4;
  fixture f;
  access_rec a;
  memset(&a, 0, sizeof a);
  setup_with(&f, &o);
  REQUIRE(weft_log_add_observer(weft_reactor_log(f.r), WEFT_LOG_DEBUG, on_access, &a) == 0);
  connect_client(&f);
  weft_http_server_set_handler(f.srv, stream_hold, NULL);
  held = NULL;
  feed(&f, "POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  REQUIRE(held != NULL);
  feed(&f, "9\r\n123456789\r\n");
  CHECK_INT(a.n, 1);
  CHECK(strstr(a.line, "\"POST /s HTTP/1.1\" 413 ") != NULL);
  CHECK(weft_http_respond(held, 200, NULL, 0, "late", 4) != 0); /* the handler still finishes it */
  weft_string_transport_finish(f.st);
  CHECK_INT(a.n, 1);
  teardown_log(&f, &a);
}

/* The JSON observer prints the fields as they are. */
static void test_json_observer(void) {
  fixture f;
  access_rec a;
  setup_log(&f, &a, true);
  char *mem = NULL;
  size_t memlen = 0;
  FILE *js = open_memstream(&mem, &memlen);
  REQUIRE(js != NULL);
  REQUIRE(weft_log_add_observer(weft_reactor_log(f.r), WEFT_LOG_INFO, weft_log_json_observer, js) == 0);
  feed(&f, "GET /j HTTP/1.1\r\nHost: a\r\nUser-Agent: t\"x\r\n\r\n");
  weft_log_remove_observer(weft_reactor_log(f.r), weft_log_json_observer, js);
  fclose(js);
  REQUIRE(mem != NULL);
  const char *want[] = {"\"namespace\":\"weft.http.access\"", "\"level\":\"info\"", "\"text\":\"127.0.0.1 - - [",
                        "\"remote\":\"127.0.0.1\"", "\"method\":\"GET\"", "\"target\":\"/j\"",
                        "\"protocol\":\"HTTP/1.1\"", "\"status\":200", "\"bytes\":13", "\"referer\":\"-\"",
                        "\"user_agent\":\"t\\\\x22x\"", "\"duration\":0", "\"time\":"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    if (!strstr(mem, want[i])) {
      fprintf(stderr, "missing %s in %s\n", want[i], mem);
      CHECK(false);
    }
  CHECK_INT(count(mem, "\n"), 1);
  free(mem);
  teardown_log(&f, &a);
}

int main(void) {
  RUN(test_off_by_default);
  RUN(test_combined_line_and_fields);
  RUN(test_duration_of_a_later_answer);
  RUN(test_untrusted_bytes_escaped);
  RUN(test_refused_request_logged);
  RUN(test_json_observer);
  RUN(test_refused_stream_logged_once);
  return CHECK_DONE();
}
