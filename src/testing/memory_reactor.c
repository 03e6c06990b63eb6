/* memory_reactor.c: a reactor whose listens and connects are recorded, not made, on a manual clock
 * (Twisted's proto_helpers.MemoryReactorClock). It is an ordinary weft_reactor with the net hooks
 * of src/net set, so the real listen/connect code paths (argument checks, handle counting,
 * start/stop_factory) run unchanged up to the socket calls. */
#include <arpa/inet.h>
#include <string.h>

#include "base/alloc.h"
#include "net/net_hooks.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"
#include "weft/testing.h"

/* Made-up ports for listens on port 0 start here (Linux's first ephemeral port). */
#define FAKE_PORT_BASE 32768

typedef struct memory_state {
  weft_test_clock *clock;
  weft_memory_listen *listens;
  size_t nlistens, cap_listens;
  weft_memory_connect *connects;
  size_t nconnects, cap_connects;
  int next_fake_port;
} memory_state;

static int grow(void **items, size_t *cap, size_t len, size_t size) {
  if (len < *cap) return 0;
  size_t n = *cap ? *cap * 2 : 8;
  void *p = weft__realloc(*items, n * size);
  if (!p) return WEFT_ENOMEM;
  *items = p;
  *cap = n;
  return 0;
}

/* The path of a Unix address as a user would write it: '@name' for an abstract one. */
static void unix_path(const weft_address *a, char *out, size_t size) {
  size_t off = offsetof(struct sockaddr_un, sun_path);
  size_t n = a->len > off ? a->len - off : 0;
  const char *p = a->u.un.sun_path;
  size_t k = 0;
  if (n > 0 && p[0] == '\0') {
    out[k++] = '@';
    p++;
    n--;
  }
  for (size_t i = 0; i < n && p[i] && k + 1 < size; i++) out[k++] = p[i];
  out[k] = '\0';
}

static void ip_host(const weft_address *a, char *out, size_t size) {
  const void *src = a->u.sa.sa_family == AF_INET6 ? (const void *)&a->u.in6.sin6_addr
                                                  : (const void *)&a->u.in4.sin_addr;
  if (!inet_ntop(a->u.sa.sa_family, src, out, (socklen_t)size)) out[0] = '\0';
}

static void set_port(weft_address *a, int port) {
  if (a->u.sa.sa_family == AF_INET6) a->u.in6.sin6_port = htons((uint16_t)port);
  else a->u.in4.sin_port = htons((uint16_t)port);
}

static void copy_str(char *dst, size_t size, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n >= size) n = size - 1;
  if (n) memcpy(dst, src, n);
  dst[n] = '\0';
}

static int hook_listen(void *user, weft_address *addr, const weft_listen_options *o, const weft_factory *f) {
  memory_state *m = user;
  if (grow((void **)&m->listens, &m->cap_listens, m->nlistens, sizeof *m->listens)) return WEFT_ENOMEM;
  weft_memory_listen *l = &m->listens[m->nlistens++];
  memset(l, 0, sizeof *l);
  if (addr->u.sa.sa_family == AF_UNIX) {
    l->kind = WEFT_MEMORY_UNIX;
    l->port = -1;
    unix_path(addr, l->path, sizeof l->path);
  } else {
    l->kind = WEFT_MEMORY_TCP;
    l->port = weft_address_port(addr);
    copy_str(l->interface, sizeof l->interface, o->interface);
    /* code that listens on 0 and then reports its port should see a real-looking one */
    if (l->port == 0) set_port(addr, m->next_fake_port++);
  }
  l->address = *addr;
  l->backlog = o->backlog;
  l->reuseport = o->reuseport;
  l->ipv6_only = o->ipv6_only;
  l->mode = o->mode;
  l->factory = f;
  return 0;
}

static bool same_address(const weft_address *a, const weft_address *b) {
  return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

static void hook_listen_closed(void *user, const weft_address *addr, const weft_factory *f) {
  memory_state *m = user;
  for (size_t i = 0; i < m->nlistens; i++) {
    weft_memory_listen *l = &m->listens[i];
    if (!l->closed && l->factory == f && same_address(&l->address, addr)) {
      l->closed = true;
      return;
    }
  }
}

static int hook_connect(void *user, const weft_address *addr, const weft_connect_options *o,
                        const weft_factory *f) {
  memory_state *m = user;
  if (grow((void **)&m->connects, &m->cap_connects, m->nconnects, sizeof *m->connects)) return WEFT_ENOMEM;
  weft_memory_connect *c = &m->connects[m->nconnects++];
  memset(c, 0, sizeof *c);
  c->address = *addr;
  if (addr->u.sa.sa_family == AF_UNIX) {
    c->kind = WEFT_MEMORY_UNIX;
    c->port = -1;
    unix_path(addr, c->path, sizeof c->path);
  } else {
    c->kind = WEFT_MEMORY_TCP;
    c->port = weft_address_port(addr);
    ip_host(addr, c->host, sizeof c->host);
  }
  c->timeout = o->timeout;
  if (o->bind_address) {
    c->has_bind_address = true;
    c->bind_address = *o->bind_address;
  }
  c->factory = f;
  return 0;
}

static const weft__net_hooks memory_hooks = {
    .listen = hook_listen,
    .listen_closed = hook_listen_closed,
    .connect = hook_connect,
};

static void state_free(void *user) {
  memory_state *m = user;
  weft_test_clock_free(m->clock);
  weft__free(m->listens);
  weft__free(m->connects);
  weft__free(m);
}

int weft_memory_reactor_new(weft_reactor **out) {
  memory_state *m = weft__calloc(1, sizeof *m);
  if (!m) return WEFT_ENOMEM;
  m->next_fake_port = FAKE_PORT_BASE;
  int rc = weft_test_clock_new(&m->clock);
  if (rc) {
    weft__free(m);
    return rc;
  }
  weft_reactor_options o;
  weft_reactor_options_init(&o);
  o.backend = WEFT_BACKEND_POLL; /* present everywhere; the memory reactor needs nothing more */
  o.clock = weft_test_clock_clock(m->clock);
  weft_reactor *r;
  if ((rc = weft_reactor_new(&r, &o)) != 0) {
    state_free(m);
    return rc;
  }
  weft__reactor_set_net_hooks(r, &memory_hooks, m);
  weft__reactor_set_free_hook(r, state_free, m);
  *out = r;
  return 0;
}

bool weft_memory_reactor_is(const weft_reactor *r) {
  return r && weft__reactor_net_hooks(r) == &memory_hooks;
}

static memory_state *state_of(const weft_reactor *r) {
  return weft_memory_reactor_is(r) ? weft__reactor_net_hooks_user(r) : NULL;
}

int weft_memory_reactor_advance(weft_reactor *r, double seconds) {
  memory_state *m = state_of(r);
  return m ? weft_test_clock_advance(m->clock, r, seconds) : WEFT_EINVAL;
}

weft_test_clock *weft_memory_reactor_clock(weft_reactor *r) {
  memory_state *m = state_of(r);
  return m ? m->clock : NULL;
}

size_t weft_memory_reactor_listen_count(const weft_reactor *r) {
  memory_state *m = state_of(r);
  return m ? m->nlistens : 0;
}

int weft_memory_reactor_listen_info(const weft_reactor *r, size_t i, weft_memory_listen *out) {
  memory_state *m = state_of(r);
  if (!m) return WEFT_EINVAL;
  if (i >= m->nlistens) return WEFT_ERANGE;
  *out = m->listens[i];
  return 0;
}

size_t weft_memory_reactor_connect_count(const weft_reactor *r) {
  memory_state *m = state_of(r);
  return m ? m->nconnects : 0;
}

int weft_memory_reactor_connect_info(const weft_reactor *r, size_t i, weft_memory_connect *out) {
  memory_state *m = state_of(r);
  if (!m) return WEFT_EINVAL;
  if (i >= m->nconnects) return WEFT_ERANGE;
  *out = m->connects[i];
  return 0;
}
