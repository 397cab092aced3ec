/*
 * heap/heap_fast.h - the heap hooks' unsampled cases as inline functions,
 * for code inside the library's own shared object (the preload interposer):
 * an allocation below this thread's countdown and a free whose filter bit is
 * clear are decided where they happen, without a call. Everything else goes
 * to the out-of-line hooks (inprof_record_alloc/free), so the sampled frames
 * and every slow-path rule stay in heap.c.
 *
 * The state is heap.c's: the countdown is initial-exec TLS (no lazy TLS
 * allocation, so usable from the allocator itself and from signal handlers),
 * the filter a static bitmap (INPROF_HEAP_FILTER_BITS bits). Both are hidden:
 * outside the library the same decisions go through the public
 * inprof_record_alloc_countdown / inprof_heap_free_filter (see inprof.h).
 */
#ifndef INPROF__HEAP_HEAP_FAST_H
#define INPROF__HEAP_HEAP_FAST_H

#include <stdint.h>

#include "base/common.h"

extern INPROF__HIDDEN __thread uint64_t inprof__heap_countdown INPROF__TLS;
extern INPROF__HIDDEN _Atomic uint64_t inprof__heap_filter[(1u << INPROF_HEAP_FILTER_BITS) / 64];

static inline uint32_t inprof__heap_filter_index(uintptr_t p) {
  return (uint32_t)(((uint64_t)p * INPROF_HEAP_FILTER_MULTIPLIER) >> (64 - INPROF_HEAP_FILTER_BITS));
}

/* True when an allocation of size bytes is not sampled; it is then counted
 * (the countdown is lowered). False: call inprof_record_alloc. */
static inline int inprof__heap_alloc_unsampled(uint64_t size) {
  uint64_t c = inprof__heap_countdown;
  if (INPROF__LIKELY(size < c)) {
    inprof__heap_countdown = c - size;
    return 1;
  }
  return 0;
}

/* True when ptr's free cannot concern a sampled block (its filter bit is
 * clear: no false negatives); false: call inprof_record_free. */
static inline int inprof__heap_free_unsampled(const void *ptr) {
  uint32_t fi = inprof__heap_filter_index((uintptr_t)ptr);
  return !((atomic_load_explicit(&inprof__heap_filter[fi >> 6], memory_order_relaxed) >>
            (fi & 63)) & 1);
}

#endif
