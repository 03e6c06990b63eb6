/* weft.h: every public header of weft at once. */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include "weft/address.h"
#include "weft/alloc.h"
#include "weft/coro.h"
#include "weft/defer_time.h"
#include "weft/deferred.h"
#include "weft/deferred_list.h"
#include "weft/endpoint.h"
#include "weft/errors.h"
#include "weft/failure.h"
#include "weft/hostname.h"
#include "weft/http.h"
#include "weft/http_router.h"
#include "weft/http_static.h"
#include "weft/log.h"
#include "weft/process.h"
#include "weft/protocol.h"
#include "weft/reactor.h"
#include "weft/resolver.h"
#include "weft/tcp.h"
#include "weft/testing.h"
#include "weft/threads.h"
#include "weft/tls.h"
#include "weft/transport.h"
#include "weft/udp.h"

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

#endif
