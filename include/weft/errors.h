/* errors.h: weft's error codes, one table (libuv's style).
 *
 * Every function that can fail returns 0 or a negative WEFT_E* code. Where an errno exists the
 * code is its negation (WEFT_ECONNREFUSED == -ECONNREFUSED), so a system error passes through
 * unchanged; codes of weft's own live below -4000 (TLS's, the "weft.tls" space, from -4100). */
#ifndef WEFT_ERRORS_H
#define WEFT_ERRORS_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message): errno-backed codes first, then weft's own. */
#define WEFT_ERRNO_TABLE(X)                                                                       \
  X(EPERM, -EPERM, "operation not permitted")                                                     \
  X(ENOENT, -ENOENT, "no such file or directory")                                                 \
  X(EINTR, -EINTR, "interrupted system call")                                                     \
  X(EIO, -EIO, "i/o error")                                                                       \
  X(EBADF, -EBADF, "bad file descriptor")                                                         \
  X(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                          \
  X(ENOMEM, -ENOMEM, "out of memory")                                                             \
  X(EACCES, -EACCES, "permission denied")                                                         \
  X(EBUSY, -EBUSY, "resource busy")                                                               \
  X(EEXIST, -EEXIST, "already exists")                                                            \
  X(EINVAL, -EINVAL, "invalid argument")                                                          \
  X(ENFILE, -ENFILE, "file table overflow")                                                       \
  X(EMFILE, -EMFILE, "too many open files")                                                       \
  X(ENOSPC, -ENOSPC, "no space left on device")                                                   \
  X(ENODEV, -ENODEV, "no such device")                                                            \
  X(EPIPE, -EPIPE, "broken pipe")                                                                 \
  X(ERANGE, -ERANGE, "result out of range")                                                       \
  X(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                                                 \
  X(ENOSYS, -ENOSYS, "function not implemented")                                                  \
  X(ENOTSUP, -ENOTSUP, "operation not supported")                                                 \
  X(EADDRINUSE, -EADDRINUSE, "address already in use")                                            \
  X(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                                       \
  X(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")                                  \
  X(ENETUNREACH, -ENETUNREACH, "network is unreachable")                                          \
  X(ECONNABORTED, -ECONNABORTED, "connection aborted")                                            \
  X(ECONNRESET, -ECONNRESET, "connection reset by peer")                                          \
  X(ENOBUFS, -ENOBUFS, "no buffer space available")                                               \
  X(EISCONN, -EISCONN, "socket is already connected")                                             \
  X(ENOTCONN, -ENOTCONN, "socket is not connected")                                               \
  X(ETIMEDOUT, -ETIMEDOUT, "operation timed out")                                                 \
  X(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                            \
  X(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                                           \
  X(EALREADY, -EALREADY, "operation already in progress or done")                                 \
  X(EINPROGRESS, -EINPROGRESS, "operation in progress")                                           \
  X(EMSGSIZE, -EMSGSIZE, "message too long")                                                      \
  X(ECANCELED, -ECANCELED, "operation canceled")                                                  \
  X(EDEADLK, -EDEADLK, "resource deadlock avoided")

#define WEFT_OWN_TABLE(X)                                                                         \
  X(ECLOSED, -4001, "transport is closing or closed")                                             \
  X(EABORTED, -4002, "connection aborted locally")                                                \
  X(EPARSE, -4003, "could not parse")                                                             \
  X(EBACKEND, -4004, "reactor backend not available on this platform")                            \
  X(ESTATE, -4005, "not allowed in the object's current state")                                   \
  X(ELIMIT, -4006, "a configured limit was reached")                                              \
  X(EFIRSTERROR, -4007, "a Deferred of a list failed first")                                      \
  X(EALLFAILED, -4008, "every Deferred of a race failed")                                         \
  X(ENOTFOUND, -4020, "host name not found")                                                      \
  X(EDNS, -4021, "name server failure")                                                           \
  X(ETLSCONFIG, -4100, "TLS certificate, key or option not usable")                               \
  X(ETLSHANDSHAKE, -4101, "TLS handshake failed")                                                 \
  X(ETLSVERIFY, -4102, "TLS peer certificate not verified")                                       \
  X(ETLSEXPIRED, -4103, "TLS peer certificate expired or not yet valid")                          \
  X(ETLSUNKNOWNCA, -4104, "TLS peer certificate issued by an unknown or untrusted CA")            \
  X(ETLSHOSTNAME, -4105, "TLS peer certificate does not match the host name")                     \
  X(ETLSNOCERT, -4106, "TLS peer sent no certificate where one is required")                      \
  X(ETLSPROTOCOL, -4107, "TLS protocol error after the handshake")                                \
  X(ETLSTRUNCATED, -4108, "TLS connection closed without close_notify (truncated)")

enum {
#define WEFT_ERR_ENUM_(name, value, msg) WEFT_##name = (value),
  WEFT_ERRNO_TABLE(WEFT_ERR_ENUM_) WEFT_OWN_TABLE(WEFT_ERR_ENUM_)
#undef WEFT_ERR_ENUM_
};

/* Returns a static, human-readable message for err (0 gives "success"); codes that are not in
 * the table but are a negated errno get strerror's text; anything else "unknown error". */
const char *weft_strerror(int err);

/* Returns the static symbolic name of err ("ECONNREFUSED", "ECLOSED", "OK"), or "UNKNOWN". */
const char *weft_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
