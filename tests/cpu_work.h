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

/* A timer on the calling thread's CPU clock that sends signo to this
 * thread every period_ns of its CPU time (the way the sampler arms its
 * own); exits the test when the kernel refuses. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline timer_t cpu_work_thread_timer(int signo, long period_ns) {
  struct sigevent sev = {0};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = signo;
  sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  timer_t t;
  struct itimerspec its = {{period_ns / 1000000000, period_ns % 1000000000},
                           {period_ns / 1000000000, period_ns % 1000000000}};
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) != 0 || timer_settime(t, 0, &its, NULL) != 0) {
    perror("cpu_work_thread_timer");
    exit(1);
  }
  return t;
}

#endif
