/* Tests src/net/process*.c and src/net/pipe.c (Twisted's spawnProcess, ProcessProtocol,
 * getProcessOutput/getProcessValue): output capture, exit statuses, signals, stdin with flow
 * control, extra descriptors, environment and directory, no descriptor leaks, 1,000 children
 * without a zombie, both reaping paths (pidfd and SIGCHLD), Deferreds and their cancellation,
 * and PID-1 reaping inside a new PID namespace.
 *
 * The program is also its own helper child: "--list-fds" prints the descriptors it was started
 * with, "--pid1" runs the PID-1 scenario (as PID 1 of a namespace made by unshare). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reactor/fixture.h"
#include "weft/deferred.h"
#include "weft/process.h"
#include "weft/transport.h"

#define LIMIT_SECONDS 5.0 /* no single wait in these tests comes near it */

typedef struct buf {
  char *data;
  size_t len;
} buf;

static void buf_add(buf *b, const void *data, size_t len) {
  char *n = realloc(b->data, b->len + len + 1);
  REQUIRE(n);
  memcpy(n + b->len, data, len);
  b->data = n;
  b->len += len;
  b->data[b->len] = '\0';
}

static void buf_free(buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

static const char *buf_str(const buf *b) { return b->data ? b->data : ""; }

/* What a process protocol saw, in order: 'M'ade, 'X' exited, 'E'nded, '0'.. for each lost fd. */
typedef struct run {
  weft_process *p;
  buf out, err, extra;
  int extra_fd;
  char order[32];
  int norder;
  weft_process_status exited, ended;
  bool done;
  int signal_after_exit; /* what weft_process_signal returned inside process_exited */
  bool lose_on_exit;
} run;

static void note(run *x, char c) {
  if (x->norder < (int)sizeof x->order - 1) x->order[x->norder++] = c;
}

static void on_made(weft_process *p, void *user) {
  run *x = user;
  x->p = p;
  note(x, 'M');
}
static void on_out(weft_process *p, const void *d, size_t n, void *user) {
  (void)p;
  buf_add(&((run *)user)->out, d, n);
}
static void on_err(weft_process *p, const void *d, size_t n, void *user) {
  (void)p;
  buf_add(&((run *)user)->err, d, n);
}
static void on_data(weft_process *p, int fd, const void *d, size_t n, void *user) {
  (void)p;
  run *x = user;
  x->extra_fd = fd;
  buf_add(&x->extra, d, n);
}
static void on_lost(weft_process *p, int fd, void *user) {
  (void)p;
  note(user, (char)('0' + fd));
}
static void on_exited(weft_process *p, weft_process_status st, void *user) {
  run *x = user;
  x->exited = st;
  note(x, 'X');
  x->signal_after_exit = weft_process_signal(p, SIGTERM);
  if (x->lose_on_exit) weft_process_lose_connection(p);
}
static void on_ended(weft_process *p, weft_process_status st, void *user) {
  (void)p;
  run *x = user;
  x->ended = st;
  x->done = true;
  note(x, 'E');
}

static const weft_process_protocol recorder = {
    .connection_made = on_made,
    .out_received = on_out,
    .err_received = on_err,
    .child_data_received = on_data,
    .child_connection_lost = on_lost,
    .process_exited = on_exited,
    .process_ended = on_ended,
};

static void run_free(run *x) {
  buf_free(&x->out);
  buf_free(&x->err);
  buf_free(&x->extra);
}

/* Turns r until *flag or the time limit; false if the limit was reached. */
static bool turn_until(weft_reactor *r, const bool *flag) {
  double t0 = wall_seconds();
  while (!*flag && wall_seconds() - t0 < LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  return *flag;
}

static int spawn_run(weft_reactor *r, run *x, const char *const argv[], const weft_process_options *o) {
  weft_process_protocol proto = recorder;
  proto.user = x;
  weft_process *p = NULL;
  int rc = weft_spawn_process(&p, r, &proto, argv, NULL, NULL, o);
  if (rc == 0) CHECK(p == x->p);
  return rc;
}

/* Runs argv to its end (both reaping paths when no_pidfd says which). */
static void run_to_end(weft_reactor *r, run *x, const char *const argv[], const weft_process_options *o) {
  REQUIRE(spawn_run(r, x, argv, o) == 0);
  CHECK(turn_until(r, &x->done));
}

#define SH(script) ((const char *const[]){"/bin/sh", "-c", (script), NULL})

/* ---- tests ---- */

static void check_capture(bool no_pidfd) {
  weft_reactor *r = new_real_reactor();
  weft_process_options o;
  weft_process_options_init(&o);
  o.no_pidfd = no_pidfd;
  run x = {0};
  run_to_end(r, &x, SH("echo out1; echo err1 >&2; printf 'out2\\n'"), &o);
  CHECK_STR(buf_str(&x.out), "out1\nout2\n");
  CHECK_STR(buf_str(&x.err), "err1\n");
  CHECK(x.ended.exited && x.ended.code == 0 && !x.ended.signaled);
  /* Twisted's order: made first, ended last, exited and every pipe's loss in between; stdin's
   * loss is noticed though we never wrote to it nor closed it */
  CHECK_INT(x.norder, 6);
  CHECK_INT(x.order[0], 'M');
  CHECK_INT(x.order[5], 'E');
  for (const char *c = "X012"; *c; c++) CHECK(memchr(x.order + 1, *c, 4) != NULL);
  run_free(&x);
  CLOSE_CLEAN(r);
}

static void test_output_capture(void) { check_capture(false); }
static void test_output_capture_sigchld(void) { check_capture(true); }

static void test_exit_codes(void) {
  weft_reactor *r = new_real_reactor();
  const int codes[] = {0, 1, 42, 255};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    char script[32];
    snprintf(script, sizeof script, "exit %d", codes[i]);
    run x = {0};
    run_to_end(r, &x, SH(script), NULL);
    CHECK(x.exited.exited);
    CHECK(!x.exited.signaled);
    CHECK_INT(x.exited.code, codes[i]);
    CHECK_INT(x.ended.code, codes[i]);
    CHECK(WIFEXITED(x.exited.raw) && WEXITSTATUS(x.exited.raw) == codes[i]);
    CHECK_INT(x.signal_after_exit, WEFT_ESTATE); /* reaped: its pid is no longer ours to signal */
    run_free(&x);
  }
  CLOSE_CLEAN(r);
}

static void test_killed_by_signal(void) {
  weft_reactor *r = new_real_reactor();
  run x = {0};
  run_to_end(r, &x, SH("kill -9 $$"), NULL);
  CHECK(x.exited.signaled);
  CHECK(!x.exited.exited);
  CHECK_INT(x.exited.signo, SIGKILL);
  run_free(&x);

  /* cat waits on its stdin until we signal it */
  run y = {0};
  REQUIRE(spawn_run(r, &y, (const char *const[]){"cat", NULL}, NULL) == 0);
  CHECK(weft_process_pid(y.p) > 0);
  CHECK(weft_process_reactor(y.p) == r);
  CHECK(!weft_process_status_get(y.p, NULL));
  CHECK_INT(weft_process_signal(y.p, SIGTERM), 0);
  CHECK(turn_until(r, &y.done));
  CHECK(y.ended.signaled && y.ended.signo == SIGTERM && !y.ended.core);
  run_free(&y);
  CLOSE_CLEAN(r);
}

/* A push producer writing a pattern into the child's stdin, paused and resumed by the pipe. */
typedef struct feeder {
  weft_process *p;
  size_t sent, total;
  int pauses, resumes;
  bool paused;
} feeder;

static void feed(feeder *f) {
  char chunk[8192];
  while (!f->paused && f->sent < f->total) {
    size_t n = f->total - f->sent < sizeof chunk ? f->total - f->sent : sizeof chunk;
    for (size_t i = 0; i < n; i++) chunk[i] = (char)('a' + (f->sent + i) % 26);
    CHECK_INT(weft_process_write(f->p, chunk, n), 0);
    f->sent += n;
  }
  if (f->sent == f->total) {
    weft_transport_unregister_producer(weft_process_transport(f->p, 0));
    CHECK_INT(weft_process_close_stdin(f->p), 0);
  }
}
static void feeder_pause(void *u) {
  feeder *f = u;
  f->paused = true;
  f->pauses++;
}
static void feeder_resume(void *u) {
  feeder *f = u;
  f->paused = false;
  f->resumes++;
  feed(f);
}

static void test_stdin_round_trip(void) {
  weft_reactor *r = new_real_reactor();
  run x = {0};
  REQUIRE(spawn_run(r, &x, (const char *const[]){"cat", NULL}, NULL) == 0);
  weft_transport *in = weft_process_transport(x.p, 0);
  REQUIRE(in != NULL);
  CHECK_INT(weft_transport_set_water_marks(in, 64 * 1024, 16 * 1024), 0);
  feeder f = {.p = x.p, .total = 2 * 1024 * 1024};
  weft_producer prod = {feeder_pause, feeder_resume, NULL, &f};
  CHECK_INT(weft_transport_register_producer(in, &prod, true), 0);
  feed(&f);
  CHECK(f.pauses >= 1);                     /* the queue passed the high-water mark */
  CHECK(weft_transport_buffered(in) <= 64 * 1024 + 8192); /* and stopped there */
  CHECK(turn_until(r, &x.done));
  CHECK(f.resumes >= 1);
  CHECK_INT(f.sent, f.total);
  CHECK_INT(x.out.len, f.total);
  bool intact = x.out.len == f.total;
  for (size_t i = 0; intact && i < x.out.len; i++) intact = x.out.data[i] == (char)('a' + i % 26);
  CHECK(intact);
  CHECK(x.ended.exited && x.ended.code == 0);
  run_free(&x);

  /* writes after close are refused; closing twice says so */
  run y = {0};
  REQUIRE(spawn_run(r, &y, (const char *const[]){"cat", NULL}, NULL) == 0);
  CHECK_INT(weft_process_write(y.p, "ping\n", 5), 0);
  CHECK_INT(weft_process_close_stdin(y.p), 0);
  CHECK_INT(weft_process_write(y.p, "late", 4), WEFT_ECLOSED);
  CHECK_INT(weft_process_close_stdin(y.p), WEFT_ECLOSED);
  CHECK(turn_until(r, &y.done));
  CHECK_STR(buf_str(&y.out), "ping\n");
  run_free(&y);
  CLOSE_CLEAN(r);
}

static void test_extra_fds(void) {
  weft_reactor *r = new_real_reactor();
  int theirs[2];
  REQUIRE(pipe2(theirs, O_CLOEXEC) == 0);
  weft_child_fd fds[] = {
      {.child_fd = 3, .kind = WEFT_CHILD_FD_WRITES},
      {.child_fd = 4, .kind = WEFT_CHILD_FD_READS},
      {.child_fd = 7, .kind = WEFT_CHILD_FD_PARENT, .parent_fd = theirs[1]},
  };
  weft_process_options o;
  weft_process_options_init(&o);
  o.child_fds = fds;
  o.n_child_fds = 3;
  run x = {0};
  int rc = spawn_run(r, &x, SH("read line <&4; echo \"got $line\" >&3; echo direct >&7"), &o);
  if (rc) fprintf(stderr, "spawn: %s\n", weft_strerror(rc));
  REQUIRE(rc == 0);
  weft_transport *four = weft_process_transport(x.p, 4);
  REQUIRE(four != NULL);
  CHECK(weft_process_transport(x.p, 7) == NULL); /* a descriptor of ours, not a pipe of the process */
  CHECK_INT(weft_transport_write(four, "hello\n", 6), 0);
  CHECK_INT(weft_process_close_child_fd(x.p, 4), 0);
  CHECK(turn_until(r, &x.done));
  close(theirs[1]);
  CHECK_INT(x.extra_fd, 3);
  CHECK_STR(buf_str(&x.extra), "got hello\n");
  char got[32] = {0};
  CHECK_INT(read(theirs[0], got, sizeof got - 1), 7);
  CHECK_STR(got, "direct\n");
  close(theirs[0]);
  CHECK(x.ended.exited && x.ended.code == 0);
  CHECK(strchr(x.order, '3') && strchr(x.order, '4'));
  run_free(&x);

  /* an entry for 1 replaces the stdout pipe; stdin and stderr from /dev/null and ours */
  weft_child_fd to_null[] = {{.child_fd = 1, .kind = WEFT_CHILD_FD_WRITES}};
  weft_process_options_init(&o);
  o.stdin_mode = WEFT_STDIO_NULL;
  o.stderr_mode = WEFT_STDIO_NULL;
  o.child_fds = to_null;
  o.n_child_fds = 1;
  run y = {0};
  run_to_end(r, &y, SH("cat; echo after-eof; echo hidden >&2"), &o);
  CHECK_STR(buf_str(&y.out), "after-eof\n"); /* stdin was /dev/null: cat ended at once */
  CHECK_STR(buf_str(&y.err), "");
  run_free(&y);
  CLOSE_CLEAN(r);
}

static void test_env_and_cwd(void) {
  weft_reactor *r = new_real_reactor();
  char dir[] = "/tmp/weft-process-XXXXXX";
  REQUIRE(mkdtemp(dir) != NULL);
  char real[PATH_MAX];
  REQUIRE(realpath(dir, real) != NULL);
  const char *env[] = {"GREETING=hello there", "PATH=/usr/bin:/bin", NULL};
  weft_process_protocol proto = recorder;
  run x = {0};
  proto.user = &x;
  weft_process *p;
  REQUIRE(weft_spawn_process(&p, r, &proto, SH("echo \"$GREETING\"; pwd; echo \"${HOME-no home}\""), env, dir,
                             NULL) == 0);
  CHECK(turn_until(r, &x.done));
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "hello there\n%s\nno home\n", real);
  CHECK_STR(buf_str(&x.out), want);
  run_free(&x);
  rmdir(dir);
  CLOSE_CLEAN(r);
}

static void test_spawn_errors(void) {
  weft_reactor *r = new_real_reactor();
  weft_process *p = NULL;
  run x = {0};
  weft_process_protocol proto = recorder;
  proto.user = &x;
  CHECK_INT(weft_spawn_process(&p, r, &proto, (const char *const[]){"/no/such/program", NULL}, NULL, NULL, NULL),
            WEFT_ENOENT);
  CHECK_INT(weft_spawn_process(&p, r, &proto, (const char *const[]){"no-such-program-anywhere", NULL}, NULL, NULL,
                               NULL),
            WEFT_ENOENT);
  CHECK_INT(weft_spawn_process(&p, r, &proto, SH("true"), NULL, "/no/such/dir", NULL), WEFT_ENOENT);
  CHECK_INT(weft_spawn_process(&p, r, &proto, (const char *const[]){NULL}, NULL, NULL, NULL), WEFT_EINVAL);
  weft_process_options o;
  weft_process_options_init(&o);
  weft_child_fd dup_fds[] = {{.child_fd = 3, .kind = WEFT_CHILD_FD_WRITES}, {.child_fd = 3}};
  o.child_fds = dup_fds;
  o.n_child_fds = 2;
  CHECK_INT(weft_spawn_process(&p, r, &proto, SH("true"), NULL, NULL, &o), WEFT_EINVAL);
  weft_child_fd bad_parent[] = {{.child_fd = 3, .kind = WEFT_CHILD_FD_PARENT, .parent_fd = 999}};
  o.child_fds = bad_parent;
  o.n_child_fds = 1;
  CHECK_INT(weft_spawn_process(&p, r, &proto, SH("true"), NULL, NULL, &o), WEFT_EBADF);
  CHECK_INT(x.norder, 0); /* no callback for a process that did not start */
  CLOSE_CLEAN(r);
}

static char self_exe[PATH_MAX];

/* The helper child: prints the descriptors it has (but the one reading the directory). */
static int list_fds_main(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 2;
  int mine = dirfd(d), fds[256], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 256)
    if (e->d_name[0] != '.' && atoi(e->d_name) != mine) fds[n++] = atoi(e->d_name);
  closedir(d);
  for (int i = 0; i < n; i++) /* readdir's order is the kernel's; sort for the comparison */
    for (int j = i + 1; j < n; j++)
      if (fds[j] < fds[i]) {
        int t = fds[i];
        fds[i] = fds[j];
        fds[j] = t;
      }
  for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", fds[i]);
  printf("\n");
  return 0;
}

static void test_no_fd_leaks_into_child(void) {
  weft_reactor *r = new_real_reactor();
  /* descriptors of ours the child must not see: one without close-on-exec, high up */
  int leaky = open("/dev/null", O_RDONLY);
  REQUIRE(leaky >= 0);
  REQUIRE(dup2(leaky, 40) == 40);
  int sock[2];
  REQUIRE(pipe(sock) == 0); /* no O_CLOEXEC either */
  run x = {0};
  run_to_end(r, &x, (const char *const[]){self_exe, "--list-fds", NULL}, NULL);
  CHECK_STR(buf_str(&x.out), "0 1 2\n");
  run_free(&x);

  weft_child_fd extra[] = {{.child_fd = 5, .kind = WEFT_CHILD_FD_PARENT, .parent_fd = leaky}};
  weft_process_options o;
  weft_process_options_init(&o);
  o.child_fds = extra;
  o.n_child_fds = 1;
  run y = {0};
  run_to_end(r, &y, (const char *const[]){self_exe, "--list-fds", NULL}, &o);
  CHECK_STR(buf_str(&y.out), "0 1 2 5\n"); /* 3 and 4 closed in the gap below the highest */
  run_free(&y);

  /* and on the fork path (uid/gid asked for) too */
  if (geteuid() == 0) {
    weft_process_options_init(&o);
    o.set_uid = o.set_gid = true;
    o.uid = geteuid();
    o.gid = getegid();
    run z = {0};
    run_to_end(r, &z, (const char *const[]){self_exe, "--list-fds", NULL}, &o);
    CHECK_STR(buf_str(&z.out), "0 1 2\n");
    run_free(&z);
  }
  close(40);
  close(leaky);
  close(sock[0]);
  close(sock[1]);
  CLOSE_CLEAN(r);
}

/* Our ignored SIGPIPE and blocked signals are not the child's. */
static void test_child_signals_default(void) {
  weft_reactor *r = new_real_reactor();
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  for (int fork_path = 0; fork_path < 1 + (geteuid() == 0); fork_path++) {
    weft_process_options o;
    weft_process_options_init(&o);
    o.set_uid = fork_path;
    o.uid = geteuid();
    run x = {0};
    run_to_end(r, &x, (const char *const[]){"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL}, &o);
    const char *blk = strstr(buf_str(&x.out), "SigBlk:"), *ign = strstr(buf_str(&x.out), "SigIgn:");
    REQUIRE(blk && ign);
    CHECK_INT(strtoull(blk + 7, NULL, 16), 0);
    /* glibc's posix_spawn leaves its two internal signals (32, 33: below SIGRTMIN) ignored; the
     * program's own glibc takes them over */
    CHECK_INT(strtoull(ign + 7, NULL, 16) & ~(3ull << 31), 0);
    run_free(&x);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  CLOSE_CLEAN(r);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  REQUIRE(d);
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* Zombies of ours: children in state Z (from /proc/<pid>/stat of each child task). */
static int count_children(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[300], list[4096] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(list, 1, sizeof list - 1, f);
    fclose(f);
    for (size_t i = 0; i < got; i++)
      if (list[i] == ' ') n++; /* "pid pid " */
  }
  if (d) closedir(d);
  return n;
}

typedef struct batch {
  int started, ended, bad;
} batch;

static void batch_ended(weft_process *p, weft_process_status st, void *user) {
  (void)p;
  batch *b = user;
  b->ended++;
  if (!st.exited || st.code != 0) b->bad++;
}

/* n children of /bin/true, at most window at a time. */
static void run_many(int n, int window, bool no_pidfd) {
  weft_reactor *r = new_real_reactor();
  int fds_before = count_fds();
  weft_process_protocol proto = {.process_ended = batch_ended};
  batch b = {0};
  proto.user = &b;
  weft_process_options o;
  weft_process_options_init(&o);
  o.no_pidfd = no_pidfd;
  double t0 = wall_seconds();
  while (b.ended < n && wall_seconds() - t0 < 3 * LIMIT_SECONDS) {
    while (b.started < n && b.started - b.ended < window) {
      weft_process *p;
      REQUIRE(weft_spawn_process(&p, r, &proto, (const char *const[]){"/bin/true", NULL}, NULL, NULL, &o) == 0);
      b.started++;
    }
    weft_reactor_iterate(r, 0.05);
  }
  CHECK_INT(b.ended, n);
  CHECK_INT(b.bad, 0);
  CHECK_INT(count_children(), 0); /* not even a zombie */
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
  CHECK_INT(count_fds(), fds_before);
  CLOSE_CLEAN(r);
}

static void test_thousand_children(void) { run_many(1000, 8, false); }
static void test_children_on_sigchld(void) { run_many(200, 8, true); }

static void test_setsid_group(void) {
  weft_reactor *r = new_real_reactor();
  weft_process_options o;
  weft_process_options_init(&o);
  o.setsid = true;
  run x = {0};
  /* the grandchild holds stdout open: only the group signal ends both */
  REQUIRE(spawn_run(r, &x, SH("echo started; sleep 30 & wait"), &o) == 0);
  double t0 = wall_seconds();
  while (!x.out.len && wall_seconds() - t0 < LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  CHECK(x.out.len > 0);
  CHECK_INT(weft_process_signal_group(x.p, SIGTERM), 0);
  CHECK(turn_until(r, &x.done));
  CHECK(x.ended.signaled && x.ended.signo == SIGTERM);
  run_free(&x);

  run y = {0};
  REQUIRE(spawn_run(r, &y, (const char *const[]){"cat", NULL}, NULL) == 0);
  CHECK_INT(weft_process_signal_group(y.p, SIGTERM), WEFT_EINVAL); /* not a session of its own */
  weft_process_lose_connection(y.p); /* cat reads end of file and exits */
  CHECK(turn_until(r, &y.done));
  CHECK(y.ended.exited && y.ended.code == 0);
  run_free(&y);
  CLOSE_CLEAN(r);
}

static void test_lose_connection_after_exit(void) {
  weft_reactor *r = new_real_reactor();
  run x = {0};
  x.lose_on_exit = true;
  /* the grandchild cat keeps stdout and fd 3 open after sh exits: process_ended waits for the
   * pipes, until process_exited closes them (and cat, reading end of file on 3, goes away) */
  weft_child_fd fds[] = {{.child_fd = 3, .kind = WEFT_CHILD_FD_READS}};
  weft_process_options o;
  weft_process_options_init(&o);
  o.child_fds = fds;
  o.n_child_fds = 1;
  run_to_end(r, &x, SH("cat <&3 & exit 4"), &o);
  const char *exited = strchr(x.order, 'X'), *out_lost = strchr(x.order, '1');
  CHECK(exited && out_lost && exited < out_lost); /* stdout stayed open until we closed it */
  CHECK(x.ended.exited && x.ended.code == 4);
  run_free(&x);
  CLOSE_CLEAN(r);
}

static void test_set_uid_gid(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "skipped: set_uid needs root\n");
    return;
  }
  weft_reactor *r = new_real_reactor();
  weft_process_options o;
  weft_process_options_init(&o);
  o.set_uid = o.set_gid = true;
  o.uid = 65534;
  o.gid = 65534;
  run x = {0};
  run_to_end(r, &x, (const char *const[]){"id", "-u", NULL}, &o);
  CHECK_STR(buf_str(&x.out), "65534\n");
  run_free(&x);
  run y = {0};
  run_to_end(r, &y, SH("id -g; id -G"), &o);
  CHECK_STR(buf_str(&y.out), "65534\n65534\n");
  run_free(&y);
  weft_process *p;
  CHECK_INT(weft_spawn_process(&p, r, &recorder, (const char *const[]){"/no/such/program", NULL}, NULL, NULL, &o),
            WEFT_ENOENT);
  CLOSE_CLEAN(r);
}

/* ---- Deferreds ---- */

static bool fired(weft_deferred *d) { return weft_deferred_called(d); }

static weft_value await_result(weft_reactor *r, weft_deferred *d) {
  double t0 = wall_seconds();
  while (!fired(d) && wall_seconds() - t0 < LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  weft_value v = weft_none();
  CHECK(weft_deferred_take_result(d, &v) == 0);
  weft_deferred_unref(d);
  return v;
}

static void test_get_process_output(void) {
  weft_reactor *r = new_real_reactor();
  weft_value v = await_result(r, weft_get_process_output(r, SH("echo hi; echo oops >&2; exit 3"), NULL, NULL, NULL));
  REQUIRE(v.kind == WEFT_VALUE_PTR);
  weft_process_output *o = v.v.p;
  CHECK_STR(o->data, "hi\n");
  CHECK_INT(o->len, 3);
  CHECK_STR(o->err, "oops\n");
  CHECK(o->status.exited && o->status.code == 3);
  weft_value_release(v);

  v = await_result(r, weft_get_process_output(r, SH("true"), NULL, NULL, NULL));
  REQUIRE(v.kind == WEFT_VALUE_PTR);
  CHECK_STR(((weft_process_output *)v.v.p)->data, ""); /* empty, not NULL */
  weft_value_release(v);

  v = await_result(r, weft_get_process_output(r, SH("echo partial; kill -TERM $$"), NULL, NULL, NULL));
  CHECK(weft_trap(v, WEFT_PROCESS_FAILURE_DOMAIN, SIGTERM));
  if (weft_value_is_failure(v)) {
    weft_process_output *partial = weft_failure_data(v.v.f);
    CHECK(partial && strcmp(partial->data, "partial\n") == 0);
  }
  weft_value_release(v);

  weft_deferred *d = weft_get_process_output(r, (const char *const[]){"/no/such/program", NULL}, NULL, NULL, NULL);
  CHECK(fired(d)); /* failed already */
  v = await_result(r, d);
  CHECK(weft_trap(v, WEFT_FAILURE_DOMAIN, WEFT_ENOENT));
  weft_value_release(v);
  CLOSE_CLEAN(r);
}

static void test_get_process_value(void) {
  weft_reactor *r = new_real_reactor();
  weft_value v = await_result(r, weft_get_process_value(r, SH("echo ignored; exit 5"), NULL, NULL, NULL));
  CHECK(v.kind == WEFT_VALUE_INT && v.v.i == 5);
  v = await_result(r, weft_get_process_value(r, SH("kill -KILL $$"), NULL, NULL, NULL));
  CHECK(weft_trap(v, WEFT_PROCESS_FAILURE_DOMAIN, SIGKILL));
  weft_value_release(v);
  /* with options: pipes drained and dropped */
  weft_process_options o;
  weft_process_options_init(&o);
  v = await_result(r, weft_get_process_value(r, SH("head -c 300000 /dev/zero; exit 9"), NULL, "/", &o));
  CHECK(v.kind == WEFT_VALUE_INT && v.v.i == 9);
  CLOSE_CLEAN(r);
}

static void check_cancel(bool output) {
  weft_reactor *r = new_real_reactor();
  double t0 = wall_seconds();
  /* would run 30 s; stdout held open by sleep too */
  const char *const *argv = SH("sleep 30");
  weft_deferred *d = output ? weft_get_process_output(r, argv, NULL, NULL, NULL)
                            : weft_get_process_value(r, argv, NULL, NULL, NULL);
  REQUIRE(d);
  weft_reactor_iterate(r, 0);
  CHECK(!fired(d));
  CHECK(weft_reactor_open_handles(r) > 0);
  weft_deferred_cancel(d);
  CHECK(fired(d));
  weft_value v = weft_none();
  CHECK(weft_deferred_take_result(d, &v) == 0);
  CHECK(weft_trap(v, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED));
  weft_value_release(v);
  weft_deferred_unref(d);
  /* the child is killed and reaped, and everything released */
  while (weft_reactor_open_handles(r) > 0 && wall_seconds() - t0 < LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  CHECK(wall_seconds() - t0 < LIMIT_SECONDS);
  CHECK_INT(count_children(), 0);
  CLOSE_CLEAN(r);
}

static void test_cancel_output(void) { check_cancel(true); }
static void test_cancel_value(void) { check_cancel(false); }

/* ---- PID 1 ---- */

static pid_t orphan_logged;

static void watch_orphans(const weft_log_event *ev, void *user) {
  (void)user;
  if (strcmp(ev->ns, "weft.process") != 0 || strncmp(ev->format, "reaped orphan", 13) != 0) return;
  for (size_t i = 0; i < ev->nfields; i++)
    if (strcmp(ev->fields[i].key, "pid") == 0) orphan_logged = (pid_t)ev->fields[i].v.i;
}

/* Runs as PID 1 of a new namespace: reaps an orphan grandchild, keeps its own child's status,
 * forwards SIGTERM. */
static int pid1_main(void) {
  check_current = "pid1_main";
  REQUIRE(getpid() == 1);
  weft_reactor *r = new_real_reactor();
  REQUIRE(weft_log_add_observer(weft_reactor_log(r), WEFT_LOG_DEBUG, watch_orphans, NULL) == 0);
  CHECK_INT(weft_process_reaper_enable(r, WEFT_REAPER_PID1), 0);
  CHECK_INT(weft_process_reaper_enable(r, WEFT_REAPER_PID1), WEFT_EALREADY);
  CHECK_INT(weft_process_reaper_flags(r), WEFT_REAPER_ORPHANS | WEFT_REAPER_FORWARD_SIGNALS);

  /* sh starts cat in the background and exits 7: cat, orphaned, becomes our child */
  weft_child_fd fds[] = {{.child_fd = 3, .kind = WEFT_CHILD_FD_READS}};
  weft_process_options o;
  weft_process_options_init(&o);
  o.child_fds = fds;
  o.n_child_fds = 1;
  run x = {0};
  REQUIRE(spawn_run(r, &x, SH("cat <&3 >/dev/null 2>&1 & echo $!; exit 7"), &o) == 0);
  double t0 = wall_seconds();
  while (!x.exited.exited && wall_seconds() - t0 < LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  CHECK(x.exited.exited && x.exited.code == 7); /* our child's status was not taken as an orphan's */
  pid_t orphan = (pid_t)atoi(buf_str(&x.out));
  CHECK(orphan > 1);
  CHECK_INT(orphan_logged, 0);
  weft_process_close_child_fd(x.p, 3); /* cat reads end of file and exits */
  CHECK(turn_until(r, &x.done));
  t0 = wall_seconds();
  while (orphan_logged == 0 && wall_seconds() - t0 < LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  CHECK_INT(orphan_logged, orphan);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d", (int)orphan);
  CHECK(access(path, F_OK) < 0); /* gone, not a zombie */
  run_free(&x);

  /* SIGTERM to PID 1 goes on to the children */
  run y = {0};
  REQUIRE(spawn_run(r, &y, (const char *const[]){"cat", NULL}, NULL) == 0);
  REQUIRE(raise(SIGTERM) == 0);
  CHECK(turn_until(r, &y.done));
  CHECK(y.ended.signaled && y.ended.signo == SIGTERM);
  run_free(&y);

  weft_process_reaper_disable(r);
  CHECK_INT(weft_process_reaper_flags(r), 0);
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
  weft_log_remove_observer(weft_reactor_log(r), watch_orphans, NULL);
  CLOSE_CLEAN(r);
  return CHECK_DONE();
}

static void test_pid1_in_namespace(void) {
  const char *unshare = access("/usr/bin/unshare", X_OK) == 0 ? "/usr/bin/unshare" : "/bin/unshare";
  if (access(unshare, X_OK) != 0) {
    fprintf(stderr, "skipped: no unshare (util-linux)\n");
    return;
  }
  weft_reactor *r = new_real_reactor();
  run x = {0};
  /* --kill-child: if unshare is killed, so is our PID 1, and with it the whole namespace */
  REQUIRE(spawn_run(r, &x,
                    (const char *const[]){unshare, "--pid", "--fork", "--kill-child", "--mount-proc", self_exe,
                                          "--pid1", NULL},
                    NULL) == 0);
  double t0 = wall_seconds();
  while (!x.done && wall_seconds() - t0 < 4 * LIMIT_SECONDS) weft_reactor_iterate(r, 0.05);
  if (!x.done) {
    CHECK_FAIL_("the PID-1 side did not finish in time: killed");
    weft_process_signal(x.p, SIGKILL);
    CHECK(turn_until(r, &x.done));
  }
  if (x.ended.exited && x.ended.code != 0 &&
      (strstr(buf_str(&x.err), "Operation not permitted") || strstr(buf_str(&x.err), "unshare failed"))) {
    fprintf(stderr, "skipped: cannot make a PID namespace here: %s", buf_str(&x.err));
  } else {
    if (x.err.len) fprintf(stderr, "%s", x.err.data); /* the PID-1 side's check failures */
    CHECK(x.ended.exited);
    CHECK_INT(x.ended.code, 0);
  }
  run_free(&x);
  CLOSE_CLEAN(r);
}

/* ---- reaper flags outside PID 1 ---- */

static void test_reaper_flags(void) {
  weft_reactor *r = new_real_reactor();
  CHECK_INT(weft_process_reaper_enable(r, 64), WEFT_EINVAL);
  if (getpid() != 1) {
    CHECK_INT(weft_process_reaper_enable(r, WEFT_REAPER_PID1), 0); /* not PID 1: nothing to do */
    CHECK_INT(weft_process_reaper_flags(r), 0);
    CHECK_INT(weft_reactor_open_handles(r), 0);
  }
  CHECK_INT(weft_process_reaper_enable(r, WEFT_REAPER_FORWARD_SIGNALS), 0);
  CHECK_INT(weft_process_reaper_flags(r), WEFT_REAPER_FORWARD_SIGNALS);
  CHECK(weft_reactor_open_handles(r) > 0);
  weft_process_reaper_disable(r);
  weft_process_reaper_disable(r);
  CLOSE_CLEAN(r);
}

int main(int argc, char **argv) {
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  REQUIRE(n > 0);
  self_exe[n] = '\0';
  if (argc > 1 && strcmp(argv[1], "--list-fds") == 0) return list_fds_main();
  if (argc > 1 && strcmp(argv[1], "--pid1") == 0) return pid1_main();
  signal(SIGPIPE, SIG_IGN); /* a harness's habit: the children must not inherit it */
  RUN(test_output_capture);
  RUN(test_output_capture_sigchld);
  RUN(test_exit_codes);
  RUN(test_killed_by_signal);
  RUN(test_stdin_round_trip);
  RUN(test_extra_fds);
  RUN(test_env_and_cwd);
  RUN(test_spawn_errors);
  RUN(test_no_fd_leaks_into_child);
  RUN(test_child_signals_default);
  RUN(test_setsid_group);
  RUN(test_lose_connection_after_exit);
  RUN(test_set_uid_gid);
  RUN(test_thousand_children);
  RUN(test_children_on_sigchld);
  RUN(test_get_process_output);
  RUN(test_get_process_value);
  RUN(test_cancel_output);
  RUN(test_cancel_value);
  RUN(test_reaper_flags);
  RUN(test_pid1_in_namespace);
  return CHECK_DONE();
}
