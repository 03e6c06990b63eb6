/* coro_client: a small TCP client written as a coroutine (chapter 2): it awaits the connection,
 * then each reply, line by line, as straight-line code, the way Twisted's inlineCallbacks reads.
 * In demo mode it starts an upper-casing line server on 127.0.0.1 (port 0) in the same reactor.
 * Run: build/examples/coro_client  (or: coro_client --port N to talk to a server of your own). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

/* ---- the demo server: answers each line upper-cased ---- */

static void server_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)user;
  char buf[512];
  size_t n = len < sizeof buf ? len : sizeof buf;
  for (size_t i = 0; i < n; i++) buf[i] = (char)toupper(((const unsigned char *)data)[i]);
  weft_transport_write(t, buf, n);
}
/* The server's side of the connection is gone: fires the Deferred the demo waits on (user). */
static void server_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  weft_deferred *d = user;
  weft_deferred_callback(d, weft_none());
  weft_deferred_unref(d);
}
static const weft_protocol_callbacks server_callbacks = {.data_received = server_data,
                                                         .connection_lost = server_lost};
static int server_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &server_callbacks;
  out->user = weft_deferred_ref(user); /* one connection in the demo */
  return 0;
}

/* ---- the client's protocol: turns events into Deferreds a coroutine can await ---- */

typedef struct client {
  weft_reactor *r;
  weft_transport *t;
  weft_deferred *connected; /* fires with NONE when the connection is made */
  weft_deferred *reply;     /* fires with the next data received (a copied string) */
  weft_deferred *closed;    /* fires when the connection is lost */
} client;

/* Fires *slot (if someone waits on it) and forgets it. */
static void fire(weft_deferred **slot, weft_value v) {
  weft_deferred *d = *slot;
  *slot = NULL;
  if (d) {
    weft_deferred_callback(d, v);
    weft_deferred_unref(d);
  } else {
    weft_value_release(v);
  }
}

static void client_made(weft_transport *t, void *user) {
  client *c = user;
  c->t = t;
  fire(&c->connected, weft_none());
}
static void client_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t;
  client *c = user;
  char *s = malloc(len + 1);
  memcpy(s, data, len);
  s[len] = '\0';
  fire(&c->reply, weft_ptr(s, free));
}
static void client_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  client *c = user;
  c->t = NULL;
  fire(&c->reply, weft_failed(weft_failure_from_error(reason ? reason : WEFT_ECLOSED)));
  fire(&c->closed, weft_int(reason));
}
static const weft_protocol_callbacks client_callbacks = {
    .connection_made = client_made, .data_received = client_data, .connection_lost = client_lost};
static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &client_callbacks;
  out->user = user;
  return 0;
}
static void client_failed(void *user, int reason) {
  client *c = user;
  fire(&c->connected, weft_failed(weft_failure_from_error(reason)));
}

/* Each returns a Deferred for the coroutine to await (the caller's reference). */
static weft_deferred *expect(weft_deferred **slot, client *c) {
  *slot = weft_deferred_new(weft_reactor_log(c->r));
  return weft_deferred_ref(*slot);
}

/* ---- the coroutine ---- */

typedef struct job {
  weft_address to;
  client c;
  weft_factory factory;
} job;

static weft_value talk(weft_coro *co, void *arg) {
  job *j = arg;
  client *c = &j->c;
  c->r = weft_coro_reactor(co);
  j->factory = (weft_factory){.build_protocol = client_build, .connection_failed = client_failed, .user = c};
  weft_deferred *connected = expect(&c->connected, c);
  int rc = weft_tcp_connect(NULL, c->r, &j->to, NULL, &j->factory);
  if (rc) {
    fire(&c->connected, weft_none());
    weft_deferred_unref(connected);
    return weft_failed(weft_failure_from_error(rc));
  }
  weft_value v = weft_await(co, connected);
  if (weft_value_is_failure(v)) return v; /* could not connect: the coroutine fails with it */
  printf("connected\n");
  const char *lines[] = {"hello", "coroutines read", "like straight-line code"};
  for (int i = 0; i < 3; i++) {
    weft_deferred *reply = expect(&c->reply, c);
    weft_transport_write(c->t, lines[i], strlen(lines[i]));
    printf("sent: %s\n", lines[i]);
    v = weft_await(co, reply);
    if (weft_value_is_failure(v)) return v;
    printf("got:  %s\n", (const char *)v.v.p);
    weft_value_release(v);
  }
  weft_deferred *closed = expect(&c->closed, c);
  weft_transport_lose_connection(c->t);
  v = weft_await(co, closed);
  printf("closed (%s)\n", weft_strerror((int)v.v.i));
  return weft_none();
}

/* weft_react's main: start the server (in demo mode) and the coroutine. */
typedef struct demo {
  int port;
  weft_listening_port *server;
  weft_factory server_factory;
  weft_deferred *server_done; /* fires when the server's side of the connection is closed */
  job j;
} demo;

/* After the client: stop listening, and finish only once the server's side has closed too, so
 * the reactor ends with nothing open. The client's result is kept; the wait's NONE is dropped. */
static weft_value keep_result(weft_value ignored, void *arg) {
  weft_value_release(ignored);
  weft_value *saved = arg;
  weft_value v = *saved;
  free(saved);
  return v;
}

static weft_value stop_server(weft_value v, void *arg) {
  demo *dm = arg;
  weft_deferred *done = dm->server_done;
  dm->server_done = NULL;
  if (!dm->server) {
    weft_deferred_unref(done);
    return v;
  }
  weft_listening_port_close(dm->server);
  weft_value *saved = malloc(sizeof *saved);
  *saved = v;
  return weft_chain(weft_deferred_add_both(done, keep_result, saved));
}

static weft_deferred *demo_main(weft_reactor *r, void *arg) {
  demo *dm = arg;
  dm->server_done = weft_deferred_new(weft_reactor_log(r));
  dm->server_factory = (weft_factory){.build_protocol = server_build, .user = dm->server_done};
  int port = dm->port;
  if (port == 0) {
    weft_listen_options o;
    weft_listen_options_init(&o);
    o.interface = "127.0.0.1";
    int rc = weft_tcp_listen(&dm->server, r, 0, &o, &dm->server_factory);
    if (rc) return weft_fail(weft_reactor_log(r), weft_failure_from_error(rc));
    weft_address a;
    weft_listening_port_address(dm->server, &a);
    port = weft_address_port(&a);
  }
  weft_address_from_ip(&dm->j.to, "127.0.0.1", port);
  weft_deferred *d;
  int rc = weft_coro_start(&d, r, talk, &dm->j, NULL);
  if (rc) return weft_fail(weft_reactor_log(r), weft_failure_from_error(rc));
  return weft_deferred_add_both(d, stop_server, dm);
}

int main(int argc, char **argv) {
  demo dm = {0};
  if (argc == 3 && strcmp(argv[1], "--port") == 0) dm.port = atoi(argv[2]);
  else if (argc != 1) {
    fprintf(stderr, "usage: coro_client [--port N]\n");
    return 2;
  }
  return weft_react(demo_main, &dm);
}
