/* Tests src/base/log.c: publisher routing and filtering, message rendering, text and JSON lines. */
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "weft/errors.h"
#include "weft/log.h"

/* An observer that remembers what it saw. */
typedef struct recorder {
  int calls;
  weft_log_level level;
  char ns[64];
  char msg[256];
  size_t nfields;
  double time;
} recorder;

static void record(const weft_log_event *ev, void *user) {
  recorder *r = user;
  r->calls++;
  r->level = ev->level;
  snprintf(r->ns, sizeof r->ns, "%s", ev->ns);
  weft_log_format_message(ev, r->msg, sizeof r->msg);
  r->nfields = ev->nfields;
  r->time = ev->time;
}

static weft_log_publisher *new_publisher(void) {
  weft_log_publisher *p = NULL;
  REQUIRE(weft_log_publisher_new(&p) == 0 && p);
  return p;
}

/* Reads everything written to f since it was opened (f is a tmpfile). */
static char *slurp(FILE *f) {
  static char buf[4096];
  fflush(f);
  rewind(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  return buf;
}

/* stderr capture: fd 2 points at a tmpfile between the two calls. No CHECK in between, since
 * failures are reported on stderr. */
typedef struct capture {
  FILE *tmp;
  int saved;
} capture;

static void capture_begin(capture *c) {
  fflush(stderr);
  c->tmp = tmpfile();
  REQUIRE(c->tmp);
  c->saved = dup(STDERR_FILENO);
  REQUIRE(c->saved >= 0 && dup2(fileno(c->tmp), STDERR_FILENO) >= 0);
}

static char *capture_end(capture *c) {
  fflush(stderr);
  REQUIRE(dup2(c->saved, STDERR_FILENO) >= 0);
  close(c->saved);
  char *s = slurp(c->tmp);
  fclose(c->tmp);
  return s;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* ---- levels ---------------------------------------------------------------------------------- */

static void test_level_names_and_parse(void) {
  CHECK_STR(weft_log_level_name(WEFT_LOG_DEBUG), "debug");
  CHECK_STR(weft_log_level_name(WEFT_LOG_INFO), "info");
  CHECK_STR(weft_log_level_name(WEFT_LOG_WARN), "warn");
  CHECK_STR(weft_log_level_name(WEFT_LOG_ERROR), "error");
  CHECK_STR(weft_log_level_name(WEFT_LOG_CRITICAL), "critical");
  CHECK_STR(weft_log_level_name((weft_log_level)42), "unknown");
  weft_log_level l = WEFT_LOG_DEBUG;
  CHECK_INT(weft_log_level_parse("critical", &l), 0);
  CHECK_INT(l, WEFT_LOG_CRITICAL);
  CHECK_INT(weft_log_level_parse("warning", &l), 0);
  CHECK_INT(l, WEFT_LOG_WARN);
  CHECK_INT(weft_log_level_parse("WARN", &l), 0);
  CHECK_INT(l, WEFT_LOG_WARN);
  CHECK_INT(weft_log_level_parse("debug", &l), 0);
  CHECK_INT(l, WEFT_LOG_DEBUG);
  CHECK_INT(weft_log_level_parse("verbose", &l), WEFT_EINVAL);
  CHECK_INT(weft_log_level_parse("", &l), WEFT_EINVAL);
  CHECK_INT(weft_log_level_parse(NULL, &l), WEFT_EINVAL);
  CHECK_INT(l, WEFT_LOG_DEBUG);
}

/* ---- publisher ------------------------------------------------------------------------------- */

static void test_observer_level_filtering(void) {
  weft_log_publisher *p = new_publisher();
  recorder all = {0}, errors = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &all), 0);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_ERROR, record, &errors), 0);
  for (int l = WEFT_LOG_DEBUG; l <= WEFT_LOG_CRITICAL; l++)
    weft_log_emit(p, (weft_log_level)l, "t", "level {n}", WEFT_LOG_INT("n", l), WEFT_LOG_END);
  CHECK_INT(all.calls, 5);
  CHECK_INT(errors.calls, 2);
  CHECK_INT(errors.level, WEFT_LOG_CRITICAL);
  CHECK_STR(errors.msg, "level 4");
  CHECK_STR(errors.ns, "t");
  weft_log_publisher_free(p);
}

static void test_enabled(void) {
  weft_log_publisher *p = new_publisher();
  /* the default: warnings and worse */
  CHECK(!weft_log_enabled(p, WEFT_LOG_INFO));
  CHECK(weft_log_enabled(p, WEFT_LOG_WARN));
  CHECK(!weft_log_enabled(NULL, WEFT_LOG_INFO));
  CHECK(weft_log_enabled(NULL, WEFT_LOG_ERROR));
  recorder r = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_ERROR, record, &r), 0);
  CHECK(!weft_log_enabled(p, WEFT_LOG_WARN));
  CHECK(weft_log_enabled(p, WEFT_LOG_ERROR));
  recorder r2 = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &r2), 0);
  CHECK(weft_log_enabled(p, WEFT_LOG_DEBUG));
  CHECK_INT(weft_log_remove_observer(p, record, &r2), 0);
  CHECK(!weft_log_enabled(p, WEFT_LOG_DEBUG));
  weft_log_publisher_free(p);
}

static void test_default_stderr_until_observer_added(void) {
  weft_log_publisher *p = new_publisher();
  recorder r = {0};
  capture c;
  capture_begin(&c);
  weft_log_emit(p, WEFT_LOG_INFO, "app", "quiet", WEFT_LOG_END);
  weft_log_emit(p, WEFT_LOG_WARN, "app", "loud {who}", WEFT_LOG_STR("who", "one"), WEFT_LOG_END);
  int add = weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &r);
  weft_log_emit(p, WEFT_LOG_ERROR, "app", "observed", WEFT_LOG_END);
  int rm = weft_log_remove_observer(p, record, &r);
  weft_log_emit(p, WEFT_LOG_CRITICAL, "app", "default again", WEFT_LOG_END);
  weft_log_emit(NULL, WEFT_LOG_ERROR, NULL, "no publisher", WEFT_LOG_END);
  char *out = capture_end(&c);
  CHECK_INT(add, 0);
  CHECK_INT(rm, 0);
  CHECK_INT(r.calls, 1);
  CHECK_STR(r.msg, "observed");
  CHECK_INT(count_lines(out), 3);
  CHECK(strstr(out, "quiet") == NULL);
  CHECK(strstr(out, "observed") == NULL);
  CHECK(strstr(out, " [app#warn] loud one\n") != NULL);
  CHECK(strstr(out, " [app#critical] default again\n") != NULL);
  CHECK(strstr(out, " [#error] no publisher\n") != NULL);
  weft_log_publisher_free(p);
}

static void test_add_observer_errors(void) {
  weft_log_publisher *p = new_publisher();
  recorder r = {0}, other = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_INFO, NULL, &r), WEFT_EINVAL);
  CHECK_INT(weft_log_add_observer(p, (weft_log_level)9, record, &r), WEFT_EINVAL);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_INFO, record, &r), 0);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &r), WEFT_EEXIST);
  /* same fn with other user data is another observer */
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &other), 0);
  weft_log_publisher_free(p);
}

static void test_remove_observer(void) {
  weft_log_publisher *p = new_publisher();
  recorder a = {0}, b = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &a), 0);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &b), 0);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "first", WEFT_LOG_END);
  CHECK_INT(weft_log_remove_observer(p, record, &a), 0);
  CHECK_INT(weft_log_remove_observer(p, record, &a), WEFT_ENOENT);
  CHECK_INT(weft_log_remove_observer(p, NULL, &a), WEFT_ENOENT);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "second", WEFT_LOG_END);
  CHECK_INT(a.calls, 1);
  CHECK_STR(a.msg, "first");
  CHECK_INT(b.calls, 2);
  CHECK_STR(b.msg, "second");
  /* and it can be added again */
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &a), 0);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "third", WEFT_LOG_END);
  CHECK_INT(a.calls, 2);
  weft_log_publisher_free(p);
}

/* An observer that, on its first event, removes itself and a victim and adds a newcomer. */
typedef struct meddler {
  weft_log_publisher *p;
  int calls;
  recorder *victim, *newcomer;
  int add_rc, rm_self_rc, rm_victim_rc;
} meddler;

static void meddle(const weft_log_event *ev, void *user) {
  (void)ev;
  meddler *m = user;
  if (m->calls++ > 0) return;
  m->add_rc = weft_log_add_observer(m->p, WEFT_LOG_DEBUG, record, m->newcomer);
  m->rm_self_rc = weft_log_remove_observer(m->p, meddle, m);
  m->rm_victim_rc = weft_log_remove_observer(m->p, record, m->victim);
}

static void test_add_remove_inside_callback(void) {
  weft_log_publisher *p = new_publisher();
  recorder before = {0}, victim = {0}, newcomer = {0};
  meddler m = {.p = p, .victim = &victim, .newcomer = &newcomer};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &before), 0);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, meddle, &m), 0);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &victim), 0);
  recorder extra[8] = {{0}};
  weft_log_emit(p, WEFT_LOG_INFO, "t", "one", WEFT_LOG_END);
  CHECK_INT(m.add_rc, 0);
  CHECK_INT(m.rm_self_rc, 0);
  CHECK_INT(m.rm_victim_rc, 0);
  CHECK_INT(before.calls, 1);
  CHECK_INT(victim.calls, 0);   /* removed before its turn: not called */
  CHECK_INT(newcomer.calls, 0); /* added during delivery: sees the next event */
  /* the marked slots are gone: later additions and emits see a clean list */
  for (int i = 0; i < 8; i++) CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &extra[i]), 0);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "two", WEFT_LOG_END);
  CHECK_INT(m.calls, 1);
  CHECK_INT(before.calls, 2);
  CHECK_INT(victim.calls, 0);
  CHECK_INT(newcomer.calls, 1);
  CHECK_STR(newcomer.msg, "two");
  for (int i = 0; i < 8; i++) CHECK_INT(extra[i].calls, 1);
  weft_log_publisher_free(p);
}

/* Adds observers from inside a callback until the array has to grow mid-walk. */
typedef struct grower {
  weft_log_publisher *p;
  recorder added[16];
  int done;
} grower;

static void grow(const weft_log_event *ev, void *user) {
  (void)ev;
  grower *g = user;
  if (g->done++) return;
  for (int i = 0; i < 16; i++) weft_log_add_observer(g->p, WEFT_LOG_DEBUG, record, &g->added[i]);
  /* a nested emit: the outer walk must survive the inner one, and the removal below it */
  weft_log_emit(g->p, WEFT_LOG_INFO, "t", "nested", WEFT_LOG_END);
  weft_log_remove_observer(g->p, grow, g);
}

static void test_list_grows_during_dispatch(void) {
  weft_log_publisher *p = new_publisher();
  grower g = {.p = p};
  recorder after = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, grow, &g), 0);
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &after), 0);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "outer", WEFT_LOG_END);
  CHECK_INT(g.done, 2); /* the nested emit reached it once more */
  CHECK_INT(after.calls, 2);
  CHECK_STR(after.msg, "outer"); /* nested first, then the outer event */
  for (int i = 0; i < 16; i++) CHECK_INT(g.added[i].calls, 1);
  CHECK_STR(g.added[0].msg, "nested");
  weft_log_emit(p, WEFT_LOG_INFO, "t", "later", WEFT_LOG_END);
  CHECK_INT(g.done, 2);
  CHECK_INT(after.calls, 3);
  weft_log_publisher_free(p);
}

static void test_emit_zero_fields(void) {
  weft_log_publisher *p = new_publisher();
  recorder r = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &r), 0);
  weft_log_emit(p, WEFT_LOG_INFO, "app", "plain {x}", WEFT_LOG_END);
  CHECK_INT(r.calls, 1);
  CHECK_INT(r.nfields, 0);
  CHECK_STR(r.msg, "plain {x}");
  weft_log_emitv(p, WEFT_LOG_INFO, NULL, NULL, NULL);
  CHECK_INT(r.calls, 2);
  CHECK_INT(r.nfields, 0);
  CHECK_STR(r.ns, "");
  CHECK_STR(r.msg, "");
  weft_log_publisher_free(p);
}

#define F1 WEFT_LOG_INT("k", 1)
#define F4 F1, F1, F1, F1
#define F16 F4, F4, F4, F4

static void test_emit_field_counts(void) {
  weft_log_publisher *p = new_publisher();
  recorder r = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &r), 0);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "{k}", F16, F16, F4, WEFT_LOG_END);
  CHECK_INT(r.nfields, 32); /* the rest are dropped */
  CHECK_STR(r.msg, "1");
  weft_log_field fields[41];
  for (int i = 0; i < 40; i++) fields[i] = WEFT_LOG_UINT("k", (unsigned)i);
  fields[40] = WEFT_LOG_END;
  weft_log_emitv(p, WEFT_LOG_INFO, "t", "{k}", fields);
  CHECK_INT(r.nfields, 40); /* emitv takes the caller's array whole */
  CHECK_STR(r.msg, "0");
  weft_log_publisher_free(p);
}

static void test_event_time_is_wall_clock(void) {
  weft_log_publisher *p = new_publisher();
  recorder r = {0};
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_DEBUG, record, &r), 0);
  /* the same clock as the event's (time(2) reads a coarser one, which can be a second apart
   * from it near a second's boundary) */
  struct timespec t0, t1;
  clock_gettime(CLOCK_REALTIME, &t0);
  weft_log_emit(p, WEFT_LOG_INFO, "t", "tick", WEFT_LOG_END);
  clock_gettime(CLOCK_REALTIME, &t1);
  double before = (double)t0.tv_sec + (double)t0.tv_nsec / 1e9, after = (double)t1.tv_sec + (double)t1.tv_nsec / 1e9;
  CHECK(r.time >= before - 0.001 && r.time <= after + 0.001);
  weft_log_publisher_free(p);
}

/* ---- rendering ------------------------------------------------------------------------------- */

static weft_log_event event_of(const char *format, const weft_log_field *fields, size_t n) {
  return (weft_log_event){.ns = "t", .level = WEFT_LOG_INFO, .format = format, .fields = fields,
                          .nfields = n, .time = 0};
}

static void test_format_all_field_types(void) {
  weft_log_field f[] = {
      WEFT_LOG_STR("s", "text"),       WEFT_LOG_INT("i", -42),
      WEFT_LOG_UINT("u", ULLONG_MAX),  WEFT_LOG_DOUBLE("d", 1.5),
      WEFT_LOG_DOUBLE("big", 1e20),    WEFT_LOG_ERR("e", WEFT_ECONNREFUSED),
      WEFT_LOG_STR("null", NULL),      WEFT_LOG_INT("min", LLONG_MIN),
  };
  weft_log_event ev = event_of("{s} {i} {u} {d} {big} {e} {null} {min} {s}", f, 8);
  char buf[256];
  const char *want = "text -42 18446744073709551615 1.5 1e+20 connection refused (null) "
                     "-9223372036854775808 text";
  CHECK_INT(weft_log_format_message(&ev, buf, sizeof buf), strlen(want));
  CHECK_STR(buf, want);
}

static void test_format_unknown_names_and_braces(void) {
  weft_log_field f[] = {WEFT_LOG_STR("x", "X"), WEFT_LOG_STR("x", "second")};
  char buf[128];
  struct {
    const char *format, *want;
  } cases[] = {
      {"{x}", "X"},                       /* first field with the key wins */
      {"{nope} and {x}", "{nope} and X"}, /* unknown names stay as written */
      {"{{x}} {{{x}}}", "{x} {X}"},       /* doubled braces are literal */
      {"a } b { c", "a } b { c"},         /* lone braces too */
      {"{", "{"},
      {"}", "}"},
      {"{x", "{x"},
      {"{}", "{}"},
      {"{a {x}", "{a X"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    weft_log_event ev = event_of(cases[i].format, f, 2);
    CHECK_INT(weft_log_format_message(&ev, buf, sizeof buf), strlen(cases[i].want));
    CHECK_STR(buf, cases[i].want);
  }
}

static void test_format_truncation(void) {
  weft_log_field f[] = {WEFT_LOG_STR("who", "world")};
  weft_log_event ev = event_of("hello {who}!", f, 1);
  char buf[8];
  memset(buf, 'z', sizeof buf);
  CHECK_INT(weft_log_format_message(&ev, buf, 8), 12);
  CHECK_STR(buf, "hello w");
  CHECK_INT(weft_log_format_message(&ev, buf, 1), 12);
  CHECK_STR(buf, "");
  CHECK_INT(weft_log_format_message(&ev, NULL, 0), 12);
  char exact[13];
  CHECK_INT(weft_log_format_message(&ev, exact, sizeof exact), 12);
  CHECK_STR(exact, "hello world!");
}

/* ---- observers ------------------------------------------------------------------------------- */

static void test_text_observer_line(void) {
  FILE *f = tmpfile();
  REQUIRE(f);
  weft_log_field fl[] = {WEFT_LOG_INT("port", 8080)};
  weft_log_event ev = {.ns = "weft.tcp", .level = WEFT_LOG_WARN, .format = "port {port} busy",
                       .fields = fl, .nfields = 1, .time = 1795626000.123};
  weft_log_text_observer(&ev, f);
  ev.time = 1795626000.9996; /* rounds into the next second */
  weft_log_text_observer(&ev, f);
  ev.time = -0.5;
  weft_log_text_observer(&ev, f);
  CHECK_STR(slurp(f), "2026-11-25T17:00:00.123Z [weft.tcp#warn] port 8080 busy\n"
                      "2026-11-25T17:00:01.000Z [weft.tcp#warn] port 8080 busy\n"
                      "1969-12-31T23:59:59.500Z [weft.tcp#warn] port 8080 busy\n");
  fclose(f);

  /* through a publisher, with the real clock: only the shape can be checked */
  f = tmpfile();
  REQUIRE(f);
  weft_log_publisher *p = new_publisher();
  CHECK_INT(weft_log_add_observer(p, WEFT_LOG_INFO, weft_log_text_observer, f), 0);
  weft_log_emit(p, WEFT_LOG_DEBUG, "app", "filtered", WEFT_LOG_END);
  weft_log_emit(p, WEFT_LOG_INFO, "app", "hi", WEFT_LOG_END);
  const char *line = slurp(f);
  const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ [app#info] hi\n";
  CHECK_INT(strlen(line), strlen(shape));
  for (size_t i = 0; line[i] && shape[i]; i++) {
    if (shape[i] == 'd')
      CHECK(line[i] >= '0' && line[i] <= '9');
    else
      CHECK(line[i] == shape[i]);
  }
  weft_log_publisher_free(p);
  fclose(f);
}

static void test_json_observer(void) {
  FILE *f = tmpfile();
  REQUIRE(f);
  weft_log_field fl[] = {
      WEFT_LOG_STR("peer", "\"q\" \\ \n\t\x01\x1f \xc3\xa9 \xff \xed\xa0\x80 \xe2\x82"),
      WEFT_LOG_INT("n", -7),
      WEFT_LOG_UINT("u", ULLONG_MAX),
      WEFT_LOG_DOUBLE("d", 0.1),
      WEFT_LOG_DOUBLE("nan", NAN),
      WEFT_LOG_DOUBLE("inf", -INFINITY),
      WEFT_LOG_ERR("error", WEFT_ECONNREFUSED),
      WEFT_LOG_STR("none", NULL),
      WEFT_LOG_STR("n", "duplicate"),
      WEFT_LOG_STR("time", "reserved"),
      WEFT_LOG_STR("k\"ey", "v"),
  };
  weft_log_event ev = {.ns = "weft.\"tcp\"", .level = WEFT_LOG_ERROR,
                       .format = "from {peer}: {error} {{n}}={n}", .fields = fl, .nfields = 11,
                       .time = 1795626000.123};
  weft_log_json_observer(&ev, f);
  ev.nfields = 0;
  ev.time = 1.5;
  ev.format = "bare";
  weft_log_json_observer(&ev, f);
  const char *esc = "\\\"q\\\" \\\\ \\u000a\\u0009\\u0001\\u001f \xc3\xa9 \\ufffd "
                    "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd";
  char want[1024];
  snprintf(want, sizeof want,
           "{\"time\":1795626000.123,\"level\":\"error\",\"namespace\":\"weft.\\\"tcp\\\"\","
           "\"format\":\"from {peer}: {error} {{n}}={n}\","
           "\"text\":\"from %s: connection refused {n}=-7\","
           "\"peer\":\"%s\",\"n\":-7,\"u\":18446744073709551615,\"d\":0.1,\"nan\":null,"
           "\"inf\":null,"
           "\"error\":{\"code\":%d,\"name\":\"ECONNREFUSED\",\"message\":\"connection refused\"},"
           "\"none\":null,\"k\\\"ey\":\"v\"}\n"
           "{\"time\":1.5,\"level\":\"error\",\"namespace\":\"weft.\\\"tcp\\\"\",\"format\":\"bare\","
           "\"text\":\"bare\"}\n",
           esc, esc, WEFT_ECONNREFUSED);
  CHECK_STR(slurp(f), want);
  fclose(f);
}

/* The "d" members of one JSON line for the given doubles, written by the JSON observer. */
static const char *json_doubles(const double *d, size_t n) {
  static char out[512];
  FILE *f = tmpfile();
  REQUIRE(f && n <= 8);
  static const char *const keys[8] = {"d", "a", "b", "c", "e", "g", "h", "i"};
  weft_log_field fl[8];
  for (size_t i = 0; i < n; i++) fl[i] = WEFT_LOG_DOUBLE(keys[i], d[i]);
  weft_log_event ev = {.ns = "t", .format = "", .fields = fl, .nfields = n, .time = 2.25};
  weft_log_json_observer(&ev, f);
  const char *line = slurp(f);
  const char *start = strstr(line, ",\"d\":");
  snprintf(out, sizeof out, "%s", start ? start : line);
  fclose(f);
  return out;
}

static void test_json_numbers(void) {
  const double d[] = {1e20, -0.0, 1.0 / 3.0, 0.25, 123456789.0};
  const char *want = ",\"d\":1e+20,\"a\":-0,\"b\":0.33333333333333331,\"c\":0.25,"
                     "\"e\":123456789}\n";
  CHECK_STR(json_doubles(d, 5), want);
  /* a locale whose decimal point is a comma must not leak into JSON; skipped if none is there */
  const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!setlocale(LC_NUMERIC, names[i])) continue;
    const char *got = json_doubles(d, 5);
    setlocale(LC_NUMERIC, "C");
    CHECK_STR(got, want);
    break;
  }
}

/* Processes logging to one file (weft web's workers share its stderr): each line leaves in one
 * write, so none is cut by another's. Two children write 300 long lines each, text and JSON, to
 * one unbuffered stream on an O_APPEND file; every line read back is whole. */
static void test_lines_whole_across_processes(void) {
  char path[] = "/tmp/weft-log-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    REQUIRE(kids[k] >= 0);
    if (kids[k] == 0) {
      FILE *f = fopen(path, "a");
      if (!f) _exit(2);
      setvbuf(f, NULL, _IONBF, 0); /* as stderr is */
      weft_log_publisher *p;
      if (weft_log_publisher_new(&p) != 0) _exit(2);
      weft_log_add_observer(p, WEFT_LOG_INFO, k ? weft_log_json_observer : weft_log_text_observer, f);
      for (int i = 0; i < 300; i++)
        weft_log_emit(p, WEFT_LOG_INFO, "t", "line {n} of child {k} with some padding to make it longer",
                      WEFT_LOG_INT("n", i), WEFT_LOG_INT("k", k), WEFT_LOG_END);
      weft_log_publisher_free(p);
      fclose(f);
      _exit(0);
    }
  }
  for (int k = 0; k < 2; k++) {
    int st;
    REQUIRE(waitpid(kids[k], &st, 0) == kids[k]);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  FILE *f = fopen(path, "r");
  REQUIRE(f);
  char line[1024];
  int text = 0, json = 0, bad = 0;
  while (fgets(line, sizeof line, f)) {
    bool is_json = line[0] == '{';
    bool whole = is_json ? strstr(line, "\"text\":\"line ") && strstr(line, "of child 1 with some padding to make it longer\"") &&
                               strcmp(line + strlen(line) - 2, "}\n") == 0
                         : strstr(line, "[t#info] line ") && strstr(line, "of child 0 with some padding to make it longer\n");
    if (!whole) bad++;
    else if (is_json) json++;
    else text++;
  }
  fclose(f);
  unlink(path);
  CHECK_INT(bad, 0);
  CHECK_INT(text, 300);
  CHECK_INT(json, 300);
}

int main(void) {
  RUN(test_level_names_and_parse);
  RUN(test_lines_whole_across_processes);
  RUN(test_observer_level_filtering);
  RUN(test_enabled);
  RUN(test_default_stderr_until_observer_added);
  RUN(test_add_observer_errors);
  RUN(test_remove_observer);
  RUN(test_add_remove_inside_callback);
  RUN(test_list_grows_during_dispatch);
  RUN(test_emit_zero_fields);
  RUN(test_emit_field_counts);
  RUN(test_event_time_is_wall_clock);
  RUN(test_format_all_field_types);
  RUN(test_format_unknown_names_and_braces);
  RUN(test_format_truncation);
  RUN(test_text_observer_line);
  RUN(test_json_observer);
  RUN(test_json_numbers);
  return CHECK_DONE();
}
