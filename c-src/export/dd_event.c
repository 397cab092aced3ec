/*
 * export/dd_event.c - owns the metadata Datadog's intake reads next to a
 * profile: event.json (attachments, tags_profiler, start/end), the tags
 * (service, env, version, host, runtime-id, DD_TAGS...), the runtime id,
 * the container id from /proc/self/cgroup, and RFC 3339 times, and the
 * endpoint counts waiting for their upload's event.json. Pure formatting:
 * no network, no threads.
 *
 * Endpoint counts travel by profile number, not with the queued upload: the
 * collector seals each period's counts as a JSON object under its seq, in
 * one of SEALED_SLOTS atomic pointers (seq % SEALED_SLOTS); the upload
 * thread takes the one of its seq when it builds event.json. Lock-free, so
 * nothing is held across fork, and bounded: a profile the queue dropped
 * leaves its counts to be freed when their slot is reused. The upload queue
 * holds fewer profiles than there are slots, so a slot is never reused
 * before its upload is built.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/diag.h"
#include "base/defaults.h"
#include "base/strbuf.h"
#include "export/dd_event.h"
#include "sample/context.h"

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

/*
 * Datadog-Entity-ID: "ci-<container id>" when one is known, else
 * "in-<inode>" of this process's cgroup directory (the agent maps the
 * inode to the container): cgroup v2's "0::<path>" line, else cgroup v1's
 * memory controller, under cgroup_root (/sys/fs/cgroup).
 */
INPROF__HIDDEN int inprof__dd_entity_id(const char *cgroup_text, const char *cgroup_root,
                                        char out[INPROF__ENTITY_ID_MAX]) {
  char cid[65];
  if (inprof__http_container_id(cgroup_text, cid)) {
    snprintf(out, INPROF__ENTITY_ID_MAX, "ci-%s", cid);
    return 1;
  }
  /* v2 first: on a hybrid host the unified hierarchy is the one that
   * names the process's own cgroup. */
  static const char *const prefixes[][2] = {{"0::", ""}, {":memory:", "/memory"}};
  for (size_t k = 0; k < 2; k++) {
    for (const char *line = cgroup_text; line && *line;) {
      const char *eol = strchr(line, '\n');
      size_t n = eol ? (size_t)(eol - line) : strlen(line);
      const char *p = NULL;
      if (k == 0 && n >= 3 && !strncmp(line, prefixes[0][0], 3)) p = line + 3;
      if (k == 1) {
        const char *m = memchr(line, ':', n);
        if (m && (size_t)(line + n - m) > 8 && !strncmp(m, prefixes[1][0], 8)) p = m + 8;
      }
      if (p) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s%s%.*s", cgroup_root, prefixes[k][1],
                           (int)(line + n - p), p);
        struct stat st;
        if (len > 0 && (size_t)len < sizeof path && stat(path, &st) == 0 &&
            S_ISDIR(st.st_mode)) {
          snprintf(out, INPROF__ENTITY_ID_MAX, "in-%llu", (unsigned long long)st.st_ino);
          return 1;
        }
      }
      line = eol ? eol + 1 : NULL;
    }
  }
  out[0] = 0;
  return 0;
}

/* /proc/self/cgroup into buf (NUL-terminated); 0, or -1 when unreadable. */
static int read_cgroup(char *buf, size_t size) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = 0;
  return 0;
}

INPROF__HIDDEN void inprof__dd_read_entity_id(char out[INPROF__ENTITY_ID_MAX]) {
  char buf[16384];
  out[0] = 0;
  if (read_cgroup(buf, sizeof buf) == 0) inprof__dd_entity_id(buf, "/sys/fs/cgroup", out);
}

INPROF__HIDDEN void inprof__dd_read_container_id(char out[65]) {
  char buf[16384];
  out[0] = 0;
  if (read_cgroup(buf, sizeof buf) == 0) inprof__http_container_id(buf, out);
}

#if defined(__x86_64__)
#define RUNTIME_PLATFORM "x86_64-unknown-linux-gnu"
#elif defined(__aarch64__)
#define RUNTIME_PLATFORM "aarch64-unknown-linux-gnu"
#else
#define RUNTIME_PLATFORM "unknown-linux-gnu"
#endif

/* key:value into a comma-separated tag list. No value may hold the
 * separator; a process tag is normalized further (lower case, no ':' or
 * spaces), a profiler tag is kept as given otherwise. */
static void sb_tag_as(inprof__sb *b, const char *key, const char *value, int process_tag) {
  if (!value || !*value) return;
  if (b->len) inprof__sb_put(b, ",", 1);
  inprof__sb_str(b, key);
  inprof__sb_put(b, ":", 1);
  for (const char *p = value; *p; p++) {
    char c = process_tag ? (char)tolower((unsigned char)*p) : *p;
    int bad = c == ',' || (process_tag && (c == ':' || isspace((unsigned char)c)));
    inprof__sb_put(b, bad ? "_" : &c, 1);
  }
}

static void sb_tag(inprof__sb *b, const char *key, const char *value) {
  sb_tag_as(b, key, value, 0);
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
  sb_tag(&b, "runtime_platform", RUNTIME_PLATFORM);
  char pid[24];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  sb_tag(&b, "process_id", pid);
  /* What is profiled, in one word, as Datadog's libraries report it. */
  char config[96];
  snprintf(config, sizeof config, "%s%s%s%s", s->cpu_hz ? "cpu_" : "",
           s->wall_hz ? "wall_" : "", s->heap_sample_bytes ? "heap_" : "",
           s->timeline_enabled ? "timeline" : "");
  size_t cl = strlen(config);
  if (cl && config[cl - 1] == '_') config[cl - 1] = 0;
  sb_tag(&b, "profiler_config", cl ? config : "none");
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

INPROF__HIDDEN int inprof__dd_static_init(inprof__dd_static *st, const inprof__settings *s) {
  st->tags = inprof__dd_tags(s);
  st->process_tags = inprof__dd_process_tags();
  st->settings_json = inprof__settings_json(s);
  if (st->tags && st->process_tags && st->settings_json) return 0;
  inprof__dd_static_free(st);
  return -1;
}

INPROF__HIDDEN void inprof__dd_static_free(inprof__dd_static *st) {
  free(st->tags);
  free(st->process_tags);
  free(st->settings_json);
  st->tags = st->process_tags = st->settings_json = NULL;
}

static void sb_process_tag(inprof__sb *b, const char *key, const char *value) {
  sb_tag_as(b, key, value, 1);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash && slash[1] ? slash + 1 : path;
}

INPROF__HIDDEN char *inprof__dd_process_tags(void) {
  inprof__sb b = {0};
  char exe[4096], cwd[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
  sb_process_tag(&b, "entrypoint.name", base_name(exe));
  sb_process_tag(&b, "entrypoint.type", "executable");
  sb_process_tag(&b, "entrypoint.workdir", cwd[0] ? base_name(cwd) : NULL);
  if (!b.len) inprof__sb_str(&b, "");
  return inprof__sb_take(&b);
}

/* ---------------------------------------------------- endpoint counts */

#define SEALED_SLOTS 16

typedef struct sealed {
  uint64_t seq;
  char json[];                  /* {"endpoint":count,...} */
} sealed;

static _Atomic(sealed *) sealed_slots[SEALED_SLOTS];

static void count_json(void *ctx, const char *endpoint, uint64_t count) {
  inprof__sb *b = ctx;
  inprof__sb_str(b, b->len > 1 ? "," : "");
  inprof__sb_json(b, endpoint);
  inprof__sb_fmt(b, ":%llu", (unsigned long long)count);
}

INPROF__HIDDEN void inprof__dd_endpoint_counts_seal(uint64_t seq) {
  inprof__sb b = {0};
  inprof__sb_str(&b, "{");
  size_t empty = b.len;
  inprof__endpoint_counts_take(count_json, &b);
  sealed *x = NULL;
  if (b.len > empty) {
    inprof__sb_str(&b, "}");
    char *json = inprof__sb_take(&b);
    size_t n = json ? strlen(json) : 0;
    x = json ? malloc(sizeof *x + n + 1) : NULL;
    if (x) {
      x->seq = seq;
      memcpy(x->json, json, n + 1);
    }
    free(json);
  } else {
    free(inprof__sb_take(&b));
  }
  free(atomic_exchange(&sealed_slots[seq % SEALED_SLOTS], x));
}

/* The counts sealed for seq, malloc'ed (the caller frees), or NULL. */
static sealed *take_sealed(uint64_t seq) {
  _Atomic(sealed *) *slot = &sealed_slots[seq % SEALED_SLOTS];
  sealed *x = atomic_exchange(slot, NULL);
  if (!x || x->seq == seq) return x;
  if (x->seq > seq) {
    /* A later profile's: leave it for its own upload. */
    sealed *none = NULL;
    if (atomic_compare_exchange_strong(slot, &none, x)) return NULL;
  }
  free(x);
  return NULL;
}

/* "internal": the library's version and its counters at upload time. */
static void sb_internal(inprof__sb *b) {
  inprof_statistics st = {.struct_size = sizeof st};
  inprof__counters_fill(&st);
  inprof__sb_str(b, "{\"profiler_version\":\"" INPROF__VERSION_STR "\",\"statistics\":{");
  int first = 1;
#define SB_COUNTER(name)                                                    \
  inprof__sb_fmt(b, "%s\"" #name "\":%llu", first ? "" : ",", (unsigned long long)st.name); \
  first = 0;
  INPROF__COUNTER_LIST(SB_COUNTER)
#undef SB_COUNTER
  inprof__sb_str(b, "}}");
}

INPROF__HIDDEN char *inprof__dd_event_json(const inprof__dd_static *st,
                                           const inprof__upload_meta *m) {
  const char *tags = st->tags ? st->tags : "";
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
  inprof__sb_str(&b, ",\"family\":\"native\",\"version\":\"4\",\"endpoint_counts\":");
  sealed *counts = take_sealed(m->seq);
  inprof__sb_str(&b, counts ? counts->json : "null");
  free(counts);
  inprof__sb_str(&b, ",\"process_tags\":");
  if (st->process_tags && *st->process_tags) inprof__sb_json(&b, st->process_tags);
  else inprof__sb_str(&b, "null");
  inprof__sb_str(&b, ",\"internal\":");
  sb_internal(&b);
  inprof__sb_str(&b, ",\"info\":{\"profiler\":{\"settings\":");
  inprof__sb_str(&b, st->settings_json ? st->settings_json : "{}");
  inprof__sb_str(&b, "}}}");
  free(all);
  return inprof__sb_take(&b);
}

INPROF__HIDDEN char *inprof__http_event_json(const inprof__settings *s,
                                            const inprof__upload_meta *meta) {
  inprof__dd_static st = {0};
  if (inprof__dd_static_init(&st, s) != 0) return NULL;
  char *ev = inprof__dd_event_json(&st, meta);
  inprof__dd_static_free(&st);
  return ev;
}

