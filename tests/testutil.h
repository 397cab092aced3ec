/* testutil.h - tiny assertion and process helpers shared by the C tests. */
#ifndef INPROF_TESTUTIL_H
#define INPROF_TESTUTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inprof.h"

static int testutil_failures;

/* 1 in ASan/TSan builds, with gcc (__SANITIZE_*__) or clang (__has_feature). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TESTUTIL_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TESTUTIL_SANITIZER_BUILD 1
#endif
#endif
#ifndef TESTUTIL_SANITIZER_BUILD
#define TESTUTIL_SANITIZER_BUILD 0
#endif

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      testutil_failures++;                                                   \
    }                                                                        \
  } while (0)

#define CHECKF(cond, ...)                                                    \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                          \
      fputc('\n', stderr);                                                   \
      testutil_failures++;                                                   \
    }                                                                        \
  } while (0)

#define REQUIRE(cond)                                                        \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* Ends a test's main: prints a verdict and returns the exit status. */
static inline int testutil_done(const char *name) {
  if (testutil_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, testutil_failures);
    return 1;
  }
  printf("%s: ok\n", name);
  return 0;
}

/* Runs a shell command and returns its stdout (malloc'ed, NUL-terminated). */
static inline char *testutil_capture(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 1024) buf = realloc(buf, cap *= 2);
  }
  buf[len] = 0;
  int rc = pclose(p);
  if (rc != 0) fprintf(stderr, "command exited %d: %s\n", rc, cmd);
  return buf;
}

/* A fresh temporary directory (malloc'ed path). */
static inline char *testutil_tmpdir(const char *tag) {
  char tmpl[256];
  snprintf(tmpl, sizeof tmpl, "/tmp/inprof-%s-XXXXXX", tag);
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

/*
 * The set-up most end-to-end tests share: defaults, profiles written to a
 * fresh /tmp/inprof-<tag>-* directory (returned), no upload, and the given
 * service name (NULL: the default). Exits when the directory cannot be made.
 */
static inline char *testutil_file_config(inprof_config *cfg, const char *tag,
                                         const char *service) {
  char *dir = testutil_tmpdir(tag);
  REQUIRE(dir);
  inprof_config_init(cfg);
  cfg->output_dir = dir;
  cfg->upload = INPROF_UPLOAD_OFF;
  if (service) cfg->service = service;
  return dir;
}

/*
 * Reads a profile with `go tool pprof -top` (the reference reader) and returns
 * the flat value of every function, in the unit the sample type has (ns,
 * bytes, count). Returns the number of rows, or -1 when pprof failed.
 */
typedef struct testutil_row {
  double flat;
  double cum;
  char name[512];
} testutil_row;

static inline double testutil_unit_value(const char *tok) {
  char *end;
  double v = strtod(tok, &end);
  /* -unit=ns / -unit=B / counts print a bare number or one with a suffix. */
  if (!strcmp(end, "ms")) v *= 1e6;
  else if (!strcmp(end, "us")) v *= 1e3;
  else if (!strcmp(end, "s")) v *= 1e9;
  else if (!strcmp(end, "kB")) v *= 1024;
  else if (!strcmp(end, "MB")) v *= 1024 * 1024;
  else if (!strcmp(end, "GB")) v *= 1024.0 * 1024 * 1024;
  return v;
}

/* Rows of a `go tool pprof -top` output (consumed: strtok, then freed).
 * Returns the number of rows, or -1 when the output has no table. */
static inline int testutil_parse_top(char *out, testutil_row *rows, int max) {
  if (!out) return -1;
  int n = 0, in_table = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    if (strstr(line, "flat%") && strstr(line, "cum%")) { in_table = 1; continue; }
    if (!in_table || n >= max) continue;
    char flat[64], flatp[32], sump[32], cum[64], cump[32];
    int consumed = 0;
    if (sscanf(line, " %63s %31s %31s %63s %31s %n", flat, flatp, sump, cum, cump,
               &consumed) != 5)
      continue;
    rows[n].flat = testutil_unit_value(flat);
    rows[n].cum = testutil_unit_value(cum);
    snprintf(rows[n].name, sizeof rows[n].name, "%s", line + consumed);
    n++;
  }
  if (!in_table) {
    fprintf(stderr, "pprof output without a table\n");
    n = -1;
  }
  free(out);
  return n;
}

static inline int testutil_pprof_top(const char *file, const char *sample_index,
                                     testutil_row *rows, int max) {
  return testutil_parse_top(
      testutil_capture("%s tool pprof -top -nodecount=100000 -nodefraction=0 -edgefraction=0 "
                       "-sample_index=%s -unit=minimum %s 2>&1",
                       INPROF_GO, sample_index, file),
      rows, max);
}

/* Sum of flat values of rows whose name contains `needle`. */
static inline double testutil_flat_of(const testutil_row *rows, int n, const char *needle) {
  double v = 0;
  for (int i = 0; i < n; i++)
    if (strstr(rows[i].name, needle)) v += rows[i].flat;
  return v;
}

/* The largest cum value of rows whose name contains `needle`: a function's
 * time including its callees (clock reads, a sanitizer's runtime). */
static inline double testutil_cum_of(const testutil_row *rows, int n, const char *needle) {
  double v = 0;
  for (int i = 0; i < n; i++)
    if (strstr(rows[i].name, needle) && rows[i].cum > v) v = rows[i].cum;
  return v;
}

static inline double testutil_total(const testutil_row *rows, int n) {
  double v = 0;
  for (int i = 0; i < n; i++) v += rows[i].flat;
  return v;
}

/* The newest *.pprof.gz in dir (malloc'ed path) or NULL. */
static inline char *testutil_latest_profile(const char *dir) {
  char *out = testutil_capture("ls -1t %s/*.pprof.gz 2>/dev/null | head -n 1", dir);
  if (!out || !*out) { free(out); return NULL; }
  out[strcspn(out, "\n")] = 0;
  return out;
}

#endif
