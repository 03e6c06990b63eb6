/* portforward.c: `weft portforward`, a TCP proxy (twisted.protocols.portforward).
 *
 * Each accepted connection ("in") gets an outgoing one ("out") through the --to client endpoint
 * (weft_client_endpoint_connect, whose Deferred reports a failure); reading "in" is paused
 * until "out" is up, so nothing is buffered meanwhile. Then each direction is spliced
 * (weft_transport_splice_to): the bytes go from socket to socket inside the kernel, through a
 * pipe that bounds what waits for a slow reader. Where splicing is not possible (TLS on either
 * side, not plain sockets, no splice on the system) the direction is copied instead: each side's
 * transport, as a producer, is registered with the other side as its consumer, so when one peer
 * reads slowly, its transport's queue passes the high-water mark and reading on the other side
 * pauses. Either way memory stays bounded in both directions. An end of input on one side shuts
 * the other's write side (half-close); each transport closes itself once both of its directions
 * are done. An error on either side aborts the other. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct pf_target {
  cli_app *app;
  weft_client_endpoint *to;
  char to_text[512];
} pf_target;

/* One proxied connection; freed when in, out and the connection attempt are all gone. */
typedef struct pf_session {
  cli_conn node;
  pf_target *target;
  weft_factory client; /* makes "out"; its user is the session */
  /* the pending connect's Deferred, borrowed: the attempt holds it until it fires, and its
   * callbacks clear this */
  weft_deferred *connecting;
  weft_transport *in, *out;
  char peer[WEFT_ADDRSTRLEN];
} pf_session;

static weft_log_publisher *session_log(const pf_session *s) { return weft_reactor_log(s->target->app->r); }

static void maybe_free(pf_session *s) {
  if (s->in || s->out || s->connecting) return;
  cli_untrack(s->target->app, &s->node);
  free(s);
}

/* Copies bytes to the other side. The other side is always there while this side reads: "in"
 * reads only once "out" is up, an unclean loss of either side aborts the other, and a clean one
 * comes only after both directions have ended. */
static void forward(weft_transport *to, const void *data, size_t len) {
  if (to) weft_transport_write(to, data, len);
}

/* One side's peer ended its input: pass the end on to the other side ("to"). The ended side
 * produces no more, so it is unregistered from "to" first: otherwise "to" closing cleanly later
 * would stop (abort) it through the producer's stop_producing. */
static void end_input(weft_transport *to) {
  if (!to) return;
  weft_transport_unregister_producer(to);
  weft_transport_shutdown_write(to);
}

/* This side is gone; an unclean end takes the other side down with it. */
static void side_lost(weft_transport **self, weft_transport *other, int reason) {
  *self = NULL;
  if (other && reason != WEFT_REASON_CLEAN) weft_transport_abort_connection(other);
}

/* Forwards what "from" reads to "to": in the kernel when both can splice, else (WEFT_ENOTSUP, or
 * no descriptor left for the pipe) by copying in data_received with "from" registered as "to"'s
 * producer. A splice passes the end of input on itself: read_connection_lost then never comes. */
static void couple(weft_transport *from, weft_transport *to) {
  if (weft_transport_splice_to(from, to) == 0) return;
  weft_producer p;
  weft_transport_as_producer(from, &p);
  weft_transport_register_producer(to, &p, true);
}

/* ---- the outgoing side ---- */

static void out_made(weft_transport *t, void *user) {
  pf_session *s = user;
  s->out = t;
  couple(s->in, t);
  couple(t, s->in);
  weft_transport_resume_reading(s->in);
  weft_log_emit(session_log(s), WEFT_LOG_DEBUG, s->target->app->ns, "connection from {peer} forwarded to {to}",
                WEFT_LOG_STR("peer", s->peer), WEFT_LOG_STR("to", s->target->to_text), WEFT_LOG_END);
}

static void out_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t;
  forward(((pf_session *)user)->in, data, len);
}

static void out_eof(weft_transport *t, void *user) {
  (void)t;
  end_input(((pf_session *)user)->in);
}

static void out_lost(weft_transport *t, int reason, void *user) {
  pf_session *s = user;
  (void)t;
  cli_log_lost(s->target->app, "forwarding connection for", s->peer, reason);
  side_lost(&s->out, s->in, reason);
  maybe_free(s);
}

static const weft_protocol_callbacks out_callbacks = {
    .connection_made = out_made,
    .data_received = out_data,
    .connection_lost = out_lost,
    .read_connection_lost = out_eof,
};

static int out_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  out->cb = &out_callbacks;
  out->user = user;
  return 0;
}

/* The connect's outcome. Success needs nothing more: out_made has run. */
static weft_value out_connected(weft_value v, void *user) {
  ((pf_session *)user)->connecting = NULL;
  weft_value_release(v); /* the session itself, borrowed */
  return weft_none();
}

static weft_value out_failed(weft_value v, void *user) {
  pf_session *s = user;
  s->connecting = NULL;
  if (!weft_failure_check(v.v.f, WEFT_FAILURE_DOMAIN, WEFT_ECANCELED))
    weft_log_emit(session_log(s), WEFT_LOG_WARN, s->target->app->ns, "{error} (for {peer})",
                  WEFT_LOG_STR("error", weft_failure_message(v.v.f)), WEFT_LOG_STR("peer", s->peer), WEFT_LOG_END);
  weft_value_release(v);
  if (s->in) weft_transport_lose_connection(s->in);
  maybe_free(s);
  return weft_none();
}

/* ---- the accepted side ---- */

static void in_made(weft_transport *t, void *user) {
  pf_session *s = user;
  s->in = t;
  cli_track(s->target->app, &s->node);
  weft_transport_pause_reading(t); /* until "out" is up */
  weft_log_emit(session_log(s), WEFT_LOG_DEBUG, s->target->app->ns, "connection from {peer}",
                WEFT_LOG_STR("peer", s->peer), WEFT_LOG_END);
  weft_deferred *d = weft_client_endpoint_connect(s->target->to, weft_transport_reactor(t), &s->client);
  if (!d) {
    weft_transport_abort_connection(t);
    return;
  }
  s->connecting = d; /* an attempt that failed at once clears it again inside add_callbacks */
  weft_deferred_add_callbacks(d, out_connected, s, out_failed, s);
  weft_deferred_unref(d);
}

static void in_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t;
  forward(((pf_session *)user)->out, data, len);
}

static void in_eof(weft_transport *t, void *user) {
  (void)t;
  end_input(((pf_session *)user)->out);
}

static void in_lost(weft_transport *t, int reason, void *user) {
  pf_session *s = user;
  (void)t;
  cli_log_lost(s->target->app, "connection from", s->peer, reason);
  side_lost(&s->in, s->out, reason);
  if (s->connecting) {
    weft_deferred_cancel(s->connecting); /* out_failed runs now and frees the session */
    return;
  }
  maybe_free(s);
}

static const weft_protocol_callbacks in_callbacks = {
    .connection_made = in_made,
    .data_received = in_data,
    .connection_lost = in_lost,
    .read_connection_lost = in_eof,
};

static void session_abort(cli_conn *node) {
  pf_session *s = (pf_session *)node;
  if (s->connecting) weft_deferred_cancel(s->connecting);
  if (s->in) weft_transport_abort_connection(s->in);
  if (s->out) weft_transport_abort_connection(s->out);
}

static int in_build(void *user, const weft_address *peer, weft_protocol *out) {
  pf_session *s = calloc(1, sizeof *s);
  if (!s) return WEFT_ENOMEM;
  s->target = user;
  s->node.abort = session_abort;
  s->node.prev = s->node.next = &s->node;
  s->client = (weft_factory){.build_protocol = out_build, .user = s};
  weft_address_format(peer, s->peer, sizeof s->peer);
  out->cb = &in_callbacks;
  out->user = s;
  return 0;
}

/* ---- start-up ---- */

/* The short form "HOST:PORT" (or "[V6]:PORT", or "V6:PORT"): the text before the first colon is
 * no endpoint type and the text after the last is a port. */
static bool short_form(const char *spec, const char **colon) {
  const char *first = strchr(spec, ':'), *last = strrchr(spec, ':');
  if (!first || !last[1] || strspn(last + 1, "0123456789") != strlen(last + 1)) return false;
  char type[64];
  snprintf(type, sizeof type, "%.*s", (int)(first - spec), spec);
  *colon = last;
  return !weft_client_endpoint_type_known(type);
}

/* A numeric host of the short form as it is, a name looked up once, here (preferring IPv4 as
 * Twisted's connectTCP does), into numeric text. */
static int resolve_host(cli_app *app, const char *spec, const char *host, char *ip, size_t n) {
  weft_address a;
  if (weft_address_from_ip(&a, host, 0) == 0) {
    snprintf(ip, n, "%s", host);
    return -1;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL, *pick;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc) return cli_usage_error(app, "bad --to \"%s\": cannot resolve \"%s\": %s", spec, host, gai_strerror(rc));
  for (pick = res; pick && pick->ai_family != AF_INET; pick = pick->ai_next) {
  }
  if (!pick) pick = res;
  const void *bytes = pick->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
                                                 : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
  inet_ntop(pick->ai_family, bytes, ip, (socklen_t)n);
  freeaddrinfo(res);
  return -1;
}

/* "HOST:PORT" into the client endpoint "tcp:host=HOST:port=PORT" (colons escaped). */
static int parse_short(cli_app *app, const char *spec, const char *colon, weft_client_endpoint **out) {
  char host[256], ip[sizeof host], desc[320 + sizeof host];
  long port = strtol(colon + 1, NULL, 10);
  if (colon == spec || (size_t)(colon - spec) >= sizeof host)
    return cli_usage_error(app, "bad --to \"%s\": expected HOST:PORT or a client endpoint", spec);
  if (port < 1 || port > 65535) return cli_usage_error(app, "bad --to \"%s\": port must be 1..65535", spec);
  snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
  int rc = resolve_host(app, spec, host, ip, sizeof ip);
  if (rc >= 0) return rc;
  size_t k = (size_t)snprintf(desc, sizeof desc, "tcp:host=");
  for (const char *p = ip; *p && k + 3 < sizeof desc; p++) {
    if (*p == ':') desc[k++] = '\\';
    desc[k++] = *p;
  }
  snprintf(desc + k, sizeof desc - k, ":port=%ld", port);
  return weft_client_endpoint_parse(out, desc, NULL, 0) == 0 ? -1 : cli_usage_error(app, "bad --to \"%s\"", spec);
}

static int parse_target(cli_app *app, const char *spec, pf_target *target) {
  const char *colon;
  int rc = -1;
  if (short_form(spec, &colon)) {
    rc = parse_short(app, spec, colon, &target->to);
  } else {
    char err[512];
    int prc = weft_client_endpoint_parse(&target->to, spec, err, sizeof err);
    if (prc) rc = cli_usage_error(app, "bad --to: %s", prc == WEFT_EPARSE ? err : weft_strerror(prc));
  }
  if (rc < 0) weft_client_endpoint_describe(target->to, target->to_text, sizeof target->to_text);
  return rc;
}

static const char portforward_usage[] =
    "usage: weft portforward --listen ENDPOINT [--listen ENDPOINT...] --to ENDPOINT [OPTIONS]\n\n"
    "Forwards every connection to the --to endpoint and copies bytes both ways, with flow\n"
    "control (Twisted's portforward).\n\n"
    "Options:\n"
    "  --to HOST:PORT          where to forward connections (required): HOST is an IPv4 or IPv6\n"
    "                          literal ([::1]) or a name resolved once at start-up; or\n"
    "  --to ENDPOINT           a client endpoint:\n"
    "                            tcp:host=HOST:port=PORT[:timeout=S][:bindAddress=ADDR]\n"
    "                            tcp:HOST:PORT\n"
    "                            unix:path=PATH[:timeout=S]\n"
    "                            tls:HOST:PORT[:trustRoots=CA][:certificate=CERT][:privateKey=KEY]\n"
    "                          (tls: verifies HOST against the system's CAs, or trustRoots:\n"
    "                          a PEM file or an OpenSSL hashed directory)\n\n";

int cli_portforward_main(int argc, char **argv) {
  cli_app app;
  const char *to = NULL;
  const cli_option extra[] = {{"to", &to}, {NULL, NULL}};
  cli_app_init(&app, "portforward", "weft.portforward", portforward_usage);
  int rc = cli_parse(&app, argc, argv, extra);
  if (rc >= 0) return rc;
  pf_target target = {.app = &app};
  rc = to ? parse_target(&app, to, &target) : cli_usage_error(&app, "--to HOST:PORT or --to ENDPOINT is needed");
  if (rc >= 0) {
    cli_app_cleanup(&app);
    weft_client_endpoint_free(target.to);
    return rc;
  }
  weft_factory f = {.build_protocol = in_build, .user = &target};
  rc = cli_run(&app, &f);
  weft_client_endpoint_free(target.to);
  return rc;
}
