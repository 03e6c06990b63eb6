/* deferred_nesting: a callback that returns another Deferred (chapter 2): the outer chain pauses
 * until the inner one has fired and run its own callbacks, then goes on with the inner result.
 * Run: build/examples/deferred_nesting  (prints the order in which things happen). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

static weft_deferred *inner;

static weft_value outer_first(weft_value v, void *arg) {
  (void)arg;
  printf("outer callback 1 got \"%s\"; returns the inner Deferred\n", v.v.s);
  return weft_chain(weft_deferred_ref(inner));
}

static weft_value inner_upper(weft_value v, void *arg) {
  (void)arg;
  char *up = strdup(v.v.s);
  for (char *p = up; *p; p++) *p = (char)toupper((unsigned char)*p);
  printf("inner callback got \"%s\", returns \"%s\"\n", v.v.s, up);
  return weft_ptr(up, free);
}

static weft_value outer_second(weft_value v, void *arg) {
  (void)arg;
  printf("outer callback 2 got \"%s\"\n", (const char *)v.v.p);
  return v;
}

int main(void) {
  weft_deferred *outer = weft_deferred_new(NULL);
  inner = weft_deferred_new(NULL);
  weft_deferred_add_callback(outer, outer_first, NULL);
  weft_deferred_add_callback(outer, outer_second, NULL);
  weft_deferred_add_callback(inner, inner_upper, NULL);
  printf("firing outer\n");
  weft_deferred_callback(outer, weft_str("start"));
  printf("outer is %s\n", weft_deferred_paused(outer) ? "paused, waiting on inner" : "not paused");
  printf("firing inner\n");
  weft_deferred_callback(inner, weft_str("inner value"));
  printf("outer is %s\n", weft_deferred_paused(outer) ? "paused" : "done");
  weft_deferred_unref(inner);
  weft_deferred_unref(outer);
  return 0;
}
