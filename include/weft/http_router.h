/* http_router.h: routing for the HTTP server (Klein's routes, twisted.web's Resource trees and
 * NameVirtualHost).
 *
 * A router holds entries tried in the order added: routes ("/items/<int:id>" with methods),
 * mounted sub-routers ("/api" -> another router, which sees the path after the prefix) and mounted
 * resource trees. The first route whose pattern and method match gets the request. When no entry
 * matches the method but some match the path, the answer is 405 with an Allow header listing the
 * methods of those routes (in the order added, each once); when nothing matches the path, 404.
 * A route or resource that answers GET also answers HEAD (the server leaves the body out).
 *
 * Patterns are '/'-separated segments matched against the decoded path (weft_http_request_path):
 * a literal segment matches itself exactly, and a parameter segment converts:
 *   <int:name>     a signed decimal (an optional '-', then digits) that fits int64_t;
 *   <string:name>  one non-empty segment (no '/'); <name> alone means the same;
 *   <path:name>    the non-empty rest of the path, '/' included; only as the last segment.
 * A segment that does not convert (non-digits, overflow, empty) is no match, so a 404 unless
 * another route takes it. At most WEFT_HTTP_ROUTE_MAX_PARAMS parameters per pattern.
 *
 * Routers, resources and vhost tables are built before serving and are not copied: whatever is
 * mounted or added must outlive its use. None of this is thread-safe (reactor thread only). */
#ifndef WEFT_HTTP_ROUTER_H
#define WEFT_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/coro.h"
#include "weft/http.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_HTTP_ROUTE_MAX_PARAMS 16

typedef struct weft_http_router weft_http_router;
typedef struct weft_http_resource weft_http_resource;
typedef struct weft_http_vhosts weft_http_vhosts;

/* What a route or resource handler learns from routing. It lives on the router's stack: valid
 * only during the handler call. The slices it hands out point into the request's decoded path
 * and stay valid as long as the request does, so a handler that answers later copies the
 * pointers (or ints) it needs, not the match. */
typedef struct weft_http_match weft_http_match;

/* A route's handler: answers req now or later, as a weft_http_handler does. */
typedef void (*weft_http_route_fn)(weft_http_request *req, const weft_http_match *m, void *user);

/* A route's handler that returns a Deferred (one reference, which the router takes) answering
 * the request as a weft_http_handler_deferred's does: a response value, a string, NONE when it
 * answers through req, or a Failure (500, logged). A client that disconnects first cancels it. */
typedef weft_deferred *(*weft_http_route_deferred_fn)(weft_http_request *req, const weft_http_match *m,
                                                      void *user);

/* A route's handler run as a coroutine (coro.h): it may weft_await(co, ...) and returns what a
 * Deferred route's Deferred fires with (a response value, a string, NONE after answering through
 * req, or a Failure). m is valid until its first weft_await (copy what you need first); req as
 * long as the request is not finished. A client that disconnects cancels the Deferred it awaits
 * (weft_await then returns a WEFT_ECANCELED Failure: return it, without touching req again: the
 * server has released it). */
typedef weft_value (*weft_http_route_coro_fn)(weft_coro *co, weft_http_request *req, const weft_http_match *m,
                                              void *user);

/* A handler and its argument, as weft_http_server_set_handler takes them. */
typedef struct weft_http_handler_binding {
  weft_http_handler fn;
  void *user;
} weft_http_handler_binding;

/* ---- the match ---- */

/* The parameter named name (NUL-terminated) as an integer: 0, WEFT_ENOENT (no such parameter),
 * WEFT_EINVAL (it is not an <int:> parameter). */
int weft_http_route_param_int(const weft_http_match *m, const char *name, int64_t *v);

/* The parameter named name as a slice of the decoded path (any type; an <int:> gives its digits):
 * 0 or WEFT_ENOENT. */
int weft_http_route_param_str(const weft_http_match *m, const char *name, const char **p, size_t *len);

/* Resource trees: the segments walked from the mounted resource to the one rendering (Twisted's
 * prepath, from the mount point), and what was left unwalked below a leaf (postpath, joined with
 * '/', "" when none). weft_http_match_segment returns 0 or WEFT_ERANGE. */
size_t weft_http_match_segment_count(const weft_http_match *m);
int weft_http_match_segment(const weft_http_match *m, size_t i, const char **p, size_t *len);
const char *weft_http_match_rest(const weft_http_match *m, size_t *len);

/* ---- routers ---- */

/* Creates an empty router (everything is 404). Returns 0 or WEFT_ENOMEM. */
int weft_http_router_new(weft_http_router **out);

/* Frees rt and its routes; mounted routers and resources are not freed (they are the caller's).
 * NULL is ignored. */
void weft_http_router_free(weft_http_router *rt);

/* Adds a route: methods is a comma-separated list ("GET,HEAD"; spaces around names ignored;
 * compared exactly, methods are case-sensitive), or NULL or "*" for any method. pattern starts
 * with '/' (copied). Returns 0, WEFT_EINVAL (a pattern not starting with '/', an unknown
 * converter, an unterminated or empty parameter, <path:> not last, a parameter name used twice,
 * too many parameters, an empty method list), or WEFT_ENOMEM. */
int weft_http_router_add(weft_http_router *rt, const char *methods, const char *pattern, weft_http_route_fn fn,
                         void *user);

/* As weft_http_router_add, for a handler returning a Deferred, or one running as a coroutine
 * (started with the default stack: 64 KiB). Same returns. */
int weft_http_router_add_deferred(weft_http_router *rt, const char *methods, const char *pattern,
                                  weft_http_route_deferred_fn fn, void *user);
int weft_http_router_add_coro(weft_http_router *rt, const char *methods, const char *pattern,
                              weft_http_route_coro_fn fn, void *user);

/* As weft_http_router_add, for a blocking handler run on the reactor's thread pool (see
 * weft_http_request_run_in_thread): fn gets a snapshot of the request, the route's parameters
 * included (weft_http_snapshot_param), and returns the answer; the reactor serves other requests
 * meanwhile. Same returns. */
int weft_http_router_add_thread(weft_http_router *rt, const char *methods, const char *pattern,
                                weft_http_thread_fn fn, void *user);

/* As weft_http_router_add, for a handler that reads the body as it arrives
 * (weft_http_request_body_stream): on a server with the stream_bodies option it is called as soon
 * as the head has arrived. Routes added otherwise (and resources) are called once the body has
 * been collected, as on a server without that option (a dynamic get_child then runs twice: once
 * to find the route before the body, once to call it). */
int weft_http_router_add_streaming(weft_http_router *rt, const char *methods, const char *pattern,
                                   weft_http_route_fn fn, void *user);

/* Mounts sub at prefix (literal, "/api"; "" or "/" mounts at the root): a path equal to the
 * prefix or continuing it with '/' goes to sub with the prefix removed ("/api" -> "/",
 * "/api/x" -> "/x"); "/apix" does not. sub is borrowed. Returns 0, WEFT_EINVAL (prefix not
 * starting with '/', or sub == rt), WEFT_ENOMEM. */
int weft_http_router_mount(weft_http_router *rt, const char *prefix, weft_http_router *sub);

/* Mounts a resource tree at prefix, as weft_http_router_mount does (res borrowed). */
int weft_http_router_mount_resource(weft_http_router *rt, const char *prefix, weft_http_resource *res);

/* Routes req (answering 404 or 405 itself when no route takes it). */
void weft_http_router_route(weft_http_router *rt, weft_http_request *req);

/* The handler for weft_http_server_set_handler(srv, b.fn, b.user): a server that routes via rt. */
weft_http_handler_binding weft_http_router_handler(weft_http_router *rt);

/* ---- resource trees (twisted.web.resource) ---- */

/* Renders res for req (the method's renderer, set below). */
typedef void (*weft_http_render_fn)(weft_http_request *req, weft_http_resource *res, const weft_http_match *m,
                                    void *user);

/* Twisted's getChild: the child for segment (a slice, not NUL-terminated) when no static child
 * has that name, or NULL for 404. The returned resource is borrowed: it must live at least until
 * its render returns (return a long-lived resource and read the segment from the match in its
 * render, rather than making one per request). */
typedef weft_http_resource *(*weft_http_get_child_fn)(weft_http_resource *res, const char *segment, size_t len,
                                                      weft_http_request *req, void *user);

/* Creates a resource with no children and no renderers; user is passed to its callbacks.
 * Returns 0 or WEFT_ENOMEM. */
int weft_http_resource_new(weft_http_resource **out, void *user);

/* Frees res and, recursively, the children put into it. NULL is ignored. */
void weft_http_resource_free(weft_http_resource *res);

/* Twisted's putChild: child answers at segment (NUL-terminated, copied, no '/') below parent,
 * which takes ownership of child (freed with parent). A segment already present is replaced
 * (the old child is freed). "" is the child for a trailing slash. Returns 0, WEFT_EINVAL (a '/'
 * in segment, child == parent or already put somewhere), WEFT_ENOMEM (child is then not taken). */
int weft_http_resource_put_child(weft_http_resource *parent, const char *segment, weft_http_resource *child);

/* Sets the dynamic-child lookup (NULL: none, the default). */
void weft_http_resource_set_get_child(weft_http_resource *res, weft_http_get_child_fn fn);

/* Renders method (NUL-terminated, copied) with fn; a GET renderer also answers HEAD unless HEAD
 * has its own. A resource without any renderer is 404 (a mere path node); one without a renderer
 * for the method is 405 with Allow. Returns 0, WEFT_EINVAL (empty method), WEFT_ENOMEM. */
int weft_http_resource_set_render(weft_http_resource *res, const char *method, weft_http_render_fn fn);

/* Twisted's isLeaf: walking stops at res, which renders with the unwalked rest of the path
 * (weft_http_match_rest). */
void weft_http_resource_set_leaf(weft_http_resource *res, bool leaf);

/* The user pointer given at creation. */
void *weft_http_resource_user(const weft_http_resource *res);

/* ---- virtual hosts (twisted.web.vhost.NameVirtualHost) ---- */

/* Creates an empty table: every request goes to the default (404 until one is set).
 * Returns 0 or WEFT_ENOMEM. */
int weft_http_vhosts_new(weft_http_vhosts **out);

/* Frees the table (not the routers in it). NULL is ignored. */
void weft_http_vhosts_free(weft_http_vhosts *vh);

/* Requests whose Host is host (NUL-terminated, copied; compared ignoring ASCII case, the port
 * stripped from the request's Host, "[::1]" kept with its brackets) go to rt (borrowed). A
 * host already present is re-pointed. Returns 0, WEFT_EINVAL (empty host), WEFT_ENOMEM. */
int weft_http_vhosts_add(weft_http_vhosts *vh, const char *host, weft_http_router *rt);

/* The router for requests with no Host or one not added (NULL: answer 404). */
void weft_http_vhosts_set_default(weft_http_vhosts *vh, weft_http_router *rt);

/* Routes req by its Host header. */
void weft_http_vhosts_route(weft_http_vhosts *vh, weft_http_request *req);

/* The handler for weft_http_server_set_handler: a server that routes by Host via vh. */
weft_http_handler_binding weft_http_vhosts_handler(weft_http_vhosts *vh);

#ifdef __cplusplus
}
#endif
#endif
