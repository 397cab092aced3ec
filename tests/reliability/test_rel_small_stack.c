/*
 * Issue 10, failure 4: the profiler must not overflow a nearly full stack.
 *
 *  - stack:N     a thread whose stack (guarded: a PROT_NONE page below it)
 *                has only N bytes left burns CPU under sampling at default
 *                settings. The first sample used to go through lazy binding
 *                of libunwind (_dl_runtime_resolve_xsavec) and overflow at
 *                16 KiB left.
 *  - altstack:N  a host SIGUSR1 handler on a guarded N-byte alternate stack
 *                (sigaltstack) burns CPU (so CPU samples land on the
 *                alternate stack) and calls inprof_record_alloc/free with a
 *                sample rate that samples every call.
 *
 * Each case runs in a fresh process (the test re-executes itself), so the
 * profiler's first sample is the one on the small stack, and a crash is
 * reported per case. Every case also runs WITHOUT the profiler first, as a
 * control: if the control fails, the test itself is wrong for this machine
 * (reported as such). Property: no case crashes with the profiler.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

#define STACK_SIZE (256 * 1024)
#define WORK_CPU_S 0.6

static size_t page;
static char *stack_low; /* lowest usable byte of the worker's stack */
static size_t want_left;

__attribute__((noinline)) static size_t stack_left(void) {
  return (size_t)((char *)__builtin_frame_address(0) - stack_low);
}

__attribute__((noinline)) static void burn_here(void) {
  /* vDSO clock_gettime and arithmetic only: little stack of our own. */
  rel_spin_cpu(WORK_CPU_S);
}

/* Recurses with 1 KiB frames until about want_left bytes remain. */
__attribute__((noinline)) static void descend(void) {
  volatile char pad[1024];
  pad[0] = 1;
  if (stack_left() > want_left + 1536) descend();
  else burn_here();
  __asm__ volatile("" ::"r"(pad) : "memory");
}

static void *low_stack_main(void *arg) {
  (void)arg;
  descend();
  return NULL;
}

/* A region with a PROT_NONE guard page below it; returns the usable base. */
static char *guarded(size_t size) {
  char *m = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(m != MAP_FAILED);
  REQUIRE(mprotect(m, page, PROT_NONE) == 0);
  return m + page;
}

static int run_stack_case(size_t left) {
  want_left = left;
  stack_low = guarded(STACK_SIZE);
  pthread_attr_t a;
  pthread_attr_init(&a);
  REQUIRE(pthread_attr_setstack(&a, stack_low, STACK_SIZE) == 0);
  pthread_t t;
  REQUIRE(pthread_create(&t, &a, low_stack_main, NULL) == 0);
  pthread_join(t, NULL);
  return 0;
}

static atomic_int handled;
static char fake_blocks[64];

static void usr1_handler(int sig) {
  (void)sig;
  int saved = errno;
  /* CPU work on the alternate stack, so profiling signals interrupt it. */
  volatile uint64_t x = 1;
  for (int i = 0; i < 200000; i++) x = x * 6364136223846793005ull + 1;
  for (int i = 0; i < 8; i++) {
    inprof_record_alloc(&fake_blocks[i], 4096);
    inprof_record_free(&fake_blocks[i]);
  }
  atomic_fetch_add(&handled, 1);
  errno = saved;
}

static atomic_int alt_done;
static size_t alt_size;

static void *alt_main(void *arg) {
  (void)arg;
  stack_t ss = {.ss_sp = guarded(alt_size), .ss_size = alt_size, .ss_flags = 0};
  REQUIRE(sigaltstack(&ss, NULL) == 0);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  while (!atomic_load(&alt_done)) rel_spin_cpu(0.001);
  return NULL;
}

static int run_altstack_case(size_t size) {
  alt_size = size;
  struct sigaction sa = {0};
  sa.sa_handler = usr1_handler;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
  /* Only the alternate-stack thread takes SIGUSR1. */
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, alt_main, NULL) == 0);
  for (int i = 0; i < 400; i++) {
    pthread_kill(t, SIGUSR1);
    rel_sleep_ms(2);
  }
  atomic_store(&alt_done, 1);
  pthread_join(t, NULL);
  return atomic_load(&handled) > 0 ? 0 : 3;
}

/* Child mode: argv = self --case stack|altstack BYTES profile|control */
static int child(const char *kind, size_t bytes, int profile) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  if (profile) {
    inprof_config cfg;
    inprof_config_init(&cfg); /* default rate and frames */
    cfg.upload = INPROF_UPLOAD_OFF;
    if (!strcmp(kind, "altstack")) cfg.heap_sample_bytes = 1; /* every call sampled */
    inprof_status st = inprof_start(&cfg);
    if (st != INPROF_OK) {
      fprintf(stderr, "start: %s (%s)\n", inprof_strerror(st), inprof_last_error());
      return 2;
    }
  }
  int rc = !strcmp(kind, "stack") ? run_stack_case(bytes) : run_altstack_case(bytes);
  if (profile) {
    inprof_statistics st = {.struct_size = sizeof st};
    inprof_stats(&st);
    printf("    cpu samples %llu, heap samples %llu\n", (unsigned long long)st.cpu_samples,
           (unsigned long long)st.heap_samples);
    inprof_stop(10000);
  }
  return rc;
}

static int run_case(const char *self, const char *kind, size_t bytes, int profile) {
  char arg[32];
  snprintf(arg, sizeof arg, "%zu", bytes);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl(self, self, "--case", kind, arg, profile ? "profile" : "control", (char *)NULL);
    _exit(127);
  }
  double deadline = rel_now_s() + 30;
  int status = 0;
  pid_t w;
  while ((w = waitpid(pid, &status, WNOHANG)) == 0 && rel_now_s() < deadline) rel_sleep_ms(5);
  const char *what = profile ? "with inprof" : "control, without inprof";
  if (w == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    printf("  %s:%zu (%s): HUNG (killed after 30 s)\n", kind, bytes, what);
    return 1;
  }
  if (WIFSIGNALED(status)) {
    printf("  %s:%zu (%s): CRASHED with %s\n", kind, bytes, what, strsignal(WTERMSIG(status)));
    return 1;
  }
  if (WEXITSTATUS(status) != 0) {
    printf("  %s:%zu (%s): exit %d\n", kind, bytes, what, WEXITSTATUS(status));
    return 1;
  }
  printf("  %s:%zu (%s): ok\n", kind, bytes, what);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--case"))
    return child(argv[2], (size_t)strtoul(argv[3], NULL, 10), !strcmp(argv[4], "profile"));
  rel_watchdog_start("test_rel_small_stack", 100);
  static const struct {
    const char *kind;
    size_t bytes;
  } cases[] = {
      {"stack", 16384}, {"stack", 12288}, {"stack", 8192},
      {"altstack", 16384}, {"altstack", 8192},
  };
  const char *self = "/proc/self/exe";
  char exe[4096];
  ssize_t n = readlink(self, exe, sizeof exe - 1);
  REQUIRE(n > 0);
  exe[n] = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
#if REL_SANITIZER_BUILD
    /* Sanitizer-instrumented signal handlers (inprof's and the sanitizer
     * runtime's own) need more than 8 KiB before any inprof code could
     * check the room left: the 8 KiB alternate stack is for real builds. */
    if (!strcmp(cases[i].kind, "altstack") && cases[i].bytes < 16384) {
      printf("  %s:%zu skipped in a sanitizer build\n", cases[i].kind, cases[i].bytes);
      continue;
    }
#endif
    if (run_case(exe, cases[i].kind, cases[i].bytes, 0) != 0) {
      fprintf(stderr, "control %s:%zu failed: this case cannot run on this machine\n",
              cases[i].kind, cases[i].bytes);
      testutil_failures++;
      continue;
    }
    CHECKF(run_case(exe, cases[i].kind, cases[i].bytes, 1) == 0, "%s with %zu bytes under inprof",
           cases[i].kind, cases[i].bytes);
  }
  rel_watchdog_stop();
  return testutil_done("test_rel_small_stack");
}
