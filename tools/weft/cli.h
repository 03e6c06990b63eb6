/* cli.h: what the weft subcommands share (Twisted's twist runner): the common options, logging
 * set-up, and serving a factory on the --listen endpoints until SIGINT or SIGTERM. */
#ifndef WEFT_TOOLS_CLI_H
#define WEFT_TOOLS_CLI_H

#include <stdbool.h>

#include "weft/deferred.h"
#include "weft/endpoint.h"
#include "weft/errors.h"
#include "weft/log.h"
#include "weft/reactor.h"
#include "weft/tcp.h"
#include "weft/transport.h"

#ifndef WEFT_VERSION_STRING
#define WEFT_VERSION_STRING "unknown"
#endif

/* Exit statuses: as the BSD sysexits convention has it, 2 is a usage error. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

#define CLI_MAX_LISTEN 16

/* A live connection the runner must tear down at shutdown: subcommands embed it in their
 * per-connection state, track it while the connection lives, and abort() ends it (its
 * connection_lost follows, which untracks it). */
typedef struct cli_conn cli_conn;
struct cli_conn {
  cli_conn *prev, *next;
  void (*abort)(cli_conn *c);
};

/* A subcommand's own option that takes a value, e.g. portforward's --to. */
typedef struct cli_option {
  const char *name; /* without the dashes */
  const char **value;
} cli_option;

/* One --listen: its endpoint, the Deferred of its listen (held until cli_run ends, so shutdown
 * can cancel one still pending) and the port it gave (owned). */
typedef struct cli_listen {
  struct cli_app *app;
  weft_server_endpoint *endpoint;
  weft_deferred *listening;
  weft_listening_port *port;
} cli_listen;

typedef struct cli_app {
  const char *command; /* "echo" */
  const char *ns;      /* log namespace, "weft.echo" */
  const char *usage;   /* the subcommand's synopsis and own options, for --help */
  weft_reactor *r;     /* set while cli_run runs */
  cli_listen listens[CLI_MAX_LISTEN];
  size_t nlistens;
  bool listen_failed; /* a listen failed: the run ends with CLI_EXIT_FAILURE */
  bool stopping;      /* shutting down: a cancelled listen is no error */
  cli_conn live; /* list head of tracked connections */
  bool json;
  weft_log_level level;
  /* Optional, for a subcommand whose factory needs the reactor (weft web's HTTP server): start
   * runs once app->r exists, before any listen, and may point *f at the factory to listen with
   * (nonzero: the run ends with exit status 1; start logs why); stop runs at shutdown after the
   * ports close (and when the run ends early), at most once after start succeeded. */
  int (*start)(struct cli_app *app, const weft_factory **f);
  void (*stop)(struct cli_app *app);
  void *user; /* the subcommand's state, for start and stop */
  bool started;
  /* Optional: the first SIGINT or SIGTERM calls term instead of stopping the reactor (weft web
   * drains: it closes the ports with cli_close_ports and stops the reactor when done); a second
   * one stops at once. */
  void (*term)(struct cli_app *app, int signo);
  bool terminating;
  /* Optional: SIGHUP is watched and calls hup (weft web reopens its access log). */
  void (*hup)(struct cli_app *app);
  /* Optional: the log observer and its level, in place of text or JSON lines on stderr at
   * app->level. */
  weft_log_observer_fn log_fn;
  void *log_user;
  weft_log_level log_min;
} cli_app;

/* Sets app up for command (ns and usage are borrowed static strings). */
void cli_app_init(cli_app *app, const char *command, const char *ns, const char *usage);

/* Parses argv (argv[0] is the subcommand's name): --listen (repeatable), --log-format, --log-level,
 * --help, and the subcommand's extra options (ended by a {NULL, NULL} entry; may be NULL). Parses
 * every endpoint. Returns -1 to go on, or an exit status after printing what to print: usage on
 * stdout for --help (0), a message naming the bad part on stderr (2). */
int cli_parse(cli_app *app, int argc, char **argv, const cli_option *extra);

/* Reports a usage error about the subcommand's own options: prints "weft CMD: MESSAGE" and a hint
 * on stderr and returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_app *app, const char *fmt, ...);

/* Creates the reactor and the log observer, listens with f on every endpoint (logging "listening
 * on ADDRESS" for each, or the Failure's message and exit status 1 when one cannot listen, even
 * later, for a plugin's endpoint that listens asynchronously), and runs until SIGINT or SIGTERM; then closes the ports, aborts the
 * tracked connections, lets their connection_lost run, and frees the reactor. f->user may reach
 * app->r, which is valid while the reactor runs. Returns the exit status. Frees the endpoints. */
int cli_run(cli_app *app, const weft_factory *f);

/* Closes every listening port (connections live on); cancels listens still pending. */
void cli_close_ports(cli_app *app);

/* Frees what cli_parse made (cli_run does this itself). */
void cli_app_cleanup(cli_app *app);

/* Tracks / untracks a live connection. */
void cli_track(cli_app *app, cli_conn *c);
void cli_untrack(cli_app *app, cli_conn *c);

/* Logs at debug level that the connection from peer is gone: "closed" for a clean end, else
 * "lost: REASON". */
void cli_log_lost(const cli_app *app, const char *what, const char *peer, int reason);

/* The subcommands. argv[0] is the subcommand's name. Return the exit status. */
int cli_echo_main(int argc, char **argv);
int cli_portforward_main(int argc, char **argv);
int cli_web_main(int argc, char **argv);
int cli_get_main(int argc, char **argv);

#endif
