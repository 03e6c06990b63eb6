/* klein_run.h: what the Klein examples share, Klein's app.run("localhost", 8080): an HTTP server
 * on 127.0.0.1:PORT (--port N, default 8080; 0 lets the kernel pick) whose handler the example
 * sets, serving until SIGINT or SIGTERM. It prints "NAME: listening on http://127.0.0.1:PORT/" on
 * stdout once the port is open (the tests read the port from that line). klein_run_router serves
 * a router's routes, the usual case. */
#ifndef WEFT_EXAMPLES_KLEIN_RUN_H
#define WEFT_EXAMPLES_KLEIN_RUN_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/tcp.h"

/* Sets the server's handler; returns 0 or a WEFT_E* code. */
typedef int (*klein_setup_fn)(weft_http_server *srv, weft_reactor *r, void *arg);

typedef struct klein_server {
  weft_http_server *srv;
  weft_listening_port *port;
} klein_server;

static void klein_on_signal(weft_reactor *r, int signo, void *arg) {
  (void)signo, (void)arg;
  weft_reactor_stop(r);
}

/* Shutdown, "during" phase: close the port, then free the server, which aborts its connections;
 * their connection_lost runs before the reactor's run returns. */
static void klein_on_shutdown(weft_trigger_ctx *ctx, void *arg) {
  klein_server *k = arg;
  (void)ctx;
  weft_listening_port_close(k->port);
  weft_http_server_free(k->srv);
  k->port = NULL;
  k->srv = NULL;
}

static int klein_run(int argc, char **argv, const char *name, klein_setup_fn setup, void *arg) {
  int port = 8080;
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = (int)strtol(argv[++i], &end, 10);
    if (!end || *end || port < 0 || port > 65535) {
      fprintf(stderr, "usage: %s [--port N]\n", name);
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  weft_reactor *r;
  int rc = weft_reactor_new(&r, NULL);
  if (rc) {
    fprintf(stderr, "%s: %s\n", name, weft_strerror(rc));
    return 1;
  }
  klein_server k = {0};
  weft_signal_watch *sigint = NULL, *sigterm = NULL;
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  weft_address where;
  char shown[WEFT_ADDRSTRLEN];
  if (!(rc = weft_http_server_new(&k.srv, r, NULL)) && !(rc = setup(k.srv, r, arg)) &&
      !(rc = weft_tcp_listen(&k.port, r, port, &lo, weft_http_server_factory(k.srv))) &&
      !(rc = weft_listening_port_address(k.port, &where)) &&
      !(rc = weft_reactor_watch_signal(&sigint, r, SIGINT, klein_on_signal, NULL)) &&
      !(rc = weft_reactor_watch_signal(&sigterm, r, SIGTERM, klein_on_signal, NULL)) &&
      !(rc = weft_reactor_add_trigger(NULL, r, WEFT_EVENT_SHUTDOWN, WEFT_TRIGGER_DURING, klein_on_shutdown, &k))) {
    weft_address_format(&where, shown, sizeof shown);
    printf("%s: listening on http://%s/\n", name, shown);
    rc = weft_reactor_run(r);
  } else {
    fprintf(stderr, "%s: %s\n", name, weft_strerror(rc));
    klein_on_shutdown(NULL, &k);
  }
  weft_signal_watch_free(sigint);
  weft_signal_watch_free(sigterm);
  if (weft_reactor_free(r) != 0) {
    fprintf(stderr, "%s: handles left open\n", name);
    rc = 1;
  }
  return rc ? 1 : 0;
}

static inline int klein_route_with(weft_http_server *srv, weft_reactor *r, void *app) {
  (void)r;
  weft_http_handler_binding b = weft_http_router_handler(app);
  weft_http_server_set_handler(srv, b.fn, b.user);
  return 0;
}

/* app.run() for a router holding the app's routes: serves them, then frees the router. A NULL
 * app (weft_http_router_new or a route failed to be added) reports out of memory. */
static inline int klein_run_router(int argc, char **argv, const char *name, weft_http_router *app) {
  if (!app) {
    fprintf(stderr, "%s: %s\n", name, weft_strerror(WEFT_ENOMEM));
    return 1;
  }
  int rc = klein_run(argc, argv, name, klein_route_with, app);
  weft_http_router_free(app);
  return rc;
}

#endif
