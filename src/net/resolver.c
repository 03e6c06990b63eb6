/* resolver.c: host name lookups with c-ares on the reactor (Twisted's client.Resolver and
 * GAIResolver, without the thread pool): c-ares' sockets are reactor watchers, its timeouts a
 * reactor timer.
 *
 * Each lookup gets its own c-ares channel. c-ares can only cancel every query of a channel at
 * once (ares_cancel/ares_destroy), so a private channel is what lets one Deferred be cancelled
 * and release everything (sockets, timer, memory) at that moment, as weft promises. Building a
 * channel reads resolv.conf, which getaddrinfo reads per lookup anyway for /etc/hosts.
 *
 * c-ares calls back from inside its own functions (ares_getaddrinfo, ares_process_fd,
 * ares_destroy), where destroying the channel is not allowed. So the completion callback only
 * records the outcome; every place that calls into c-ares checks afterwards whether the lookup
 * is done and then finishes it: channel destroyed, Deferred fired last, so whatever the
 * Deferred's callbacks do (free the resolver, start another lookup) finds nothing half-done. */
#include <ares.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/log.h"
#include "weft/resolver.h"

typedef struct lookup lookup;

/* One c-ares socket, watched by the reactor. */
typedef struct sock_watch {
  weft__io io;
  lookup *lk;
  struct sock_watch *next;
} sock_watch;

struct lookup {
  weft_resolver *res;
  lookup *prev, *next; /* in res->lookups */
  ares_channel ch;
  weft_deferred *d; /* the firing side's reference */
  sock_watch *socks;
  weft_delayed_call *timer;
  int port;
  bool done;      /* c-ares' callback came: status and ai hold the outcome */
  bool cancelled; /* being torn down: c-ares' callback is ignored */
  int status;
  struct ares_addrinfo *ai;
  char host[];
};

struct weft_resolver {
  weft_reactor *r;
  weft_resolver_options o;
  char *servers; /* o.servers, copied */
  lookup *lookups;
  size_t pending;
};

void weft_resolver_options_init(weft_resolver_options *o) { memset(o, 0, sizeof *o); }

/* ---- the address list ---- */

int weft_address_list_new(weft_address_list **out, size_t count) {
  *out = NULL;
  if (count > (SIZE_MAX - sizeof(weft_address_list)) / sizeof(weft_address)) return WEFT_ENOMEM;
  weft_address_list *l = weft__calloc(1, sizeof *l + count * sizeof(weft_address));
  if (!l) return WEFT_ENOMEM;
  l->count = count;
  l->addrs = (weft_address *)(l + 1);
  *out = l;
  return 0;
}

void weft_address_list_free(void *list) { weft__free(list); }

/* ---- status codes ---- */

static int map_status(int status) {
  switch (status) {
  case ARES_ENOTFOUND:
  case ARES_ENODATA:
  case ARES_ENONAME:
    return WEFT_ENOTFOUND;
  case ARES_ETIMEOUT:
    return WEFT_ETIMEDOUT;
  case ARES_ECONNREFUSED:
    return WEFT_ECONNREFUSED;
  case ARES_ENOMEM:
    return WEFT_ENOMEM;
  case ARES_ECANCELLED:
  case ARES_EDESTRUCTION:
    return WEFT_ECANCELED;
  case ARES_EBADNAME:
  case ARES_EBADFAMILY:
  case ARES_EBADFLAGS:
  case ARES_EBADHINTS:
  case ARES_EBADSTR:
  case ARES_EBADQUERY:
    return WEFT_EINVAL;
  default: /* ESERVFAIL, EREFUSED, EFORMERR, ENOTIMP, EBADRESP, EOF, EFILE, ... */
    return WEFT_EDNS;
  }
}

static weft_failure *lookup_failure(const char *host, int code, int status) {
  if (status == ARES_SUCCESS)
    return weft_failure_new(WEFT_DNS_DOMAIN, code, "could not resolve \"%s\": %s", host, weft_strerror(code));
  return weft_failure_new(WEFT_DNS_DOMAIN, code, "could not resolve \"%s\": %s (c-ares: %s)", host,
                          weft_strerror(code), ares_strerror(status));
}

/* The outcome as a Deferred result: the addresses in c-ares' order, or a Failure. */
static weft_value outcome(lookup *lk) {
  if (lk->status != ARES_SUCCESS) {
    int code = map_status(lk->status);
    if (code == WEFT_ECANCELED) return weft_failed(weft_failure_from_error(code));
    return weft_failed(lookup_failure(lk->host, code, lk->status));
  }
  size_t n = 0;
  for (struct ares_addrinfo_node *p = lk->ai ? lk->ai->nodes : NULL; p; p = p->ai_next)
    if (p->ai_family == AF_INET || p->ai_family == AF_INET6) n++;
  if (n == 0) return weft_failed(lookup_failure(lk->host, WEFT_ENOTFOUND, ARES_SUCCESS));
  weft_address_list *l;
  if (weft_address_list_new(&l, n)) return weft_failed(weft_failure_from_error(WEFT_ENOMEM));
  size_t i = 0;
  for (struct ares_addrinfo_node *p = lk->ai->nodes; p; p = p->ai_next) {
    weft_address *a = &l->addrs[i];
    if (p->ai_family == AF_INET && p->ai_addrlen >= sizeof a->u.in4) {
      memcpy(&a->u.in4, p->ai_addr, sizeof a->u.in4);
      a->u.in4.sin_port = htons((uint16_t)lk->port);
      a->len = sizeof a->u.in4;
      i++;
    } else if (p->ai_family == AF_INET6 && p->ai_addrlen >= sizeof a->u.in6) {
      memcpy(&a->u.in6, p->ai_addr, sizeof a->u.in6);
      a->u.in6.sin6_port = htons((uint16_t)lk->port);
      a->len = sizeof a->u.in6;
      i++;
    }
  }
  l->count = i;
  return weft_ptr(l, weft_address_list_free);
}

/* ---- c-ares' sockets and timer on the reactor ---- */

static void settle(lookup *lk);

static void on_sock(weft__io *io, unsigned revents) {
  sock_watch *w = (sock_watch *)io;
  lookup *lk = w->lk;
  ares_socket_t fd = io->fd;
  /* c-ares may close this socket (and so free w) inside the call: nothing of w is used after */
  ares_socket_t rfd = (revents & WEFT__READ) ? fd : ARES_SOCKET_BAD;
  ares_socket_t wfd = (revents & WEFT__WRITE) ? fd : ARES_SOCKET_BAD;
  ares_process_fd(lk->ch, rfd, wfd);
  settle(lk);
}

/* ARES_OPT_SOCK_STATE_CB: c-ares says what it wants from fd; nothing means it is closing it. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable) {
  lookup *lk = data;
  weft_reactor *r = lk->res->r;
  sock_watch **pp = &lk->socks;
  while (*pp && (*pp)->io.fd != fd) pp = &(*pp)->next;
  sock_watch *w = *pp;
  unsigned events = (readable ? WEFT__READ : 0u) | (writable ? WEFT__WRITE : 0u);
  if (!events) {
    if (w) {
      *pp = w->next;
      weft__io_stop(r, &w->io);
      weft__free(w);
    }
    return;
  }
  if (!w) {
    if (!(w = weft__calloc(1, sizeof *w))) return; /* the query then times out */
    w->io.fd = fd;
    w->io.cb = on_sock;
    w->lk = lk;
    w->next = lk->socks;
    lk->socks = w;
  }
  if (weft__io_set(r, &w->io, events) != 0)
    weft_log_emit(weft_reactor_log(r), WEFT_LOG_WARN, "weft.dns", "cannot watch a c-ares socket for {host}",
                  WEFT_LOG_STR("host", lk->host), WEFT_LOG_END);
}

static void on_timer(void *arg) {
  lookup *lk = arg;
  lk->timer = NULL;
  ares_process_fd(lk->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* handles what timed out */
  settle(lk);
}

/* Keeps the timer at c-ares' next deadline (rounded up a millisecond, so it does not fire just
 * before the deadline and spin). */
static void arm_timer(lookup *lk) {
  struct timeval tv;
  if (!ares_timeout(lk->ch, NULL, &tv)) {
    if (lk->timer) weft_delayed_call_cancel(lk->timer);
    lk->timer = NULL;
    return;
  }
  double delay = (double)tv.tv_sec + (double)tv.tv_usec / 1e6 + 0.001;
  if (lk->timer) weft_delayed_call_reset(lk->timer, delay);
  else lk->timer = weft_reactor_call_later(lk->res->r, delay, on_timer, lk);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai) {
  (void)timeouts;
  lookup *lk = arg;
  if (lk->done || lk->cancelled) {
    if (ai) ares_freeaddrinfo(ai);
    return;
  }
  lk->done = true;
  lk->status = status;
  lk->ai = ai;
}

/* ---- lifetime of a lookup ---- */

/* Destroys the channel (closing its sockets through sock_state) and frees lk; returns its
 * Deferred reference. */
static weft_deferred *release(lookup *lk) {
  weft_resolver *res = lk->res;
  lk->cancelled = true;
  if (lk->ch) ares_destroy(lk->ch);
  while (lk->socks) { /* c-ares closed them all; this is only a safety net */
    sock_watch *w = lk->socks;
    lk->socks = w->next;
    weft__io_stop(res->r, &w->io);
    weft__free(w);
  }
  if (lk->timer) weft_delayed_call_cancel(lk->timer);
  if (lk->ai) ares_freeaddrinfo(lk->ai);
  if (lk->prev) lk->prev->next = lk->next;
  else res->lookups = lk->next;
  if (lk->next) lk->next->prev = lk->prev;
  res->pending--;
  weft__handle_unref(res->r);
  weft_deferred *d = lk->d;
  weft__free(lk);
  return d;
}

/* After every call into c-ares: finish the lookup if it is done, else follow its deadline. */
static void settle(lookup *lk) {
  if (!lk->done) {
    arm_timer(lk);
    return;
  }
  weft_value v = outcome(lk);
  weft_deferred *d = release(lk);
  weft_deferred_callback(d, v);
  weft_deferred_unref(d);
}

static void cancel_lookup(weft_deferred *d, void *arg) {
  (void)d;
  weft_deferred_unref(release(arg)); /* d then fails with WEFT_ECANCELED */
}

/* A channel for lk: the resolver's options, lk's socket callback, resolv.conf for the rest. */
static int open_channel(weft_resolver *res, lookup *lk, ares_channel *out) {
  struct ares_options ao;
  memset(&ao, 0, sizeof ao);
  int mask = ARES_OPT_SOCK_STATE_CB;
  ao.sock_state_cb = sock_state;
  ao.sock_state_cb_data = lk;
  if (res->o.timeout > 0) {
    double ms = res->o.timeout * 1000;
    ao.timeout = ms > 2e9 ? 2000000000 : ms < 1 ? 1 : (int)ms;
    mask |= ARES_OPT_TIMEOUTMS;
  }
  if (res->o.tries > 0) {
    ao.tries = res->o.tries;
    mask |= ARES_OPT_TRIES;
  }
  int st = ares_init_options(out, &ao, mask);
  if (st != ARES_SUCCESS) return st;
  if (res->servers && (st = ares_set_servers_ports_csv(*out, res->servers)) != ARES_SUCCESS) {
    ares_destroy(*out);
    *out = NULL;
  }
  return st;
}

/* ---- public ---- */

/* c-ares' global initialisation is not thread-safe and is cheap to keep: done once per process,
 * whichever reactor's thread comes first, and never undone. */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;
static void library_init(void) { library_status = ares_library_init(ARES_LIB_INIT_ALL); }

int weft_resolver_new(weft_resolver **out, weft_reactor *r, const weft_resolver_options *o) {
  *out = NULL;
  weft_resolver *res = weft__calloc(1, sizeof *res);
  if (!res) return WEFT_ENOMEM;
  res->r = r;
  if (o) res->o = *o;
  else weft_resolver_options_init(&res->o);
  if (res->o.servers && !(res->servers = weft__strdup(res->o.servers))) {
    weft__free(res);
    return WEFT_ENOMEM;
  }
  res->o.servers = NULL;
  pthread_once(&library_once, library_init);
  int st = library_status;
  /* a trial channel checks the options once, so a bad servers string fails here, not later */
  lookup probe = {.res = res};
  ares_channel ch = NULL;
  if (st == ARES_SUCCESS && (st = open_channel(res, &probe, &ch)) == ARES_SUCCESS) ares_destroy(ch);
  if (st != ARES_SUCCESS) {
    if (st != ARES_EBADSTR && st != ARES_ENOMEM) /* those two are the caller's to report */
      weft_log_emit(weft_reactor_log(r), WEFT_LOG_ERROR, "weft.dns", "cannot set up c-ares: {why}",
                    WEFT_LOG_STR("why", ares_strerror(st)), WEFT_LOG_END);
    weft__free(res->servers);
    weft__free(res);
    return st == ARES_ENOMEM ? WEFT_ENOMEM : st == ARES_EBADSTR ? WEFT_EINVAL : WEFT_EDNS;
  }
  weft__handle_ref(r);
  *out = res;
  return 0;
}

void weft_resolver_free(weft_resolver *res) {
  if (!res) return;
  while (res->lookups) weft_deferred_cancel(res->lookups->d);
  weft__handle_unref(res->r);
  weft__free(res->servers);
  weft__free(res);
}

static weft_deferred *fail_now(weft_resolver *res, int code, const char *host) {
  weft_failure *f = code == WEFT_EINVAL && host && *host ? lookup_failure(host, code, ARES_SUCCESS)
                                                        : weft_failure_from_error(code);
  return weft_fail(weft_reactor_log(res->r), f);
}

/* An IP address literal is its own answer: no channel, no query (c-ares 1.18 would still ask the
 * name servers for some literals). */
static weft_deferred *numeric_answer(weft_resolver *res, const char *host, const weft_address *a, int family) {
  weft_log_publisher *log = weft_reactor_log(res->r);
  if (family != AF_UNSPEC && family != weft_address_family(a))
    return weft_fail(log, weft_failure_new(WEFT_DNS_DOMAIN, WEFT_ENOTFOUND,
                                           "could not resolve \"%s\": an address of the other family", host));
  weft_address_list *l;
  if (weft_address_list_new(&l, 1)) return NULL;
  l->addrs[0] = *a;
  return weft_succeed(log, weft_ptr(l, weft_address_list_free));
}

weft_deferred *weft_resolve(weft_resolver *res, const char *host, int port, int family) {
  if (!host || !*host || port < 0 || port > 65535 ||
      (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
    return fail_now(res, WEFT_EINVAL, host);
  weft_address numeric;
  if (weft_address_from_ip(&numeric, host, port) == 0) return numeric_answer(res, host, &numeric, family);
  size_t hlen = strlen(host);
  lookup *lk = weft__calloc(1, sizeof *lk + hlen + 1);
  if (!lk) return NULL;
  memcpy(lk->host, host, hlen + 1);
  lk->res = res;
  lk->port = port;
  int st = open_channel(res, lk, &lk->ch);
  if (st != ARES_SUCCESS) {
    weft__free(lk);
    return fail_now(res, map_status(st), host);
  }
  if (!(lk->d = weft_deferred_new_cancellable(weft_reactor_log(res->r), cancel_lookup, lk))) {
    ares_destroy(lk->ch);
    weft__free(lk);
    return NULL;
  }
  weft_deferred *mine = weft_deferred_ref(lk->d); /* taken first: the lookup may finish at once */
  lk->next = res->lookups;
  if (lk->next) lk->next->prev = lk;
  res->lookups = lk;
  res->pending++;
  weft__handle_ref(res->r);
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM; /* one entry per address, not one per socket type */
  ares_getaddrinfo(lk->ch, host, NULL, &hints, on_addrinfo, lk);
  settle(lk); /* /etc/hosts answers inside ares_getaddrinfo */
  return mine;
}

static weft_deferred *resolve_fn(void *user, const char *host, int port, int family) {
  return weft_resolve(user, host, port, family);
}

weft_name_resolver weft_resolver_name_resolver(weft_resolver *res) {
  return (weft_name_resolver){.resolve = resolve_fn, .user = res};
}

size_t weft_resolver_pending(const weft_resolver *res) { return res ? res->pending : 0; }
