/*
 * cpu/unwind.h - stack walking with libunwind (DWARF CFI, so Rust release
 * builds without frame pointers unwind too), normal-context side. The
 * signal-context walk is in cpu/unwind_signal.h.
 */
#ifndef INPROF__CPU_UNWIND_H
#define INPROF__CPU_UNWIND_H

#include <stdint.h>

#include "base/common.h"
#include "cpu/unwind_signal.h"

/* Sets libunwind's caching policy (not signal-safe) and reads the loaded
 * unwinder libraries. Before the first signal. */
INPROF__HIDDEN void inprof__unwind_init(void);
/* Picks up newly loaded unwinder libraries (see unwind.c). Collector only. */
INPROF__HIDDEN void inprof__unwind_refresh(void);
/* From the caller, skipping `skip` innermost frames (normal context). */
INPROF__HIDDEN uint32_t inprof__unwind_here(uintptr_t *frames, uint32_t max,
                                            uint32_t skip);

#endif
