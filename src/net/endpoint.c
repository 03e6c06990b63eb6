/* endpoint.c: server endpoints parsed from strings and listened on
 * (twisted.internet.endpoints.serverFromString, TCP4ServerEndpoint, UNIXServerEndpoint).
 *
 * Parsing is two steps, so that new endpoint types only add a row to the table: a tokenizer that
 * splits at unescaped ':' and each piece at its first unescaped '=' (undoing the backslash
 * escapes), then a type-driven pass that maps positional and keyword arguments onto the type's
 * argument list and checks each value. */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "base/alloc.h"
#include "weft/endpoint.h"
#include "weft/errors.h"

typedef enum { ARG_PORT, ARG_INTERFACE, ARG_BACKLOG, ARG_PATH, ARG_MODE } arg_kind;

typedef struct arg_spec {
  const char *name;
  arg_kind kind;
  bool required;
} arg_spec;

#define MAX_ARGS 4

typedef struct endpoint_type {
  const char *name;
  arg_spec args[MAX_ARGS]; /* positional order; unused slots have name NULL */
  int (*listen)(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f,
                weft_listening_port **out);
} endpoint_type;

struct weft_server_endpoint {
  const endpoint_type *type;
  unsigned given; /* bit i: type->args[i] was given */
  int port;
  int backlog;
  unsigned mode;
  char *interface;
  char *path;
};

/* ---- the type table ---- */

static void options_from(const weft_server_endpoint *e, weft_listen_options *o) {
  weft_listen_options_init(o);
  o->interface = e->interface;
  if (e->backlog > 0) o->backlog = e->backlog;
  o->mode = e->mode;
}

static int listen_tcp(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f,
                      weft_listening_port **out) {
  weft_listen_options o;
  options_from(e, &o);
  return weft_tcp_listen(out, r, e->port, &o, f);
}

static int listen_unix(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f,
                       weft_listening_port **out) {
  weft_listen_options o;
  options_from(e, &o);
  return weft_unix_listen(out, r, e->path, &o, f);
}

/* Argument names and order follow Twisted's _parseTCP(port, interface, backlog) and
 * _parseUNIX(address, mode, backlog). */
static const endpoint_type types[] = {
    {"tcp",
     {{"port", ARG_PORT, true}, {"interface", ARG_INTERFACE, false}, {"backlog", ARG_BACKLOG, false}},
     listen_tcp},
    {"unix",
     {{"address", ARG_PATH, true}, {"mode", ARG_MODE, false}, {"backlog", ARG_BACKLOG, false}},
     listen_unix},
};

static const endpoint_type *find_type(const char *name) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcmp(types[i].name, name) == 0) return &types[i];
  return NULL;
}

/* ---- the tokenizer ---- */

typedef struct token {
  char *key; /* NULL: a positional argument */
  char *value;
} token;

/* Splits s in place. At most max tokens are made (the caller counts colons + 1, which is enough).
 * Returns false on a trailing lone backslash. */
static bool tokenize(char *s, token *toks, size_t *n) {
  char *w = s;
  size_t k = 0;
  toks[0] = (token){NULL, s};
  for (char *r = s; *r; r++) {
    if (*r == '\\') {
      if (!r[1]) return false;
      *w++ = *++r;
    } else if (*r == ':') {
      *w++ = '\0';
      toks[++k] = (token){NULL, w};
    } else if (*r == '=' && !toks[k].key) {
      *w++ = '\0';
      toks[k].key = toks[k].value;
      toks[k].value = w;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
  *n = k + 1;
  return true;
}

/* ---- values ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return WEFT_EPARSE;
}

/* Plain decimal (or octal with base 8): digits only, no sign, no spaces, at most max. */
static bool parse_uint(const char *s, int base, long max, long *out) {
  long v = 0;
  if (!*s) return false;
  for (; *s; s++) {
    if (*s < '0' || *s >= '0' + base) return false;
    v = v * base + (*s - '0');
    if (v > max) return false;
  }
  *out = v;
  return true;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = weft__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Checks value and stores it in e. On a bad value, writes why (without the "bad endpoint" head). */
static int set_arg(weft_server_endpoint *e, const arg_spec *a, const char *v, char *why, size_t n) {
  long x;
  weft_address addr;
  switch (a->kind) {
    case ARG_PORT:
      if (!parse_uint(v, 10, 65535, &x)) return fail(why, n, "port must be 0..65535");
      e->port = (int)x;
      return 0;
    case ARG_BACKLOG:
      if (!parse_uint(v, 10, INT_MAX, &x) || x == 0) return fail(why, n, "backlog must be a positive integer");
      e->backlog = (int)x;
      return 0;
    case ARG_MODE:
      if (!parse_uint(v, 8, 07777, &x)) return fail(why, n, "mode must be an octal number 0..07777, not \"%s\"", v);
      e->mode = (unsigned)x;
      return 0;
    case ARG_INTERFACE:
      if (weft_address_from_ip(&addr, v, 0) != 0)
        return fail(why, n, "interface must be a numeric IPv4 or IPv6 address, not \"%s\"%s", v,
                    *v ? "" : " (write the colons of an IPv6 address as \\:)");
      return (e->interface = dup_str(v)) ? 0 : WEFT_ENOMEM;
    case ARG_PATH: {
      int rc = weft_address_from_unix(&addr, v);
      if (rc == WEFT_ENAMETOOLONG)
        return fail(why, n, "path is too long (at most %zu bytes)", sizeof addr.u.un.sun_path - 1);
      if (rc) return fail(why, n, "path is empty");
      return (e->path = dup_str(v)) ? 0 : WEFT_ENOMEM;
    }
  }
  return WEFT_EINVAL;
}

/* ---- parse ---- */

/* The raw text before the first unescaped ':' (for messages about the type). */
static size_t raw_prefix_len(const char *desc) {
  size_t i = 0;
  while (desc[i] && desc[i] != ':') i += (desc[i] == '\\' && desc[i + 1]) ? 2 : 1;
  return i;
}

static int unknown_type(const char *desc, char *err, size_t errlen) {
  int n = (int)raw_prefix_len(desc);
  long port;
  if (!desc[n] && parse_uint(desc, 10, 65535, &port))
    return fail(err, errlen, "unknown endpoint type \"%s\" in \"%s\" (did you mean \"tcp:%s\"?)", desc, desc, desc);
  return fail(err, errlen, "unknown endpoint type \"%.*s\" in \"%s\"", n, desc, desc);
}

/* Maps the tokens after the type onto e's arguments. */
static int assign_args(weft_server_endpoint *e, const token *toks, size_t n, const char *desc, char *err,
                       size_t errlen) {
  const endpoint_type *t = e->type;
  size_t next_pos = 0;
  char why[160];
  for (size_t i = 1; i < n; i++) {
    size_t a = 0;
    if (toks[i].key) {
      while (a < MAX_ARGS && t->args[a].name && strcmp(t->args[a].name, toks[i].key) != 0) a++;
      if (a == MAX_ARGS || !t->args[a].name)
        return fail(err, errlen, "unknown option \"%s\" for %s in \"%s\"", toks[i].key, t->name, desc);
    } else {
      a = next_pos++;
      if (a == MAX_ARGS || !t->args[a].name)
        return fail(err, errlen, "bad endpoint \"%s\": too many arguments for %s at \"%s\"", desc, t->name,
                    toks[i].value);
    }
    if (e->given & (1u << a))
      return fail(err, errlen, "bad endpoint \"%s\": %s given twice", desc, t->args[a].name);
    int rc = set_arg(e, &t->args[a], toks[i].value, why, sizeof why);
    if (rc == WEFT_EPARSE) return fail(err, errlen, "bad endpoint \"%s\": %s", desc, why);
    if (rc) return rc;
    e->given |= 1u << a;
  }
  for (size_t a = 0; a < MAX_ARGS && t->args[a].name; a++)
    if (t->args[a].required && !(e->given & (1u << a)))
      return fail(err, errlen, "bad endpoint \"%s\": missing %s", desc, t->args[a].name);
  return 0;
}

int weft_server_endpoint_parse(weft_server_endpoint **out, const char *desc, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!out) return WEFT_EINVAL;
  *out = NULL;
  if (!desc) return WEFT_EINVAL;
  if (!*desc) return fail(err, errlen, "bad endpoint \"\": empty description");
  size_t len = strlen(desc), ntok = 1;
  for (const char *p = desc; *p; p++) ntok += *p == ':';
  char *work = weft__malloc(len + 1);
  token *toks = weft__malloc(ntok * sizeof *toks);
  weft_server_endpoint *e = weft__calloc(1, sizeof *e);
  int rc = 0;
  if (!work || !toks || !e) {
    rc = WEFT_ENOMEM;
    goto done;
  }
  memcpy(work, desc, len + 1);
  size_t n;
  if (!tokenize(work, toks, &n)) {
    rc = fail(err, errlen, "bad endpoint \"%s\": trailing backslash", desc);
    goto done;
  }
  e->type = toks[0].key ? NULL : find_type(toks[0].value);
  if (!e->type) {
    rc = unknown_type(desc, err, errlen);
    goto done;
  }
  rc = assign_args(e, toks, n, desc, err, errlen);
done:
  weft__free(work);
  weft__free(toks);
  if (rc) {
    weft_server_endpoint_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

/* ---- describe ---- */

typedef struct sbuf {
  char *buf;
  size_t size, len;
} sbuf;

static void put_raw(sbuf *b, const char *s) {
  for (; *s; s++, b->len++)
    if (b->len + 1 < b->size) b->buf[b->len] = *s;
}

static void put_escaped(sbuf *b, const char *s) {
  for (char two[3] = {'\\', 0, 0}; *s; s++) {
    two[1] = *s;
    put_raw(b, (*s == ':' || *s == '=' || *s == '\\') ? two : two + 1);
  }
}

static void put_value(sbuf *b, const weft_server_endpoint *e, arg_kind kind) {
  char num[24];
  switch (kind) {
    case ARG_PORT: snprintf(num, sizeof num, "%d", e->port); break;
    case ARG_BACKLOG: snprintf(num, sizeof num, "%d", e->backlog); break;
    case ARG_MODE: snprintf(num, sizeof num, "0%o", e->mode); break;
    case ARG_INTERFACE: put_escaped(b, e->interface); return;
    case ARG_PATH: put_escaped(b, e->path); return;
  }
  put_raw(b, num);
}

int weft_server_endpoint_describe(const weft_server_endpoint *e, char *buf, size_t size) {
  if (!size) return WEFT_ENOSPC;
  sbuf b = {buf, size, 0};
  put_raw(&b, e->type->name);
  for (size_t a = 0; a < MAX_ARGS && e->type->args[a].name; a++) {
    if (!(e->given & (1u << a))) continue;
    put_raw(&b, ":");
    if (a > 0) {
      put_raw(&b, e->type->args[a].name);
      put_raw(&b, "=");
    }
    put_value(&b, e, e->type->args[a].kind);
  }
  buf[b.len < size ? b.len : size - 1] = '\0';
  return b.len < size ? 0 : WEFT_ENOSPC;
}

/* ---- the rest ---- */

int weft_server_endpoint_listen(const weft_server_endpoint *e, weft_reactor *r, const weft_factory *f,
                                weft_listening_port **out) {
  if (!e || !r || !out) return WEFT_EINVAL;
  return e->type->listen(e, r, f, out);
}

const char *weft_server_endpoint_type(const weft_server_endpoint *e) { return e->type->name; }

void weft_server_endpoint_free(weft_server_endpoint *e) {
  if (!e) return;
  weft__free(e->interface);
  weft__free(e->path);
  weft__free(e);
}
