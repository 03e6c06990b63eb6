/* deferred_list.h: waiting on several Deferreds at once (twisted.internet.defer.DeferredList,
 * gatherResults and race).
 *
 * Each function takes n input Deferreds and returns one aggregate Deferred that fires from their
 * results: weft_deferred_list when all have fired (or at the first success or failure, by flag),
 * weft_gather with all values or the first failure, weft_race with the first success.
 *
 * Inputs. The functions take the caller's reference to every input (in every case, even when
 * they return NULL), so a caller that keeps using an input refs it first. The aggregate adds a
 * step (callback and errback) to each input and holds the input until that step has run; as with
 * any step, an input must eventually fire or be cancelled, or the aggregate's bookkeeping stays
 * allocated. Steps added to an input before the call see its result first (and may change what
 * the aggregate sees, as in Twisted); steps added after see what the aggregate leaves behind:
 *  - a success value moves into the aggregate's result (a value has one owner): the input goes on
 *    with NONE. A success that arrives after the aggregate has fired (a "late" one) stays in the
 *    input untouched.
 *  - a Failure is shared: the aggregate takes its own reference and the input keeps its failure,
 *    so an input nobody handles logs "Unhandled error in Deferred" when freed (as in Twisted),
 *    unless it is consumed: with WEFT_CONSUME_ERRORS (always for weft_race), or when the
 *    aggregate itself cancelled that input (WEFT_CANCEL_REST, cancelling the aggregate), the
 *    input goes on with NONE.
 * The same Deferred may appear twice; its second step sees what the first left (NONE after a
 * success). Every ds[i] must be non-NULL; ds may be NULL when n is 0.
 *
 * Cancelling the aggregate before it fires cancels every input whose result has not arrived (they
 * usually fire at once, with WEFT_ECANCELED Failures, and the aggregate fires from them as it
 * would from any results: a list of cancelled entries, a first-error Failure, ...). If some input
 * does not fire when cancelled, the aggregate fails with WEFT_ECANCELED. Cancelling it after it
 * fired does nothing.
 *
 * Results are weft_ptr values whose type their accessor checks: weft_result_list_of and
 * weft_indexed_value_of return NULL for any other value, so a callback can tell a list from an
 * (index, value) pair. Releasing the value (weft_value_release, or the aggregate being freed
 * while holding it) frees the result and everything it still holds.
 *
 * Memory: one allocation for the aggregate Deferred and one for the bookkeeping of all n inputs,
 * which is also the result list or (index, value) pair handed out: firing with a result
 * allocates nothing (only the first-error and all-failed Failures are allocated).
 *
 * Errors: each function returns NULL only when out of memory (or n is too large to allocate);
 * the references to the inputs are then dropped, the inputs are not cancelled. Asynchronous
 * errors arrive as the aggregate's Failure, described with each function. */
#ifndef WEFT_DEFERRED_LIST_H
#define WEFT_DEFERRED_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/deferred.h"
#include "weft/failure.h"
#include "weft/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags of weft_deferred_list (and, where said, weft_gather). */
enum {
  /* Fire with the (index, value) of the first input to succeed, without waiting for the rest. If
   * none succeeds, the list fires as usual when all have fired (with a list, all failed). */
  WEFT_FIRE_ON_ONE_CALLBACK = 1u << 0,
  /* Fail with a first-error Failure (see weft_first_error_index) at the first input to fail. */
  WEFT_FIRE_ON_ONE_ERRBACK = 1u << 1,
  /* Inputs' failures are consumed: each failing input goes on with NONE, so none is reported as
   * unhandled (the aggregate still gets its own reference to each). */
  WEFT_CONSUME_ERRORS = 1u << 2,
  /* When the aggregate fires before every input has (a FIRE_ON_ONE flag, gather's first failure),
   * cancel the inputs that have not fired yet (Twisted's race does this; DeferredList does not). */
  WEFT_CANCEL_REST = 1u << 3,
};

/* The results of n inputs, in input order whatever order they fired in. Opaque: read it with the
 * weft_result_list_* functions. */
typedef struct weft_result_list weft_result_list;

/* An input's index and the value it fired with: the result of WEFT_FIRE_ON_ONE_CALLBACK and of
 * weft_race. The holder of the result owns value; it may move it out, leaving weft_none(). */
typedef struct weft_indexed_value {
  size_t index;
  weft_value value;
} weft_indexed_value;

/* Twisted's DeferredList. Fires, with flags 0, when every input has fired, with a weft_ptr to a
 * weft_result_list of n entries, entry i holding input i's (ok, value-or-Failure); the list never
 * fails. With WEFT_FIRE_ON_ONE_CALLBACK it fires at the first success with a weft_ptr to a
 * weft_indexed_value; with WEFT_FIRE_ON_ONE_ERRBACK it fails at the first failure with a
 * first-error Failure. When it fires early, the results gathered so far are released (late
 * results: see the top of this file). n == 0 fires at once with an empty list, whatever the
 * flags (Twisted never fires an empty list with fireOnOneCallback). log receives the aggregate's
 * "Unhandled error" report. Unknown flag bits are ignored. Returns one reference to the
 * aggregate, or NULL when out of memory. */
weft_deferred *weft_deferred_list(weft_log_publisher *log, weft_deferred *const *ds, size_t n, unsigned flags);

/* Twisted's gatherResults: fires with a weft_ptr to a weft_result_list whose n entries all
 * succeeded (values in input order), or fails at the first failure with a first-error Failure
 * (domain WEFT_FAILURE_DOMAIN, code WEFT_EFIRSTERROR, the input's Failure as cause). flags may
 * hold WEFT_CONSUME_ERRORS and WEFT_CANCEL_REST (cancel the inputs still pending when one fails);
 * other bits are ignored. n == 0 fires at once with an empty list. Returns one reference, or
 * NULL when out of memory. */
weft_deferred *weft_gather(weft_log_publisher *log, weft_deferred *const *ds, size_t n, unsigned flags);

/* Twisted's race: fires with a weft_ptr to a weft_indexed_value holding the first success and its
 * index; the other inputs are cancelled (before the aggregate's callbacks run) and their failures
 * consumed. Fails only when every input has failed, with a Failure of domain WEFT_FAILURE_DOMAIN
 * and code WEFT_EALLFAILED whose cause is input 0's Failure and which holds all n Failures in
 * input order (weft_race_failures). n == 0 fails at once that way, with no cause and an empty
 * list (Twisted's race never fires). Every input's failure is consumed. Returns one reference,
 * or NULL when out of memory. */
weft_deferred *weft_race(weft_log_publisher *log, weft_deferred *const *ds, size_t n);

/* The result list v points to, or NULL if v is not a weft_ptr to one. Borrowed: valid while v is
 * (until v is released). */
weft_result_list *weft_result_list_of(weft_value v);

/* Number of entries (the number of inputs). */
size_t weft_result_list_count(const weft_result_list *l);
/* Whether input i succeeded (false also for i out of range). */
bool weft_result_list_ok(const weft_result_list *l, size_t i);
/* Input i's value or Failure, borrowed (NONE for i out of range or a value already taken). */
weft_value weft_result_list_get(const weft_result_list *l, size_t i);
/* Moves input i's value or Failure out (the caller owns it); the entry keeps its ok flag and
 * holds NONE afterwards. NONE for i out of range. */
weft_value weft_result_list_take(weft_result_list *l, size_t i);

/* The (index, value) pair v points to, or NULL if v is not a weft_ptr to one made by this module.
 * Borrowed like weft_result_list_of; its value may be moved out (leave weft_none() behind). */
weft_indexed_value *weft_indexed_value_of(weft_value v);

/* True if f is a first-error Failure (code WEFT_EFIRSTERROR, Twisted's FirstError) made by
 * weft_deferred_list or weft_gather; then *index (if not NULL) receives the index of the input
 * that failed. Its cause is that input's Failure (weft_failure_cause); its message names the
 * index too. The index is kept in the Failure's data, which is not a pointer to dereference. */
bool weft_first_error_index(const weft_failure *f, size_t *index);

/* The Failures of a race that failed: if f is weft_race's all-failed Failure (code
 * WEFT_EALLFAILED), a list of n entries, all not ok, entry i holding input i's Failure; else
 * NULL. Borrowed: valid while f is; read-only (it is shared by every holder of f). */
const weft_result_list *weft_race_failures(const weft_failure *f);

#ifdef __cplusplus
}
#endif
#endif
