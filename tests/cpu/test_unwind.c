/*
 * The signal-context unwinder: the fast walk (libunwind's cached trace,
 * cut at the interrupted PC) must give exactly the frames of the careful
 * cursor walk from the ucontext, at shallow and deep stacks, with frame 0
 * the interrupted PC and the handler's own frames absent; max_frames
 * truncates.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/clock.h"
#include "cpu/unwind.h"
#include "testutil.h"

#define MAXF 256
static uintptr_t fast[MAXF], careful[MAXF];
static volatile uint32_t nfast, ncareful, limit = MAXF;
static volatile uintptr_t pc;
static volatile uint64_t fast_ns, careful_ns;

static void handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
  uint64_t t0 = inprof__now_ns(CLOCK_MONOTONIC);
  nfast = inprof__unwind_signal(uc, fast, limit);
  uint64_t t1 = inprof__now_ns(CLOCK_MONOTONIC);
  ncareful = inprof__unwind_signal_careful(uc, careful, limit);
  uint64_t t2 = inprof__now_ns(CLOCK_MONOTONIC);
  fast_ns += t1 - t0;
  careful_ns += t2 - t1;
}

static int mismatches;

static void compare(int depth) {
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
    printf("depth %3d: %u frames, fast %.2f us, careful %.2f us per walk\n", depths[d], nfast,
           fast_ns / 200e3, careful_ns / 200e3);
  }
  CHECKF(mismatches == 0, "%d walks differ", mismatches);
  /* Truncation at max_frames. */
  limit = 10;
  recurse(50, 50);
  CHECK(nfast == 10 && ncareful == 10);
  CHECK(memcmp(fast, careful, 10 * sizeof *fast) == 0);
  return testutil_done("test_unwind");
}
