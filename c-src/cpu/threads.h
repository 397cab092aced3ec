/*
 * cpu/threads.h - CPU sampling's control side: one CPU-time timer per
 * thread, thread discovery (/proc scan), thread names, installing and
 * checking the signal handler, start/stop and the fork hooks. Everything
 * here runs on the collector (or the starting/forking thread), never in the
 * signal handler.
 */
#ifndef INPROF__CPU_THREADS_H
#define INPROF__CPU_THREADS_H

#include <stdint.h>

#include "base/common.h"
#include "config/settings.h"
#include "sample/ring.h"

INPROF__HIDDEN inprof_status inprof__sampler_start(const inprof__settings *s,
                                                   inprof__ring *ring);
/* Finds new threads, arms their timers, releases exited ones. Collector only. */
INPROF__HIDDEN void inprof__sampler_scan_threads(void);
INPROF__HIDDEN void inprof__sampler_stop(void);
/* 1 when the number of threads changed since the last scan (one fstat):
 * the cheap check before a full scan. Collector only. */
INPROF__HIDDEN int inprof__sampler_threads_changed(void);
/* Arms a one-shot timer on the process's CPU clock, signalled to the
 * calling thread (the collector; made at its first call): once the process
 * has used cpu_ns more CPU (any thread), the handler wakes the ring's
 * consumer. 0 disarms. -1 when the timer cannot be made. Collector only,
 * which must unblock the signal while it waits (ppoll). */
INPROF__HIDDEN int inprof__sampler_wake_after_cpu(uint64_t cpu_ns);
INPROF__HIDDEN uint32_t inprof__sampler_threads_tracked(void);
/* The name of a thread (comm), "" if unknown; valid until the next scan. */
INPROF__HIDDEN const char *inprof__sampler_thread_name(uint32_t tid);
/* Re-reads names of tracked threads (they may rename themselves late) and
 * forgets names of threads gone since the last call. Collector only. */
INPROF__HIDDEN void inprof__sampler_refresh_names(void);
/* 0 (and one logged error) if someone replaced our signal handler. Collector only. */
INPROF__HIDDEN int inprof__sampler_check_handler(void);
/* Fork: block the profiling signal in the forking thread (gperftools#704). */
INPROF__HIDDEN void inprof__sampler_atfork_prepare(void);
INPROF__HIDDEN void inprof__sampler_atfork_parent(void);
INPROF__HIDDEN void inprof__sampler_atfork_child(void);

#endif
