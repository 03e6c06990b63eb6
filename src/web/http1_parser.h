/* http1_parser.h: weft's HTTP/1.1 request parser, sans-I/O (twisted.web.http.HTTPChannel's
 * line/body parsing, without the channel). Internal to the web layer.
 *
 * The parser takes bytes and produces events through a callback struct; it never touches a
 * socket and never allocates. Its state is a small fixed struct the server embeds in each
 * connection.
 *
 * Feeding contract (what makes it zero-copy and resumable at any byte boundary):
 *   weft__h1_parser_feed(p, buf, len, &consumed) processes buf and reports how many bytes it
 *   consumed. The bytes buf[consumed..len) are not consumed: the caller must present them again,
 *   unchanged, at the start of the next call, followed by whatever arrived since. A message head
 *   (request line and header fields), a chunk-size line and a trailer section are each consumed
 *   only whole, so every slice the parser hands out points into the caller's buffer and stays
 *   valid while the caller keeps those bytes in place (at least for the callback's duration).
 *   Body bytes are delivered and consumed as they come. The parser remembers how far it has
 *   already looked, so feeding a head one byte at a time costs O(length), not O(length^2).
 *
 * Events, in order, per request:
 *   on_head            once: request line, every header field (a fixed array of slices), and
 *                      the connection semantics (framing, keep-alive, Expect, Upgrade);
 *   on_body            zero or more times: body bytes, de-chunked (chunk extensions are
 *                      validated and dropped);
 *   on_trailers        once, for a chunked body whose trailer section has at least one field;
 *   on_message_complete once.
 * Then the next pipelined request follows in the same buffer.
 *
 * Pausing: a callback that returns WEFT__H1_PAUSE stops the parser after that event; feed
 * returns WEFT__H1_PAUSED with consumed covering the event, and further feeds return
 * WEFT__H1_PAUSED at once until weft__h1_parser_resume. A server that answers pipelined
 * requests in order pauses in on_message_complete. After a message that asked for a protocol
 * switch (Upgrade accepted by the request's semantics, or CONNECT) the parser pauses on its own
 * and weft__h1_parser_upgrade_pending says so: the bytes after `consumed` belong to the new
 * protocol if the server switches, or resume to keep parsing HTTP/1.1 if it declines.
 *
 * Strictness (RFC 9112 / RFC 9110, for a server): every error is terminal and means "answer
 * weft__h1_error_status(code) with Connection: close, then close": after any of them the framing
 * of what follows can no longer be trusted. The choices this parser makes:
 *   - lines end in CRLF only; a bare LF or a CR not followed by LF is 400 (RFC 9112 §2.2 lets a
 *     recipient accept a bare LF; accepting it is a known request-smuggling vector);
 *   - empty lines (CRLF) before a request line are ignored (RFC 9112 §2.2);
 *   - the request line is method SP target SP HTTP/x.y with single spaces; major version other
 *     than 1 is 505; HTTP/1.x with x >= 2 is treated as HTTP/1.1 (RFC 9110 §6.2);
 *   - targets: origin-form (/...), absolute-form (scheme:...), authority-form (CONNECT only,
 *     and CONNECT only takes it), asterisk-form (OPTIONS only); characters are those of
 *     RFC 3986 (no SP, CTL, non-ASCII, or " < > \ ^ ` { | } #); percent-escapes are the
 *     router's business, not checked here;
 *   - field names are tokens with the colon right after them; obs-fold (a line starting with SP
 *     or HTAB) is 400 (RFC 9112 §5.2 allows rejecting); values may not hold CTLs other than HTAB
 *     (RFC 9110 §5.5 allows rejecting), NUL anywhere in the head is 400 with its own code;
 *   - Host: required in HTTP/1.1, at most one, and its value must be uri-host[:port] (RFC 9112
 *     §3.2) or 400;
 *   - Content-Length: 1*DIGIT that fits in 63 bits, at most one field line (even with the same
 *     value, and no "5, 5" lists), else 400;
 *   - Transfer-Encoding: at most one field line; chunked must be the final coding, once, else
 *     400 (RFC 9112 §6.3); any other coding before it is 501 (RFC 9112 §6.1: the only coding this
 *     server decodes is chunked); with Content-Length present as well, 400 (RFC 9112 §6.3 lets a
 *     server reject; a smuggling vector); in an HTTP/1.0 request, 400 (RFC 9112 §6.1 says the
 *     framing is faulty);
 *   - a body over the limit is 413: a Content-Length is checked right after on_head returns (so
 *     on_head may set this request's limit, e.g. per route), before any body byte; a chunked
 *     body when a chunk-size line would take the running total over; chunk sizes are 1*HEXDIG with at most 16
 *     significant digits, chunk extensions must follow the RFC grammar (token[=token|quoted]);
 *   - limits: request line longer than max_request_line is 414; header section over
 *     max_header_bytes or more than max_headers fields is 431 (the same for trailers, with their
 *     own code).
 * Connection semantics: keep-alive is the HTTP/1.1 default and off for HTTP/1.0 unless
 * "Connection: keep-alive"; "close" in Connection always wins. Expect: 100-continue is flagged
 * for HTTP/1.1 only (RFC 9110 §10.1.1 says ignore it in HTTP/1.0); other expectations set
 * expect_unknown (the server may answer 417). Upgrade is honoured only for HTTP/1.1 when
 * Connection lists "upgrade" (RFC 9110 §7.8). */
#ifndef WEFT_WEB_HTTP1_PARSER_H
#define WEFT_WEB_HTTP1_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* X(NAME, status, reason): every way a request can be refused, with the status the server
 * sends and a short reason for the log line. */
#define WEFT__H1_ERROR_TABLE(X)                                                                   \
  X(NONE, 0, "no error")                                                                          \
  X(BARE_LF, 400, "line ends in LF without CR")                                                   \
  X(BARE_CR, 400, "CR not followed by LF")                                                        \
  X(NUL, 400, "NUL byte in message head")                                                         \
  X(METHOD, 400, "invalid method")                                                                \
  X(REQUEST_LINE, 400, "malformed request line")                                                  \
  X(TARGET, 400, "invalid character in request target")                                           \
  X(TARGET_FORM, 400, "request target form not allowed for this method")                          \
  X(VERSION, 400, "malformed HTTP version")                                                       \
  X(VERSION_UNSUPPORTED, 505, "HTTP major version not supported")                                 \
  X(URI_TOO_LONG, 414, "request line too long")                                                   \
  X(OBS_FOLD, 400, "line folding or whitespace before a field line")                              \
  X(FIELD_NAME, 400, "invalid character in field name")                                          \
  X(SPACE_BEFORE_COLON, 400, "whitespace between field name and colon")                           \
  X(FIELD_VALUE, 400, "invalid character in field value")                                         \
  X(HEADERS_TOO_LARGE, 431, "header section too large")                                           \
  X(TOO_MANY_HEADERS, 431, "too many header fields")                                              \
  X(HOST_MISSING, 400, "HTTP/1.1 request without Host")                                           \
  X(HOST_DUPLICATE, 400, "more than one Host field")                                              \
  X(HOST_INVALID, 400, "invalid Host value")                                                      \
  X(CL_INVALID, 400, "invalid Content-Length")                                                    \
  X(CL_DUPLICATE, 400, "more than one Content-Length field")                                      \
  X(CL_AND_TE, 400, "both Content-Length and Transfer-Encoding")                                  \
  X(TE_DUPLICATE, 400, "more than one Transfer-Encoding field")                                   \
  X(TE_INVALID, 400, "malformed Transfer-Encoding")                                               \
  X(TE_NOT_CHUNKED, 400, "chunked is not the final transfer coding")                              \
  X(TE_CHUNKED_TWICE, 400, "chunked applied more than once")                                      \
  X(TE_UNSUPPORTED, 501, "unsupported transfer coding")                                           \
  X(TE_HTTP10, 400, "Transfer-Encoding in an HTTP/1.0 request")                                   \
  X(BODY_TOO_LARGE, 413, "body larger than the limit")                                            \
  X(CHUNK_SIZE, 400, "invalid chunk size")                                                        \
  X(CHUNK_EXT, 400, "invalid chunk extension")                                                    \
  X(CHUNK_LINE_TOO_LONG, 400, "chunk size line too long")                                         \
  X(CHUNK_DATA_END, 400, "chunk data not followed by CRLF")                                       \
  X(TRAILERS_TOO_LARGE, 431, "trailer section too large or too many trailer fields")

typedef enum weft__h1_error {
#define WEFT__H1_ERR_ENUM_(name, status, reason) WEFT__H1_E_##name,
  WEFT__H1_ERROR_TABLE(WEFT__H1_ERR_ENUM_)
#undef WEFT__H1_ERR_ENUM_
  WEFT__H1_E_COUNT_
} weft__h1_error;

/* The status to answer an error with (400, 413, 414, 431, 501, 505; 0 for NONE). */
int weft__h1_error_status(weft__h1_error e);
/* A short static reason for the log line, and the code's symbolic name ("OBS_FOLD"). */
const char *weft__h1_error_reason(weft__h1_error e);
const char *weft__h1_error_name(weft__h1_error e);

/* Limits. weft__h1_limits_init fills the safe defaults shown; the parser keeps a pointer, so one
 * struct may serve every connection of a server, and it must outlive them. */
typedef struct weft__h1_limits {
  uint32_t max_request_line; /* 8192: longer request line (without CRLF) is 414 */
  uint32_t max_header_bytes; /* 16384: header field lines with their CRLFs; over is 431 */
  uint32_t max_headers;      /* 100 (at most WEFT__H1_MAX_FIELDS): more fields is 431 */
  uint32_t max_chunk_line;   /* 1024: a chunk-size line with its extensions; over is 400 */
  uint64_t max_body;         /* 1 MiB: larger body is 413; UINT64_MAX for no limit (a server
                                that streams bodies raises it per request in on_head) */
} weft__h1_limits;

/* The most fields one head or trailer section may carry, whatever the limits say (the parser
 * gathers them in an array of this size on its caller's stack: 24 bytes each). */
#define WEFT__H1_MAX_FIELDS 128

void weft__h1_limits_init(weft__h1_limits *l);

typedef struct weft__h1_slice {
  const char *p;
  size_t len;
} weft__h1_slice;

/* One field line: name as sent (compare case-insensitively), value without surrounding OWS. */
typedef struct weft__h1_field {
  const char *name;
  const char *value;
  uint32_t name_len;
  uint32_t value_len;
} weft__h1_field;

typedef enum weft__h1_method {
  WEFT__H1_OTHER = 0, /* a valid token that is none of these: see head->method */
  WEFT__H1_GET,
  WEFT__H1_HEAD,
  WEFT__H1_POST,
  WEFT__H1_PUT,
  WEFT__H1_DELETE,
  WEFT__H1_CONNECT,
  WEFT__H1_OPTIONS,
  WEFT__H1_TRACE,
  WEFT__H1_PATCH
} weft__h1_method;

typedef enum weft__h1_form {
  WEFT__H1_ORIGIN_FORM,    /* /path?query */
  WEFT__H1_ABSOLUTE_FORM,  /* http://host/path (scheme checked only for syntax) */
  WEFT__H1_AUTHORITY_FORM, /* host:port, CONNECT only */
  WEFT__H1_ASTERISK_FORM   /* *, OPTIONS only */
} weft__h1_form;

typedef enum weft__h1_framing {
  WEFT__H1_BODY_NONE,    /* no body */
  WEFT__H1_BODY_LENGTH,  /* content_length bytes (> 0) */
  WEFT__H1_BODY_CHUNKED  /* chunked, length unknown */
} weft__h1_framing;

/* Everything on_head reports. Slices point into the caller's buffer; fields is the parser's
 * array, valid only during on_head (copy what must outlive it). */
typedef struct weft__h1_head {
  weft__h1_slice method;
  weft__h1_slice target;
  weft__h1_method method_id;
  weft__h1_form form;
  uint8_t version_minor;  /* as received: 0, 1, or more (then treated as 1) */
  const weft__h1_field *fields;
  size_t nfields;
  weft__h1_slice host;    /* the Host value; p == NULL when absent (HTTP/1.0 only) */
  weft__h1_slice upgrade; /* the Upgrade value when upgrade is set, else empty */
  weft__h1_framing framing;
  uint64_t content_length; /* for WEFT__H1_BODY_LENGTH */
  unsigned keep_alive : 1;      /* the connection persists after this message */
  unsigned expect_continue : 1; /* HTTP/1.1 Expect: 100-continue */
  unsigned expect_unknown : 1;  /* an Expect value other than 100-continue */
  unsigned upgrade_requested : 1; /* HTTP/1.1, Upgrade present, "upgrade" in Connection */
} weft__h1_head;

/* Callbacks return 0 to go on, or WEFT__H1_PAUSE to stop the parser after this event. Any may be
 * NULL. user_data is the pointer given to weft__h1_parser_init. */
#define WEFT__H1_PAUSE 1
typedef struct weft__h1_callbacks {
  int (*on_head)(void *user_data, const weft__h1_head *head);
  int (*on_body)(void *user_data, const char *data, size_t len);
  int (*on_trailers)(void *user_data, const weft__h1_field *fields, size_t n);
  int (*on_message_complete)(void *user_data);
} weft__h1_callbacks;

/* The framing state both parsers embed (requests here, responses in http1_response.h); its steps
 * are in http1_framing.h. 40 bytes, in every connection of a server: keep it small. */
typedef struct weft__h1f {
  uint64_t body_limit; /* for the current message */
  uint64_t body_seen;  /* body bytes of the current message so far */
  uint64_t remaining;  /* bytes left of the Content-Length body or of the current chunk */
  uint32_t off;        /* the unit being parsed (head, chunk line, trailers): bytes accepted */
  uint32_t scan;       /* ...and no LF in buf[off..scan) (resumed scans start there) */
  uint32_t line_end;   /* head: end of the start line, CRLF included */
  uint16_t nfields;    /* field lines accepted in the current section */
  uint8_t state, error;
} weft__h1f;

/* The parser state: embed it, initialise with weft__h1_parser_init, never touch the fields. */
typedef struct weft__h1_parser {
  const weft__h1_callbacks *cb;
  void *user_data;
  const weft__h1_limits *limits;
  weft__h1f f;           /* body framing, offsets and scan window (http1_framing.h) */
  uint64_t content_length;
  uint32_t host_off, host_len, upgrade_off, upgrade_len;
  uint32_t target_len;
  uint32_t flags;
  uint16_t method_len;
  uint8_t method_id, form, minor;
} weft__h1_parser;

/* Prepares p for the first request. cb and limits must outlive the parser; limits may be NULL
 * for the defaults. Nothing to free. */
void weft__h1_parser_init(weft__h1_parser *p, const weft__h1_callbacks *cb, void *user_data,
                          const weft__h1_limits *limits);

typedef enum weft__h1_status {
  WEFT__H1_AGAIN = 0,  /* everything usable was processed; feed more bytes */
  WEFT__H1_PAUSED = 1, /* a callback paused (or an upgrade is pending); resume, then feed */
  WEFT__H1_ERROR = -1  /* terminal: weft__h1_parser_error says which; answer and close */
} weft__h1_status;

/* Parses buf[0..len) (see the feeding contract above), firing callbacks; *consumed says how many
 * bytes are done with. Returns AGAIN, PAUSED or ERROR; after ERROR every call returns ERROR. */
weft__h1_status weft__h1_parser_feed(weft__h1_parser *p, const char *buf, size_t len,
                                     size_t *consumed);

/* Stops after the current event (callable from a callback, same as returning WEFT__H1_PAUSE). */
void weft__h1_parser_pause(weft__h1_parser *p);
/* Lets feed go on; after a pending upgrade, goes back to parsing HTTP/1.1 requests. */
void weft__h1_parser_resume(weft__h1_parser *p);
/* The error that stopped the parser (WEFT__H1_E_NONE if none). */
weft__h1_error weft__h1_parser_error(const weft__h1_parser *p);
/* Nonzero when paused after a message that asked to switch protocols (Upgrade or CONNECT). */
int weft__h1_parser_upgrade_pending(const weft__h1_parser *p);
/* Nonzero between requests: no byte of a next request has been accepted yet (a server's idle
 * timeout applies here, its request timeout otherwise). */
int weft__h1_parser_idle(const weft__h1_parser *p);
/* Sets the body limit for the current request (from on_head, e.g. per route); the default is
 * limits->max_body, restored for every request. A Content-Length over the new limit is 413. */
void weft__h1_parser_set_body_limit(weft__h1_parser *p, uint64_t max_body);

#endif
