/*
 * collect/collector.h - the profiler's lifecycle as api.c drives it. Calls
 * are serialized by api.c's lifecycle lock.
 */
#ifndef INPROF__COLLECT_COLLECTOR_H
#define INPROF__COLLECT_COLLECTOR_H

#include <stdint.h>

#include "base/common.h"

INPROF__HIDDEN int inprof__collector_running(void);
INPROF__HIDDEN inprof_status inprof__collector_start(const inprof_config *cfg);
INPROF__HIDDEN inprof_status inprof__collector_stop(uint32_t timeout_ms);
INPROF__HIDDEN inprof_status inprof__collector_flush(uint32_t timeout_ms);
/* Fork: a child forgets the parent's collector (see api.c). */
INPROF__HIDDEN void inprof__collector_atfork_child(void);

#endif
