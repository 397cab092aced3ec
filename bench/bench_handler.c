/*
 * bench_handler.c - cost of one CPU sample at stack depths 8, 32 and 128.
 *
 * Two measurements, each at the bottom of a recursion of the given depth:
 *  - "path": what the signal handler does, timed inside a real signal
 *    handler without the kernel's delivery: ring reserve, the two clock
 *    reads, the unwind from the signal's ucontext, the record and the commit. It calls the
 *    library's hidden functions (linked from libinprof.a), so it follows the
 *    real code; the consumer releases each slot outside the timed section.
 *  - "signal": the full round trip with inprof running: tgkill(SIGPROF) to
 *    this thread, kernel delivery, inprof's handler, sigreturn; minus the
 *    same round trip to a handler that does nothing (SIGUSR1). That is what
 *    a sample costs the host, kernel included.
 *
 *   bench_handler [--samples N]
 * Prints one RESULT line per depth.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "bench_util.h"
#include "inprof.h"
#include "base/clock.h"
#include "cpu/handler.h"
#include "cpu/unwind.h"
#include "sample/ring.h"

static int nsamples = 20000;
static uint64_t *lat_path, *lat_sig, *lat_empty;
static uint32_t frames_seen;
static inprof__ring *ring;

static void empty_handler(int sig, siginfo_t *info, void *uc) {
  (void)sig, (void)info, (void)uc;
}

static uint64_t path_clock_cost;
static int path_index;

/* Runs inside a real signal handler (SIGUSR2 sent to this thread), so the
 * unwinder starts from a real signal frame, as in production. */
static void path_handler(int sig, siginfo_t *info, void *uc) {
  (void)sig, (void)info;
  uint64_t t0 = bench_ns(CLOCK_MONOTONIC);
  inprof__sample *s = inprof__ring_reserve(ring);
  if (!s) bench_die("ring full");
  uint64_t now = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
  inprof__sampler_write_cpu(ring, s, 1, now, uc);
  uint64_t t1 = bench_ns(CLOCK_MONOTONIC);
  lat_path[path_index] = t1 - t0 > path_clock_cost ? t1 - t0 - path_clock_cost : 0;
}

__attribute__((noinline)) static void measure_path(void) {
  uint64_t t_empty[64];
  for (int i = 0; i < 64; i++) {
    uint64_t a = bench_ns(CLOCK_MONOTONIC);
    t_empty[i] = bench_ns(CLOCK_MONOTONIC) - a;
  }
  path_clock_cost = bench_quantile(t_empty, 64, 0.5);
  pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
  for (int i = 0; i < nsamples; i++) {
    path_index = i;
    syscall(SYS_tgkill, pid, tid, SIGUSR2);
    inprof__sample *c = inprof__ring_peek(ring);
    if (c) {
      frames_seen = c->nframes;
      inprof__ring_release(ring);
    }
  }
}

static uint64_t round_trips(int sig, uint64_t *out, int n) {
  pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
  for (int i = 0; i < n; i++) {
    /* The collector drains the ring every 10 ms: pause between batches so
     * that no sample meets a full ring. */
    if (i % 256 == 255) {
      struct timespec ts = {0, 15 * 1000000};
      nanosleep(&ts, NULL);
    }
    uint64_t t0 = bench_ns(CLOCK_MONOTONIC);
    syscall(SYS_tgkill, pid, tid, sig);
    out[i] = bench_ns(CLOCK_MONOTONIC) - t0;
  }
  return 0;
}

__attribute__((noinline)) static void measure_signal(void) {
  /* Interleaved in blocks, so that both see the same machine. */
  int block = 512;
  for (int done = 0; done < nsamples; done += block) {
    int n = nsamples - done < block ? nsamples - done : block;
    round_trips(SIGPROF, lat_sig + done, n);
    round_trips(SIGUSR1, lat_empty + done, n);
  }
}

__attribute__((noinline)) static int recurse(int depth, void (*fn)(void)) {
  if (depth <= 1) {
    fn();
    return 0;
  }
  int r = recurse(depth - 1, fn);
  __asm__ volatile("" ::: "memory");   /* keep the frame: no tail call */
  return r + 1;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--samples")) nsamples = atoi(argv[i + 1]);
  if (nsamples < 100) nsamples = 100;
  lat_path = calloc((size_t)nsamples, sizeof *lat_path);
  lat_sig = calloc((size_t)nsamples, sizeof *lat_sig);
  lat_empty = calloc((size_t)nsamples, sizeof *lat_empty);

  inprof__unwind_init();
  ring = inprof__ring_new(64, INPROF_DEFAULT_MAX_FRAMES);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = empty_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_sigaction = path_handler;
  sigaction(SIGUSR2, &sa, NULL);

  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 1;                      /* the handler is installed; timers stay quiet */
  cfg.heap_sample_bytes = 0;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.upload_period_ms = 3600000;
  if (inprof_start(&cfg) != INPROF_OK) bench_die("inprof_start: %s", inprof_last_error());
  struct timespec settle = {0, 50 * 1000000};  /* the first thread scan arms this thread */
  nanosleep(&settle, NULL);

  int depths[] = {8, 32, 128};
  for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
    inprof_statistics s0, s1;
    memset(&s0, 0, sizeof s0);
    s0.struct_size = sizeof s0;
    s1 = s0;
    /* recurse(depth) plus main and the C runtime's frames below it: the
     * depth is the frames above main, as a profile would show them. */
    recurse(depths[d], measure_path);
    inprof_stats(&s0);
    recurse(depths[d], measure_signal);
    inprof_stats(&s1);
    uint64_t p50 = bench_quantile(lat_path, (size_t)nsamples, 0.5);
    uint64_t p99 = bench_quantile(lat_path, (size_t)nsamples, 0.99);
    uint64_t s50 = bench_quantile(lat_sig, (size_t)nsamples, 0.5);
    uint64_t s99 = bench_quantile(lat_sig, (size_t)nsamples, 0.99);
    uint64_t e50 = bench_quantile(lat_empty, (size_t)nsamples, 0.5);
    uint64_t e99 = bench_quantile(lat_empty, (size_t)nsamples, 0.99);
    printf("RESULT depth=%d frames=%u path_p50_ns=%llu path_p99_ns=%llu "
           "signal_p50_ns=%llu signal_p99_ns=%llu empty_p50_ns=%llu empty_p99_ns=%llu "
           "samples=%d recorded=%llu dropped=%llu\n",
           depths[d], frames_seen, (unsigned long long)p50, (unsigned long long)p99,
           (unsigned long long)s50, (unsigned long long)s99, (unsigned long long)e50,
           (unsigned long long)e99, nsamples,
           (unsigned long long)(s1.cpu_samples - s0.cpu_samples),
           (unsigned long long)(s1.cpu_samples_dropped - s0.cpu_samples_dropped));
    fflush(stdout);
  }
  inprof_stop(10000);
  inprof__ring_free(ring);
  return 0;
}
