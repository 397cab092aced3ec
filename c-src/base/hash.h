/*
 * base/hash.h - hashing for addresses and stacks. The stack hash is the
 * one the aggregate and the heap's stack table both key on.
 */
#ifndef INPROF__BASE_HASH_H
#define INPROF__BASE_HASH_H

#include <stdint.h>

/* A 64-bit finalizer (MurmurHash3's fmix64): good spread for addresses. */
static inline uint64_t inprof__mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

/* A (thread, stack) key: position-dependent, so permuted stacks differ. */
static inline uint64_t inprof__stack_hash(uint32_t tid, const uintptr_t *frames,
                                          uint32_t n) {
  uint64_t h = inprof__mix64(((uint64_t)tid << 32) ^ n ^ 0x9e3779b97f4a7c15ull);
  for (uint32_t i = 0; i < n; i++) h = inprof__mix64(h ^ (uint64_t)frames[i]) + i;
  return h;
}

#endif
