/*
 * base/rng.h - the library's one pseudo-random generator (xorshift64*), its
 * seeding, and the exponential draw behind Poisson sampling. A state is
 * owned by one thread (the collector's for timer offsets, a TLS one per
 * thread for heap sampling): no locks, no shared state but a seed counter.
 */
#ifndef INPROF__BASE_RNG_H
#define INPROF__BASE_RNG_H

#include <stdint.h>

#include "base/common.h"

/* Next value; a zero state must be seeded first (inprof__rng_seed). */
static inline uint64_t inprof__rng_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* A non-zero seed distinct per call, thread and process, without locks;
 * extra is mixed in (a tid, an address). */
INPROF__HIDDEN uint64_t inprof__rng_seed(uint64_t extra);

/* The ceiling of an exponential draw with the given mean, at least 1: the
 * distance (in bytes, say) to the next sample of a Poisson process. */
INPROF__HIDDEN uint64_t inprof__rng_exp(uint64_t *state, uint64_t mean);

#endif
