/* endpoint_internal.h: what the endpoint files share (the tokenizer, the typed argument tables,
 * canonical descriptions and the plugin registry). Not installed. */
#ifndef WEFT_NET_ENDPOINT_INTERNAL_H
#define WEFT_NET_ENDPOINT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/endpoint.h"

#define WEFT__EP_MAX_ARGS 8

/* How an argument's value is checked and normalised. */
typedef enum weft__ep_kind {
  WEFT__EP_PORT,    /* 0..65535 */
  WEFT__EP_PORT1,   /* 1..65535 (a port to connect to) */
  WEFT__EP_IP,      /* numeric IPv4 or IPv6 address */
  WEFT__EP_IP6,     /* numeric IPv6 address */
  WEFT__EP_HOST,    /* numeric address or host name */
  WEFT__EP_BACKLOG, /* positive int */
  WEFT__EP_PATH,    /* Unix socket path ('@': abstract) */
  WEFT__EP_MODE,    /* octal 0..07777 */
  WEFT__EP_BOOL,    /* yes/no, true/false, 1/0 */
  WEFT__EP_SECONDS, /* positive decimal number */
  WEFT__EP_FD,      /* descriptor number */
  WEFT__EP_INDEX,   /* non-negative int */
  WEFT__EP_DOMAIN,  /* INET, INET6, UNIX */
  WEFT__EP_FDNAME,  /* systemd descriptor name */
  WEFT__EP_FILE,    /* a file or directory name, not empty */
} weft__ep_kind;

typedef struct weft__ep_arg {
  const char *name;
  weft__ep_kind kind;
  bool required;
} weft__ep_arg;

typedef struct weft__ep_vals weft__ep_vals;

/* A built-in type: its arguments in positional order (unused slots: name NULL). */
typedef struct weft__ep_type {
  const char *name;
  weft__ep_arg args[WEFT__EP_MAX_ARGS];
  /* how many leading arguments a canonical description writes positionally */
  unsigned describe_positional;
  /* optional: checks across arguments; writes why and returns WEFT_EPARSE */
  int (*check)(const weft__ep_vals *v, char *why, size_t n);
} weft__ep_type;

/* Checked values, by argument slot: text is the unescaped value as given, num its number (port,
 * backlog, mode, bool, fd, index, address family), real for seconds. */
struct weft__ep_vals {
  unsigned given; /* bit i: slot i was given */
  char *text[WEFT__EP_MAX_ARGS];
  long num[WEFT__EP_MAX_ARGS];
  double real[WEFT__EP_MAX_ARGS];
};

static inline bool weft__ep_given(const weft__ep_vals *v, unsigned slot) { return (v->given >> slot) & 1u; }

/* A tokenized description: v[0] is the type (key NULL), v[1..n-1] the arguments, all pointing
 * into work. */
typedef struct weft__ep_tokens {
  char *work;
  weft_endpoint_arg *v;
  size_t n;
} weft__ep_tokens;

/* Writes the formatted message to err (if any) and returns WEFT_EPARSE. */
int weft__ep_fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Splits desc at unescaped ':' and each piece at its first unescaped '=', undoing escapes.
 * Returns 0, WEFT_ENOMEM, or WEFT_EPARSE (empty description, trailing backslash, a type with
 * '='). */
int weft__ep_tokenize(weft__ep_tokens *t, const char *desc, char *err, size_t errlen);
void weft__ep_tokens_free(weft__ep_tokens *t);

/* The message for a type nobody knows (with a hint when desc looks like a bare port or
 * HOST:PORT). Returns WEFT_EPARSE. */
int weft__ep_unknown_type(const char *desc, bool server, char *err, size_t errlen);

/* Maps t's arguments onto type's slots, checking each value. Returns 0, WEFT_ENOMEM or
 * WEFT_EPARSE (message in err). On failure v may hold some values: free it. */
int weft__ep_assign(const weft__ep_type *type, const weft__ep_tokens *t, weft__ep_vals *v, const char *desc,
                    char *err, size_t errlen);
void weft__ep_vals_free(weft__ep_vals *v);

/* Runs a plugin's parse (NULL: nothing to parse, 0) over t's arguments after the prefix, into
 * *state. WEFT_EPARSE gets the message "bad endpoint \"desc\": <the plugin's why>" in err.
 * Shared by server and client plugins, whose parse functions have the same shape. */
int weft__ep_parse_plugin(int (*parse)(void **state, const weft_endpoint_args *args, char *why, size_t whylen, void *user),
                          void *user, void **state, const weft__ep_tokens *t, const char *desc, char *err,
                          size_t errlen);

/* Canonical descriptions: of a built-in type's values, and of a plugin's tokens as given. */
int weft__ep_describe(const weft__ep_type *type, const weft__ep_vals *v, char *buf, size_t size);
int weft__ep_describe_tokens(const weft__ep_tokens *t, char *buf, size_t size);

/* The plugin registered for prefix, copied into *out (and its prefix into name, NUL-terminated,
 * at most 32 bytes). False if none. */
bool weft__ep_find_server_plugin(const char *prefix, weft_server_endpoint_plugin *out);
bool weft__ep_find_client_plugin(const char *prefix, weft_client_endpoint_plugin *out);

/* Socket activation and adopted descriptors (endpoint_adopt.c): the listen functions of the
 * systemd (slots domain, index, name) and fd (slot fileno) types. On failure why may say more
 * than the code. */
int weft__ep_listen_systemd(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                            char *why, size_t n);
int weft__ep_listen_fd(const weft__ep_vals *v, weft_reactor *r, const weft_factory *f, weft_listening_port **out,
                       char *why, size_t n);

/* Built-in type tables (for the registry's "prefix taken" check). */
const weft__ep_type *weft__ep_server_type(const char *name);
const weft__ep_type *weft__ep_client_type(const char *name);

#endif
