/* web_log.c: weft web's log routing. Access events (namespace "weft.http.access", one per
 * finished request, whose message is the Combined Log Format line) go to the access log file;
 * the rest go to stderr. The file is reopened on SIGHUP, so logrotate can rename it and signal:
 * the next request lands in a fresh file with the old name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define ACCESS_NS "weft.http.access"

static FILE *open_append(const char *path) {
  FILE *f = fopen(path, "ae"); /* O_APPEND: workers sharing the file never overwrite each other */
  if (f) setvbuf(f, NULL, _IOFBF, 8192);
  return f;
}

int web_log_open(web_log *l) {
  if (!l->path) return 0;
  if (strcmp(l->path, "-") == 0) {
    l->file = stdout;
    return 0;
  }
  l->file = open_append(l->path);
  return l->file ? 0 : errno;
}

void web_log_reopen(web_log *l, weft_log_publisher *pub) {
  if (!l->path || l->file == stdout) return;
  FILE *f = open_append(l->path);
  if (!f) {
    int e = errno;
    weft_log_emit(pub, WEFT_LOG_ERROR, "weft.web", "cannot reopen the access log {path}: {reason}",
                  WEFT_LOG_STR("path", l->path), WEFT_LOG_STR("reason", strerror(e)), WEFT_LOG_END);
    return;
  }
  if (l->file) fclose(l->file);
  l->file = f;
  weft_log_emit(pub, WEFT_LOG_INFO, "weft.web", "access log {path} reopened", WEFT_LOG_STR("path", l->path),
                WEFT_LOG_END);
}

void web_log_close(web_log *l) {
  if (l->file && l->file != stdout) fclose(l->file);
  else if (l->file) fflush(l->file);
  l->file = NULL;
}

weft_log_level web_log_min_level(const web_log *l) {
  return l->path && l->level > WEFT_LOG_INFO ? WEFT_LOG_INFO : l->level;
}

/* One access line: the rendered message (the Combined Log Format line), flushed at once so a
 * reader of the file (or a crash) sees every finished request. */
static void write_text_line(const weft_log_event *ev, FILE *f) {
  char small[1024];
  size_t n = weft_log_format_message(ev, small, sizeof small);
  char *line = small;
  if (n >= sizeof small) {
    line = malloc(n + 1);
    if (!line) return;
    weft_log_format_message(ev, line, n + 1);
  }
  flockfile(f);
  fwrite(line, 1, n, f);
  putc_unlocked('\n', f);
  fflush(f);
  funlockfile(f);
  if (line != small) free(line);
}

void web_log_observer(const weft_log_event *ev, void *user) {
  web_log *l = user;
  if (strcmp(ev->ns, ACCESS_NS) == 0) {
    if (!l->file) return;
    if (l->json) weft_log_json_observer(ev, l->file); /* flushes itself */
    else write_text_line(ev, l->file);
    return;
  }
  if (ev->level < l->level) return;
  if (l->json) weft_log_json_observer(ev, stderr);
  else weft_log_text_observer(ev, stderr);
}
