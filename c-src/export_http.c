/*
 * export_http.c - uploads to the Datadog agent (HTTP or unix socket) and to
 * the agentless intake (HTTPS), from a thread of its own with libcurl.
 *
 * Owns: destination validation, the bounded upload queue, event.json, the
 * multipart request and its headers, zstd compression, timeouts, and the
 * stop deadline. Host threads never run any of this: the collector hands
 * over a copy of each pprof (inprof__http_submit never blocks) and the
 * upload thread does the rest. One attempt per profile, no retries: the
 * next period brings a fresh profile anyway.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zstd.h>

#include "export_http.h"
#include "internal.h"

#define INPROF_VERSION_STR "0.1.0"
#define ORIGIN "inprof"
#define AGENT_PATH "/profiling/v1/input"
#define INTAKE_PATH "/api/v2/profile"
#define DEFAULT_AGENT_URL "http://localhost:8126"
#define DEFAULT_SITE "datadoghq.com"

/* Queue bounds: a few periods' worth; older profiles are less useful. */
#define QUEUE_CAP 4
#define QUEUE_MAX_BYTES ((size_t)64 << 20)
/* The intake refuses bigger profiles (libdatadog skips them too). */
#define MAX_COMPRESSED ((size_t)10 << 20)
/* How much of an error response is kept for the log. */
#define RESPONSE_KEEP 200
/* Longest a poll sleeps before the stop deadline is checked again. */
#define POLL_MAX_MS 200

typedef struct job {
  uint8_t *pprof;
  size_t len;
  inprof__upload_meta meta;
} job;

typedef struct ctx {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* CLOCK_MONOTONIC: queue changes, stop, done */
  job q[QUEUE_CAP];
  unsigned qhead, qlen;
  size_t qbytes;
  int stopping, done;
  _Atomic uint64_t abort_at_ns; /* MONOTONIC; 0 while not stopping */
  _Atomic int refs;             /* stop's and the thread's */
  pthread_t thread;
  CURLM *multi;

  char *url;          /* full endpoint URL */
  char *unix_path;    /* agent over a unix socket, else NULL */
  char *ca_bundle;
  char *api_key_hdr;  /* "DD-API-KEY: ..." agentless only; wiped on free */
  char *tags;         /* tags_profiler without profile_seq */
  char container_id[65];
  uint32_t connect_timeout_ms, upload_timeout_ms;

  /* Upload-thread only: which failures were already logged loudly. */
  uint8_t logged_status[600];
  uint8_t logged_curl[128];
  uint8_t logged_other[4];
} ctx;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ctx *g_ctx;

/* ------------------------------------------------------- string builder */

typedef struct sb {
  char *p;
  size_t len, cap;
  int oom;
} sb;

static void sb_grow(sb *b, size_t more) {
  if (b->oom || b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void sb_put(sb *b, const char *s, size_t n) {
  sb_grow(b, n);
  if (b->oom) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_str(sb *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sb *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_put(b, tmp, (size_t)n);
    return;
  }
  sb_grow(b, (size_t)n);
  if (b->oom) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static char *sb_take(sb *b) {
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  if (!b->p) return strdup("");
  return b->p;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0];
  size_t n;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) n = 2, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000;
  else return 0;
  if (n > avail) return 0;
  unsigned cp = c & (0x7Fu >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/* A JSON string literal; invalid UTF-8 becomes U+FFFD so the JSON stays valid. */
static void sb_json(sb *b, const char *s) {
  sb_put(b, "\"", 1);
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      sb_put(b, esc, 2);
      i++;
    } else if (c < 0x20 || c == 0x7F) {
      sb_fmt(b, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      sb_put(b, (const char *)u + i, 1);
      i++;
    } else {
      size_t k = utf8_len(u + i, n - i);
      if (k) {
        sb_put(b, (const char *)u + i, k);
        i += k;
      } else {
        sb_str(b, "\\ufffd");
        i++;
      }
    }
  }
  sb_put(b, "\"", 1);
}

/* ------------------------------------------------------ event.json parts */

INPROF_HIDDEN void inprof__http_rfc3339(uint64_t ns, char *out, size_t len) {
  time_t sec = (time_t)(ns / 1000000000u);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char date[32];
  if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) date[0] = 0;
  snprintf(out, len, "%.19s.%09uZ", date, (unsigned)(ns % 1000000000u));
}

static pthread_mutex_t runtime_id_lock = PTHREAD_MUTEX_INITIALIZER;
static char runtime_id[37];
static pid_t runtime_id_pid;

/* Regenerated in a forked child: that is another process to Datadog. */
INPROF_HIDDEN const char *inprof__http_runtime_id(void) {
  pthread_mutex_lock(&runtime_id_lock);
  pid_t pid = getpid();
  if (runtime_id_pid != pid) {
    uint8_t r[16];
    size_t got = 0;
    while (got < sizeof r) {
      ssize_t n = getrandom(r + got, sizeof r - got, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        /* No entropy source: still unique enough per process for a tag. */
        uint64_t a = inprof__now_ns(CLOCK_REALTIME) ^ ((uint64_t)pid << 32);
        uint64_t c = inprof__now_ns(CLOCK_MONOTONIC) * 0x9E3779B97F4A7C15ull;
        memcpy(r, &a, 8);
        memcpy(r + 8, &c, 8);
        break;
      }
      got += (size_t)n;
    }
    r[6] = (uint8_t)((r[6] & 0x0F) | 0x40); /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    snprintf(runtime_id, sizeof runtime_id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
             r[11], r[12], r[13], r[14], r[15]);
    runtime_id_pid = pid;
  }
  pthread_mutex_unlock(&runtime_id_lock);
  return runtime_id;
}

static int is_hex(int c) { return isxdigit((unsigned char)c) != 0; }

/*
 * cgroup v1 paths carry the container id as a 64-hex component, plain
 * (/docker/<id>) or wrapped (docker-<id>.scope, cri-containerd-<id>.scope).
 */
INPROF_HIDDEN int inprof__http_container_id(const char *text, char out[65]) {
  const char *p = text;
  while (*p) {
    if (is_hex(*p) && (p == text || !is_hex(p[-1]))) {
      size_t n = 0;
      while (is_hex(p[n])) n++;
      int before_ok = p == text || p[-1] == '/' || p[-1] == '-' || p[-1] == ':';
      int after_ok = p[n] == 0 || p[n] == '\n' || p[n] == '.' || p[n] == '/';
      if (n == 64 && before_ok && after_ok) {
        for (size_t i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)p[i]);
        out[64] = 0;
        return 1;
      }
      p += n;
    } else {
      p++;
    }
  }
  out[0] = 0;
  return 0;
}

static void read_container_id(char out[65]) {
  out[0] = 0;
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return;
  char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  inprof__http_container_id(buf, out);
}

/* Our tag values must not contain the separator of tags_profiler. */
static void sb_tag(sb *b, const char *key, const char *value) {
  if (!value || !*value) return;
  if (b->len) sb_put(b, ",", 1);
  sb_str(b, key);
  sb_put(b, ":", 1);
  for (const char *p = value; *p; p++) sb_put(b, *p == ',' ? "_" : p, 1);
}

/* tags_profiler without profile_seq, which changes per upload. */
static char *build_tags(const inprof__settings *s) {
  sb b = {0};
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  host[sizeof host - 1] = 0;
  sb_tag(&b, "service", s->service ? s->service : "unnamed-native-service");
  sb_tag(&b, "env", s->env);
  sb_tag(&b, "version", s->version);
  sb_tag(&b, "host", host);
  sb_tag(&b, "runtime-id", inprof__http_runtime_id());
  sb_tag(&b, "language", "native");
  sb_tag(&b, "profiler_version", INPROF_VERSION_STR);
  /* DD_TAGS: "k:v,k2:v2"; spaces also separate, as in Datadog's tracers. */
  if (s->tags) {
    const char *p = s->tags;
    while (*p) {
      while (*p == ',' || isspace((unsigned char)*p)) p++;
      const char *e = p;
      while (*e && *e != ',' && !isspace((unsigned char)*e)) e++;
      if (e > p) {
        if (b.len) sb_put(&b, ",", 1);
        sb_put(&b, p, (size_t)(e - p));
      }
      p = e;
    }
  }
  return sb_take(&b);
}

static char *event_json(const char *tags, const inprof__upload_meta *m) {
  char start[40], end[40];
  inprof__http_rfc3339(m->start_ns, start, sizeof start);
  inprof__http_rfc3339(m->end_ns, end, sizeof end);
  sb t = {0};
  sb_str(&t, tags);
  sb_fmt(&t, "%sprofile_seq:%llu", *tags ? "," : "", (unsigned long long)m->seq);
  char *all = sb_take(&t);
  if (!all) return NULL;
  sb b = {0};
  sb_str(&b, "{\"attachments\":[\"profile.pprof\"],\"tags_profiler\":");
  sb_json(&b, all);
  sb_str(&b, ",\"start\":");
  sb_json(&b, start);
  sb_str(&b, ",\"end\":");
  sb_json(&b, end);
  sb_str(&b, ",\"family\":\"native\",\"version\":\"4\",\"endpoint_counts\":null,"
             "\"process_tags\":null,\"internal\":{},\"info\":{}}");
  free(all);
  return sb_take(&b);
}

INPROF_HIDDEN char *inprof__http_event_json(const inprof__settings *s,
                                            const inprof__upload_meta *meta) {
  char *tags = build_tags(s);
  if (!tags) return NULL;
  char *ev = event_json(tags, meta);
  free(tags);
  return ev;
}

/* ------------------------------------------------------------ validation */

static inprof_status invalid(const char *var, const char *value, const char *why) {
  if (value)
    inprof__set_error("invalid %s=\"%s\": %s", var, value, why);
  else
    inprof__set_error("invalid %s: %s", var, why);
  return INPROF_ERR_INVALID;
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
    sb b = {0};
    sb_str(&b, scheme);
    sb_str(&b, "://");
    if (strchr(host, ':') && host[0] != '[') {
      sb_fmt(&b, "[%s]", host);
    } else {
      sb_str(&b, host);
    }
    if (port) sb_fmt(&b, ":%s", port);
    if (path_allowed && path && strcmp(path, "/") != 0)
      sb_str(&b, path);
    else if (append)
      sb_str(&b, append);
    *out = sb_take(&b);
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

static inprof_status resolve_destination(const inprof__settings *s, ctx *c) {
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
      const char *site = s->site && *s->site ? s->site : DEFAULT_SITE;
      for (const char *p = site; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
          return invalid("DD_SITE", site, "expected a Datadog site such as datadoghq.eu");
      sb b = {0};
      sb_fmt(&b, "https://intake.profile.%s" INTAKE_PATH, site);
      c->url = sb_take(&b);
      if (!c->url) return INPROF_ERR_NO_MEMORY;
    }
    sb h = {0};
    sb_str(&h, "DD-API-KEY: ");
    sb_str(&h, s->api_key);
    c->api_key_hdr = sb_take(&h);
    if (!c->api_key_hdr) return INPROF_ERR_NO_MEMORY;
    return INPROF_OK;
  }

  const char *agent = s->agent_url && *s->agent_url ? s->agent_url : DEFAULT_AGENT_URL;
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

/* ------------------------------------------------------------ lifecycle */

static void wipe_free(char *p) {
  if (!p) return;
  explicit_bzero(p, strlen(p));
  free(p);
}

static void ctx_free(ctx *c) {
  for (unsigned i = 0; i < c->qlen; i++) free(c->q[(c->qhead + i) % QUEUE_CAP].pprof);
  if (c->multi) curl_multi_cleanup(c->multi);
  free(c->url);
  free(c->unix_path);
  free(c->ca_bundle);
  wipe_free(c->api_key_hdr);
  free(c->tags);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->cond);
  free(c);
}

static void ctx_release(ctx *c) {
  if (atomic_fetch_sub(&c->refs, 1) == 1) ctx_free(c);
}

static void *upload_main(void *arg);

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

INPROF_HIDDEN inprof_status inprof__http_start(const inprof__settings *s) {
  pthread_mutex_lock(&g_lock);
  int running = g_ctx != NULL;
  pthread_mutex_unlock(&g_lock);
  if (running) return INPROF_OK;

  pthread_once(&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK) {
    inprof__set_error("curl_global_init failed: %s", curl_easy_strerror(curl_init_rc));
    return INPROF_ERR_SYSTEM;
  }
  ctx *c = calloc(1, sizeof *c);
  if (!c) {
    inprof__set_error("out of memory starting the uploader");
    return INPROF_ERR_NO_MEMORY;
  }
  pthread_mutex_init(&c->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&c->refs, 2);
  atomic_init(&c->abort_at_ns, 0);

  inprof_status st = resolve_destination(s, c);
  if (st != INPROF_OK) goto fail;
  if (s->ca_bundle && *s->ca_bundle) {
    if (access(s->ca_bundle, R_OK) != 0) {
      st = invalid("INPROF_CA_BUNDLE", s->ca_bundle, strerror(errno));
      goto fail;
    }
    c->ca_bundle = strdup(s->ca_bundle);
  }
  c->tags = build_tags(s);
  c->multi = curl_multi_init();
  if (!c->tags || !c->multi || (s->ca_bundle && *s->ca_bundle && !c->ca_bundle)) {
    inprof__set_error("out of memory starting the uploader");
    st = INPROF_ERR_NO_MEMORY;
    goto fail;
  }
  c->connect_timeout_ms = s->connect_timeout_ms ? s->connect_timeout_ms : 3000;
  c->upload_timeout_ms = s->upload_timeout_ms ? s->upload_timeout_ms : 10000;
  if (c->connect_timeout_ms > c->upload_timeout_ms)
    c->connect_timeout_ms = c->upload_timeout_ms;
  read_container_id(c->container_id);

  /* The uploader takes none of the host's signals (SIGPIPE included). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&c->thread, NULL, upload_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    inprof__set_error("cannot start the upload thread: %s", strerror(rc));
    st = INPROF_ERR_SYSTEM;
    goto fail;
  }
  pthread_mutex_lock(&g_lock);
  g_ctx = c;
  pthread_mutex_unlock(&g_lock);
  inprof__log(INPROF_LOG_INFO, "uploading profiles to %s%s%s", c->url,
              c->unix_path ? " via unix socket " : "", c->unix_path ? c->unix_path : "");
  return INPROF_OK;
fail:
  ctx_free(c);
  return st;
}

INPROF_HIDDEN char *inprof__http_current_url(void) {
  pthread_mutex_lock(&g_lock);
  char *u = g_ctx ? strdup(g_ctx->url) : NULL;
  pthread_mutex_unlock(&g_lock);
  return u;
}

INPROF_HIDDEN void inprof__http_submit(const uint8_t *pprof, size_t len,
                                       const inprof__upload_meta *meta) {
  if (!pprof || !len || !meta) return;
  pthread_mutex_lock(&g_lock);
  ctx *c = g_ctx;
  if (c) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&g_lock);
  if (!c) return;
  uint8_t *copy = len <= QUEUE_MAX_BYTES ? malloc(len) : NULL;
  if (!copy) {
    INPROF__COUNT(uploads_dropped, 1);
    inprof__log(INPROF_LOG_WARN, "profile of %zu bytes not queued for upload", len);
    ctx_release(c);
    return;
  }
  memcpy(copy, pprof, len);
  uint64_t dropped = 0;
  pthread_mutex_lock(&c->lock);
  while (c->qlen && (c->qlen == QUEUE_CAP || c->qbytes + len > QUEUE_MAX_BYTES)) {
    job *old = &c->q[c->qhead];
    c->qbytes -= old->len;
    free(old->pprof);
    c->qhead = (c->qhead + 1) % QUEUE_CAP;
    c->qlen--;
    dropped++;
  }
  job *j = &c->q[(c->qhead + c->qlen) % QUEUE_CAP];
  j->pprof = copy;
  j->len = len;
  j->meta = *meta;
  c->qlen++;
  c->qbytes += len;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  if (dropped) {
    INPROF__COUNT(uploads_dropped, dropped);
    inprof__log(INPROF_LOG_WARN, "upload queue full: dropped the oldest profile");
  }
  ctx_release(c);
}

static struct timespec mono_ts(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  return ts;
}

INPROF_HIDDEN void inprof__http_stop(uint64_t deadline_ns) {
  pthread_mutex_lock(&g_lock);
  ctx *c = g_ctx;
  g_ctx = NULL;
  pthread_mutex_unlock(&g_lock);
  if (!c) return;

  pthread_mutex_lock(&c->lock);
  c->stopping = 1;
  /* The thread gives up a little early so that stop can still join it. */
  uint64_t now = inprof__now_ns(CLOCK_MONOTONIC), abort_at = deadline_ns;
  if (deadline_ns > now + 200000000u) abort_at -= 30000000u;
  atomic_store(&c->abort_at_ns, abort_at ? abort_at : 1);
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  curl_multi_wakeup(c->multi);

  pthread_mutex_lock(&c->lock);
  struct timespec ts = mono_ts(deadline_ns);
  while (!c->done) {
    if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) break;
  }
  int done = c->done;
  pthread_mutex_unlock(&c->lock);
  if (done) {
    pthread_join(c->thread, NULL);
  } else {
    /* It aborts its transfer within POLL_MAX_MS and frees what it holds. */
    pthread_detach(c->thread);
    inprof__log(INPROF_LOG_WARN, "stop: upload still in progress at the deadline, abandoned");
  }
  ctx_release(c);
}

/* ----------------------------------------------------------- the thread */

typedef struct response {
  char head[RESPONSE_KEEP + 1];
  size_t len;
} response;

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
  response *r = arg;
  size_t total = size * n;
  size_t take = total < RESPONSE_KEEP - r->len ? total : RESPONSE_KEEP - r->len;
  memcpy(r->head + r->len, data, take);
  r->len += take;
  r->head[r->len] = 0;
  return total;
}

/* Printable excerpt of a response for the log. */
static void printable(const response *r, char *out, size_t len) {
  size_t j = 0;
  for (size_t i = 0; i < r->len && j + 1 < len; i++) {
    unsigned char ch = (unsigned char)r->head[i];
    out[j++] = (ch >= 0x20 && ch < 0x7F) ? (char)ch : ' ';
  }
  out[j] = 0;
}

/* Loud the first time for each kind of failure, quiet (debug) after. */
static uint32_t first_time(uint8_t *flag) {
  uint32_t level = *flag ? INPROF_LOG_DEBUG : INPROF_LOG_ERROR;
  *flag = 1;
  return level;
}

static int aborted_by_stop(ctx *c) {
  uint64_t at = atomic_load(&c->abort_at_ns);
  return at && inprof__now_ns(CLOCK_MONOTONIC) >= at;
}

/* Runs one transfer on the multi handle, aborting it at the stop deadline. */
static CURLcode run_transfer(ctx *c, CURL *easy, int *aborted) {
  *aborted = 0;
  if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) return CURLE_FAILED_INIT;
  CURLcode result = CURLE_OK;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      break;
    }
    if (!running) {
      int left;
      CURLMsg *m;
      result = CURLE_FAILED_INIT;
      while ((m = curl_multi_info_read(c->multi, &left)))
        if (m->msg == CURLMSG_DONE && m->easy_handle == easy) result = m->data.result;
      break;
    }
    if (aborted_by_stop(c)) {
      *aborted = 1;
      result = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    int wait_ms = POLL_MAX_MS;
    uint64_t at = atomic_load(&c->abort_at_ns);
    if (at) {
      uint64_t now = inprof__now_ns(CLOCK_MONOTONIC);
      uint64_t left_ms = at > now ? (at - now + 999999) / 1000000 : 0;
      if (left_ms < (uint64_t)wait_ms) wait_ms = (int)left_ms;
    }
    curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
  }
  curl_multi_remove_handle(c->multi, easy);
  return result;
}

static void upload_one(ctx *c, CURL *easy, ZSTD_CCtx *zc, const job *j) {
  size_t bound = ZSTD_compressBound(j->len);
  uint8_t *z = malloc(bound);
  char *ev = event_json(c->tags, &j->meta);
  curl_mime *mime = NULL;
  struct curl_slist *hdr = NULL;
  if (!z || !ev) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(first_time(&c->logged_other[0]), "out of memory preparing an upload");
    goto out;
  }
  size_t zlen = ZSTD_compressCCtx(zc, z, bound, j->pprof, j->len, 1);
  if (ZSTD_isError(zlen)) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(first_time(&c->logged_other[1]), "zstd compression failed: %s",
                ZSTD_getErrorName(zlen));
    goto out;
  }
  if (zlen > MAX_COMPRESSED) {
    INPROF__COUNT(uploads_dropped, 1);
    inprof__log(first_time(&c->logged_other[2]),
                "profile of %zu compressed bytes is over the intake's limit, skipped", zlen);
    goto out;
  }

  mime = curl_mime_init(easy);
  curl_mimepart *part = curl_mime_addpart(mime);
  curl_mime_name(part, "event");
  curl_mime_filename(part, "event.json");
  curl_mime_type(part, "application/json");
  curl_mime_data(part, ev, CURL_ZERO_TERMINATED);
  part = curl_mime_addpart(mime);
  curl_mime_name(part, "profile.pprof");
  curl_mime_filename(part, "profile.pprof");
  curl_mime_type(part, "application/octet-stream");
  curl_mime_data(part, (const char *)z, zlen);

  hdr = curl_slist_append(hdr, "DD-EVP-ORIGIN: " ORIGIN);
  hdr = curl_slist_append(hdr, "DD-EVP-ORIGIN-VERSION: " INPROF_VERSION_STR);
  hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
  if (c->container_id[0]) {
    char h[128];
    snprintf(h, sizeof h, "Datadog-Container-ID: %s", c->container_id);
    hdr = curl_slist_append(hdr, h);
  }
  if (c->api_key_hdr) hdr = curl_slist_append(hdr, c->api_key_hdr);

  uint32_t timeout = c->upload_timeout_ms;
  uint64_t at = atomic_load(&c->abort_at_ns);
  if (at) {
    uint64_t now = inprof__now_ns(CLOCK_MONOTONIC);
    uint64_t left = at > now ? (at - now) / 1000000 : 0;
    if (left < timeout) timeout = left ? (uint32_t)left : 1;
  }
  response resp = {.len = 0};
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, c->url);
  if (c->unix_path) curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "inprof/" INPROF_VERSION_STR);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (c->ca_bundle) curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_bundle);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);

  int aborted;
  CURLcode rc = run_transfer(c, easy, &aborted);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (aborted) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(INPROF_LOG_WARN,
                "upload of profile %llu to %s abandoned at the stop deadline",
                (unsigned long long)j->meta.seq, c->url);
  } else if (rc != CURLE_OK) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(first_time(&c->logged_curl[(unsigned)rc % 128]),
                "upload of profile %llu to %s failed: %s%s%s",
                (unsigned long long)j->meta.seq, c->url, curl_easy_strerror(rc),
                errbuf[0] ? ": " : "", errbuf);
  } else if (status >= 200 && status < 300) {
    INPROF__COUNT(uploads_ok, 1);
    inprof__log(INPROF_LOG_DEBUG, "uploaded profile %llu (%zu bytes) to %s: HTTP %ld",
                (unsigned long long)j->meta.seq, zlen, c->url, status);
  } else {
    INPROF__COUNT(uploads_failed, 1);
    char text[RESPONSE_KEEP + 1];
    printable(&resp, text, sizeof text);
    inprof__log(first_time(&c->logged_status[(unsigned long)status % 600]),
                "upload of profile %llu to %s rejected: HTTP %ld: %s",
                (unsigned long long)j->meta.seq, c->url, status, text);
  }
  /* The easy handle keeps pointers to these: unhook before freeing. */
  curl_easy_setopt(easy, CURLOPT_MIMEPOST, NULL);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
out:
  curl_mime_free(mime);
  curl_slist_free_all(hdr);
  free(z);
  free(ev);
}

static void *upload_main(void *arg) {
  ctx *c = arg;
  inprof__in_profiler = 1;
  pthread_setname_np(pthread_self(), "inprof-upload");
  CURL *easy = curl_easy_init();
  ZSTD_CCtx *zc = ZSTD_createCCtx();
  if (!easy || !zc)
    inprof__log(INPROF_LOG_ERROR, "uploader: out of memory, profiles will be dropped");

  pthread_mutex_lock(&c->lock);
  for (;;) {
    while (!c->qlen && !c->stopping) pthread_cond_wait(&c->cond, &c->lock);
    if (!c->qlen) break;
    job j = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % QUEUE_CAP;
    c->qlen--;
    c->qbytes -= j.len;
    pthread_mutex_unlock(&c->lock);
    if (!easy || !zc || aborted_by_stop(c))
      INPROF__COUNT(uploads_dropped, 1);
    else
      upload_one(c, easy, zc, &j);
    free(j.pprof);
    pthread_mutex_lock(&c->lock);
  }
  c->done = 1;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);

  if (easy) curl_easy_cleanup(easy);
  ZSTD_freeCCtx(zc);
  ctx_release(c);
  return NULL;
}
