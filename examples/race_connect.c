/* race_connect: Happy Eyeballs (RFC 8305) racing three connection attempts and printing which won
 * (Twisted's HostnameEndpoint). The demo plugs in a resolver of its own (a weft_name_resolver)
 * that answers "race.example" with ::1, 127.0.0.2 and 127.0.0.1, while a server listens on
 * 127.0.0.1 only: the first two attempts are refused, each refusal starts the next attempt at once
 * instead of after the 250 ms attempt delay, and the third wins and gets the server's greeting.
 * Run: build/examples/race_connect, or race_connect HOST PORT to race a real name's addresses
 * (c-ares: /etc/hosts, then DNS) and report which one connected first. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

typedef struct demo {
  const char *host;
  int port; /* the server's (demo) or the one given */
  bool is_demo;
  weft_listening_port *server;
  weft_factory server_factory, client_factory;
  int open; /* connections open (client and server sides); at 0 the demo is over */
  weft_deferred *done;
} demo;

/* An address's IP as text, without the port ("::1", "127.0.0.1"). */
static const char *ip_of(const weft_address *a, char *buf, size_t size) {
  const void *src = a->u.sa.sa_family == AF_INET6 ? (const void *)&a->u.in6.sin6_addr
                                                  : (const void *)&a->u.in4.sin_addr;
  if (!inet_ntop(a->u.sa.sa_family, src, buf, (socklen_t)size)) snprintf(buf, size, "?");
  return buf;
}

/* When the last connection has closed: stop listening and let weft_react finish. */
static void one_closed(demo *dm) {
  if (--dm->open > 0) return;
  if (dm->server) weft_listening_port_close(dm->server);
  dm->server = NULL;
  weft_deferred_callback(dm->done, weft_none());
  weft_deferred_unref(dm->done);
}

/* ---- the demo server: greets and waits for the client to close ---- */

static void server_made(weft_transport *t, void *user) {
  (void)user;
  const char *hello = "hello from the server on 127.0.0.1";
  weft_transport_write(t, hello, strlen(hello));
}
static void server_data(weft_transport *t, const void *d, size_t n, void *user) {
  (void)t, (void)d, (void)n, (void)user;
}
static void server_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  one_closed(user);
}
static const weft_protocol_callbacks server_callbacks = {
    .connection_made = server_made, .data_received = server_data, .connection_lost = server_lost};
static int server_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  demo *dm = user;
  dm->open++;
  *out = (weft_protocol){&server_callbacks, dm};
  return 0;
}

/* ---- the client: built by the race for the winner only ---- */

static void client_made(weft_transport *t, void *user) {
  demo *dm = user;
  if (!dm->is_demo) weft_transport_lose_connection(t); /* a real host: connecting was the point */
}
static void client_data(weft_transport *t, const void *d, size_t n, void *user) {
  (void)user;
  printf("the server says: %.*s\n", (int)n, (const char *)d);
  weft_transport_lose_connection(t);
}
static void client_lost(weft_transport *t, int reason, void *user) {
  (void)t, (void)reason;
  one_closed(user);
}
static const weft_protocol_callbacks client_callbacks = {
    .connection_made = client_made, .data_received = client_data, .connection_lost = client_lost};
static int client_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  demo *dm = user;
  dm->open++;
  *out = (weft_protocol){&client_callbacks, dm};
  return 0;
}

/* ---- the race, as it happens ---- */

static void on_attempt(void *user, size_t index, const weft_address *to, weft_attempt_event ev, int reason) {
  (void)user;
  char ip[INET6_ADDRSTRLEN];
  ip_of(to, ip, sizeof ip);
  switch (ev) {
  case WEFT_ATTEMPT_STARTED: printf("attempt %zu: %s started\n", index + 1, ip); break;
  case WEFT_ATTEMPT_FAILED: printf("attempt %zu: %s failed (%s)\n", index + 1, ip, weft_strerror(reason)); break;
  case WEFT_ATTEMPT_WON: printf("attempt %zu: %s won\n", index + 1, ip); break;
  case WEFT_ATTEMPT_CANCELLED: printf("attempt %zu: %s cancelled: another won\n", index + 1, ip); break;
  }
}

/* The demo's resolver: fixed answers, already fired (a cache would look the same). */
static weft_deferred *demo_resolve(void *user, const char *host, int port, int family) {
  (void)user, (void)family;
  const char *ips[] = {"::1", "127.0.0.2", "127.0.0.1"};
  weft_address_list *l;
  if (weft_address_list_new(&l, 3)) return NULL;
  printf("%s resolves to", host);
  for (size_t i = 0; i < 3; i++) {
    weft_address_from_ip(&l->addrs[i], ips[i], port);
    printf("%s %s", i ? "," : "", ips[i]);
  }
  printf("\n");
  return weft_succeed(NULL, weft_ptr(l, weft_address_list_free));
}

static weft_value on_connected(weft_value v, void *arg) {
  demo *dm = arg;
  printf("connected to %s\n", dm->host);
  return v; /* a borrowed pointer: nothing to free */
}

static weft_value on_failed(weft_value v, void *arg) {
  demo *dm = arg;
  printf("failed: %s\n", weft_failure_message(v.v.f)); /* weft_react logs the whole chain */
  if (dm->server) weft_listening_port_close(dm->server);
  dm->server = NULL;
  weft_deferred_errback(dm->done, weft_failure_ref(v.v.f));
  weft_deferred_unref(dm->done);
  weft_value_release(v);
  return weft_none();
}

static weft_deferred *race_main(weft_reactor *r, void *arg) {
  demo *dm = arg;
  dm->done = weft_deferred_new(weft_reactor_log(r));
  weft_deferred *result = weft_deferred_ref(dm->done);
  dm->client_factory = (weft_factory){.build_protocol = client_build, .user = dm};
  weft_name_resolver demo_resolver = {demo_resolve, dm};
  if (dm->is_demo) {
    weft_listen_options lo;
    weft_listen_options_init(&lo);
    lo.interface = "127.0.0.1";
    dm->server_factory = (weft_factory){.build_protocol = server_build, .user = dm};
    int rc = weft_tcp_listen(&dm->server, r, 0, &lo, &dm->server_factory);
    if (rc) {
      weft_deferred_unref(dm->done);
      weft_deferred_unref(result);
      return weft_fail(weft_reactor_log(r), weft_failure_from_error(rc));
    }
    weft_address a;
    weft_listening_port_address(dm->server, &a);
    dm->port = weft_address_port(&a);
  }
  weft_hostname_options o;
  weft_hostname_options_init(&o);
  o.on_attempt = on_attempt;
  o.timeout = 10;
  weft_deferred *d = weft_hostname_connect(r, dm->is_demo ? &demo_resolver : NULL, dm->host, dm->port,
                                           &dm->client_factory, &o);
  if (!d) return result; /* out of memory: nothing will fire it, weft_react reports that */
  weft_deferred_add_callbacks(d, on_connected, dm, on_failed, dm);
  weft_deferred_unref(d);
  return result;
}

int main(int argc, char **argv) {
  demo dm = {.host = "race.example", .is_demo = true};
  if (argc == 3 && argv[1][0] != '-') {
    dm.host = argv[1];
    dm.port = atoi(argv[2]);
    dm.is_demo = false;
    if (dm.port < 1 || dm.port > 65535) {
      fprintf(stderr, "race_connect: port must be 1..65535\n");
      return 2;
    }
  } else if (argc != 1) {
    fprintf(stderr, "usage: race_connect [HOST PORT]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  return weft_react(race_main, &dm);
}
