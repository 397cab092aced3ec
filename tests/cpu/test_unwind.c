/*
 * The signal-context unwinder (inprof's own CFI walker over copied tables)
 * must give exactly the frames that libunwind's cursor walk gives from the
 * same ucontext: at shallow and deep stacks, through libc (qsort calling
 * back into this program) and through a signal frame (a sample taken
 * inside another signal's handler), with frame 0 the interrupted PC and
 * the handler's own frames absent; max_frames truncates. The heap hooks'
 * walk of the caller's own stack gives the same frames too.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdlib.h>

#include "base/clock.h"
#include "cpu/unwind.h"
#include "testutil.h"

#define MAXF 256
static uintptr_t fast[MAXF], careful[MAXF];
static volatile uint32_t nfast, ncareful, limit = MAXF;
static volatile uintptr_t pc;
static volatile uint64_t fast_ns, careful_ns;

/* The reference: libunwind's cursor from the signal's ucontext. */
static uint32_t libunwind_walk(void *uc, uintptr_t *frames, uint32_t max) {
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0) return 0;
  uint32_t n = 0;
  do {
    unw_word_t ip;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    frames[n++] = (uintptr_t)ip;
  } while (n < max && unw_step(&cursor) > 0);
  return n;
}

static void handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
  uint64_t t0 = inprof__now_ns(CLOCK_MONOTONIC);
  nfast = inprof__unwind_signal(uc, fast, limit);
  uint64_t t1 = inprof__now_ns(CLOCK_MONOTONIC);
  ncareful = libunwind_walk(uc, careful, limit);
  uint64_t t2 = inprof__now_ns(CLOCK_MONOTONIC);
  fast_ns += t1 - t0;
  careful_ns += t2 - t1;
}

static int mismatches;

static void compare(int depth) {
  /* libunwind's outermost frame may be one past the CFI's end (_start's
   * caller, 0 filtered above); a walk that stops one frame earlier there
   * is the same walk. */
  if (ncareful == nfast + 1 && nfast > 0 && nfast < limit &&
      memcmp(fast, careful, nfast * sizeof *fast) == 0)
    return;
  if (nfast != ncareful || memcmp(fast, careful, nfast * sizeof *fast) != 0) {
    if (mismatches++ < 3) {
      fprintf(stderr, "depth %d: fast %u frames, careful %u\n", depth, nfast, ncareful);
      for (uint32_t i = 0; i < nfast || i < ncareful; i++)
        fprintf(stderr, "  %2u %#lx %#lx\n", i, i < nfast ? (unsigned long)fast[i] : 0ul,
                i < ncareful ? (unsigned long)careful[i] : 0ul);
    }
  }
}

__attribute__((noinline)) static int recurse(int depth, int left) {
  volatile int pad[4];
  pad[0] = left;
  if (left == 0) {
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGPROF);
    compare(depth);
    CHECK(nfast > 0 && fast[0] == pc);
    CHECKF(nfast >= (uint32_t)depth || nfast == limit, "depth %d: only %u frames", depth,
           nfast);
    return 0;
  }
  int r = recurse(depth, left - 1) + pad[0];
  __asm__ volatile("" ::: "memory");
  return r;
}

/* Through libc: the sample is taken in a comparator qsort calls. */
static int sampled_in_compare;
static int cmp_ints(const void *a, const void *b) {
  if (!sampled_in_compare) {
    sampled_in_compare = 1;
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGPROF);
    compare(-1);
    CHECKF(nfast >= 4, "through qsort: only %u frames", nfast);
  }
  return *(const int *)a - *(const int *)b;
}

/* Through a signal frame: SIGPROF raised inside a SIGUSR1 handler. */
static volatile uint32_t depth_in_usr1;
static void usr1_handler(int sig) {
  (void)sig;
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGPROF);
  compare(-2);
  depth_in_usr1 = nfast;
}

__attribute__((noinline)) static void raise_usr1(int left) {
  if (left) {
    raise_usr1(left - 1);
    __asm__ volatile("" ::: "memory");
    return;
  }
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
}

/* The caller's own stack (heap hooks): same frames as libunwind's
 * unw_backtrace from the same function, apart from the first. */
__attribute__((noinline)) static void own_stack(int left) {
  if (left) {
    own_stack(left - 1);
    __asm__ volatile("" ::: "memory");
    return;
  }
  uintptr_t mine[64];
  void *ref[64];
  uint32_t n = inprof__unwind_here(mine, 64, 0);
  int m = unw_backtrace(ref, 64);
  /* mine[0] and ref[0] are both in this function, at different places. */
  CHECKF(n > 10 && (int)n == m, "own stack: %u frames, libunwind %d", n, m);
  for (uint32_t i = 1; i < n && (int)i < m; i++)
    CHECKF(mine[i] == (uintptr_t)ref[i], "own stack frame %u: %#lx vs %#lx", i,
           (unsigned long)mine[i], (unsigned long)ref[i]);
}

int main(void) {
  inprof__unwind_init();
  struct sigaction sa = {0};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGPROF, &sa, NULL);
  int depths[] = {1, 8, 32, 128, 200};
  for (int d = 0; d < 5; d++) {
    fast_ns = careful_ns = 0;
    for (int i = 0; i < 200; i++) recurse(depths[d], depths[d]);
    printf("depth %3d: %u frames, inprof %.2f us, libunwind %.2f us per walk\n", depths[d], nfast,
           fast_ns / 200e3, careful_ns / 200e3);
  }
  int v[64];
  for (int i = 0; i < 64; i++) v[i] = (i * 37) % 64;
  qsort(v, 64, sizeof v[0], cmp_ints);
  CHECK(sampled_in_compare);
  signal(SIGUSR1, usr1_handler);
  raise_usr1(5);
  CHECKF(depth_in_usr1 >= 8, "through a signal frame: only %u frames", depth_in_usr1);
  own_stack(10);
  uint64_t counts[4];
  inprof__unwind_get_counts(counts);
  printf("walks ended early: unknown pc %llu, no stack room %llu, gated %llu, bad cfi %llu\n",
         (unsigned long long)counts[0], (unsigned long long)counts[1],
         (unsigned long long)counts[2], (unsigned long long)counts[3]);
  CHECKF(mismatches == 0, "%d walks differ", mismatches);
  /* Truncation at max_frames. */
  limit = 10;
  recurse(50, 50);
  CHECK(nfast == 10 && ncareful == 10);
  CHECK(memcmp(fast, careful, 10 * sizeof *fast) == 0);
  return testutil_done("test_unwind");
}
