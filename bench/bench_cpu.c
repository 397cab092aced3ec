/*
 * bench_cpu.c - the C CPU workload for overhead, capture and fairness, run
 * plain, under inprof, or under gperftools' CPU profiler (libprofiler.so
 * preloaded by the driver with CPUPROFILE set).
 *
 * Each of T threads does the same fixed amount of work (--iters) in its own
 * function bench_work_<i>, about 24 frames deep, so that a profile without
 * thread labels (gperftools') still says which thread a sample belongs to.
 * Times cover thread creation to join; the profiler is started before and
 * stopped (and exported) after, because export cost is measured elsewhere.
 *
 *   bench_cpu --calibrate                     iterations per CPU millisecond
 *   bench_cpu --threads T --iters N --mode off|inprof|gperf [--hz H]
 *             [--outdir DIR] [--period-ms P] [--rss] [--idle-ms MS]
 *   (--idle-ms: the threads sleep instead of working, to measure what the
 *   profiler costs when there is nothing to sample)
 *
 * Prints: RESULT wall_ns= cpu_ns= workers_cpu_ns= [gperf_samples=
 * gperf_period_us= gperf_t<i>=] rss_kib= ... inprof_* counters.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "inprof.h"

#define MAX_THREADS 16
#define DEPTH 12

static uint64_t iters;
static uint64_t idle_ms;               /* --idle-ms: threads sleep instead of working */
static volatile uint64_t sink;

/* The same arithmetic in every thread's leaf; the thread index is mixed in
 * so the compiler cannot fold the functions into one. */
#define SPIN_BODY(k)                                             \
  uint64_t x = seed | 1, acc = (k);                              \
  for (uint64_t i = 0; i < n; i++) {                             \
    for (int j = 0; j < 64; j++) {                               \
      x ^= x << 13;                                              \
      x ^= x >> 7;                                               \
      x ^= x << 17;                                              \
      acc += x * (k + 3);                                        \
    }                                                            \
  }                                                              \
  return acc;

typedef uint64_t (*work_fn)(uint64_t n, uint64_t seed, int depth);

__attribute__((noinline)) static uint64_t descend(work_fn leaf, uint64_t n, uint64_t seed,
                                                   int depth);

#define DEFINE_WORK(k)                                                          \
  __attribute__((noinline)) uint64_t bench_spin_##k(uint64_t n, uint64_t seed); \
  __attribute__((noinline)) uint64_t bench_spin_##k(uint64_t n, uint64_t seed) { \
    SPIN_BODY(k)                                                                \
  }                                                                             \
  __attribute__((noinline)) uint64_t bench_work_##k(uint64_t n, uint64_t seed,  \
                                                    int depth);                 \
  __attribute__((noinline)) uint64_t bench_work_##k(uint64_t n, uint64_t seed,  \
                                                    int depth) {                \
    if (depth > 0) return descend(bench_work_##k, n, seed, depth - 1) + 1;      \
    /* Chunks, so that the loop runs in this thread's leaf but the stack   \
     * below it stays the same. */                                              \
    uint64_t acc = 0;                                                           \
    for (uint64_t done = 0; done < n; done += 64)                               \
      acc += bench_spin_##k(n - done < 64 ? n - done : 64, seed + done);        \
    return acc;                                                                 \
  }

DEFINE_WORK(0) DEFINE_WORK(1) DEFINE_WORK(2) DEFINE_WORK(3)
DEFINE_WORK(4) DEFINE_WORK(5) DEFINE_WORK(6) DEFINE_WORK(7)
DEFINE_WORK(8) DEFINE_WORK(9) DEFINE_WORK(10) DEFINE_WORK(11)
DEFINE_WORK(12) DEFINE_WORK(13) DEFINE_WORK(14) DEFINE_WORK(15)

static const work_fn works[MAX_THREADS] = {
    bench_work_0, bench_work_1, bench_work_2, bench_work_3, bench_work_4, bench_work_5,
    bench_work_6, bench_work_7, bench_work_8, bench_work_9, bench_work_10, bench_work_11,
    bench_work_12, bench_work_13, bench_work_14, bench_work_15};

__attribute__((noinline)) static uint64_t descend(work_fn leaf, uint64_t n, uint64_t seed,
                                                   int depth) {
  uint64_t r = leaf(n, seed, depth);
  __asm__ volatile("" ::: "memory");   /* no tail call: keep the frame */
  return r;
}

typedef struct worker {
  pthread_t thread;
  int index;
  uint64_t cpu_ns;                     /* getrusage(RUSAGE_THREAD) at the end */
} worker;

static void (*register_thread)(void);  /* gperftools' ProfilerRegisterThread */

static void *worker_main(void *arg) {
  worker *w = arg;
  char name[16];
  snprintf(name, sizeof name, "bw-%d", w->index);
  pthread_setname_np(pthread_self(), name);
  if (register_thread) register_thread();
  if (idle_ms) {
    struct timespec ts = {(time_t)(idle_ms / 1000), (long)(idle_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
  } else {
    sink += works[w->index](iters, (uint64_t)w->index * 7919, DEPTH);
  }
  w->cpu_ns = bench_rusage_ns(RUSAGE_THREAD);
  return NULL;
}

/* gperftools' legacy CPU profile: a header of 5 words (0, 3, 0, period in
 * us, 0), then records (count, n, pc[n]) and a (0, 1, 0) trailer. Samples
 * are attributed to a thread by the bench_work_<i> function on their stack. */
static int read_gperf(const char *path, int nthreads, uint64_t *per_thread,
                      uint64_t *total, uint64_t *period_us) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uintptr_t hdr[5];
  if (fread(hdr, sizeof hdr[0], 5, f) != 5 || hdr[0] != 0 || hdr[1] != 3) {
    fclose(f);
    return -1;
  }
  *period_us = hdr[3];
  *total = 0;
  for (;;) {
    uintptr_t rec[2];
    if (fread(rec, sizeof rec[0], 2, f) != 2) break;
    uintptr_t count = rec[0], n = rec[1];
    uintptr_t pcs[256];
    if (n > 256) break;
    if (fread(pcs, sizeof pcs[0], n, f) != n) break;
    if (count == 0 && n == 1 && pcs[0] == 0) break;   /* trailer */
    *total += count;
    for (uintptr_t i = 0; i < n; i++) {
      Dl_info info;
      if (!dladdr((void *)(pcs[i] - (i > 0)), &info) || !info.dli_sname) continue;
      int k;
      if (sscanf(info.dli_sname, "bench_work_%d", &k) == 1 && k >= 0 && k < nthreads) {
        per_thread[k] += count;
        break;
      }
    }
  }
  fclose(f);
  return 0;
}

static uint64_t calibrate(void) {
  /* Iterations per CPU millisecond, best of a few tries. */
  uint64_t best = 0;
  for (int t = 0; t < 5; t++) {
    uint64_t n = 2000, t0 = bench_ns(CLOCK_THREAD_CPUTIME_ID);
    sink += bench_work_0(n, 1, 0);
    uint64_t dt = bench_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
    uint64_t per_ms = dt ? n * 1000000u / dt : 0;
    if (per_ms > best) best = per_ms;
  }
  return best;
}

int main(int argc, char **argv) {
  int nthreads = 2, hz = 99, want_rss = 0;
  const char *mode = "off", *outdir = NULL;
  uint32_t period_ms = 3600000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--calibrate")) {
      printf("RESULT iters_per_ms=%llu\n", (unsigned long long)calibrate());
      return 0;
    } else if (!strcmp(a, "--rss")) {
      want_rss = 1;
    } else if (v && !strcmp(a, "--threads")) {
      nthreads = atoi(v), i++;
    } else if (v && !strcmp(a, "--idle-ms")) {
      idle_ms = strtoull(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--iters")) {
      iters = strtoull(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--mode")) {
      mode = v, i++;
    } else if (v && !strcmp(a, "--hz")) {
      hz = atoi(v), i++;
    } else if (v && !strcmp(a, "--outdir")) {
      outdir = v, i++;
    } else if (v && !strcmp(a, "--period-ms")) {
      period_ms = (uint32_t)strtoul(v, NULL, 10), i++;
    } else {
      bench_die("bad argument %s", a);
    }
  }
  if (nthreads < 1 || nthreads > MAX_THREADS || (iters == 0 && idle_ms == 0))
    bench_die("need --threads 1..16 and --iters or --idle-ms");

  int use_inprof = !strcmp(mode, "inprof"), use_gperf = !strcmp(mode, "gperf");
  if (!use_inprof && !use_gperf && strcmp(mode, "off")) bench_die("bad mode %s", mode);
  void (*gperf_stop)(void) = NULL;
  static char gperf_path_buf[4096];
  const char *gperf_path = NULL;
  if (use_gperf && getenv("CPUPROFILE")) {
    /* libprofiler's constructor sets the top bit of the first character of
     * CPUPROFILE in the environment (so that children do not profile into
     * the same file); undo that on our copy. */
    snprintf(gperf_path_buf, sizeof gperf_path_buf, "%s", getenv("CPUPROFILE"));
    gperf_path_buf[0] = (char)(gperf_path_buf[0] & 0x7f);
    gperf_path = gperf_path_buf;
  }
  if (use_gperf) {
    register_thread = (void (*)(void))dlsym(RTLD_DEFAULT, "ProfilerRegisterThread");
    gperf_stop = (void (*)(void))dlsym(RTLD_DEFAULT, "ProfilerStop");
    if (!register_thread || !gperf_stop || !gperf_path)
      bench_die("gperf mode needs libprofiler.so preloaded and CPUPROFILE set");
  }
  if (use_inprof) {
    inprof_config cfg;
    inprof_config_init(&cfg);
    cfg.cpu_hz = (uint32_t)hz;
    cfg.heap_sample_bytes = 0;
    cfg.output_dir = outdir;
    cfg.upload = INPROF_UPLOAD_OFF;
    cfg.upload_period_ms = period_ms;
    cfg.service = "bench_cpu";
    inprof_status st = inprof_start(&cfg);
    if (st != INPROF_OK) bench_die("inprof_start: %s", inprof_last_error());
  }

  worker w[MAX_THREADS];
  uint64_t wall0 = bench_ns(CLOCK_MONOTONIC), cpu0 = bench_rusage_ns(RUSAGE_SELF);
  for (int i = 0; i < nthreads; i++) {
    w[i].index = i;
    w[i].cpu_ns = 0;
    if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) bench_die("pthread_create");
  }
  for (int i = 0; i < nthreads; i++) pthread_join(w[i].thread, NULL);
  uint64_t wall = bench_ns(CLOCK_MONOTONIC) - wall0, cpu = bench_rusage_ns(RUSAGE_SELF) - cpu0;
  uint64_t rss = want_rss ? bench_status_kib("VmRSS") : 0;
  uint64_t workers_cpu = 0;
  for (int i = 0; i < nthreads; i++) workers_cpu += w[i].cpu_ns;

  printf("RESULT mode=%s threads=%d hz=%d wall_ns=%llu cpu_ns=%llu workers_cpu_ns=%llu rss_kib=%llu",
         mode, nthreads, hz, (unsigned long long)wall, (unsigned long long)cpu,
         (unsigned long long)workers_cpu, (unsigned long long)rss);
  for (int i = 0; i < nthreads; i++) printf(" cpu_t%d=%llu", i, (unsigned long long)w[i].cpu_ns);
  if (use_inprof) {
    inprof_statistics s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    inprof_stats(&s);
    inprof_status st = inprof_stop(30000);
    printf(" inprof_samples=%llu inprof_dropped=%llu inprof_overruns=%llu inprof_stop=%d",
           (unsigned long long)s.cpu_samples, (unsigned long long)s.cpu_samples_dropped,
           (unsigned long long)s.cpu_timer_overruns, st);
  }
  if (use_gperf) {
    gperf_stop();
    uint64_t per[MAX_THREADS] = {0}, total = 0, period = 0;
    if (read_gperf(gperf_path, nthreads, per, &total, &period) != 0)
      bench_die("cannot read the gperftools profile %s", gperf_path);
    printf(" gperf_samples=%llu gperf_period_us=%llu", (unsigned long long)total,
           (unsigned long long)period);
    for (int i = 0; i < nthreads; i++) printf(" gperf_t%d=%llu", i, (unsigned long long)per[i]);
  }
  printf("\n");
  return 0;
}
