/*
 * heap/heap.h - heap profiling's interface to the collector and to api.c
 * (the allocator hooks themselves are public: inprof_record_alloc/free).
 */
#ifndef INPROF__HEAP_HEAP_H
#define INPROF__HEAP_HEAP_H

#include <stdint.h>

#include "base/common.h"
#include "collect/aggregate.h"
#include "config/settings.h"

INPROF__HIDDEN inprof_status inprof__heap_start(const inprof__settings *s);
INPROF__HIDDEN void inprof__heap_stop(void);
/* Adds this period's sampled allocations and the live heap into agg. */
INPROF__HIDDEN void inprof__heap_collect(inprof__agg *agg);
/* Adds the same into agg without ending the period (inprof_collect). */
INPROF__HIDDEN void inprof__heap_snapshot(inprof__agg *agg);
INPROF__HIDDEN uint64_t inprof__heap_live_samples(void);

/* Fork, in the child only: no heap lock is held across fork (see api.c);
 * the child re-initializes the heap locks and starts from empty tables. */
INPROF__HIDDEN void inprof__heap_atfork_child(void);

/* Tests only: walks every table and checks the invariants; returns the
 * number of violations and stores the entry count in *entries. */
INPROF__HIDDEN uint64_t inprof__heap_test_check(uint64_t *entries);
INPROF__HIDDEN int inprof__heap_test_is_live(const void *ptr);

#endif
