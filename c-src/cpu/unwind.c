/*
 * cpu/unwind.c - the normal-context side of stack walking: libunwind's set-up,
 * finding the exception unwinders' code (which the signal-context walk must
 * not trust, see unwind_signal.c), and walking the caller's own stack (heap
 * hooks).
 */
#include <link.h>
#include <string.h>

#ifndef UNW_LOCAL_ONLY
#define UNW_LOCAL_ONLY
#endif
#include <libunwind.h>

#include "cpu/unwind.h"

static int untrusted_cb(struct dl_phdr_info *info, size_t size, void *ctx) {
  (void)size;
  (void)ctx;
  const char *name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
  name = name ? name + 1 : info->dlpi_name;
  if (!name || (strncmp(name, "libgcc_s.so", 11) != 0 && strncmp(name, "libunwind.so", 12) != 0 &&
                strncmp(name, "libunwind-x86_64.so", 19) != 0))
    return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    inprof__unwind_distrust(start, start + ph->p_memsz);
  }
  return 0;
}

INPROF__HIDDEN void inprof__unwind_init(void) {
  /* Per-thread caches: no global lock taken from a signal handler. */
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  inprof__unwind_refresh();
}

INPROF__HIDDEN void inprof__unwind_refresh(void) {
  /* Not from a signal handler: dl_iterate_phdr takes the loader's lock. */
  dl_iterate_phdr(untrusted_cb, NULL);
}

INPROF__HIDDEN uint32_t inprof__unwind_here(uintptr_t *frames, uint32_t max,
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
