/*
 * sample/sample.h - the sample record: what a producer (the CPU signal
 * handler) writes into the ring and the collector reads out of it.
 */
#ifndef INPROF__SAMPLE_SAMPLE_H
#define INPROF__SAMPLE_SAMPLE_H

#include <stdint.h>

enum { INPROF__SAMPLE_CPU = 1, INPROF__SAMPLE_ALLOC = 2 };
/* Custom labels per sample: INPROF_MAX_LABELS of inprof.h. */
#define INPROF__LABEL_SLOTS 4

/*
 * A thread's context as a sample carries it (see sample/context.h): span
 * ids as the host set them, and the ids of interned (key, value) labels,
 * packed from index 0, 0 meaning "none". Small ids rather than strings so
 * that the signal handler copies 32 bytes and the aggregate compares them.
 */
typedef struct inprof__sample_ctx {
  uint64_t local_root_span_id;
  uint64_t span_id;
  uint32_t labels[INPROF__LABEL_SLOTS];
} inprof__sample_ctx;

/*
 * One sample as the signal handler (or an allocation hook) writes it. The
 * frames array holds max_frames entries; frames[0] is the innermost PC
 * (exact), the rest are return addresses.
 */
typedef struct inprof__sample {
  uint32_t kind;
  uint32_t tid;
  uint64_t timestamp_ns;       /* CLOCK_REALTIME: end_timestamp_ns on the timeline */
  uint64_t value;              /* CPU: thread CPU ns since its previous sample */
  uint64_t count;              /* samples this record stands for */
  uint64_t addr;               /* ALLOC: the block's address */
  inprof__sample_ctx ctx;      /* the thread's context when sampled */
  uint32_t nframes;
  uint32_t flags;
  uintptr_t frames[];
} inprof__sample;

#endif
