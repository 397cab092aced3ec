/* wall_util.h - what the wall-time tests share: clocks, a sleep that
 * resumes after EINTR, and go tool pprof -top over wall-time. */
#ifndef INPROF_WALL_UTIL_H
#define INPROF_WALL_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps ms milliseconds in all, resuming after an interruption. */
static inline void nap_ms(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&d, &d) != 0 && errno == EINTR) {
  }
}

/* `go tool pprof -top` rows of a profile's wall-time, optionally limited
 * to samples whose tag matches ("thread name=^w-main$"), and the profile's
 * duration (NULL: not wanted). Rows, or -1. */
static inline int wall_top(const char *file, const char *tagfocus, testutil_row *rows, int max,
                           double *duration_ns) {
  char focus[160] = "";
  if (tagfocus) snprintf(focus, sizeof focus, "'-tagfocus=%s'", tagfocus);
  char *out = testutil_capture("%s tool pprof -top -nodecount=100000 -nodefraction=0 "
                               "-edgefraction=0 -sample_index=wall-time -unit=minimum %s %s 2>&1",
                               INPROF_GO, focus, file);
  if (!out) return -1;
  char *d = strstr(out, "Duration: ");
  if (d && duration_ns) *duration_ns = strtod(d + 10, NULL) * 1e9;
  return testutil_parse_top(out, rows, max);
}

#endif
