/* web.c: `weft web`, a production static-file server (twist web --path, twisted.web.static.File).
 *
 * A static root at --path mounted on a router at "/" (with the demo routes first under --demo),
 * an HTTP server routing to it, served on every --listen endpoint (ssl: gives HTTPS) by the
 * common runner. The server needs the reactor, so it is made in the runner's start hook and freed
 * in its stop hook. SIGTERM (or SIGINT) drains: the ports close, in-flight requests finish (up to
 * --drain-timeout), then the process exits 0; a second signal stops at once. SIGHUP reopens the
 * access log. With --workers N the process supervises N workers instead (web_workers.c), each of
 * which is this same command serving inherited sockets. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web.h"
#include "weft/http_static.h"

typedef struct web_state {
  web_opts opts;
  web_log log;
  web_demo demo;
  weft_http_static *root;
  weft_http_router *router;
  weft_http_server *server;
  weft_deferred *drain; /* weft_http_server_drain's, once SIGTERM came */
  weft_looping_call *parent_watch; /* --worker: notices the supervisor's death */
  pid_t parent;
} web_state;

static void web_term(cli_app *app, int signo);

/* A worker whose supervisor died (SIGKILL, a crash) is reparented: it drains and exits rather
 * than serve on unsupervised. */
static void parent_check(weft_looping_call *lc, uint64_t count, void *arg) {
  cli_app *app = arg;
  web_state *w = app->user;
  (void)count;
  if (getppid() == w->parent || app->terminating) return;
  weft_looping_call_stop(lc);
  weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_WARN, app->ns, "the supervisor is gone, draining", WEFT_LOG_END);
  app->terminating = true;
  web_term(app, SIGTERM);
}

/* Logs the request at debug (the access log has the outcome), then routes it. */
static void web_handle(weft_http_request *req, void *user) {
  cli_app *app = user;
  web_state *w = app->user;
  weft_log_publisher *log = weft_reactor_log(app->r);
  if (weft_log_enabled(log, WEFT_LOG_DEBUG)) {
    size_t mlen, tlen;
    const char *m = weft_http_request_method(req, &mlen), *t = weft_http_request_target(req, &tlen);
    char method[32], target[512];
    snprintf(method, sizeof method, "%.*s", (int)mlen, m);
    snprintf(target, sizeof target, "%.*s", (int)tlen, t);
    weft_log_emit(log, WEFT_LOG_DEBUG, app->ns, "request {method} {target}", WEFT_LOG_STR("method", method),
                  WEFT_LOG_STR("target", target), WEFT_LOG_END);
  }
  weft_http_router_route(w->router, req);
}

static int web_start(cli_app *app, const weft_factory **f) {
  web_state *w = app->user;
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.access_log = w->opts.access_log != NULL;
  int rc = weft_http_server_new(&w->server, app->r, &o);
  if (rc) {
    weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_ERROR, app->ns, "cannot create the HTTP server: {error}",
                  WEFT_LOG_ERR("error", rc), WEFT_LOG_END);
    return rc;
  }
  weft_http_server_set_handler(w->server, web_handle, app);
  *f = weft_http_server_factory(w->server);
  if (w->opts.worker) {
    w->parent = getppid();
    if (weft_looping_call_new(&w->parent_watch, app->r, parent_check, app) == 0)
      weft_looping_call_start(w->parent_watch, 1.0, false);
  }
  return 0;
}

/* Shutdown: the ports are closed, and freeing the server aborts its connections (which cancels
 * what their handlers await), whose connection_lost the reactor runs before it stops. */
static void web_stop(cli_app *app) {
  web_state *w = app->user;
  weft_looping_call_free(w->parent_watch);
  w->parent_watch = NULL;
  weft_http_server_free(w->server); /* fails a drain still waiting */
  w->server = NULL;
  weft_deferred_unref(w->drain);
  w->drain = NULL;
}

/* The drain is over (every connection gone, or the deadline passed and the rest aborted). */
static weft_value drained(weft_value v, void *arg) {
  cli_app *app = arg;
  bool cancelled = weft_value_is_failure(v); /* the server was freed first: a second signal */
  weft_value_release(v);
  if (!cancelled) {
    weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_INFO, app->ns, "drained, stopping", WEFT_LOG_END);
    weft_reactor_stop(app->r);
  }
  return weft_none();
}

/* SIGTERM: stop accepting, let what is in flight finish (up to --drain-timeout), then stop. */
static void web_term(cli_app *app, int signo) {
  web_state *w = app->user;
  (void)signo;
  cli_close_ports(app);
  if (w->server) w->drain = weft_http_server_drain(w->server, w->opts.drain_timeout);
  if (!w->drain) {
    weft_reactor_stop(app->r);
    return;
  }
  weft_deferred_add_callbacks(w->drain, drained, app, drained, app);
}

static void web_hup(cli_app *app) {
  web_state *w = app->user;
  web_log_reopen(&w->log, weft_reactor_log(app->r));
}

static const char web_usage[] =
    "usage: weft web --path DIR --listen ENDPOINT [--listen ENDPOINT...] [OPTIONS]\n\n"
    "Serves the files below DIR over HTTP/1.1 (HTTPS on ssl: endpoints): GET and HEAD, index.html\n"
    "for directories, Content-Type from the extension, ETags, 304s and byte ranges. Paths leaving\n"
    "DIR (.., %2F, symlinks out) are refused with 403.\n\n"
    "SIGTERM or SIGINT drains: listening stops, requests in flight finish (up to --drain-timeout),\n"
    "then weft web exits 0; a second signal stops at once. SIGHUP reopens the access log.\n\n"
    "Options:\n"
    "  --path DIR              the directory to serve (required)\n"
    "  --workers N             serve from N worker processes (1..64) sharing the port (each its own\n"
    "                          SO_REUSEPORT socket, bound by this process); a worker that dies is\n"
    "                          restarted; tcp: and tcp6: endpoints only\n"
    "  --drain-timeout S       seconds SIGTERM waits for requests in flight before closing them\n"
    "                          (default 10; 0: no deadline)\n"
    "  --access-log FILE|-     log every request in Combined Log Format (JSON lines with\n"
    "                          --log-format json) to FILE, or stdout for -\n"
    "  --list-directories      answer a folder without index.html with a listing (default: 403)\n"
    "  --demo                  also answer GET /demo/hello and /demo/sleep/<ms> (coroutine handlers\n"
    "                          that await a timer and name the worker's pid)\n";

/* Makes the static root and the router; returns -1 to go on, or an exit status. */
static int web_setup(cli_app *app, web_state *w) {
  weft_http_static_options so;
  weft_http_static_options_init(&so);
  so.list_directories = w->opts.list_directories;
  int rc = weft_http_static_new(&w->root, w->opts.path, &so);
  if (rc == WEFT_EINVAL) return cli_usage_error(app, "--path \"%s\" is not a directory", w->opts.path);
  if (rc) return cli_usage_error(app, "--path \"%s\": %s", w->opts.path, weft_strerror(rc));
  rc = weft_http_router_new(&w->router);
  if (!rc && w->opts.demo) rc = web_demo_add_routes(&w->demo, w->router);
  if (!rc) rc = weft_http_router_add(w->router, "GET,HEAD", "/", weft_http_static_route, w->root);
  if (!rc) rc = weft_http_router_add(w->router, "GET,HEAD", "/<path:rest>", weft_http_static_route, w->root);
  if (rc) {
    fprintf(stderr, "weft web: %s\n", weft_strerror(rc));
    return CLI_EXIT_FAILURE;
  }
  return -1;
}

/* Parses web's own option values; returns -1 to go on or an exit status. */
static int web_check_opts(cli_app *app, web_opts *o, const char *workers, const char *drain) {
  if (!o->path) return cli_usage_error(app, "--path DIR is needed");
  if (workers) {
    char *end;
    errno = 0;
    long n = strtol(workers, &end, 10);
    if (errno || *end || end == workers || n < 1 || n > 64)
      return cli_usage_error(app, "--workers must be 1..64, not \"%s\"", workers);
    o->workers = (int)n;
  }
  if (drain) {
    char *end;
    double s = strtod(drain, &end);
    if (*end || end == drain || !isfinite(s) || s < 0 || s > 86400)
      return cli_usage_error(app, "--drain-timeout must be 0..86400 seconds, not \"%s\"", drain);
    o->drain_timeout = s;
  }
  return -1;
}

/* Serves in this process (no --workers, or as a worker). */
static int web_serve(cli_app *app, web_state *w) {
  int rc = web_setup(app, w);
  if (rc < 0) {
    w->log.json = app->json;
    w->log.level = app->level;
    w->log.path = w->opts.access_log;
    int e = web_log_open(&w->log);
    if (e) {
      fprintf(stderr, "weft web: cannot open the access log \"%s\": %s\n", w->log.path, strerror(e));
      cli_app_cleanup(app);
      rc = CLI_EXIT_FAILURE;
    } else {
      app->start = web_start;
      app->stop = web_stop;
      app->term = web_term;
      app->hup = web_hup;
      app->log_fn = web_log_observer;
      app->log_user = &w->log;
      app->log_min = web_log_min_level(&w->log);
      app->user = w;
      weft_factory none = {0}; /* replaced by web_start */
      rc = cli_run(app, &none);
      web_log_close(&w->log);
    }
  } else {
    cli_app_cleanup(app);
  }
  weft_http_router_free(w->router);
  weft_http_static_free(w->root);
  return rc;
}

int cli_web_main(int argc, char **argv) {
  cli_app app;
  web_state w = {0};
  const char *workers = NULL, *drain = NULL;
  w.opts.drain_timeout = 10;
  const cli_option extra[] = {
      {"path", &w.opts.path}, {"workers", &workers}, {"drain-timeout", &drain}, {"access-log", &w.opts.access_log},
      {NULL, NULL}};
  cli_app_init(&app, "web", "weft.web", web_usage);
  /* --demo, --list-directories and --worker are flags without a value: take them out before the common parser sees
   * the rest, unless one stands where an option's value goes ("--path --demo" names a folder
   * "--demo": the parser then says so, rather than --path swallowing the next option). */
  char **args = calloc((size_t)argc + 1, sizeof *args);
  if (!args) return CLI_EXIT_FAILURE;
  int nargs = 0;
  bool value_due = false;
  for (int i = 0; i < argc; i++) {
    bool flag = i > 0 && !value_due &&
                (strcmp(argv[i], "--demo") == 0 || strcmp(argv[i], "--worker") == 0 ||
                 strcmp(argv[i], "--list-directories") == 0);
    if (flag && argv[i][2] == 'd') w.opts.demo = true;
    else if (flag && argv[i][2] == 'l') w.opts.list_directories = true;
    else if (flag) w.opts.worker = true;
    else args[nargs++] = argv[i];
    /* an option (not a flag, no "=value") takes the next word as its value */
    value_due = !flag && !value_due && i > 0 && strncmp(argv[i], "--", 2) == 0 && !strchr(argv[i], '=') &&
                strcmp(argv[i], "--help") != 0;
  }
  int rc = cli_parse(&app, nargs, args, extra);
  free(args);
  if (rc >= 0) return rc;
  rc = web_check_opts(&app, &w.opts, workers, drain);
  if (rc >= 0) {
    cli_app_cleanup(&app);
    return rc;
  }
  if (w.opts.workers > 0 && !w.opts.worker) {
    /* check DIR and the routes here, so a bad --path is a usage error of this command */
    rc = web_setup(&app, &w);
    weft_http_router_free(w.router);
    weft_http_static_free(w.root);
    if (rc >= 0) {
      cli_app_cleanup(&app);
      return rc;
    }
    return web_workers_run(&app, &w.opts);
  }
  return web_serve(&app, &w);
}
