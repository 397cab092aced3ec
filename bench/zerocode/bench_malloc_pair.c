/*
 * bench_malloc_pair.c - cost of the zero-code interposer: ns per malloc+free
 * pair on the fast path (unsampled sizes, one thread), and the throughput of
 * an allocation-heavy loop. Never linked with inprof: run.sh runs it plain,
 * with libinprof-preload.so preloaded but profiling off (interposer only),
 * and under inprof-run at the default 512 KiB rate.
 *
 * Output: "pair_ns <median of runs>" and "mix_ops_per_s <median>".
 *
 * Times are CPU times, not wall time: on a shared machine the wall clock
 * mostly measures the scheduler. The pair loop uses this thread's CPU clock
 * (the fast path is what this thread pays); the mixed loop the process's, so
 * that the profiler's own threads (collector, CPU sampling) count against it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Keeps the compiler from pairing malloc with free away. */
static void *volatile sink;

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 9;
  if (runs < 1 || runs > 99) runs = 9;
  enum { PAIRS = 20000000, MIX = 4000000, SLOTS = 4096 };
  double pair[99], mix[99];
  static void *slot[SLOTS];
  for (int r = 0; r < runs; r++) {
    uint64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < PAIRS; i++) {
      void *p = malloc(64);
      sink = p;
      free(p);
    }
    pair[r] = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / PAIRS;

    /* A mixed workload: sizes 16..4 KiB, blocks living a while. */
    uint64_t x = 88172645463325252ull;
    t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < MIX; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      unsigned k = (unsigned)(x % SLOTS);
      free(slot[k]);
      slot[k] = malloc(16 + (x >> 20) % 4080);
    }
    mix[r] = MIX / ((double)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - t0) / 1e9);
  }
  for (int k = 0; k < SLOTS; k++) free(slot[k]);
  qsort(pair, (size_t)runs, sizeof *pair, cmp);
  qsort(mix, (size_t)runs, sizeof *mix, cmp);
  printf("pair_ns %.2f\nmix_ops_per_s %.0f\n", pair[runs / 2], mix[runs / 2]);
  return 0;
}
