/*
 * base/diag.c - owns the last error, logging, the counters and the
 * in-profiler guard (see base/diag.h). Every module reports through here;
 * this file calls nothing of the library's.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/diag.h"

INPROF__HIDDEN __thread int inprof__in_profiler INPROF__TLS;
INPROF__HIDDEN inprof__counters inprof__stats;
INPROF__HIDDEN _Atomic uint32_t inprof__log_level;

/* ---------------------------------------------------------- last error */

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char error_text[512];

static void set_error_v(const char *fmt, va_list ap) {
  char buf[sizeof error_text];
  vsnprintf(buf, sizeof buf, fmt, ap);
  pthread_mutex_lock(&error_lock);
  memcpy(error_text, buf, sizeof buf);
  pthread_mutex_unlock(&error_lock);
  inprof__log(INPROF__LOG_ERROR, "%s", buf);
}

INPROF__HIDDEN void inprof__set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error_v(fmt, ap);
  va_end(ap);
}

INPROF__HIDDEN inprof_status inprof__fail(inprof_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error_v(fmt, ap);
  va_end(ap);
  return status;
}

/* Each thread gets its own copy so the pointer stays valid while others fail. */
static __thread char error_copy[sizeof error_text];

INPROF__HIDDEN const char *inprof__last_error(void) {
  pthread_mutex_lock(&error_lock);
  memcpy(error_copy, error_text, sizeof error_copy);
  pthread_mutex_unlock(&error_lock);
  return error_copy;
}

INPROF__HIDDEN void inprof__clear_error(void) {
  pthread_mutex_lock(&error_lock);
  error_text[0] = 0;
  pthread_mutex_unlock(&error_lock);
}

INPROF__HIDDEN inprof_status inprof__fail_reentrant(inprof_status status, const char *msg) {
  /* trylock: the interrupted code may be this very thread inside set_error_v. */
  if (pthread_mutex_trylock(&error_lock) == 0) {
    size_t n = strlen(msg);
    if (n >= sizeof error_text) n = sizeof error_text - 1;
    memcpy(error_text, msg, n);
    error_text[n] = 0;
    pthread_mutex_unlock(&error_lock);
  }
  return status;
}

/* ------------------------------------------------------------- logging */

/*
 * Warnings and errors are rate-limited per kind: a kind is the call site's
 * format string (its address), so "upload failed" repeated every period
 * prints once a minute with the number of repeats it stands for, and does
 * not hide a different failure. Info and debug lines are bounded in bulk
 * (LOG_BURST per window), since they are either one-shot or asked for.
 */
#define LOG_BURST 20
#define LOG_KINDS 64
INPROF__HIDDEN uint32_t inprof__log_window_s = 60;

typedef struct log_kind {
  const char *fmt;
  time_t last_printed;
  unsigned repeats;           /* suppressed since last_printed */
} log_kind;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_kind log_kinds[LOG_KINDS];
static time_t log_window_start;
static unsigned log_in_window, log_suppressed;

/* The kind's slot, or NULL when the table is full (then the line is
 * printed: losing a warning is worse than printing one too many). */
static log_kind *kind_of(const char *fmt) {
  for (size_t i = 0; i < LOG_KINDS; i++) {
    if (log_kinds[i].fmt == fmt) return &log_kinds[i];
    if (!log_kinds[i].fmt) {
      log_kinds[i].fmt = fmt;
      log_kinds[i].last_printed = (time_t)-1;
      return &log_kinds[i];
    }
  }
  return NULL;
}

INPROF__HIDDEN void inprof__log(uint32_t level, const char *fmt, ...) {
  if (level == INPROF__LOG_OFF ||
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
  time_t window = (time_t)inprof__log_window_s;
  if (level <= INPROF__LOG_WARN) {
    log_kind *k = kind_of(fmt);
    if (k && k->last_printed != (time_t)-1 && now - k->last_printed < window) {
      k->repeats++;
    } else if (k && k->repeats) {
      fprintf(stderr, "inprof: %s: %s (%u more like this since the last one)\n",
              names[level], line, k->repeats);
      k->repeats = 0;
      k->last_printed = now;
    } else {
      fprintf(stderr, "inprof: %s: %s\n", names[level], line);
      if (k) k->last_printed = now;
    }
  } else {
    if (now - log_window_start >= window) {
      if (log_suppressed)
        fprintf(stderr, "inprof: info: %u info/debug lines suppressed\n", log_suppressed);
      log_window_start = now;
      log_in_window = log_suppressed = 0;
    }
    if (log_in_window++ < LOG_BURST)
      fprintf(stderr, "inprof: %s: %s\n", names[level], line);
    else
      log_suppressed++;
  }
  pthread_mutex_unlock(&log_lock);
}

/* ------------------------------------------------------------ counters */

INPROF__HIDDEN void inprof__counters_fill(inprof_statistics *out) {
#define INPROF__COUNTER_LOAD(name) \
  out->name = atomic_load_explicit(&inprof__stats.name, memory_order_relaxed);
  INPROF__COUNTER_LIST(INPROF__COUNTER_LOAD)
#undef INPROF__COUNTER_LOAD
}

/* ---------------------------------------------------------------- fork */

/* A child inherits these locks in whatever state the forking moment left
 * them, possibly held by a thread that does not exist there. */
INPROF__HIDDEN void inprof__diag_atfork_child(void) {
  pthread_mutex_init(&error_lock, NULL);
  pthread_mutex_init(&log_lock, NULL);
}
