/* happy_eyeballs.c: connecting to a host name by racing its addresses, RFC 8305 (Twisted's
 * HostnameEndpoint).
 *
 * Each attempt connects with a factory of the race's own. The first attempt whose connection is
 * made wins: the race asks the user's factory for a protocol then, and only then, hands the
 * transport a small wrapper protocol whose connection_made swaps the user's protocol in
 * (weft__transport_set_protocol) and steps out, so the user's protocol sees every event of the
 * winner and nothing of the losers. Losers still connecting are cancelled; a loser that connects
 * anyway (possible only where a connect cannot be cancelled, as on a memory reactor) is refused in
 * build_protocol, which closes it.
 *
 * The race's state stays until every connector is done with it. A connector may call
 * connection_failed right after build_protocol refused (a real one does; a string transport does
 * not), so the state is freed from a reactor task, never inside a connector's callback. */
#include <stdio.h>
#include <string.h>

#include "async/deferred_internal.h"
#include "base/alloc.h"
#include "net/transport_internal.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/hostname.h"
#include "weft/tcp.h"

enum { A_IDLE, A_CONNECTING, A_FAILED, A_WON, A_CANCELLED };

typedef struct race race;

typedef struct attempt {
  race *hc;
  weft_factory factory; /* the race's: user points back at this attempt */
  weft_connector *conn; /* NULL when the connect gave no handle (memory reactor) or is over */
  weft_address to;
  size_t index;
  int state;
  int reason;    /* A_FAILED: why */
  bool settled;  /* the connector will not call this attempt again (freeing is safe) */
} attempt;

struct race {
  weft_reactor *r;
  weft_deferred *d; /* the firing side's reference, NULL once fired or cancelled */
  weft_name_resolver nr;
  weft_resolver *own_res; /* made for this connect when none was given */
  weft_deferred *lookup;  /* our reference to the resolution */
  bool resolving;
  bool done; /* a winner, a failure, the timeout or a cancel: nothing new starts */
  const weft_factory *uf;
  weft_hostname_options o;
  weft_address bind;
  weft_protocol user_proto;
  attempt *att;
  size_t n, started, connecting;
  int last_reason; /* of the attempt that failed last: the code when all failed */
  weft_delayed_call *delay_timer, *overall_timer;
  weft__task reap_task;
  int port;
  char host[];
};

void weft_hostname_options_init(weft_hostname_options *o) {
  memset(o, 0, sizeof *o);
  o->attempt_delay = 0.25;
  o->timeout = 30;
  o->family = AF_UNSPEC;
}

/* ---- a growable string, for the failure that lists every attempt ---- */

typedef struct text {
  char *s;
  size_t len, cap;
} text;

static void text_add(text *t, const char *fmt, const char *a, const char *b) {
  int need = snprintf(NULL, 0, fmt, a, b);
  if (need < 0) return;
  if (t->len + (size_t)need + 1 > t->cap) {
    size_t cap = (t->len + (size_t)need + 1) * 2;
    char *s = weft__realloc(t->s, cap);
    if (!s) return; /* the message comes out shorter; the causes still list every attempt */
    t->s = s;
    t->cap = cap;
  }
  snprintf(t->s + t->len, t->cap - t->len, fmt, a, b);
  t->len += (size_t)need;
}

/* ---- observer and lifetime ---- */

static void report(race *hc, attempt *a, weft_attempt_event ev, int reason) {
  if (hc->o.on_attempt) hc->o.on_attempt(hc->o.on_attempt_user, a->index, &a->to, ev, reason);
}

static void reap(weft__task *t) {
  race *hc = (race *)((char *)t - offsetof(race, reap_task));
  for (size_t i = 0; i < hc->n; i++)
    if (!hc->att[i].settled) return; /* an abandoned connect has yet to report */
  weft_deferred_unref(hc->lookup);
  weft_resolver_free(hc->own_res);
  weft__handle_unref(hc->r);
  weft__free(hc->att);
  weft__free(hc);
}

/* Frees the race on a later turn once it is over and no connector can call it. */
static void maybe_reap(race *hc) {
  if (!hc->done || hc->resolving) return;
  for (size_t i = 0; i < hc->n; i++)
    if (!hc->att[i].settled) return;
  weft__task_queue(hc->r, &hc->reap_task);
}

/* Ends the race: no timer, no lookup, no connect left running (except the winner). */
static void stop_everything(race *hc) {
  hc->done = true;
  if (hc->delay_timer) weft_delayed_call_cancel(hc->delay_timer);
  if (hc->overall_timer) weft_delayed_call_cancel(hc->overall_timer);
  hc->delay_timer = hc->overall_timer = NULL;
  if (hc->resolving) {
    hc->resolving = false;
    weft_deferred_cancel(hc->lookup); /* on_resolved sees done and drops the outcome */
  }
  for (size_t i = 0; i < hc->started; i++) {
    attempt *a = &hc->att[i];
    if (a->state != A_CONNECTING) continue;
    a->state = A_CANCELLED;
    hc->connecting--;
    report(hc, a, WEFT_ATTEMPT_CANCELLED, WEFT_ECANCELED);
    weft_connector *c = a->conn;
    a->conn = NULL;
    if (c) weft_connector_cancel(c); /* its connection_failed comes now and settles a */
  }
}

/* Fires the Deferred with v (owned), once. */
static void fire(race *hc, weft_value v) {
  weft_deferred *d = hc->d;
  hc->d = NULL;
  if (d) {
    weft_deferred_callback(d, v);
    weft_deferred_unref(d);
  } else {
    weft_value_release(v);
  }
}

static void fail(race *hc, weft_failure *f) {
  stop_everything(hc);
  fire(hc, weft_failed(f));
  maybe_reap(hc);
}

/* "could not connect to "host" port P: addr: error; addr: error", each failed attempt's Failure
 * chained as a cause, first attempt first. */
static weft_failure *attempts_failure(race *hc, int code, const char *why) {
  text t = {0};
  char port[16];
  snprintf(port, sizeof port, "%d", hc->port);
  text_add(&t, "could not connect to \"%s\" port %s", hc->host, port);
  if (why) text_add(&t, " %s%s", why, "");
  for (size_t i = 0; i < hc->started; i++) {
    attempt *a = &hc->att[i];
    char addr[WEFT_ADDRSTRLEN];
    weft_address_format(&a->to, addr, sizeof addr);
    const char *state = a->state == A_FAILED ? weft_strerror(a->reason) : "still connecting";
    text_add(&t, i ? "; %s: %s" : ": %s: %s", addr, state);
  }
  if (hc->resolving) text_add(&t, ": %s%s", "still resolving", "");
  weft_failure *causes = NULL;
  for (size_t i = hc->started; i-- > 0;) {
    attempt *a = &hc->att[i];
    if (a->state != A_FAILED) continue;
    char addr[WEFT_ADDRSTRLEN];
    weft_address_format(&a->to, addr, sizeof addr);
    weft_failure *c =
        weft_failure_new(WEFT_FAILURE_DOMAIN, a->reason, "connect to %s: %s", addr, weft_strerror(a->reason));
    causes = weft_failure_set_cause(c, causes);
  }
  weft_failure *f = weft_failure_new(WEFT_FAILURE_DOMAIN, code, "%s", t.s ? t.s : "could not connect");
  weft__free(t.s);
  return weft_failure_set_cause(f, causes);
}

/* ---- the race ---- */

static void start_next(race *hc);

static void on_delay(void *arg) {
  race *hc = arg;
  hc->delay_timer = NULL;
  start_next(hc);
}

static void on_overall_timeout(void *arg) {
  race *hc = arg;
  hc->overall_timer = NULL;
  char why[48];
  snprintf(why, sizeof why, "within %g s", hc->o.timeout);
  fail(hc, attempts_failure(hc, WEFT_ETIMEDOUT, why));
}

/* Starts attempts until one is under way (an immediate error moves on to the next at once);
 * when none is left and none is connecting, the race is lost. */
static void start_next(race *hc) {
  if (hc->delay_timer) weft_delayed_call_cancel(hc->delay_timer);
  hc->delay_timer = NULL;
  weft_connect_options co;
  weft_connect_options_init(&co);
  if (hc->o.timeout > 0) co.timeout = 0; /* the overall timeout bounds every attempt */
  if (hc->bind.len) co.bind_address = &hc->bind;
  while (!hc->done && hc->started < hc->n) {
    attempt *a = &hc->att[hc->started++];
    a->state = A_CONNECTING;
    a->settled = false;
    hc->connecting++;
    report(hc, a, WEFT_ATTEMPT_STARTED, 0);
    int rc = weft_tcp_connect(&a->conn, hc->r, &a->to, &co, &a->factory);
    if (rc == 0) {
      if (hc->started < hc->n &&
          !(hc->delay_timer = weft_reactor_call_later(hc->r, hc->o.attempt_delay, on_delay, hc)))
        fail(hc, weft_failure_from_error(WEFT_ENOMEM));
      return;
    }
    a->state = A_FAILED;
    a->reason = hc->last_reason = rc;
    a->settled = true;
    hc->connecting--;
    report(hc, a, WEFT_ATTEMPT_FAILED, rc);
  }
  if (!hc->done && hc->connecting == 0) fail(hc, attempts_failure(hc, hc->last_reason, NULL));
}

static void attempt_failed(void *user, int reason) {
  attempt *a = user;
  race *hc = a->hc;
  if (a->settled) return; /* after build_protocol refused: already accounted for */
  a->settled = true;
  a->conn = NULL;
  if (a->state == A_CONNECTING && !hc->done) {
    a->state = A_FAILED;
    a->reason = hc->last_reason = reason ? reason : WEFT_ECONNABORTED;
    hc->connecting--;
    report(hc, a, WEFT_ATTEMPT_FAILED, a->reason);
    if (hc->started < hc->n || hc->connecting == 0) start_next(hc); /* RFC 8305: next at once */
  }
  maybe_reap(hc);
}

/* The winner's transport gets this protocol for the moment between build_protocol and
 * connection_made; connection_made hands the transport to the user's protocol. */
static void wrap_made(weft_transport *t, void *user) {
  race *hc = user;
  weft__transport_set_protocol(t, &hc->user_proto);
  weft__proto_made(t);
  fire(hc, weft_ptr(hc->user_proto.user, NULL));
  maybe_reap(hc);
}
static void wrap_data(weft_transport *t, const void *data, size_t len, void *user) {
  (void)t, (void)data, (void)len, (void)user; /* unreachable: replaced in connection_made */
}
static const weft_protocol_callbacks wrap_callbacks = {.connection_made = wrap_made, .data_received = wrap_data};

static int attempt_build(void *user, const weft_address *peer, weft_protocol *out) {
  attempt *a = user;
  race *hc = a->hc;
  a->settled = true; /* a connector calls connection_failed after a refusal, if at all, right now */
  a->conn = NULL;
  if (hc->done || a->state != A_CONNECTING) {
    maybe_reap(hc);
    return WEFT_ECANCELED; /* too late: closed before any protocol sees it */
  }
  a->state = A_WON;
  hc->connecting--;
  report(hc, a, WEFT_ATTEMPT_WON, 0);
  stop_everything(hc);
  int rc = hc->uf->build_protocol(hc->uf->user, peer ? peer : &a->to, &hc->user_proto);
  if (rc == 0 && !hc->user_proto.cb) rc = WEFT_EINVAL;
  if (rc) {
    char addr[WEFT_ADDRSTRLEN];
    weft_address_format(&a->to, addr, sizeof addr);
    fire(hc, weft_failed(weft_failure_new(WEFT_FAILURE_DOMAIN, rc,
                                          "could not connect to \"%s\" port %d: "
                                          "the factory refused the connection to %s: %s",
                                          hc->host, hc->port, addr, weft_strerror(rc))));
    maybe_reap(hc);
    return rc;
  }
  out->cb = &wrap_callbacks;
  out->user = hc;
  return 0;
}

/* RFC 8305 section 4: the resolver's first address sets the first family; then alternate. */
static int make_attempts(race *hc, const weft_address_list *l) {
  if (!(hc->att = weft__calloc(l->count, sizeof *hc->att))) return WEFT_ENOMEM;
  int first = weft_address_family(&l->addrs[0]);
  size_t ia = 0, ib = 0, n = 0;
  for (;;) {
    while (ia < l->count && weft_address_family(&l->addrs[ia]) != first) ia++;
    while (ib < l->count && weft_address_family(&l->addrs[ib]) == first) ib++;
    if (ia >= l->count && ib >= l->count) break;
    size_t pick[2] = {ia, ib};
    for (int k = 0; k < 2; k++) {
      if (pick[k] >= l->count) continue;
      attempt *a = &hc->att[n];
      a->hc = hc;
      a->to = l->addrs[pick[k]];
      a->index = n++;
      a->state = A_IDLE;
      a->settled = true;
      a->factory = (weft_factory){.build_protocol = attempt_build, .connection_failed = attempt_failed, .user = a};
    }
    ia++, ib++;
  }
  hc->n = n;
  return 0;
}

static weft_value on_resolved(weft_value v, void *arg) {
  race *hc = arg;
  if (hc->done) {
    weft_value_release(v);
    maybe_reap(hc);
    return weft_none();
  }
  hc->resolving = false;
  if (weft_value_is_failure(v)) {
    fail(hc, v.v.f);
    return weft_none();
  }
  const weft_address_list *l = v.kind == WEFT_VALUE_PTR ? v.v.p : NULL;
  int rc = l && l->count ? make_attempts(hc, l) : 0;
  bool empty = !l || !l->count;
  weft_value_release(v);
  if (rc) fail(hc, weft_failure_from_error(rc));
  else if (empty)
    fail(hc, weft_failure_new(WEFT_DNS_DOMAIN, WEFT_ENOTFOUND, "could not resolve \"%s\": no address", hc->host));
  else start_next(hc);
  return weft_none();
}

static void cancel_race(weft_deferred *d, void *arg) {
  race *hc = arg;
  if (hc->d == d) {
    hc->d = NULL;
    weft_deferred_unref(d); /* weft_deferred_cancel holds its own while we run */
  }
  if (!hc->done) stop_everything(hc);
  maybe_reap(hc);
}

static weft_deferred *bad_arguments(weft_reactor *r) {
  return weft_fail(r ? weft_reactor_log(r) : NULL, weft_failure_from_error(WEFT_EINVAL));
}

/* Sets up the race's resolver: the caller's, or a c-ares one of its own. */
static int setup_resolver(race *hc, const weft_name_resolver *nr) {
  if (nr) {
    hc->nr = *nr;
    return hc->nr.resolve ? 0 : WEFT_EINVAL;
  }
  int rc = weft_resolver_new(&hc->own_res, hc->r, NULL);
  if (rc == 0) hc->nr = weft_resolver_name_resolver(hc->own_res);
  return rc;
}

weft_deferred *weft_hostname_connect(weft_reactor *r, const weft_name_resolver *resolver, const char *host,
                                     int port, const weft_factory *f, const weft_hostname_options *o) {
  if (!r || !host || !*host || port < 1 || port > 65535 || !f || !f->build_protocol) return bad_arguments(r);
  size_t hlen = strlen(host);
  race *hc = weft__calloc(1, sizeof *hc + hlen + 1);
  if (!hc) return NULL;
  memcpy(hc->host, host, hlen + 1);
  hc->r = r;
  hc->port = port;
  hc->uf = f;
  if (o) hc->o = *o;
  else weft_hostname_options_init(&hc->o);
  if (!(hc->o.attempt_delay >= 0.01)) hc->o.attempt_delay = 0.01; /* RFC 8305's floor; NaN too */
  if (hc->o.bind_address) hc->bind = *hc->o.bind_address;
  hc->o.bind_address = NULL;
  int family = hc->o.family != AF_UNSPEC ? hc->o.family : hc->bind.len ? weft_address_family(&hc->bind) : AF_UNSPEC;
  hc->reap_task.fn = reap;
  int rc = setup_resolver(hc, resolver);
  if (rc == 0 && !(hc->d = weft_deferred_new_cancellable(weft_reactor_log(r), cancel_race, hc))) rc = WEFT_ENOMEM;
  if (rc == 0 && hc->o.timeout > 0 &&
      !(hc->overall_timer = weft_reactor_call_later(r, hc->o.timeout, on_overall_timeout, hc)))
    rc = WEFT_ENOMEM;
  if (rc) {
    weft_deferred_unref(hc->d);
    weft_resolver_free(hc->own_res);
    weft__free(hc);
    return rc == WEFT_ENOMEM ? NULL : bad_arguments(r);
  }
  weft__handle_ref(r);
  /* taken first: the race may end at once. The race adds no step to this Deferred, so the
   * caller's first step is stored inline (endpoint_client.c relies on it) */
  weft_deferred *mine = weft_deferred_ref(hc->d);
  hc->resolving = true;
  hc->lookup = hc->nr.resolve(hc->nr.user, hc->host, port, family);
  if (!hc->lookup) {
    hc->resolving = false;
    fail(hc, weft_failure_from_error(WEFT_ENOMEM));
  } else if (weft__deferred_add_callbacks(hc->lookup, on_resolved, hc, on_resolved, hc) != 0) {
    /* a resolver of the caller's may hand back a Deferred with steps of its own: ours could not
     * be stored, so on_resolved will never run; without this the race would wait for it until
     * the overall timeout, or for ever without one */
    hc->resolving = false;
    fail(hc, weft_failure_from_error(WEFT_ENOMEM));
  }
  return mine;
}
