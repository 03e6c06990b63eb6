/* http_client_connect.c: the agent's default connector (the endpoint choice inside Twisted's
 * Agent): TCP to a host name or address with Happy Eyeballs, and for https TLS over it with the
 * certificate verified for the host (SNI sent for names).
 *
 * For https the TCP connection is seen through a tap factory around the TLS one: it notes the
 * TCP transport while the handshake runs, so that cancelling (the request cancelled, the connect
 * timeout) aborts the connection at once instead of leaving it open until the handshake ends. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "net/transport_internal.h"
#include "web/http_client_internal.h"
#include "weft/hostname.h"

typedef struct attempt {
  int refs;
  weft_reactor *r;
  weft_deferred *d;   /* ours, until it fired */
  weft_deferred *tcp; /* hostname_connect's, until it fired */
  const weft_factory *user_f;
  weft_factory proxy;
  weft_tls_factory *tf;
  weft_factory tap;           /* TLS: around the TLS factory, to see the TCP transport */
  weft_protocol tls_proto;    /* the TLS layer's protocol on that transport */
  weft_transport *lower;      /* TLS: the TCP transport while the handshake runs */
  weft_protocol inner; /* the user's protocol, for the step-out wrapper */
  bool cancelled, tls;
  char host[256];
  int port;
} attempt;

static void att_unref(attempt *at) {
  if (--at->refs > 0) return;
  if (at->tf) weft_tls_factory_free(at->tf);
  weft__free(at);
}

static void att_fire(attempt *at, weft_failure *f) {
  weft_deferred *d = at->d;
  at->d = NULL;
  if (!d) {
    weft_failure_unref(f);
    return;
  }
  if (f) weft_deferred_errback(d, f);
  else weft_deferred_callback(d, weft_none());
  weft_deferred_unref(d);
  att_unref(at); /* d's reference */
}

static weft_failure *connect_failure(attempt *at, weft_failure *cause) {
  int code = weft_failure_code(cause);
  weft_failure *f;
  if (!strcmp(weft_failure_domain(cause), "weft.dns"))
    f = weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, code, "cannot resolve %s: %s", at->host, weft_failure_message(cause));
  else
    f = weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, code, "cannot connect to %s:%d: %s", at->host, at->port,
                         code == WEFT_ECANCELED ? "cancelled" : weft_strerror(code));
  return weft_failure_set_cause(f, cause);
}

static weft_value tcp_ok(weft_value v, void *arg) {
  attempt *at = arg;
  weft_value_release(v);
  if (!at->tls) att_fire(at, NULL); /* plain: the user's protocol is connected */
  return weft_none();
}

static weft_value tcp_failed(weft_value v, void *arg) {
  attempt *at = arg;
  att_fire(at, connect_failure(at, weft_failure_ref(v.v.f)));
  if (at->tls) att_unref(at); /* no handshake will report */
  weft_value_release(v);
  return weft_none();
}

static weft_value tcp_settled(weft_value v, void *arg) {
  attempt *at = arg;
  at->tcp = NULL;
  att_unref(at);
  return v;
}

/* ---- the TLS path: the proxy factory sees the handshake's outcome ---- */

static void w_made(weft_transport *t, void *user) {
  attempt *at = user;
  weft__transport_set_protocol(t, &at->inner); /* step out: the user's protocol from now on */
  if (at->inner.cb->connection_made) at->inner.cb->connection_made(t, at->inner.user);
  att_fire(at, NULL);
  att_unref(at); /* the handshake's reference */
}

static void w_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t, (void)data, (void)len, (void)user; /* never called: w_made steps out first */
}

static const weft_protocol_callbacks wrapper_cb = {.connection_made = w_made, .data_received = w_data};

/* ---- the TLS path: the tap sees the TCP connection the handshake runs on ---- */

static void tap_made(weft_transport *t, void *user) {
  attempt *at = user;
  at->lower = t;
  weft__transport_set_protocol(t, &at->tls_proto); /* step out: TLS has it from now on */
  if (at->tls_proto.cb->connection_made) at->tls_proto.cb->connection_made(t, at->tls_proto.user);
}

static const weft_protocol_callbacks tap_cb = {.connection_made = tap_made};

static int tap_build(void *user, const weft_address *peer, weft_protocol *out) {
  attempt *at = user;
  const weft_factory *tls = weft_tls_factory_get(at->tf);
  int rc = tls->build_protocol(tls->user, peer, &at->tls_proto);
  if (rc) return rc;
  *out = (weft_protocol){&tap_cb, at};
  return 0;
}

static int p_build(void *user, const weft_address *peer, weft_protocol *out) {
  attempt *at = user;
  at->lower = NULL; /* the handshake is over */
  if (at->cancelled || !at->d) {
    att_unref(at);
    return WEFT_ECANCELED;
  }
  int rc = at->user_f->build_protocol(at->user_f->user, peer, &at->inner);
  if (rc) {
    att_fire(at, weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, rc, "connection to %s:%d refused by the client", at->host,
                                  at->port));
    att_unref(at);
    return rc;
  }
  *out = (weft_protocol){&wrapper_cb, at};
  return 0;
}

static void p_failed(void *user, int reason) {
  attempt *at = user;
  at->lower = NULL; /* the handshake is over (and the connection gone) */
  const char *detail = weft_tls_last_error();
  if (at->d && !at->cancelled)
    att_fire(at, weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, reason, "TLS handshake with %s:%d failed: %s", at->host,
                                  at->port, detail && *detail ? detail : weft_strerror(reason)));
  att_unref(at); /* the handshake's reference */
}

static void att_cancel(weft_deferred *d, void *arg) {
  attempt *at = arg;
  (void)d;
  at->cancelled = true;
  weft_deferred *mine = at->d;
  at->d = NULL;
  if (at->tcp) weft_deferred_cancel(at->tcp);
  if (at->lower) { /* a handshake is running: end it now (p_failed follows, and says nothing) */
    weft_transport *lower = at->lower;
    at->lower = NULL;
    weft_transport_abort_connection(lower);
  }
  if (mine) {
    weft_deferred_unref(mine);
    att_unref(at);
  }
}

static int tls_context(weft_http_agent *a) {
  if (a->tls) return 0;
  weft_tls_client_options o;
  weft_tls_client_options_init(&o);
  o.verify = a->o.tls_verify;
  o.ca_file = a->o.ca_file;
  o.ca_dir = a->o.ca_dir;
  static const char *const alpn[] = {"http/1.1"};
  o.alpn = alpn;
  o.alpn_count = 1;
  return weft_tls_client_context_new(&a->tls, &o);
}

weft_deferred *weft__hc_default_connect(void *user, weft_reactor *r, const char *scheme, const char *host, int port,
                                        const weft_factory *f) {
  weft_http_agent *a = user;
  weft_log_publisher *log = weft_reactor_log(r);
  attempt *at = weft__calloc(1, sizeof *at);
  if (!at) return NULL;
  at->r = r;
  at->user_f = f;
  at->port = port;
  snprintf(at->host, sizeof at->host, "%s", host);
  at->tls = !strcmp(scheme, "https");
  const weft_factory *use = f;
  if (at->tls) {
    int rc = tls_context(a);
    if (!rc) {
      at->proxy = (weft_factory){.build_protocol = p_build, .connection_failed = p_failed, .user = at};
      rc = weft_tls_wrap_factory(&at->tf, a->tls, host, &at->proxy);
    }
    if (rc) {
      weft_failure *fl = weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, rc, "cannot set up TLS: %s",
                                          *weft_tls_last_error() ? weft_tls_last_error() : weft_strerror(rc));
      if (at->tf) weft_tls_factory_free(at->tf);
      weft__free(at);
      return weft_fail(log, fl);
    }
    at->tap = (weft_factory){.build_protocol = tap_build, .user = at};
    use = &at->tap;
  }
  at->d = weft_deferred_new_cancellable(log, att_cancel, at);
  if (!at->d) {
    if (at->tf) weft_tls_factory_free(at->tf);
    weft__free(at);
    return NULL;
  }
  weft_deferred *ret = weft_deferred_ref(at->d);
  at->refs = 2 + (at->tls ? 1 : 0); /* d, the TCP Deferred, and the handshake for TLS */
  weft_hostname_options ho;
  weft_hostname_options_init(&ho);
  ho.timeout = a->o.connect_timeout;
  weft_deferred *tcp = weft_hostname_connect(r, NULL, host, port, use, &ho);
  if (!tcp) {
    att_fire(at, weft_failure_from_error(WEFT_ENOMEM));
    att_unref(at);
    if (at->tls) att_unref(at);
    return ret;
  }
  at->tcp = tcp;
  weft_deferred_add_callbacks(tcp, tcp_ok, at, tcp_failed, at);
  weft_deferred_add_both(tcp, tcp_settled, at);
  weft_deferred_unref(tcp);
  return ret;
}
