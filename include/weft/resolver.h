/* resolver.h: asynchronous host name resolution (Twisted's IResolverSimple / IHostnameResolver
 * and the reactor's nameResolver).
 *
 * Two pieces:
 * - weft_name_resolver: the interface anything that turns a host name into addresses implements
 *   (a function pointer and a user pointer). weft_hostname_connect (hostname.h) takes one, so a
 *   test or an application can plug in its own (a fake with fixed answers, a cache, DoH, ...).
 * - weft_resolver: the default implementation, c-ares driven by the reactor. Each c-ares socket
 *   is an ordinary reactor watcher and c-ares' timeouts are a reactor timer, so a lookup costs no
 *   thread and no blocking call. /etc/hosts is read first ("files" before "dns", as in
 *   nsswitch.conf), then the name servers, search domains and options of /etc/resolv.conf
 *   (re-read for every lookup, so edits take effect as they do with the C library). A numeric
 *   host ("127.0.0.1", "::1") resolves at once, without any query.
 *
 * Failures of resolution are in the domain WEFT_DNS_DOMAIN ("weft.dns") and always name the host:
 *   weft.dns/-4020: could not resolve "nonexistent.invalid": host name not found
 *     (c-ares: Domain name not found)
 * with these codes (c-ares' status is in the message):
 *   WEFT_ENOTFOUND      the name does not exist or has no address of the family asked
 *                       (ARES_ENOTFOUND, ARES_ENODATA, ARES_ENONAME)
 *   WEFT_ETIMEDOUT      no name server answered in time (ARES_ETIMEOUT)
 *   WEFT_ECONNREFUSED   the name servers refused the connection (ARES_ECONNREFUSED)
 *   WEFT_EDNS           a name server failed, refused the query or answered nonsense
 *                       (ARES_ESERVFAIL, ARES_EREFUSED, ARES_EFORMERR, ARES_EBADRESP, ...)
 *   WEFT_EINVAL         a malformed name or family (ARES_EBADNAME, ARES_EBADFAMILY, ...)
 *   WEFT_ENOMEM         out of memory
 *   WEFT_ECANCELED      the lookup was cancelled (weft_deferred_cancel, weft_resolver_free);
 *                       this one is in WEFT_FAILURE_DOMAIN, as every cancellation is. */
#ifndef WEFT_RESOLVER_H
#define WEFT_RESOLVER_H

#include <stddef.h>

#include "weft/address.h"
#include "weft/deferred.h"
#include "weft/reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Failure domain of resolution errors. */
#define WEFT_DNS_DOMAIN "weft.dns"

/* ---- the result: a list of addresses ---- */

/* What a resolution fires with: a WEFT_VALUE_PTR whose destroy is weft_address_list_free. One
 * allocation: addrs points just past the struct. Each address is an IPv4 or IPv6 socket address
 * with the port asked set, in the order to try them (for weft_resolver: RFC 6724's order as
 * c-ares sorts it, which puts the family with a working route first). count >= 1: an empty
 * answer is a WEFT_ENOTFOUND Failure instead. */
typedef struct weft_address_list {
  size_t count;
  weft_address *addrs;
} weft_address_list;

/* Allocates a list of count zeroed addresses (for resolvers of one's own: fill addrs[0..count)).
 * Returns 0 or WEFT_ENOMEM (then *out is NULL). */
int weft_address_list_new(weft_address_list **out, size_t count);

/* Frees a list (the destroy function of the PTR value). NULL is ignored. */
void weft_address_list_free(void *list);

/* ---- the interface ---- */

/* A name resolver: resolve(user, host, port, family) starts looking host up and returns a new
 * Deferred (one reference, the caller's) firing with a weft_address_list (as above) or a
 * Failure naming host. family is AF_UNSPEC (both), AF_INET or AF_INET6; port (0..65535) goes
 * into every address. The Deferred may have fired already when resolve returns (a cache, a
 * numeric host). It must be cancellable: cancelling stops the lookup and releases what it held,
 * and no callback follows. Returning NULL counts as WEFT_ENOMEM. host is borrowed for the call. */
typedef struct weft_name_resolver {
  weft_deferred *(*resolve)(void *user, const char *host, int port, int family);
  void *user;
} weft_name_resolver;

/* ---- c-ares, on the reactor ---- */

typedef struct weft_resolver weft_resolver;

typedef struct weft_resolver_options {
  /* Seconds to wait for an answer before trying again or the next server; <= 0: resolv.conf's
   * "options timeout:" or c-ares' default (5 s). */
  double timeout;
  /* Queries sent per server before giving up; <= 0: resolv.conf's "attempts:" or c-ares'
   * default (4). A bounded lookup: timeout 0.5, tries 1. */
  int tries;
  /* Name servers to use instead of resolv.conf's, as "ip[:port],..." ("127.0.0.1:5353",
   * "[::1]:53,8.8.8.8"); NULL: resolv.conf's. Copied. */
  const char *servers;
} weft_resolver_options;

/* Fills the defaults (everything from the system's configuration). */
void weft_resolver_options_init(weft_resolver_options *o);

/* Creates a resolver on r (o may be NULL: the defaults). It is an open handle of r until
 * weft_resolver_free. Returns 0, WEFT_ENOMEM, WEFT_EINVAL (a servers string c-ares cannot parse),
 * or WEFT_EDNS when c-ares cannot be initialised (it reports why in the log). */
int weft_resolver_new(weft_resolver **out, weft_reactor *r, const weft_resolver_options *o);

/* Frees the resolver. Lookups still pending are cancelled first: their Deferreds fail with
 * WEFT_ECANCELED (so their errbacks run inside this call; they must not use res). NULL is
 * ignored. */
void weft_resolver_free(weft_resolver *res);

/* Resolves host (a name, looked up in /etc/hosts and then DNS, or a numeric IPv4/IPv6 address,
 * "[::1]" brackets allowed, answered at once without c-ares; a literal of the other family than
 * asked is WEFT_ENOTFOUND) for port (0..65535) and family (AF_UNSPEC, AF_INET or AF_INET6). Returns a
 * new Deferred (the caller's reference; it may have fired already) firing with a
 * weft_address_list or a weft.dns Failure naming host (see the top of this file). Cancelling it
 * stops the lookup at once: c-ares' sockets are closed, its timer stopped, and nothing follows.
 * Bad arguments (NULL or empty host, port out of range, another family) give an already failed
 * Deferred (WEFT_EINVAL). Returns NULL only when out of memory. host is copied. */
weft_deferred *weft_resolve(weft_resolver *res, const char *host, int port, int family);

/* res as the interface (user is res; valid as long as res). */
weft_name_resolver weft_resolver_name_resolver(weft_resolver *res);

/* Number of lookups in flight, for tests and metrics. */
size_t weft_resolver_pending(const weft_resolver *res);

#ifdef __cplusplus
}
#endif
#endif
