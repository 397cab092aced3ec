/*
 * bench_idle - what the profiler costs a process that does nothing (issue
 * 15): CPU time and wakeups of inprof's own threads (every thread named
 * inprof-*: the collector, the upload thread) while the host sleeps.
 *
 * CPU is read exactly from each thread's CPU clock (clock_gettime on the
 * thread's clock id, the same clock the sampler uses), wakeups from
 * voluntary + nonvoluntary context switches in /proc/self/task/<tid>/status
 * (every sleep that ends is one). The profiler runs with its defaults (CPU
 * 99 Hz, heap on, files) plus an upload thread pointed at a closed local
 * port, so every thread it can start is there. Nothing is exported during
 * the window (the period is longer), so this is the steady idle cost.
 *
 * Before issue 15 the collector woke every 20 ms: about 50 wakeups/s and
 * ~5 ms of CPU per second (BENCHMARKS.md of that time); both numbers are
 * printed for reference, since the old code is not in this binary.
 *
 * Usage: bench_idle [seconds] [--markdown]
 * Prints one RESULT line; with --markdown also the BENCHMARKS.md section.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "inprof.h"

#define MAX_T 64
#define OLD_CPU_MS_PER_S 5.0
#define OLD_WAKEUPS_PER_S 50.0

typedef struct snap {
  int n;
  unsigned tid[MAX_T];
  char name[MAX_T][16];
  uint64_t cpu_ns[MAX_T];
  uint64_t switches[MAX_T];
} snap;

static uint64_t thread_cpu_ns(unsigned tid) {
  /* CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD for another thread of ours. */
  clockid_t clk = (clockid_t)((~tid) << 3) | 6;
  struct timespec ts;
  if (clock_gettime(clk, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_switches(unsigned tid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/task/%u/status", tid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  uint64_t total = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
        sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
      total += v;
  }
  fclose(f);
  return total;
}

static void take(snap *s) {
  s->n = 0;
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) && s->n < MAX_T) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    unsigned tid = (unsigned)strtoul(e->d_name, NULL, 10);
    char path[64], comm[16] = "";
    snprintf(path, sizeof path, "/proc/self/task/%u/comm", tid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    comm[strcspn(comm, "\n")] = 0;
    if (strncmp(comm, "inprof-", 7) != 0) continue;
    int i = s->n++;
    s->tid[i] = tid;
    memcpy(s->name[i], comm, sizeof comm);
    s->cpu_ns[i] = thread_cpu_ns(tid);
    s->switches[i] = thread_switches(tid);
  }
  closedir(d);
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

int main(int argc, char **argv) {
  double seconds = 5;
  int markdown = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--markdown")) markdown = 1;
    else seconds = atof(argv[i]);
  }
  if (seconds <= 0) seconds = 5;

  char dir[] = "/tmp/inprof-bench-idle-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.output_dir = dir;
  cfg.upload = INPROF_UPLOAD_ON;
  cfg.agent_url = "http://127.0.0.1:9";   /* never reached: no export in the window */
  cfg.upload_period_ms = (uint32_t)(seconds * 1000) + 60000;
  cfg.log_level = 1; /* the final upload at stop fails by design: no warning */
  if (inprof_start(&cfg) != INPROF_OK) {
    fprintf(stderr, "bench_idle: inprof_start: %s\n", inprof_last_error());
    return 1;
  }
  sleep_s(1.0); /* start's own work (first scan, unwind tables) is past */
  snap a, b;
  take(&a);
  uint64_t t0 = bench_ns(CLOCK_MONOTONIC);
  sleep_s(seconds);
  uint64_t t1 = bench_ns(CLOCK_MONOTONIC);
  take(&b);
  inprof_stop(5000);

  double wall = (double)(t1 - t0) / 1e9, cpu_ms = 0, wakeups = 0;
  char names[256] = "";
  for (int i = 0; i < b.n; i++)
    for (int j = 0; j < a.n; j++) {
      if (a.tid[j] != b.tid[i]) continue;
      cpu_ms += (double)(b.cpu_ns[i] - a.cpu_ns[j]) / 1e6;
      wakeups += (double)(b.switches[i] - a.switches[j]);
      size_t len = strlen(names);
      snprintf(names + len, sizeof names - len, "%s%s", len ? "," : "", b.name[i]);
    }
  double cpu_per_s = cpu_ms / wall, wake_per_s = wakeups / wall;
  printf("RESULT bench=idle seconds=%.2f threads=%s cpu_ms_per_s=%.4f wakeups_per_s=%.2f "
         "old_cpu_ms_per_s=%.1f old_wakeups_per_s=%.0f\n",
         wall, names, cpu_per_s, wake_per_s, OLD_CPU_MS_PER_S, OLD_WAKEUPS_PER_S);
  if (markdown) {
    printf("\n## Idle cost\n\n"
           "A process that sleeps with the profiler on (defaults: CPU 99 Hz, heap on, files, "
           "plus an upload thread), %.0f s window after 1 s of start-up, no export inside it. "
           "CPU from the CPU clocks of inprof's own threads (%s), wakeups from their context "
           "switches. Targets (issue 15): <= 0.5 ms/s, <= 2 wakeups/s.\n\n"
           "| | profiler CPU, ms per s | wakeups per s |\n|---|---|---|\n"
           "| now | %.3f | %.2f |\n"
           "| before issue 15 (fixed 20 ms tick, for reference) | ~%.0f | ~%.0f |\n\n"
           "`build-bench/c/bench_idle %.0f --markdown` (bench/run.sh runs it).\n",
           wall, names, cpu_per_s, wake_per_s, OLD_CPU_MS_PER_S, OLD_WAKEUPS_PER_S, wall);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) {
  }
  return 0;
}
