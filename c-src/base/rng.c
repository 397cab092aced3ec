/*
 * base/rng.c - seeding and the exponential draw of base/rng.h.
 */
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/hash.h"
#include "base/rng.h"

static _Atomic uint64_t seed_counter;

INPROF__HIDDEN uint64_t inprof__rng_seed(uint64_t extra) {
  uint64_t n = atomic_fetch_add_explicit(&seed_counter, 1, memory_order_relaxed);
  uint64_t x = inprof__mix64(extra ^ inprof__now_ns(CLOCK_MONOTONIC) ^
                             ((uint64_t)getpid() << 32) ^ (n * 0x9E3779B97F4A7C15ull));
  return x ? x : 0x2545F4914F6CDD1Dull;
}

INPROF__HIDDEN uint64_t inprof__rng_exp(uint64_t *state, uint64_t mean) {
  double u = (double)((inprof__rng_next(state) >> 11) + 1) * 0x1p-53; /* (0, 1] */
  double d = -log(u) * (double)mean;
  if (d >= 0x1p62) return (uint64_t)1 << 62;
  return (uint64_t)d + 1;
}
