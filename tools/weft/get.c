/* get.c: `weft get URL`: fetch one URL and print its body (the book's `download` example, and
 * curl's simplest use), through the library's HTTP client. Exits 0 on a 2xx answer, 1 with a
 * one-line reason on anything else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "weft/http_client.h"

static const char usage[] =
    "usage: weft get URL [-o FILE] [-H 'Name: value']... [--max-time S] [--cacert FILE]\n"
    "Fetches URL (http or https) and writes its body to stdout or FILE. Redirects are followed.\n"
    "  -o FILE          write the body to FILE instead of stdout\n"
    "  -H 'Name: value' send this request header (repeatable)\n"
    "  --max-time S     give up after S seconds (whole transfer)\n"
    "  --cacert FILE    trust the CAs in FILE (PEM) instead of the system's trust store\n"
    "                   (which SSL_CERT_FILE / SSL_CERT_DIR select, as for any OpenSSL program)\n";

typedef struct get_state {
  weft_reactor *r;
  FILE *out;
  const char *out_path;
  int status;
  char reason[128];
  char error[1024];
  bool done, write_failed;
} get_state;

static void on_data(weft_http_response *resp, const char *data, size_t len, void *user) {
  (void)resp;
  get_state *g = user;
  if (!g->write_failed && fwrite(data, 1, len, g->out) != len) g->write_failed = true;
}

static void on_end(weft_http_response *resp, int error, const char *reason, void *user) {
  get_state *g = user;
  if (error) snprintf(g->error, sizeof g->error, "%s: reading the body: %s", weft_http_response_url(resp),
                      reason ? reason : weft_strerror(error));
  g->done = true;
  weft_http_response_free(resp);
  weft_reactor_stop(g->r);
}

static weft_value got_response(weft_value v, void *arg) {
  get_state *g = arg;
  weft_http_response *resp = v.v.p;
  g->status = weft_http_response_status(resp);
  snprintf(g->reason, sizeof g->reason, "%s", weft_http_response_reason(resp));
  weft_http_body_callbacks cb = {on_data, on_end, g};
  weft_http_response_deliver(resp, &cb); /* on_end frees the response */
  return weft_none();
}

static weft_value got_failure(weft_value v, void *arg) {
  get_state *g = arg;
  snprintf(g->error, sizeof g->error, "%s", weft_failure_message(v.v.f));
  weft_value_release(v);
  g->done = true;
  weft_reactor_stop(g->r);
  return weft_none();
}

int cli_get_main(int argc, char **argv) {
  const char *url = NULL, *out_path = NULL, *cacert = NULL;
  double max_time = 0;
  weft_http_header headers[32];
  char *hbuf[32];
  size_t nh = 0;
  int rc = CLI_EXIT_USAGE;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      rc = CLI_EXIT_OK;
      goto out;
    } else if (!strcmp(a, "-o") && val) {
      out_path = val, i++;
    } else if (!strcmp(a, "--cacert") && val) {
      cacert = val, i++;
    } else if (!strcmp(a, "--max-time") && val) {
      char *end;
      max_time = strtod(val, &end);
      if (*end || max_time <= 0) {
        fprintf(stderr, "weft get: --max-time needs a positive number of seconds\n");
        goto out;
      }
      i++;
    } else if (!strcmp(a, "-H") && val) {
      const char *colon = strchr(val, ':');
      if (!colon || colon == val || nh == 32) {
        fprintf(stderr, "weft get: -H needs 'Name: value'\n");
        goto out;
      }
      hbuf[nh] = strdup(val);
      if (!hbuf[nh]) goto out;
      hbuf[nh][colon - val] = '\0';
      const char *v = hbuf[nh] + (colon - val) + 1;
      while (*v == ' ' || *v == '\t') v++;
      headers[nh] = (weft_http_header){hbuf[nh], v};
      nh++;
      i++;
    } else if (a[0] != '-' && !url) {
      url = a;
    } else {
      fprintf(stderr, "weft get: unexpected argument \"%s\"\n%s", a, usage);
      goto out;
    }
  }
  if (!url) {
    fputs(usage, stderr);
    goto out;
  }
  rc = CLI_EXIT_FAILURE;
  get_state g;
  memset(&g, 0, sizeof g);
  g.out = stdout;
  if (out_path && !(g.out = fopen(out_path, "wb"))) {
    fprintf(stderr, "weft get: cannot write %s\n", out_path);
    goto out;
  }
  if (weft_reactor_new(&g.r, NULL) != 0) goto close_out;
  weft_http_agent_options ao;
  weft_http_agent_options_init(&ao);
  ao.ca_file = cacert;
  ao.max_per_host = 1;
  weft_http_agent *agent = NULL;
  int arc = weft_http_agent_new(&agent, g.r, &ao);
  if (arc) {
    fprintf(stderr, "weft get: %s\n", weft_strerror(arc));
    weft_reactor_free(g.r);
    goto close_out;
  }
  weft_http_request_options o;
  weft_http_request_options_init(&o);
  o.headers = headers;
  o.nheaders = nh;
  o.follow_redirects = true;
  o.timeout = max_time;
  weft_deferred *d = weft_http_agent_request(agent, "GET", url, &o);
  if (d) {
    weft_deferred_add_callbacks(d, got_response, &g, got_failure, &g);
    weft_deferred_unref(d);
    if (!g.done) weft_reactor_run(g.r);
  }
  weft_http_agent_free(agent);
  for (int k = 0; k < 10; k++) weft_reactor_iterate(g.r, 0);
  weft_reactor_free(g.r);
  /* the last buffered bytes are written here: a full disk shows only now */
  if (out_path ? fclose(g.out) != 0 : fflush(stdout) != 0) g.write_failed = true;
  g.out = NULL;
  if (g.error[0]) fprintf(stderr, "weft get: %s\n", g.error);
  else if (g.write_failed) fprintf(stderr, "weft get: writing the body failed\n");
  else if (g.status < 200 || g.status > 299) fprintf(stderr, "weft get: %s: HTTP %d %s\n", url, g.status, g.reason);
  else rc = CLI_EXIT_OK;
close_out:
  if (out_path && g.out) fclose(g.out);
out:
  for (size_t k = 0; k < nh; k++) free(hbuf[k]);
  return rc;
}
