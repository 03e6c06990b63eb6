/* demo_cert.h: a throwaway self-signed certificate for the TLS examples (what Twisted's examples
 * load from server.pem), made at start with OpenSSL's C API so that no key is ever committed.
 *
 * weft's TLS contexts read PEM files, so the certificate and its key go into a fresh private
 * directory (mkdtemp, mode 0700) that demo_cert_remove deletes at exit. The certificate is an
 * EC P-256 key for CN=localhost with the names localhost and 127.0.0.1, valid for one day, and is
 * its own CA: a client that trusts this one file (trustRoots=, ca_file) verifies the server. */
#ifndef WEFT_EXAMPLES_DEMO_CERT_H
#define WEFT_EXAMPLES_DEMO_CERT_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct demo_cert {
  char dir[256];
  char cert[300]; /* DIR/cert.pem */
  char key[300];  /* DIR/key.pem */
} demo_cert;

static inline bool demo_cert_ext(X509 *x, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  bool ok = e && X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  return ok;
}

static inline bool demo_cert_write(const char *path, EVP_PKEY *key, X509 *x) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  bool ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x);
  return fclose(f) == 0 && ok;
}

/* Makes the directory, the key and the certificate. Returns false (and leaves nothing behind) on
 * failure. */
static inline bool demo_cert_make(demo_cert *dc) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dc->dir, sizeof dc->dir, "%s/weft-demo-cert.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dc->dir)) return false;
  snprintf(dc->cert, sizeof dc->cert, "%s/cert.pem", dc->dir);
  snprintf(dc->key, sizeof dc->key, "%s/key.pem", dc->dir);
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  unsigned char serial[8];
  bool ok = key && x && RAND_bytes(serial, sizeof serial) == 1;
  if (ok) {
    serial[0] &= 0x7f; /* a positive serial number */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
  }
  X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
  ok = ok && X509_set_version(x, 2) && X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
       X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) && X509_set_pubkey(x, key) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0) &&
       X509_set_issuer_name(x, name) && demo_cert_ext(x, NID_basic_constraints, "critical,CA:TRUE") &&
       demo_cert_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
       demo_cert_ext(x, NID_subject_key_identifier, "hash") &&
       demo_cert_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") && X509_sign(x, key, EVP_sha256()) &&
       demo_cert_write(dc->key, key, NULL) && demo_cert_write(dc->cert, NULL, x);
  X509_free(x);
  EVP_PKEY_free(key);
  if (!ok) {
    unlink(dc->key);
    unlink(dc->cert);
    rmdir(dc->dir);
  }
  return ok;
}

/* Deletes the files and the directory. */
static inline void demo_cert_remove(const demo_cert *dc) {
  unlink(dc->key);
  unlink(dc->cert);
  rmdir(dc->dir);
}

/* Copies s into buf with ':', '=' and '\' escaped by a backslash, as endpoint strings need. */
static inline void demo_cert_escape(const char *s, char *buf, size_t size) {
  size_t n = 0;
  for (; *s && n + 3 < size; s++) {
    if (*s == ':' || *s == '=' || *s == '\\') buf[n++] = '\\';
    buf[n++] = *s;
  }
  buf[n] = '\0';
}

#endif
