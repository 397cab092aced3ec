/*
 * export/http_dest.c - owns where uploads go and with which credentials:
 * the agent URL (http(s) or unix socket), the agentless intake URL from
 * DD_SITE or INPROF_INTAKE_URL, the API key header, and the CA bundle.
 * Every value is validated at start, so that a typo is reported by
 * inprof_start rather than uploaded to.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/defaults.h"
#include "base/diag.h"
#include "base/strbuf.h"
#include "export/http_dest.h"

#define AGENT_PATH "/profiling/v1/input"
#define INTAKE_PATH "/api/v2/profile"

/* ------------------------------------------------------------ validation */

static inprof_status invalid(const char *var, const char *value, const char *why) {
  if (value) return inprof__fail(INPROF_ERR_INVALID, "invalid %s=\"%s\": %s", var, value, why);
  return inprof__fail(INPROF_ERR_INVALID, "invalid %s: %s", var, why);
}

/*
 * Checks an http(s) base URL and returns "<scheme>://<host>[:port]" + path
 * in *out. A base URL may end in "/" but carry no other path, query or
 * fragment, so that a typo is reported rather than uploaded to.
 */
static inprof_status check_http_url(const char *var, const char *value,
                                    int path_allowed, const char *append,
                                    char **out) {
  CURLU *u = curl_url();
  if (!u) {
    inprof__set_error("out of memory parsing %s", var);
    return INPROF_ERR_NO_MEMORY;
  }
  inprof_status st = INPROF_OK;
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL,
       *frag = NULL, *user = NULL;
  const char *colon = strstr(value, "://");
  if (!colon) {
    st = invalid(var, value, "not a URL: expected http://host:port");
    goto done;
  }
  {
    size_t n = (size_t)(colon - value);
    char sch[16];
    if (n == 0 || n >= sizeof sch) {
      st = invalid(var, value, "malformed URL scheme");
      goto done;
    }
    for (size_t i = 0; i < n; i++) sch[i] = (char)tolower((unsigned char)value[i]);
    sch[n] = 0;
    if (strcmp(sch, "http") != 0 && strcmp(sch, "https") != 0) {
      inprof__set_error("invalid %s=\"%s\": unsupported scheme \"%s\"; expected "
                        "%s",
                        var, value, sch,
                        path_allowed ? "http:// or https://"
                                     : "http://, https:// or unix:///path");
      st = INPROF_ERR_INVALID;
      goto done;
    }
  }
  if (curl_url_set(u, CURLUPART_URL, value, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
    st = invalid(var, value, "malformed URL");
    goto done;
  }
  curl_url_get(u, CURLUPART_PORT, &port, 0);
  curl_url_get(u, CURLUPART_PATH, &path, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
  curl_url_get(u, CURLUPART_USER, &user, 0);
  if (query || frag || user) {
    st = invalid(var, value, "a query, fragment or user name is not supported");
    goto done;
  }
  if (!path_allowed && path && strcmp(path, "/") != 0 && *path) {
    st = invalid(var, value, "expected no path: http://host:port");
    goto done;
  }
  {
    inprof__sb b = {0};
    inprof__sb_str(&b, scheme);
    inprof__sb_str(&b, "://");
    if (strchr(host, ':') && host[0] != '[') {
      inprof__sb_fmt(&b, "[%s]", host);
    } else {
      inprof__sb_str(&b, host);
    }
    if (port) inprof__sb_fmt(&b, ":%s", port);
    if (path_allowed && path && strcmp(path, "/") != 0)
      inprof__sb_str(&b, path);
    else if (append)
      inprof__sb_str(&b, append);
    *out = inprof__sb_take(&b);
    if (!*out) {
      inprof__set_error("out of memory building the upload URL");
      st = INPROF_ERR_NO_MEMORY;
    }
  }
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(query);
  curl_free(frag);
  curl_free(user);
  curl_url_cleanup(u);
  return st;
}

static inprof_status resolve(const inprof__settings *s, inprof__http_dest *c) {
  if (s->agentless) {
    if (!s->api_key || !*s->api_key)
      return invalid("DD_API_KEY", NULL,
                     "required when DD_PROFILING_AGENTLESS is true (agentless upload)");
    for (const char *p = s->api_key; *p; p++)
      if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
        return invalid("DD_API_KEY", NULL,
                       "contains spaces or control characters (value not shown)");
    if (s->intake_url && *s->intake_url) {
      inprof_status st = check_http_url("INPROF_INTAKE_URL", s->intake_url, 1,
                                        INTAKE_PATH, &c->url);
      if (st != INPROF_OK) return st;
    } else {
      const char *site = s->site && *s->site ? s->site : INPROF__DEFAULT_SITE;
      for (const char *p = site; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
          return invalid("DD_SITE", site, "expected a Datadog site such as datadoghq.eu");
      inprof__sb b = {0};
      inprof__sb_fmt(&b, "https://intake.profile.%s" INTAKE_PATH, site);
      c->url = inprof__sb_take(&b);
      if (!c->url) return INPROF_ERR_NO_MEMORY;
    }
    inprof__sb h = {0};
    inprof__sb_str(&h, "DD-API-KEY: ");
    inprof__sb_str(&h, s->api_key);
    c->api_key_hdr = inprof__sb_take(&h);
    if (!c->api_key_hdr) return INPROF_ERR_NO_MEMORY;
    return INPROF_OK;
  }

  const char *agent = s->agent_url && *s->agent_url ? s->agent_url : INPROF__DEFAULT_AGENT_URL;
  if (!strncasecmp(agent, "unix:", 5)) {
    /* unix:///abs/path (the form Datadog's tracers accept), or unix:/abs/path. */
    const char *path = agent + 5;
    if (!strncmp(path, "//", 2)) path += 2;
    if (path[0] != '/' || path[1] == 0)
      return invalid("DD_TRACE_AGENT_URL", agent,
                     "expected unix:///absolute/path/to/socket");
    if (strlen(path) >= 108)
      return invalid("DD_TRACE_AGENT_URL", agent, "unix socket path too long");
    c->unix_path = strdup(path);
    c->url = strdup("http://localhost" AGENT_PATH);
    if (!c->unix_path || !c->url) return INPROF_ERR_NO_MEMORY;
    return INPROF_OK;
  }
  return check_http_url("DD_TRACE_AGENT_URL", agent, 0, AGENT_PATH, &c->url);
}

static inprof_status check_ca_bundle(const inprof__settings *s, inprof__http_dest *d) {
  if (!s->ca_bundle || !*s->ca_bundle) return INPROF_OK;
  if (access(s->ca_bundle, R_OK) != 0)
    return invalid("INPROF_CA_BUNDLE", s->ca_bundle, strerror(errno));
  d->ca_bundle = strdup(s->ca_bundle);
  if (!d->ca_bundle)
    return inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory starting the uploader");
  return INPROF_OK;
}

INPROF__HIDDEN inprof_status inprof__http_dest_from_settings(const inprof__settings *s,
                                                             inprof__http_dest *d) {
  memset(d, 0, sizeof *d);
  inprof_status st = resolve(s, d);
  if (st == INPROF_OK) st = check_ca_bundle(s, d);
  if (st != INPROF_OK) inprof__http_dest_free(d);
  return st;
}

static void wipe_free(char *p) {
  if (!p) return;
  explicit_bzero(p, strlen(p));
  free(p);
}

INPROF__HIDDEN void inprof__http_dest_free(inprof__http_dest *d) {
  free(d->url);
  free(d->unix_path);
  free(d->ca_bundle);
  wipe_free(d->api_key_hdr);
  memset(d, 0, sizeof *d);
}
