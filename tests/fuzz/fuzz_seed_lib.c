/* fuzz_seed_lib.c - a small shared object with symbols, a build id and
 * inlined calls: the seed fuzz_elf mutates (tests/fuzz/CMakeLists.txt). */
#include <stdint.h>

volatile uint64_t fuzz_seed_sink;

static inline __attribute__((always_inline)) uint64_t seed_inner(uint64_t x) {
  fuzz_seed_sink += x;
  return x * 3 + 1;
}

static inline __attribute__((always_inline)) uint64_t seed_middle(uint64_t x) {
  return seed_inner(x ^ 0x55) + 7;
}

__attribute__((noinline, visibility("default"))) uint64_t fuzz_seed_entry(uint64_t x) {
  return seed_middle(x) * 5;
}

__attribute__((noinline, visibility("default"))) uint64_t fuzz_seed_other(uint64_t x) {
  return seed_inner(x + 11) - fuzz_seed_entry(x);
}
