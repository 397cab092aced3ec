/*
 * churn_lib.c - a module the dlopen/dlclose churn reproducer (and the soak)
 * loads and unloads over and over. Built several times under different
 * names, so several distinct objects come and go. Its code is hot (CPU
 * samples land in it) and it allocates (heap samples unwind through it), so
 * the profiler's signal handler must unwind through objects that are being
 * mapped and unmapped.
 */
#include <stdint.h>
#include <stdlib.h>

typedef void (*churn_alloc_fn)(void *ptr, size_t size);
typedef void (*churn_free_fn)(void *ptr);

__attribute__((noinline)) static uint64_t churn_leaf(uint64_t x, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) static uint64_t churn_mid(uint64_t x, uint64_t n, churn_alloc_fn ra,
                                                    churn_free_fn rf) {
  void *p = malloc(512 + (x & 4095));
  if (p && ra) ra(p, 512 + (x & 4095));
  x = churn_leaf(x, n);
  if (p && rf) rf(p);
  free(p);
  return x;
}

/* Burns about `rounds` x 20000 multiply-adds, allocating once per round. */
__attribute__((visibility("default"))) uint64_t churn_work(uint64_t rounds, churn_alloc_fn ra,
                                                           churn_free_fn rf) {
  uint64_t x = (uint64_t)(uintptr_t)&churn_work;
  for (uint64_t r = 0; r < rounds; r++) x = churn_mid(x, 20000, ra, rf);
  return x;
}
