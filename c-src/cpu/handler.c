/*
 * cpu/handler.c - the CPU profiling signal handler and what it calls, and
 * nothing else. Everything here runs in signal context: no malloc, no
 * locks, no stdio, no logging; errno is preserved.
 * tests/packaging/check_signal_safe.sh checks this object's undefined
 * symbols against an allow-list.
 *
 * Why weights: each sample is weighted by the thread's CPU-clock delta since
 * its previous sample, so cpu-time stays exact when the kernel merges
 * expirations, when a thread was armed late, or when a sample is dropped
 * (a dropped sample leaves the delta for the next one). A thread's slot is
 * published with its baseline before its timer is armed, so even its first
 * sample finds it: a thread found late is weighted by all of its CPU time
 * since it was born (or since start, for threads alive at start).
 */
#include <errno.h>
#include <ucontext.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/diag.h"
#include "cpu/handler.h"
#include "cpu/unwind.h"
#include "sample/context.h"

INPROF__HIDDEN inprof__cpu_state inprof__cpu;

INPROF__HIDDEN void inprof__sampler_write_cpu(inprof__ring *r, inprof__sample *s, uint32_t tid,
                                              uint64_t weight, void *ucontext) {
  s->kind = INPROF__SAMPLE_CPU;
  s->tid = tid;
  s->timestamp_ns = inprof__now_ns(CLOCK_REALTIME);
  s->value = weight;
  s->count = 1;
  s->addr = 0;
  inprof__context_copy(&s->ctx); /* the thread's span ids and labels */
  s->flags = 0;
  /* With too little stack left to walk (a nearly full thread stack, a
   * small alternate stack), the interrupted PC alone keeps the sample's
   * CPU time where it was spent. */
  if (inprof__unwind_stack_room(INPROF__UNWIND_STACK_NEED)) {
    s->nframes = inprof__unwind_signal(ucontext, s->frames, inprof__ring_max_frames(r));
  } else {
    atomic_fetch_add_explicit(&inprof__unwind_counters.no_stack_room, 1, memory_order_relaxed);
    s->frames[0] = (uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
    s->nframes = 1;
  }
  inprof__ring_commit(r, s);
}

INPROF__HIDDEN void inprof__cpu_handler(int sig, siginfo_t *info, void *ucontext) {
  (void)sig;
  int saved_errno = errno;
  atomic_fetch_add(&inprof__cpu.handlers_inflight, 1);
  if (!atomic_load(&inprof__cpu.active)) goto out;
  inprof__ring *r = atomic_load_explicit(&inprof__cpu.ring, memory_order_acquire);
  if (!r) goto out;
  if (info->si_code == SI_TIMER && info->si_value.sival_int == INPROF__CPU_WAKE_COOKIE) {
    /* The process-wide wake timer (cpu/threads.c): the process has used
     * CPU while the collector slept; it is not a sample. */
    inprof__ring_wake(r);
    goto out;
  }
  if (info->si_code == SI_TIMER && info->si_overrun > 0)
    INPROF__COUNT(cpu_timer_overruns, (uint64_t)info->si_overrun);

  uint32_t tid = (uint32_t)syscall(SYS_gettid);
  inprof__sample *s = inprof__ring_reserve(r);
  if (!s) {
    /* Keep the thread's baseline: the next sample carries this CPU time. */
    INPROF__COUNT(cpu_samples_dropped, 1);
    goto out;
  }
  uint64_t now = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
  inprof__thread_slot *slot = inprof__cpu_table_find(tid);
  uint64_t weight;
  if (slot) {
    uint64_t prev = atomic_exchange(&slot->last_cpu_ns, now);
    weight = now > prev ? now - prev : 0;
  } else {
    weight = inprof__cpu.interval_ns *
             (1 + (uint64_t)(info->si_overrun > 0 ? info->si_overrun : 0));
  }
  inprof__sampler_write_cpu(r, s, tid, weight, ucontext);
  INPROF__COUNT(cpu_samples, 1);
out:
  atomic_fetch_sub(&inprof__cpu.handlers_inflight, 1);
  errno = saved_errno;
}

