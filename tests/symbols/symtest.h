/*
 * symtest.h - helpers for the symbol tests: profile a workload in a child
 * process (the test binary itself, or a stripped copy of it), read the
 * profile with `go tool pprof` without its own symbolization, and find
 * source lines by marker comments.
 */
#ifndef INPROF_SYMTEST_H
#define INPROF_SYMTEST_H

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "inprof.h"
#include "testutil.h"

/* CPU time of the calling thread in seconds. */
static inline double symtest_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* In the child: starts profiling into dir (1000 Hz, no heap, no upload). */
static inline void symtest_start(const char *dir) {
  inprof_config cfg;
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  REQUIRE(inprof_config_from_env(&cfg) == INPROF_OK);
  cfg.cpu_hz = 1000;
  cfg.heap_sample_bytes = 0;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.upload_period_ms = 3600 * 1000;
  cfg.output_dir = dir;
  inprof_status st = inprof_start(&cfg);
  if (st != INPROF_OK) {
    fprintf(stderr, "inprof_start: %s\n", inprof_last_error());
    exit(1);
  }
}

static inline void symtest_stop(void) {
  REQUIRE(inprof_stop(30000) == INPROF_OK);
}

/* Runs `env_prefix prog child <dir>` and returns the profile it wrote
 * (malloc'ed path) or NULL. */
static inline char *symtest_run_child(const char *env_prefix, const char *prog,
                                      const char *tag) {
  char *dir = testutil_tmpdir(tag);
  REQUIRE(dir);
  char *out = testutil_capture("%s '%s' child '%s' 2>&1", env_prefix ? env_prefix : "", prog,
                               dir);
  if (out && *out) fprintf(stderr, "[%s child] %s", tag, out);
  free(out);
  char *p = testutil_latest_profile(dir);
  if (!p) fprintf(stderr, "%s: no profile in %s\n", tag, dir);
  free(dir);
  return p;
}

/*
 * `go tool pprof -top` of the cpu-time samples, with pprof's own
 * symbolization off (the profile must stand on its own), plus extra
 * options such as -lines. Returns the number of rows or -1.
 */
static inline int symtest_top(const char *file, const char *extra, testutil_row *rows,
                              int max) {
  int n = testutil_parse_top(
      testutil_capture("%s tool pprof -top -symbolize=none %s -nodecount=100000 -nodefraction=0 "
                       "-edgefraction=0 -sample_index=cpu-time -unit=minimum %s 2>&1",
                       INPROF_GO, extra ? extra : "", file),
      rows, max);
  /* pprof marks inlined functions; the name is what is checked. */
  for (int i = 0; i < n; i++) {
    char *inl = strstr(rows[i].name, " (inline)");
    if (inl) memmove(inl, inl + 9, strlen(inl + 9) + 1);
  }
  return n;
}

/* Flat value of the row named exactly name (0 if none). */
static inline double symtest_flat_exact(const testutil_row *rows, int n, const char *name) {
  double v = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(rows[i].name, name)) v += rows[i].flat;
  return v;
}

static inline void symtest_print_rows(const char *what, const testutil_row *rows, int n) {
  fprintf(stderr, "%s:\n", what);
  for (int i = 0; i < n && i < 25; i++)
    fprintf(stderr, "  %14.0f  %s\n", rows[i].flat, rows[i].name);
}

/* The 1-based line of the first line of file containing marker, or 0. */
static inline int symtest_marker_line(const char *file, const char *marker) {
  FILE *f = fopen(file, "r");
  if (!f) return 0;
  char line[1024];
  int n = 0, found = 0;
  while (fgets(line, sizeof line, f)) {
    n++;
    if (strstr(line, marker)) {
      found = n;
      break;
    }
  }
  fclose(f);
  return found;
}

#endif
