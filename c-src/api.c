/*
 * api.c - the public entry points, and nothing else: the lifecycle lock
 * that serializes start/stop/flush, statistics, version and status strings,
 * and the one fork registration. The work is in the layers below (see
 * c-src/README.md).
 */
#include <pthread.h>

#include "base/common.h"
#include "base/diag.h"
#include "base/status.h"
#include "collect/collector.h"
#include "cpu/threads.h"
#include "heap/heap.h"

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- fork */

/*
 * The one pthread_atfork registration; every module's fork hook is called
 * from here, in this order (the lock order across fork):
 *
 *   prepare: 1. heap locks: stack lock S, then shard locks L0..L15
 *               (inprof__heap_atfork_prepare)
 *            2. the lifecycle lock
 *            3. the profiling signal blocked in the forking thread
 *               (inprof__sampler_atfork_prepare)
 *   parent:  the reverse: 3, 2, 1.
 *   child:   3 (the sampler forgets its timers and threads, the signal mask
 *            is restored), 2 (the lifecycle lock is re-initialized, and so
 *            are diag's error and log locks), the collector is forgotten,
 *            then 1 (heap locks released; the child samples nothing until
 *            it starts the profiler itself).
 *
 * No other library lock is held across fork: the uploader's and the
 * collector's own locks, the runtime-id lock and config's agent URL lock
 * are left as they are (the child has none of those threads).
 * Known weakness kept for now (issue 10 revisits fork): the heap locks come
 * before the lifecycle lock, so a fork during inprof_stop waits until the
 * stop (which waits for the collector, which may need a heap lock) times
 * out.
 */
static void atfork_prepare(void) {
  inprof__heap_atfork_prepare();
  pthread_mutex_lock(&lifecycle_lock);
  inprof__sampler_atfork_prepare();
}

static void atfork_parent(void) {
  inprof__sampler_atfork_parent();
  pthread_mutex_unlock(&lifecycle_lock);
  inprof__heap_atfork_parent();
}

static void atfork_child(void) {
  inprof__sampler_atfork_child();
  /* A child would inherit these locked by a thread that does not exist there. */
  pthread_mutex_init(&lifecycle_lock, NULL);
  inprof__diag_atfork_child();
  inprof__collector_atfork_child();
  inprof__heap_atfork_child();
}

/* At load rather than at the first start: the heap's locks need the hooks
 * from the first inprof__heap_start whoever calls it, and lower layers do
 * not call up into this file to ask for them. */
__attribute__((constructor)) static void register_atfork(void) {
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ----------------------------------------------------------- lifecycle */

INPROF_EXPORT inprof_status inprof_start(const inprof_config *cfg) {
  inprof_config from_env;
  if (!cfg) {
    inprof_config_init(&from_env);
    inprof_status st = inprof_config_from_env(&from_env);
    if (st != INPROF_OK) return st;
    cfg = &from_env;
  }
  atomic_store(&inprof__log_level, cfg->log_level <= INPROF__LOG_DEBUG
                                       ? cfg->log_level
                                       : (uint32_t)INPROF__LOG_ERROR);
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = INPROF_OK;
  if (!inprof__collector_running()) {
    inprof__clear_error();
    st = inprof__collector_start(cfg);
  }
  pthread_mutex_unlock(&lifecycle_lock);
  return st;
}

INPROF_EXPORT inprof_status inprof_stop(uint32_t timeout_ms) {
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = inprof__collector_stop(timeout_ms);
  pthread_mutex_unlock(&lifecycle_lock);
  return st;
}

INPROF_EXPORT inprof_status inprof_flush(uint32_t timeout_ms) {
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = inprof__collector_flush(timeout_ms);
  pthread_mutex_unlock(&lifecycle_lock);
  return st;
}

INPROF_EXPORT uint32_t inprof_is_running(void) {
  return inprof__collector_running() ? 1 : 0;
}

/* --------------------------------------------------------------- stats */

INPROF_EXPORT inprof_status inprof_stats(inprof_statistics *out) {
  if (!out) return inprof__fail(INPROF_ERR_INVALID, "inprof_stats: out is NULL");
  if (out->struct_size != sizeof *out)
    return inprof__fail(INPROF_ERR_VERSION,
                        "inprof_stats: struct_size is %u, this library expects %zu",
                        out->struct_size, sizeof *out);
  out->threads_tracked = inprof__sampler_threads_tracked();
  out->heap_live_samples = inprof__heap_live_samples();
  inprof__counters_fill(out);
  return INPROF_OK;
}

/* ------------------------------------------------ version, status, error */

INPROF_EXPORT uint32_t inprof_version(void) { return INPROF_VERSION_NUM; }

INPROF_EXPORT const char *inprof_strerror(inprof_status status) {
  return inprof__status_text(status);
}

INPROF_EXPORT const char *inprof_last_error(void) { return inprof__last_error(); }
