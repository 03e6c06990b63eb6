/* tls_internal.h: what the TLS transport (tls.c) and the TLS contexts (tls_context.c) share. Not
 * installed. */
#ifndef WEFT_NET_TLS_INTERNAL_H
#define WEFT_NET_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "weft/tls.h"

/* The SSL_CTXs made from one reading of the context's files: the default one and one per SNI
 * certificate, configured alike apart from their certificate. A reload makes a new set; a
 * connection keeps the set it started with (a reference) until it ends. */
typedef struct weft__tls_set {
  atomic_int refs;
  weft_tls_context *owner; /* not a reference: connections hold one on the context */
  SSL_CTX *def;
  SSL_CTX **sni; /* parallel to owner->sni */
  size_t nsni;
} weft__tls_set;

/* The current set, with a reference for the caller (the context's lock is taken briefly). */
weft__tls_set *weft__tls_context_acquire(weft_tls_context *ctx);
void weft__tls_set_release(weft__tls_set *set);

void weft__tls_context_ref(weft_tls_context *ctx);

/* Client options the connection applies to each SSL. */
bool weft__tls_context_verifies(const weft_tls_context *ctx);

/* Client session cache: a reference to the last session for name (NULL if none), and storing a new
 * one (the cache takes the reference sess holds; returns true if it kept it). */
SSL_SESSION *weft__tls_session_get(weft_tls_context *ctx, const char *name);

/* The name a client connection verifies and caches sessions under (tls.c). */
const char *weft__tls_conn_name(const SSL *ssl);

/* Sets weft_tls_last_error() to the formatted text, followed by ": " and OpenSSL's first queued
 * error when there is one (the queue is cleared). */
void weft__tls_set_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Copies s into weft_tls_last_error(). */
void weft__tls_set_error_text(const char *s);

#endif
