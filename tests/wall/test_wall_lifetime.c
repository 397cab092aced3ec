/*
 * test_wall_lifetime.c - a thread's wall-time is its lifetime within the
 * profile, also for threads born and ended inside it: one thread lives
 * through the whole profile, one is born 1 s in and sleeps 1.5 s before it
 * exits, one is born 0.5 s in and lives to the end. Their wall-time (go
 * tool pprof, per thread name) is checked against the lifetimes the test
 * measured itself, within 5% (the born-late ones are accounted from their
 * start time, a kernel clock tick of 10 ms at most away).
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "wall_util.h"

static _Atomic int stop_flag;

typedef struct life {
  const char *name;
  long sleep_ms;               /* 0: until stop_flag */
  uint64_t born, ended;        /* CLOCK_MONOTONIC */
} life;

static void *run(void *arg) {
  life *l = arg;
  l->born = mono_ns();
  pthread_setname_np(pthread_self(), l->name);
  if (l->sleep_ms) nap_ms(l->sleep_ms);
  else
    while (!stop_flag) nap_ms(20);
  l->ended = mono_ns();
  return NULL;
}

static double thread_wall_ns(const char *file, const char *thread) {
  char focus[128];
  snprintf(focus, sizeof focus, "thread name=^%s$", thread);
  testutil_row rows[512];
  int n = wall_top(file, focus, rows, 512, NULL);
  return n > 0 ? testutil_total(rows, n) : 0;
}

int main(void) {
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "wall-life", "wall-life");
  cfg.wall_hz = 100;
  cfg.upload_period_ms = 600000;
  life whole = {"l-whole", 0, 0, 0}, early = {"l-born", 0, 0, 0}, brief = {"l-brief", 1500, 0, 0};
  pthread_t tw, te, tb;
  REQUIRE(pthread_create(&tw, NULL, run, &whole) == 0);
  nap_ms(100);
  uint64_t start = mono_ns();
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  uint64_t started = mono_ns();
  nap_ms(500);
  REQUIRE(pthread_create(&te, NULL, run, &early) == 0);
  nap_ms(500);
  REQUIRE(pthread_create(&tb, NULL, run, &brief) == 0);
  pthread_join(tb, NULL);
  nap_ms(1000);
  uint64_t stopping = mono_ns();
  REQUIRE(inprof_stop(10000) == INPROF_OK);
  uint64_t stopped = mono_ns();
  stop_flag = 1;
  pthread_join(tw, NULL);
  pthread_join(te, NULL);

  char *prof = testutil_latest_profile(dir);
  REQUIRE(prof);
  /* The profile spans [start of inprof_start, end of inprof_stop]: its
   * exact ends are inside those calls, so the truth is the midpoints. */
  double period = (double)((stopping + stopped) / 2 - (start + started) / 2);
  struct {
    const char *name;
    double truth;
  } want[] = {{"l-whole", period},
              {"l-born", (double)((stopping + stopped) / 2 - early.born)},
              {"l-brief", (double)(brief.ended - brief.born)}};
  for (int i = 0; i < 3; i++) {
    double got = thread_wall_ns(prof, want[i].name);
    printf("%-8s wall-time %.3f s, lifetime in the profile %.3f s\n", want[i].name, got / 1e9,
           want[i].truth / 1e9);
    CHECKF(got > want[i].truth * 0.95 && got < want[i].truth * 1.05, "%s: %.3f s vs %.3f s",
           want[i].name, got / 1e9, want[i].truth / 1e9);
  }
  free(prof);
  free(dir);
  return testutil_done("test_wall_lifetime");
}
