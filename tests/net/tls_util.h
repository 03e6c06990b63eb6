/* tls_util.h: test certificates made at test time (never committed) with OpenSSL's C API, in a
 * temporary directory: a CA, certificates it signs (valid, expired, for other names, a client's),
 * and a self-signed one. EC P-256 keys, so making them all takes milliseconds. Header-only. */
#ifndef WEFT_TESTS_TLS_UTIL_H
#define WEFT_TESTS_TLS_UTIL_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

typedef struct test_pki {
  char dir[128];
  char ca[192];                      /* the CA certificate (trust anchor) */
  char server[192], server_key[192]; /* localhost, 127.0.0.1, ::1; signed by the CA */
  char other[192], other_key[192];   /* other.example and *.vhost.example; signed by the CA */
  char expired[192], expired_key[192];
  char self[192], self_key[192];     /* self-signed localhost */
  char client[192], client_key[192]; /* CN=client, signed by the CA */
  char renewed[192], renewed_key[192]; /* localhost again, CN=renewed (for reload) */
} test_pki;

static inline EVP_PKEY *pki_key(void) { return EVP_EC_gen("P-256"); }

static inline void pki_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  REQUIRE(e != NULL);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

/* A certificate for key named cn, valid from now+not_before to now+not_after (seconds), signed by
 * issuer/issuer_key (NULL: self-signed). sans: "DNS:localhost,IP:127.0.0.1" or NULL. */
static inline X509 *pki_cert(EVP_PKEY *key, const char *cn, const char *sans, X509 *issuer, EVP_PKEY *issuer_key,
                      long not_before, long not_after, bool ca) {
  static long serial = 1;
  X509 *x = X509_new();
  REQUIRE(x != NULL);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++ + (long)getpid() * 1000);
  X509_gmtime_adj(X509_getm_notBefore(x), not_before);
  X509_gmtime_adj(X509_getm_notAfter(x), not_after);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  pki_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (ca) pki_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (sans) pki_ext(x, issuer, NID_subject_alt_name, sans);
  REQUIRE(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return x;
}

static inline void pki_write(const char *cert_path, X509 *cert, const char *key_path, EVP_PKEY *key) {
  FILE *f = fopen(cert_path, "w");
  REQUIRE(f != NULL);
  PEM_write_X509(f, cert);
  fclose(f);
  if (!key_path) return;
  f = fopen(key_path, "w");
  REQUIRE(f != NULL);
  PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  fclose(f);
}

static inline void pki_leaf(test_pki *p, char *cert_path, char *key_path, const char *base, const char *cn, const char *sans,
                     X509 *ca, EVP_PKEY *ca_key, long nb, long na) {
  snprintf(cert_path, 192, "%s/%s.pem", p->dir, base);
  snprintf(key_path, 192, "%s/%s.key", p->dir, base);
  EVP_PKEY *k = pki_key();
  X509 *x = pki_cert(k, cn, sans, ca, ca_key, nb, na, false);
  pki_write(cert_path, x, key_path, k);
  X509_free(x);
  EVP_PKEY_free(k);
}

static inline void pki_make(test_pki *p) {
  memset(p, 0, sizeof *p);
  const char *tmp = getenv("TMPDIR");
  snprintf(p->dir, sizeof p->dir, "%s/weft-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  REQUIRE(mkdtemp(p->dir) != NULL);
  EVP_PKEY *ca_key = pki_key();
  X509 *ca = pki_cert(ca_key, "weft test CA", NULL, NULL, NULL, -3600, 86400, true);
  snprintf(p->ca, sizeof p->ca, "%s/ca.pem", p->dir);
  pki_write(p->ca, ca, NULL, NULL);
  const long day = 86400;
  pki_leaf(p, p->server, p->server_key, "server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", ca, ca_key,
           -3600, day);
  pki_leaf(p, p->other, p->other_key, "other", "other.example", "DNS:other.example,DNS:*.vhost.example", ca,
           ca_key, -3600, day);
  pki_leaf(p, p->expired, p->expired_key, "expired", "localhost", "DNS:localhost,IP:127.0.0.1", ca, ca_key,
           -3 * day, -day);
  pki_leaf(p, p->self, p->self_key, "self", "localhost", "DNS:localhost,IP:127.0.0.1", NULL, NULL, -3600, day);
  pki_leaf(p, p->client, p->client_key, "client", "client", NULL, ca, ca_key, -3600, day);
  pki_leaf(p, p->renewed, p->renewed_key, "renewed", "renewed", "DNS:localhost,IP:127.0.0.1", ca, ca_key, -3600,
           day);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
}

/* Copies file from to to (for the reload test: replace the served files). */
static inline void pki_copy(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  REQUIRE(a && b);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
  fclose(a);
  fclose(b);
}

static inline void pki_remove(test_pki *p) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
  if (system(cmd) != 0) fprintf(stderr, "  (could not remove %s)\n", p->dir);
}

#endif
