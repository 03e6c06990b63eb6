/* web.c: `weft web`, serving a directory over HTTP (twist web --path, twisted.web.static.File).
 *
 * A thin shell over the library: a static root at --path mounted on a router at "/", an HTTP
 * server routing to it, served on every --listen endpoint (ssl: gives HTTPS) by the common
 * runner. The server needs the reactor, so it is made in the runner's start hook and freed in its
 * stop hook (which aborts its connections before the reactor is freed). Requests are logged at
 * debug with method and target; there is no access-log file yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/http_static.h"

typedef struct web_state {
  weft_http_static *root;
  weft_http_router *router;
  weft_http_server *server;
} web_state;

/* Logs the request (when debug is on), then routes it. The status is not known here: the static
 * root may answer later, and the server has no hook for finished responses yet. */
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
  int rc = weft_http_server_new(&w->server, app->r, NULL);
  if (rc) {
    weft_log_emit(weft_reactor_log(app->r), WEFT_LOG_ERROR, app->ns, "cannot create the HTTP server: {error}",
                  WEFT_LOG_ERR("error", rc), WEFT_LOG_END);
    return rc;
  }
  weft_http_server_set_handler(w->server, web_handle, app);
  *f = weft_http_server_factory(w->server);
  return 0;
}

/* Shutdown: the ports are closed; freeing the server aborts its connections, whose
 * connection_lost the reactor runs before it stops. */
static void web_stop(cli_app *app) {
  web_state *w = app->user;
  weft_http_server_free(w->server);
  w->server = NULL;
}

static const char web_usage[] =
    "usage: weft web --path DIR --listen ENDPOINT [--listen ENDPOINT...] [OPTIONS]\n\n"
    "Serves the files below DIR over HTTP/1.1 (HTTPS on ssl: endpoints): GET and HEAD, index.html\n"
    "for directories, Content-Type from the extension, ETags, 304s and byte ranges. Paths leaving\n"
    "DIR (.., %2F, symlinks out) are refused with 403. Requests are logged at --log-level debug;\n"
    "there is no access-log file yet.\n\n"
    "Options:\n"
    "  --path DIR              the directory to serve (required)\n";

/* Makes the static root and the router; returns -1 to go on, or an exit status. */
static int web_setup(cli_app *app, web_state *w, const char *path) {
  int rc = weft_http_static_new(&w->root, path, NULL);
  if (rc == WEFT_EINVAL) return cli_usage_error(app, "--path \"%s\" is not a directory", path);
  if (rc) return cli_usage_error(app, "--path \"%s\": %s", path, weft_strerror(rc));
  rc = weft_http_router_new(&w->router);
  if (!rc) rc = weft_http_router_add(w->router, "GET,HEAD", "/", weft_http_static_route, w->root);
  if (!rc) rc = weft_http_router_add(w->router, "GET,HEAD", "/<path:rest>", weft_http_static_route, w->root);
  if (rc) {
    fprintf(stderr, "weft web: %s\n", weft_strerror(rc));
    return CLI_EXIT_FAILURE;
  }
  return -1;
}

int cli_web_main(int argc, char **argv) {
  cli_app app;
  web_state w = {0};
  const char *path = NULL;
  const cli_option extra[] = {{"path", &path}, {NULL, NULL}};
  cli_app_init(&app, "web", "weft.web", web_usage);
  int rc = cli_parse(&app, argc, argv, extra);
  if (rc >= 0) return rc;
  if (!path) {
    cli_app_cleanup(&app);
    return cli_usage_error(&app, "--path DIR is needed");
  }
  rc = web_setup(&app, &w, path);
  if (rc < 0) {
    app.start = web_start;
    app.stop = web_stop;
    app.user = &w;
    weft_factory none = {0}; /* replaced by web_start */
    rc = cli_run(&app, &none);
  } else {
    cli_app_cleanup(&app);
  }
  weft_http_router_free(w.router);
  weft_http_static_free(w.root);
  return rc;
}
