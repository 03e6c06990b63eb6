/* http_server.c: the HTTP/1.1 server object and its factory (twisted.web.http.HTTPFactory). */
#include <stdlib.h>
#include <string.h>

#include "web/http_internal.h"

void weft_http_server_options_init(weft_http_server_options *o) {
  weft__h1_limits l;
  weft__h1_limits_init(&l);
  memset(o, 0, sizeof *o);
  o->max_request_line = l.max_request_line;
  o->max_header_bytes = l.max_header_bytes;
  o->max_headers = l.max_headers;
  o->max_body = l.max_body;
  o->request_timeout = 30;
  o->idle_timeout = 60;
  o->max_requests = 10000;
  o->server_name = "weft";
  o->default_content_type = "text/plain; charset=utf-8";
}

/* A header value we put on every response: it must not split the head. */
static bool header_value_ok(const char *s) { return s == NULL || strpbrk(s, "\r\n") == NULL; }

static char *dup_or_null(const char *s) {
  if (!s || !*s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = weft__malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* Builds "Date: ...\r\nServer: ...\r\n"; the date is filled in by weft__http_refresh_date. */
static int build_common(weft_http_server *srv) {
  size_t name_len = srv->server_name ? strlen(srv->server_name) : 0;
  size_t n = 6 + 29 + 2 + (name_len ? 8 + name_len + 2 : 0);
  srv->common = weft__malloc(n + 1);
  if (!srv->common) return WEFT_ENOMEM;
  memcpy(srv->common, "Date: ", 6);
  memset(srv->common + 6, ' ', 29);
  memcpy(srv->common + 35, "\r\n", 2);
  if (name_len) {
    memcpy(srv->common + 37, "Server: ", 8);
    memcpy(srv->common + 45, srv->server_name, name_len);
    memcpy(srv->common + 45 + name_len, "\r\n", 2);
  }
  srv->common[n] = '\0';
  srv->common_len = n;
  srv->date_next = -1e300;
  return 0;
}

static int build_protocol(void *user, const weft_address *peer, weft_protocol *out);

static void server_destroy(weft_http_server *srv) {
  weft__free(srv->server_name);
  weft__free(srv->default_content_type);
  weft__free(srv->common);
  weft__free(srv->path_scratch);
  weft__http_upgraders_free(srv);
  weft__free(srv);
}

int weft_http_server_new(weft_http_server **out, weft_reactor *r, const weft_http_server_options *o) {
  weft_http_server_options def;
  if (!o) {
    weft_http_server_options_init(&def);
    o = &def;
  }
  *out = NULL;
  if (!r || o->max_headers > WEFT__H1_MAX_FIELDS || o->max_request_line == 0 ||
      !header_value_ok(o->server_name) || !header_value_ok(o->default_content_type))
    return WEFT_EINVAL;
  weft_http_server *srv = weft__calloc(1, sizeof *srv);
  if (!srv) return WEFT_ENOMEM;
  srv->r = r;
  srv->o = *o;
  srv->server_name = dup_or_null(o->server_name);
  srv->default_content_type = dup_or_null(o->default_content_type);
  srv->path_scratch = weft__malloc(o->max_request_line);
  if ((o->server_name && *o->server_name && !srv->server_name) ||
      (o->default_content_type && *o->default_content_type && !srv->default_content_type) ||
      !srv->path_scratch || build_common(srv) != 0) {
    server_destroy(srv);
    return WEFT_ENOMEM;
  }
  srv->o.server_name = srv->server_name;
  srv->o.default_content_type = srv->default_content_type;
  weft__h1_limits_init(&srv->limits);
  srv->limits.max_request_line = o->max_request_line;
  srv->limits.max_header_bytes = o->max_header_bytes;
  srv->limits.max_headers = o->max_headers;
  srv->limits.max_body = o->max_body;
  srv->factory = (weft_factory){.build_protocol = build_protocol, .user = srv};
  *out = srv;
  return 0;
}

void weft_http_server_set_handler(weft_http_server *srv, weft_http_handler fn, void *user) {
  srv->handler = fn;
  srv->dhandler = NULL;
  srv->handler_user = user;
}

void weft_http_server_set_deferred_handler(weft_http_server *srv, weft_http_handler_deferred fn, void *user) {
  srv->dhandler = fn;
  srv->handler = NULL;
  srv->handler_user = user;
}

const weft_factory *weft_http_server_factory(weft_http_server *srv) { return &srv->factory; }

size_t weft_http_server_connections(const weft_http_server *srv) { return srv->nconns; }

weft_log_publisher *weft__http_log(const weft_http_server *srv) { return weft_reactor_log(srv->r); }

static void resume_task_fn(weft__task *t);

static int build_protocol(void *user, const weft_address *peer, weft_protocol *out) {
  (void)peer; /* read when a log line needs it: most requests never do */
  weft_http_server *srv = user;
  if (srv->freeing || srv->draining) return WEFT_ECLOSED; /* the transport closes it at once */
  weft__http_conn *c = weft__calloc(1, sizeof *c);
  if (!c) return WEFT_ENOMEM;
  c->srv = srv;
  c->req.conn = c;
  c->resume_task.fn = resume_task_fn;
  weft__h1_parser_init(&c->parser, &weft__http_parser_callbacks, c, &srv->limits);
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  out->cb = &weft__http_channel_callbacks;
  out->user = c;
  return 0;
}

static void resume_task_fn(weft__task *t) {
  weft__http_conn *c = (weft__http_conn *)((char *)t - offsetof(weft__http_conn, resume_task));
  weft__http_conn_resume(c);
}

void weft__http_conn_maybe_free(weft__http_conn *c) {
  if (!c->lost || c->guard || c->req.phase != WEFT__HTTP_IDLE) return;
  weft_http_server *srv = c->srv;
  weft__http_request_reset(&c->req);
  weft__free(c->buf);
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nconns--;
  weft__free(c);
  if (srv->freeing && srv->nconns == 0) server_destroy(srv);
  else weft__http_drain_check(srv);
}

void weft_http_server_free(weft_http_server *srv) {
  if (!srv || srv->freeing) return; /* freeing again: from the drain's callbacks below */
  srv->freeing = true;
  weft__http_drain_abandon(srv);
  srv->handler = NULL;
  srv->dhandler = NULL;
  if (srv->nconns == 0) {
    server_destroy(srv);
    return;
  }
  for (weft__http_conn *c = srv->conns; c; c = c->next)
    if (c->t && !c->closing) {
      c->closing = true;
      weft_transport_abort_connection(c->t);
    }
}
