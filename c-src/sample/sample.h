/*
 * sample/sample.h - the sample record: what a producer (the CPU signal
 * handler) writes into the ring and the collector reads out of it.
 */
#ifndef INPROF__SAMPLE_SAMPLE_H
#define INPROF__SAMPLE_SAMPLE_H

#include <stdint.h>

enum { INPROF__SAMPLE_CPU = 1, INPROF__SAMPLE_ALLOC = 2 };
#define INPROF__LABEL_SLOTS 4

/*
 * One sample as the signal handler (or an allocation hook) writes it. The
 * frames array holds max_frames entries; frames[0] is the innermost PC
 * (exact), the rest are return addresses.
 */
typedef struct inprof__sample {
  uint32_t kind;
  uint32_t tid;
  uint64_t timestamp_ns;       /* CLOCK_REALTIME, for a timeline later */
  uint64_t value;              /* CPU: thread CPU ns since its previous sample */
  uint64_t count;              /* samples this record stands for */
  uint64_t addr;               /* ALLOC: the block's address */
  uint64_t labels[INPROF__LABEL_SLOTS]; /* reserved: span ids, endpoint */
  uint32_t nframes;
  uint32_t flags;
  uintptr_t frames[];
} inprof__sample;

#endif
