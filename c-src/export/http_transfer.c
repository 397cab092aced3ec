/*
 * export/http_transfer.c - owns one upload's transfer with libcurl: zstd
 * compression of the pprof, the multipart request (event.json +
 * profile.pprof) and its headers, connect and total timeouts, aborting at
 * the stop deadline, and logging each kind of failure loudly once. One
 * attempt per profile, no retries: the next period brings a fresh profile.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <zstd.h>

#include "base/clock.h"
#include "base/defaults.h"
#include "base/diag.h"
#include "export/dd_event.h"
#include "export/http_dest.h"
#include "export/http_transfer.h"

#define ORIGIN "inprof"
/* The intake refuses bigger profiles (libdatadog skips them too). */
#define MAX_COMPRESSED ((size_t)10 << 20)
/* How much of an error response is kept for the log. */
#define RESPONSE_KEEP 200
/* Longest a poll sleeps before the stop deadline is checked again. */
#define POLL_MAX_MS 200

struct inprof__http_conn {
  inprof__http_dest dest;
  inprof__dd_static meta;       /* tags, process tags, settings: per process */
  char container_id[65];
  char entity_id[INPROF__ENTITY_ID_MAX];
  /* Where uploads go, as messages name it: the URL, or the unix socket
   * (curl's own text would say "localhost port 80" for it). */
  char where[300];
  uint32_t connect_timeout_ms, upload_timeout_ms;
  CURLM *multi;
  _Atomic uint64_t abort_at_ns; /* MONOTONIC; 0 while not stopping */

  /* Upload-thread only: the first success is said at info, later ones at
   * debug. Failures are rate-limited per kind by inprof__log. */
  int logged_first_ok;
};

struct inprof__http_session {
  CURL *easy;
  ZSTD_CCtx *zc;
};

/* ---------------------------------------------------------- connection */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

INPROF__HIDDEN inprof__http_conn *inprof__http_conn_new(const inprof__settings *s,
                                                        inprof_status *st) {
  pthread_once(&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK) {
    *st = inprof__fail(INPROF_ERR_SYSTEM, "curl_global_init failed: %s",
                       curl_easy_strerror(curl_init_rc));
    return NULL;
  }
  inprof__http_conn *c = calloc(1, sizeof *c);
  if (!c) {
    *st = inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory starting the uploader");
    return NULL;
  }
  atomic_init(&c->abort_at_ns, 0);
  if ((*st = inprof__http_dest_from_settings(s, &c->dest)) != INPROF_OK) {
    free(c);
    return NULL;
  }
  int meta_failed = inprof__dd_static_init(&c->meta, s);
  c->multi = curl_multi_init();
  if (meta_failed || !c->multi) {
    inprof__http_conn_free(c);
    *st = inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory starting the uploader");
    return NULL;
  }
  c->connect_timeout_ms =
      s->connect_timeout_ms ? s->connect_timeout_ms : INPROF__DEFAULT_CONNECT_TIMEOUT_MS;
  c->upload_timeout_ms =
      s->upload_timeout_ms ? s->upload_timeout_ms : INPROF__DEFAULT_UPLOAD_TIMEOUT_MS;
  if (c->connect_timeout_ms > c->upload_timeout_ms)
    c->connect_timeout_ms = c->upload_timeout_ms;
  inprof__dd_read_container_id(c->container_id);
  inprof__dd_read_entity_id(c->entity_id);
  if (c->dest.unix_path)
    snprintf(c->where, sizeof c->where, "the agent's unix socket %s", c->dest.unix_path);
  else
    snprintf(c->where, sizeof c->where, "%s", c->dest.url);
  *st = INPROF_OK;
  return c;
}

INPROF__HIDDEN void inprof__http_conn_free(inprof__http_conn *c) {
  if (!c) return;
  if (c->multi) curl_multi_cleanup(c->multi);
  inprof__http_dest_free(&c->dest);
  inprof__dd_static_free(&c->meta);
  free(c);
}

INPROF__HIDDEN const char *inprof__http_conn_url(const inprof__http_conn *c) {
  return c->dest.url;
}

INPROF__HIDDEN const char *inprof__http_conn_unix_path(const inprof__http_conn *c) {
  return c->dest.unix_path;
}

INPROF__HIDDEN void inprof__http_conn_abort_at(inprof__http_conn *c, uint64_t abort_at_ns) {
  atomic_store(&c->abort_at_ns, abort_at_ns ? abort_at_ns : 1);
  curl_multi_wakeup(c->multi);
}

/* ------------------------------------------------------------- session */

INPROF__HIDDEN inprof__http_session *inprof__http_session_new(void) {
  inprof__http_session *s = calloc(1, sizeof *s);
  if (s) {
    s->easy = curl_easy_init();
    s->zc = ZSTD_createCCtx();
  }
  if (!s || !s->easy || !s->zc) {
    inprof__log(INPROF__LOG_ERROR, "uploader: out of memory, profiles will be dropped");
    inprof__http_session_free(s);
    return NULL;
  }
  return s;
}

INPROF__HIDDEN void inprof__http_session_free(inprof__http_session *s) {
  if (!s) return;
  if (s->easy) curl_easy_cleanup(s->easy);
  ZSTD_freeCCtx(s->zc);
  free(s);
}

/* ------------------------------------------------------------- transfer */

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

INPROF__HIDDEN int inprof__http_conn_aborted(inprof__http_conn *c) {
  uint64_t at = atomic_load(&c->abort_at_ns);
  return at && inprof__now_ns(CLOCK_MONOTONIC) >= at;
}

/* Runs one transfer on the multi handle, aborting it at the stop deadline. */
static CURLcode run_transfer(inprof__http_conn *c, CURL *easy, int *aborted) {
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
    if (inprof__http_conn_aborted(c)) {
      *aborted = 1;
      result = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    int wait_ms = POLL_MAX_MS;
    uint64_t at = atomic_load(&c->abort_at_ns);
    if (at) {
      uint64_t left_ms = inprof__ms_until(at);
      if (left_ms < (uint64_t)wait_ms) wait_ms = (int)left_ms;
    }
    curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
  }
  curl_multi_remove_handle(c->multi, easy);
  return result;
}

INPROF__HIDDEN void inprof__http_upload(inprof__http_conn *c, inprof__http_session *s,
                                        const uint8_t *pprof, size_t len,
                                        const inprof__upload_meta *meta) {
  CURL *easy = s->easy;
  size_t bound = ZSTD_compressBound(len);
  uint8_t *z = malloc(bound);
  char *ev = inprof__dd_event_json(&c->meta, meta);
  curl_mime *mime = NULL;
  struct curl_slist *hdr = NULL;
  if (!z || !ev) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(INPROF__LOG_WARN, "out of memory preparing an upload");
    goto out;
  }
  size_t zlen = ZSTD_compressCCtx(s->zc, z, bound, pprof, len, 1);
  if (ZSTD_isError(zlen)) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(INPROF__LOG_WARN, "zstd compression failed: %s",
                ZSTD_getErrorName(zlen));
    goto out;
  }
  if (zlen > MAX_COMPRESSED) {
    INPROF__COUNT(uploads_dropped, 1);
    inprof__log(INPROF__LOG_WARN,
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
  hdr = curl_slist_append(hdr, "DD-EVP-ORIGIN-VERSION: " INPROF__VERSION_STR);
  hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
  if (c->container_id[0]) {
    char h[128];
    snprintf(h, sizeof h, "Datadog-Container-ID: %s", c->container_id);
    hdr = curl_slist_append(hdr, h);
  }
  if (c->entity_id[0]) {
    char h[128];
    snprintf(h, sizeof h, "Datadog-Entity-ID: %s", c->entity_id);
    hdr = curl_slist_append(hdr, h);
  }
  if (c->dest.api_key_hdr) hdr = curl_slist_append(hdr, c->dest.api_key_hdr);

  uint32_t timeout = c->upload_timeout_ms;
  uint64_t at = atomic_load(&c->abort_at_ns);
  if (at) {
    uint64_t now = inprof__now_ns(CLOCK_MONOTONIC);
    uint64_t left = at > now ? (at - now) / INPROF__NS_PER_MS : 0;
    if (left < timeout) timeout = left ? (uint32_t)left : 1;
  }
  response resp = {.len = 0};
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, c->dest.url);
  if (c->dest.unix_path) curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, c->dest.unix_path);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "inprof/" INPROF__VERSION_STR);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (c->dest.ca_bundle) curl_easy_setopt(easy, CURLOPT_CAINFO, c->dest.ca_bundle);
  /* No bundle given: trust the system's CA store too. A curl built without
   * a default bundle (the Rust build's static curl, rustls) has no other
   * trust anchors; one with a default bundle keeps using it. */
  else curl_easy_setopt(easy, CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NATIVE_CA);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);

  int aborted;
  CURLcode rc = run_transfer(c, easy, &aborted);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (aborted) {
    INPROF__COUNT(uploads_failed, 1);
    inprof__log(INPROF__LOG_WARN,
                "upload of profile %llu to %s abandoned at the stop deadline",
                (unsigned long long)meta->seq, c->where);
  } else if (rc != CURLE_OK) {
    INPROF__COUNT(uploads_failed, 1);
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    char detail[CURL_ERROR_SIZE + 64] = "";
    if (c->dest.unix_path) /* curl's text names a TCP port that is not used */
      snprintf(detail, sizeof detail, "%s%s%s", os_errno ? " (" : "",
               os_errno ? strerror((int)os_errno) : "", os_errno ? ")" : "");
    else if (errbuf[0])
      snprintf(detail, sizeof detail, ": %s", errbuf);
    inprof__log(INPROF__LOG_WARN, "upload of profile %llu to %s failed: %s%s",
                (unsigned long long)meta->seq, c->where, curl_easy_strerror(rc), detail);
  } else if (status >= 200 && status < 300) {
    INPROF__COUNT(uploads_ok, 1);
    inprof__log(c->logged_first_ok ? INPROF__LOG_DEBUG : INPROF__LOG_INFO,
                "uploaded profile %llu (%zu bytes) to %s: HTTP %ld%s",
                (unsigned long long)meta->seq, zlen, c->where, status,
                c->logged_first_ok ? "" : " (first upload; later ones are logged at debug)");
    c->logged_first_ok = 1;
  } else {
    INPROF__COUNT(uploads_failed, 1);
    char text[RESPONSE_KEEP + 1];
    printable(&resp, text, sizeof text);
    inprof__log(INPROF__LOG_WARN,
                "upload of profile %llu to %s rejected: HTTP %ld: %s",
                (unsigned long long)meta->seq, c->where, status,
                text[0] ? text : "(empty response body)");
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

