/*
 * collect/aggregate.h - one period's samples summed by (thread, context,
 * stack), plus the timeline: CPU samples kept one by one with their time.
 */
#ifndef INPROF__COLLECT_AGGREGATE_H
#define INPROF__COLLECT_AGGREGATE_H

#include <stdint.h>

#include "base/common.h"
#include "sample/sample.h"

/* The value of each sample type, in pprof's order. */
enum {
  INPROF__VT_CPU_SAMPLES = 0, /* cpu-samples/count */
  INPROF__VT_CPU_TIME,        /* cpu-time/nanoseconds */
  INPROF__VT_ALLOC_SAMPLES,   /* alloc-samples/count */
  INPROF__VT_ALLOC_SPACE,     /* alloc-space/bytes */
  INPROF__VT_INUSE_OBJECTS,   /* inuse-objects/count */
  INPROF__VT_INUSE_SPACE,     /* inuse-space/bytes */
  INPROF__VT_WALL_SAMPLES,    /* wall-samples/count (cpu/wall.c) */
  INPROF__VT_WALL_TIME,       /* wall-time/nanoseconds */
  INPROF__VT_COUNT
};

/* Timeline samples kept per period by default; later ones are aggregated. */
#define INPROF__AGG_TIMELINE_MAX 50000u

typedef struct inprof__agg inprof__agg;
/* max_stacks bounds memory: further distinct keys are dropped (counted).
 * Timeline samples have their own bound (inprof__agg_set_timeline_max). */
INPROF__HIDDEN inprof__agg *inprof__agg_new(uint32_t max_stacks);
INPROF__HIDDEN void inprof__agg_free(inprof__agg *a);
INPROF__HIDDEN void inprof__agg_reset(inprof__agg *a);
INPROF__HIDDEN void inprof__agg_set_timeline_max(inprof__agg *a, uint32_t max);
/* Adds values (INPROF__VT_COUNT of them) to the (tid, stack) entry with no
 * context. 0 or -1 if dropped. */
INPROF__HIDDEN int inprof__agg_add(inprof__agg *a, uint32_t tid,
                                   const uintptr_t *frames, uint32_t nframes,
                                   const int64_t *values);
/*
 * Adds values to the (tid, ctx, stack) entry (ctx NULL: no context). With
 * timestamp_ns != 0 the sample is a timeline sample: kept as an entry of
 * its own while the period's timeline has room, else aggregated (counted in
 * inprof__agg_timeline_fallbacks). 0 or -1 if dropped.
 */
INPROF__HIDDEN int inprof__agg_add_ctx(inprof__agg *a, uint32_t tid,
                                       const inprof__sample_ctx *ctx, uint64_t timestamp_ns,
                                       const uintptr_t *frames, uint32_t nframes,
                                       const int64_t *values);
INPROF__HIDDEN uint64_t inprof__agg_dropped(const inprof__agg *a);
INPROF__HIDDEN uint32_t inprof__agg_entries(const inprof__agg *a);
/* Timeline samples aggregated for lack of room, since the process started. */
INPROF__HIDDEN uint64_t inprof__agg_timeline_fallbacks(void);
/* Visits each entry; tid 0 means "no thread". */
typedef void (*inprof__agg_visit_fn)(void *ctx, uint32_t tid,
                                     const uintptr_t *frames, uint32_t nframes,
                                     const int64_t *values);
INPROF__HIDDEN void inprof__agg_foreach(const inprof__agg *a, inprof__agg_visit_fn fn,
                                        void *ctx);

/* One entry as inprof__agg_foreach_entry shows it. */
typedef struct inprof__agg_entry_view {
  uint32_t tid;                /* 0: no thread */
  uint32_t nframes;
  const inprof__sample_ctx *ctx; /* never NULL; all zero: no context */
  uint64_t timestamp_ns;       /* 0: aggregated; else a timeline sample */
  const uintptr_t *frames;
  const int64_t *values;
} inprof__agg_entry_view;
typedef void (*inprof__agg_entry_fn)(void *ctx, const inprof__agg_entry_view *e);
/* Visits each entry in insertion order. */
INPROF__HIDDEN void inprof__agg_foreach_entry(const inprof__agg *a, inprof__agg_entry_fn fn,
                                              void *ctx);

#endif
