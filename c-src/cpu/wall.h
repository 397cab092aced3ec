/*
 * cpu/wall.h - the wall-time sampler (cpu/wall.c): where every thread
 * spends wall time, blocked or running, without interrupting any of them.
 * Collector thread only: nothing here runs in a signal handler.
 */
#ifndef INPROF__CPU_WALL_H
#define INPROF__CPU_WALL_H

#include <stdint.h>

#include "base/common.h"
#include "collect/aggregate.h"
#include "config/settings.h"
#include "sample/sample.h"

typedef struct inprof__wall inprof__wall;

/* From settings (wall_hz > 0). cpu_sampling: running threads get their
 * stack from their next CPU sample (inprof__wall_on_cpu_sample). NULL when
 * memory runs out. */
INPROF__HIDDEN inprof__wall *inprof__wall_new(const inprof__settings *s, int cpu_sampling);
INPROF__HIDDEN void inprof__wall_free(inprof__wall *w);
/* CLOCK_MONOTONIC time of the next tick: the collector wakes for it. */
INPROF__HIDDEN uint64_t inprof__wall_next_tick_ns(const inprof__wall *w);
/* When a tick is due (now: CLOCK_MONOTONIC), visits up to
 * wall_threads_per_tick threads, round robin, adding wall samples to agg. */
INPROF__HIDDEN void inprof__wall_tick(inprof__wall *w, inprof__agg *agg, uint64_t now);
/* A CPU sample just drained: a running thread's wall time waiting for a
 * stack goes to this sample's stack and context. */
INPROF__HIDDEN void inprof__wall_on_cpu_sample(inprof__wall *w, inprof__agg *agg,
                                               const inprof__sample *s);
/* Before an export: every thread's wall time up to now goes into agg
 * (threads visited without the per-tick bound), so each thread's
 * wall-time in a period sums to its lifetime within it. */
INPROF__HIDDEN void inprof__wall_period_end(inprof__wall *w, inprof__agg *agg);
/* A tracked thread's name (comm), "" if unknown; valid until the next tick. */
INPROF__HIDDEN const char *inprof__wall_thread_name(const inprof__wall *w, uint32_t tid);

/* Counters since the process started (tests, benchmarks). */
typedef struct inprof__wall_counts {
  uint64_t visits;      /* threads visited */
  uint64_t reused;      /* CPU clock unchanged: previous stack reused, nothing read */
  uint64_t read;        /* blocked: stack copied and unwound */
  uint64_t running;     /* running when visited */
  uint64_t torn;        /* moved while its stack was copied: previous stack kept */
  uint64_t scans;       /* /proc/self/task scans */
  uint64_t samples;     /* wall samples added */
} inprof__wall_counts;
INPROF__HIDDEN void inprof__wall_get_counts(inprof__wall_counts *out);

#endif
