/* endpoint_parse.c: the endpoint-string syntax shared by server and client endpoints
 * (twisted.internet.endpoints._tokenize, _parse and quoteStringArgument).
 *
 * Parsing is two steps, so that a new endpoint type only adds a row to a table: a tokenizer that
 * splits at unescaped ':' and each piece at its first unescaped '=' (undoing the backslash
 * escapes), then a type-driven pass that maps positional and keyword arguments onto the type's
 * argument list and checks each value by its kind. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/alloc.h"
#include "net/endpoint_internal.h"
#include "weft/errors.h"

int weft__ep_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return WEFT_EPARSE;
}

/* ---- the tokenizer ---- */

/* Splits s in place into toks (room for one more than the colons in s). Returns false on a
 * trailing lone backslash. */
static bool split(char *s, weft_endpoint_arg *toks, size_t *n) {
  char *w = s;
  size_t k = 0;
  toks[0] = (weft_endpoint_arg){NULL, s};
  for (char *r = s; *r; r++) {
    if (*r == '\\') {
      if (!r[1]) return false;
      *w++ = *++r;
    } else if (*r == ':') {
      *w++ = '\0';
      toks[++k] = (weft_endpoint_arg){NULL, w};
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

int weft__ep_tokenize(weft__ep_tokens *t, const char *desc, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  if (!*desc) return weft__ep_fail(err, errlen, "bad endpoint \"\": empty description");
  size_t len = strlen(desc), ntok = 1;
  for (const char *p = desc; *p; p++) ntok += *p == ':';
  t->work = weft__malloc(len + 1);
  t->v = weft__malloc(ntok * sizeof *t->v);
  if (!t->work || !t->v) {
    weft__ep_tokens_free(t);
    return WEFT_ENOMEM;
  }
  memcpy(t->work, desc, len + 1);
  if (!split(t->work, t->v, &t->n)) {
    weft__ep_tokens_free(t);
    return weft__ep_fail(err, errlen, "bad endpoint \"%s\": trailing backslash", desc);
  }
  return 0;
}

void weft__ep_tokens_free(weft__ep_tokens *t) {
  weft__free(t->work);
  weft__free(t->v);
  memset(t, 0, sizeof *t);
}

/* ---- values ---- */

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

/* DIGITS[.DIGITS], positive, at most a year: no signs, exponents, "inf" or locale surprises. */
static bool parse_seconds(const char *s, double *out) {
  double v = 0, scale = 1;
  bool frac = false, digits = false;
  for (; *s; s++) {
    if (*s == '.' && !frac) {
      frac = true;
      if (!digits) return false;
      digits = false;
      continue;
    }
    if (*s < '0' || *s > '9') return false;
    digits = true;
    if (frac) v += (*s - '0') * (scale /= 10);
    else v = v * 10 + (*s - '0');
    if (v > 31536000) return false;
  }
  if (!digits || v <= 0) return false;
  *out = v;
  return true;
}

static bool parse_bool(const char *s, long *out) {
  static const char *const yes[] = {"yes", "true", "1"}, *const no[] = {"no", "false", "0"};
  for (size_t i = 0; i < 3; i++) {
    if (strcmp(s, yes[i]) == 0) return (*out = 1), true;
    if (strcmp(s, no[i]) == 0) return (*out = 0), true;
  }
  return false;
}

/* RFC 1123 host-name syntax (letters, digits, '-', and '_' seen in the wild), dot-separated
 * labels of 1..63 bytes, at most 253 in all, an optional final dot. */
static bool host_name_syntax(const char *s) {
  size_t len = strlen(s), label = 0;
  if (len == 0 || len > 254 || (len == 254 && s[253] != '.')) return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return true;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = weft__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* The hint for an empty address: its colons were taken as separators. */
static const char *colon_hint(const char *v) { return *v ? "" : " (write the colons of an IPv6 address as \\:)"; }

/* Checks the number-like kinds; returns 1 when kind is not one of them. */
static int check_number(const weft__ep_arg *a, const char *v, long *num, double *real, char *why, size_t n) {
  switch (a->kind) {
    case WEFT__EP_PORT:
      return parse_uint(v, 10, 65535, num) ? 0 : weft__ep_fail(why, n, "%s must be 0..65535", a->name);
    case WEFT__EP_PORT1:
      return parse_uint(v, 10, 65535, num) && *num > 0 ? 0 : weft__ep_fail(why, n, "%s must be 1..65535", a->name);
    case WEFT__EP_BACKLOG:
      return parse_uint(v, 10, INT_MAX, num) && *num > 0 ? 0
                                                          : weft__ep_fail(why, n, "%s must be a positive integer", a->name);
    case WEFT__EP_MODE:
      return parse_uint(v, 8, 07777, num) ? 0
                                          : weft__ep_fail(why, n, "%s must be an octal number 0..07777, not \"%s\"", a->name, v);
    case WEFT__EP_BOOL:
      return parse_bool(v, num) ? 0 : weft__ep_fail(why, n, "%s must be yes or no (true/false, 1/0), not \"%s\"", a->name, v);
    case WEFT__EP_SECONDS:
      return parse_seconds(v, real) ? 0
                                    : weft__ep_fail(why, n, "%s must be a positive number of seconds, not \"%s\"", a->name, v);
    case WEFT__EP_FD:
      return parse_uint(v, 10, INT_MAX, num) ? 0 : weft__ep_fail(why, n, "%s must be a descriptor number, not \"%s\"", a->name, v);
    case WEFT__EP_INDEX:
      return parse_uint(v, 10, 65535, num) ? 0 : weft__ep_fail(why, n, "%s must be 0..65535, not \"%s\"", a->name, v);
    default:
      return 1;
  }
}

/* Checks the text-like kinds. */
static int check_text(const weft__ep_arg *a, const char *v, long *num, char *why, size_t n) {
  weft_address addr;
  switch (a->kind) {
    case WEFT__EP_IP:
      if (weft_address_from_ip(&addr, v, 0) == 0) return 0;
      return weft__ep_fail(why, n, "%s must be a numeric IPv4 or IPv6 address, not \"%s\"%s", a->name, v, colon_hint(v));
    case WEFT__EP_IP6:
      if (weft_address_from_ip(&addr, v, 0) == 0 && addr.u.sa.sa_family == AF_INET6) return 0;
      return weft__ep_fail(why, n, "%s must be a numeric IPv6 address, not \"%s\"%s", a->name, v, colon_hint(v));
    case WEFT__EP_HOST:
      if (weft_address_from_ip(&addr, v, 0) == 0 || host_name_syntax(v)) return 0;
      return weft__ep_fail(why, n, "%s must be a host name or a numeric address, not \"%s\"%s", a->name, v, colon_hint(v));
    case WEFT__EP_PATH: {
      int rc = weft_address_from_unix(&addr, v);
      if (rc == WEFT_ENAMETOOLONG)
        return weft__ep_fail(why, n, "path is too long (at most %zu bytes)", sizeof addr.u.un.sun_path - 1);
      return rc ? weft__ep_fail(why, n, "path is empty") : 0;
    }
    case WEFT__EP_DOMAIN:
      if (strcmp(v, "INET") == 0) *num = AF_INET;
      else if (strcmp(v, "INET6") == 0) *num = AF_INET6;
      else if (strcmp(v, "UNIX") == 0) *num = AF_UNIX;
      else return weft__ep_fail(why, n, "%s must be INET, INET6 or UNIX, not \"%s\"", a->name, v);
      return 0;
    case WEFT__EP_FDNAME:
      if (*v && strlen(v) <= 255 && !strchr(v, ':')) return 0;
      return weft__ep_fail(why, n, "%s must be 1..255 bytes without ':'", a->name);
    case WEFT__EP_FILE:
      return *v ? 0 : weft__ep_fail(why, n, "%s is empty", a->name);
    default:
      return WEFT_EINVAL;
  }
}

/* Checks v and stores it in slot i. On a bad value, writes why (without the "bad endpoint" head). */
static int set_arg(weft__ep_vals *vals, unsigned i, const weft__ep_arg *a, const char *v, char *why, size_t n) {
  int rc = check_number(a, v, &vals->num[i], &vals->real[i], why, n);
  if (rc == 1) rc = check_text(a, v, &vals->num[i], why, n);
  if (rc) return rc;
  return (vals->text[i] = dup_str(v)) ? 0 : WEFT_ENOMEM;
}

/* ---- mapping arguments onto a type ---- */

static unsigned slot_of(const weft__ep_type *t, const char *key) {
  unsigned a = 0;
  while (a < WEFT__EP_MAX_ARGS && t->args[a].name && strcmp(t->args[a].name, key) != 0) a++;
  return a < WEFT__EP_MAX_ARGS && t->args[a].name ? a : WEFT__EP_MAX_ARGS;
}

int weft__ep_assign(const weft__ep_type *t, const weft__ep_tokens *tok, weft__ep_vals *v, const char *desc,
                    char *err, size_t errlen) {
  unsigned next_pos = 0;
  char why[200];
  for (size_t i = 1; i < tok->n; i++) {
    const weft_endpoint_arg *arg = &tok->v[i];
    unsigned a;
    if (arg->key) {
      if ((a = slot_of(t, arg->key)) == WEFT__EP_MAX_ARGS)
        return weft__ep_fail(err, errlen, "unknown option \"%s\" for %s in \"%s\"", arg->key, t->name, desc);
    } else {
      a = next_pos++;
      if (a >= WEFT__EP_MAX_ARGS || !t->args[a].name)
        return weft__ep_fail(err, errlen, "bad endpoint \"%s\": too many arguments for %s at \"%s\"", desc, t->name,
                             arg->value);
    }
    if (weft__ep_given(v, a)) return weft__ep_fail(err, errlen, "bad endpoint \"%s\": %s given twice", desc, t->args[a].name);
    int rc = set_arg(v, a, &t->args[a], arg->value, why, sizeof why);
    if (rc == WEFT_EPARSE) return weft__ep_fail(err, errlen, "bad endpoint \"%s\": %s", desc, why);
    if (rc) return rc;
    v->given |= 1u << a;
  }
  for (unsigned a = 0; a < WEFT__EP_MAX_ARGS && t->args[a].name; a++)
    if (t->args[a].required && !weft__ep_given(v, a))
      return weft__ep_fail(err, errlen, "bad endpoint \"%s\": missing %s", desc, t->args[a].name);
  if (t->check && t->check(v, why, sizeof why) == WEFT_EPARSE)
    return weft__ep_fail(err, errlen, "bad endpoint \"%s\": %s", desc, why);
  return 0;
}

void weft__ep_vals_free(weft__ep_vals *v) {
  for (unsigned i = 0; i < WEFT__EP_MAX_ARGS; i++) weft__free(v->text[i]);
  memset(v, 0, sizeof *v);
}

/* ---- types nobody knows ---- */

/* The raw text before the first unescaped ':'. */
static size_t raw_prefix_len(const char *desc) {
  size_t i = 0;
  while (desc[i] && desc[i] != ':') i += (desc[i] == '\\' && desc[i + 1]) ? 2 : 1;
  return i;
}

int weft__ep_unknown_type(const char *desc, bool server, char *err, size_t errlen) {
  int n = (int)raw_prefix_len(desc);
  long port;
  if (server && !desc[n] && parse_uint(desc, 10, 65535, &port))
    return weft__ep_fail(err, errlen, "unknown endpoint type \"%s\" in \"%s\" (did you mean \"tcp:%s\"?)", desc, desc, desc);
  if (!server && desc[n] == ':' && n > 0 && parse_uint(desc + n + 1, 10, 65535, &port))
    return weft__ep_fail(err, errlen, "unknown endpoint type \"%.*s\" in \"%s\" (did you mean \"tcp:host=%.*s:port=%s\"?)",
                         n, desc, desc, n, desc, desc + n + 1);
  return weft__ep_fail(err, errlen, "unknown endpoint type \"%.*s\" in \"%s\"", n, desc, desc);
}

/* ---- canonical descriptions ---- */

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

static void put_value(sbuf *b, const weft__ep_arg *a, const weft__ep_vals *v, unsigned i) {
  char num[24];
  switch (a->kind) {
    case WEFT__EP_PORT:
    case WEFT__EP_PORT1:
    case WEFT__EP_BACKLOG:
    case WEFT__EP_FD:
    case WEFT__EP_INDEX:
      snprintf(num, sizeof num, "%ld", v->num[i]);
      put_raw(b, num);
      return;
    case WEFT__EP_MODE:
      snprintf(num, sizeof num, "0%lo", (unsigned long)v->num[i]);
      put_raw(b, num);
      return;
    default:
      put_escaped(b, v->text[i]);
  }
}

static int finish(sbuf *b) {
  b->buf[b->len < b->size ? b->len : b->size - 1] = '\0';
  return b->len < b->size ? 0 : WEFT_ENOSPC;
}

int weft__ep_describe(const weft__ep_type *t, const weft__ep_vals *v, char *buf, size_t size) {
  if (!size) return WEFT_ENOSPC;
  sbuf b = {buf, size, 0};
  put_raw(&b, t->name);
  for (unsigned a = 0; a < WEFT__EP_MAX_ARGS && t->args[a].name; a++) {
    if (!weft__ep_given(v, a)) continue;
    put_raw(&b, ":");
    if (a >= t->describe_positional) {
      put_raw(&b, t->args[a].name);
      put_raw(&b, "=");
    }
    put_value(&b, &t->args[a], v, a);
  }
  return finish(&b);
}

int weft__ep_describe_tokens(const weft__ep_tokens *t, char *buf, size_t size) {
  if (!size) return WEFT_ENOSPC;
  sbuf b = {buf, size, 0};
  put_escaped(&b, t->v[0].value);
  for (size_t i = 1; i < t->n; i++) {
    put_raw(&b, ":");
    if (t->v[i].key) {
      put_escaped(&b, t->v[i].key);
      put_raw(&b, "=");
    }
    put_escaped(&b, t->v[i].value);
  }
  return finish(&b);
}

const char *weft_endpoint_args_get(const weft_endpoint_args *a, const char *key) {
  const char *found = NULL;
  for (size_t i = 0; a && key && i < a->n; i++)
    if (a->v[i].key && strcmp(a->v[i].key, key) == 0) found = a->v[i].value;
  return found;
}

int weft__ep_parse_plugin(int (*parse)(void **state, const weft_endpoint_args *args, char *why, size_t whylen, void *user),
                          void *user, void **state, const weft__ep_tokens *t, const char *desc, char *err,
                          size_t errlen) {
  if (!parse) return 0;
  weft_endpoint_args args = {desc, t->v[0].value, t->v + 1, t->n - 1};
  char why[256] = "";
  int rc = parse(state, &args, why, sizeof why, user);
  if (rc == WEFT_EPARSE) return weft__ep_fail(err, errlen, "bad endpoint \"%s\": %s", desc, why);
  return rc;
}
