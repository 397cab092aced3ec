/*
 * cpu/handler.h - the CPU profiling signal handler and the state it reads:
 * the thread table (tid -> CPU-clock baseline), the ring it writes into and
 * the on/off switch. cpu/threads.c maintains that state (it is the only
 * writer); the handler only reads it and swaps baselines.
 */
#ifndef INPROF__CPU_HANDLER_H
#define INPROF__CPU_HANDLER_H

#include <signal.h>
#include <stdint.h>

#include "base/common.h"
#include "sample/ring.h"

/* The thread table: open addressing keyed by tid, written only by the
 * collector, read by the handler. Keys go 0 -> tid -> TOMBSTONE -> tid... */
#define INPROF__CPU_TABLE_SIZE 16384u      /* power of two */
#define INPROF__CPU_TOMBSTONE UINT32_MAX

typedef struct inprof__thread_slot {
  _Atomic uint32_t tid;
  int32_t timer_id;            /* kernel timer id; -1: a thread we do not sample */
  _Atomic uint64_t last_cpu_ns;
  uint32_t seen_scan;          /* collector: scan number last seen in */
  uint32_t live_pos;           /* collector: index in the live list */
} inprof__thread_slot;

/* The handler's state, defined in handler.c, written by threads.c. */
typedef struct inprof__cpu_state {
  inprof__thread_slot table[INPROF__CPU_TABLE_SIZE];
  _Atomic int active;                  /* handler records samples */
  _Atomic int handlers_inflight;
  inprof__ring *_Atomic ring;
  uint64_t interval_ns;                /* weight when a thread is not in the table */
} inprof__cpu_state;
extern INPROF__HIDDEN inprof__cpu_state inprof__cpu;

static inline uint32_t inprof__tid_hash(uint32_t tid) { return tid * 2654435761u; }

/* The slot of tid, or NULL. Async-signal-safe (lock-free reads). */
static inline inprof__thread_slot *inprof__cpu_table_find(uint32_t tid) {
  for (uint32_t i = 0, h = inprof__tid_hash(tid); i < INPROF__CPU_TABLE_SIZE; i++, h++) {
    inprof__thread_slot *s = &inprof__cpu.table[h & (INPROF__CPU_TABLE_SIZE - 1)];
    uint32_t k = atomic_load_explicit(&s->tid, memory_order_acquire);
    if (k == tid) return s;
    if (k == 0) return NULL;
  }
  return NULL;
}

/* sigev_value of the process-wide wake timer (cpu/threads.c): the handler
 * only wakes the collector for it. Per-thread timers carry 0. */
#define INPROF__CPU_WAKE_COOKIE 0x1e9f0a5e

/* The SA_SIGINFO handler threads.c installs. */
INPROF__HIDDEN void inprof__cpu_handler(int sig, siginfo_t *info, void *ucontext);

/* The handler's recording step: fills a reserved slot (stack from the
 * signal's ucontext) and commits it. Async-signal-safe; the benchmark of
 * the handler path calls it too. */
INPROF__HIDDEN void inprof__sampler_write_cpu(inprof__ring *r, inprof__sample *s, uint32_t tid,
                                              uint64_t weight, void *ucontext);

#endif
