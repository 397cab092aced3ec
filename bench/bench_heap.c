/*
 * bench_heap.c - cost of inprof's allocator hooks.
 *
 *   bench_heap --fastpath [--pairs N]
 *     ns added per inprof_record_alloc + inprof_record_free pair with heap
 *     profiling running at 512 KiB: the same loop of malloc(64)/free with
 *     and without the hooks (blocks from a small pool, so malloc is hot);
 *     the rare sampled allocation is included, as a host would see it.
 *
 *   bench_heap --mode none|hooks-off|inprof [--rate BYTES] --threads T --ops N
 *     An allocation-heavy workload: each thread replaces random blocks of a
 *     256-entry working set with new blocks of mixed sizes (16 B..64 KiB,
 *     mostly small). none: plain malloc/free; hooks-off: hooks called but the
 *     profiler never started; inprof: heap profiling at --rate (CPU off).
 *     The driver also runs `none` under tcmalloc (LD_PRELOAD) with and
 *     without its own sampling, for comparison.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "inprof.h"

static int hooks;
static uint64_t ops;
static volatile uint64_t sink;

static inline uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static size_t pick_size(uint64_t r) {
  unsigned k = (unsigned)(r >> 56);
  if (k < 200) return 16 + (size_t)(r % 256);          /* 78%: 16..271 B */
  if (k < 250) return 256 + (size_t)(r % 3840);        /* 20%: up to 4 KiB */
  return 4096 + (size_t)(r % (60 * 1024));             /*  2%: up to 64 KiB */
}

typedef struct worker {
  pthread_t thread;
  uint64_t seed, bytes;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  void *slots[256] = {0};
  uint64_t s = w->seed | 1, bytes = 0;
  for (uint64_t i = 0; i < ops; i++) {
    uint64_t r = xorshift(&s);
    unsigned k = (unsigned)(r & 255);
    if (slots[k]) {
      if (hooks) inprof_record_free(slots[k]);
      free(slots[k]);
    }
    size_t sz = pick_size(r);
    char *p = malloc(sz);
    if (!p) bench_die("malloc");
    if (hooks) inprof_record_alloc(p, sz);
    p[0] = (char)i;                    /* touch it, as a program would */
    slots[k] = p;
    bytes += sz;
  }
  for (int k = 0; k < 256; k++) {
    if (!slots[k]) continue;
    if (hooks) inprof_record_free(slots[k]);
    free(slots[k]);
  }
  w->bytes = bytes;
  return NULL;
}

__attribute__((noinline)) static uint64_t pairs_loop(uint64_t n, int with_hooks, void **pool) {
  uint64_t t0 = bench_ns(CLOCK_MONOTONIC);
  for (uint64_t i = 0; i < n; i++) {
    void *p = malloc(64);
    if (with_hooks) inprof_record_alloc(p, 64);
    pool[i & 15] = p;
    __asm__ volatile("" ::: "memory");
    if (with_hooks) inprof_record_free(p);
    free(p);
  }
  return bench_ns(CLOCK_MONOTONIC) - t0;
}

static int fastpath(uint64_t n) {
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 0;
  cfg.heap_sample_bytes = INPROF_DEFAULT_HEAP_SAMPLE_BYTES;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.upload_period_ms = 3600000;
  if (inprof_start(&cfg) != INPROF_OK) bench_die("inprof_start: %s", inprof_last_error());
  void *pool[16];
  enum { REPS = 15 };
  uint64_t with[REPS], without[REPS], diff[REPS];
  pairs_loop(n / 4, 1, pool);          /* warm up */
  pairs_loop(n / 4, 0, pool);
  for (int r = 0; r < REPS; r++) {
    /* Alternate, so that frequency changes hit both. */
    with[r] = pairs_loop(n, 1, pool);
    without[r] = pairs_loop(n, 0, pool);
    diff[r] = with[r] > without[r] ? with[r] - without[r] : 0;
  }
  inprof_statistics st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  inprof_stats(&st);
  inprof_stop(10000);
  double per = 1.0 / (double)n;
  printf("RESULT fastpath=1 pairs=%llu added_ns_per_pair=%.3f with_ns_per_pair=%.3f "
         "without_ns_per_pair=%.3f heap_samples=%llu\n",
         (unsigned long long)n, (double)bench_quantile(diff, REPS, 0.5) * per,
         (double)bench_quantile(with, REPS, 0.5) * per,
         (double)bench_quantile(without, REPS, 0.5) * per,
         (unsigned long long)st.heap_samples);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = "none";
  uint64_t rate = INPROF_DEFAULT_HEAP_SAMPLE_BYTES, pairs = 20000000;
  int nthreads = 2, fast = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--fastpath")) fast = 1;
    else if (v && !strcmp(a, "--pairs")) pairs = strtoull(v, NULL, 10), i++;
    else if (v && !strcmp(a, "--mode")) mode = v, i++;
    else if (v && !strcmp(a, "--rate")) rate = strtoull(v, NULL, 10), i++;
    else if (v && !strcmp(a, "--threads")) nthreads = atoi(v), i++;
    else if (v && !strcmp(a, "--ops")) ops = strtoull(v, NULL, 10), i++;
    else bench_die("bad argument %s", a);
  }
  if (fast) return fastpath(pairs);
  if (nthreads < 1 || nthreads > 64 || ops == 0) bench_die("need --threads and --ops");

  if (!strcmp(mode, "inprof")) {
    hooks = 1;
    inprof_config cfg;
    inprof_config_init(&cfg);
    cfg.cpu_hz = 0;
    cfg.heap_sample_bytes = rate;
    cfg.upload = INPROF_UPLOAD_OFF;
    cfg.upload_period_ms = 3600000;
    if (inprof_start(&cfg) != INPROF_OK) bench_die("inprof_start: %s", inprof_last_error());
  } else if (!strcmp(mode, "hooks-off")) {
    hooks = 1;
  } else if (strcmp(mode, "none")) {
    bench_die("bad mode %s", mode);
  }

  worker w[64];
  uint64_t wall0 = bench_ns(CLOCK_MONOTONIC), cpu0 = bench_rusage_ns(RUSAGE_SELF);
  for (int i = 0; i < nthreads; i++) {
    w[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
  }
  uint64_t bytes = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(w[i].thread, NULL);
    bytes += w[i].bytes;
  }
  uint64_t wall = bench_ns(CLOCK_MONOTONIC) - wall0, cpu = bench_rusage_ns(RUSAGE_SELF) - cpu0;
  inprof_statistics st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  inprof_stats(&st);
  printf("RESULT mode=%s rate=%llu threads=%d ops=%llu bytes=%llu wall_ns=%llu cpu_ns=%llu "
         "heap_samples=%llu heap_dropped=%llu\n",
         mode, (unsigned long long)rate, nthreads, (unsigned long long)(ops * (uint64_t)nthreads),
         (unsigned long long)bytes, (unsigned long long)wall, (unsigned long long)cpu,
         (unsigned long long)st.heap_samples, (unsigned long long)st.heap_samples_dropped);
  if (hooks && inprof_is_running()) inprof_stop(10000);
  return 0;
}
