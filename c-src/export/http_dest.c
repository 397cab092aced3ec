/*
 * export/http_dest.c - owns where uploads go and with which credentials:
 * the agent URL (http(s) or unix socket), the agentless intake URL from
 * DD_SITE or INPROF_INTAKE_URL, the API key header, and the CA bundle.
 * Every value is validated at start, so that a typo is reported by
 * inprof_start rather than uploaded to.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/defaults.h"
#include "base/diag.h"
#include "base/strbuf.h"
#include "export/http_dest.h"

#define AGENT_PATH "/profiling/v1/input"
#define INTAKE_PATH "/api/v2/profile"

/* ------------------------------------------------------------ validation */

/* Errors name what the user set: the variable, or the inprof_config field
 * when the value was set in code (inprof__settings_invalid decides). */
#define invalid(opt, value, ...) inprof__settings_invalid(s, INPROF__OPT_##opt, value, __VA_ARGS__)

/*
 * Checks an http(s) base URL and returns "<scheme>://<host>[:port]" + path
 * in *out. A base URL may end in "/" but carry no other path, query or
 * fragment, so that a typo is reported rather than uploaded to.
 */
static inprof_status check_http_url(const inprof__settings *s, int opt, const char *value,
                                    int path_allowed, const char *append, char **out) {
  CURLU *u = curl_url();
  if (!u) return inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory parsing a URL");
  inprof_status st = INPROF_OK;
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL,
       *frag = NULL, *user = NULL;
  const char *colon = strstr(value, "://");
  if (!colon) {
    st = inprof__settings_invalid(s, opt, value, "not a URL: expected http://host:port");
    goto done;
  }
  {
    size_t n = (size_t)(colon - value);
    char sch[16];
    if (n == 0 || n >= sizeof sch) {
      st = inprof__settings_invalid(s, opt, value, "malformed URL scheme");
      goto done;
    }
    for (size_t i = 0; i < n; i++) sch[i] = (char)tolower((unsigned char)value[i]);
    sch[n] = 0;
    if (strcmp(sch, "http") != 0 && strcmp(sch, "https") != 0) {
      st = inprof__settings_invalid(s, opt, value, "unsupported scheme \"%s\"; expected %s",
                                    sch,
                                    path_allowed ? "http:// or https://"
                                                 : "http://, https:// or unix:///path");
      goto done;
    }
  }
  if (curl_url_set(u, CURLUPART_URL, value, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
    st = inprof__settings_invalid(s, opt, value, "malformed URL");
    goto done;
  }
  curl_url_get(u, CURLUPART_PORT, &port, 0);
  curl_url_get(u, CURLUPART_PATH, &path, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
  curl_url_get(u, CURLUPART_USER, &user, 0);
  if (query || frag || user) {
    st = inprof__settings_invalid(s, opt, value,
                                  "a query, fragment or user name is not supported");
    goto done;
  }
  if (!path_allowed && path && strcmp(path, "/") != 0 && *path) {
    st = inprof__settings_invalid(s, opt, value, "expected no path: http://host:port");
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
    /* Nothing was set, so there is no source to name: name both. */
    if (!s->api_key || !*s->api_key)
      return inprof__fail(INPROF_ERR_INVALID,
                          "missing DD_API_KEY (inprof_config.api_key): agentless upload "
                          "(DD_PROFILING_AGENTLESS=true, inprof_config.agentless = 1) "
                          "needs an API key");
    for (const char *p = s->api_key; *p; p++)
      if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
        return invalid(api_key, NULL,
                       "contains spaces or control characters (value not shown)");
    if (s->intake_url && *s->intake_url) {
      inprof_status st = check_http_url(s, INPROF__OPT_intake_url, s->intake_url, 1,
                                        INTAKE_PATH, &c->url);
      if (st != INPROF_OK) return st;
    } else {
      const char *site = s->site && *s->site ? s->site : INPROF__DEFAULT_SITE;
      for (const char *p = site; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
          return invalid(site, site, "expected a Datadog site such as datadoghq.eu");
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
      return invalid(agent_url, agent, "expected unix:///absolute/path/to/socket");
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
      return invalid(agent_url, agent, "unix socket path too long");
    c->unix_path = strdup(path);
    c->url = strdup("http://localhost" AGENT_PATH);
    if (!c->unix_path || !c->url) return INPROF_ERR_NO_MEMORY;
    return INPROF_OK;
  }
  return check_http_url(s, INPROF__OPT_agent_url, agent, 0, AGENT_PATH, &c->url);
}

#define PEM_CERT_MARK "-----BEGIN CERTIFICATE-----"
/* A real bundle is well under this (the system's is ~200 KiB); reading a
 * huge file at start to find out it is not one would stall the host. */
#define CA_BUNDLE_SCAN_MAX ((off_t)64 << 20)

/*
 * libcurl reads the bundle only at the first TLS upload, and then reports a
 * device, a directory or an empty file as a failed upload every period.
 * Checked here instead: a readable regular file holding a PEM certificate.
 * Only a regular file is opened (opening a device can have effects, a FIFO
 * can block), and it is checked again once open, in case it was replaced.
 */
static inprof_status check_ca_bundle(const inprof__settings *s, inprof__http_dest *d) {
  if (!s->ca_bundle || !*s->ca_bundle) return INPROF_OK;
  const char *path = s->ca_bundle;
  struct stat sb;
  if (stat(path, &sb) != 0) return invalid(ca_bundle, path, "%s", strerror(errno));
  if (S_ISDIR(sb.st_mode))
    return invalid(ca_bundle, path, "a directory; expected a PEM file of CA certificates");
  if (!S_ISREG(sb.st_mode))
    return invalid(ca_bundle, path, "not a regular file; expected a PEM file of CA certificates");
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return invalid(ca_bundle, path, "cannot open: %s", strerror(errno));
  inprof_status st = INPROF_OK;
  if (fstat(fd, &sb) != 0) {
    st = invalid(ca_bundle, path, "cannot stat: %s", strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) {
    st = invalid(ca_bundle, path, "not a regular file; expected a PEM file of CA certificates");
  } else if (sb.st_size == 0) {
    st = invalid(ca_bundle, path, "empty; expected a PEM file of CA certificates");
  } else {
    /* Look for the marker across reads: keep the tail that could start it. */
    enum { MARK = sizeof PEM_CERT_MARK - 1 };
    char buf[65536 + MARK];
    size_t have = 0;
    off_t total = 0;
    int found = 0, err = 0;
    while (!found && total < CA_BUNDLE_SCAN_MAX) {
      ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err = errno;
        break;
      }
      if (n == 0) break;
      total += n;
      have += (size_t)n;
      buf[have] = 0;
      found = memmem(buf, have, PEM_CERT_MARK, MARK) != NULL;
      if (have >= MARK) {
        memmove(buf, buf + have - (MARK - 1), MARK - 1);
        have = MARK - 1;
      }
    }
    if (err)
      st = invalid(ca_bundle, path, "cannot read: %s", strerror(err));
    else if (!found)
      st = invalid(ca_bundle, path,
                   "no PEM certificate (\"" PEM_CERT_MARK "\") in the file; expected a PEM "
                   "file of CA certificates");
  }
  close(fd);
  if (st != INPROF_OK) return st;
  d->ca_bundle = strdup(path);
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
