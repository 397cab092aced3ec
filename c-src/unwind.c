/*
 * unwind.c - owns stack walking with libunwind (DWARF CFI, so Rust release
 * builds without frame pointers unwind too).
 *
 * From a signal handler we start at the signal's ucontext with
 * UNW_INIT_SIGNAL_FRAME, so the handler's own frames never appear and the
 * first frame is the exact interrupted PC. libunwind's local unwinding is
 * signal-safe once its caching policy is set (which is not itself
 * signal-safe, hence inprof__unwind_init at start).
 */
#include <string.h>

#ifndef UNW_LOCAL_ONLY
#define UNW_LOCAL_ONLY
#endif
#include <libunwind.h>

#include "internal.h"

INPROF_HIDDEN void inprof__unwind_init(void) {
  /* Per-thread caches: no global lock taken from a signal handler. */
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

INPROF_HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                             uint32_t max) {
  unw_cursor_t cursor;
  if (max == 0 || unw_init_local2(&cursor, (unw_context_t *)ucontext,
                                  UNW_INIT_SIGNAL_FRAME) < 0)
    return 0;
  uint32_t n = 0;
  do {
    unw_word_t ip;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    frames[n++] = (uintptr_t)ip;
  } while (n < max && unw_step(&cursor) > 0);
  return n;
}

INPROF_HIDDEN uint32_t inprof__unwind_here(uintptr_t *frames, uint32_t max,
                                           uint32_t skip) {
  void *buf[INPROF_MAX_FRAMES_LIMIT + 16];
  if (skip > 16) skip = 16;
  if (max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  /* +1: this function's own frame */
  int got = unw_backtrace(buf, (int)(max + skip + 1));
  int first = (int)skip + 1;
  if (got <= first) return 0;
  uint32_t n = (uint32_t)(got - first);
  if (n > max) n = max;
  for (uint32_t i = 0; i < n; i++) frames[i] = (uintptr_t)buf[first + i];
  return n;
}
