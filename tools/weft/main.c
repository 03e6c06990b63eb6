/* main.c: the weft command (Twisted's twist): subcommand dispatch, the options every subcommand
 * shares, and the runner that serves a factory on endpoints until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
  const char *name, *summary;
  int (*main)(int argc, char **argv);
} command;

static const command commands[] = {
    {"echo", "echo back every byte received (Twisted's echo service)", cli_echo_main},
    {"portforward", "forward every connection to another address, both ways", cli_portforward_main},
    {"web", "serve the files below a directory over HTTP", cli_web_main},
    {"get", "fetch a URL and print its body", cli_get_main},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char common_usage[] =
    "Common options:\n"
    "  --listen ENDPOINT       where to listen; repeat to listen on several endpoints:\n"
    "                            tcp:PORT[:interface=ADDR][:backlog=N][:reuseport=yes]\n"
    "                            tcp6:PORT[:interface=ADDR][:backlog=N][:reuseport=yes]\n"
    "                            unix:PATH[:mode=0660][:backlog=N][:lockfile=1]\n"
    "                            systemd:domain=INET|INET6|UNIX:index=N (or :name=NAME)\n"
    "                            fd:N (an inherited listening socket)\n"
    "                            ssl:PORT:privateKey=KEY[:certKey=CERT][:extraCertChain=FILE]\n"
    "                                [:interface=ADDR][:backlog=N] (tls: is the same)\n"
    "                          a backslash escapes ':' inside a value (tcp:80:interface=\\:\\:1)\n"
    "  --log-format text|json  log lines on stderr as text (default) or JSON lines\n"
    "  --log-level LEVEL       debug, info (default), warn, error or critical\n"
    "  -h, --help              show this help and exit\n";

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: weft [--help] [--version] COMMAND [OPTIONS]\n\n"
          "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nRun 'weft COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *arg = argv[1];
  if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0) {
    print_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(arg, "--version") == 0) {
    printf("weft %s\n", WEFT_VERSION_STRING);
    return CLI_EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(arg, commands[i].name) == 0) return commands[i].main(argc - 1, argv + 1);
  fprintf(stderr, "weft: unknown %s \"%s\"\n", arg[0] == '-' ? "option" : "command", arg);
  fprintf(stderr, "Try 'weft --help'.\n");
  return CLI_EXIT_USAGE;
}

/* ---- options ---- */

void cli_app_init(cli_app *app, const char *cmd, const char *ns, const char *usage) {
  memset(app, 0, sizeof *app);
  app->command = cmd;
  app->ns = ns;
  app->usage = usage;
  app->level = WEFT_LOG_INFO;
  app->live.prev = app->live.next = &app->live;
}

void cli_app_cleanup(cli_app *app) {
  for (size_t i = 0; i < app->nlistens; i++) {
    weft_server_endpoint_free(app->listens[i].endpoint);
    app->listens[i].endpoint = NULL;
  }
}

int cli_usage_error(const cli_app *app, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "weft %s: ", app->command);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'weft %s --help'.\n", app->command);
  return CLI_EXIT_USAGE;
}

/* Applies one option; returns -1 to go on or an exit status. */
static int apply_option(cli_app *app, const char *name, const char *value, const cli_option *extra) {
  if (strcmp(name, "listen") == 0) {
    if (app->nlistens == CLI_MAX_LISTEN) return cli_usage_error(app, "at most %d --listen", CLI_MAX_LISTEN);
    char err[512];
    cli_listen *l = &app->listens[app->nlistens];
    int rc = weft_server_endpoint_parse(&l->endpoint, value, err, sizeof err);
    if (rc == WEFT_EPARSE) return cli_usage_error(app, "%s", err);
    if (rc) return cli_usage_error(app, "%s", weft_strerror(rc));
    l->app = app;
    app->nlistens++;
  } else if (strcmp(name, "log-format") == 0) {
    if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
      return cli_usage_error(app, "--log-format must be text or json, not \"%s\"", value);
    app->json = value[0] == 'j';
  } else if (strcmp(name, "log-level") == 0) {
    if (weft_log_level_parse(value, &app->level) != 0)
      return cli_usage_error(app, "--log-level must be debug, info, warn, error or critical, not \"%s\"", value);
  } else {
    for (; extra && extra->name; extra++)
      if (strcmp(name, extra->name) == 0) {
        *extra->value = value;
        return -1;
      }
    return cli_usage_error(app, "unknown option \"--%s\"", name);
  }
  return -1;
}

static bool known_option(const char *name, const cli_option *extra) {
  if (strcmp(name, "listen") == 0 || strcmp(name, "log-format") == 0 || strcmp(name, "log-level") == 0) return true;
  for (; extra && extra->name; extra++)
    if (strcmp(name, extra->name) == 0) return true;
  return false;
}

int cli_parse(cli_app *app, int argc, char **argv, const cli_option *extra) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      printf("%s\n%s", app->usage, common_usage);
      cli_app_cleanup(app);
      return CLI_EXIT_OK;
    }
    int rc;
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
      rc = cli_usage_error(app, "unexpected argument \"%s\"", arg);
    } else {
      /* --name=value or --name value */
      char name[64];
      const char *eq = strchr(arg + 2, '='), *value;
      size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
      snprintf(name, sizeof name, "%.*s", (int)n, arg + 2);
      if (eq) value = eq + 1;
      else if (i + 1 < argc) value = argv[++i];
      else value = NULL;
      if (!known_option(name, extra)) rc = cli_usage_error(app, "unknown option \"--%s\"", name);
      else if (!value) rc = cli_usage_error(app, "option \"%s\" needs a value", arg);
      else rc = apply_option(app, name, value, extra);
    }
    if (rc >= 0) {
      cli_app_cleanup(app);
      return rc;
    }
  }
  if (app->nlistens == 0) return cli_usage_error(app, "at least one --listen ENDPOINT is needed");
  return -1;
}

/* ---- connections ---- */

void cli_track(cli_app *app, cli_conn *c) {
  c->next = app->live.next;
  c->prev = &app->live;
  app->live.next->prev = c;
  app->live.next = c;
}

void cli_untrack(cli_app *app, cli_conn *c) {
  (void)app;
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->prev = c->next = c;
}

void cli_log_lost(const cli_app *app, const char *what, const char *peer, int reason) {
  weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_DEBUG, app->ns,
                reason == WEFT_REASON_CLEAN ? "{what} {peer} closed" : "{what} {peer} lost: {reason}",
                WEFT_LOG_STR("what", what), WEFT_LOG_STR("peer", peer), WEFT_LOG_ERR("reason", reason),
                WEFT_LOG_END);
}

/* ---- the runner ---- */

static void on_signal(weft_reactor *r, int signo, void *arg) {
  cli_app *app = arg;
  if (signo == SIGHUP) {
    if (app->hup) app->hup(app);
    return;
  }
  bool term = app->term && !app->terminating;
  weft_log_emit(weft_reactor_log(r), WEFT_LOG_INFO, app->ns, term ? "received {signal}, draining" : "received {signal}, stopping",
                WEFT_LOG_STR("signal", signo == SIGINT ? "SIGINT" : "SIGTERM"), WEFT_LOG_END);
  if (term) {
    app->terminating = true;
    app->term(app, signo);
    return;
  }
  weft_reactor_stop(r);
}

void cli_close_ports(cli_app *app) {
  app->stopping = true; /* a cancelled listen is no error now */
  for (size_t i = 0; i < app->nlistens; i++) {
    cli_listen *l = &app->listens[i];
    weft_deferred_cancel(l->listening); /* a listen still pending (nothing for a fired one) */
    weft_listening_port_close(l->port);
    l->port = NULL;
  }
}

/* Shutdown, "during" phase: the reactor drains the tasks this queues (the connection_lost calls)
 * before weft_reactor_run returns. */
static void on_shutdown(weft_trigger_ctx *ctx, void *arg) {
  cli_app *app = arg;
  (void)ctx;
  app->stopping = true;
  cli_close_ports(app);
  for (cli_conn *c = app->live.next, *next; c != &app->live; c = next) {
    next = c->next;
    c->abort(c);
  }
  if (app->started && app->stop) {
    app->started = false;
    app->stop(app);
  }
}

/* The port is up: keep it (the value's ownership passes to us) and say where it listens. */
static weft_value on_listening(weft_value v, void *arg) {
  cli_listen *l = arg;
  char where[WEFT_ADDRSTRLEN] = "?";
  weft_address a;
  l->port = v.v.p;
  if (weft_listening_port_address(l->port, &a) == 0) weft_address_format(&a, where, sizeof where);
  weft_log_emit(weft_reactor_log(l->app->r), WEFT_LOG_INFO, l->app->ns, "listening on {address}",
                WEFT_LOG_STR("address", where), WEFT_LOG_END);
  return weft_none();
}

static weft_value on_listen_failed(weft_value v, void *arg) {
  cli_listen *l = arg;
  cli_app *app = l->app;
  if (!weft_trap(v, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED) || !app->stopping) {
    weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_ERROR, app->ns, "{error}",
                  WEFT_LOG_STR("error", weft_failure_message(v.v.f)), WEFT_LOG_END);
    app->listen_failed = true;
    if (weft_reactor_running(app->r)) weft_reactor_stop(app->r);
  }
  weft_value_release(v);
  return weft_none();
}

/* Starts every listen; the built-in endpoints have listened (or failed) when this returns. */
static void open_ports(cli_app *app, const weft_factory *f) {
  for (size_t i = 0; i < app->nlistens && !app->listen_failed; i++) {
    cli_listen *l = &app->listens[i];
    l->listening = weft_server_endpoint_listen(l->endpoint, app->r, f);
    if (!l->listening) {
      app->listen_failed = true;
      weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_ERROR, app->ns, "cannot listen: out of memory", WEFT_LOG_END);
      break;
    }
    weft_deferred_add_callbacks(l->listening, on_listening, l, on_listen_failed, l);
  }
}

int cli_run(cli_app *app, const weft_factory *f) {
  weft_signal_watch *sigint = NULL, *sigterm = NULL, *sighup = NULL;
  int rc = weft_reactor_new(&app->r, NULL);
  if (rc) {
    fprintf(stderr, "weft %s: cannot create the reactor: %s\n", app->command, weft_strerror(rc));
    cli_app_cleanup(app);
    return CLI_EXIT_FAILURE;
  }
  if (app->log_fn)
    weft_log_add_observer(weft_reactor_log(app->r), app->log_min, app->log_fn, app->log_user);
  else
    weft_log_add_observer(weft_reactor_log(app->r), app->level,
                          app->json ? weft_log_json_observer : weft_log_text_observer, stderr);
  if (!rc) rc = weft_reactor_watch_signal(&sigint, app->r, SIGINT, on_signal, app);
  if (!rc) rc = weft_reactor_watch_signal(&sigterm, app->r, SIGTERM, on_signal, app);
  if (!rc && app->hup) rc = weft_reactor_watch_signal(&sighup, app->r, SIGHUP, on_signal, app);
  if (!rc) rc = weft_reactor_add_trigger(NULL, app->r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, on_shutdown, app);
  if (!rc && app->start) {
    rc = app->start(app, &f);
    app->started = rc == 0;
  }
  if (!rc) open_ports(app, f);
  cli_app_cleanup(app);
  if (!rc && !app->listen_failed) rc = weft_reactor_run(app->r);
  else on_shutdown(NULL, app);
  for (size_t i = 0; i < app->nlistens; i++) weft_deferred_unref(app->listens[i].listening);
  weft_signal_watch_free(sigint);
  weft_signal_watch_free(sigterm);
  weft_signal_watch_free(sighup);
  int frc = weft_reactor_free(app->r);
  if (frc) fprintf(stderr, "weft %s: reactor not closed clean: %s\n", app->command, weft_strerror(frc));
  app->r = NULL;
  return rc || frc || app->listen_failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
