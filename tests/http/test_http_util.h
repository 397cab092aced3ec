/*
 * test_http_util.h - helpers for the upload tests: run the test intake
 * (tests/intake/intake.py) as a child process, read what it recorded, build
 * small pprof profiles, watch the host keep running.
 */
#ifndef INPROF_TEST_HTTP_UTIL_H
#define INPROF_TEST_HTTP_UTIL_H

#include <dirent.h>
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer runtime (its header is not installed with gcc here). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifdef INPROF_TEST_INTERNAL
#include "base/clock.h"
#include "base/diag.h"
#include "config/settings.h"
#include "export/http.h"
#include "profile.pb-c.h"
#endif

#ifndef INPROF_UNZSTD
#define INPROF_UNZSTD ""
#endif
/* go's pprof, built once (go build cmd/pprof): go tool pprof is 40x slower to start. */
#ifndef INPROF_PPROF
#define INPROF_PPROF INPROF_GO
#endif

static inline uint64_t th_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void th_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ------------------------------------------------------------ the intake */

typedef struct intake {
  pid_t pid;
  int port;           /* TCP port, 0 for a unix socket */
  char dir[256];      /* where requests are recorded */
  char unix_path[256];
  char url[300];      /* http://127.0.0.1:port or unix:///path */
} intake;

/*
 * Starts intake.py with the extra arguments given (NULL-terminated). Adds
 * --record, --go, --unzstd and a loopback port unless --unix is among them.
 */
static inline void intake_start(intake *in, const char *first, ...) {
  memset(in, 0, sizeof *in);
  char *dir = testutil_tmpdir("intake");
  REQUIRE(dir);
  snprintf(in->dir, sizeof in->dir, "%s/rec", dir);
  const char *argv[64];
  int argc = 0;
  char script[512];
  snprintf(script, sizeof script, "%s/tests/intake/intake.py", INPROF_SOURCE_DIR);
  argv[argc++] = "python3";
  argv[argc++] = script;
  argv[argc++] = "--record";
  argv[argc++] = in->dir;
  argv[argc++] = "--go";
  argv[argc++] = access(INPROF_PPROF, X_OK) == 0 ? INPROF_PPROF : INPROF_GO;
  argv[argc++] = "--max-seconds";
  argv[argc++] = "150";
  if (INPROF_UNZSTD[0]) {
    argv[argc++] = "--unzstd";
    argv[argc++] = INPROF_UNZSTD;
  }
  int has_unix = 0;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && argc < 60; a = va_arg(ap, const char *)) {
    if (!strcmp(a, "--unix")) has_unix = 1;
    argv[argc++] = a;
  }
  va_end(ap);
  if (!has_unix) {
    argv[argc++] = "--port";
    argv[argc++] = "0";
  }
  argv[argc] = NULL;
  free(dir);

  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execvp("python3", (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  in->pid = pid;
  char line[512];
  size_t len = 0;
  uint64_t until = th_now_ms() + 30000;
  while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
    struct pollfd p = {fds[0], POLLIN, 0};
    int left = (int)(until > th_now_ms() ? until - th_now_ms() : 0);
    if (left == 0 || poll(&p, 1, left) <= 0) break;
    ssize_t n = read(fds[0], line + len, sizeof line - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fds[0]);
  line[len] = 0;
  if (sscanf(line, "PORT %d", &in->port) == 1) {
    snprintf(in->url, sizeof in->url, "http://127.0.0.1:%d", in->port);
  } else if (sscanf(line, "UNIX %255s", in->unix_path) == 1) {
    snprintf(in->url, sizeof in->url, "unix://%s", in->unix_path);
  } else {
    fprintf(stderr, "intake did not start: %s\n", line);
    kill(pid, SIGKILL);
    exit(1);
  }
}

static inline void intake_stop(intake *in) {
  if (in->pid <= 0) return;
  kill(in->pid, SIGTERM);
  int st;
  uint64_t until = th_now_ms() + 5000;
  while (waitpid(in->pid, &st, WNOHANG) == 0) {
    if (th_now_ms() > until) {
      kill(in->pid, SIGKILL);
      waitpid(in->pid, &st, 0);
      break;
    }
    th_sleep_ms(20);
  }
  in->pid = 0;
}

/* Number of requests recorded so far. */
static inline int intake_count(const intake *in) {
  int n = 0;
  DIR *d = opendir(in->dir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (!strncmp(e->d_name, "req-", 4) && l > 4 && !strcmp(e->d_name + l - 4, ".txt")) n++;
  }
  closedir(d);
  return n;
}

/* Waits until at least n requests are recorded; returns the count. */
static inline int intake_wait(const intake *in, int n, unsigned timeout_ms) {
  uint64_t until = th_now_ms() + timeout_ms;
  int c;
  while ((c = intake_count(in)) < n && th_now_ms() < until) th_sleep_ms(20);
  return c;
}

/* The key=value summary of request i (1-based), malloc'ed, or NULL. */
static inline char *intake_request(const intake *in, int i) {
  char path[400];
  snprintf(path, sizeof path, "%s/req-%04d.txt", in->dir, i);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 1 << 20;
  char *buf = malloc(cap);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* 1 if text has the line exactly. */
static inline int has_line(const char *text, const char *line) {
  size_t l = strlen(line);
  for (const char *p = text; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == l && !memcmp(p, line, l)) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* The value of the first "key=" line (static buffer), or "". */
static inline const char *line_value(const char *text, const char *key) {
  static char v[1024];
  size_t kl = strlen(key);
  for (const char *p = text; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n > kl && !memcmp(p, key, kl) && p[kl] == '=') {
      size_t vl = n - kl - 1 < sizeof v - 1 ? n - kl - 1 : sizeof v - 1;
      memcpy(v, p + kl + 1, vl);
      v[vl] = 0;
      return v;
    }
    p = e ? e + 1 : NULL;
  }
  return "";
}

/* Prints a recorded request when a check about it fails. */
#define CHECK_REQ(cond, req)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      CHECKF(cond, "request was:\n%s", (req) ? (req) : "(none)");              \
    }                                                                          \
  } while (0)

/* A TCP port on 127.0.0.1 with nobody listening (bound, then closed). */
static inline int refused_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  REQUIRE(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
  REQUIRE(getsockname(s, (struct sockaddr *)&a, &l) == 0);
  close(s);
  return ntohs(a.sin_port);
}

/* ------------------------------------------------------ a running "host" */

/* A thread that counts loop iterations: proves the host keeps running. */
static _Atomic uint64_t host_progress;
static _Atomic int host_quit;
static inline void *host_main(void *arg) {
  (void)arg;
  volatile uint64_t x = 0;
  while (!atomic_load(&host_quit)) {
    for (int i = 0; i < 10000; i++) x = x + (uint64_t)i;
    atomic_fetch_add(&host_progress, 1);
  }
  return NULL;
}

/* Progress made by the host within ms milliseconds. */
static inline uint64_t host_progress_over(unsigned ms) {
  uint64_t a = atomic_load(&host_progress);
  th_sleep_ms(ms);
  return atomic_load(&host_progress) - a;
}

/*
 * Bytes the allocator has handed out and not got back, in KiB: what a
 * queue holds. (RSS would also count allocator caches and, under ASan, its
 * quarantine of freed blocks.)
 */
static inline long heap_kib(void) {
#if defined(__SANITIZE_ADDRESS__)
  return (long)(__sanitizer_get_current_allocated_bytes() / 1024);
#else
  struct mallinfo2 mi = mallinfo2();
  return (long)((mi.uordblks + mi.hblkhd) / 1024);
#endif
}

static inline long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}

#ifdef INPROF_TEST_INTERNAL
/*
 * A valid pprof with nsamples CPU samples (one function each), plus a
 * comment of pad bytes to make it big. Returns a malloc'ed buffer.
 */
static inline uint8_t *make_pprof(unsigned nsamples, size_t pad, size_t *len) {
  Inprof__Pprof__Profile p = INPROF__PPROF__PROFILE__INIT;
  size_t nstr = 6 + nsamples + (pad ? 1 : 0);
  char **strs = calloc(nstr, sizeof *strs);
  strs[0] = "";
  strs[1] = "cpu-samples";
  strs[2] = "count";
  strs[3] = "cpu-time";
  strs[4] = "nanoseconds";
  strs[5] = "test";
  Inprof__Pprof__ValueType vt[2] = {INPROF__PPROF__VALUE_TYPE__INIT,
                                    INPROF__PPROF__VALUE_TYPE__INIT};
  vt[0].type = 1, vt[0].unit = 2, vt[1].type = 3, vt[1].unit = 4;
  Inprof__Pprof__ValueType *vtp[2] = {&vt[0], &vt[1]};
  p.n_sample_type = 2;
  p.sample_type = vtp;
  Inprof__Pprof__ValueType period = INPROF__PPROF__VALUE_TYPE__INIT;
  period.type = 3, period.unit = 4;
  p.period_type = &period;
  p.period = 10101010;
  Inprof__Pprof__Sample *s = calloc(nsamples, sizeof *s);
  Inprof__Pprof__Sample **sp = calloc(nsamples, sizeof *sp);
  Inprof__Pprof__Location *loc = calloc(nsamples, sizeof *loc);
  Inprof__Pprof__Location **locp = calloc(nsamples, sizeof *locp);
  Inprof__Pprof__Function *fn = calloc(nsamples, sizeof *fn);
  Inprof__Pprof__Function **fnp = calloc(nsamples, sizeof *fnp);
  Inprof__Pprof__Line *line = calloc(nsamples, sizeof *line);
  Inprof__Pprof__Line **linep = calloc(nsamples, sizeof *linep);
  uint64_t *ids = calloc(nsamples, sizeof *ids);
  int64_t *vals = calloc(2 * (size_t)nsamples, sizeof *vals);
  char (*names)[32] = calloc(nsamples, 32);
  for (unsigned i = 0; i < nsamples; i++) {
    snprintf(names[i], 32, "function_%u", i);
    strs[6 + i] = names[i];
    Inprof__Pprof__Function f = INPROF__PPROF__FUNCTION__INIT;
    f.id = i + 1;
    f.name = f.system_name = 6 + i;
    fn[i] = f;
    fnp[i] = &fn[i];
    Inprof__Pprof__Line l = INPROF__PPROF__LINE__INIT;
    l.function_id = i + 1;
    line[i] = l;
    linep[i] = &line[i];
    Inprof__Pprof__Location lo = INPROF__PPROF__LOCATION__INIT;
    lo.id = i + 1;
    lo.address = 0x1000 + i;
    lo.n_line = 1;
    lo.line = &linep[i];
    loc[i] = lo;
    locp[i] = &loc[i];
    Inprof__Pprof__Sample sm = INPROF__PPROF__SAMPLE__INIT;
    ids[i] = i + 1;
    sm.n_location_id = 1;
    sm.location_id = &ids[i];
    vals[2 * i] = 1;
    vals[2 * i + 1] = 10000000 + i;
    sm.n_value = 2;
    sm.value = &vals[2 * i];
    s[i] = sm;
    sp[i] = &s[i];
  }
  char *padding = NULL;
  int64_t comment = 0;
  if (pad) {
    padding = malloc(pad + 1);
    /* Not all one byte, so that compression keeps some of it. */
    uint32_t r = 12345;
    for (size_t i = 0; i < pad; i++) {
      r = r * 1103515245u + 12345u;
      padding[i] = (char)('a' + (r >> 16) % 26);
    }
    padding[pad] = 0;
    strs[nstr - 1] = padding;
    comment = (int64_t)nstr - 1;
    p.n_comment = 1;
    p.comment = &comment;
  }
  p.n_sample = nsamples;
  p.sample = sp;
  p.n_location = nsamples;
  p.location = locp;
  p.n_function = nsamples;
  p.function = fnp;
  p.n_string_table = nstr;
  p.string_table = strs;
  p.time_nanos = 1;
  p.duration_nanos = 1000000000;
  *len = inprof__pprof__profile__get_packed_size(&p);
  uint8_t *out = malloc(*len);
  inprof__pprof__profile__pack(&p, out);
  free(s), free(sp), free(loc), free(locp), free(fn), free(fnp), free(line);
  free(linep), free(ids), free(vals), free(names), free(strs), free(padding);
  return out;
}

static inline uint64_t stat_of(_Atomic uint64_t *f) { return atomic_load(f); }
#define STAT(name) stat_of(&inprof__stats.name)

static inline uint64_t deadline_in_ms(unsigned ms) {
  return inprof__now_ns(CLOCK_MONOTONIC) + (uint64_t)ms * 1000000u;
}

/* Settings for an agent upload to url (copied strings are not needed). */
static inline inprof__settings agent_settings(const char *url) {
  inprof__settings s;
  memset(&s, 0, sizeof s);
  s.service = (char *)"http-test-svc";
  s.env = (char *)"test-env";
  s.version = (char *)"1.2.3";
  s.tags = (char *)"team:profiling,owner:inprof";
  s.agent_url = (char *)url;
  s.upload = 1;
  s.connect_timeout_ms = 2000;
  s.upload_timeout_ms = 5000;
  return s;
}
#endif

#endif
