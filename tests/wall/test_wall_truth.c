/*
 * test_wall_truth.c - wall-time with known truth. Six threads live through
 * the whole profile: one sleeps (nanosleep), one waits on a mutex, one on a
 * pipe read, one burns CPU, one spends a quarter of its wall time burning
 * and three quarters sleeping (by the wall clock, whatever the machine's
 * load), and the main thread sleeps. Checked with go tool pprof:
 *  - each function's share of wall-time within 5 percentage points of the
 *    truth (1/6 per whole thread; 1/24 and 3/24 for the mixed one);
 *  - each thread's wall-time within 5% of the profile's duration.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "cpu/wall.h"
#include "wall_util.h"

#define RUN_MS 4000

static _Atomic int stop_flag;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static int pipefd[2];

__attribute__((noinline)) void wt_sleep_fn(void) {
  while (!stop_flag) nap_ms(50);
}
__attribute__((noinline)) void wt_mutex_fn(void) {
  pthread_mutex_lock(&held);
  pthread_mutex_unlock(&held);
}
__attribute__((noinline)) void wt_pipe_fn(void) {
  char c;
  (void)!read(pipefd[0], &c, 1);
}
static volatile uint64_t sink;
__attribute__((noinline)) void wt_burn_fn(void) {
  while (!stop_flag)
    for (int i = 0; i < 100000; i++) sink = sink * 6364136223846793005ull + 1;
}
/* Burns until `ms` of wall time passed: a known share of wall time
 * whatever the load. */
__attribute__((noinline)) void wt_mixed_burn(long ms) {
  uint64_t end = mono_ns() + (uint64_t)ms * 1000000u;
  while (mono_ns() < end)
    for (int i = 0; i < 1000; i++) sink = sink * 6364136223846793005ull + 1;
}
__attribute__((noinline)) void wt_mixed_sleep(long ms) { nap_ms(ms); }
__attribute__((noinline)) void wt_mixed_fn(void) {
  while (!stop_flag) {
    wt_mixed_burn(10);
    wt_mixed_sleep(30);
  }
}
__attribute__((noinline)) void wt_main_wait(void) { nap_ms(RUN_MS); }

typedef struct job {
  const char *name;
  void (*fn)(void);
} job;

static void *run_job(void *arg) {
  const job *j = arg;
  pthread_setname_np(pthread_self(), j->name);
  j->fn();
  return NULL;
}

/* pprof -top of wall-time, optionally only one thread's samples; returns
 * rows and the profile's duration (ns) from the header. */
static int top(const char *file, const char *thread, testutil_row *rows, int max,
               double *duration_ns) {
  char focus[128];
  if (thread) snprintf(focus, sizeof focus, "thread name=^%s$", thread);
  return wall_top(file, thread ? focus : NULL, rows, max, duration_ns);
}

static double cum_of(const testutil_row *rows, int n, const char *fn) {
  double v = 0;
  for (int i = 0; i < n; i++)
    if (strstr(rows[i].name, fn) && rows[i].cum > v) v = rows[i].cum;
  return v;
}

int main(void) {
  REQUIRE(pipe(pipefd) == 0);
  pthread_mutex_lock(&held);
  static const job jobs[] = {{"w-sleep", wt_sleep_fn}, {"w-mutex", wt_mutex_fn},
                             {"w-pipe", wt_pipe_fn},   {"w-burn", wt_burn_fn},
                             {"w-mixed", wt_mixed_fn}};
  enum { NJOBS = sizeof jobs / sizeof *jobs };
  pthread_t th[NJOBS];
  for (int i = 0; i < NJOBS; i++)
    REQUIRE(pthread_create(&th[i], NULL, run_job, (void *)&jobs[i]) == 0);
  pthread_setname_np(pthread_self(), "w-main");
  nap_ms(100); /* every thread named and in place */

  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "wall-truth", "wall-truth");
  cfg.wall_hz = 100;
  cfg.cpu_hz = 499;
  cfg.upload_period_ms = 600000;
  cfg.timeline_enabled = 0;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  wt_main_wait();
  REQUIRE(inprof_stop(10000) == INPROF_OK);

  stop_flag = 1;
  pthread_mutex_unlock(&held);
  (void)!write(pipefd[1], "x", 1);
  for (int i = 0; i < NJOBS; i++) pthread_join(th[i], NULL);

  inprof__wall_counts wc;
  inprof__wall_get_counts(&wc);
  printf("visits %llu read %llu reused %llu running %llu torn %llu samples %llu\n",
         (unsigned long long)wc.visits, (unsigned long long)wc.read,
         (unsigned long long)wc.reused, (unsigned long long)wc.running,
         (unsigned long long)wc.torn, (unsigned long long)wc.samples);

  char *prof = testutil_latest_profile(dir);
  REQUIRE(prof);
  testutil_row rows[2048];
  double duration = 0;
  int n = top(prof, NULL, rows, 2048, &duration);
  REQUIRE(n > 0);
  double total = testutil_total(rows, n);
  CHECK(duration > 0);
  printf("duration %.3f s, total wall-time %.3f s\n", duration / 1e9, total / 1e9);
  /* Six threads through the whole profile. */
  CHECKF(total > 6 * duration * 0.95 && total < 6 * duration * 1.05,
         "total wall-time %.3f s, 6 x duration %.3f s", total / 1e9, 6 * duration / 1e9);
  static const struct {
    const char *fn;
    double share;
  } want[] = {{"wt_sleep_fn", 1 / 6.0},        {"wt_mutex_fn", 1 / 6.0},
              {"wt_pipe_fn", 1 / 6.0},         {"wt_burn_fn", 1 / 6.0},
              {"wt_mixed_burn", 1 / 24.0},     {"wt_mixed_sleep", 3 / 24.0},
              {"wt_main_wait", 1 / 6.0}};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    double share = total > 0 ? cum_of(rows, n, want[i].fn) / total : 0;
    printf("%-16s wall share %5.1f%% (truth %5.1f%%)\n", want[i].fn, 100 * share,
           100 * want[i].share);
    CHECKF(share > want[i].share - 0.05 && share < want[i].share + 0.05, "%s: %.1f%% vs %.1f%%",
           want[i].fn, 100 * share, 100 * want[i].share);
  }
  static const char *const names[] = {"w-sleep", "w-mutex", "w-pipe",
                                      "w-burn",  "w-mixed", "w-main"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    testutil_row trows[512];
    int tn = top(prof, names[i], trows, 512, NULL);
    double t = tn > 0 ? testutil_total(trows, tn) : 0;
    printf("thread %-8s wall-time %.3f s of %.3f s\n", names[i], t / 1e9, duration / 1e9);
    CHECKF(t > duration * 0.95 && t < duration * 1.05, "thread %s: %.3f s of %.3f s", names[i],
           t / 1e9, duration / 1e9);
  }
  free(prof);
  return testutil_done("test_wall_truth");
}
