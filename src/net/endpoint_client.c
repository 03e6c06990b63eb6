/* endpoint_client.c: client endpoints parsed from strings and connected with a Deferred
 * (twisted.internet.endpoints.clientFromString, TCP4ClientEndpoint, UNIXClientEndpoint, and the
 * _WrappingFactory that turns a connection attempt into a Deferred).
 *
 * Each attempt puts a small factory in front of the caller's. When the connection is up, the
 * caller's build_protocol makes the protocol, and the attempt stands in as the transport's
 * protocol only until connection_made: there it hands the transport the caller's protocol, calls
 * its connection_made and fires the Deferred. An established connection therefore costs nothing
 * extra: no wrapper sits between the transport and the protocol. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "net/endpoint_internal.h"
#include "net/transport_internal.h"
#include "weft/errors.h"
#include "weft/hostname.h"
#include "weft/tls.h"

typedef struct attempt attempt;
typedef struct name_link name_link;
typedef int (*start_fn)(const weft__ep_vals *v, weft_reactor *r, attempt *a, char *why, size_t n);

typedef struct client_type {
  weft__ep_type t;
  start_fn start;
} client_type;

struct weft_client_endpoint {
  const client_type *type; /* NULL: a plugin's */
  weft__ep_vals vals;
  weft_client_endpoint_plugin plugin;
  void *state;
  weft__ep_tokens tokens;
};

enum { TCP_HOST, TCP_PORT, TCP_TIMEOUT, TCP_BIND, TLS_CERT, TLS_KEY, TLS_ROOTS };
enum { UNIX_PATH, UNIX_TIMEOUT };

struct attempt {
  weft_factory wrap; /* what the connector (or the TLS factory) sees; its user is the attempt */
  weft_factory lower; /* tls: what the connector sees, in front of the TLS factory */
  const weft_factory *inner;
  weft_protocol proto;          /* what inner built */
  weft_protocol lower_proto;    /* tls: what the TLS factory built for the TCP connection */
  weft_connector *conn;         /* while connecting */
  weft_transport *lower_t;      /* tls: the TCP connection, while the handshake runs */
  weft_tls_factory *tls;
  weft_reactor *r;
  weft_delayed_call *refused;   /* tls: reports a refusal build_protocol made */
  int refused_reason;
  weft_deferred *d; /* the attempt's own reference, dropped when it fires */
  name_link *name;  /* a host name: the Happy Eyeballs connect under way */
  char desc[400];
};

/* A host name is connected with Happy Eyeballs (hostname.h), whose Deferred fires after the
 * winner's connection_made, when the attempt has already handed the connection over and gone.
 * The link outlives the attempt: `a` is cleared when the attempt is freed. */
struct name_link {
  attempt *a;
  weft_deferred *he;
};

static void options_from(const weft__ep_vals *v, unsigned timeout_slot, weft_connect_options *o) {
  weft_connect_options_init(o);
  if (weft__ep_given(v, timeout_slot)) o->timeout = v->real[timeout_slot];
}

static void attempt_failed(void *user, int reason);
static int connect_name(const weft__ep_vals *v, weft_reactor *r, attempt *a, const weft_factory *f);

/* Connects the host of a tcp or tls endpoint with f: a numeric one directly, a name through the
 * resolver with Happy Eyeballs. */
static int connect_host(const weft__ep_vals *v, weft_reactor *r, attempt *a, const weft_factory *f) {
  weft_address to, bind_to;
  weft_connect_options o;
  options_from(v, TCP_TIMEOUT, &o);
  if (weft_address_from_ip(&to, v->text[TCP_HOST], (int)v->num[TCP_PORT]) != 0) return connect_name(v, r, a, f);
  if (v->text[TCP_BIND]) {
    weft_address_from_ip(&bind_to, v->text[TCP_BIND], 0);
    o.bind_address = &bind_to;
  }
  return weft_tcp_connect(&a->conn, r, &to, &o, f);
}

static int start_tcp(const weft__ep_vals *v, weft_reactor *r, attempt *a, char *why, size_t n) {
  (void)why, (void)n;
  return connect_host(v, r, a, &a->wrap);
}

static int start_unix(const weft__ep_vals *v, weft_reactor *r, attempt *a, char *why, size_t n) {
  (void)why, (void)n;
  weft_connect_options o;
  options_from(v, UNIX_TIMEOUT, &o);
  return weft_unix_connect(&a->conn, r, v->text[UNIX_PATH], &o, &a->wrap);
}

static int start_tls(const weft__ep_vals *v, weft_reactor *r, attempt *a, char *why, size_t n);

/* A numeric bind address must be of the host's family (a name's family is not known yet). */
static int check_tcp(const weft__ep_vals *v, char *why, size_t n) {
  weft_address host, bind_to;
  if (!v->text[TCP_BIND] || weft_address_from_ip(&host, v->text[TCP_HOST], 0) != 0) return 0;
  weft_address_from_ip(&bind_to, v->text[TCP_BIND], 0);
  if (host.u.sa.sa_family == bind_to.u.sa.sa_family) return 0;
  return weft__ep_fail(why, n, "bindAddress %s is not of the same family as host %s", v->text[TCP_BIND], v->text[TCP_HOST]);
}

static int check_tls(const weft__ep_vals *v, char *why, size_t n) {
  if (weft__ep_given(v, TLS_KEY) && !weft__ep_given(v, TLS_CERT))
    return weft__ep_fail(why, n, "privateKey needs certificate");
  return check_tcp(v, why, n);
}

/* Twisted's clientFromString names: tcp(host, port, timeout, bindAddress), unix(path, timeout). */
static const client_type types[] = {
    {{"tcp",
      {{"host", WEFT__EP_HOST, true}, {"port", WEFT__EP_PORT1, true}, {"timeout", WEFT__EP_SECONDS, false},
       {"bindAddress", WEFT__EP_IP, false}},
      0,
      check_tcp},
     start_tcp},
    {{"unix", {{"path", WEFT__EP_PATH, true}, {"timeout", WEFT__EP_SECONDS, false}}, 0, NULL}, start_unix},
    /* Twisted's tls:HOST:PORT with timeout, bindAddress, certificate, privateKey, trustRoots */
    {{"tls",
      {{"host", WEFT__EP_HOST, true}, {"port", WEFT__EP_PORT1, true}, {"timeout", WEFT__EP_SECONDS, false},
       {"bindAddress", WEFT__EP_IP, false}, {"certificate", WEFT__EP_FILE, false}, {"privateKey", WEFT__EP_FILE, false},
       {"trustRoots", WEFT__EP_FILE, false}},
      0,
      check_tls},
     start_tls},
};

static const client_type *find_type(const char *name) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcmp(types[i].t.name, name) == 0) return &types[i];
  return NULL;
}

const weft__ep_type *weft__ep_client_type(const char *name) {
  const client_type *t = find_type(name);
  return t ? &t->t : NULL;
}

/* ---- parse ---- */

int weft_client_endpoint_parse(weft_client_endpoint **out, const char *desc, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!out) return WEFT_EINVAL;
  *out = NULL;
  if (!desc) return WEFT_EINVAL;
  weft_client_endpoint *e = weft__calloc(1, sizeof *e);
  if (!e) return WEFT_ENOMEM;
  int rc = weft__ep_tokenize(&e->tokens, desc, err, errlen);
  if (rc) {
    weft__free(e);
    return rc;
  }
  const weft_endpoint_arg *head = &e->tokens.v[0];
  if (!head->key && (e->type = find_type(head->value)) != NULL) {
    rc = weft__ep_assign(&e->type->t, &e->tokens, &e->vals, desc, err, errlen);
    weft__ep_tokens_free(&e->tokens);
  } else if (!head->key && weft__ep_find_client_plugin(head->value, &e->plugin)) {
    rc = weft__ep_parse_plugin(e->plugin.parse, e->plugin.user, &e->state, &e->tokens, desc, err, errlen);
  } else {
    rc = weft__ep_unknown_type(desc, false, err, errlen);
  }
  if (rc) {
    weft_client_endpoint_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

/* ---- one connection attempt ---- */


static weft_failure *attempt_failure(const attempt *a, int reason, const char *why) {
  const char *tls = reason <= WEFT_ETLSCONFIG && reason >= WEFT_ETLSTRUNCATED ? weft_tls_last_error() : "";
  return weft_failure_new(WEFT_FAILURE_DOMAIN, reason, "cannot connect to %s: %s%s%s%s", a->desc,
                          why && *why ? why : weft_strerror(reason), *tls ? " (" : "", tls, *tls ? ")" : "");
}

static void attempt_free(attempt *a) {
  if (a->name) a->name->a = NULL;
  if (a->refused) weft_delayed_call_cancel(a->refused);
  weft_tls_factory_free(a->tls); /* a handshake under way keeps its own reference */
  weft__free(a);
}

static void attempt_failed(void *user, int reason) {
  attempt *a = user;
  weft_deferred *d = a->d;
  weft_deferred_errback(d, attempt_failure(a, reason, NULL)); /* WEFT_EALREADY if cancelled: fine */
  attempt_free(a);
  weft_deferred_unref(d);
}

static void handoff_made(weft_transport *t, void *user) {
  attempt *a = user;
  weft_deferred *d = a->d;
  void *proto_user = a->proto.user;
  t->proto = a->proto;
  attempt_free(a);
  weft__proto_made(t);
  /* cancelled while only recorded by a memory reactor: nobody wants this connection */
  if (weft_deferred_callback(d, weft_ptr(proto_user, NULL)) == WEFT_EALREADY) weft_transport_abort_connection(t);
  weft_deferred_unref(d);
}

/* Transports call connection_made first; these only keep the table complete. */
static void handoff_data(weft_transport *t, const void *data, size_t len, void *user) {
  attempt *a = user;
  if (a->proto.cb->data_received) a->proto.cb->data_received(t, data, len, a->proto.user);
}

static void handoff_lost(weft_transport *t, int reason, void *user) {
  attempt *a = user;
  weft_protocol p = a->proto;
  attempt_failed(a, reason ? reason : WEFT_ECLOSED);
  if (p.cb->connection_lost) p.cb->connection_lost(t, reason, p.user);
}

static const weft_protocol_callbacks handoff_callbacks = {
    .connection_made = handoff_made, .data_received = handoff_data, .connection_lost = handoff_lost};

static void report_refusal(void *arg) {
  attempt *a = arg;
  a->refused = NULL;
  attempt_failed(a, a->refused_reason);
}

static int attempt_build(void *user, const weft_address *peer, weft_protocol *out) {
  attempt *a = user;
  a->conn = NULL; /* the connector is gone once the connection is up */
  a->lower_t = NULL; /* and for TLS, the handshake is done */
  int rc = weft_deferred_called(a->d) ? WEFT_ECANCELED : a->inner->build_protocol(a->inner->user, peer, &a->proto);
  /* the connector reports a refusal through attempt_failed right after this returns; the TLS
   * layer only closes the connection, so a TLS attempt reports it itself, on the next turn */
  if (rc && a->tls) {
    a->refused_reason = rc;
    if (!(a->refused = weft_reactor_call_soon(a->r, report_refusal, a))) rc = WEFT_ENOMEM; /* leaks a: rare */
  }
  if (rc) return rc;
  *out = (weft_protocol){&handoff_callbacks, a};
  return 0;
}

/* The Happy Eyeballs connect is over. On success a plain attempt has already handed the
 * connection over (a is gone), while a TLS attempt only has its TCP connection: its handshake goes
 * on, and a cancel now ends the connection (lower_t). Otherwise the failure (every address tried,
 * or the cancel) fails the attempt. */
static weft_value name_settled(weft_value v, void *arg) {
  name_link *l = arg;
  attempt *a = l->a;
  if (a && !weft_value_is_failure(v)) {
    a->name = NULL;
  } else if (a) {
    weft_deferred *d = a->d;
    weft_deferred_errback(d, attempt_failure(a, weft_failure_code(v.v.f), weft_failure_message(v.v.f)));
    attempt_free(a);
    weft_deferred_unref(d);
  }
  weft_value_release(v);
  weft_deferred_unref(l->he); /* the chain holds it while this step runs */
  weft__free(l);
  return weft_none();
}

static int connect_name(const weft__ep_vals *v, weft_reactor *r, attempt *a, const weft_factory *f) {
  weft_hostname_options o;
  weft_address bind_to;
  weft_hostname_options_init(&o);
  if (weft__ep_given(v, TCP_TIMEOUT)) o.timeout = v->real[TCP_TIMEOUT];
  if (v->text[TCP_BIND]) {
    weft_address_from_ip(&bind_to, v->text[TCP_BIND], 0);
    o.bind_address = &bind_to;
  }
  name_link *l = weft__malloc(sizeof *l);
  if (!l) return WEFT_ENOMEM;
  l->a = a;
  a->name = l;
  l->he = weft_hostname_connect(r, NULL, v->text[TCP_HOST], (int)v->num[TCP_PORT], f, &o);
  if (!l->he) {
    a->name = NULL;
    weft__free(l);
    return WEFT_ENOMEM;
  }
  /* may run at once and fail the attempt. The race adds no step of its own to the Deferred it
   * returns, so this first step is stored inline and cannot fail for want of memory (which would
   * leave nothing able to stop the race that still holds f) */
  weft_deferred_add_both(l->he, name_settled, l);
  return 0;
}

static void attempt_cancel(weft_deferred *d, void *arg) {
  (void)d;
  attempt *a = arg;
  if (a->name) weft_deferred_cancel(a->name->he); /* name_settled fails d now */
  else if (a->conn) weft_connector_cancel(a->conn); /* attempt_failed runs now and fires d */
  else if (a->lower_t) weft_transport_abort_connection(a->lower_t); /* mid-handshake: d fails now, a goes later */
}

/* ---- tls: the TCP connection is watched until the handshake is done, so a cancel can end it ---- */

static void lower_made(weft_transport *t, void *user) {
  attempt *a = user;
  a->lower_t = t;
  t->proto = a->lower_proto; /* the TLS layer's own protocol from now on */
  weft__proto_made(t);
}

static void lower_data(weft_transport *t, const void *data, size_t len, void *user) {
  attempt *a = user;
  a->lower_proto.cb->data_received(t, data, len, a->lower_proto.user);
}

static void lower_lost(weft_transport *t, int reason, void *user) {
  attempt *a = user;
  a->lower_proto.cb->connection_lost(t, reason, a->lower_proto.user);
}

static const weft_protocol_callbacks lower_callbacks = {
    .connection_made = lower_made, .data_received = lower_data, .connection_lost = lower_lost};

static int lower_build(void *user, const weft_address *peer, weft_protocol *out) {
  attempt *a = user;
  a->conn = NULL;
  const weft_factory *tf = weft_tls_factory_get(a->tls);
  int rc = tf->build_protocol(tf->user, peer, &a->lower_proto);
  if (rc) return rc;
  *out = (weft_protocol){&lower_callbacks, a};
  return 0;
}

static int tls_context(const weft__ep_vals *v, weft_tls_context **ctx) {
  weft_tls_client_options o;
  weft_tls_client_options_init(&o);
  o.cert_file = v->text[TLS_CERT];
  o.key_file = v->text[TLS_KEY];
  const char *roots = v->text[TLS_ROOTS];
  struct stat st;
  if (roots && stat(roots, &st) == 0 && S_ISDIR(st.st_mode)) o.ca_dir = roots;
  else o.ca_file = roots;
  return weft_tls_client_context_new(ctx, &o);
}

static int start_tls(const weft__ep_vals *v, weft_reactor *r, attempt *a, char *why, size_t n) {
  weft_tls_context *ctx = NULL;
  int rc = tls_context(v, &ctx); /* on WEFT_ETLSCONFIG the failure adds weft_tls_last_error's detail */
  if (!rc) rc = weft_tls_wrap_factory(&a->tls, ctx, v->text[TCP_HOST], &a->wrap);
  weft_tls_context_free(ctx); /* the factory holds its own reference */
  if (rc) return rc;
  a->lower = (weft_factory){.build_protocol = lower_build, .connection_failed = attempt_failed, .user = a};
  (void)why, (void)n;
  return connect_host(v, r, a, &a->lower);
}

weft_deferred *weft_client_endpoint_connect(const weft_client_endpoint *e, weft_reactor *r, const weft_factory *f) {
  if (e && r && f && !e->type) return e->plugin.connect(e->state, r, f, e->plugin.user);
  weft_log_publisher *log = r ? weft_reactor_log(r) : NULL;
  if (!e || !r || !f || !f->build_protocol)
    return weft_fail(log, weft_failure_new(WEFT_FAILURE_DOMAIN, WEFT_EINVAL, "cannot connect: %s", weft_strerror(WEFT_EINVAL)));
  attempt *a = weft__calloc(1, sizeof *a);
  if (!a) return weft_fail(log, weft_failure_from_error(WEFT_ENOMEM));
  a->wrap = (weft_factory){.build_protocol = attempt_build, .connection_failed = attempt_failed, .user = a};
  a->inner = f;
  a->r = r;
  weft_client_endpoint_describe(e, a->desc, sizeof a->desc);
  if (!(a->d = weft_deferred_new_cancellable(log, attempt_cancel, a))) {
    weft__free(a);
    return NULL;
  }
  weft_deferred *d = weft_deferred_ref(a->d);
  char why[300] = "";
  int rc = e->type->start(&e->vals, r, a, why, sizeof why);
  if (rc) { /* nothing was started: no callback follows */
    weft_deferred_errback(a->d, attempt_failure(a, rc, why));
    weft_deferred_unref(a->d);
    attempt_free(a);
  }
  return d;
}

/* ---- the rest ---- */

int weft_client_endpoint_describe(const weft_client_endpoint *e, char *buf, size_t size) {
  return e->type ? weft__ep_describe(&e->type->t, &e->vals, buf, size) : weft__ep_describe_tokens(&e->tokens, buf, size);
}

const char *weft_client_endpoint_type(const weft_client_endpoint *e) {
  return e->type ? e->type->t.name : e->tokens.v[0].value;
}

void weft_client_endpoint_free(weft_client_endpoint *e) {
  if (!e) return;
  if (!e->type && e->state && e->plugin.free_state) e->plugin.free_state(e->state, e->plugin.user);
  weft__ep_vals_free(&e->vals);
  weft__ep_tokens_free(&e->tokens);
  weft__free(e);
}
