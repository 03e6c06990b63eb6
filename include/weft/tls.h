/* tls.h: TLS as a protocol wrapper over any transport (twisted.protocols.tls.TLSMemoryBIOProtocol,
 * with the contexts of twisted.internet.ssl).
 *
 * A TLS transport is a weft_transport layered on a lower one: the application writes plaintext to
 * it, TLS writes ciphertext to the lower transport, and what the lower one receives is decrypted
 * and handed to the application's data_received. So the same code serves TCP, Unix sockets, pipes
 * or the test kit's string transport, and the application never knows it is encrypted.
 *
 * Three ways in:
 *   - weft_tls_wrap_factory: a factory for weft_tcp_listen / weft_tcp_connect (or any port or
 *     connector) that speaks TLS around the application's own factory;
 *   - weft_tls_start: switch a live plaintext connection to TLS (STARTTLS), as client or server;
 *   - both take a context (weft_tls_server_context_new / weft_tls_client_context_new), whose kind
 *     decides the role: a server context accepts handshakes, a client context starts them.
 *
 * The application protocol's connection_made is called once the handshake has completed, so
 * weft_tls_get_info already tells the negotiated ALPN protocol, version and peer there. A
 * handshake that fails (verification, protocol, the peer leaving) never reaches the application
 * factory: a client factory gets connection_failed(reason), a server logs it at info level in the
 * "weft.tls" namespace. Reasons (connection_lost, connection_failed) in the TLS space:
 *   WEFT_ETLSEXPIRED, WEFT_ETLSUNKNOWNCA, WEFT_ETLSHOSTNAME, WEFT_ETLSNOCERT, WEFT_ETLSVERIFY
 *     the peer's certificate was not accepted (expired or not yet valid; unknown CA or
 *     self-signed; the name or IP does not match; none sent where one is required; another
 *     verification error);
 *   WEFT_ETLSHANDSHAKE   the handshake failed otherwise (no common version or cipher, the peer sent
 *                        an alert, garbage or a plaintext HTTP request on a TLS port);
 *   WEFT_ETLSPROTOCOL    an error after the handshake (bad record, renegotiation attempt);
 *   WEFT_ETLSTRUNCATED   the peer closed the connection without close_notify;
 *   0                    a clean close: close_notify sent (lose_connection) or received.
 * The detailed text ("certificate has expired (depth 0, CN=localhost)") is in weft_tls_get_info's
 * error field while the transport lives and in weft_tls_last_error() on the thread afterwards.
 *
 * Flow control holds through TLS: a producer registered on the TLS transport is paused while the
 * lower transport's queued ciphertext is above its high-water mark, and while plaintext waiting
 * to be encrypted is above the TLS transport's own mark. lose_connection sends close_notify after
 * everything written, and the lower transport closes once that is flushed.
 *
 * Renegotiation is refused (an attempt ends the connection); TLS 1.2 is the minimum; OpenSSL's
 * default cipher lists apply unless the options name others. */
#ifndef WEFT_TLS_H
#define WEFT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/protocol.h"
#include "weft/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_tls_context weft_tls_context;
typedef struct weft_tls_factory weft_tls_factory;

/* Protocol versions, as on the wire. 0 in an option: OpenSSL's default (TLS 1.2 at least). */
enum { WEFT_TLS_VERSION_1_2 = 0x0303, WEFT_TLS_VERSION_1_3 = 0x0304 };

typedef enum weft_tls_client_cert {
  WEFT_TLS_CLIENT_CERT_NONE = 0, /* do not ask the client for a certificate */
  WEFT_TLS_CLIENT_CERT_OPTIONAL, /* ask; a certificate sent must verify, none is accepted */
  WEFT_TLS_CLIENT_CERT_REQUIRED, /* mutual TLS: a verified certificate is required */
} weft_tls_client_cert;

/* A virtual host: the certificate served when the client's SNI name matches hostname, which is a
 * name ("example.com", compared ignoring case) or a wildcard for one label ("*.example.com"). */
typedef struct weft_tls_sni_cert {
  const char *hostname;
  const char *cert_file; /* PEM: the certificate, then its chain */
  const char *key_file;  /* PEM private key; NULL: in cert_file */
} weft_tls_sni_cert;

typedef struct weft_tls_server_options {
  const char *cert_file;        /* required: PEM, the certificate then its chain (default host) */
  const char *key_file;         /* PEM private key; NULL: in cert_file */
  const char *extra_chain_file; /* more chain certificates (PEM), or NULL */
  const weft_tls_sni_cert *sni; /* certificates chosen by SNI, first match wins */
  size_t sni_count;
  const char *const *alpn;      /* protocols the server accepts, in its order of preference */
  size_t alpn_count;
  weft_tls_client_cert client_cert;
  const char *client_ca_file;   /* PEM CAs client certificates are verified against */
  bool resumption;              /* session tickets and a session cache (default true) */
  int min_version, max_version; /* WEFT_TLS_VERSION_*, 0: defaults (1.2 .. newest) */
  const char *ciphers;          /* TLS 1.2 cipher list (OpenSSL syntax) or NULL: OpenSSL's */
  const char *ciphersuites;     /* TLS 1.3 suites or NULL: OpenSSL's */
} weft_tls_server_options;

typedef struct weft_tls_client_options {
  /* Verify the server's certificate and host name (default true). Against ca_file/ca_dir when
   * given (pinned: the system store is then not used), else the system trust store
   * (SSL_CERT_FILE and SSL_CERT_DIR are honoured). false accepts any certificate: tests only. */
  bool verify;
  const char *ca_file, *ca_dir;
  const char *cert_file, *key_file; /* a client certificate for mutual TLS, or NULL */
  const char *const *alpn;          /* protocols offered, in order */
  size_t alpn_count;
  bool resumption;                  /* resume the last session with the same server name (true) */
  int min_version, max_version;
  const char *ciphers, *ciphersuites;
} weft_tls_client_options;

/* Fill the defaults. */
void weft_tls_server_options_init(weft_tls_server_options *o);
void weft_tls_client_options_init(weft_tls_client_options *o);

/* Makes a context. The options are copied (file names, ALPN lists), the files read now. The
 * caller owns *out and drops it with weft_tls_context_free; connections and factories keep their
 * own reference. A context may be shared by every connection of a process; its parts that change
 * (reload, the client session cache) are locked. Returns 0, WEFT_EINVAL (NULL options, no
 * cert_file for a server, an ALPN name empty or longer than 255 bytes, a bad version),
 * WEFT_ENOMEM, or WEFT_ETLSCONFIG when a file cannot be used or OpenSSL refuses an option (the
 * reason is in weft_tls_last_error()). */
int weft_tls_server_context_new(weft_tls_context **out, const weft_tls_server_options *o);
int weft_tls_client_context_new(weft_tls_context **out, const weft_tls_client_options *o);

/* Reads the certificate, key and CA files again (after a renewal). Live connections keep what
 * they negotiated; handshakes from now on use the new files. Session tickets issued before stay
 * valid. All or nothing: on error the context keeps its current files. Returns 0, WEFT_ENOMEM or
 * WEFT_ETLSCONFIG (see weft_tls_last_error()). */
int weft_tls_context_reload(weft_tls_context *ctx);

/* True for a server context. */
bool weft_tls_context_is_server(const weft_tls_context *ctx);

/* Drops the caller's reference. NULL is ignored. */
void weft_tls_context_free(weft_tls_context *ctx);

/* Makes a factory that wraps inner in TLS, for a listening port (server context) or a connector
 * (client context). server_name (copied; NULL for a server) is what a client sends as SNI and
 * verifies the certificate against: a DNS name, or an IPv4/IPv6 literal, verified as an address
 * and not sent as SNI. inner is borrowed and must outlive the factory and every handshake it
 * started; inner->build_protocol is called once a handshake has completed, with the lower
 * transport's peer. A failed client handshake calls inner->connection_failed(reason), as does a
 * failed connect. start_factory/stop_factory are passed on. Returns 0, WEFT_EINVAL (NULL
 * argument, a client context that verifies without server_name), WEFT_ENOMEM. */
int weft_tls_wrap_factory(weft_tls_factory **out, weft_tls_context *ctx, const char *server_name,
                          const weft_factory *inner);

/* The factory to give to weft_tcp_listen, weft_tcp_connect, ... Valid until weft_tls_factory_free. */
const weft_factory *weft_tls_factory_get(weft_tls_factory *f);

/* Frees the factory once no port listens with it and no attempt is pending with it; connections
 * it made live on. NULL is ignored. */
void weft_tls_factory_free(weft_tls_factory *f);

/* STARTTLS: switches the live connection lower to TLS. From now on lower's protocol is the TLS
 * layer: the protocol lower had gets no further callback (not even connection_lost), so free or
 * reuse its state. Bytes it had written are sent before the handshake. A client context sends its
 * hello at once; a server context waits for the client's. proto (copied) is the application
 * protocol over TLS: its connection_made comes once the handshake has completed; if it fails,
 * connection_lost(reason) comes without connection_made. *out (may be NULL) gets the TLS
 * transport: plaintext written to it before the handshake completes is sent after it; it is valid
 * until proto's connection_lost returns. Call it from anywhere, including the old protocol's
 * data_received (bytes received after that call are TLS). Returns 0, WEFT_EINVAL (NULL argument,
 * no data_received, a client context that verifies without server_name), WEFT_ECLOSED (lower is
 * closing), WEFT_EBUSY (a producer is registered on lower: unregister it first), WEFT_ENOMEM. */
int weft_tls_start(weft_transport **out, weft_transport *lower, weft_tls_context *ctx, const char *server_name,
                   const weft_protocol *proto);

/* What the handshake negotiated. Strings are NUL-terminated, "" when there is nothing. */
typedef struct weft_tls_info {
  bool handshake_done;
  bool resumed;          /* the session was resumed (no full handshake) */
  bool peer_verified;    /* the peer presented a certificate and it verified */
  bool server;           /* this end is the server */
  const char *version;   /* "TLSv1.3", static; "" before the handshake */
  const char *cipher;    /* "TLS_AES_256_GCM_SHA384", static; "" before the handshake */
  char alpn[256];        /* the negotiated application protocol */
  char server_name[256]; /* SNI: sent (client) or received (server) */
  char peer_subject[256];/* the peer certificate's subject, one line (RFC 2253) */
  char error[256];       /* why the connection failed, in detail */
} weft_tls_info;

/* Fills *info for a TLS transport. Returns 0, or WEFT_EINVAL if t is not a TLS transport. */
int weft_tls_get_info(weft_transport *t, weft_tls_info *info);

/* True if t is a TLS transport. */
bool weft_tls_is(const weft_transport *t);

/* The detail of the last TLS failure on the calling thread (a handshake or verification failure,
 * a context that could not be made): "" when there was none. Valid until the next TLS call on the
 * thread. */
const char *weft_tls_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
