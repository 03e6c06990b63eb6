/* endpoint.h: server and client endpoints described by strings (twisted.internet.endpoints:
 * serverFromString, clientFromString, and the endpoint plugins that add types by prefix).
 *
 * A description names a type and its arguments, separated by colons. Arguments are positional
 * (in the order shown) or keyword=value, in any mix; giving one twice is an error. A backslash
 * makes the next character literal, so a colon or '=' inside a value is written "\:" or "\=":
 * "tcp:80:interface=\:\:1" listens on ::1, "unix:/tmp/a\:b" on the path "/tmp/a:b".
 *
 * Server types (weft_server_endpoint_parse):
 *   tcp:PORT[:interface=ADDR][:backlog=N][:reuseport=yes]
 *        every interface, dual stack ("::" taking IPv4 too) when no interface is named
 *   tcp6:PORT[:interface=ADDR][:backlog=N][:reuseport=yes]
 *        IPv6 only (IPV6_V6ONLY); the interface, default "::", must be an IPv6 address
 *   unix:PATH[:mode=0660][:backlog=N][:lockfile=1]
 *        '@name' is a Linux abstract name. lockfile=1 holds an flock on PATH.lock while listening,
 *        so two servers never fight over the socket: the second fails with "address already in
 *        use" and the holder may replace whatever socket file it finds. (Twisted defaults
 *        lockfile to on; weft defaults it to off and replaces only a socket nothing answers on.)
 *   systemd:domain=INET|INET6|UNIX:index=N     or   systemd:domain=INET:name=NAME
 *        socket activation: the N-th descriptor systemd passed (fd 3 + N, LISTEN_FDS counting
 *        them, LISTEN_PID naming this process), or the one called NAME in LISTEN_FDNAMES. The
 *        socket must be a listening stream socket of that domain.
 *   fd:N
 *        adopts descriptor N, which must be a listening stream socket (TCP or Unix).
 *   ssl:PORT:privateKey=KEY[:certKey=CERT][:interface=ADDR][:backlog=N][:extraCertChain=FILE]
 *        [:dhParameters=FILE]      (tls: is the same)
 *        TCP with TLS terminated by weft (tls.h): KEY and CERT are PEM files (CERT defaults to
 *        KEY: one file holding both, as in Twisted); extraCertChain adds chain certificates.
 *        dhParameters is accepted for Twisted's strings but not read: OpenSSL 3 chooses its own
 *        Diffie-Hellman groups (RFC 7919). The application's protocol sees plaintext; its
 *        connection_made comes once the handshake has completed.
 *   Keyword names of the positional arguments: tcp/tcp6 port, interface, backlog, reuseport;
 *   unix address, mode, backlog, lockfile; systemd domain, index, name; fd fileno; ssl/tls port,
 *   privateKey, certKey, interface, backlog, extraCertChain, dhParameters (Twisted's order without
 *   its obsolete sslmethod).
 *   Booleans are yes/no, true/false or 1/0.
 *
 * Client types (weft_client_endpoint_parse), with Twisted's clientFromString names:
 *   tcp:host=HOST:port=PORT[:timeout=SECONDS][:bindAddress=ADDR]    also positional tcp:HOST:PORT
 *   unix:path=PATH[:timeout=SECONDS]                                also positional unix:PATH
 *   tls:host=HOST:port=PORT[:timeout=S][:bindAddress=A][:certificate=CERT][:privateKey=KEY]
 *       [:trustRoots=CA]                                            also positional tls:HOST:PORT
 *        TCP with TLS: the server's certificate is verified for HOST (a name, or an address as an
 *        address) against trustRoots (a PEM file, or a directory in OpenSSL's hashed layout) or
 *        else the system's trust store; certificate/privateKey are a client certificate for
 *        mutual TLS. The Deferred fires once the handshake has completed; a verification failure
 *        is its Failure (WEFT_ETLSUNKNOWNCA, WEFT_ETLSHOSTNAME, ... with OpenSSL's detail).
 *   HOST is a numeric IPv4 or IPv6 address (write the colons of IPv6 as "\:") or a host name.
 *   A host name is resolved with weft's c-ares resolver (/etc/hosts first) and connected with
 *   Happy Eyeballs (hostname.h): attempts interleave IPv6 and IPv4, 250 ms apart, the first to
 *   connect wins; timeout= bounds the whole connect, resolution included.
 *
 * Plugins: weft_endpoint_register_server/_client add types by prefix (see below).
 *
 * Layering: endpoints sit in the net layer but return Deferreds (async layer), as Twisted's do;
 * nothing in the async layer depends on net, so the two stay acyclic. */
#ifndef WEFT_ENDPOINT_H
#define WEFT_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/deferred.h"
#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_server_endpoint weft_server_endpoint;
typedef struct weft_client_endpoint weft_client_endpoint;

/* ---- server endpoints (Twisted's IStreamServerEndpoint) ---- */

/* Parses desc into a new endpoint (*out, owned by the caller: free it with
 * weft_server_endpoint_free). Nothing is opened; only the syntax and the values are checked
 * (ports 0..65535, numeric interface addresses, an octal mode, a path that fits a sockaddr_un,
 * ...). Returns 0, WEFT_ENOMEM, or WEFT_EPARSE with *out set to NULL and a one-line message
 * naming the bad part written to err (always NUL-terminated, truncated to errlen; err may be NULL
 * when errlen is 0), for example:
 *   bad endpoint "tcp:70000": port must be 0..65535
 *   unknown endpoint type "foo" in "foo:1"
 *   unknown option "bogus" for tcp in "tcp:80:bogus=1" */
int weft_server_endpoint_parse(weft_server_endpoint **out, const char *desc, char *err, size_t errlen);

/* Starts listening as e describes (Twisted's listen). Returns a Deferred (one reference for the
 * caller) that fires with the listening port: a WEFT_VALUE_PTR whose v.p is the
 * weft_listening_port* and whose destroy closes it. Ownership follows the Deferred's rule: the
 * step that receives the value owns the port; to keep it, store v.p and do not release the value
 * (close it later with weft_listening_port_close or weft_listening_port_stop); a result nobody
 * takes (the Deferred freed holding it, or weft_value_release) closes the port, so an ignored
 * listen never leaks a socket. The built-in types listen at once, so the Deferred has fired when
 * this returns (as Twisted's endpoints do); a plugin's may fire later. Cancelling an unfired
 * Deferred is passed to the plugin's Deferred; on a fired one it does nothing.
 * f is borrowed and must outlive the port (for ssl: also the handshakes it started), as for
 * weft_tcp_listen. e is only read and may be
 * freed or reused as soon as this returns.
 * On failure the Deferred fails with a Failure of domain WEFT_FAILURE_DOMAIN, the error as code
 * (WEFT_EADDRINUSE, WEFT_EACCES, WEFT_ENOENT for a missing systemd socket, WEFT_EINVAL for a
 * descriptor that is not a listening socket, ...) and a message naming the endpoint:
 *   cannot listen on tcp:8080:interface=127.0.0.1: address already in use
 * Returns NULL only when out of memory. */
weft_deferred *weft_server_endpoint_listen(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f);

/* Stops listening (Twisted's IListeningPort.stopListening): the socket is closed at once, so no
 * further connection is accepted, while the connections the port accepted live on untouched.
 * Frees p (as weft_listening_port_close, whose rules apply: safe inside the port's own
 * build_protocol). Returns a Deferred (one reference for the caller) that fires with NONE once
 * the port has stopped: for weft's ports that is before this returns. NULL only when out of
 * memory (the port is stopped anyway). */
weft_deferred *weft_listening_port_stop(weft_listening_port *p);

/* Writes the endpoint back as a canonical description into buf (always NUL-terminated), special
 * characters escaped, so the result parses to the same endpoint ("tcp:80:interface=\:\:1",
 * "unix:/tmp/a\:b:mode=0660", "systemd:domain=INET:index=0"). Returns 0 or WEFT_ENOSPC when buf
 * is too small. */
int weft_server_endpoint_describe(const weft_server_endpoint *e, char *buf, size_t size);

/* The endpoint's type ("tcp", "tcp6", "unix", "systemd", "fd", "ssl", "tls", or a plugin's prefix). The string
 * lives as long as e. */
const char *weft_server_endpoint_type(const weft_server_endpoint *e);

/* Frees an endpoint from weft_server_endpoint_parse; NULL is allowed. Ports it opened live on. */
void weft_server_endpoint_free(weft_server_endpoint *e);

/* ---- client endpoints (Twisted's IStreamClientEndpoint) ---- */

/* Parses desc into a new client endpoint, as weft_server_endpoint_parse (same errors, same
 * message style). Host names are accepted here; see the note on host names above. */
int weft_client_endpoint_parse(weft_client_endpoint **out, const char *desc, char *err, size_t errlen);

/* Connects as e describes (Twisted's connect). f->build_protocol makes the protocol when the
 * connection is up; then its connection_made runs, then the Deferred (one reference for the
 * caller) fires with the protocol's user pointer: a WEFT_VALUE_PTR with destroy NULL whose v.p
 * is the weft_protocol.user build_protocol returned (Twisted fires with the protocol instance).
 * It is borrowed: the protocol owns it, and it is valid until the protocol's connection_lost
 * returns (for tls: the TLS transport's protocol). f is borrowed and must live until the
 * Deferred has fired. f->connection_failed is not
 * called: failures arrive as the Deferred's Failure (domain WEFT_FAILURE_DOMAIN; code
 * WEFT_ECONNREFUSED, WEFT_ETIMEDOUT, WEFT_ENOENT, the error build_protocol returned, WEFT_ENOTFOUND
 * or WEFT_EDNS for a name that does not resolve, ...; message "cannot connect to DESCRIPTION:
 * REASON", where for a host name REASON lists every address tried).
 * Cancelling the Deferred before it fires aborts the attempt: the socket is closed at once and
 * the Deferred fails with WEFT_ECANCELED; no protocol is built. (On the test kit's memory reactor
 * the attempt is only recorded, so cancelling fails the Deferred but the record stays until the
 * test drives it.) Returns NULL only when out of memory. */
weft_deferred *weft_client_endpoint_connect(const weft_client_endpoint *e, weft_reactor *r, const weft_factory *f);

/* As weft_server_endpoint_describe: "tcp:host=127.0.0.1:port=80:timeout=5", "unix:path=/x". */
int weft_client_endpoint_describe(const weft_client_endpoint *e, char *buf, size_t size);

/* "tcp", "unix", "tls", or a plugin's prefix; lives as long as e. */
const char *weft_client_endpoint_type(const weft_client_endpoint *e);

/* Frees a client endpoint; NULL is allowed. Connections made through it live on. */
void weft_client_endpoint_free(weft_client_endpoint *e);

/* ---- plugins: endpoint types added by applications (Twisted's endpoint plugins) ----
 *
 * An application adds its own type by registering a prefix with a parse function and a listen
 * (server) or connect (client) function. Descriptions starting with "PREFIX:" (or just "PREFIX")
 * then parse through the plugin: weft tokenizes and unescapes the arguments, the plugin checks
 * them and makes its state. The registry is per process, guarded by a mutex: registering,
 * unregistering and parsing are safe from any thread. A parsed endpoint keeps its own copy of the
 * plugin's table, so unregistering affects only later parses; the plugin's functions and user
 * pointer must stay valid while endpoints parsed through it exist. */

/* One argument of a description, unescaped: key is NULL for a positional one. */
typedef struct weft_endpoint_arg {
  const char *key;
  const char *value;
} weft_endpoint_arg;

/* What a plugin's parse gets: the whole description (for messages), the prefix, and the
 * arguments after it in order. Everything is borrowed for the duration of the call only. */
typedef struct weft_endpoint_args {
  const char *desc;
  const char *type;
  const weft_endpoint_arg *v;
  size_t n;
} weft_endpoint_args;

/* The value of the last keyword argument named key, or NULL. */
const char *weft_endpoint_args_get(const weft_endpoint_args *a, const char *key);

typedef struct weft_server_endpoint_plugin {
  /* Checks args and makes the endpoint's state (*state, may stay NULL). Returns 0; WEFT_EPARSE
   * with a reason in why (weft prefixes it: bad endpoint "DESC": WHY); or another WEFT_E*. */
  int (*parse)(void **state, const weft_endpoint_args *args, char *why, size_t whylen, void *user);
  /* Required. Listens; returns a Deferred (one reference) that should fire as the built-ins' do:
   * with a weft_listening_port* whose destroy closes it (typically from listening on a built-in
   * endpoint or weft_tcp_listen), or a Failure. NULL means out of memory. */
  weft_deferred *(*listen)(void *state, weft_reactor *r, const weft_factory *f, void *user);
  /* Optional: frees the state (when not NULL) when the endpoint is freed. A parse that fails
   * must leave *state NULL or free it itself. */
  void (*free_state)(void *state, void *user);
  void *user;
} weft_server_endpoint_plugin;

typedef struct weft_client_endpoint_plugin {
  int (*parse)(void **state, const weft_endpoint_args *args, char *why, size_t whylen, void *user);
  /* Required. Connects; the Deferred should fire as weft_client_endpoint_connect's does. */
  weft_deferred *(*connect)(void *state, weft_reactor *r, const weft_factory *f, void *user);
  void (*free_state)(void *state, void *user);
  void *user;
} weft_client_endpoint_plugin;

/* Registers prefix (copied; letters, digits, '-', '_', '+', '.'; at most 31 bytes) for server
 * (or client) descriptions with the plugin's table (copied). Returns 0, WEFT_EINVAL (bad prefix,
 * or listen/connect missing), WEFT_EEXIST (a built-in type or a registered plugin has it), or
 * WEFT_ENOMEM. */
int weft_endpoint_register_server(const char *prefix, const weft_server_endpoint_plugin *p);
int weft_endpoint_register_client(const char *prefix, const weft_client_endpoint_plugin *p);

/* Removes a registered prefix. Returns 0 or WEFT_ENOENT. */
int weft_endpoint_unregister_server(const char *prefix);
int weft_endpoint_unregister_client(const char *prefix);

/* True if name is a server (client) endpoint type: built in or registered. */
bool weft_server_endpoint_type_known(const char *name);
bool weft_client_endpoint_type_known(const char *name);

#ifdef __cplusplus
}
#endif
#endif
