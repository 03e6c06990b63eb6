/* endpoint_plugin.c: the per-process registry of endpoint types added by applications
 * (Twisted's IStreamServerEndpointStringParser / IStreamClientEndpointStringParserWithReactor
 * plugins, found there through twisted.plugin; here registered explicitly by prefix).
 *
 * A mutex guards the two lists, so registration and parsing may happen on any thread. Entries
 * are copied in and copied out: a parse holds the lock only while it looks the prefix up. */
#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "net/endpoint_internal.h"
#include "weft/errors.h"

#define PREFIX_MAX 32

typedef struct entry {
  struct entry *next;
  char prefix[PREFIX_MAX];
  bool server;
  weft_server_endpoint_plugin s;
  weft_client_endpoint_plugin c;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *entries;

static bool prefix_ok(const char *p) {
  size_t n = p ? strlen(p) : 0;
  if (n == 0 || n >= PREFIX_MAX) return false;
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_+.", *p)))
      return false;
  return true;
}

/* Call with the lock held. */
static entry **find(const char *prefix, bool server) {
  entry **e = &entries;
  while (*e && ((*e)->server != server || strcmp((*e)->prefix, prefix) != 0)) e = &(*e)->next;
  return e;
}

static int add(const char *prefix, bool server, const weft_server_endpoint_plugin *s,
               const weft_client_endpoint_plugin *c) {
  if (!prefix_ok(prefix)) return WEFT_EINVAL;
  if (server ? weft__ep_server_type(prefix) != NULL : weft__ep_client_type(prefix) != NULL) return WEFT_EEXIST;
  entry *n = weft__calloc(1, sizeof *n);
  if (!n) return WEFT_ENOMEM;
  strcpy(n->prefix, prefix);
  n->server = server;
  if (s) n->s = *s;
  if (c) n->c = *c;
  pthread_mutex_lock(&lock);
  entry **at = find(prefix, server);
  int rc = *at ? WEFT_EEXIST : 0;
  if (!rc) *at = n;
  pthread_mutex_unlock(&lock);
  if (rc) weft__free(n);
  return rc;
}

static int remove_entry(const char *prefix, bool server) {
  if (!prefix) return WEFT_ENOENT;
  pthread_mutex_lock(&lock);
  entry **at = find(prefix, server), *gone = *at;
  if (gone) *at = gone->next;
  pthread_mutex_unlock(&lock);
  weft__free(gone);
  return gone ? 0 : WEFT_ENOENT;
}

int weft_endpoint_register_server(const char *prefix, const weft_server_endpoint_plugin *p) {
  if (!p || !p->listen) return WEFT_EINVAL;
  return add(prefix, true, p, NULL);
}

int weft_endpoint_register_client(const char *prefix, const weft_client_endpoint_plugin *p) {
  if (!p || !p->connect) return WEFT_EINVAL;
  return add(prefix, false, NULL, p);
}

int weft_endpoint_unregister_server(const char *prefix) { return remove_entry(prefix, true); }
int weft_endpoint_unregister_client(const char *prefix) { return remove_entry(prefix, false); }

static bool lookup(const char *prefix, bool server, weft_server_endpoint_plugin *s, weft_client_endpoint_plugin *c) {
  if (!prefix) return false;
  pthread_mutex_lock(&lock);
  entry *e = *find(prefix, server);
  if (e && s) *s = e->s;
  if (e && c) *c = e->c;
  pthread_mutex_unlock(&lock);
  return e != NULL;
}

bool weft__ep_find_server_plugin(const char *prefix, weft_server_endpoint_plugin *out) {
  return lookup(prefix, true, out, NULL);
}

bool weft__ep_find_client_plugin(const char *prefix, weft_client_endpoint_plugin *out) {
  return lookup(prefix, false, NULL, out);
}

bool weft_server_endpoint_type_known(const char *name) {
  return name && (weft__ep_server_type(name) || lookup(name, true, NULL, NULL));
}

bool weft_client_endpoint_type_known(const char *name) {
  return name && (weft__ep_client_type(name) || lookup(name, false, NULL, NULL));
}
