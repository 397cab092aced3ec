/*
 * cpu/unwind_signal.h - the lock-free stack walker (cpu/unwind_signal.c)
 * and the read-only unwind tables it walks with, which cpu/unwind.c builds
 * outside signal context. Everything declared here as "signal-safe" takes
 * no lock, allocates nothing and calls nothing that could.
 */
#ifndef INPROF__CPU_UNWIND_SIGNAL_H
#define INPROF__CPU_UNWIND_SIGNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

/*
 * One loaded object's unwind information, copied out of the object by the
 * builder: the walker never reads a loaded object's own memory, so an
 * object unmapped by dlclose() while a thread is being sampled cannot be
 * read after it is gone. Addresses are the object's run-time addresses;
 * the copies are read at (address - *_addr) offsets.
 */
typedef struct inprof__unwind_object {
  uintptr_t start, end;      /* executable segments, run-time addresses */
  uintptr_t hdr_addr;        /* .eh_frame_hdr: base of its datarel values */
  const int32_t *table;      /* copy of its sorted (initial loc, FDE) pairs */
  uint32_t fde_count;
  uintptr_t eh_frame_addr;   /* .eh_frame */
  const uint8_t *eh_frame;   /* copy */
  size_t eh_frame_len;
} inprof__unwind_object;

/* What the walker walks with: objects sorted by start, immutable once
 * published. */
typedef struct inprof__unwind_snapshot {
  uint32_t count;
  const inprof__unwind_object *objects[];
} inprof__unwind_snapshot;

/* Machine state the walk starts from. */
typedef struct inprof__unwind_regs {
  uintptr_t ip, sp, bp;
} inprof__unwind_regs;

/* Counters of walks that ended early (read by stats and tests). */
typedef struct inprof__unwind_counts {
  _Atomic uint64_t unknown_pc;    /* a PC in no object of the snapshot */
  _Atomic uint64_t no_stack_room; /* too little stack left to walk: skipped */
  _Atomic uint64_t gated;         /* no snapshot yet, or a fork in progress */
  _Atomic uint64_t bad_cfi;       /* CFI the walker does not model, or a bad read */
} inprof__unwind_counts;
INPROF__HIDDEN extern inprof__unwind_counts inprof__unwind_counters;

/* ---- shared with the builder (cpu/unwind.c) ---- */
INPROF__HIDDEN extern _Atomic(const inprof__unwind_snapshot *) inprof__unwind_current;
INPROF__HIDDEN extern _Atomic uint32_t inprof__unwind_epoch;
INPROF__HIDDEN extern _Atomic uint32_t inprof__unwind_readers[2];
INPROF__HIDDEN extern _Atomic int inprof__unwind_gate; /* nonzero: walks refuse */

/* Signal-safe. Walks from `regs`, writing up to max return addresses
 * (frames[0] = regs->ip). The first `skip` frames are walked but not
 * written. Returns the number of frames written. */
INPROF__HIDDEN uint32_t inprof__unwind_walk(const inprof__unwind_regs *regs, uintptr_t *frames,
                                            uint32_t max, uint32_t skip);
/* Walks another thread's stack from a copy of it (cpu/wall.c): reads in
 * [base, base + len) come from copy, any other read ends the walk. Starts
 * at regs (bp 0 when unknown: CFI at a syscall wrapper is sp-based).
 * Signal-safe like the rest, though only the collector calls it. */
INPROF__HIDDEN uint32_t inprof__unwind_walk_copy(const inprof__unwind_regs *regs,
                                                 const uint8_t *copy, uintptr_t base,
                                                 size_t len, uintptr_t *frames, uint32_t max);
/* Signal-safe. From a signal's ucontext. */
INPROF__HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                              uint32_t max);
/* Stack a walk may need below its caller's frame; with less left, a walk
 * records only the interrupted PC (counted) instead of risking overflow.
 * Sanitizers make frames several times larger. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define INPROF__UNWIND_STACK_NEED (16u * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define INPROF__UNWIND_STACK_NEED (16u * 1024)
#endif
#endif
#ifndef INPROF__UNWIND_STACK_NEED
#define INPROF__UNWIND_STACK_NEED (4u * 1024)
#endif

/* The caller's stack, skipping `skip` innermost frames. Signal-safe: the
 * heap hooks call it from anywhere, signal handlers included. */
INPROF__HIDDEN uint32_t inprof__unwind_here(uintptr_t *frames, uint32_t max, uint32_t skip);

/* Signal-safe. Nonzero when `bytes` of stack below the caller's frame are
 * mapped and writable-looking (readable; guard pages are not): checked
 * with a system call, never by touching the memory. */
INPROF__HIDDEN int inprof__unwind_stack_room(size_t bytes);

#endif
