/*
 * cpu/unwind.h - stack walking by DWARF CFI (so Rust release builds
 * without frame pointers unwind too), normal-context side. The
 * signal-context walk is in cpu/unwind_signal.h.
 */
#ifndef INPROF__CPU_UNWIND_H
#define INPROF__CPU_UNWIND_H

#include <pthread.h>
#include <stdint.h>

#include "base/common.h"
#include "cpu/unwind_signal.h"

/* Builds the first snapshot of the loaded objects' unwind tables (not
 * signal-safe). Before the first walk; idempotent. */
INPROF__HIDDEN void inprof__unwind_init(void);
/* Brings the snapshot up to date after dlopen/dlclose: cheap when nothing
 * was loaded or unloaded. Normal context only (collector tick). */
INPROF__HIDDEN void inprof__unwind_refresh(void);
/* unknown_pc, no_stack_room, gated, bad_cfi (see unwind_signal.h). */
INPROF__HIDDEN void inprof__unwind_get_counts(uint64_t out[4]);
/* Fork: prepare waits until no thread is inside the unwinder and keeps new
 * walks out (they drop their sample) until parent/child; the child forgets
 * nothing it needs. Called from api.c's one fork path. */
INPROF__HIDDEN void inprof__unwind_atfork_prepare(void);
INPROF__HIDDEN void inprof__unwind_atfork_parent(void);
INPROF__HIDDEN void inprof__unwind_atfork_child(void);

#endif
