/* http_hello: the "plaintext" benchmark server on weft's HTTP/1.1 core (the peer of nginx's
 * `return 200` and twisted.web's Resource returning bytes): GET /plaintext answers "Hello, World!"
 * (text/plain), anything else 404. For ../shared/bench/http1.sh:
 *   ../shared/bench/http1.sh weft -- build/bench/http_hello --port {PORT}
 * Usage: http_hello [--port PORT] [--interface ADDR]  (default 8080, every interface). Stops on
 * SIGTERM or SIGINT. Settings differ from the server's defaults as nginx's bench config does:
 * no limit of requests per connection, keep-alive idle timeout 300 s. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/http.h"
#include "weft/tcp.h"

static void hello(weft_http_request *req, void *user) {
  (void)user;
  size_t n;
  const char *path = weft_http_request_path(req, &n);
  if (n == 10 && memcmp(path, "/plaintext", 10) == 0) {
    static const weft_http_header h[] = {{"Content-Type", "text/plain"}};
    weft_http_respond(req, 200, h, 1, "Hello, World!", 13);
  } else {
    weft_http_respond(req, 404, NULL, 0, "", 0);
  }
}

static void on_signal(weft_reactor *r, int signo, void *arg) {
  (void)signo;
  (void)arg;
  weft_reactor_stop(r);
}

int main(int argc, char **argv) {
  int port = 8080;
  const char *iface = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--interface") == 0 && i + 1 < argc) iface = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--port PORT] [--interface ADDR]\n", argv[0]);
      return 2;
    }
  }
  weft_reactor *r;
  int rc = weft_reactor_new(&r, NULL);
  if (rc != 0) {
    fprintf(stderr, "http_hello: reactor: %s\n", weft_strerror(rc));
    return 1;
  }
  weft_http_server_options o;
  weft_http_server_options_init(&o);
  o.max_requests = 0;
  o.idle_timeout = 300;
  weft_http_server *srv;
  weft_listening_port *lp = NULL;
  weft_signal_watch *sigterm = NULL, *sigint = NULL;
  if ((rc = weft_http_server_new(&srv, r, &o)) != 0) {
    fprintf(stderr, "http_hello: server: %s\n", weft_strerror(rc));
    return 1;
  }
  weft_http_server_set_handler(srv, hello, NULL);
  weft_listen_options lo;
  weft_listen_options_init(&lo);
  lo.interface = iface;
  lo.backlog = 4096;
  rc = weft_tcp_listen(&lp, r, port, &lo, weft_http_server_factory(srv));
  if (rc == 0) rc = weft_reactor_watch_signal(&sigterm, r, SIGTERM, on_signal, NULL);
  if (rc == 0) rc = weft_reactor_watch_signal(&sigint, r, SIGINT, on_signal, NULL);
  if (rc != 0) {
    fprintf(stderr, "http_hello: listen on port %d: %s\n", port, weft_strerror(rc));
    return 1;
  }
  weft_reactor_run(r);
  weft_listening_port_close(lp);
  weft_signal_watch_free(sigterm);
  weft_signal_watch_free(sigint);
  weft_http_server_free(srv);
  for (int i = 0; i < 100 && weft_reactor_open_handles(r) > 0; i++) weft_reactor_iterate(r, 0.01);
  weft_reactor_free(r);
  return 0;
}
