/*
 * bench_symbols.c - what symbolization costs an export (issue 11): the
 * first export (every object that appears in the profile has its symbols
 * and debug info read then), later exports (only new addresses are looked
 * up), and the memory it keeps (VmRSS growth across the first export).
 *
 * Workload: two threads split their CPU between always_inline functions (so
 * frames carry inlined chains from this program's DWARF) and libc (memcpy,
 * memset, qsort, snprintf: libc's own symbols, or libc6-dbg's debug file
 * when installed). The main thread flushes every period_ms and times each
 * flush two ways: wall time, and the CPU time of the collector thread
 * (/proc/self/task/<tid>/schedstat), which is the export's own work and
 * not the scheduler's. bench/symbols/run.sh runs it with and without debug
 * info side by side.
 *
 * Usage: bench_symbols OUTPUT_DIR [exports] [period_ms]
 * Output (one "key value" per line): first_export_ms, first_export_cpu_ms,
 * later_export_ms, later_export_cpu_ms (medians), rss_before_kib,
 * rss_after_first_kib, rss_end_kib, symbolizer_cap_hits, cpu_samples.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inprof.h"

static atomic_int stop;

static inline __attribute__((always_inline)) uint64_t mix3(uint64_t x) {
  for (int i = 0; i < 2000; i++) x = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ull + (uint64_t)i;
  return x;
}
static inline __attribute__((always_inline)) uint64_t mix2(uint64_t x) {
  for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return mix3(x);
}
static inline __attribute__((always_inline)) uint64_t mix1(uint64_t x) {
  x = mix2(x);
  for (int i = 0; i < 1000; i++) x ^= x << 7, x ^= x >> 9;
  return x;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

__attribute__((noinline)) static uint64_t libc_work(uint64_t seed, char *a, char *b,
                                                    uint32_t *v) {
  memset(a, (int)(seed & 0xff), 1 << 16);
  memcpy(b, a, 1 << 16);
  for (int i = 0; i < 512; i++) v[i] = (uint32_t)(seed * (uint64_t)(i + 1) >> 17);
  qsort(v, 512, sizeof *v, cmp_u32);
  char s[64];
  int n = snprintf(s, sizeof s, "%llu %u", (unsigned long long)seed, v[7]);
  return seed + (uint64_t)n + (uint8_t)b[seed & 0xffff];
}

static void *worker(void *arg) {
  uint64_t x = (uintptr_t)arg + 1;
  char *a = malloc(1 << 16), *b = malloc(1 << 16);
  uint32_t *v = malloc(512 * sizeof *v);
  if (!a || !b || !v) abort();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    x = mix1(x);
    x = libc_work(x, a, b, v);
  }
  free(a), free(b), free(v);
  return (void *)(uintptr_t)x;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &v) == 1) break;
  if (f) fclose(f);
  return v;
}

/* The collector thread's id (its name ends in "collect"), 0 if none. */
static long collector_tid(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  long tid = 0;
  while (d && !tid && (e = readdir(d)) != NULL) {
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(comm, sizeof comm, f) && strstr(comm, "collect")) tid = atol(e->d_name);
    fclose(f);
  }
  if (d) closedir(d);
  return tid;
}

/* A thread's CPU time so far, in ms (schedstat's first field, ns). */
static double thread_cpu_ms(long tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
  FILE *f = fopen(path, "r");
  unsigned long long ns = 0;
  if (f) {
    if (fscanf(f, "%llu", &ns) != 1) ns = 0;
    fclose(f);
  }
  return ns / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  if (n <= 0) return -1;
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_symbols OUTPUT_DIR [exports] [period_ms]\n");
    return 2;
  }
  int exports = argc > 2 ? atoi(argv[2]) : 8;
  int period_ms = argc > 3 ? atoi(argv[3]) : 300;
  if (exports < 2 || exports > 1000 || period_ms < 10) return 2;

  inprof_config cfg;
  inprof_config_init(&cfg);
  if (inprof_config_from_env(&cfg) != INPROF_OK) { /* INPROF_DEBUG_DIRS, cap, ... */
    fprintf(stderr, "bench_symbols: %s\n", inprof_last_error());
    return 1;
  }
  cfg.cpu_hz = 199;
  cfg.heap_sample_bytes = 0;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = argv[1];
  cfg.service = "bench-symbols";
  cfg.upload_period_ms = 3600 * 1000; /* only the flushes export */
  if (inprof_start(&cfg) != INPROF_OK) {
    fprintf(stderr, "bench_symbols: inprof_start: %s\n", inprof_last_error());
    return 1;
  }
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
  struct timespec period = {period_ms / 1000, (long)(period_ms % 1000) * 1000000L};
  nanosleep(&period, NULL);
  long tid = collector_tid();
  long rss_before = rss_kib(), rss_first = -1;
  double *wall = calloc((size_t)exports, sizeof *wall), *cpu = calloc((size_t)exports, sizeof *cpu);
  if (!wall || !cpu || !tid) {
    fprintf(stderr, "bench_symbols: no collector thread found\n");
    return 1;
  }
  for (int i = 0; i < exports; i++) {
    if (i) nanosleep(&period, NULL);
    double c0 = thread_cpu_ms(tid), w0 = now_ms();
    inprof_status st = inprof_flush(60000);
    wall[i] = now_ms() - w0;
    cpu[i] = thread_cpu_ms(tid) - c0;
    if (st != INPROF_OK) {
      fprintf(stderr, "bench_symbols: flush: %s\n", inprof_last_error());
      return 1;
    }
    if (i == 0) rss_first = rss_kib();
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  inprof_statistics stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  inprof_stats(&stats);
  printf("first_export_ms %.2f\nfirst_export_cpu_ms %.2f\n", wall[0], cpu[0]);
  printf("later_export_ms %.2f\n", median(wall + 1, exports - 1));
  printf("later_export_cpu_ms %.2f\n", median(cpu + 1, exports - 1));
  printf("rss_before_kib %ld\nrss_after_first_kib %ld\nrss_end_kib %ld\n", rss_before, rss_first,
         rss_kib());
  printf("symbolizer_cap_hits %llu\ncpu_samples %llu\n",
         (unsigned long long)stats.symbolizer_cap_hits, (unsigned long long)stats.cpu_samples);
  inprof_stop(10000);
  free(wall), free(cpu);
  return 0;
}
