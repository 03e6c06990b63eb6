/* web.h: the parts of `weft web` (web.c): the access log and stderr observer (web_log.c), the
 * demo routes (web_demo.c) and the worker supervisor (web_workers.c). */
#ifndef WEFT_TOOLS_WEB_H
#define WEFT_TOOLS_WEB_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "weft/http.h"
#include "weft/http_router.h"

/* Options of weft web beyond the common ones. */
typedef struct web_opts {
  const char *path;       /* --path DIR */
  const char *access_log; /* --access-log FILE, "-" for stdout, NULL for none */
  int workers;            /* --workers N; 0: serve in this process */
  double drain_timeout;   /* --drain-timeout S */
  bool demo;              /* --demo: the /demo/ routes */
  bool list_directories;  /* --list-directories: a listing for folders without index.html */
  bool worker;            /* --worker: started by a supervisor (drains when it goes away) */
} web_opts;

/* ---- logs (web_log.c) ---- */

/* Where events go: "weft.http.access" events to the access log (text: the Combined Log Format
 * line; JSON: the whole event), everything else at level or above to stderr, as text or JSON. */
typedef struct web_log {
  const char *path; /* NULL: no access log; "-": stdout */
  FILE *file;       /* open access log (stdout for "-") */
  bool json;
  weft_log_level level;
} web_log;

/* Opens the access log (if any) for appending. Returns 0 or an errno value. */
int web_log_open(web_log *l);

/* Reopens the access log after a rename (logrotate's postrotate SIGHUP): the new file is opened
 * first, so on failure (logged at error) lines keep going to the old one. */
void web_log_reopen(web_log *l, weft_log_publisher *pub);

/* Closes the access log (stdout is left open). */
void web_log_close(web_log *l);

/* The observer for cli_app.log_fn, with user a web_log. */
void web_log_observer(const weft_log_event *ev, void *user);

/* The lowest level the observer needs to see. */
weft_log_level web_log_min_level(const web_log *l);

/* ---- demo routes (web_demo.c) ---- */

/* The demo routes' state: requests answered by this process. */
typedef struct web_demo {
  unsigned long served;
} web_demo;

/* Adds GET /demo/hello and /demo/sleep/<int:ms> (coroutine routes) to rt. Returns 0 or a WEFT_E*
 * code. */
int web_demo_add_routes(web_demo *d, weft_http_router *rt);

/* ---- workers (web_workers.c) ---- */

/* Serves with o->workers worker processes: binds the sockets of app's --listen endpoints (tcp
 * and tcp6 only; one SO_REUSEPORT socket per worker per endpoint), starts `weft web` workers on
 * them, restarts one that dies, forwards SIGTERM/SIGINT (as SIGTERM) and SIGHUP, and returns the
 * exit status once every worker has ended after a stop. Frees app's endpoints. */
int web_workers_run(cli_app *app, const web_opts *o);

#endif
