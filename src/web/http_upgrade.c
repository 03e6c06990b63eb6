/* http_upgrade.c: protocol upgrades (RFC 9110 §7.8): a request with "Connection: upgrade" and
 * "Upgrade: token" for a registered token goes to that token's upgrader, which may answer 101
 * and hand the transport to its own protocol (WebSocket, h2c, a toy echo). The bytes that came
 * after the request head go to the new protocol first; from then on the connection is no longer
 * the server's. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "net/transport_internal.h"
#include "web/http1_syntax.h"
#include "web/http_internal.h"

struct weft__http_upgrader {
  char *token;
  size_t len;
  weft_http_upgrader fn;
  void *user;
};

int weft_http_server_add_upgrader(weft_http_server *srv, const char *token, weft_http_upgrader fn, void *user) {
  if (!token || !*token || !fn) return WEFT_EINVAL;
  for (const char *p = token; *p; p++)
    if (!(weft__h1_class[(unsigned char)*p] & WEFT__H1C_TCHAR)) return WEFT_EINVAL;
  size_t len = strlen(token);
  for (size_t i = 0; i < srv->nupgraders; i++)
    if (srv->upgraders[i].len == len && weft__http_name_eq(srv->upgraders[i].token, token, len)) return WEFT_EEXIST;
  weft__http_upgrader *u = weft__realloc(srv->upgraders, (srv->nupgraders + 1) * sizeof *u);
  if (!u) return WEFT_ENOMEM;
  srv->upgraders = u;
  char *copy = weft__malloc(len + 1);
  if (!copy) return WEFT_ENOMEM;
  memcpy(copy, token, len + 1);
  u[srv->nupgraders++] = (weft__http_upgrader){copy, len, fn, user};
  return 0;
}

void weft__http_upgraders_free(weft_http_server *srv) {
  for (size_t i = 0; i < srv->nupgraders; i++) weft__free(srv->upgraders[i].token);
  weft__free(srv->upgraders);
}

/* The first registered upgrader named in the Upgrade list ("websocket", "h2c, websocket/13":
 * names compared ignoring case, versions ignored), or NULL. */
static weft__http_upgrader *find(weft_http_server *srv, const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t start = i;
    while (i < n && v[i] != ',' && v[i] != '/' && v[i] != ' ' && v[i] != '\t') i++;
    size_t len = i - start;
    for (size_t k = 0; len && k < srv->nupgraders; k++)
      if (srv->upgraders[k].len == len && weft__http_name_eq(srv->upgraders[k].token, v + start, len))
        return &srv->upgraders[k];
    while (i < n && v[i] != ',') i++;
  }
  return NULL;
}

bool weft__http_dispatch_upgrade(weft__http_conn *c) {
  weft_http_request *req = &c->req;
  size_t n;
  const char *v = weft_http_request_header(req, "upgrade", &n);
  weft__http_upgrader *u = v ? find(c->srv, v, n) : NULL;
  if (!u) return false; /* an unknown protocol: a plain request */
  req->upgrader = true;
  u->fn(req, u->token, u->user);
  return true;
}

/* The connection leaves the server: p gets it, with the bytes that followed the request. */
void weft__http_upgrade_handover(weft__http_conn *c, const char *rest, size_t n) {
  weft_protocol p = c->srv->upgrade_to;
  c->srv->upgrading = NULL;
  weft_transport *t = c->t;
  bool paused = c->reading_paused;
  if (c->timer) weft_delayed_call_cancel(c->timer);
  c->timer = NULL;
  weft__task_cancel(c->srv->r, &c->resume_task);
  if (c->backed_up) { /* the channel's pull producer (http_channel.c) must not outlive c */
    c->backed_up = false;
    weft_transport_unregister_producer(t);
  }
  c->guard = true; /* the new protocol may close at once: that no longer concerns c */
  weft__transport_set_protocol(t, &p);
  if (p.cb->connection_made) p.cb->connection_made(t, p.user);
  if (n && p.cb->data_received && !t->closing) p.cb->data_received(t, rest, n, p.user);
  if (paused && !t->closing) weft_transport_resume_reading(t);
  c->guard = false;
  c->lost = true;
  c->t = NULL;
  weft__http_request_reset(&c->req);
  weft__http_conn_maybe_free(c); /* frees c->buf, which rest may have pointed into */
}

int weft_http_upgrade_accept(weft_http_request *req, const weft_http_header *headers, size_t nheaders,
                             const weft_protocol *p) {
  if (!p || !p->cb) return WEFT_EINVAL;
  if (req->phase != WEFT__HTTP_HANDLING || !req->upgrader) return WEFT_ESTATE;
  weft__http_conn *c = req->conn;
  weft_http_server *srv = c->srv;
  size_t n;
  const char *v = weft_http_request_header(req, "upgrade", &n);
  weft__http_upgrader *u = v ? find(srv, v, n) : NULL;
  if (!u || nheaders > 32) return u ? WEFT_EINVAL : WEFT_ESTATE;
  weft_http_header hs[34];
  hs[0] = (weft_http_header){"Connection", "Upgrade"};
  hs[1] = (weft_http_header){"Upgrade", u->token};
  if (nheaders) memcpy(hs + 2, headers, nheaders * sizeof *headers);
  req->keep_alive = true; /* the connection goes on, as another protocol's */
  int rc = weft__http_respond_head(req, 101, hs, nheaders + 2);
  if (rc == WEFT_EINVAL) return rc;
  if (rc != 0 || c->lost || c->closing) return rc ? rc : WEFT_ECLOSED; /* gone: finished anyway */
  srv->upgrading = c;
  srv->upgrade_to = *p;
  /* On the parser's stack, process() hands over once it knows where the request ended; later,
   * the bytes that followed it wait in c->buf. */
  if (!c->dispatching) weft__http_upgrade_handover(c, c->buf, c->buf_len);
  return 0;
}
