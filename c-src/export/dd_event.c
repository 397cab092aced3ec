/*
 * export/dd_event.c - owns the metadata Datadog's intake reads next to a
 * profile: event.json (attachments, tags_profiler, start/end), the tags
 * (service, env, version, host, runtime-id, DD_TAGS...), the runtime id,
 * the container id from /proc/self/cgroup, and RFC 3339 times. Pure
 * formatting: no network, no threads.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/defaults.h"
#include "base/strbuf.h"
#include "export/dd_event.h"

/* ------------------------------------------------------ event.json parts */

INPROF__HIDDEN void inprof__http_rfc3339(uint64_t ns, char *out, size_t len) {
  time_t sec = (time_t)(ns / INPROF__NS_PER_S);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char date[32];
  if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) date[0] = 0;
  snprintf(out, len, "%.19s.%09uZ", date, (unsigned)(ns % INPROF__NS_PER_S));
}

static pthread_mutex_t runtime_id_lock = PTHREAD_MUTEX_INITIALIZER;
static char runtime_id[37];
static pid_t runtime_id_pid;

/* Regenerated in a forked child: that is another process to Datadog. */
INPROF__HIDDEN const char *inprof__http_runtime_id(void) {
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
INPROF__HIDDEN int inprof__http_container_id(const char *text, char out[65]) {
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

INPROF__HIDDEN void inprof__dd_read_container_id(char out[65]) {
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
static void sb_tag(inprof__sb *b, const char *key, const char *value) {
  if (!value || !*value) return;
  if (b->len) inprof__sb_put(b, ",", 1);
  inprof__sb_str(b, key);
  inprof__sb_put(b, ":", 1);
  for (const char *p = value; *p; p++) inprof__sb_put(b, *p == ',' ? "_" : p, 1);
}

/* tags_profiler without profile_seq, which changes per upload. */
INPROF__HIDDEN char *inprof__dd_tags(const inprof__settings *s) {
  inprof__sb b = {0};
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  host[sizeof host - 1] = 0;
  sb_tag(&b, "service", s->service ? s->service : INPROF__SERVICE_FALLBACK);
  sb_tag(&b, "env", s->env);
  sb_tag(&b, "version", s->version);
  sb_tag(&b, "host", host);
  sb_tag(&b, "runtime-id", inprof__http_runtime_id());
  sb_tag(&b, "language", "native");
  sb_tag(&b, "profiler_version", INPROF__VERSION_STR);
  /* DD_TAGS: "k:v,k2:v2"; spaces also separate, as in Datadog's tracers. */
  if (s->tags) {
    const char *p = s->tags;
    while (*p) {
      while (*p == ',' || isspace((unsigned char)*p)) p++;
      const char *e = p;
      while (*e && *e != ',' && !isspace((unsigned char)*e)) e++;
      if (e > p) {
        if (b.len) inprof__sb_put(&b, ",", 1);
        inprof__sb_put(&b, p, (size_t)(e - p));
      }
      p = e;
    }
  }
  return inprof__sb_take(&b);
}

INPROF__HIDDEN char *inprof__dd_event_json(const char *tags, const inprof__upload_meta *m) {
  char start[40], end[40];
  inprof__http_rfc3339(m->start_ns, start, sizeof start);
  inprof__http_rfc3339(m->end_ns, end, sizeof end);
  inprof__sb t = {0};
  inprof__sb_str(&t, tags);
  inprof__sb_fmt(&t, "%sprofile_seq:%llu", *tags ? "," : "", (unsigned long long)m->seq);
  char *all = inprof__sb_take(&t);
  if (!all) return NULL;
  inprof__sb b = {0};
  inprof__sb_str(&b, "{\"attachments\":[\"profile.pprof\"],\"tags_profiler\":");
  inprof__sb_json(&b, all);
  inprof__sb_str(&b, ",\"start\":");
  inprof__sb_json(&b, start);
  inprof__sb_str(&b, ",\"end\":");
  inprof__sb_json(&b, end);
  inprof__sb_str(&b, ",\"family\":\"native\",\"version\":\"4\",\"endpoint_counts\":null,"
             "\"process_tags\":null,\"internal\":{},\"info\":{}}");
  free(all);
  return inprof__sb_take(&b);
}

INPROF__HIDDEN char *inprof__http_event_json(const inprof__settings *s,
                                            const inprof__upload_meta *meta) {
  char *tags = inprof__dd_tags(s);
  if (!tags) return NULL;
  char *ev = inprof__dd_event_json(tags, meta);
  free(tags);
  return ev;
}

