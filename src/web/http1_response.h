/* http1_response.h: weft's HTTP/1.1 response parser, sans-I/O (the parsing half of
 * twisted.web._newclient's HTTPClientParser). Internal to the web layer; the client uses it.
 *
 * Same feeding contract as the request parser (http1_parser.h): feed(p, buf, len, &consumed)
 * reports how many bytes are done with; the rest must be presented again, unchanged, at the start
 * of the next call. A head, a chunk-size line and a trailer section are consumed only whole, so
 * every slice points into the caller's buffer. Body bytes are delivered as they come.
 *
 * The parser expects one response per request: weft__h1r_parser_expect() before each (telling
 * whether the request was HEAD, whose response never has a body). Bytes arriving when no response
 * is expected are an error (UNEXPECTED). weft__h1r_parser_eof() tells it the connection ended:
 * that completes a body delimited by the close and is TRUNCATED anywhere else inside a message.
 *
 * Framing, RFC 9112 section 6.3, in order: a response to HEAD, 1xx, 204 and 304 have no body
 * (1xx are interim: on_head reports them with interim set, and the real response follows; 101
 * Switching Protocols is final and ends HTTP/1.1 on the connection); Transfer-Encoding whose final
 * coding is chunked is chunked (with trailers); a Transfer-Encoding not ending in chunked is read
 * until close; Content-Length gives the length; otherwise the body runs until close.
 * Strictness: lines end in CRLF; obs-fold, NUL, bare CR, invalid field names or values are errors;
 * Content-Length and Transfer-Encoding together are an error (RFC 9112 section 6.3 item 3 lets a
 * client treat it so: the classic smuggling vector); several Content-Length values must all be
 * equal (RFC 9110 section 8.6), else an error; a coding other than chunked (gzip, chunked) is an
 * error (weft does not decode transfer codings). Limits: the status line, the header section
 * (bytes and fields), the trailers, the body; each over is an error. Every error is terminal. */
#ifndef WEFT_WEB_HTTP1_RESPONSE_H
#define WEFT_WEB_HTTP1_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "http1_parser.h" /* relative: the fuzz targets include this header by path */

#define WEFT__H1R_ERROR_TABLE(X)                                                    \
  X(NONE, "no error")                                                               \
  X(STATUS_LINE, "malformed status line")                                           \
  X(VERSION, "unsupported HTTP version in status line")                             \
  X(BARE_LF, "line ends in LF without CR")                                          \
  X(BARE_CR, "CR not followed by LF")                                               \
  X(NUL, "NUL byte in response head")                                               \
  X(OBS_FOLD, "line folding in response head")                                      \
  X(FIELD_NAME, "invalid character in field name")                                  \
  X(SPACE_BEFORE_COLON, "whitespace between field name and colon")                  \
  X(FIELD_VALUE, "invalid character in field value")                                \
  X(HEAD_TOO_LARGE, "response header section too large")                            \
  X(TOO_MANY_HEADERS, "too many response header fields")                            \
  X(CL_INVALID, "invalid Content-Length")                                           \
  X(CL_CONFLICT, "conflicting Content-Length values")                               \
  X(CL_AND_TE, "both Content-Length and Transfer-Encoding")                         \
  X(TE_INVALID, "malformed Transfer-Encoding")                                      \
  X(TE_UNSUPPORTED, "unsupported transfer coding")                                  \
  X(BODY_TOO_LARGE, "response body larger than the limit")                          \
  X(CHUNK_SIZE, "invalid chunk size")                                               \
  X(CHUNK_EXT, "invalid chunk extension")                                           \
  X(CHUNK_LINE_TOO_LONG, "chunk size line too long")                                \
  X(CHUNK_DATA_END, "chunk data not followed by CRLF")                              \
  X(TRAILERS_TOO_LARGE, "trailer section too large or too many trailer fields")     \
  X(TRUNCATED, "connection closed before the response was complete")                \
  X(UNEXPECTED, "data received when no response was expected")

typedef enum weft__h1r_error {
#define WEFT__H1R_ENUM_(name, reason) WEFT__H1R_E_##name,
  WEFT__H1R_ERROR_TABLE(WEFT__H1R_ENUM_)
#undef WEFT__H1R_ENUM_
  WEFT__H1R_E_COUNT_
} weft__h1r_error;

/* A short static text ("malformed status line") and the symbolic name ("STATUS_LINE"). */
const char *weft__h1r_error_reason(weft__h1r_error e);
const char *weft__h1r_error_name(weft__h1r_error e);

typedef struct weft__h1r_limits {
  uint32_t max_status_line;  /* 8192 */
  uint32_t max_header_bytes; /* 65536: field lines with their CRLFs (also for trailers) */
  uint32_t max_headers;      /* 100 (at most WEFT__H1_MAX_FIELDS) */
  uint32_t max_chunk_line;   /* 1024 */
  uint64_t max_body;         /* UINT64_MAX: none (the client applies its own limits) */
} weft__h1r_limits;

void weft__h1r_limits_init(weft__h1r_limits *l);

typedef enum weft__h1r_framing {
  WEFT__H1R_BODY_NONE,
  WEFT__H1R_BODY_LENGTH,  /* content_length bytes (may be 0) */
  WEFT__H1R_BODY_CHUNKED,
  WEFT__H1R_BODY_CLOSE    /* until the connection closes */
} weft__h1r_framing;

typedef struct weft__h1r_head {
  int status;               /* 100..999 */
  weft__h1_slice reason;    /* may be empty */
  uint8_t version_minor;    /* 0 or 1 (1.x above is reported as is) */
  const weft__h1_field *fields;
  size_t nfields;
  weft__h1r_framing framing;
  uint64_t content_length;  /* for LENGTH */
  unsigned interim : 1;     /* a 1xx other than 101: another head follows */
  unsigned keep_alive : 1;  /* the connection may carry another request after this response */
} weft__h1r_head;

/* Return 0 to go on or WEFT__H1_PAUSE to stop after the event (as for requests). */
typedef struct weft__h1r_callbacks {
  int (*on_head)(void *user_data, const weft__h1r_head *head);
  int (*on_body)(void *user_data, const char *data, size_t len);
  int (*on_trailers)(void *user_data, const weft__h1_field *fields, size_t n);
  int (*on_message_complete)(void *user_data);
} weft__h1r_callbacks;

typedef struct weft__h1r_parser {
  const weft__h1r_callbacks *cb;
  void *user_data;
  const weft__h1r_limits *limits;
  weft__h1f f; /* body framing, offsets and scan window (http1_framing.h) */
  uint64_t content_length;
  uint32_t flags;
  uint16_t status;
  uint8_t minor, head_request;
} weft__h1r_parser;

/* Prepares p; cb and limits (NULL: defaults) must outlive it. No response is expected yet. */
void weft__h1r_parser_init(weft__h1r_parser *p, const weft__h1r_callbacks *cb, void *user_data,
                           const weft__h1r_limits *limits);

/* A request was sent: its response is expected next (head_request: it was HEAD). One at a time:
 * call it again only after the previous response's on_message_complete (no pipelining). */
void weft__h1r_parser_expect(weft__h1r_parser *p, int head_request);

/* Parses buf[0..len); returns WEFT__H1_AGAIN, WEFT__H1_PAUSED or WEFT__H1_ERROR as the request
 * parser does. */
weft__h1_status weft__h1r_parser_feed(weft__h1r_parser *p, const char *buf, size_t len, size_t *consumed);

/* The connection's input ended. Returns WEFT__H1_AGAIN when that was fine (between responses, or
 * the end of a body delimited by the close, whose on_message_complete fires now), WEFT__H1_ERROR
 * (TRUNCATED) inside a message. */
weft__h1_status weft__h1r_parser_eof(weft__h1r_parser *p);

void weft__h1r_parser_pause(weft__h1r_parser *p);
void weft__h1r_parser_resume(weft__h1r_parser *p);
weft__h1r_error weft__h1r_parser_error(const weft__h1r_parser *p);
/* Nonzero while no byte of an expected response has arrived (a retry on a fresh connection is
 * still safe then). */
int weft__h1r_parser_idle(const weft__h1r_parser *p);
/* Sets the body limit for the current response (from on_head). */
void weft__h1r_parser_set_body_limit(weft__h1r_parser *p, uint64_t max_body);

#endif
