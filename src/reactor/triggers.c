/* triggers.c: system event triggers (Twisted's addSystemEventTrigger): before/during/after
 * "startup" and "shutdown". A before-trigger may take holds; the reactor keeps turning and only
 * starts the "during" phase once every hold is released (the Deferred layer builds on this). */
#include "base/alloc.h"
#include "reactor/reactor_internal.h"
#include "weft/errors.h"

struct weft_trigger {
  weft_trigger *next;
  weft_system_event event;
  weft_trigger_phase phase;
  weft_trigger_fn fn;
  void *arg;
  bool removed;
};

struct weft_trigger_ctx {
  weft_reactor *r;
  bool before;
};

struct weft_trigger_hold {
  weft_reactor *r;
};

int weft_reactor_add_trigger(weft_trigger **out, weft_reactor *r, weft_system_event event,
                             weft_trigger_phase phase, weft_trigger_fn fn, void *arg) {
  if (!fn || event > WEFT_EVENT_SHUTDOWN || phase > WEFT_TRIGGER_AFTER) return WEFT_EINVAL;
  weft_trigger *t = weft__calloc(1, sizeof *t);
  if (!t) return WEFT_ENOMEM;
  t->event = event;
  t->phase = phase;
  t->fn = fn;
  t->arg = arg;
  /* appended, so triggers of a phase run in the order they were added */
  weft_trigger **pp = &r->triggers;
  while (*pp) pp = &(*pp)->next;
  *pp = t;
  if (out) *out = t;
  return 0;
}

void weft_reactor_remove_trigger(weft_reactor *r, weft_trigger *t) {
  (void)r;
  if (t) t->removed = true; /* unlinked when freed with the reactor; may be inside a firing */
}

void weft__triggers_fire(weft_reactor *r, weft_system_event ev, weft_trigger_phase phase) {
  weft_trigger_ctx ctx = {r, phase == WEFT_TRIGGER_BEFORE};
  for (weft_trigger *t = r->triggers; t; t = t->next)
    if (!t->removed && t->event == ev && t->phase == phase) t->fn(&ctx, t->arg);
}

weft_trigger_hold *weft_trigger_hold_new(weft_trigger_ctx *ctx) {
  if (!ctx || !ctx->before) return NULL;
  weft_trigger_hold *h = weft__malloc(sizeof *h);
  if (!h) return NULL;
  h->r = ctx->r;
  ctx->r->holds++;
  return h;
}

void weft_trigger_release(weft_trigger_hold *h) {
  if (!h) return;
  h->r->holds--;
  weft__free(h);
}

weft_reactor *weft_trigger_ctx_reactor(weft_trigger_ctx *ctx) { return ctx->r; }

size_t weft__triggers_holds(const weft_reactor *r) { return r->holds; }

void weft__triggers_destroy(weft_reactor *r) {
  while (r->triggers) {
    weft_trigger *n = r->triggers->next;
    weft__free(r->triggers);
    r->triggers = n;
  }
}
