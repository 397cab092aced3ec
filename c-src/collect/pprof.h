/*
 * collect/pprof.h - an aggregate -> a serialized (uncompressed) pprof.
 */
#ifndef INPROF__COLLECT_PPROF_H
#define INPROF__COLLECT_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "collect/aggregate.h"
#include "collect/symbolizer.h"

typedef struct inprof__profile_meta {
  uint64_t start_ns;           /* CLOCK_REALTIME, period start */
  uint64_t end_ns;
  uint32_t cpu_hz;             /* 0: no CPU sample types */
  uint64_t heap_sample_bytes;  /* 0: no heap sample types */
  uint32_t wall_hz;            /* 0: no wall sample types */
  /* Thread name lookup for the "thread name" label. */
  const char *(*thread_name)(void *ctx, uint32_t tid);
  void *thread_name_ctx;
} inprof__profile_meta;

/* Serializes agg as an uncompressed pprof Profile into a malloc'ed buffer.
 * 0, or -1 when memory runs out. */
INPROF__HIDDEN int inprof__pprof_encode(const inprof__agg *agg,
                                        inprof__symbolizer *sym,
                                        const inprof__profile_meta *meta,
                                        uint8_t **out, size_t *out_len);

#endif
