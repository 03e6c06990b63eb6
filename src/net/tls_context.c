/* tls_context.c: TLS contexts: certificates, SNI virtual hosts, ALPN, client verification,
 * session resumption and reloading (twisted.internet.ssl CertificateOptions / optionsForClientTLS).
 *
 * A context keeps a copy of its options and builds SSL_CTXs from them; a reload builds a fresh set
 * from the files and swaps it in, so live connections keep the SSL_CTX they started with. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "net/tls_internal.h"
#include "weft/errors.h"

#define SESSION_CACHE_SIZE 32

typedef struct sni_entry {
  char *hostname, *cert_file, *key_file;
} sni_entry;

typedef struct cached_session {
  char *name;
  SSL_SESSION *sess;
} cached_session;

struct weft_tls_context {
  atomic_int refs;
  bool server;
  pthread_mutex_t lock;
  weft__tls_set *cur;
  /* the options, copied */
  char *cert_file, *key_file, *extra_chain_file, *ca_file, *ca_dir, *ciphers, *ciphersuites;
  sni_entry *sni;
  size_t nsni;
  unsigned char *alpn; /* wire format: length-prefixed names */
  size_t alpn_len;
  weft_tls_client_cert client_cert;
  bool verify, resumption;
  int min_version, max_version;
  /* client sessions, by server name; a small ring, enough for the servers one client talks to */
  cached_session cache[SESSION_CACHE_SIZE];
  unsigned cache_next;
};

/* ---- the thread's last error ---- */

static _Thread_local char last_error[256];

const char *weft_tls_last_error(void) { return last_error; }

void weft__tls_set_error_text(const char *s) { snprintf(last_error, sizeof last_error, "%s", s); }

void weft__tls_set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  const char *data = NULL;
  int flags = 0;
  unsigned long e = ERR_peek_error_all(NULL, NULL, NULL, &data, &flags);
  if (e) {
    size_t n = strlen(last_error);
    const char *why = ERR_reason_error_string(e);
    snprintf(last_error + n, sizeof last_error - n, ": %s%s%s", why ? why : "OpenSSL error",
             (flags & ERR_TXT_STRING) && data && *data ? ": " : "", (flags & ERR_TXT_STRING) && data ? data : "");
  }
  ERR_clear_error();
}

/* ---- options ---- */

void weft_tls_server_options_init(weft_tls_server_options *o) {
  memset(o, 0, sizeof *o);
  o->resumption = true;
}

void weft_tls_client_options_init(weft_tls_client_options *o) {
  memset(o, 0, sizeof *o);
  o->verify = true;
  o->resumption = true;
}

static int dup_str(char **out, const char *s) {
  *out = NULL;
  if (!s) return 0;
  size_t n = strlen(s) + 1;
  *out = weft__malloc(n);
  if (!*out) return WEFT_ENOMEM;
  memcpy(*out, s, n);
  return 0;
}

static int copy_alpn(weft_tls_context *c, const char *const *alpn, size_t n) {
  if (n && !alpn) return WEFT_EINVAL;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = alpn[i] ? strlen(alpn[i]) : 0;
    if (len == 0 || len > 255) return WEFT_EINVAL;
    total += 1 + len;
  }
  if (total == 0) return 0;
  if (!(c->alpn = weft__malloc(total))) return WEFT_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(alpn[i]);
    c->alpn[c->alpn_len++] = (unsigned char)len;
    memcpy(c->alpn + c->alpn_len, alpn[i], len);
    c->alpn_len += len;
  }
  return 0;
}

static bool version_ok(int v) { return v == 0 || v == WEFT_TLS_VERSION_1_2 || v == WEFT_TLS_VERSION_1_3; }

/* ---- SSL callbacks ---- */

/* SNI: "*.example.com" matches exactly one label in front of example.com. */
static bool name_matches(const char *pattern, const char *name) {
  if (pattern[0] == '*' && pattern[1] == '.') {
    const char *dot = strchr(name, '.');
    return dot && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
  }
  return strcasecmp(pattern, name) == 0;
}

static int on_servername(SSL *ssl, int *alert, void *arg) {
  (void)alert;
  weft__tls_set *set = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK; /* no SNI: the default certificate */
  for (size_t i = 0; i < set->nsni; i++) {
    if (name_matches(set->owner->sni[i].hostname, name)) {
      SSL_set_SSL_CTX(ssl, set->sni[i]);
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

/* ALPN: the server's order of preference decides; no common protocol means no ALPN at all. */
static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  (void)ssl;
  weft_tls_context *c = arg;
  for (size_t i = 0; i < c->alpn_len; i += 1 + c->alpn[i]) {
    for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
      if (j + 1u + in[j] > inlen) break; /* malformed list: OpenSSL checks, but be safe */
      if (in[j] == c->alpn[i] && memcmp(in + j + 1, c->alpn + i + 1, in[j]) == 0) {
        *out = in + j + 1;
        *outlen = in[j];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  weft__tls_set *set = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  const char *name = weft__tls_conn_name(ssl);
  if (!set || !name) return 0;
  weft_tls_context *c = set->owner;
  char *key;
  if (dup_str(&key, name)) return 0;
  pthread_mutex_lock(&c->lock);
  cached_session *slot = NULL;
  for (size_t i = 0; i < SESSION_CACHE_SIZE && !slot; i++)
    if (c->cache[i].name && strcmp(c->cache[i].name, name) == 0) slot = &c->cache[i];
  if (!slot) slot = &c->cache[c->cache_next++ % SESSION_CACHE_SIZE];
  weft__free(slot->name);
  if (slot->sess) SSL_SESSION_free(slot->sess);
  slot->name = key;
  slot->sess = sess;
  pthread_mutex_unlock(&c->lock);
  return 1; /* we keep the reference */
}

SSL_SESSION *weft__tls_session_get(weft_tls_context *c, const char *name) {
  if (!c->resumption || c->server || !name) return NULL;
  SSL_SESSION *s = NULL;
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < SESSION_CACHE_SIZE; i++) {
    if (c->cache[i].name && strcmp(c->cache[i].name, name) == 0) {
      if (SSL_SESSION_is_resumable(c->cache[i].sess)) {
        s = c->cache[i].sess;
        SSL_SESSION_up_ref(s);
      }
      break;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return s;
}

/* ---- building SSL_CTXs ---- */

static int load_chain_extra(SSL_CTX *x, const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) {
    weft__tls_set_error("cannot open %s", file);
    return WEFT_ETLSCONFIG;
  }
  int n = 0;
  X509 *cert;
  while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
    n++;
    if (!SSL_CTX_add0_chain_cert(x, cert)) {
      X509_free(cert);
      fclose(f);
      weft__tls_set_error("%s: chain certificate refused", file);
      return WEFT_ETLSCONFIG;
    }
  }
  fclose(f);
  ERR_clear_error(); /* the end of the file reads as an error */
  if (n == 0) {
    weft__tls_set_error_text("no certificate in the extra chain file");
    return WEFT_ETLSCONFIG;
  }
  return 0;
}

static int load_identity(SSL_CTX *x, const char *cert, const char *key, const char *extra) {
  if (!SSL_CTX_use_certificate_chain_file(x, cert)) {
    weft__tls_set_error("certificate %s", cert);
    return WEFT_ETLSCONFIG;
  }
  if (extra && load_chain_extra(x, extra)) return WEFT_ETLSCONFIG;
  const char *k = key ? key : cert;
  if (!SSL_CTX_use_PrivateKey_file(x, k, SSL_FILETYPE_PEM)) {
    weft__tls_set_error("private key %s", k);
    return WEFT_ETLSCONFIG;
  }
  if (!SSL_CTX_check_private_key(x)) {
    weft__tls_set_error("private key %s does not match certificate %s", k, cert);
    return WEFT_ETLSCONFIG;
  }
  return 0;
}

/* What every SSL_CTX of a context gets, server or client. */
static int configure_common(weft_tls_context *c, SSL_CTX *x, weft__tls_set *set) {
  SSL_CTX_set_app_data(x, set);
  SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  /* writes come from a chunk queue, may be retried from a new address, and the idle connection
   * should not hold OpenSSL's read and write buffers */
  SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  int minv = c->min_version ? c->min_version : WEFT_TLS_VERSION_1_2;
  if (!SSL_CTX_set_min_proto_version(x, minv) || (c->max_version && !SSL_CTX_set_max_proto_version(x, c->max_version))) {
    weft__tls_set_error_text("protocol version refused");
    return WEFT_ETLSCONFIG;
  }
  if (c->ciphers && !SSL_CTX_set_cipher_list(x, c->ciphers)) {
    weft__tls_set_error("cipher list \"%s\"", c->ciphers);
    return WEFT_ETLSCONFIG;
  }
  if (c->ciphersuites && !SSL_CTX_set_ciphersuites(x, c->ciphersuites)) {
    weft__tls_set_error("TLS 1.3 suites \"%s\"", c->ciphersuites);
    return WEFT_ETLSCONFIG;
  }
  return 0;
}

static int configure_server(weft_tls_context *c, SSL_CTX *x, weft__tls_set *set) {
  int rc = configure_common(c, x, set);
  if (rc) return rc;
  SSL_CTX_set_options(x, SSL_OP_CIPHER_SERVER_PREFERENCE);
  static const unsigned char sid_ctx[] = "weft";
  SSL_CTX_set_session_id_context(x, sid_ctx, sizeof sid_ctx - 1);
  if (!c->resumption) {
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(x, 0);
  }
  SSL_CTX_set_tlsext_servername_callback(x, on_servername);
  SSL_CTX_set_tlsext_servername_arg(x, set);
  if (c->alpn_len) SSL_CTX_set_alpn_select_cb(x, on_alpn_select, c);
  if (c->client_cert != WEFT_TLS_CLIENT_CERT_NONE) {
    int mode = SSL_VERIFY_PEER;
    if (c->client_cert == WEFT_TLS_CLIENT_CERT_REQUIRED) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(x, mode, NULL);
    if (c->ca_file) {
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->ca_file);
      if (!names || !SSL_CTX_load_verify_locations(x, c->ca_file, NULL)) {
        if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
        weft__tls_set_error("client CA file %s", c->ca_file);
        return WEFT_ETLSCONFIG;
      }
      SSL_CTX_set_client_CA_list(x, names);
    }
  }
  return 0;
}

static int configure_client(weft_tls_context *c, SSL_CTX *x, weft__tls_set *set) {
  int rc = configure_common(c, x, set);
  if (rc) return rc;
  if (c->verify) {
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    int ok = c->ca_file || c->ca_dir ? SSL_CTX_load_verify_locations(x, c->ca_file, c->ca_dir)
                                     : SSL_CTX_set_default_verify_paths(x);
    if (!ok) {
      weft__tls_set_error("trust store %s", c->ca_file ? c->ca_file : c->ca_dir ? c->ca_dir : "(system)");
      return WEFT_ETLSCONFIG;
    }
  } else {
    SSL_CTX_set_verify(x, SSL_VERIFY_NONE, NULL);
  }
  if (c->alpn_len && SSL_CTX_set_alpn_protos(x, c->alpn, (unsigned)c->alpn_len) != 0) return WEFT_ENOMEM;
  if (c->resumption) {
    /* sessions are kept by server name in the context (an SSL_CTX cache is keyed by session id,
     * which a client cannot look up by server) */
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(x, on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
  }
  if (c->cert_file) return load_identity(x, c->cert_file, c->key_file, NULL);
  return 0;
}

static void set_free(weft__tls_set *set) {
  if (!set) return;
  SSL_CTX_free(set->def);
  for (size_t i = 0; i < set->nsni; i++) SSL_CTX_free(set->sni[i]);
  weft__free(set->sni);
  weft__free(set);
}

void weft__tls_set_release(weft__tls_set *set) {
  if (set && atomic_fetch_sub(&set->refs, 1) == 1) set_free(set);
}

static SSL_CTX *new_ssl_ctx(bool server) {
  SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!x) weft__tls_set_error_text("SSL_CTX_new failed");
  return x;
}

/* Builds a set from the files as they are now. */
static int build_set(weft_tls_context *c, weft__tls_set **out) {
  ERR_clear_error();
  weft__tls_set *set = weft__calloc(1, sizeof *set);
  if (!set) return WEFT_ENOMEM;
  atomic_init(&set->refs, 1);
  set->owner = c;
  int rc = WEFT_ENOMEM;
  if (!(set->def = new_ssl_ctx(c->server))) goto fail;
  if (!c->server) {
    if ((rc = configure_client(c, set->def, set)) != 0) goto fail;
    *out = set;
    return 0;
  }
  if ((rc = configure_server(c, set->def, set)) != 0) goto fail;
  if ((rc = load_identity(set->def, c->cert_file, c->key_file, c->extra_chain_file)) != 0) goto fail;
  if (c->nsni && !(set->sni = weft__calloc(c->nsni, sizeof *set->sni))) goto fail;
  for (size_t i = 0; i < c->nsni; i++) {
    rc = WEFT_ENOMEM;
    set->nsni = i + 1;
    if (!(set->sni[i] = new_ssl_ctx(true))) goto fail;
    if ((rc = configure_server(c, set->sni[i], set)) != 0) goto fail;
    if ((rc = load_identity(set->sni[i], c->sni[i].cert_file, c->sni[i].key_file, NULL)) != 0) goto fail;
  }
  *out = set;
  return 0;
fail:
  set_free(set);
  return rc;
}

/* ---- life cycle ---- */

static void context_destroy(weft_tls_context *c) {
  weft__tls_set_release(c->cur);
  for (size_t i = 0; i < SESSION_CACHE_SIZE; i++) {
    weft__free(c->cache[i].name);
    if (c->cache[i].sess) SSL_SESSION_free(c->cache[i].sess);
  }
  for (size_t i = 0; i < c->nsni; i++) {
    weft__free(c->sni[i].hostname);
    weft__free(c->sni[i].cert_file);
    weft__free(c->sni[i].key_file);
  }
  weft__free(c->sni);
  weft__free(c->cert_file);
  weft__free(c->key_file);
  weft__free(c->extra_chain_file);
  weft__free(c->ca_file);
  weft__free(c->ca_dir);
  weft__free(c->ciphers);
  weft__free(c->ciphersuites);
  weft__free(c->alpn);
  pthread_mutex_destroy(&c->lock);
  weft__free(c);
}

static weft_tls_context *context_alloc(bool server) {
  weft_tls_context *c = weft__calloc(1, sizeof *c);
  if (!c) return NULL;
  atomic_init(&c->refs, 1);
  c->server = server;
  pthread_mutex_init(&c->lock, NULL);
  return c;
}

static int copy_sni(weft_tls_context *c, const weft_tls_sni_cert *sni, size_t n) {
  if (n == 0) return 0;
  if (!sni) return WEFT_EINVAL;
  if (!(c->sni = weft__calloc(n, sizeof *c->sni))) return WEFT_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    c->nsni = i + 1; /* so context_destroy frees what was copied */
    if (!sni[i].hostname || !sni[i].cert_file) return WEFT_EINVAL;
    if (dup_str(&c->sni[i].hostname, sni[i].hostname) || dup_str(&c->sni[i].cert_file, sni[i].cert_file) ||
        dup_str(&c->sni[i].key_file, sni[i].key_file))
      return WEFT_ENOMEM;
  }
  return 0;
}

static int finish_new(weft_tls_context *c, weft_tls_context **out, int rc) {
  if (rc == 0) rc = build_set(c, &c->cur);
  if (rc) {
    if (rc == WEFT_EINVAL) weft__tls_set_error_text("invalid TLS options");
    context_destroy(c);
    *out = NULL;
    return rc;
  }
  *out = c;
  return 0;
}

int weft_tls_server_context_new(weft_tls_context **out, const weft_tls_server_options *o) {
  *out = NULL;
  if (!o || !o->cert_file || !version_ok(o->min_version) || !version_ok(o->max_version)) return WEFT_EINVAL;
  weft_tls_context *c = context_alloc(true);
  if (!c) return WEFT_ENOMEM;
  c->client_cert = o->client_cert;
  c->resumption = o->resumption;
  c->min_version = o->min_version;
  c->max_version = o->max_version;
  int rc = 0;
  if (dup_str(&c->cert_file, o->cert_file) || dup_str(&c->key_file, o->key_file) ||
      dup_str(&c->extra_chain_file, o->extra_chain_file) || dup_str(&c->ca_file, o->client_ca_file) ||
      dup_str(&c->ciphers, o->ciphers) || dup_str(&c->ciphersuites, o->ciphersuites))
    rc = WEFT_ENOMEM;
  if (rc == 0) rc = copy_sni(c, o->sni, o->sni_count);
  if (rc == 0) rc = copy_alpn(c, o->alpn, o->alpn_count);
  return finish_new(c, out, rc);
}

int weft_tls_client_context_new(weft_tls_context **out, const weft_tls_client_options *o) {
  *out = NULL;
  if (!o || !version_ok(o->min_version) || !version_ok(o->max_version)) return WEFT_EINVAL;
  weft_tls_context *c = context_alloc(false);
  if (!c) return WEFT_ENOMEM;
  c->verify = o->verify;
  c->resumption = o->resumption;
  c->min_version = o->min_version;
  c->max_version = o->max_version;
  int rc = 0;
  if (dup_str(&c->cert_file, o->cert_file) || dup_str(&c->key_file, o->key_file) ||
      dup_str(&c->ca_file, o->ca_file) || dup_str(&c->ca_dir, o->ca_dir) || dup_str(&c->ciphers, o->ciphers) ||
      dup_str(&c->ciphersuites, o->ciphersuites))
    rc = WEFT_ENOMEM;
  if (rc == 0) rc = copy_alpn(c, o->alpn, o->alpn_count);
  return finish_new(c, out, rc);
}

int weft_tls_context_reload(weft_tls_context *c) {
  weft__tls_set *set;
  int rc = build_set(c, &set);
  if (rc) return rc;
  pthread_mutex_lock(&c->lock);
  weft__tls_set *old = c->cur;
  if (c->server) {
    /* keep the ticket keys, so sessions issued before the reload still resume */
    unsigned char keys[80];
    if (SSL_CTX_get_tlsext_ticket_keys(old->def, keys, sizeof keys) == 1)
      SSL_CTX_set_tlsext_ticket_keys(set->def, keys, sizeof keys);
    OPENSSL_cleanse(keys, sizeof keys);
  }
  c->cur = set;
  pthread_mutex_unlock(&c->lock);
  weft__tls_set_release(old);
  return 0;
}

weft__tls_set *weft__tls_context_acquire(weft_tls_context *c) {
  pthread_mutex_lock(&c->lock);
  weft__tls_set *set = c->cur;
  atomic_fetch_add(&set->refs, 1);
  pthread_mutex_unlock(&c->lock);
  return set;
}

void weft__tls_context_ref(weft_tls_context *c) { atomic_fetch_add(&c->refs, 1); }

void weft_tls_context_free(weft_tls_context *c) {
  if (c && atomic_fetch_sub(&c->refs, 1) == 1) context_destroy(c);
}

bool weft_tls_context_is_server(const weft_tls_context *c) { return c->server; }

bool weft__tls_context_verifies(const weft_tls_context *c) { return !c->server && c->verify; }
