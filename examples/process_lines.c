/* process_lines: a process runner that streams a child's output line by line, as it comes
 * (Twisted's spawnProcess with a ProcessProtocol splitting outReceived/errReceived into lines).
 * Run: build/examples/process_lines                       (demo: a shell script on both streams)
 *      build/examples/process_lines [--timeout S] -- COMMAND [ARG...]
 * Each line is printed as "out N: ..." or "err N: ..." the moment it is complete; a last line
 * without a newline is printed when its stream closes. With --timeout the child gets SIGTERM
 * after S seconds. The exit code is the child's (128 + the signal if one killed it); the demo
 * exits 0 when its script ended as planned. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/process.h"
#include "weft/weft.h"

#define DEMO_SCRIPT                                                                               \
  "echo 'hello from the child'; echo 'a warning' >&2; printf 'split '; printf 'line\\n'; "       \
  "echo 'third line'; printf 'no newline at the end'; exit 3"

/* One stream's partial line, kept until its newline comes. */
typedef struct line_splitter {
  const char *name; /* "out" or "err" */
  char *partial;
  size_t len;
  int lines;
} line_splitter;

typedef struct runner {
  weft_reactor *r;
  line_splitter out, err;
  weft_delayed_call *timeout;
  weft_process *p;
  int exit_code;
} runner;

static void emit(line_splitter *s, const char *line, size_t len) {
  printf("%s %d: %.*s\n", s->name, ++s->lines, (int)len, line);
  fflush(stdout);
}

/* Prints every complete line in data (joined to what was left from before), keeps the rest. */
static void split(line_splitter *s, const char *data, size_t len) {
  const char *nl;
  while ((nl = memchr(data, '\n', len)) != NULL) {
    size_t n = (size_t)(nl - data);
    if (s->len) {
      char *joined = realloc(s->partial, s->len + n);
      if (!joined) abort();
      memcpy(joined + s->len, data, n);
      emit(s, joined, s->len + n);
      free(joined);
      s->partial = NULL;
      s->len = 0;
    } else {
      emit(s, data, n);
    }
    data = nl + 1;
    len -= n + 1;
  }
  if (len) {
    char *more = realloc(s->partial, s->len + len);
    if (!more) abort();
    memcpy(more + s->len, data, len);
    s->partial = more;
    s->len += len;
  }
}

/* The stream closed: a last line without a newline is still a line. */
static void flush_partial(line_splitter *s) {
  if (s->len) emit(s, s->partial, s->len);
  free(s->partial);
  s->partial = NULL;
  s->len = 0;
}

static void on_made(weft_process *p, void *user) {
  runner *run = user;
  run->p = p;
  printf("started child %d\n", (int)weft_process_pid(p));
}

static void on_out(weft_process *p, const void *data, size_t len, void *user) {
  (void)p;
  split(&((runner *)user)->out, data, len);
}

static void on_err(weft_process *p, const void *data, size_t len, void *user) {
  (void)p;
  split(&((runner *)user)->err, data, len);
}

static void on_fd_closed(weft_process *p, int fd, void *user) {
  (void)p;
  runner *run = user;
  if (fd == 1) flush_partial(&run->out);
  if (fd == 2) flush_partial(&run->err);
}

static void on_exited(weft_process *p, weft_process_status st, void *user) {
  (void)p;
  (void)st;
  runner *run = user;
  if (run->timeout) weft_delayed_call_cancel(run->timeout);
  run->timeout = NULL;
}

/* The last call: reaped and both pipes closed, so every line has been printed. */
static void on_ended(weft_process *p, weft_process_status st, void *user) {
  (void)p;
  runner *run = user;
  if (st.signaled) {
    printf("process ended: killed by signal %d", st.signo);
    run->exit_code = 128 + st.signo;
  } else {
    printf("process ended: exited with code %d", st.code);
    run->exit_code = st.code;
  }
  printf(" (%d lines on stdout, %d on stderr)\n", run->out.lines, run->err.lines);
  weft_reactor_stop(run->r);
}

static void on_timeout(void *arg) {
  runner *run = arg;
  run->timeout = NULL;
  printf("timeout: sending SIGTERM\n");
  weft_process_signal(run->p, SIGTERM);
}

static const weft_process_protocol line_protocol = {
    .connection_made = on_made,
    .out_received = on_out,
    .err_received = on_err,
    .child_connection_lost = on_fd_closed,
    .process_exited = on_exited,
    .process_ended = on_ended,
};

static int usage(void) {
  fprintf(stderr, "usage: process_lines [--timeout SECONDS] [-- COMMAND [ARG...]]\n");
  return 2;
}

int main(int argc, char **argv) {
  double timeout = 0;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) timeout = atof(argv[++i]);
    else return usage();
  }
  bool demo = i >= argc;
  const char *demo_argv[] = {"/bin/sh", "-c", DEMO_SCRIPT, NULL};
  const char *const *child_argv = demo ? demo_argv : (const char *const *)&argv[i];

  runner run = {.out = {.name = "out"}, .err = {.name = "err"}, .exit_code = 1};
  if (weft_reactor_new(&run.r, NULL) != 0) return 1;
  weft_process_options o;
  weft_process_options_init(&o);
  o.stdin_mode = WEFT_STDIO_NULL; /* a runner has nothing to say to its child */
  weft_process_protocol proto = line_protocol;
  proto.user = &run;
  weft_process *p;
  int rc = weft_spawn_process(&p, run.r, &proto, child_argv, NULL, NULL, &o);
  if (rc) {
    fprintf(stderr, "process_lines: cannot run %s: %s\n", child_argv[0], weft_strerror(rc));
    weft_reactor_free(run.r);
    return 127;
  }
  if (timeout > 0) run.timeout = weft_reactor_call_later(run.r, timeout, on_timeout, &run);
  weft_reactor_run(run.r);
  weft_reactor_free(run.r);
  if (demo) return run.exit_code == 3 && run.out.lines == 4 && run.err.lines == 1 ? 0 : 1;
  return run.exit_code;
}
