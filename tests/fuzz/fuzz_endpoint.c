/* libFuzzer target for the endpoint-string parsers (src/net/endpoint_parse.c, endpoint_server.c,
 * endpoint_client.c, and a plugin's path through endpoint_plugin.c): any bytes either parse or
 * give WEFT_EPARSE with a NUL-terminated message, as a server and as a client description; a
 * parsed endpoint describes itself in a form that parses back to the same description. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/endpoint.h"
#include "weft/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A plugin type "plug" that accepts anything but "bad" and keeps a small state. */
static int plug_parse(void **state, const weft_endpoint_args *a, char *why, size_t n, void *user) {
  (void)user;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->v[i].value, "bad") == 0) {
      strncpy(why, "bad value", n - 1);
      why[n - 1] = '\0';
      return WEFT_EPARSE;
    }
  *state = malloc(1);
  return *state ? 0 : WEFT_ENOMEM;
}
static void plug_free(void *state, void *user) {
  (void)user;
  free(state);
}
static weft_deferred *plug_listen(void *s, weft_reactor *r, const weft_factory *f, void *u) {
  (void)s, (void)r, (void)f, (void)u;
  return NULL;
}
static weft_deferred *plug_connect(void *s, weft_reactor *r, const weft_factory *f, void *u) {
  (void)s, (void)r, (void)f, (void)u;
  return NULL;
}

static void check_server(const char *desc) {
  weft_server_endpoint *e = NULL;
  char err[256];
  int rc = weft_server_endpoint_parse(&e, desc, err, sizeof err);
  if (rc == 0) {
    char canon[1024], again[1024];
    if (weft_server_endpoint_describe(e, canon, sizeof canon) == 0) {
      weft_server_endpoint *e2 = NULL;
      if (weft_server_endpoint_parse(&e2, canon, err, sizeof err) != 0) abort(); /* must round-trip */
      if (weft_server_endpoint_describe(e2, again, sizeof again) != 0 || strcmp(canon, again) != 0) abort();
      if (strcmp(weft_server_endpoint_type(e), weft_server_endpoint_type(e2)) != 0) abort();
      weft_server_endpoint_free(e2);
    }
    weft_server_endpoint_free(e);
  } else {
    if (rc != WEFT_EPARSE && rc != WEFT_ENOMEM) abort();
    if (e != NULL || memchr(err, '\0', sizeof err) == NULL) abort();
  }
}

static void check_client(const char *desc) {
  weft_client_endpoint *e = NULL;
  char err[256];
  int rc = weft_client_endpoint_parse(&e, desc, err, sizeof err);
  if (rc == 0) {
    char canon[1024], again[1024];
    if (weft_client_endpoint_describe(e, canon, sizeof canon) == 0) {
      weft_client_endpoint *e2 = NULL;
      if (weft_client_endpoint_parse(&e2, canon, err, sizeof err) != 0) abort();
      if (weft_client_endpoint_describe(e2, again, sizeof again) != 0 || strcmp(canon, again) != 0) abort();
      weft_client_endpoint_free(e2);
    }
    weft_client_endpoint_free(e);
  } else {
    if (rc != WEFT_EPARSE && rc != WEFT_ENOMEM) abort();
    if (e != NULL || memchr(err, '\0', sizeof err) == NULL) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int registered;
  if (!registered) {
    weft_server_endpoint_plugin sp = {.parse = plug_parse, .listen = plug_listen, .free_state = plug_free};
    weft_client_endpoint_plugin cp = {.parse = plug_parse, .connect = plug_connect, .free_state = plug_free};
    weft_endpoint_register_server("plug", &sp);
    weft_endpoint_register_client("plug", &cp);
    registered = 1;
  }
  char *desc = malloc(size + 1);
  if (!desc) return 0;
  memcpy(desc, data, size);
  desc[size] = '\0'; /* embedded NULs end the string early, as they would for a C caller */
  check_server(desc);
  check_client(desc);
  free(desc);
  return 0;
}
