/* tls.c: TLS as a transport layered on another transport (twisted.protocols.tls.TLSMemoryBIOProtocol).
 *
 * The TLS transport takes the lower transport's protocol slot. Ciphertext the lower one receives is
 * read by OpenSSL straight from the data_received buffer through a small BIO of our own (what
 * OpenSSL leaves unread while reading is paused is held in a chunk queue), and what OpenSSL writes
 * goes straight to the lower transport's queue, so no memory BIO keeps a buffer on an idle
 * connection. Plaintext the application writes is queued and encrypted once per turn (the flush
 * list), so many small writes make few records. The connection object lives until the lower
 * transport's connection_lost, which is where the application's connection_lost comes from. */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "net/tls_internal.h"
#include "net/transport_internal.h"
#include "weft/errors.h"
#include "weft/log.h"

#define PLAINTEXT_MAX 16384 /* one record */

struct weft_tls_factory {
  weft_factory outer;
  const weft_factory *inner;
  weft_tls_context *ctx;
  char *name;
  int refs; /* the caller's, and one per connection still shaking hands or alive */
};

typedef struct tls_conn {
  weft_transport base;
  weft_transport *lower;
  weft_tls_context *ctx;
  weft__tls_set *set;
  weft_tls_factory *factory; /* made by a wrapped factory (a reference), else NULL */
  SSL *ssl;
  const char *in_ptr; /* the lower's data_received buffer, while OpenSSL reads it */
  size_t in_len;
  weft__chunkq held;    /* ciphertext received and not yet read (reading paused) */
  weft__chunkq pending; /* plaintext waiting for the handshake or this turn's flush */
  weft__chunk_pool own_pool; /* for a lower transport without a reactor */
  weft__task flush_task, read_task;
  char *name;  /* client: the server name (SNI, verification, session cache) */
  char *error; /* why it failed, in detail */
  char verify_detail[160];
  int fail_reason;
  bool server, handshake_done, made, refused, failed, lower_paused, close_sent, peer_closed, we_closed;
  bool aborted, in_pump, reneg;
  bool lower_nomem; /* the lower transport could not queue a record: OpenSSL's error is ours */
} tls_conn;

static void pump(tls_conn *c);
static void flush_now(tls_conn *c);
static const weft__transport_ops tls_ops;

static weft__chunk_pool *pool_of(tls_conn *c) { return c->base.r ? &c->base.r->chunks : &c->own_pool; }

/* ---- the BIO between OpenSSL and the lower transport ---- */

static int bio_write(BIO *b, const char *data, int len) {
  tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  /* a closing lower transport drops it, as a socket would: the loss is reported by the lower */
  if (c && c->lower && len > 0 && weft_transport_write(c->lower, data, (size_t)len) == WEFT_ENOMEM) {
    c->lower_nomem = true;
    return -1;
  }
  return len;
}

static int bio_read(BIO *b, char *out, int outl) {
  tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  size_t want = outl > 0 ? (size_t)outl : 0, got = 0;
  while (got < want && c->held.len > 0) {
    struct iovec iov;
    weft__chunkq_peek(&c->held, &iov, 1);
    size_t n = iov.iov_len < want - got ? iov.iov_len : want - got;
    memcpy(out + got, iov.iov_base, n);
    weft__chunkq_consume(&c->held, pool_of(c), n);
    got += n;
  }
  if (got < want && c->in_len > 0) {
    size_t n = c->in_len < want - got ? c->in_len : want - got;
    memcpy(out + got, c->in_ptr, n);
    c->in_ptr += n;
    c->in_len -= n;
    got += n;
  }
  if (got == 0) {
    BIO_set_retry_read(b); /* nothing yet: OpenSSL says WANT_READ */
    return -1;
  }
  return (int)got;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b, (void)num, (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* the lower transport flushes on its own */
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft transport");
  if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) && BIO_meth_set_ctrl(m, bio_ctrl) &&
      BIO_meth_set_create(m, bio_create))
    bio_method = m;
  else
    BIO_meth_free(m);
}

/* ---- failures: reasons, details, logging ---- */

static int map_verify(long v) {
  switch (v) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return WEFT_ETLSEXPIRED;
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_CERT_UNTRUSTED:
    return WEFT_ETLSUNKNOWNCA;
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    return WEFT_ETLSHOSTNAME;
  default:
    return WEFT_ETLSVERIFY;
  }
}

static void subject_of(X509 *cert, char *buf, size_t size) {
  buf[0] = '\0';
  BIO *m = cert ? BIO_new(BIO_s_mem()) : NULL;
  if (!m) return;
  X509_NAME_print_ex(m, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  int n = BIO_read(m, buf, (int)size - 1);
  buf[n > 0 ? n : 0] = '\0';
  BIO_free(m);
}

/* Keeps the first verification error's depth and certificate, for the message. */
static int on_verify(int ok, X509_STORE_CTX *store) {
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
  if (!ok && c && !c->verify_detail[0]) {
    char subject[128];
    subject_of(X509_STORE_CTX_get_current_cert(store), subject, sizeof subject);
    snprintf(c->verify_detail, sizeof c->verify_detail, " (depth %d: %s)", X509_STORE_CTX_get_error_depth(store),
             subject[0] ? subject : "no subject");
  }
  return ok;
}

static void log_failure(tls_conn *c, weft_log_level level, int reason, const char *detail) {
  weft_log_publisher *log = c->base.r ? weft_reactor_log(c->base.r) : NULL;
  if (!weft_log_enabled(log, level)) return;
  char peer[WEFT_ADDRSTRLEN] = "?";
  weft_address a;
  if (c->lower && weft_transport_get_peer(c->lower, &a) == 0) weft_address_format(&a, peer, sizeof peer);
  weft_log_emit(log, level, "weft.tls", "TLS {role} connection with {peer} failed: {reason}: {detail}",
                WEFT_LOG_STR("role", c->server ? "server" : "client"), WEFT_LOG_STR("peer", peer),
                WEFT_LOG_ERR("reason", reason), WEFT_LOG_STR("detail", detail), WEFT_LOG_END);
}

static void set_detail(tls_conn *c, const char *detail) {
  weft__free(c->error);
  size_t n = strlen(detail) + 1;
  if ((c->error = weft__malloc(n)) != NULL) memcpy(c->error, detail, n);
  weft__tls_set_error_text(detail);
}

/* Ends the connection with a TLS reason: the alert OpenSSL wrote is already queued on the lower
 * transport, which closes once it is sent. The application hears it in connection_lost. */
static void fail(tls_conn *c, int reason, const char *detail) {
  if (c->failed) return;
  c->failed = true;
  c->fail_reason = reason;
  c->base.closing = true;
  set_detail(c, detail);
  log_failure(c, WEFT_LOG_INFO, reason, detail);
  weft__chunkq_clear(&c->pending, pool_of(c));
  c->base.buffered = 0;
  if (c->lower && !c->close_sent) {
    c->close_sent = true;
    weft_transport_lose_connection(c->lower);
  }
}

/* OpenSSL's first queued error as text ("" if none); clears the queue. */
static unsigned long ssl_error_text(char *buf, size_t size) {
  unsigned long e = ERR_peek_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  snprintf(buf, size, "%s", why ? why : "");
  ERR_clear_error();
  return e;
}

static void fail_ssl(tls_conn *c, int ssl_err, bool handshake) {
  char detail[256], why[160];
  long v = SSL_get_verify_result(c->ssl);
  unsigned long e = ssl_error_text(why, sizeof why);
  int lib_reason = e ? ERR_GET_REASON(e) : 0;
  if (c->lower_nomem) {
    /* OpenSSL only saw its write fail: say why, not "handshake failed" or a protocol error */
    fail(c, WEFT_ENOMEM, "out of memory: a TLS record could not be queued");
  } else if (handshake && v != X509_V_OK && lib_reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    snprintf(detail, sizeof detail, "%s%s", X509_verify_cert_error_string(v), c->verify_detail);
    fail(c, map_verify(v), detail);
  } else if (handshake && lib_reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    fail(c, WEFT_ETLSNOCERT, "the client sent no certificate and one is required");
  } else if (lib_reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED) {
    fail(c, WEFT_ETLSNOCERT, "the server requires a client certificate (tlsv13 alert certificate required)");
  } else if (lib_reason == SSL_R_HTTP_REQUEST || lib_reason == SSL_R_HTTPS_PROXY_REQUEST) {
    fail(c, WEFT_ETLSHANDSHAKE, "plaintext HTTP request on a TLS port");
  } else {
    if (!why[0]) snprintf(why, sizeof why, "SSL error %d", ssl_err);
    fail(c, handshake ? WEFT_ETLSHANDSHAKE : WEFT_ETLSPROTOCOL, why);
  }
}

/* ---- the application's side: handshake done, reading, writing, closing ---- */

static void app_flow(tls_conn *c) {
  weft_transport *t = &c->base;
  t->buffered = c->pending.len;
  if (!t->has_producer) return;
  if (c->lower_paused) { /* the ciphertext queue is above the lower transport's mark */
    if (t->streaming && !t->producer_paused) {
      t->producer_paused = true;
      if (t->producer.pause_producing) t->producer.pause_producing(t->producer.user);
    } else if (!t->streaming && t->r) {
      weft__task_cancel(t->r, &t->pull_task);
    }
    return;
  }
  weft__transport_buffer_changed(t);
}

static void schedule_flush(tls_conn *c) {
  if (c->base.r) weft__flush_queue(c->base.r, &c->flush_task);
  else flush_now(c);
}

static void handshake_complete(tls_conn *c) {
  c->handshake_done = true;
  if (c->aborted) return;
  if (c->factory) {
    const weft_factory *f = c->factory->inner;
    weft_address peer;
    bool has_peer = weft_transport_get_peer(c->lower, &peer) == 0;
    if (f->build_protocol(f->user, has_peer ? &peer : NULL, &c->base.proto) != 0) {
      c->refused = true;
      c->base.closing = true;
      weft_transport_abort_connection(c->lower);
      return;
    }
  }
  c->made = true;
  weft__proto_made(&c->base);
  if (c->pending.len > 0 || c->we_closed) schedule_flush(c);
}

/* The peer's close_notify: answer it and close (Twisted treats it as ConnectionDone). */
static void on_close_notify(tls_conn *c) {
  c->peer_closed = true;
  if (c->close_sent) return;
  c->close_sent = true;
  ERR_clear_error();
  SSL_shutdown(c->ssl);
  ERR_clear_error();
  weft_transport_lose_connection(c->lower);
}

static void read_records(tls_conn *c) {
  char buf[PLAINTEXT_MAX];
  while (!c->failed && !c->aborted && !c->base.reading_paused && !c->base.closing && !c->peer_closed) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, sizeof buf);
    if (c->reneg) {
      fail(c, WEFT_ETLSPROTOCOL, "renegotiation attempted (refused)");
      return;
    }
    if (n > 0) {
      if (c->base.proto.cb->data_received)
        c->base.proto.cb->data_received(&c->base, buf, (size_t)n, c->base.proto.user);
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    if (e == SSL_ERROR_ZERO_RETURN) on_close_notify(c);
    else fail_ssl(c, e, false);
    return;
  }
}

static void pump(tls_conn *c) {
  if (c->in_pump || c->failed || c->aborted || !c->lower) return;
  c->in_pump = true;
  if (!c->handshake_done) {
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
      handshake_complete(c);
    } else {
      int e = SSL_get_error(c->ssl, rc);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail_ssl(c, e, true);
    }
  }
  if (c->handshake_done && c->made) read_records(c);
  c->in_pump = false;
}

/* Sends close_notify (once the handshake is done) and closes the lower transport after it. */
static void send_close(tls_conn *c) {
  if (c->close_sent) return;
  c->close_sent = true;
  if (c->handshake_done) {
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
  }
  weft_transport_lose_connection(c->lower);
}

/* Encrypts the queued plaintext into the lower transport, then finishes a requested close. */
static void flush_now(tls_conn *c) {
  if (c->failed || c->aborted || c->close_sent || !c->lower) return;
  if (!c->handshake_done) {
    if (c->we_closed && c->pending.len == 0) send_close(c); /* nothing to protect: just close */
    return;
  }
  while (c->pending.len > 0) {
    struct iovec iov;
    weft__chunkq_peek(&c->pending, &iov, 1);
    int len = iov.iov_len > INT_MAX ? INT_MAX : (int)iov.iov_len;
    ERR_clear_error();
    int w = SSL_write(c->ssl, iov.iov_base, len);
    if (w <= 0) {
      int e = SSL_get_error(c->ssl, w);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
      fail_ssl(c, e, false);
      return;
    }
    weft__chunkq_consume(&c->pending, pool_of(c), (size_t)w);
  }
  app_flow(c);
  if (c->we_closed && c->pending.len == 0) send_close(c);
}

static tls_conn *from_task(weft__task *t, size_t off) { return (tls_conn *)((char *)t - off); }
static void flush_task(weft__task *t) { flush_now(from_task(t, offsetof(tls_conn, flush_task))); }
static void read_task(weft__task *t) { pump(from_task(t, offsetof(tls_conn, read_task))); }

/* ---- the transport table ---- */

static int tls_write(weft_transport *t, const struct iovec *iov, int iovcnt, size_t total) {
  tls_conn *c = (tls_conn *)t;
  if (c->failed || c->aborted || c->close_sent) return 0; /* going away: reported by connection_lost */
  int rc = weft__chunkq_append(&c->pending, pool_of(c), iov, iovcnt, total);
  if (rc) return rc;
  app_flow(c);
  if (c->handshake_done) schedule_flush(c);
  return 0;
}

static void tls_lose(weft_transport *t) {
  tls_conn *c = (tls_conn *)t;
  c->we_closed = true;
  schedule_flush(c);
}

static void tls_abort(weft_transport *t) {
  tls_conn *c = (tls_conn *)t;
  if (c->aborted || !c->lower) return;
  c->aborted = true;
  t->closing = true;
  weft__chunkq_clear(&c->pending, pool_of(c));
  t->buffered = 0;
  if (t->r) {
    weft__task_cancel(t->r, &c->flush_task);
    weft__task_cancel(t->r, &c->read_task);
  }
  weft__transport_lost(t); /* the producer is stopped now, as a stream does */
  weft_transport_abort_connection(c->lower);
}

static void tls_set_reading(weft_transport *t, bool on) {
  tls_conn *c = (tls_conn *)t;
  if (!c->lower) return;
  if (!on) {
    weft_transport_pause_reading(c->lower);
    return;
  }
  weft_transport_resume_reading(c->lower);
  /* records already received (held, or decrypted inside OpenSSL) go out on the next turn */
  if (t->r) weft__task_queue(t->r, &c->read_task);
}

static int tls_get_peer(weft_transport *t, weft_address *out) {
  tls_conn *c = (tls_conn *)t;
  return c->lower ? weft_transport_get_peer(c->lower, out) : WEFT_ENOTCONN;
}

static int tls_get_host(weft_transport *t, weft_address *out) {
  tls_conn *c = (tls_conn *)t;
  return c->lower ? weft_transport_get_host(c->lower, out) : WEFT_ENOTCONN;
}

static int tls_set_option(weft_transport *t, int option, bool on) {
  tls_conn *c = (tls_conn *)t;
  if (!c->lower) return WEFT_ENOTCONN;
  if (option == WEFT__OPT_NODELAY) return weft_transport_set_nodelay(c->lower, on);
  if (option == WEFT__OPT_KEEPALIVE) return weft_transport_set_keepalive(c->lower, on);
  return WEFT_EINVAL;
}

/* shutdown_write is not offered: a TLS half-close is close_notify, which most peers take as the
 * end of the connection. */
static const weft__transport_ops tls_ops = {
    .write = tls_write,
    .lose_connection = tls_lose,
    .abort_connection = tls_abort,
    .set_reading = tls_set_reading,
    .get_peer = tls_get_peer,
    .get_host = tls_get_host,
    .set_option = tls_set_option,
};

/* ---- the lower transport's side ---- */

static void lower_pause(void *user) {
  tls_conn *c = user;
  c->lower_paused = true;
  app_flow(c);
}

static void lower_resume(void *user) {
  tls_conn *c = user;
  c->lower_paused = false;
  app_flow(c);
}

static void lower_stop(void *user) { (void)user; /* connection_lost follows */ }

static void attach(tls_conn *c, weft_transport *lower) {
  c->lower = lower;
  c->base.r = lower->r;
  weft_producer p = {.pause_producing = lower_pause, .resume_producing = lower_resume,
                     .stop_producing = lower_stop, .user = c};
  weft_transport_register_producer(lower, &p, true);
  if (!c->server) pump(c); /* the ClientHello */
}

static void on_lower_made(weft_transport *lt, void *user) { attach(user, lt); }

static void on_lower_data(weft_transport *lt, const void *data, size_t len, void *user) {
  (void)lt;
  tls_conn *c = user;
  if (c->failed || c->aborted || c->close_sent) return; /* nothing more is read */
  if (!c->in_pump) {
    c->in_ptr = data;
    c->in_len = len;
    pump(c);
    data = c->in_ptr;
    len = c->in_len;
    c->in_ptr = NULL;
    c->in_len = 0;
  }
  if (len == 0 || c->failed || c->aborted || c->close_sent) return;
  /* not read now (reading paused, or arrived inside a callback): kept for later */
  struct iovec iov = {(void *)data, len};
  if (weft__chunkq_append(&c->held, pool_of(c), &iov, 1, len) != 0) fail(c, WEFT_ENOMEM, "out of memory");
}

static int final_reason(tls_conn *c, int reason) {
  if (c->failed) return c->fail_reason;
  if (c->aborted) return WEFT_EABORTED;
  if (reason != 0 || c->we_closed || c->peer_closed) return reason;
  /* the lower transport ended cleanly, but TLS did not: truncation (an attack, or a careless peer) */
  const char *detail = c->handshake_done ? "the peer closed the connection without close_notify"
                                         : "the peer closed the connection during the handshake";
  int r = c->handshake_done ? WEFT_ETLSTRUNCATED : WEFT_ETLSHANDSHAKE;
  set_detail(c, detail);
  log_failure(c, c->handshake_done ? WEFT_LOG_INFO : WEFT_LOG_DEBUG, r, detail);
  return r;
}

static void factory_unref(weft_tls_factory *f) {
  if (--f->refs > 0) return;
  weft_tls_context_free(f->ctx);
  weft__free(f->name);
  weft__free(f);
}

static void conn_free(tls_conn *c) {
  SSL_free(c->ssl);
  weft__chunkq_clear(&c->held, pool_of(c));
  weft__chunkq_clear(&c->pending, pool_of(c));
  weft__chunk_pool_destroy(&c->own_pool);
  weft__tls_set_release(c->set);
  weft_tls_context_free(c->ctx);
  if (c->factory) factory_unref(c->factory);
  weft__free(c->name);
  weft__free(c->error);
  weft__free(c);
}

static void on_lower_lost(weft_transport *lt, int reason, void *user) {
  (void)lt;
  tls_conn *c = user;
  int why = final_reason(c, reason);
  /* a server's handshake lost to an error of the lower transport (out of memory reading, a reset)
   * is heard by no protocol: log it, as fail() logs a TLS failure */
  if (c->server && !c->made && !c->failed && !c->aborted && !c->refused && reason != 0)
    log_failure(c, WEFT_LOG_DEBUG, why, "the connection was lost during the handshake");
  /* the thread's text may be another connection's by now (failed since, e.g. the peer's side
   * failing on our alert): what hears this loss reads ours */
  if (c->error) weft__tls_set_error_text(c->error);
  if (c->base.r) {
    weft__task_cancel(c->base.r, &c->flush_task);
    weft__task_cancel(c->base.r, &c->read_task);
  }
  c->lower = NULL;
  c->base.buffered = 0;
  weft__transport_lost(&c->base);
  if (c->made) {
    weft__proto_lost(&c->base, why);
  } else if (c->factory) {
    const weft_factory *f = c->factory->inner;
    if (!c->server && !c->refused && f->connection_failed) f->connection_failed(f->user, why);
  } else if (!c->refused) {
    weft__proto_lost(&c->base, why); /* weft_tls_start: the handshake never completed */
  }
  conn_free(c);
}

static const weft_protocol_callbacks lower_callbacks = {
    .connection_made = on_lower_made, .data_received = on_lower_data, .connection_lost = on_lower_lost};

/* ---- making connections ---- */

const char *weft__tls_conn_name(const SSL *ssl) {
  tls_conn *c = SSL_get_app_data(ssl);
  return c ? c->name : NULL;
}

/* A client-initiated renegotiation (TLS 1.2 and older) starts a handshake after the first. */
static void on_info(const SSL *ssl, int where, int ret) {
  (void)ret;
  tls_conn *c = SSL_get_app_data(ssl);
  if ((where & SSL_CB_HANDSHAKE_START) && c && c->handshake_done && SSL_version(ssl) < TLS1_3_VERSION) c->reneg = true;
}

static bool is_ip_literal(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int client_setup(tls_conn *c) {
  SSL_set_connect_state(c->ssl);
  if (!c->name) return 0;
  bool ip = is_ip_literal(c->name);
  if (!ip && !SSL_set_tlsext_host_name(c->ssl, c->name)) return WEFT_EINVAL; /* SNI is for names only */
  if (weft__tls_context_verifies(c->ctx)) {
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->name) : SSL_set1_host(c->ssl, c->name);
    if (!ok) return WEFT_EINVAL;
    SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  SSL_SESSION *s = weft__tls_session_get(c->ctx, c->name);
  if (s) {
    SSL_set_session(c->ssl, s);
    SSL_SESSION_free(s);
  }
  return 0;
}

static int conn_new(tls_conn **out, weft_tls_context *ctx, const char *name) {
  *out = NULL;
  pthread_once(&bio_once, bio_method_init);
  if (!bio_method) return WEFT_ENOMEM;
  tls_conn *c = weft__calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  weft__transport_init(&c->base, &tls_ops, NULL);
  c->flush_task.fn = flush_task;
  c->read_task.fn = read_task;
  c->server = weft_tls_context_is_server(ctx);
  weft__tls_context_ref(ctx);
  c->ctx = ctx;
  c->set = weft__tls_context_acquire(ctx);
  int rc = WEFT_ENOMEM;
  if (name && !c->server && !(c->name = weft__malloc(strlen(name) + 1))) goto fail;
  if (c->name) memcpy(c->name, name, strlen(name) + 1);
  BIO *bio = NULL;
  if (!(c->ssl = SSL_new(c->set->def)) || !(bio = BIO_new(bio_method))) goto fail;
  BIO_set_data(bio, c);
  SSL_set_bio(c->ssl, bio, bio); /* one BIO both ways; the SSL owns it */
  SSL_set_app_data(c->ssl, c);
  SSL_set_info_callback(c->ssl, on_info);
  SSL_set_verify(c->ssl, SSL_get_verify_mode(c->ssl), on_verify);
  if (c->server) SSL_set_accept_state(c->ssl);
  else if ((rc = client_setup(c)) != 0) goto fail;
  *out = c;
  return 0;
fail:
  ERR_clear_error();
  conn_free(c);
  return rc;
}

static int check_name(weft_tls_context *ctx, const char *name) {
  if (weft__tls_context_verifies(ctx) && (!name || !*name)) return WEFT_EINVAL; /* never verify nothing */
  return 0;
}

int weft_tls_start(weft_transport **out, weft_transport *lower, weft_tls_context *ctx, const char *server_name,
                   const weft_protocol *proto) {
  if (out) *out = NULL;
  if (!lower || !ctx || !proto || !proto->cb || !proto->cb->data_received) return WEFT_EINVAL;
  int rc = check_name(ctx, server_name);
  if (rc) return rc;
  if (lower->closing) return WEFT_ECLOSED;
  if (lower->has_producer) return WEFT_EBUSY;
  tls_conn *c;
  if ((rc = conn_new(&c, ctx, server_name)) != 0) return rc;
  c->base.proto = *proto;
  lower->proto = (weft_protocol){.cb = &lower_callbacks, .user = c};
  if (out) *out = &c->base;
  attach(c, lower);
  return 0;
}

/* ---- the factory wrapper ---- */

static int tf_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer; /* the application's factory is asked once the handshake is done */
  weft_tls_factory *f = user;
  tls_conn *c;
  int rc = conn_new(&c, f->ctx, f->name);
  if (rc) return rc;
  c->factory = f;
  f->refs++;
  out->cb = &lower_callbacks;
  out->user = c;
  return 0;
}

static void tf_start(void *user) {
  weft_tls_factory *f = user;
  if (f->inner->start_factory) f->inner->start_factory(f->inner->user);
}

static void tf_stop(void *user) {
  weft_tls_factory *f = user;
  if (f->inner->stop_factory) f->inner->stop_factory(f->inner->user);
}

static void tf_failed(void *user, int reason) {
  weft_tls_factory *f = user;
  if (f->inner->connection_failed) f->inner->connection_failed(f->inner->user, reason);
}

int weft_tls_wrap_factory(weft_tls_factory **out, weft_tls_context *ctx, const char *server_name,
                          const weft_factory *inner) {
  *out = NULL;
  if (!ctx || !inner || !inner->build_protocol) return WEFT_EINVAL;
  int rc = check_name(ctx, server_name);
  if (rc) return rc;
  weft_tls_factory *f = weft__calloc(1, sizeof *f);
  if (!f) return WEFT_ENOMEM;
  if (server_name && !(f->name = weft__malloc(strlen(server_name) + 1))) {
    weft__free(f);
    return WEFT_ENOMEM;
  }
  if (f->name) memcpy(f->name, server_name, strlen(server_name) + 1);
  weft__tls_context_ref(ctx);
  f->ctx = ctx;
  f->inner = inner;
  f->refs = 1;
  f->outer = (weft_factory){.build_protocol = tf_build, .start_factory = tf_start, .stop_factory = tf_stop,
                            .connection_failed = tf_failed, .user = f};
  *out = f;
  return 0;
}

const weft_factory *weft_tls_factory_get(weft_tls_factory *f) { return &f->outer; }

void weft_tls_factory_free(weft_tls_factory *f) {
  if (f) factory_unref(f);
}

/* ---- information ---- */

bool weft_tls_is(const weft_transport *t) { return t && t->ops == &tls_ops; }

int weft_tls_get_info(weft_transport *t, weft_tls_info *info) {
  if (!weft_tls_is(t) || !info) return WEFT_EINVAL;
  tls_conn *c = (tls_conn *)t;
  memset(info, 0, sizeof *info);
  info->server = c->server;
  info->handshake_done = c->handshake_done;
  info->version = c->handshake_done ? SSL_get_version(c->ssl) : "";
  const char *cipher = c->handshake_done ? SSL_get_cipher_name(c->ssl) : NULL;
  info->cipher = cipher ? cipher : "";
  const unsigned char *alpn;
  unsigned alpn_len;
  SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
  if (alpn_len) snprintf(info->alpn, sizeof info->alpn, "%.*s", (int)alpn_len, (const char *)alpn);
  const char *sni = c->server ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : c->name;
  snprintf(info->server_name, sizeof info->server_name, "%s", sni ? sni : "");
  info->resumed = c->handshake_done && SSL_session_reused(c->ssl);
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  subject_of(peer, info->peer_subject, sizeof info->peer_subject);
  info->peer_verified = peer && (SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER) &&
                        SSL_get_verify_result(c->ssl) == X509_V_OK;
  snprintf(info->error, sizeof info->error, "%s", c->error ? c->error : "");
  return 0;
}
