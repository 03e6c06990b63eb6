/* reactor_echo.c: the echo server of select_echo.c on weft's reactor (Twisted's Echo protocol
 * with reactor.listenTCP), and a client for it on the same reactor.
 *
 * Compare with select_echo.c, the same server written by hand with poll(2). Here there is no
 * descriptor table, no poll set, no output buffer and no partial write: the reactor waits, the
 * transport buffers and flushes (and pauses reading when the peer does not keep up). What is
 * left is the protocol, echo_data below, plus a little per-connection state so that Ctrl-C can
 * close the connections still open.
 *
 * Run:
 *   reactor_echo               demo: listens on 127.0.0.1 (a free port), a weft client sends a
 *                              few lines and prints what came back, then the program exits 0
 *   reactor_echo --port 8000   a real server on 127.0.0.1:8000 until Ctrl-C
 *                              (talk to it with: nc 127.0.0.1 8000) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/errors.h"
#include "weft/tcp.h"
#include "weft/transport.h"

/* ---- the server ---- */

typedef struct echo_conn echo_conn;

typedef struct server {
  weft_reactor *r;
  weft_listening_port *port;
  echo_conn *conns; /* open connections, so shutting down can close them */
  bool stopping;
} server;

/* One per connection, as Twisted builds one Echo instance per connection. */
struct echo_conn {
  server *s;
  weft_transport *t;
  echo_conn *prev, *next;
};

/* The protocol: what comes in goes back out. */
static void echo_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)user;
  weft_transport_write(t, data, len);
}

static void echo_made(weft_transport *t, void *user) {
  echo_conn *c = user;
  c->t = t;
  c->next = c->s->conns;
  if (c->next) c->next->prev = c;
  c->s->conns = c;
}

static void echo_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  echo_conn *c = user;
  server *s = c->s;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
  if (s->stopping && !s->conns) weft_reactor_stop(s->r);
}

static const weft_protocol_callbacks echo_callbacks = {
    .connection_made = echo_made,
    .data_received = echo_data,
    .connection_lost = echo_lost,
};

static int echo_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  echo_conn *c = calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  c->s = user;
  *out = (weft_protocol){.cb = &echo_callbacks, .user = c};
  return 0;
}

/* Stops accepting; the reactor stops once the last connection is gone. abort: close those now
 * (Ctrl-C) rather than letting them finish (the demo, whose client closes on its own). */
static void server_shutdown(server *s, bool abort) {
  if (s->stopping) return;
  s->stopping = true;
  weft_listening_port_close(s->port);
  s->port = NULL;
  if (!s->conns) weft_reactor_stop(s->r);
  for (echo_conn *c = s->conns; abort && c; c = c->next) weft_transport_abort_connection(c->t);
}

static void on_sigint(weft_reactor *r, int signo, void *arg) {
  (void)r, (void)signo;
  server_shutdown(arg, true);
}

/* ---- the demo's client: sends one line, waits for its echo, sends the next ---- */

static const char *demo_lines[] = {"hello, world", "one line at a time", "goodbye"};
#define DEMO_LINES (sizeof demo_lines / sizeof demo_lines[0])

typedef struct client {
  server *s;
  size_t next;  /* index of the line awaited */
  char got[256];
  size_t got_len;
  int echoed;   /* lines that came back intact */
} client;

static void client_send(weft_transport *t, client *c) {
  if (c->next == DEMO_LINES) {
    weft_transport_lose_connection(t);
    return;
  }
  char line[128];
  int len = snprintf(line, sizeof line, "%s\n", demo_lines[c->next]);
  printf("client sent: %s\n", demo_lines[c->next]);
  weft_transport_write(t, line, (size_t)len);
}

static void client_made(weft_transport *t, void *user) { client_send(t, user); }

static void client_data(weft_transport *t, const void *data, size_t len, void *user) {
  client *c = user;
  if (len > sizeof c->got - c->got_len) { /* more than any line we sent: not an echo */
    weft_transport_abort_connection(t);
    return;
  }
  memcpy(c->got + c->got_len, data, len); /* TCP is a stream: a line may arrive in pieces */
  c->got_len += len;
  char *nl;
  while (c->next < DEMO_LINES && (nl = memchr(c->got, '\n', c->got_len)) != NULL) {
    *nl = '\0';
    printf("client got back: %s\n", c->got);
    if (strcmp(c->got, demo_lines[c->next]) == 0) c->echoed++;
    c->got_len -= (size_t)(nl + 1 - c->got);
    memmove(c->got, nl + 1, c->got_len);
    c->next++;
    client_send(t, c);
  }
}

static void client_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  client *c = user;
  if (reason != WEFT_REASON_CLEAN) printf("client: connection lost: %s\n", weft_strerror(reason));
  server_shutdown(c->s, false);
}

static const weft_protocol_callbacks client_callbacks = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = client_lost,
};

static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){.cb = &client_callbacks, .user = user};
  return 0;
}

static void client_failed(void *user, int reason) {
  client *c = user;
  printf("client: cannot connect: %s\n", weft_strerror(reason));
  server_shutdown(c->s, false);
}

/* ---- main ---- */

static int usage(void) {
  fprintf(stderr, "usage: reactor_echo [--port N]\n");
  return 2;
}

int main(int argc, char **argv) {
  int port = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else return usage();
  }
  bool demo = port < 0;
  if (port > 65535) return usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  weft_reactor *r;
  int rc = weft_reactor_new(&r, NULL);
  if (rc) {
    fprintf(stderr, "reactor_echo: %s\n", weft_strerror(rc));
    return 1;
  }
  server s = {.r = r};
  weft_factory echo_factory = {.build_protocol = echo_build, .user = &s};
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  weft_address where;
  char name[WEFT_ADDRSTRLEN];
  if ((rc = weft_tcp_listen(&s.port, r, demo ? 0 : port, &lo, &echo_factory)) != 0 ||
      (rc = weft_listening_port_address(s.port, &where)) != 0) {
    fprintf(stderr, "reactor_echo: listen: %s\n", weft_strerror(rc));
    if (s.port) weft_listening_port_close(s.port);
    weft_reactor_free(r);
    return 1;
  }
  weft_address_format(&where, name, sizeof name);
  printf("reactor_echo: listening on %s\n", name);

  client c = {.s = &s};
  weft_factory client_factory = {.build_protocol = client_build, .connection_failed = client_failed, .user = &c};
  weft_signal_watch *sigint = NULL;
  if (demo) rc = weft_tcp_connect(NULL, r, &where, NULL, &client_factory);
  else rc = weft_reactor_watch_signal(&sigint, r, SIGINT, on_sigint, &s);
  if (rc) {
    fprintf(stderr, "reactor_echo: %s\n", weft_strerror(rc));
    server_shutdown(&s, true);
  } else {
    weft_reactor_run(r);
  }
  if (sigint) weft_signal_watch_free(sigint);
  if (weft_reactor_free(r) != 0) fprintf(stderr, "reactor_echo: handles left open\n");
  if (!demo) return rc ? 1 : 0;
  printf("reactor_echo: %d of %zu lines echoed\n", c.echoed, DEMO_LINES);
  return c.echoed == (int)DEMO_LINES ? 0 : 1;
}
