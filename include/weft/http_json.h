/* http_json.h: JSON with the HTTP client, through Jansson (treq.json_content and treq's json=
 * request bodies). The only weft header that includes <jansson.h>: a program that uses it
 * compiles with Jansson's headers (pkg-config jansson; weft.pc lists it).
 *
 * Reading: weft_http_json collects a response's body and parses it. Sending: set
 * weft_http_opts.json (http_client.h) to a json_t*; the request then carries it serialised
 * compactly with Content-Type application/json, or serialise it yourself with
 * weft_http_json_body. */
#ifndef WEFT_HTTP_JSON_H
#define WEFT_HTTP_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "weft/http_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The body size weft_http_json accepts (16 MiB): a larger body is refused, never parsed. */
#define WEFT_HTTP_JSON_MAX_DEFAULT ((size_t)16 << 20)

/* Collects resp's body (at most WEFT_HTTP_JSON_MAX_DEFAULT bytes) and parses it as JSON (any
 * value, not only objects and arrays). Takes ownership of resp, as weft_http_content does.
 * Returns a new Deferred firing with a json_t* (WEFT_VALUE_PTR: the value owns one reference,
 * dropped with json_decref when the value is released; take your own with json_incref to keep
 * it), or failing (domain WEFT_HTTP_CLIENT_DOMAIN) with
 *   WEFT_EINVAL   "URL: invalid JSON: <Jansson's text> (line L, column C)";
 *   WEFT_ELIMIT   the body was larger than the limit (it is not read further);
 *   or the body's own failure (connection lost, timeout). NULL only when out of memory. */
weft_deferred *weft_http_json(weft_http_response *resp);

/* As weft_http_json with a limit of max bytes (0: WEFT_HTTP_JSON_MAX_DEFAULT). */
weft_deferred *weft_http_json_max(weft_http_response *resp, size_t max);

/* Serialises v compactly (no spaces, keys in insertion order) for a request body: a new
 * NUL-terminated string (free with free), or NULL when v is NULL, cannot be encoded (e.g. a
 * real that is NaN), or memory ran out. */
char *weft_http_json_body(const json_t *v);

#ifdef __cplusplus
}
#endif
#endif
