/* cpu_work.h - CPU burners with exact per-thread CPU budgets for the tests. */
#ifndef INPROF_CPU_WORK_H
#define INPROF_CPU_WORK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cpu_work_thread_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins inside the caller's frame until this thread used `ns` of CPU. The
 * loop body is plain arithmetic so the PC is almost always in the caller. */
#define CPU_WORK_SPIN(ns)                                        \
  do {                                                           \
    uint64_t until_ = cpu_work_thread_ns() + (ns);               \
    volatile uint64_t acc_ = 1;                                  \
    for (;;) {                                                   \
      for (int i_ = 0; i_ < 20000; i_++) acc_ = acc_ * 6364136223846793005ull + 1; \
      if (cpu_work_thread_ns() >= until_) break;                 \
    }                                                            \
  } while (0)

#endif
