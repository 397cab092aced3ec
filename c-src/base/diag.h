/*
 * base/diag.h - diagnostics every module reports through, calling nothing
 * above it: the last error (inprof_last_error), error returns
 * (return inprof__fail(status, fmt, ...)), rate-limited logging to stderr,
 * the process-wide counters behind inprof_stats, and the per-thread guard
 * that marks profiler code.
 *
 * None of this is async-signal-safe except INPROF__COUNT, reading or
 * writing inprof__in_profiler, and inprof__fail_reentrant.
 */
#ifndef INPROF__BASE_DIAG_H
#define INPROF__BASE_DIAG_H

#include <stdint.h>

#include "base/common.h"

/* ------------------------------------------------------------ last error */

/* Records the reason for the failure inprof_last_error() reports (and logs
 * it as an error). */
INPROF__HIDDEN void inprof__set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* inprof__set_error, then returns status: `return inprof__fail(st, ...);` */
INPROF__HIDDEN inprof_status inprof__fail(inprof_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
INPROF__HIDDEN void inprof__clear_error(void);
/* For a call refused because it re-entered the library (from a signal
 * handler): records msg, a literal, as the last error without formatting,
 * logging or waiting for a lock (lost if another thread holds the error lock
 * at that moment), then returns status. */
INPROF__HIDDEN inprof_status inprof__fail_reentrant(inprof_status status, const char *msg);
/* A per-thread copy of the last error, valid until this thread calls again. */
INPROF__HIDDEN const char *inprof__last_error(void);

/* --------------------------------------------------------------- logging */

enum {
  INPROF__LOG_OFF = 0,
  INPROF__LOG_ERROR = 1,
  INPROF__LOG_WARN = 2,
  INPROF__LOG_INFO = 3,
  INPROF__LOG_DEBUG = 4
};
extern INPROF__HIDDEN _Atomic uint32_t inprof__log_level;
/* stderr, prefixed "inprof: ". Errors and warnings print at most once per
 * call site (format string) per inprof__log_window_s seconds, with the
 * number of repeats; info and debug lines are bounded per window. Never
 * from a signal handler. The window is a variable so tests can shorten it. */
extern INPROF__HIDDEN uint32_t inprof__log_window_s;
INPROF__HIDDEN void inprof__log(uint32_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* -------------------------------------------------------------- counters */

/*
 * The counters of inprof_statistics that are plain event counts, declared
 * once: the struct below and inprof__counters_fill come from this list.
 * (threads_tracked and heap_live_samples are gauges their modules report.)
 */
#define INPROF__COUNTER_LIST(X) \
  X(cpu_samples)                \
  X(cpu_samples_dropped)        \
  X(cpu_timer_overruns)         \
  X(threads_failed)             \
  X(heap_samples)               \
  X(heap_samples_dropped)       \
  X(profiles_written)           \
  X(profiles_failed)            \
  X(uploads_ok)                 \
  X(uploads_failed)             \
  X(uploads_dropped)            \
  X(symbolizer_cap_hits)

/* Process-wide counters; relaxed atomics, async-signal-safe to bump. */
typedef struct inprof__counters {
#define INPROF__COUNTER_FIELD(name) _Atomic uint64_t name;
  INPROF__COUNTER_LIST(INPROF__COUNTER_FIELD)
#undef INPROF__COUNTER_FIELD
} inprof__counters;
extern INPROF__HIDDEN inprof__counters inprof__stats;
#define INPROF__COUNT(field, n) \
  atomic_fetch_add_explicit(&inprof__stats.field, (n), memory_order_relaxed)

/* Copies every counter of the list into out. */
INPROF__HIDDEN void inprof__counters_fill(inprof_statistics *out);

/* ---------------------------------------------------------- thread guard */

/*
 * Set while this thread runs profiler code that may allocate or unwind
 * (collector, exporter, heap hook slow path): heap hooks ignore such
 * allocations and the CPU handler does not unwind through libunwind.
 */
extern INPROF__HIDDEN __thread int inprof__in_profiler INPROF__TLS;

/* ------------------------------------------------------------------ fork */

/* The log and error locks are re-initialized in a forked child (see api.c). */
INPROF__HIDDEN void inprof__diag_atfork_child(void);

#endif
