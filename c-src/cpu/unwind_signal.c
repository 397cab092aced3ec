/*
 * cpu/unwind_signal.c - stack walking from a signal handler, and nothing
 * else: everything here is async-signal-safe (no malloc, no locks, no
 * stdio), which tests/packaging/check_signal_safe.sh checks on this
 * object's undefined symbols.
 *
 * The recorded stack starts at the exact interrupted PC: the handler's own
 * frames never appear. libunwind's local unwinding is signal-safe once its
 * caching policy is set (which is not itself signal-safe, hence
 * inprof__unwind_init at start, in cpu/unwind.c).
 */
#include <ucontext.h>

#ifndef UNW_LOCAL_ONLY
#define UNW_LOCAL_ONLY
#endif
#include <libunwind.h>

#include "cpu/unwind_signal.h"

/*
 * Code whose frames the fast walk must not trust: the exception unwinders
 * themselves (libgcc_s, libunwind). While they install a landing pad
 * (__builtin_eh_return) the stack is between two states that no CFI
 * describes, and the fast walk, which reads memory without checking it,
 * crashed there (a Rust panic caught while sampling at 1000 Hz). Samples
 * whose PC is in these objects take the careful walk. The list only grows,
 * published entry by entry, so the handler can read it without a lock.
 */
#define UNTRUSTED_MAX 16
static struct { uintptr_t start, end; } untrusted[UNTRUSTED_MAX];
static _Atomic uint32_t untrusted_count;

INPROF__HIDDEN void inprof__unwind_distrust(uintptr_t start, uintptr_t end) {
  uint32_t n = atomic_load_explicit(&untrusted_count, memory_order_relaxed);
  for (uint32_t k = 0; k < n; k++)
    if (untrusted[k].start == start) return;
  if (n == UNTRUSTED_MAX) return;
  untrusted[n].start = start;
  untrusted[n].end = end;
  atomic_store_explicit(&untrusted_count, n + 1, memory_order_release);
}

static int pc_untrusted(uintptr_t pc) {
  uint32_t n = atomic_load_explicit(&untrusted_count, memory_order_acquire);
  for (uint32_t k = 0; k < n; k++)
    if (pc >= untrusted[k].start && pc < untrusted[k].end) return 1;
  return 0;
}

/* The careful walk: a cursor started at the signal's ucontext. libunwind's
 * unw_step blocks and restores signals around every DWARF lookup (two
 * rt_sigprocmask calls per frame), about 0.5 us a frame. */
INPROF__HIDDEN uint32_t inprof__unwind_signal_careful(void *ucontext, uintptr_t *frames,
                                                      uint32_t max) {
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) < 0)
    return 0;
  uint32_t n = 0;
  do {
    unw_word_t ip;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    frames[n++] = (uintptr_t)ip;
  } while (n < max && unw_step(&cursor) > 0);
  return n;
}

/* Frames above the interrupted PC in a handler's own backtrace: this
 * function, the handler, the kernel's sigreturn trampoline, and slack for a
 * caller that is not inlined. */
#define SIGNAL_FRAMES_ABOVE 6

/*
 * The fast walk: unw_backtrace from inside the handler uses libunwind's
 * per-thread trace cache (frame layouts cached by PC, no system calls once
 * warm: ~0.4 us for 32 frames instead of ~15 us) and walks through the
 * signal trampoline into the interrupted code. The frames above the
 * interrupted PC are cut at the first frame equal to the ucontext's PC; if
 * it is not found (an unusual trampoline, a fallback inside libunwind), the
 * careful walk runs instead.
 */
INPROF__HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                              uint32_t max) {
  if (max == 0) return 0;
  if (max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  void *buf[INPROF_MAX_FRAMES_LIMIT + SIGNAL_FRAMES_ABOVE];
  uintptr_t pc = (uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
  if (pc_untrusted(pc)) return inprof__unwind_signal_careful(ucontext, frames, max);
  int got = unw_backtrace(buf, (int)(max + SIGNAL_FRAMES_ABOVE));
  for (int i = 0; i < got && i < SIGNAL_FRAMES_ABOVE; i++) {
    if ((uintptr_t)buf[i] != pc) continue;
    uint32_t n = (uint32_t)(got - i);
    if (n > max) n = max;
    for (uint32_t k = 0; k < n; k++) frames[k] = (uintptr_t)buf[i + k];
    return n;
  }
  return inprof__unwind_signal_careful(ucontext, frames, max);
}
