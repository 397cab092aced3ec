/*
 * base/clock.h - the one place that reads clocks and converts between
 * nanoseconds and struct timespec. Deadlines are absolute CLOCK_MONOTONIC
 * nanoseconds everywhere in the library.
 */
#ifndef INPROF__BASE_CLOCK_H
#define INPROF__BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

#define INPROF__NS_PER_MS 1000000ull
#define INPROF__NS_PER_S 1000000000ull

static inline uint64_t inprof__timespec_to_ns(const struct timespec *ts) {
  return (uint64_t)ts->tv_sec * INPROF__NS_PER_S + (uint64_t)ts->tv_nsec;
}

static inline struct timespec inprof__ns_to_timespec(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / INPROF__NS_PER_S), (long)(ns % INPROF__NS_PER_S)};
  return ts;
}

/* Async-signal-safe (clock_gettime is). */
static inline uint64_t inprof__now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return inprof__timespec_to_ns(&ts);
}

/* An absolute CLOCK_MONOTONIC deadline ms milliseconds from now. */
static inline uint64_t inprof__deadline_after_ms(uint64_t ms) {
  return inprof__now_ns(CLOCK_MONOTONIC) + ms * INPROF__NS_PER_MS;
}

/* Whole milliseconds left until deadline_ns, rounded up; 0 once passed. */
static inline uint64_t inprof__ms_until(uint64_t deadline_ns) {
  uint64_t now = inprof__now_ns(CLOCK_MONOTONIC);
  return deadline_ns > now ? (deadline_ns - now + INPROF__NS_PER_MS - 1) / INPROF__NS_PER_MS
                           : 0;
}

#endif
