/*
 * api.c - owns the public entry points and what they share: the lifecycle
 * lock (start/stop/flush are serialized here), the last error, logging,
 * process-wide counters, and version/status strings. The real work is in
 * collector.c, sampler.c, heap.c and the exporters.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

INPROF_HIDDEN __thread int inprof__in_profiler __attribute__((tls_model("initial-exec")));
INPROF_HIDDEN inprof__counters inprof__stats;
INPROF_HIDDEN _Atomic uint32_t inprof__log_level;

/* ---------------------------------------------------------- last error */

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char error_text[512];

INPROF_HIDDEN void inprof__set_error(const char *fmt, ...) {
  char buf[sizeof error_text];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&error_lock);
  memcpy(error_text, buf, sizeof buf);
  pthread_mutex_unlock(&error_lock);
  inprof__log(INPROF_LOG_ERROR, "%s", buf);
}

/* Each thread gets its own copy so the pointer stays valid while others fail. */
static __thread char error_copy[sizeof error_text];

INPROF_EXPORT const char *inprof_last_error(void) {
  pthread_mutex_lock(&error_lock);
  memcpy(error_copy, error_text, sizeof error_copy);
  pthread_mutex_unlock(&error_lock);
  return error_copy;
}

static void clear_error(void) {
  pthread_mutex_lock(&error_lock);
  error_text[0] = 0;
  pthread_mutex_unlock(&error_lock);
}

/* ------------------------------------------------------------- logging */

/* At most LOG_BURST lines per LOG_WINDOW_S seconds, then one summary line. */
#define LOG_BURST 20
#define LOG_WINDOW_S 60
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t log_window_start;
static unsigned log_in_window, log_suppressed;

INPROF_HIDDEN void inprof__log(uint32_t level, const char *fmt, ...) {
  if (level == INPROF_LOG_OFF ||
      level > atomic_load_explicit(&inprof__log_level, memory_order_relaxed))
    return;
  static const char *names[] = {"", "error", "warn", "info", "debug"};
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);

  pthread_mutex_lock(&log_lock);
  time_t now = time(NULL);
  if (now - log_window_start >= LOG_WINDOW_S) {
    if (log_suppressed)
      fprintf(stderr, "inprof: warn: %u log lines suppressed\n", log_suppressed);
    log_window_start = now;
    log_in_window = log_suppressed = 0;
  }
  if (log_in_window++ < LOG_BURST)
    fprintf(stderr, "inprof: %s: %s\n", names[level], line);
  else
    log_suppressed++;
  pthread_mutex_unlock(&log_lock);
}

/* ----------------------------------------------------------- lifecycle */

static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;

INPROF_EXPORT inprof_status inprof_start(const inprof_config *cfg) {
  inprof_config from_env;
  if (!cfg) {
    inprof_config_init(&from_env);
    inprof_status st = inprof_config_from_env(&from_env);
    if (st != INPROF_OK) return st;
    cfg = &from_env;
  }
  atomic_store(&inprof__log_level, cfg->log_level <= INPROF_LOG_DEBUG
                                       ? cfg->log_level
                                       : (uint32_t)INPROF_LOG_ERROR);
  pthread_mutex_lock(&lifecycle_lock);
  inprof_status st = INPROF_OK;
  if (!inprof__collector_running()) {
    clear_error();
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

/* The lifecycle lock must not be held across fork: a child would inherit it
 * locked by a thread that does not exist there. */
INPROF_HIDDEN void inprof__api_atfork_prepare(void) { pthread_mutex_lock(&lifecycle_lock); }
INPROF_HIDDEN void inprof__api_atfork_parent(void) { pthread_mutex_unlock(&lifecycle_lock); }
INPROF_HIDDEN void inprof__api_atfork_child(void) {
  pthread_mutex_init(&lifecycle_lock, NULL);
  pthread_mutex_init(&error_lock, NULL);
  pthread_mutex_init(&log_lock, NULL);
}

/* --------------------------------------------------------------- stats */

#define LOAD(field) atomic_load_explicit(&inprof__stats.field, memory_order_relaxed)

INPROF_EXPORT inprof_status inprof_stats(inprof_statistics *out) {
  if (!out) {
    inprof__set_error("inprof_stats: out is NULL");
    return INPROF_ERR_INVALID;
  }
  if (out->struct_size != sizeof *out) {
    inprof__set_error("inprof_stats: struct_size is %u, this library expects %zu",
                      out->struct_size, sizeof *out);
    return INPROF_ERR_VERSION;
  }
  out->threads_tracked = inprof__sampler_threads_tracked();
  out->cpu_samples = LOAD(cpu_samples);
  out->cpu_samples_dropped = LOAD(cpu_samples_dropped);
  out->cpu_timer_overruns = LOAD(cpu_timer_overruns);
  out->threads_failed = LOAD(threads_failed);
  out->heap_samples = LOAD(heap_samples);
  out->heap_samples_dropped = LOAD(heap_samples_dropped);
  out->heap_live_samples = inprof__heap_live_samples();
  out->profiles_written = LOAD(profiles_written);
  out->profiles_failed = LOAD(profiles_failed);
  out->uploads_ok = LOAD(uploads_ok);
  out->uploads_failed = LOAD(uploads_failed);
  out->uploads_dropped = LOAD(uploads_dropped);
  return INPROF_OK;
}

/* ------------------------------------------------------ version, status */

INPROF_EXPORT uint32_t inprof_version(void) { return INPROF_VERSION_NUM; }

INPROF_EXPORT const char *inprof_strerror(inprof_status status) {
  switch (status) {
    case INPROF_OK: return "success";
    case INPROF_ERR_INVALID: return "invalid argument or configuration value";
    case INPROF_ERR_RUNNING: return "the profiler is already running";
    case INPROF_ERR_NOT_RUNNING: return "the profiler is not running";
    case INPROF_ERR_SIGNAL_IN_USE: return "the profiling signal already has another handler";
    case INPROF_ERR_SYSTEM: return "a system call failed";
    case INPROF_ERR_NO_MEMORY: return "out of memory";
    case INPROF_ERR_TIMEOUT: return "timed out";
    case INPROF_ERR_OUTPUT: return "the output directory is missing or not writable";
    case INPROF_ERR_BUSY: return "a previous stop has not finished yet";
    case INPROF_ERR_VERSION: return "struct version mismatch";
    default: return "unknown status";
  }
}
