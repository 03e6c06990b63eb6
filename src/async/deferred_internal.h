/* deferred_internal.h: what weft's own code needs of src/async/deferred.c beyond deferred.h.
 * Internal. */
#ifndef WEFT_ASYNC_DEFERRED_INTERNAL_H
#define WEFT_ASYNC_DEFERRED_INTERNAL_H

#include "weft/deferred.h"

/* weft_deferred_add_callbacks that says whether the step was stored: 0, or WEFT_ENOMEM when the
 * step array could not grow (d then carries an out-of-memory Failure, as
 * weft_deferred_add_callbacks documents, and the step will never run). A caller whose step's
 * argument holds something (a reference, a slot) releases it on WEFT_ENOMEM. */
int weft__deferred_add_callbacks(weft_deferred *d, weft_deferred_fn callback, void *callback_arg,
                                 weft_deferred_fn errback, void *errback_arg);

#endif
