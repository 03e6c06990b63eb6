/* http_client_url.c: parsing the http and https URLs the client accepts (the part of
 * twisted.web.client.URI the Agent uses). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/http_client.h"

static int bad(char *why, size_t n, const char *fmt, ...) {
  if (why && n) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
  }
  return WEFT_EINVAL;
}

int weft_http_url_parse(weft_http_url *out, const char *url, char *why, size_t whylen) {
  if (!out || !url) return bad(why, whylen, "no URL");
  memset(out, 0, sizeof *out);
  for (const char *s = url; *s; s++)
    if ((unsigned char)*s <= 0x20 || *s == 0x7f) return bad(why, whylen, "space or control character in URL");
  const char *colon = strstr(url, "://");
  if (!colon) return bad(why, whylen, "not an absolute URL (no scheme://)");
  size_t sl = (size_t)(colon - url);
  if (sl == 4 && strncasecmp(url, "http", 4) == 0) {
    strcpy(out->scheme, "http");
    out->port = 80;
  } else if (sl == 5 && strncasecmp(url, "https", 5) == 0) {
    strcpy(out->scheme, "https");
    out->port = 443;
  } else {
    return bad(why, whylen, "unsupported scheme \"%.*s\" (only http and https)", (int)(sl < 16 ? sl : 16), url);
  }
  const char *auth = colon + 3, *end = auth + strcspn(auth, "/?#");
  if (memchr(auth, '@', (size_t)(end - auth))) return bad(why, whylen, "user info in URL is not supported");
  const char *host = auth, *host_end, *port = NULL;
  if (*auth == '[') {
    const char *rb = memchr(auth, ']', (size_t)(end - auth));
    if (!rb) return bad(why, whylen, "unterminated IPv6 literal");
    host = auth + 1;
    host_end = rb;
    for (const char *c = host; c < host_end; c++)
      if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.') return bad(why, whylen, "bad IPv6 literal");
    if (!memchr(host, ':', (size_t)(host_end - host))) return bad(why, whylen, "bad IPv6 literal");
    out->ipv6 = true;
    if (rb + 1 < end) {
      if (rb[1] != ':') return bad(why, whylen, "junk after IPv6 literal");
      port = rb + 2;
    }
  } else {
    const char *pc = memchr(auth, ':', (size_t)(end - auth));
    host_end = pc ? pc : end;
    if (pc) port = pc + 1;
    for (const char *c = host; c < host_end; c++)
      if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_')
        return bad(why, whylen, "invalid character in host name");
  }
  size_t hl = (size_t)(host_end - host);
  if (hl == 0) return bad(why, whylen, "no host in URL");
  if (hl >= sizeof out->host) return bad(why, whylen, "host name too long");
  for (size_t i = 0; i < hl; i++) out->host[i] = (char)tolower((unsigned char)host[i]);
  if (port) {
    long v = 0;
    if (port == end) return bad(why, whylen, "empty port");
    for (const char *c = port; c < end; c++) {
      if (!isdigit((unsigned char)*c) || (v = v * 10 + (*c - '0')) > 65535) return bad(why, whylen, "bad port");
    }
    if (v < 1) return bad(why, whylen, "bad port");
    out->port = (int)v;
  }
  size_t tl = strcspn(end, "#");
  if (tl + 2 > sizeof out->target) return bad(why, whylen, "path too long");
  if (*end != '/') out->target[0] = '/';
  strncat(out->target, end, tl);
  return 0;
}
