/* bench_util.h - clocks, rusage, RSS and result printing shared by the C
 * benchmarks. Every benchmark prints one "RESULT key=value ..." line that
 * bench/bench.py parses; nothing else on stdout is read. */
#ifndef INPROF_BENCH_UTIL_H
#define INPROF_BENCH_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t bench_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_tv_ns(struct timeval tv) {
  return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* user + system CPU of RUSAGE_SELF or RUSAGE_THREAD, in ns. */
static inline uint64_t bench_rusage_ns(int who) {
  struct rusage ru;
  if (getrusage(who, &ru) != 0) return 0;
  return bench_tv_ns(ru.ru_utime) + bench_tv_ns(ru.ru_stime);
}

/* A field of /proc/self/status in KiB (VmRSS, VmHWM), 0 if absent. */
static inline uint64_t bench_status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t n = strlen(field);
  uint64_t v = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, field, n) && line[n] == ':') {
      v = strtoull(line + n + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static int bench_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorts v in place and returns the q-quantile (0..1), nearest rank. */
static inline uint64_t bench_quantile(uint64_t *v, size_t n, double q) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, bench_cmp_u64);
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

static inline void bench_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

#endif
