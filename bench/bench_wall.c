/*
 * bench_wall - what wall-time profiling (issue 14) costs, side by side with
 * CPU-only profiling in one run: for N mostly idle threads (each wakes once
 * a second, does a few microseconds of work, sleeps again: a waiting pool)
 * and for 8 busy threads, the profiler's own CPU (every inprof-* thread's
 * CPU clock) as a share of one core and the signals sent per second (CPU
 * timer expirations: the wall sampler sends none), with CPU only (99 Hz)
 * and with CPU + wall at the given rate. A last case, 16 threads that wake
 * every 2 ms so that their CPU clock always moved and every visit reads the
 * stack from outside, gives the cost of one such read (/proc syscall file
 * twice, process_vm_readv, the walk), as profiler CPU per visit.
 *
 * Usage: bench_wall [seconds per case, default 4] [wall Hz, default 100]
 *                   [--markdown]
 * Prints RESULT lines; with --markdown also the BENCHMARKS.md rows.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cpu/wall.h"
#include "inprof.h"

static _Atomic int stop_flag;
static volatile uint64_t sink;

static uint64_t thread_cpu_ns(unsigned tid) {
  clockid_t clk = (clockid_t)((~tid) << 3) | 6; /* another thread's CPU clock */
  struct timespec ts;
  if (clock_gettime(clk, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU of every inprof-* thread now alive (the threads stay for a case). */
static uint64_t profiler_cpu_ns(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return 0;
  uint64_t sum = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    unsigned tid = (unsigned)strtoul(e->d_name, NULL, 10);
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%u/comm", tid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    if (!strncmp(comm, "inprof-", 7)) sum += thread_cpu_ns(tid);
  }
  closedir(d);
  return sum;
}

static void nap_ns(uint64_t ns) {
  struct timespec d = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&d, NULL);
}

typedef struct worker {
  pthread_t th;
  uint64_t period_ns;  /* 0: burn */
} worker;

static void *work(void *arg) {
  worker *w = arg;
  while (!stop_flag) {
    if (w->period_ns == 0) {
      for (int i = 0; i < 100000; i++) sink = sink * 6364136223846793005ull + 1;
    } else {
      for (int i = 0; i < 2000; i++) sink = sink * 6364136223846793005ull + 1;
      nap_ns(w->period_ns);
    }
  }
  return NULL;
}

typedef struct result {
  double cpu_pct;      /* profiler CPU, % of one core */
  double signals_s;    /* CPU timer signals per second */
  double visits_s, reads_s;
  double us_per_visit; /* profiler CPU per wall visit (wall on) */
  double scans_s;      /* wall sampler's /proc/self/task scans */
} result;

static result run_case(int nthreads, uint64_t period_ns, uint32_t wall_hz, double secs) {
  worker *ws = calloc((size_t)nthreads, sizeof *ws);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  stop_flag = 0;
  for (int i = 0; i < nthreads; i++) {
    ws[i].period_ns = period_ns;
    if (pthread_create(&ws[i].th, &attr, work, &ws[i]) != 0) {
      fprintf(stderr, "pthread_create failed at %d\n", i);
      exit(1);
    }
  }
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.heap_sample_bytes = 0;
  cfg.upload_period_ms = 3600 * 1000; /* no export inside the window */
  cfg.wall_hz = wall_hz;
  if (inprof_start(&cfg) != INPROF_OK) {
    fprintf(stderr, "inprof_start: %s\n", inprof_last_error());
    exit(1);
  }
  nap_ns(500000000u); /* threads found, first stacks read */
  inprof_statistics st0 = {.struct_size = sizeof st0}, st1 = {.struct_size = sizeof st1};
  inprof__wall_counts w0, w1;
  inprof_stats(&st0);
  inprof__wall_get_counts(&w0);
  uint64_t c0 = profiler_cpu_ns(), t0 = bench_ns(CLOCK_MONOTONIC);
  nap_ns((uint64_t)(secs * 1e9));
  uint64_t c1 = profiler_cpu_ns(), t1 = bench_ns(CLOCK_MONOTONIC);
  inprof_stats(&st1);
  inprof__wall_get_counts(&w1);
  inprof_stop(10000);
  stop_flag = 1;
  for (int i = 0; i < nthreads; i++) pthread_join(ws[i].th, NULL);
  free(ws);
  double wall = (double)(t1 - t0);
  result r = {
      .cpu_pct = 100.0 * (double)(c1 - c0) / wall,
      .signals_s = (double)(st1.cpu_samples + st1.cpu_samples_dropped - st0.cpu_samples -
                            st0.cpu_samples_dropped) / (wall / 1e9),
      .visits_s = (double)(w1.visits - w0.visits) / (wall / 1e9),
      .reads_s = (double)(w1.read - w0.read) / (wall / 1e9),
  };
  r.scans_s = (double)(w1.scans - w0.scans) / (wall / 1e9);
  r.us_per_visit = w1.visits > w0.visits ? (double)(c1 - c0) / 1e3 / (double)(w1.visits - w0.visits)
                                          : 0;
  return r;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 4;
  uint32_t hz = argc > 2 ? (uint32_t)atoi(argv[2]) : 100;
  int markdown = argc > 3 && !strcmp(argv[3], "--markdown");
  if (secs <= 0) secs = 4;
  if (hz == 0) hz = 100;
  static const struct {
    const char *name;
    int n;
    uint64_t period_ns;
  } cases[] = {{"8 idle", 8, 1000000000u},
               {"64 idle", 64, 1000000000u},
               {"512 idle", 512, 1000000000u},
               {"8 busy", 8, 0}};
  if (markdown) {
    printf("| threads | profiler CPU, CPU only | profiler CPU, CPU + wall %u Hz | "
           "signals/s CPU only | signals/s CPU + wall | wall visits/s | stack reads/s |\n",
           hz);
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  }
  /* BENCH_WALL_CASE=<index>: that case only, wall on (for perf record). */
  const char *only = getenv("BENCH_WALL_CASE");
  if (only) {
    size_t i = (size_t)atoi(only) % (sizeof cases / sizeof *cases);
    result on = run_case(cases[i].n, cases[i].period_ns, hz, secs);
    printf("RESULT case=\"%s\" wall_hz=%u wall_pct=%.3f visits_s=%.0f us_per_visit=%.1f "
           "scans_s=%.1f\n",
           cases[i].name, hz, on.cpu_pct, on.visits_s, on.us_per_visit, on.scans_s);
    return 0;
  }
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    result off = run_case(cases[i].n, cases[i].period_ns, 0, secs);
    result on = run_case(cases[i].n, cases[i].period_ns, hz, secs);
    printf("RESULT case=\"%s\" wall_hz=%u cpu_only_pct=%.3f wall_pct=%.3f signals_s_cpu_only=%.0f "
           "signals_s_wall=%.0f visits_s=%.0f reads_s=%.0f\n",
           cases[i].name, hz, off.cpu_pct, on.cpu_pct, off.signals_s, on.signals_s, on.visits_s,
           on.reads_s);
    if (markdown)
      printf("| %s | %.2f%% | %.2f%% | %.0f | %.0f | %.0f | %.0f |\n", cases[i].name, off.cpu_pct,
             on.cpu_pct, off.signals_s, on.signals_s, on.visits_s, on.reads_s);
    fflush(stdout);
  }
  /* Every visit reads: threads wake every 2 ms, CPU profiling off. */
  result rd = run_case(16, 2000000u, hz, secs);
  printf("RESULT case=\"16 waking, wall only\" wall_hz=%u wall_pct=%.3f visits_s=%.0f reads_s=%.0f "
         "us_per_visit=%.1f\n",
         hz, rd.cpu_pct, rd.visits_s, rd.reads_s, rd.us_per_visit);
  if (markdown)
    printf("\nOne stack read from outside (16 threads waking every 2 ms, wall only, %u Hz): "
           "%.0f visits/s, %.0f reads/s, profiler CPU %.2f%% of a core, %.1f us per visit.\n",
           hz, rd.visits_s, rd.reads_s, rd.cpu_pct, rd.us_per_visit);
  return 0;
}
