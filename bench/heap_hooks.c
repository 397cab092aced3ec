/*
 * heap_hooks.c - micro-benchmark of the heap profiling hooks (not a test:
 * it reports numbers and checks nothing). Built as bench_heap_hooks by
 * tests/heap/CMakeLists.txt.
 *
 * 1. Fast path: ns per inprof_record_alloc + inprof_record_free pair, with
 *    the profiler running at the given rate (default 524288), minus the same
 *    loop without the calls. The addresses are real malloc'ed 64-byte blocks
 *    cycled through, so the free filter sees the addresses a program frees.
 *    A third loop calls two empty out-of-line functions instead: what any
 *    out-of-line hook costs on this machine, so that the hooks' own work
 *    (hooks minus empty calls) can be told apart from call overhead.
 * 2. Throughput: an allocation-heavy workload (malloc/free of mixed sizes with
 *    a sliding window of live blocks, touching each block) with hooks and
 *    heap profiling on, against the same workload without hooks (and with
 *    empty calls in place of the hooks). Runs are interleaved, medians
 *    compared. Times are process CPU time (all threads, collector included).
 *
 * Usage: bench_heap_hooks [rate_bytes] [runs]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inprof.h"

/*
 * Process CPU time, not wall time: on a shared machine the wall clock mostly
 * measures the scheduler. It includes the collector thread's work.
 */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------ fast path */

#define POOL 1024
static void *pool[POOL];

__attribute__((noinline)) static void pairs_with_hooks(long n) {
  for (long i = 0; i < n; i++) {
    void *p = pool[i & (POOL - 1)];
    inprof_record_alloc(p, 64);
    inprof_record_free(p);
  }
}

/* Stand-ins with the hooks' signatures; the asm keeps calls and args alive. */
__attribute__((noinline)) void bench_empty_alloc(void *p, size_t n) {
  __asm__ volatile("" : : "r"(p), "r"(n) : "memory");
}
__attribute__((noinline)) void bench_empty_free(void *p) {
  __asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) static void pairs_empty_calls(long n) {
  for (long i = 0; i < n; i++) {
    void *p = pool[i & (POOL - 1)];
    bench_empty_alloc(p, 64);
    bench_empty_free(p);
  }
}

__attribute__((noinline)) static void pairs_without_hooks(long n) {
  for (long i = 0; i < n; i++) {
    void *p = pool[i & (POOL - 1)];
    __asm__ volatile("" : : "r"(p) : "memory");
  }
}

/* ------------------------------------------------------------- workload */

#define WINDOW 4096

static inline uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/*
 * Mostly small blocks (16..512 B), some medium (up to 16 KiB), a live window
 * of WINDOW blocks; each block gets a few bytes written, as real code would.
 * One function for all variants (mode 0: no hooks, 1: two empty calls,
 * 2: the hooks), so that code layout is not what the comparison measures;
 * the mode branch is loop-invariant and predicted.
 */
__attribute__((noinline)) static uint64_t workload(long ops, int mode) {
  static void *win[WINDOW];
  uint64_t s = 88172645463325252ull, sum = 0;
  for (long i = 0; i < ops; i++) {
    uint64_t r = xorshift(&s);
    size_t n = (r & 31) == 0 ? 512 + (r >> 8) % 16384 : 16 + (r >> 8) % 497;
    size_t k = (r >> 40) % WINDOW;
    if (win[k]) {
      sum += ((unsigned char *)win[k])[0];
      if (mode == 2) inprof_record_free(win[k]);
      else if (mode == 1) bench_empty_free(win[k]);
      free(win[k]);
    }
    unsigned char *p = malloc(n);
    if (!p) abort();
    if (mode == 2) inprof_record_alloc(p, n);
    else if (mode == 1) bench_empty_alloc(p, n);
    p[0] = (unsigned char)r;
    p[n - 1] = (unsigned char)(r >> 8);
    win[k] = p;
  }
  for (size_t k = 0; k < WINDOW; k++) {
    if (win[k]) {
      if (mode == 2) inprof_record_free(win[k]);
      free(win[k]);
      win[k] = NULL;
    }
  }
  return sum;
}

int main(int argc, char **argv) {
  uint64_t rate = argc > 1 ? strtoull(argv[1], NULL, 10) : INPROF_DEFAULT_HEAP_SAMPLE_BYTES;
  int runs = argc > 2 ? atoi(argv[2]) : 11;
  if (runs < 1 || runs > 101) runs = 11;

  for (int i = 0; i < POOL; i++) pool[i] = malloc(64);

  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 0;                  /* measure the heap hooks alone */
  cfg.heap_sample_bytes = rate;
  cfg.upload = INPROF_UPLOAD_OFF;  /* no output: the collector only aggregates */
  if (inprof_start(&cfg) != INPROF_OK) {
    fprintf(stderr, "inprof_start: %s\n", inprof_last_error());
    return 1;
  }

  /* 1. Fast path. */
  const long pairs = 20 * 1000 * 1000;
  double with[101], without[101], empty[101];
  pairs_with_hooks(pairs / 10); /* warm up */
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    pairs_without_hooks(pairs);
    double t1 = now_s();
    pairs_empty_calls(pairs);
    double t2 = now_s();
    pairs_with_hooks(pairs);
    double t3 = now_s();
    without[r] = (t1 - t0) * 1e9 / (double)pairs;
    empty[r] = (t2 - t1) * 1e9 / (double)pairs;
    with[r] = (t3 - t2) * 1e9 / (double)pairs;
  }
  double m_with = median(with, runs), m_without = median(without, runs);
  double m_empty = median(empty, runs);
  printf("fast path (rate %llu), median of %d: loop alone %.2f ns, two empty calls %.2f ns, "
         "hooks %.2f ns per alloc+free pair\n"
         "  => hooks add %.2f ns per pair (%.2f ns over two empty calls)\n",
         (unsigned long long)rate, runs, m_without, m_empty, m_with, m_with - m_without,
         m_with - m_empty);

  /* 2. Throughput, interleaved; ratios of adjacent runs cancel load drift. */
  const long ops = 2 * 1000 * 1000;
  double plain[101], calls[101], hooked[101], ratio[101], calls_ratio[101];
  uint64_t sink = workload(ops / 4, 0) + workload(ops / 4, 1) + workload(ops / 4, 2);
  inprof_statistics st0 = {.struct_size = sizeof st0};
  inprof_stats(&st0);
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    sink += workload(ops, 0);
    double t1 = now_s();
    sink += workload(ops, 1);
    double t2 = now_s();
    sink += workload(ops, 2);
    double t3 = now_s();
    plain[r] = (double)ops / (t1 - t0);
    calls[r] = (double)ops / (t2 - t1);
    hooked[r] = (double)ops / (t3 - t2);
    ratio[r] = hooked[r] / plain[r];
    calls_ratio[r] = calls[r] / plain[r];
  }
  inprof_statistics st1 = {.struct_size = sizeof st1};
  inprof_stats(&st1);
  double m_ratio = median(ratio, runs), m_calls_ratio = median(calls_ratio, runs);
  printf("workload (malloc+free+touch per op), median of %d: %.2f Mops/s plain, %.2f Mops/s "
         "with empty calls, %.2f Mops/s with heap profiling\n"
         "  => throughput ratio %.4f (%.2f%% loss; two empty calls alone: %.2f%%), "
         "%llu samples (sink %llu)\n",
         runs, median(plain, runs) / 1e6, median(calls, runs) / 1e6, median(hooked, runs) / 1e6,
         m_ratio, 100 * (1 - m_ratio), 100 * (1 - m_calls_ratio),
         (unsigned long long)(st1.heap_samples - st0.heap_samples),
         (unsigned long long)(sink & 0xff));

  inprof_stop(5000);
  for (int i = 0; i < POOL; i++) free(pool[i]);
  return 0;
}
