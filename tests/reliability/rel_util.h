/*
 * rel_util.h - shared by the reliability reproducers (issue 10): a watchdog
 * thread that names the phase each thread was in when the test hung, process
 * resource counters (RSS, fds, POSIX timers, threads) and small helpers.
 *
 * The tests assert properties (no hang within a generous bound, no crash,
 * bounded counts), never durations: the CI box is a shared 2-core machine.
 */
#ifndef INPROF_REL_UTIL_H
#define INPROF_REL_UTIL_H

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inprof.h"
#include "testutil.h"

#define REL_MAX_TRACKS 32

/* Allocates size bytes through the hooks `depth` frames down, so heap
 * samples carry deep stacks. */
__attribute__((noinline, unused)) static void *rel_alloc_deep(int depth, size_t size) {
  if (depth > 0) {
    void *p = rel_alloc_deep(depth - 1, size);
    __asm__ volatile("" ::: "memory");
    return p;
  }
  void *p = malloc(size);
  if (p) inprof_record_alloc(p, size);
  return p;
}

#define REL_SANITIZER_BUILD TESTUTIL_SANITIZER_BUILD

/*
 * A track is one thread (or role) the watchdog reports on: its current phase
 * (a string literal, so it can be read racily without tearing) and a progress
 * counter. The watchdog aborts when the whole test exceeds its bound, or when
 * a track that asked for it makes no progress for its stall bound.
 */
typedef struct rel_track {
  const char *name;
  _Atomic(const char *) phase;
  atomic_ullong progress;
  unsigned stall_s; /* 0: only the global bound applies */
  atomic_int ready; /* name and stall_s are written before this is set */
} rel_track;

static rel_track rel_tracks[REL_MAX_TRACKS];
static atomic_int rel_ntracks;
static const char *rel_test_name = "reliability";
static unsigned rel_bound_s;
static atomic_int rel_watchdog_off;

static inline double rel_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline rel_track *rel_track_new(const char *name, unsigned stall_s) {
  int i = atomic_fetch_add(&rel_ntracks, 1);
  if (i >= REL_MAX_TRACKS) {
    fprintf(stderr, "rel_util: too many tracks\n");
    abort();
  }
  rel_tracks[i].name = name;
  rel_tracks[i].stall_s = stall_s;
  atomic_store(&rel_tracks[i].phase, "created");
  atomic_store_explicit(&rel_tracks[i].ready, 1, memory_order_release);
  return &rel_tracks[i];
}

static inline void rel_phase(rel_track *t, const char *phase) {
  atomic_store_explicit(&t->phase, phase, memory_order_relaxed);
}

static inline void rel_progress(rel_track *t) {
  atomic_fetch_add_explicit(&t->progress, 1, memory_order_relaxed);
}

static inline void rel_dump_tracks(FILE *f) {
  int n = atomic_load(&rel_ntracks);
  for (int i = 0; i < n && i < REL_MAX_TRACKS; i++) {
    if (!atomic_load_explicit(&rel_tracks[i].ready, memory_order_acquire)) continue;
    fprintf(f, "  track %-18s phase=%-28s progress=%llu\n", rel_tracks[i].name,
            atomic_load(&rel_tracks[i].phase),
            (unsigned long long)atomic_load(&rel_tracks[i].progress));
  }
}

static inline void rel_fail_hang(const char *what) {
  fprintf(stderr, "\n%s: WATCHDOG: %s\n", rel_test_name, what);
  rel_dump_tracks(stderr);
  fflush(stderr);
  /* A deadlocked host cannot be unwound: abort so ctest sees a failure (and
   * a core can be taken), instead of waiting for ctest's own TIMEOUT. */
  signal(SIGABRT, SIG_DFL);
  abort();
}

static void *rel_watchdog_main(void *arg) {
  (void)arg;
  int n0 = REL_MAX_TRACKS;
  unsigned long long last[REL_MAX_TRACKS] = {0};
  double since[REL_MAX_TRACKS];
  double start = rel_now_s();
  for (int i = 0; i < n0; i++) since[i] = start;
  for (;;) {
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (atomic_load(&rel_watchdog_off)) return NULL;
    double now = rel_now_s();
    if (now - start > rel_bound_s) {
      char msg[160];
      snprintf(msg, sizeof msg, "the test did not finish within %u s (hang)", rel_bound_s);
      rel_fail_hang(msg);
    }
    int n = atomic_load(&rel_ntracks);
    for (int i = 0; i < n && i < REL_MAX_TRACKS; i++) {
      /* A track being created is not watched yet. */
      if (!atomic_load_explicit(&rel_tracks[i].ready, memory_order_acquire)) continue;
      unsigned long long p = atomic_load(&rel_tracks[i].progress);
      if (p != last[i]) {
        last[i] = p;
        since[i] = now;
      } else if (rel_tracks[i].stall_s && now - since[i] > rel_tracks[i].stall_s) {
        char msg[200];
        snprintf(msg, sizeof msg, "track '%s' made no progress for %u s in phase '%s' (hang)",
                 rel_tracks[i].name, rel_tracks[i].stall_s, atomic_load(&rel_tracks[i].phase));
        rel_fail_hang(msg);
      }
    }
  }
}

/* Starts the watchdog; the whole test must end within bound_s seconds. */
static inline void rel_watchdog_start(const char *test, unsigned bound_s) {
  rel_test_name = test;
  rel_bound_s = bound_s;
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  /* The watchdog must not be interrupted by the profiler: a handler stuck in
   * a deadlock would take the watchdog with it. It inherits a full mask. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&t, &a, rel_watchdog_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    fprintf(stderr, "%s: cannot start the watchdog\n", test);
    exit(1);
  }
  pthread_attr_destroy(&a);
}

static inline void rel_watchdog_stop(void) { atomic_store(&rel_watchdog_off, 1); }

/* ----------------------------------------------------- process counters */

static inline long rel_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static inline int rel_count_dir(const char *path, const char *suffix) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    size_t l = strlen(e->d_name), sl = suffix ? strlen(suffix) : 0;
    if (suffix && (l < sl || strcmp(e->d_name + l - sl, suffix))) continue;
    n++;
  }
  closedir(d);
  return n;
}

/* Open fds, not counting the one opendir itself uses. */
static inline int rel_fds(void) {
  int n = rel_count_dir("/proc/self/fd", NULL);
  return n < 0 ? n : n - 1;
}

static inline int rel_threads(void) { return rel_count_dir("/proc/self/task", NULL); }

/* POSIX timers of the process (each "ID:" line of /proc/self/timers), or -1. */
static inline int rel_timers(void) {
  FILE *f = fopen("/proc/self/timers", "re");
  if (!f) return -1;
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "ID:", 3)) n++;
  fclose(f);
  return n;
}

/* Spins for about `seconds` of this thread's CPU time. */
static inline uint64_t rel_spin_cpu(double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
  volatile uint64_t x = 0;
  for (;;) {
    for (int i = 0; i < 20000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    if ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 >= end) break;
  }
  return x;
}

static inline void rel_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

#endif
