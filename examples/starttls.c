/* starttls: a line protocol that starts in plaintext and upgrades its live connection to TLS,
 * as SMTP's STARTTLS does (Twisted's ITLSTransport.startTLS, as in twisted.mail.smtp).
 *
 * Client and server exchange lines over plain TCP. The server refuses to authenticate in the
 * clear; the client sends "STARTTLS", the server answers "READY" and calls weft_tls_start with a
 * server context on the same connection (its READY goes out in plaintext first); the client,
 * reading READY, calls weft_tls_start with a client context, verifying the server's certificate
 * for "localhost". From then on the very same line protocol runs over the TLS transport, and
 * each side prints every line it receives marked (plain) or (TLS), according to whether the
 * transport it came on is a TLS one (weft_tls_is): the marks are weft's word, not the script's.
 *
 * The certificate is made at start (demo_cert.h). Run: starttls (demo on 127.0.0.1, exits 0 when
 * the conversation went as planned). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_cert.h"
#include "weft/weft.h"

typedef struct demo demo;

/* One end of the conversation. The same struct serves the plaintext protocol and, after the
 * upgrade, the TLS one: weft_tls_start gives the old protocol no further callback, so its state
 * simply carries over. */
typedef struct side {
  demo *d;
  bool server;
  weft_transport *t; /* the transport lines go out on: TCP, then TLS */
  char buf[512];
  size_t len;
  size_t step;       /* client: the next line of its script */
  int closed;        /* -1 while open, else the reason of connection_lost */
} side;

struct demo {
  weft_reactor *r;
  demo_cert cert;
  weft_tls_context *server_ctx, *client_ctx;
  weft_listening_port *port;
  side server, client;
  int open;
  int plain_lines, tls_lines;
};

static void side_write(side *s, const char *line) {
  char out[256];
  int n = snprintf(out, sizeof out, "%s\r\n", line);
  weft_transport_write(s->t, out, (size_t)n);
}

static void side_start_tls(side *s);

/* ---- the server's commands ---- */

static void server_line(side *s, const char *line) {
  bool tls = weft_tls_is(s->t);
  if (strncmp(line, "EHLO ", 5) == 0) {
    char reply[200];
    snprintf(reply, sizeof reply, "250 hello %.150s", line + 5);
    side_write(s, reply);
  } else if (strcmp(line, "STARTTLS") == 0 && !tls) {
    side_write(s, "READY");
    side_start_tls(s);
  } else if (strncmp(line, "AUTH ", 5) == 0) {
    side_write(s, tls ? "235 authenticated" : "530 send STARTTLS first");
  } else if (strcmp(line, "QUIT") == 0) {
    side_write(s, "221 bye");
    weft_transport_lose_connection(s->t);
  } else {
    side_write(s, "500 unknown command");
  }
}

/* ---- the client's script: each line is sent once the answer to the one before has come ---- */

static const char *script[] = {"EHLO client.example", "AUTH hunter2", "STARTTLS", "AUTH hunter2", "QUIT"};
#define SCRIPT_LEN (sizeof script / sizeof script[0])

static void client_next(side *s) {
  if (s->step < SCRIPT_LEN) side_write(s, script[s->step++]);
}

static void client_line(side *s, const char *line) {
  if (strcmp(line, "READY") == 0) side_start_tls(s); /* the next line goes after the handshake */
  else if (strcmp(line, "221 bye") != 0) client_next(s); /* after "221 bye" the server closes */
}

/* ---- the protocol both sides run, over TCP and then over TLS ---- */

static void on_line(side *s, const char *line) {
  bool tls = weft_tls_is(s->t);
  printf("%s %-7s %s\n", s->server ? "C->S" : "S->C", tls ? "(TLS)" : "(plain)", line);
  if (tls) s->d->tls_lines++;
  else s->d->plain_lines++;
  if (s->server) server_line(s, line);
  else client_line(s, line);
}

static void side_made(weft_transport *t, void *user) {
  side *s = user;
  s->t = t;
  if (!weft_tls_is(t)) {
    s->d->open++;
    if (!s->server) client_next(s);
    return;
  }
  weft_tls_info info;
  weft_tls_get_info(t, &info);
  if (s->server) {
    printf("server: TLS handshake done (%s)\n", info.version);
  } else {
    printf("client: TLS handshake done (%s), server certificate %s (%s)\n", info.version,
           info.peer_verified ? "verified" : "NOT verified", info.peer_subject);
    client_next(s);
  }
}

static void side_data(weft_transport *t, const void *data, size_t len, void *user) {
  side *s = user;
  if (len > sizeof s->buf - s->len) { /* no line of this protocol is that long */
    weft_transport_abort_connection(t);
    return;
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  char *nl;
  while (s->t == t && (nl = memchr(s->buf, '\n', s->len)) != NULL) {
    size_t used = (size_t)(nl + 1 - s->buf);
    if (nl > s->buf && nl[-1] == '\r') nl--;
    *nl = '\0';
    on_line(s, s->buf);
    s->len -= used;
    memmove(s->buf, s->buf + used, s->len);
  }
  /* After an upgrade inside on_line, whatever followed "STARTTLS" or "READY" in this read was
   * already TLS; neither end sends anything there before the handshake, so nothing is lost. */
  if (s->t != t) s->len = 0;
}

static void side_lost(weft_transport *t, int reason, void *user) {
  (void)t;
  side *s = user;
  s->closed = reason;
  printf("%s: connection closed (%s)\n", s->server ? "server" : "client", reason == 0 ? "clean" : weft_strerror(reason));
  if (--s->d->open == 0) {
    weft_listening_port_close(s->d->port);
    s->d->port = NULL;
    weft_reactor_stop(s->d->r);
  }
}

static const weft_protocol_callbacks side_callbacks = {
    .connection_made = side_made, .data_received = side_data, .connection_lost = side_lost};

/* The upgrade: the plaintext protocol hands its connection over to TLS, keeping its state. */
static void side_start_tls(side *s) {
  printf("%s: switching this connection to TLS\n", s->server ? "server" : "client");
  weft_protocol proto = {.cb = &side_callbacks, .user = s};
  weft_tls_context *ctx = s->server ? s->d->server_ctx : s->d->client_ctx;
  weft_transport *plain = s->t;
  s->t = NULL; /* no plaintext line is read past this point */
  int rc = weft_tls_start(NULL, plain, ctx, s->server ? NULL : "localhost", &proto);
  if (rc) {
    printf("%s: cannot start TLS: %s\n", s->server ? "server" : "client", weft_strerror(rc));
    weft_transport_abort_connection(plain);
  }
}

static int side_build(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer;
  *out = (weft_protocol){.cb = &side_callbacks, .user = user};
  return 0;
}

static void client_failed(void *user, int reason) {
  side *s = user;
  printf("client: cannot connect: %s\n", weft_strerror(reason));
  weft_listening_port_close(s->d->port);
  s->d->port = NULL;
  weft_reactor_stop(s->d->r);
}

static int make_contexts(demo *d) {
  weft_tls_server_options so;
  weft_tls_server_options_init(&so);
  so.cert_file = d->cert.cert;
  so.key_file = d->cert.key;
  weft_tls_client_options co;
  weft_tls_client_options_init(&co);
  co.ca_file = d->cert.cert;
  int rc = weft_tls_server_context_new(&d->server_ctx, &so);
  if (rc == 0) rc = weft_tls_client_context_new(&d->client_ctx, &co);
  return rc;
}

static int run(demo *d) {
  int rc = make_contexts(d);
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = "127.0.0.1";
  weft_factory sf = {.build_protocol = side_build, .user = &d->server};
  weft_factory cf = {.build_protocol = side_build, .connection_failed = client_failed, .user = &d->client};
  weft_address where;
  if (rc == 0) rc = weft_tcp_listen(&d->port, d->r, 0, &lo, &sf);
  if (rc == 0) rc = weft_listening_port_address(d->port, &where);
  if (rc == 0) rc = weft_tcp_connect(NULL, d->r, &where, NULL, &cf);
  if (rc == 0) {
    printf("server: listening on 127.0.0.1 in plaintext; the client connects\n");
    weft_reactor_run(d->r);
  } else {
    fprintf(stderr, "starttls: %s (%s)\n", weft_strerror(rc), weft_tls_last_error());
    if (d->port) weft_listening_port_close(d->port);
  }
  weft_tls_context_free(d->server_ctx);
  weft_tls_context_free(d->client_ctx);
  return rc;
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fprintf(stderr, "usage: starttls\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  demo d = {.server = {.server = true, .closed = -1}, .client = {.closed = -1}};
  d.server.d = d.client.d = &d;
  if (!demo_cert_make(&d.cert)) {
    fprintf(stderr, "starttls: cannot make a certificate\n");
    return 1;
  }
  int rc = weft_reactor_new(&d.r, NULL);
  if (rc == 0) rc = run(&d);
  if (d.r && weft_reactor_free(d.r) != 0) fprintf(stderr, "starttls: handles left open\n");
  demo_cert_remove(&d.cert);
  printf("starttls: %d lines in plaintext, %d over TLS\n", d.plain_lines, d.tls_lines);
  bool ok = rc == 0 && d.plain_lines == 6 && d.tls_lines == 4 && d.client.closed == 0 && d.server.closed == 0;
  return ok ? 0 : 1;
}
