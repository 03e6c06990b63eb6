/* net_hooks.h: how the test kit's memory reactor intercepts listen and connect calls, so a test
 * can drive a factory with fake connections (Twisted's MemoryReactor). Internal. */
#ifndef WEFT_NET_NET_HOOKS_H
#define WEFT_NET_NET_HOOKS_H

#include "weft/tcp.h"

struct weft__net_hooks {
  /* A listen on addr (an IP address with the port asked, or a Unix address). The hook records
   * it and may set the port it pretends to listen on. Returns 0 or a WEFT_E* to refuse. */
  int (*listen)(void *user, weft_address *addr, const weft_listen_options *o, const weft_factory *f);
  /* The port made by listen is closed. */
  void (*listen_closed)(void *user, const weft_address *addr, const weft_factory *f);
  /* A connect to addr. The hook records it; nothing else happens (no callback follows). */
  int (*connect)(void *user, const weft_address *addr, const weft_connect_options *o, const weft_factory *f);
};

#endif
