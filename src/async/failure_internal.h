/* failure_internal.h: hooks into src/async/failure.c for weft's own code and tests. Internal. */
#ifndef WEFT_ASYNC_FAILURE_INTERNAL_H
#define WEFT_ASYNC_FAILURE_INTERNAL_H

#include <stddef.h>

#include "weft/failure.h"

/* The static out-of-memory Failure (domain WEFT_FAILURE_DOMAIN, code WEFT_ENOMEM, message
 * "out of memory", no place), which weft_failure_new_at returns when it cannot allocate. Its
 * ref/unref do nothing, so it can be handed out where even a Failure cannot be allocated. */
weft_failure *weft__failure_oom(void);

/* True if f is the static out-of-memory Failure. */
int weft__failure_is_oom(const weft_failure *f);

/* Test hook: Failures are allocated through fn from now on (NULL restores the default
 * allocator), so a test can make creation fail. Memory is still released with weft__free, so fn
 * must return memory from the default allocator or NULL. Process-wide and not thread-safe: only
 * for single-threaded tests, restored before they end. */
void weft__failure_set_alloc(void *(*fn)(size_t size));

#endif
