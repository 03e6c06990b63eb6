/* echo.c: `weft echo`, the echo service (twisted.protocols.wire.Echo served by twist).
 *
 * The whole protocol is data_received writing the bytes back. The transport is registered as the
 * producer of its own output, so a client that sends without reading gets its reads paused once
 * the echoes pass the high-water mark: memory per connection stays bounded. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Kept small: an idle connection costs this plus the transport. The peer's text is kept only when
 * debug logging will print it. */
typedef struct echo_conn {
  cli_conn node;
  cli_app *app;
  weft_transport *t;
  char *peer;
} echo_conn;

static void echo_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)user;
  weft_transport_write(t, data, len);
}

static void echo_made(weft_transport *t, void *user) {
  echo_conn *c = user;
  c->t = t;
  cli_track(c->app, &c->node);
  weft_producer reader;
  weft_transport_as_producer(t, &reader);
  weft_transport_register_producer(t, &reader, true);
  if (c->peer)
    weft_log_emit(weft_reactor_log(c->app->r), WEFT_LOG_DEBUG, c->app->ns, "connection from {peer}",
                  WEFT_LOG_STR("peer", c->peer), WEFT_LOG_END);
}

static void echo_lost(weft_transport *t, int reason, void *user) {
  echo_conn *c = user;
  (void)t;
  if (c->peer) cli_log_lost(c->app, "connection from", c->peer, reason);
  cli_untrack(c->app, &c->node);
  free(c->peer);
  free(c);
}

static const weft_protocol_callbacks echo_callbacks = {
    .connection_made = echo_made,
    .data_received = echo_data,
    .connection_lost = echo_lost,
};

static void echo_abort(cli_conn *node) { weft_transport_abort_connection(((echo_conn *)node)->t); }

static int echo_build(void *user, const weft_address *peer, weft_protocol *out) {
  echo_conn *c = calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  c->app = user;
  c->node.abort = echo_abort;
  if (weft_log_enabled(weft_reactor_log(c->app->r), WEFT_LOG_DEBUG)) {
    char text[WEFT_ADDRSTRLEN];
    weft_address_format(peer, text, sizeof text);
    c->peer = strdup(text); /* on failure the connection is just not logged */
  }
  out->cb = &echo_callbacks;
  out->user = c;
  return 0;
}

static const char echo_usage[] =
    "usage: weft echo --listen ENDPOINT [--listen ENDPOINT...] [OPTIONS]\n\n"
    "Echoes back every byte each client sends (Twisted's echo service).\n";

int cli_echo_main(int argc, char **argv) {
  cli_app app;
  cli_app_init(&app, "echo", "weft.echo", echo_usage);
  int rc = cli_parse(&app, argc, argv, NULL);
  if (rc >= 0) return rc;
  weft_factory f = {.build_protocol = echo_build, .user = &app};
  return cli_run(&app, &f);
}
