/* process.c: child processes with pipes as transports (twisted.internet.process.Process and
 * spawnProcess).
 *
 * The child is started with posix_spawn (glibc runs it with clone(CLONE_VM|CLONE_VFORK): no page
 * tables copied, whatever the size of the parent), or with fork + exec when it must change user,
 * which posix_spawn cannot do. Its descriptors are laid out by a plan made beforehand: every
 * descriptor a child gets is moved above the highest target first, so the dup2s cannot overwrite
 * each other whatever order they run in, and everything else is closed in the child. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "net/pipe.h"
#include "net/process_internal.h"
#include "weft/errors.h"
#include "weft/process.h"

extern char **environ;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define HAVE_ADDCLOSEFROM 1
#endif

#define MAX_SLOTS (3 + WEFT_PROCESS_MAX_EXTRA_FDS)

/* One descriptor of the child, as planned before the spawn. */
typedef struct fd_plan {
  int child_fd;
  int src;      /* what the child gets as child_fd, or -1 (inherit ours, or /dev/null) */
  bool devnull; /* open /dev/null as child_fd */
  int ours;     /* our end of a new pipe, or -1 */
  weft__pipe_dir dir;
} fd_plan;

typedef struct spawn_plan {
  fd_plan fds[MAX_SLOTS];
  int n;
  int max_target;
  int to_close[2 * MAX_SLOTS]; /* the child's pipe ends and moved copies, closed after the spawn */
  int n_close;
} spawn_plan;

typedef struct slot {
  weft_process *p;
  int child_fd;
  weft_transport *t; /* NULL when not a pipe, or once closed */
} slot;

struct weft_process {
  weft__reap_entry reap;
  weft_reactor *r;
  weft_process_protocol proto;
  weft_process_status status;
  weft__task end_task;
  bool setsid, reaped;
  bool silent; /* the spawn failed after the child started: it is killed and ends unseen */
  int open_pipes;
  int nslots;
  slot slots[MAX_SLOTS];
};

void weft_process_options_init(weft_process_options *o) {
  memset(o, 0, sizeof *o);
  o->stdin_mode = o->stdout_mode = o->stderr_mode = WEFT_STDIO_PIPE;
}

/* ---- the plan ---- */

static int check_options(const weft_process_options *o) {
  const weft_stdio_mode modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
  for (int i = 0; i < 3; i++)
    if (modes[i] < WEFT_STDIO_PIPE || modes[i] > WEFT_STDIO_NULL) return WEFT_EINVAL;
  if (o->n_child_fds > WEFT_PROCESS_MAX_EXTRA_FDS || (o->n_child_fds && !o->child_fds)) return WEFT_EINVAL;
  for (size_t i = 0; i < o->n_child_fds; i++) {
    const weft_child_fd *c = &o->child_fds[i];
    if (c->child_fd < 0 || c->child_fd > WEFT_PROCESS_MAX_CHILD_FD) return WEFT_EINVAL;
    if (c->kind < WEFT_CHILD_FD_READS || c->kind > WEFT_CHILD_FD_PARENT) return WEFT_EINVAL;
    if (c->kind == WEFT_CHILD_FD_PARENT && fcntl(c->parent_fd, F_GETFD) < 0) return WEFT_EBADF;
    for (size_t j = 0; j < i; j++)
      if (o->child_fds[j].child_fd == c->child_fd) return WEFT_EINVAL;
  }
  return 0;
}

static fd_plan *plan_entry(spawn_plan *pl, int child_fd) {
  for (int i = 0; i < pl->n; i++)
    if (pl->fds[i].child_fd == child_fd) return &pl->fds[i];
  fd_plan *f = &pl->fds[pl->n++];
  *f = (fd_plan){.child_fd = child_fd, .src = -1, .ours = -1};
  if (child_fd > pl->max_target) pl->max_target = child_fd;
  return f;
}

/* A new pipe for f: the child gets one end, we keep the other (both close-on-exec). */
static int plan_pipe(spawn_plan *pl, fd_plan *f, bool child_reads) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
  f->src = child_reads ? fds[0] : fds[1];
  f->ours = child_reads ? fds[1] : fds[0];
  f->dir = child_reads ? WEFT__PIPE_WRITER : WEFT__PIPE_READER;
  pl->to_close[pl->n_close++] = f->src;
  return 0;
}

static int plan_fd(spawn_plan *pl, int child_fd, int kind, int parent_fd) {
  fd_plan *f = plan_entry(pl, child_fd);
  f->src = -1;
  f->devnull = false;
  f->ours = -1;
  switch (kind) {
    case WEFT_CHILD_FD_READS: return plan_pipe(pl, f, true);
    case WEFT_CHILD_FD_WRITES: return plan_pipe(pl, f, false);
    case WEFT_CHILD_FD_PARENT: f->src = parent_fd; return 0;
    default: f->devnull = true; return 0; /* WEFT_STDIO_NULL */
  }
}

static int stdio_kind(weft_stdio_mode m, int child_fd) {
  if (m == WEFT_STDIO_PIPE) return child_fd == 0 ? WEFT_CHILD_FD_READS : WEFT_CHILD_FD_WRITES;
  if (m == WEFT_STDIO_INHERIT) return WEFT_CHILD_FD_PARENT;
  return -1;
}

/* Moves every source that a dup2 could overwrite above max_target. */
static int plan_move_sources(spawn_plan *pl) {
  for (int i = 0; i < pl->n; i++) {
    fd_plan *f = &pl->fds[i];
    if (f->src < 0 || f->src == f->child_fd || f->src > pl->max_target) continue;
    int moved = fcntl(f->src, F_DUPFD_CLOEXEC, pl->max_target + 1);
    if (moved < 0) return -errno;
    f->src = moved;
    pl->to_close[pl->n_close++] = moved;
  }
  return 0;
}

static void plan_close(spawn_plan *pl, bool ours_too) {
  for (int i = 0; i < pl->n_close; i++) close(pl->to_close[i]);
  pl->n_close = 0;
  for (int i = 0; ours_too && i < pl->n; i++)
    if (pl->fds[i].ours >= 0) close(pl->fds[i].ours);
}

static int plan_build(spawn_plan *pl, const weft_process_options *o) {
  memset(pl, 0, sizeof *pl);
  const weft_stdio_mode modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
  int rc = 0;
  for (int i = 0; i < 3 && !rc; i++) {
    int kind = stdio_kind(modes[i], i);
    rc = plan_fd(pl, i, kind, i);
    /* inherited: the child keeps our descriptor as it is (even if we have none there) */
    if (!rc && kind == WEFT_CHILD_FD_PARENT) pl->fds[i].src = -1;
  }
  for (size_t i = 0; i < o->n_child_fds && !rc; i++) {
    const weft_child_fd *c = &o->child_fds[i];
    fd_plan *f = plan_entry(pl, c->child_fd);
    if (f->ours >= 0) { /* an extra entry for 0..2 replaces the stdio pipe */
      close(f->ours);
      f->ours = -1;
    }
    rc = plan_fd(pl, c->child_fd, (int)c->kind, c->parent_fd);
  }
  if (!rc) rc = plan_move_sources(pl);
  if (rc) plan_close(pl, true);
  return rc;
}

static bool is_target(const spawn_plan *pl, int fd) {
  for (int i = 0; i < pl->n; i++)
    if (pl->fds[i].child_fd == fd) return true;
  return false;
}

/* ---- starting the child ---- */

static int add_fd_actions(posix_spawn_file_actions_t *fa, const spawn_plan *pl) {
  int rc = 0;
  for (int i = 0; i < pl->n && !rc; i++) {
    const fd_plan *f = &pl->fds[i];
    if (f->devnull) rc = posix_spawn_file_actions_addopen(fa, f->child_fd, "/dev/null", O_RDWR, 0);
    /* dup2 onto itself clears close-on-exec (glibc >= 2.29), so an inherited fd is kept too */
    else if (f->src >= 0) rc = posix_spawn_file_actions_adddup2(fa, f->src, f->child_fd);
  }
  for (int fd = 3; fd <= pl->max_target && !rc; fd++)
    if (!is_target(pl, fd)) rc = posix_spawn_file_actions_addclose(fa, fd);
#ifdef HAVE_ADDCLOSEFROM
  /* everything else the program left open, close-on-exec or not */
  if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(fa, pl->max_target + 1);
#endif
  return rc;
}

static int spawn_posix(pid_t *pid, const spawn_plan *pl, const char *const argv[], char *const envp[],
                       const char *cwd, bool new_session) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc) return -rc;
  if ((rc = posix_spawnattr_init(&at)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return -rc;
  }
  rc = add_fd_actions(&fa, pl);
  if (!rc && cwd) rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
  /* the child starts with no signal blocked and every signal at its default action: a handler
   * or an ignored SIGPIPE of ours is not the child's business */
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (new_session) flags |= POSIX_SPAWN_SETSID;
  if (!rc) rc = posix_spawnattr_setsigmask(&at, &none);
  if (!rc) rc = posix_spawnattr_setsigdefault(&at, &all);
  if (!rc) rc = posix_spawnattr_setflags(&at, flags);
  if (!rc) {
    char *const *av = (char *const *)argv;
    rc = strchr(argv[0], '/') ? posix_spawn(pid, argv[0], &fa, &at, av, envp)
                              : posix_spawnp(pid, argv[0], &fa, &at, av, envp);
  }
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return -rc;
}

static void close_above(int from, int keep) {
#ifdef SYS_close_range
  if (keep > from) syscall(SYS_close_range, (unsigned)from, (unsigned)keep - 1, 0u);
  if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = from; fd < (max > 0 ? max : 1024); fd++)
    if (fd != keep) close((int)fd);
}

/* The fork child: only async-signal-safe calls from here to exec. Reports errno on err_fd. */
static _Noreturn void child_exec(const spawn_plan *pl, int err_fd, const char *const argv[], char *const envp[],
                                 const char *cwd, const weft_process_options *o) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (o->setsid && setsid() < 0) goto fail;
  for (int i = 0; i < pl->n; i++) {
    const fd_plan *f = &pl->fds[i];
    int src = f->src;
    if (f->devnull && (src = open("/dev/null", O_RDWR)) < 0) goto fail;
    if (src < 0) continue;
    if (src == f->child_fd) {
      if (fcntl(src, F_SETFD, 0) < 0) goto fail;
    } else if (dup2(src, f->child_fd) < 0) {
      goto fail;
    }
    if (f->devnull && src != f->child_fd) close(src);
  }
  for (int fd = 3; fd <= pl->max_target; fd++)
    if (!is_target(pl, fd)) close(fd);
  close_above(pl->max_target + 1, err_fd);
  if (o->set_gid && (setgroups(1, &o->gid) < 0 || setgid(o->gid) < 0)) goto fail;
  if (o->set_uid && setuid(o->uid) < 0) goto fail;
  if (cwd && chdir(cwd) < 0) goto fail;
  execvpe(argv[0], (char *const *)argv, envp);
fail:;
  int e = errno;
  ssize_t ignored = write(err_fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

static int spawn_fork(pid_t *out, const spawn_plan *pl, const char *const argv[], char *const envp[],
                      const char *cwd, const weft_process_options *o) {
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) return -errno;
  if (ep[1] <= pl->max_target) { /* out of the way of the dup2s */
    int moved = fcntl(ep[1], F_DUPFD_CLOEXEC, pl->max_target + 1);
    close(ep[1]);
    if (moved < 0) {
      close(ep[0]);
      return -errno;
    }
    ep[1] = moved;
  }
  /* no handler of ours may run in the child before it resets them */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) child_exec(pl, ep[1], argv, envp, cwd, o);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(ep[1]);
  if (pid < 0) {
    close(ep[0]);
    return -fork_errno;
  }
  int err = 0;
  ssize_t n;
  while ((n = read(ep[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  close(ep[0]);
  if (n != (ssize_t)sizeof err) { /* end of file: the exec closed it */
    *out = pid;
    return 0;
  }
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  return err ? -err : WEFT_EIO;
}

/* ---- the process object ---- */

static weft_process_status decode_status(int raw) {
  weft_process_status st = {.raw = raw};
  if (raw == -1) return st; /* lost */
  if (WIFEXITED(raw)) {
    st.exited = true;
    st.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    st.signaled = true;
    st.signo = WTERMSIG(raw);
#ifdef WCOREDUMP
    st.core = WCOREDUMP(raw) != 0;
#endif
  }
  return st;
}

static void end_task(weft__task *t) {
  weft_process *p = (weft_process *)((char *)t - offsetof(weft_process, end_task));
  weft_reactor *r = p->r;
  if (!p->silent && p->proto.process_ended) p->proto.process_ended(p, p->status, p->proto.user);
  weft__handle_unref(r);
  weft__free(p);
}

/* process_ended waits for both: the child reaped and every pipe closed. From a task, so that it
 * never runs inside the callback that completed the pair. */
static void maybe_end(weft_process *p) {
  if (p->reaped && p->open_pipes == 0) weft__task_queue(p->r, &p->end_task);
}

static void on_reaped(weft__reap_entry *e, int raw) {
  weft_process *p = (weft_process *)e; /* the entry is the first member */
  p->reaped = true;
  p->status = decode_status(raw);
  if (!p->silent && p->proto.process_exited) p->proto.process_exited(p, p->status, p->proto.user);
  maybe_end(p);
}

static void pipe_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t;
  slot *s = user;
  weft_process *p = s->p;
  const weft_process_protocol *pr = &p->proto;
  if (p->silent) return;
  if (s->child_fd == 1 && pr->out_received) pr->out_received(p, data, len, pr->user);
  else if (s->child_fd == 2 && pr->err_received) pr->err_received(p, data, len, pr->user);
  else if (pr->child_data_received) pr->child_data_received(p, s->child_fd, data, len, pr->user);
}

static void pipe_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  (void)reason; /* Twisted's childConnectionLost has none either: a pipe just ends */
  slot *s = user;
  weft_process *p = s->p;
  s->t = NULL;
  p->open_pipes--;
  if (!p->silent && p->proto.child_connection_lost) p->proto.child_connection_lost(p, s->child_fd, p->proto.user);
  maybe_end(p);
}

static const weft_protocol_callbacks pipe_callbacks = {
    .data_received = pipe_data,
    .connection_lost = pipe_lost,
};

/* Wraps our ends of the planned pipes. On failure the ends not yet wrapped are closed. */
static int open_pipes(weft_process *p, spawn_plan *pl) {
  int rc = 0;
  for (int i = 0; i < pl->n; i++) {
    fd_plan *f = &pl->fds[i];
    if (f->ours < 0) continue;
    if (rc) {
      close(f->ours);
      continue;
    }
    slot *s = &p->slots[p->nslots];
    s->p = p;
    s->child_fd = f->child_fd;
    weft_protocol proto = {&pipe_callbacks, s};
    rc = weft__pipe_open(&s->t, p->r, f->ours, f->dir, &proto);
    if (!rc) {
      p->nslots++;
      p->open_pipes++;
    }
  }
  return rc;
}

static int start_child(pid_t *pid, const spawn_plan *pl, const char *const argv[], const char *const envp[],
                       const char *cwd, const weft_process_options *o) {
  char *const *env = envp ? (char *const *)envp : environ;
  if (o->set_uid || o->set_gid) return spawn_fork(pid, pl, argv, env, cwd, o);
  return spawn_posix(pid, pl, argv, env, cwd, o->setsid);
}

int weft_spawn_process(weft_process **out, weft_reactor *r, const weft_process_protocol *proto,
                       const char *const argv[], const char *const envp[], const char *cwd,
                       const weft_process_options *opts) {
  weft_process_options defaults;
  if (!opts) {
    weft_process_options_init(&defaults);
    opts = &defaults;
  }
  if (!out || !r || !argv || !argv[0] || !argv[0][0]) return WEFT_EINVAL;
  int rc = check_options(opts);
  if (rc) return rc;
  weft_process *p = weft__calloc(1, sizeof *p);
  if (!p) return WEFT_ENOMEM;
  if ((rc = weft__reaper_prepare(r)) != 0) {
    weft__free(p);
    return rc;
  }
  spawn_plan pl;
  pid_t pid = -1;
  rc = plan_build(&pl, opts);
  if (!rc) {
    rc = start_child(&pid, &pl, argv, envp, cwd, opts);
    plan_close(&pl, rc != 0);
  }
  if (rc) {
    weft__reaper_release(r);
    weft__free(p);
    return rc;
  }
  p->r = r;
  if (proto) p->proto = *proto;
  p->setsid = opts->setsid;
  p->end_task.fn = end_task;
  p->reap.pid = pid;
  p->reap.reaped = on_reaped;
  weft__handle_ref(r);
  weft__reap_start(r, &p->reap, opts->no_pidfd);
  if ((rc = open_pipes(p, &pl)) != 0) {
    p->silent = true; /* it ends unseen; the object goes when it is reaped and its pipes closed */
    kill(pid, SIGKILL);
    weft_process_lose_connection(p);
    return rc;
  }
  *out = p;
  if (p->proto.connection_made) p->proto.connection_made(p, p->proto.user);
  return 0;
}

/* ---- the calls ---- */

pid_t weft_process_pid(const weft_process *p) { return p->reap.pid; }

weft_reactor *weft_process_reactor(const weft_process *p) { return p->r; }

bool weft_process_status_get(const weft_process *p, weft_process_status *st) {
  if (st) *st = p->status;
  return p->reaped;
}

int weft_process_signal(weft_process *p, int signo) {
  if (p->reaped) return WEFT_ESTATE; /* its pid may be someone else's by now */
  return kill(p->reap.pid, signo) < 0 ? -errno : 0;
}

int weft_process_signal_group(weft_process *p, int signo) {
  if (!p->setsid) return WEFT_EINVAL;
  /* safe after the leader is reaped too: a pid is not reused while its group has members */
  return kill(-p->reap.pid, signo) < 0 ? -errno : 0;
}

weft_transport *weft_process_transport(weft_process *p, int child_fd) {
  for (int i = 0; i < p->nslots; i++)
    if (p->slots[i].child_fd == child_fd) return p->slots[i].t;
  return NULL;
}

int weft_process_write(weft_process *p, const void *data, size_t len) {
  weft_transport *t = weft_process_transport(p, 0);
  return t ? weft_transport_write(t, data, len) : WEFT_ECLOSED;
}

int weft_process_close_child_fd(weft_process *p, int child_fd) {
  weft_transport *t = weft_process_transport(p, child_fd);
  if (!t || weft_transport_closing(t)) return WEFT_ECLOSED;
  return weft_transport_lose_connection(t);
}

int weft_process_close_stdin(weft_process *p) { return weft_process_close_child_fd(p, 0); }

void weft_process_lose_connection(weft_process *p) {
  for (int i = 0; i < p->nslots; i++)
    if (p->slots[i].t) weft_transport_lose_connection(p->slots[i].t);
}
