/* endpoint.h: server endpoints described by strings (twisted.internet.endpoints.serverFromString).
 *
 * A description names a transport and its arguments, separated by colons:
 *
 *   tcp:PORT[:interface=ADDR][:backlog=N]      tcp:8000, tcp:0:interface=127.0.0.1
 *   tcp:port=PORT[:interface=ADDR][:backlog=N] (every argument also has a keyword form)
 *   unix:PATH[:mode=0660][:backlog=N]          unix:/run/app.sock, unix:address=/run/app.sock
 *
 * Arguments are positional (in the order shown: tcp takes port, interface, backlog; unix takes
 * address, mode, backlog) or keyword=value, in any mix; giving one twice is an error. A backslash
 * makes the next character literal, so a colon or '=' inside a value is written "\:" or "\=":
 * "tcp:80:interface=\:\:1" listens on ::1, "unix:/tmp/a\:b" on the path "/tmp/a:b". A unix
 * path starting with '@' is a Linux abstract name.
 *
 * The endpoint types sit in one table (tcp, unix); later ones (ssl, systemd, and the client
 * endpoints of clientFromString) are added there and share the tokenizer. */
#ifndef WEFT_ENDPOINT_H
#define WEFT_ENDPOINT_H

#include <stddef.h>

#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_server_endpoint weft_server_endpoint;

/* Parses desc into a new endpoint (*out, owned by the caller: free it with
 * weft_server_endpoint_free). Nothing is opened or resolved; only the syntax and the values are
 * checked (ports 0..65535, a numeric interface address, an octal mode, a path that fits a
 * sockaddr_un). Returns 0, WEFT_ENOMEM, or WEFT_EPARSE with *out set to NULL and a one-line
 * message naming the bad part written to err (always NUL-terminated, truncated to errlen; err may
 * be NULL when errlen is 0), for example:
 *   bad endpoint "tcp:70000": port must be 0..65535
 *   unknown endpoint type "foo" in "foo:1"
 *   unknown option "bogus" for tcp in "tcp:80:bogus=1" */
int weft_server_endpoint_parse(weft_server_endpoint **out, const char *desc, char *err, size_t errlen);

/* Starts listening as e describes (Twisted's IStreamServerEndpoint.listen, without a Deferred:
 * the port is open when this returns). f is borrowed and must outlive the port, as for
 * weft_tcp_listen. e is only read and may be freed or reused afterwards. On success *out is the
 * new port (close it with weft_listening_port_close; weft_listening_port_address gives the real
 * port when 0 was asked). Returns 0 or the error of weft_tcp_listen / weft_unix_listen
 * (WEFT_EADDRINUSE, WEFT_EACCES, ...). */
int weft_server_endpoint_listen(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f,
                                weft_listening_port **out);

/* Writes the endpoint back as a canonical description into buf (always NUL-terminated):
 * the first argument positional, the others that were given as keywords, special characters
 * escaped, so the result parses to the same endpoint ("tcp:80:interface=\:\:1:backlog=50",
 * "unix:/tmp/a\:b:mode=0660"). Returns 0 or WEFT_ENOSPC when buf is too small. */
int weft_server_endpoint_describe(const weft_server_endpoint *e, char *buf, size_t size);

/* The endpoint's type as written in the table: "tcp" or "unix". The string is static. */
const char *weft_server_endpoint_type(const weft_server_endpoint *e);

/* Frees an endpoint from weft_server_endpoint_parse; NULL is allowed. Ports it opened live on. */
void weft_server_endpoint_free(weft_server_endpoint *e);

#ifdef __cplusplus
}
#endif
#endif
