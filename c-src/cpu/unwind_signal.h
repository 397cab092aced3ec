/*
 * cpu/unwind_signal.h - stack walking from a signal's ucontext; everything
 * here is async-signal-safe (cpu/unwind_signal.c).
 */
#ifndef INPROF__CPU_UNWIND_SIGNAL_H
#define INPROF__CPU_UNWIND_SIGNAL_H

#include <stdint.h>

#include "base/common.h"

/* From a signal's ucontext. Returns frames written. */
INPROF__HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                              uint32_t max);
/* The same with a libunwind cursor only (the fallback; tests compare both). */
INPROF__HIDDEN uint32_t inprof__unwind_signal_careful(void *ucontext, uintptr_t *frames,
                                                      uint32_t max);
/* Marks [start, end) as code the fast walk must not trust (see
 * unwind_signal.c). Not from a signal handler; one writer at a time. */
INPROF__HIDDEN void inprof__unwind_distrust(uintptr_t start, uintptr_t end);

#endif
