/* deferred_trap: errbacks that read like except clauses (chapter 2): each errback traps the
 * failures it knows and passes the others on, so a failure nobody traps reaches the end.
 * Run: build/examples/deferred_trap  (three requests, three different outcomes). */
#include <stdio.h>

#include "weft/weft.h"

#define APP "example.files"
enum { ENOTFOUND = 1, EFORBIDDEN = 2, EBROKEN = 3 };

static weft_value fetch(weft_value v, void *arg) {
  (void)arg;
  const char *name = v.v.s;
  printf("fetch %s\n", name);
  if (name[0] == 'm') return weft_failed(weft_failure_new(APP, ENOTFOUND, "%s: not found", name));
  if (name[0] == 's') return weft_failed(weft_failure_new(APP, EFORBIDDEN, "%s: forbidden", name));
  return weft_failed(weft_failure_new(APP, EBROKEN, "%s: disk on fire", name));
}

static weft_value except_not_found(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, APP, ENOTFOUND)) return v;
  printf("  except not found: %s -> empty file\n", weft_failure_message(v.v.f));
  weft_value_release(v);
  return weft_str("");
}

static weft_value except_forbidden(weft_value v, void *arg) {
  (void)arg;
  if (!weft_trap(v, APP, EFORBIDDEN)) return v;
  printf("  except forbidden: %s -> asking for a password\n", weft_failure_message(v.v.f));
  weft_value_release(v);
  return weft_str("password?");
}

static void request(const char *name) {
  weft_deferred *d = weft_deferred_new(NULL);
  weft_deferred_add_callback(d, fetch, NULL);
  weft_deferred_add_errback(d, except_not_found, NULL);
  weft_deferred_add_errback(d, except_forbidden, NULL);
  weft_deferred_callback(d, weft_str(name));
  weft_value v;
  weft_deferred_take_result(d, &v);
  if (weft_value_is_failure(v)) printf("  not handled: %s\n", weft_failure_message(v.v.f));
  else printf("  result: \"%s\"\n", v.v.s);
  weft_value_release(v);
  weft_deferred_unref(d);
}

int main(void) {
  request("missing.txt");
  request("secret.txt");
  request("broken.txt");
  return 0;
}
