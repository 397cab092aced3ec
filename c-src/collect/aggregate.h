/*
 * collect/aggregate.h - one period's samples summed by (thread, stack).
 */
#ifndef INPROF__COLLECT_AGGREGATE_H
#define INPROF__COLLECT_AGGREGATE_H

#include <stdint.h>

#include "base/common.h"

/* The value of each sample type, in pprof's order. */
enum {
  INPROF__VT_CPU_SAMPLES = 0, /* cpu-samples/count */
  INPROF__VT_CPU_TIME,        /* cpu-time/nanoseconds */
  INPROF__VT_ALLOC_SAMPLES,   /* alloc-samples/count */
  INPROF__VT_ALLOC_SPACE,     /* alloc-space/bytes */
  INPROF__VT_INUSE_OBJECTS,   /* inuse-objects/count */
  INPROF__VT_INUSE_SPACE,     /* inuse-space/bytes */
  INPROF__VT_COUNT
};

typedef struct inprof__agg inprof__agg;
/* max_stacks bounds memory: further distinct stacks are dropped (counted). */
INPROF__HIDDEN inprof__agg *inprof__agg_new(uint32_t max_stacks);
INPROF__HIDDEN void inprof__agg_free(inprof__agg *a);
INPROF__HIDDEN void inprof__agg_reset(inprof__agg *a);
/* Adds values (INPROF__VT_COUNT of them) to the (tid, stack) entry. 0 or -1 if dropped. */
INPROF__HIDDEN int inprof__agg_add(inprof__agg *a, uint32_t tid,
                                   const uintptr_t *frames, uint32_t nframes,
                                   const int64_t *values);
INPROF__HIDDEN uint64_t inprof__agg_dropped(const inprof__agg *a);
INPROF__HIDDEN uint32_t inprof__agg_entries(const inprof__agg *a);
/* Visits each entry; tid 0 means "no thread". */
typedef void (*inprof__agg_visit_fn)(void *ctx, uint32_t tid,
                                     const uintptr_t *frames, uint32_t nframes,
                                     const int64_t *values);
INPROF__HIDDEN void inprof__agg_foreach(const inprof__agg *a, inprof__agg_visit_fn fn,
                                        void *ctx);

#endif
