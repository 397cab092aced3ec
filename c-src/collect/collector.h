/*
 * collect/collector.h - the profiler's lifecycle as api.c drives it. Calls
 * are serialized by api.c's lifecycle lock, except inprof__collector_running
 * (an atomic load, callable from any thread or signal handler).
 */
#ifndef INPROF__COLLECT_COLLECTOR_H
#define INPROF__COLLECT_COLLECTOR_H

#include <stdint.h>

#include "base/common.h"

INPROF__HIDDEN int inprof__collector_running(void);
INPROF__HIDDEN inprof_status inprof__collector_start(const inprof_config *cfg);
/* INPROF_ERR_TIMEOUT when the collector did not end by the deadline, or
 * when it did but had to abandon the final upload at the deadline. */
INPROF__HIDDEN inprof_status inprof__collector_stop(uint32_t timeout_ms);
INPROF__HIDDEN inprof_status inprof__collector_flush(uint32_t timeout_ms);
/* inprof_collect: the current period so far as pprof bytes (malloc'ed, the
 * caller frees), without ending the period. Under the lifecycle lock. */
INPROF__HIDDEN inprof_status inprof__collector_collect(uint8_t **out, size_t *len,
                                                       uint32_t timeout_ms);
/* How many times a collector thread woke up (process lifetime): what the
 * idle cost test counts. Any thread. */
INPROF__HIDDEN uint64_t inprof__collector_wakeups(void);
/* Fork (see api.c): prepare waits until no collector is inside the
 * loader's dl_iterate_phdr and keeps them out until parent/child; the child
 * forgets the parent's collector. */
INPROF__HIDDEN void inprof__collector_atfork_prepare(void);
INPROF__HIDDEN void inprof__collector_atfork_parent(void);
INPROF__HIDDEN void inprof__collector_atfork_child(void);

#endif
