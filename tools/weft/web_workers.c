/* web_workers.c: weft web --workers N, a supervisor of N worker processes.
 *
 * This process binds the listening sockets itself, before any worker exists: for every --listen
 * endpoint (tcp: and tcp6: only) one socket per worker, all with SO_REUSEPORT on the same port
 * (port 0 is resolved by the first), so the kernel spreads connections evenly over the workers'
 * accept queues. The sockets stay open here for the whole run: a worker that dies is replaced
 * by one serving the same sockets, so the port never closes and connections queued meanwhile
 * wait instead of being refused. Each worker is this same program, `weft web --listen fd:3 ...`,
 * started with the process API (exec, so nothing of this process's reactor leaks into it) in a
 * session of its own, so a terminal's Ctrl-C reaches only this process, which forwards SIGTERM.
 *
 * A worker that exits while we are not stopping is restarted, after a delay that doubles with
 * each quick death (0.1 s up to 5 s) so a crash loop does not spin; one that lived 10 s resets
 * it. SIGTERM or SIGINT are forwarded as SIGTERM (the workers drain; a second one stops them at
 * once), SIGHUP as SIGHUP (they reopen their access logs). The exit status is 0 when every
 * worker exited 0 after the stop. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "web.h"
#include "weft/process.h"

#define MAX_WORKERS 64
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
#define HEALTHY_AFTER 10.0 /* seconds a worker must live for its death to count as a first one */

typedef struct sup sup;

typedef struct worker {
  sup *s;
  int slot;
  weft_process *proc; /* NULL while not running */
  pid_t pid;
  weft_delayed_call *restart;
  double started;
  int quick_deaths;
} worker;

struct sup {
  cli_app *app;
  weft_reactor *r;
  int n, nend;
  worker w[MAX_WORKERS];
  int fds[CLI_MAX_LISTEN][MAX_WORKERS];
  const char *argv[64];
  bool stopping;
  int running;
  bool failed; /* a worker exited non-zero after the stop */
};

/* ---- sockets ---- */

/* Splits a canonical endpoint description in place at unescaped ':' and removes the escapes. */
static int split_desc(char *s, char **tok, int max) {
  int n = 0;
  char *out = s;
  tok[n++] = out;
  for (char *p = s; *p; p++) {
    if (*p == '\\' && p[1]) {
      *out++ = *++p;
    } else if (*p == ':') {
      *out++ = '\0';
      if (n == max) return -1;
      tok[n++] = out;
    } else {
      *out++ = *p;
    }
  }
  *out = '\0';
  return n;
}

/* Binds and listens one SO_REUSEPORT socket; returns the fd or a negative errno. */
static int bind_one(const char *ip, int port, bool v6only, int backlog) {
  weft_address a;
  if (weft_address_from_ip(&a, ip, port) != 0) return -EINVAL;
  int fd = socket(a.u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1, rc = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) rc = -errno;
  if (!rc && a.u.sa.sa_family == AF_INET6) {
    int v = v6only ? 1 : 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v);
  }
  if (!rc && bind(fd, &a.u.sa, a.len) < 0) rc = -errno;
  if (!rc && listen(fd, backlog) < 0) rc = -errno;
  if (rc) {
    close(fd);
    return rc;
  }
  return fd;
}

/* Binds s->n sockets for endpoint e (index i). Returns 0, or an exit status after a message. */
static int bind_endpoint(sup *s, int i, const weft_server_endpoint *e) {
  char desc[1024], shown[1024];
  char *tok[8];
  const char *type = weft_server_endpoint_type(e);
  if (weft_server_endpoint_describe(e, desc, sizeof desc) != 0) desc[0] = '\0';
  snprintf(shown, sizeof shown, "%s", desc);
  if (strcmp(type, "tcp") != 0 && strcmp(type, "tcp6") != 0)
    return cli_usage_error(s->app, "--workers serves tcp: and tcp6: endpoints only, not \"%s\"", shown);
  int ntok = split_desc(desc, tok, 8);
  if (ntok < 2) return cli_usage_error(s->app, "cannot read the endpoint \"%s\"", shown);
  int port = atoi(tok[1]), backlog = 511;
  const char *ip = NULL;
  for (int t = 2; t < ntok; t++) {
    if (strncmp(tok[t], "interface=", 10) == 0) ip = tok[t] + 10;
    else if (strncmp(tok[t], "backlog=", 8) == 0) backlog = atoi(tok[t] + 8);
  }
  bool v6only = strcmp(type, "tcp6") == 0;
  bool any = !ip;
  if (any) ip = "::";
  for (int k = 0; k < s->n; k++) {
    int fd = bind_one(ip, port, v6only, backlog);
    if (fd == -EAFNOSUPPORT && any && !v6only) fd = bind_one(ip = "0.0.0.0", port, false, backlog);
    if (fd < 0) {
      weft_log_emit(weft_reactor_log(s->r), WEFT_LOG_ERROR, s->app->ns, "cannot listen on {endpoint}: {error}",
                    WEFT_LOG_STR("endpoint", shown), WEFT_LOG_STR("error", strerror(-fd)), WEFT_LOG_END);
      return CLI_EXIT_FAILURE;
    }
    s->fds[i][k] = fd;
    if (k == 0) { /* the rest bind the port the first got */
      weft_address a;
      a.len = sizeof a.u;
      char where[WEFT_ADDRSTRLEN] = "?";
      if (getsockname(fd, &a.u.sa, &a.len) == 0) {
        port = weft_address_port(&a);
        weft_address_format(&a, where, sizeof where);
      }
      weft_log_emit(weft_reactor_log(s->r), WEFT_LOG_INFO, s->app->ns, "listening on {address} with {workers} workers",
                    WEFT_LOG_STR("address", where), WEFT_LOG_INT("workers", s->n), WEFT_LOG_END);
    }
  }
  return 0;
}

/* ---- workers ---- */

static void start_worker(void *arg);

static void on_worker_ended(weft_process *p, weft_process_status st, void *user) {
  worker *w = user;
  sup *s = w->s;
  (void)p;
  w->proc = NULL;
  s->running--;
  char how[64];
  if (st.signaled) snprintf(how, sizeof how, "was killed by signal %d", st.signo);
  else snprintf(how, sizeof how, "exited with status %d", st.code);
  if (s->stopping) {
    if (!st.exited || st.code != 0) s->failed = true;
    weft_log_emit(weft_reactor_log(s->r), WEFT_LOG_INFO, s->app->ns, "worker {slot} (pid {pid}) {how}",
                  WEFT_LOG_INT("slot", w->slot), WEFT_LOG_INT("pid", w->pid), WEFT_LOG_STR("how", how), WEFT_LOG_END);
    if (s->running == 0) weft_reactor_stop(s->r);
    return;
  }
  double lived = weft_reactor_seconds(s->r) - w->started;
  if (lived >= HEALTHY_AFTER) w->quick_deaths = 0;
  double delay = BACKOFF_MIN;
  for (int i = 0; i < w->quick_deaths && delay < BACKOFF_MAX; i++) delay *= 2;
  if (delay > BACKOFF_MAX) delay = BACKOFF_MAX;
  w->quick_deaths++;
  weft_log_emit(weft_reactor_log(s->r), WEFT_LOG_WARN, s->app->ns,
                "worker {slot} (pid {pid}) {how}; restarting it in {delay} s", WEFT_LOG_INT("slot", w->slot),
                WEFT_LOG_INT("pid", w->pid), WEFT_LOG_STR("how", how), WEFT_LOG_DOUBLE("delay", delay), WEFT_LOG_END);
  w->restart = weft_reactor_call_later(s->r, delay, start_worker, w);
}

static void start_worker(void *arg) {
  worker *w = arg;
  sup *s = w->s;
  w->restart = NULL;
  weft_child_fd cfd[CLI_MAX_LISTEN];
  for (int i = 0; i < s->nend; i++) cfd[i] = (weft_child_fd){3 + i, WEFT_CHILD_FD_PARENT, s->fds[i][w->slot]};
  weft_process_options o;
  weft_process_options_init(&o);
  o.stdin_mode = WEFT_STDIO_NULL;
  o.stdout_mode = WEFT_STDIO_INHERIT;
  o.stderr_mode = WEFT_STDIO_INHERIT;
  o.child_fds = cfd;
  o.n_child_fds = (size_t)s->nend;
  o.setsid = true;
  weft_process_protocol proto = {.process_ended = on_worker_ended, .user = w};
  int rc = weft_spawn_process(&w->proc, s->r, &proto, s->argv, NULL, NULL, &o);
  if (rc) {
    w->proc = NULL;
    weft_log_emit(weft_reactor_log(s->r), WEFT_LOG_ERROR, s->app->ns, "cannot start worker {slot}: {error}",
                  WEFT_LOG_INT("slot", w->slot), WEFT_LOG_ERR("error", rc), WEFT_LOG_END);
    w->started = weft_reactor_seconds(s->r);
    w->quick_deaths++;
    w->restart = weft_reactor_call_later(s->r, BACKOFF_MAX, start_worker, w);
    return;
  }
  s->running++;
  w->pid = weft_process_pid(w->proc);
  w->started = weft_reactor_seconds(s->r);
  weft_log_emit(weft_reactor_log(s->r), WEFT_LOG_INFO, s->app->ns, "worker {slot} started (pid {pid})",
                WEFT_LOG_INT("slot", w->slot), WEFT_LOG_INT("pid", w->pid), WEFT_LOG_END);
}

static void on_signal(weft_reactor *r, int signo, void *arg) {
  sup *s = arg;
  if (signo == SIGHUP) {
    for (int i = 0; i < s->n; i++)
      if (s->w[i].proc) weft_process_signal(s->w[i].proc, SIGHUP);
    return;
  }
  weft_log_emit(weft_reactor_log(r), WEFT_LOG_INFO, s->app->ns,
                s->stopping ? "received {signal} again, stopping the workers now"
                            : "received {signal}, draining the workers",
                WEFT_LOG_STR("signal", signo == SIGINT ? "SIGINT" : "SIGTERM"), WEFT_LOG_END);
  s->stopping = true;
  for (int i = 0; i < s->n; i++) {
    if (s->w[i].restart) weft_delayed_call_cancel(s->w[i].restart);
    s->w[i].restart = NULL;
    if (s->w[i].proc) weft_process_signal(s->w[i].proc, SIGTERM);
  }
  if (s->running == 0) weft_reactor_stop(r);
}

/* The workers' command line: this program, serving the inherited sockets fd:3, fd:4, ... */
static int build_argv(sup *s, const web_opts *o, char *exe, char (*bufs)[32]) {
  ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX - 1);
  if (n <= 0) {
    fprintf(stderr, "weft web: --workers needs /proc/self/exe to start workers: %s\n", strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  exe[n] = '\0';
  int a = 0;
  s->argv[a++] = exe;
  s->argv[a++] = "web";
  s->argv[a++] = "--worker";
  s->argv[a++] = "--path";
  s->argv[a++] = o->path;
  s->argv[a++] = "--log-format";
  s->argv[a++] = s->app->json ? "json" : "text";
  s->argv[a++] = "--log-level";
  s->argv[a++] = weft_log_level_name(s->app->level);
  snprintf(bufs[0], sizeof bufs[0], "%.17g", o->drain_timeout);
  s->argv[a++] = "--drain-timeout";
  s->argv[a++] = bufs[0];
  if (o->access_log) {
    s->argv[a++] = "--access-log";
    s->argv[a++] = o->access_log;
  }
  if (o->demo) s->argv[a++] = "--demo";
  if (o->list_directories) s->argv[a++] = "--list-directories";
  for (int i = 0; i < s->nend; i++) {
    snprintf(bufs[1 + i], sizeof bufs[1 + i], "fd:%d", 3 + i);
    s->argv[a++] = "--listen";
    s->argv[a++] = bufs[1 + i];
  }
  s->argv[a] = NULL;
  return -1;
}

int web_workers_run(cli_app *app, const web_opts *o) {
  static_assert(CLI_MAX_LISTEN * 2 + 20 < 64, "argv room");
  sup s = {.app = app, .n = o->workers, .nend = (int)app->nlistens};
  char exe[PATH_MAX], bufs[1 + CLI_MAX_LISTEN][32];
  weft_signal_watch *sig[3] = {NULL, NULL, NULL};
  for (int i = 0; i < CLI_MAX_LISTEN; i++)
    for (int k = 0; k < MAX_WORKERS; k++) s.fds[i][k] = -1;
  int status = build_argv(&s, o, exe, bufs);
  int rc = status < 0 ? weft_reactor_new(&s.r, NULL) : 0;
  if (status < 0 && rc) {
    fprintf(stderr, "weft web: cannot create the reactor: %s\n", weft_strerror(rc));
    status = CLI_EXIT_FAILURE;
  }
  if (status < 0) {
    weft_log_add_observer(weft_reactor_log(s.r), app->level,
                          app->json ? weft_log_json_observer : weft_log_text_observer, stderr);
    for (int i = 0; i < s.nend && status < 0; i++) {
      rc = bind_endpoint(&s, i, app->listens[i].endpoint);
      if (rc != 0) status = rc;
    }
  }
  cli_app_cleanup(app);
  const int signos[3] = {SIGTERM, SIGINT, SIGHUP};
  for (int i = 0; i < 3 && status < 0; i++)
    if (weft_reactor_watch_signal(&sig[i], s.r, signos[i], on_signal, &s) != 0) status = CLI_EXIT_FAILURE;
  if (status < 0) {
    for (int k = 0; k < s.n; k++) {
      s.w[k] = (worker){.s = &s, .slot = k};
      start_worker(&s.w[k]);
    }
    rc = weft_reactor_run(s.r);
    status = rc || s.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  }
  for (int i = 0; i < 3; i++) weft_signal_watch_free(sig[i]);
  for (int k = 0; k < s.n; k++)
    if (s.w[k].restart) weft_delayed_call_cancel(s.w[k].restart);
  for (int i = 0; i < CLI_MAX_LISTEN; i++)
    for (int k = 0; k < MAX_WORKERS; k++)
      if (s.fds[i][k] >= 0) close(s.fds[i][k]);
  if (s.r) {
    int frc = weft_reactor_free(s.r);
    if (frc) {
      fprintf(stderr, "weft web: reactor not closed clean: %s\n", weft_strerror(frc));
      status = CLI_EXIT_FAILURE;
    }
  }
  return status;
}
