/* http_access_log.c: one "weft.http.access" log event per finished request, whose message is the
 * Combined Log Format line (Apache's and nginx's default) and whose fields carry the same facts
 * for structured observers (weft_log_json_observer). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "web/http_internal.h"

/* Escapes untrusted bytes the way nginx does: '"', '\' and bytes outside printable ASCII become
 * \xHH, so a client can neither end the quoted field nor start a line of its own. Writes at
 * most 4 * n + 1 bytes (NUL-terminated) and returns dst. n == 0 gives "-", CLF's "none". */
static char *escape(char *dst, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  if (n == 0) return strcpy(dst, "-");
  char *p = dst;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
      *p++ = '\\';
      *p++ = 'x';
      *p++ = hex[ch >> 4];
      *p++ = hex[ch & 15];
    } else {
      *p++ = (char)ch;
    }
  }
  *p = '\0';
  return dst;
}

/* The client's host without the port ("127.0.0.1", "::1"), or "-". */
static void remote_host(const weft_http_request *req, char *out, size_t size) {
  weft_address a;
  strcpy(out, "-");
  if (weft_http_request_peer(req, &a) != 0) return;
  if (a.u.sa.sa_family == AF_INET) inet_ntop(AF_INET, &a.u.in4.sin_addr, out, (socklen_t)size);
  else if (a.u.sa.sa_family == AF_INET6) inet_ntop(AF_INET6, &a.u.in6.sin6_addr, out, (socklen_t)size);
  else if (a.u.sa.sa_family == AF_UNIX) strcpy(out, "unix:");
}

/* "25/Nov/2026:19:30:06 +0000" (CLF's time, always UTC). */
static void clf_time(double t, char out[32]) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t secs = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&secs, &tm)) {
    strcpy(out, "-");
    return;
  }
  snprintf(out, 32, "%02d/%.3s/%04d:%02d:%02d:%02d +0000", tm.tm_mday % 100, months + 3 * (tm.tm_mon % 12),
           (tm.tm_year + 1900) % 10000, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
}

void weft__http_access_log(weft_http_request *req, int status, uint64_t bytes) {
  weft__http_conn *c = req->conn;
  weft_http_server *srv = c->srv;
  weft_log_publisher *log = weft__http_log(srv);
  if (!weft_log_enabled(log, WEFT_LOG_INFO)) return;
  bool has_head = req->method_len > 0;
  size_t rl = 0, ual = 0;
  const char *ref = has_head ? weft_http_request_header(req, "referer", &rl) : NULL;
  const char *ua = has_head ? weft_http_request_header(req, "user-agent", &ual) : NULL;
  /* Every escaped string in one buffer: on the stack for ordinary requests. */
  size_t need = 4 * ((size_t)req->method_len + req->target_len + rl + ual) * 2 + 64;
  char stack[2048];
  char *buf = need <= sizeof stack ? stack : weft__malloc(need);
  if (!buf) return;
  char *method = escape(buf, req->method, req->method_len);
  char *target = escape(method + strlen(method) + 1, req->target, req->target_len);
  char *referer = escape(target + strlen(target) + 1, ref, rl);
  char *agent = escape(referer + strlen(referer) + 1, ua, ual);
  char *request = agent + strlen(agent) + 1;
  const char *protocol = req->minor ? "HTTP/1.1" : "HTTP/1.0";
  if (has_head) sprintf(request, "%s %s %s", method, target, protocol);
  else strcpy(request, "-");

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double duration = has_head ? weft_reactor_seconds(srv->r) - req->started : 0;
  if (duration < 0) duration = 0;
  char when[32], host[INET6_ADDRSTRLEN + 8];
  /* CLF stamps the time the request arrived; the event's own time is when it finished. */
  clf_time((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - duration, when);
  remote_host(req, host, sizeof host);
  weft_log_emit(log, WEFT_LOG_INFO, "weft.http.access",
                "{remote} - - [{timestamp}] \"{request}\" {status} {bytes} \"{referer}\" \"{user_agent}\"",
                WEFT_LOG_STR("remote", host), WEFT_LOG_STR("timestamp", when), WEFT_LOG_STR("request", request),
                WEFT_LOG_STR("method", has_head ? method : ""), WEFT_LOG_STR("target", has_head ? target : ""),
                WEFT_LOG_STR("protocol", has_head ? protocol : ""), WEFT_LOG_INT("status", status),
                WEFT_LOG_UINT("bytes", bytes), WEFT_LOG_STR("referer", referer), WEFT_LOG_STR("user_agent", agent),
                WEFT_LOG_DOUBLE("duration", duration), WEFT_LOG_END);
  if (buf != stack) weft__free(buf);
}
