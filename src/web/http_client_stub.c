/* http_client_stub.c: the in-memory client (treq.testing.StubTreq): an agent whose connector
 * joins each connection to a weft_http_server through the test kit's memory pipe, no sockets. */
#include "web/http_client_internal.h"
#include "weft/testing.h"

static weft_deferred *stub_connect(void *user, weft_reactor *r, const char *scheme, const char *host, int port,
                                   const weft_factory *f) {
  weft_http_server *srv = user;
  int rc = weft_memory_pipe_connect(r, f, weft_http_server_factory(srv));
  if (rc)
    return weft_fail(weft_reactor_log(r), weft_failure_new(WEFT_HTTP_CLIENT_DOMAIN, rc, "cannot connect to %s:%d (%s, in memory): %s",
                                                           host, port, scheme, weft_strerror(rc)));
  return weft_succeed(weft_reactor_log(r), weft_none());
}

weft_http_connector weft_http_stub_connector(weft_http_server *srv) {
  return (weft_http_connector){stub_connect, srv};
}

int weft_http_stub_new(weft_http_agent **out, weft_reactor *r, weft_http_server *srv) {
  weft_http_agent_options o;
  weft_http_agent_options_init(&o);
  o.connector = (weft_http_connector){stub_connect, srv};
  o.connect_timeout = 0;
  return weft_http_agent_new(out, r, &o);
}
