/*
 * api.c - the public entry points, and nothing else: the lifecycle lock
 * that serializes start/stop/flush, statistics, version and status strings,
 * and the one fork registration. The work is in the layers below (see
 * c-src/README.md).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "api_owned.h"
#include "base/common.h"
#include "base/diag.h"
#include "base/status.h"
#include "collect/aggregate.h"
#include "collect/collector.h"
#include "cpu/threads.h"
#include "cpu/unwind.h"
#include "export/http.h"
#include "heap/heap.h"
#include "sample/context.h"

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;
/* Set while this thread is inside start, stop or flush: a signal handler
 * that calls one of them again on this thread is refused (BUSY) instead of
 * waiting for the lifecycle lock its own thread holds. */
static __thread volatile sig_atomic_t tls_in_lifecycle INPROF__TLS;

/* ---------------------------------------------------------------- fork */

/*
 * The library's locks, outermost first (a thread holding one only ever
 * waits for those below it):
 *
 *   1. the lifecycle lock (this file): start, stop, flush;
 *   2. a collector's lock (collect/collector.c): stop and flush wait on it
 *      for the collector thread, which takes nothing else while holding it;
 *      the collectors' loader gate (collect/collector.c), held by a
 *      collector only around the symbolizer's dl_iterate_phdr; the
 *      unwinder's builder lock (cpu/unwind.c), held around its own
 *      dl_iterate_phdr. Only fork's prepare holds both: the gate, then the
 *      builder lock;
 *   3. the heap (heap/heap.c), collector thread only: heap_collect_mu C,
 *      then one shard lock L0..L15 at a time or the stack lock S; hooks:
 *      S then one shard lock, or one shard lock. Nothing waits for anything
 *      (malloc, unwinding, another lock) while holding S or an L;
 *   4. the uploader (export/http_queue.c): g_lock, released before a
 *      queue's lock is taken; the queue's lock alone;
 *   5. leaves, taken last, held for a copy and never nested: config's
 *      agent URL lock, dd_event's runtime-id lock, diag's error lock and
 *      diag's log lock.
 *
 * The one pthread_atfork registration. Fork takes only the two locks that
 * keep the library's threads out of the loader's lock (a child inheriting
 * that lock held would hang in its first dl_iterate_phdr), and no lock that
 * is held while waiting for another thread: a fork never waits for a
 * flush, a stop, an upload or a heap sample.
 *
 *   prepare: 1. the profiling signal is blocked in the forking thread
 *               (inprof__sampler_atfork_prepare);
 *            2. the loader gate: waits for a symbolizer refresh in progress
 *               (inprof__collector_atfork_prepare);
 *            3. the unwinder waits until no thread is inside it and keeps
 *               new walks out; its builder lock is held
 *               (inprof__unwind_atfork_prepare).
 *   parent:  3, 2, 1 (inprof__unwind_atfork_parent,
 *            inprof__collector_atfork_parent, inprof__sampler_atfork_parent).
 *   child:   the unwinder, then the sampler (forgets its timers and
 *            threads, restores the signal mask); then each lock this file,
 *            diag, the collector, the uploader and the heap own is
 *            re-initialized without being looked at, and the parent's
 *            profiler state is forgotten: the lifecycle lock, diag's error
 *            and log locks, the collector (current, abandoned, the loader
 *            gate), the uploader (g_lock, queue, thread), the heap (C, S,
 *            L0..L15; empty tables). Memory the parent's state held is
 *            leaked rather than freed: another thread may have been
 *            changing it at the fork. The child is not profiled until it
 *            calls inprof_start, which then needs nothing inherited.
 *            (config's agent URL lock and dd_event's runtime-id lock are
 *            leaves held only for a copy; they are not reset here.)
 */
static void atfork_prepare(void) {
  inprof__sampler_atfork_prepare();
  inprof__collector_atfork_prepare();
  inprof__unwind_atfork_prepare();
}

static void atfork_parent(void) {
  inprof__unwind_atfork_parent();
  inprof__collector_atfork_parent();
  inprof__sampler_atfork_parent();
}

static void atfork_child(void) {
  inprof__unwind_atfork_child();
  inprof__sampler_atfork_child();
  /* A child would inherit these locked by a thread that does not exist there. */
  pthread_mutex_init(&lifecycle_lock, NULL);
  tls_in_lifecycle = 0;
  inprof__diag_atfork_child();
  inprof__collector_atfork_child();
  inprof__http_atfork_child();
  inprof__heap_atfork_child();
  inprof__context_atfork_child();
}

/* At load rather than at the first start: a process that forks before it
 * starts the profiler gets the same child handling. */
__attribute__((constructor)) static void register_atfork(void) {
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ----------------------------------------------------------- lifecycle */

/* Refuses a lifecycle call made from a signal handler that interrupted
 * another one on this thread; else marks the thread. */
#define LIFECYCLE_ENTER(fn)                                                         \
  do {                                                                              \
    if (tls_in_lifecycle)                                                           \
      return inprof__fail_reentrant(INPROF_ERR_BUSY,                                \
                                    fn ": called from a signal handler that "       \
                                    "interrupted inprof_start, inprof_stop or "     \
                                    "inprof_flush on the same thread; refused");    \
    tls_in_lifecycle = 1;                                                           \
    atomic_signal_fence(memory_order_seq_cst);                                      \
  } while (0)

static void lifecycle_leave(void) {
  atomic_signal_fence(memory_order_seq_cst);
  tls_in_lifecycle = 0;
}

/* The owner of the running session when it is not the program (see
 * api_owned.h); NULL otherwise. */
static _Atomic(const char *) session_owner;

/*
 * Another copy of the library in this process that is running: a program
 * that links inprof statically, run with the preload library, has two.
 * The dynamic symbol inprof_is_running resolves to the first copy that
 * exports it; when that is not this copy's and it runs, this one must stay
 * off (two handlers would fight over one signal). Returns its file name.
 */
static const char *other_copy_running(void) {
  uint32_t (*other)(void) = (uint32_t(*)(void))(uintptr_t)dlsym(RTLD_DEFAULT, "inprof_is_running");
  if (!other) return NULL;
  /* Compared by object, not by address: in a shared library, the address
   * of an exported function is the interposed one. */
  Dl_info theirs, ours;
  if (!dladdr((void *)(uintptr_t)other, &theirs) ||
      !dladdr((void *)(uintptr_t)other_copy_running, &ours) ||
      theirs.dli_fbase == ours.dli_fbase || !other())
    return NULL;
  return theirs.dli_fname && *theirs.dli_fname ? theirs.dli_fname : "another object";
}

INPROF_EXPORT inprof_status inprof_start(const inprof_config *cfg) {
  LIFECYCLE_ENTER("inprof_start");
  const char *owner = atomic_load(&session_owner);
  if (owner && inprof__collector_running()) {
    lifecycle_leave();
    return inprof__fail(INPROF_ERR_RUNNING,
                        "inprof is already profiling this process, started by %s; "
                        "this inprof_start changes nothing",
                        owner);
  }
  /* Already running: nothing to do, and nothing allocated or locked, so a
   * start from a signal handler returns here safely. */
  if (!cfg && inprof__collector_running()) {
    lifecycle_leave();
    return INPROF_OK;
  }
  inprof_config from_env;
  if (!cfg) {
    inprof_config_init(&from_env);
    inprof_status st = inprof_config_from_env(&from_env);
    if (st != INPROF_OK) {
      lifecycle_leave();
      return st;
    }
    cfg = &from_env;
  }
  atomic_store(&inprof__log_level, cfg->log_level <= INPROF__LOG_DEBUG
                                       ? cfg->log_level
                                       : (uint32_t)INPROF__LOG_ERROR);
  inprof_status st = INPROF_OK;
  const char *other = inprof__collector_running() ? NULL : other_copy_running();
  if (other) {
    lifecycle_leave();
    return inprof__fail(INPROF_ERR_RUNNING,
                        "another copy of inprof is already profiling this process (%s); "
                        "this copy stays off",
                        other);
  }
  if (!inprof__collector_running()) {
    pthread_mutex_lock(&lifecycle_lock);
    if (!inprof__collector_running()) {
      inprof__clear_error();
      st = inprof__collector_start(cfg);
    }
    pthread_mutex_unlock(&lifecycle_lock);
  }
  lifecycle_leave();
  return st;
}

INPROF__HIDDEN inprof_status inprof__start_owned(const inprof_config *cfg, const char *owner) {
  inprof_status st = inprof_start(cfg);
  if (st == INPROF_OK && inprof__collector_running()) atomic_store(&session_owner, owner);
  return st;
}

INPROF__HIDDEN inprof_status inprof__stop_owned(uint32_t timeout_ms) {
  atomic_store(&session_owner, NULL);
  return inprof_stop(timeout_ms);
}

INPROF_EXPORT inprof_status inprof_stop(uint32_t timeout_ms) {
  /* The program's stop leaves a session it did not start running. */
  if (atomic_load(&session_owner) && inprof__collector_running()) return INPROF_OK;
  LIFECYCLE_ENTER("inprof_stop");
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = inprof__collector_stop(timeout_ms);
  pthread_mutex_unlock(&lifecycle_lock);
  lifecycle_leave();
  return st;
}

INPROF_EXPORT inprof_status inprof_flush(uint32_t timeout_ms) {
  LIFECYCLE_ENTER("inprof_flush");
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = inprof__collector_flush(timeout_ms);
  pthread_mutex_unlock(&lifecycle_lock);
  lifecycle_leave();
  return st;
}

INPROF_EXPORT inprof_status inprof_collect(uint8_t **out, size_t *out_len, uint32_t timeout_ms) {
  if (!out || !out_len)
    return inprof__fail(INPROF_ERR_INVALID, "inprof_collect: out or out_len is NULL");
  *out = NULL;
  *out_len = 0;
  LIFECYCLE_ENTER("inprof_collect");
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = inprof__collector_collect(out, out_len, timeout_ms);
  pthread_mutex_unlock(&lifecycle_lock);
  lifecycle_leave();
  return st;
}

INPROF_EXPORT void inprof_collect_free(uint8_t *profile) { free(profile); }

/* Lock-free (an atomic load): safe from any thread and from signal handlers. */
INPROF_EXPORT uint32_t inprof_is_running(void) {
  return inprof__collector_running() ? 1 : 0;
}

/* --------------------------------------------------------------- stats */

INPROF_EXPORT inprof_status inprof_stats(inprof_statistics *out) {
  if (!out) return inprof__fail(INPROF_ERR_INVALID, "inprof_stats: out is NULL");
  /* Versioned: any size from the first release's (up to uploads_dropped)
   * to this one's; the caller gets the fields its size holds. */
  size_t oldest = offsetof(inprof_statistics, uploads_dropped) + sizeof out->uploads_dropped;
  if (out->struct_size < oldest || out->struct_size > sizeof *out)
    return inprof__fail(INPROF_ERR_VERSION,
                        "inprof_stats: struct_size is %u, this library accepts %zu..%zu",
                        out->struct_size, oldest, sizeof *out);
  inprof_statistics full;
  memset(&full, 0, sizeof full);
  full.struct_size = out->struct_size;
  full.threads_tracked = inprof__sampler_threads_tracked();
  full.heap_live_samples = inprof__heap_live_samples();
  inprof__counters_fill(&full);
  uint64_t walks[4];
  inprof__unwind_get_counts(walks);
  full.unwind_unknown_pc = walks[0];
  full.unwind_no_stack_room = walks[1];
  full.timeline_samples_aggregated = inprof__agg_timeline_fallbacks();
  full.labels_table_full = inprof__context_labels_table_full();
  full.endpoint_counts_dropped = inprof__context_endpoint_counts_dropped();
  memcpy(out, &full, out->struct_size);
  return INPROF_OK;
}

/* ------------------------------------------------------------ context */

/* Lock-free, no allocation once a string is interned (sample/context.c). */
INPROF_EXPORT void inprof_set_span(uint64_t local_root_span_id, uint64_t span_id) {
  inprof__context_set_span(local_root_span_id, span_id);
}

INPROF_EXPORT void inprof_set_endpoint(uint64_t local_root_span_id, const char *endpoint) {
  inprof__endpoint_set(local_root_span_id, endpoint);
}

/* Counted only while profiling: there is no upload to add them to otherwise. */
INPROF_EXPORT void inprof_count_endpoint(const char *endpoint, uint64_t count) {
  if (inprof__collector_running()) inprof__endpoint_count(endpoint, count);
}

INPROF_EXPORT inprof_status inprof_set_label(const char *key, const char *value) {
  return inprof__context_set_label(key, value);
}

INPROF_EXPORT void inprof_clear_labels(void) { inprof__context_clear_labels(); }

/* ------------------------------------------------ version, status, error */

INPROF_EXPORT uint32_t inprof_version(void) { return INPROF_VERSION_NUM; }

INPROF_EXPORT const char *inprof_strerror(inprof_status status) {
  return inprof__status_text(status);
}

INPROF_EXPORT const char *inprof_last_error(void) { return inprof__last_error(); }
