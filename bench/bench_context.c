/*
 * bench_context.c - what the context calls (issue 13) cost the host.
 *
 *  - ns per call of inprof_set_span, inprof_set_label (a known (key, value)
 *    pair: the steady state of a tracing layer setting "span name"),
 *    inprof_set_label + removal, inprof_clear_labels and inprof_set_endpoint,
 *    each alternating between two values so that no call is a no-op; and an
 *    empty loop of the same shape as the baseline. Median of 9 rounds.
 *  - the CPU sample's handler path (as bench_handler.c's "path": ring
 *    reserve, clocks, unwind, record, commit, timed inside a real signal
 *    handler) with no context and with span ids and 4 labels set,
 *    interleaved in blocks so both see the same machine.
 *
 *  - with --size-seconds S: the gzip'ed profile of 2 busy threads that
 *    switch spans and a label every ~10 ms, at 99 Hz, over S seconds, with
 *    the timeline on and off (interleaved, 2 rounds each), in bytes per
 *    minute of profiling.
 *
 *   bench_context [--calls N] [--samples N] [--size-seconds S]
 * Prints RESULT lines.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_util.h"
#include "inprof.h"
#include "base/clock.h"
#include "cpu/handler.h"
#include "cpu/unwind.h"
#include "sample/ring.h"

static long ncalls = 10000000;
static int nsamples = 20000;
static int size_seconds;

/* One round of `op` n times; ns per call. */
#define ROUND(var, body)                                       \
  do {                                                         \
    uint64_t t0_ = bench_ns(CLOCK_MONOTONIC);                  \
    for (long i = 0; i < ncalls; i++) {                        \
      body;                                                    \
      __asm__ volatile("" ::: "memory");                       \
    }                                                          \
    var = (double)(bench_ns(CLOCK_MONOTONIC) - t0_) / (double)ncalls; \
  } while (0)

static double median(double *v, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[n / 2];
}

static volatile uint64_t sink;

static void bench_calls(void) {
  enum { ROUNDS = 9 };
  double empty[ROUNDS], span[ROUNDS], label[ROUNDS], label_rm[ROUNDS], clear[ROUNDS],
      endpoint[ROUNDS];
  static const char *const names[2] = {"GET /users/{id}", "POST /orders"};
  inprof_set_label("span name", "a");
  inprof_set_label("span name", "b");
  for (int r = 0; r < ROUNDS; r++) {
    ROUND(empty[r], sink = (uint64_t)i & 1);
    ROUND(span[r], inprof_set_span(7, 100 + ((uint64_t)i & 1)));
    ROUND(label[r], inprof_set_label("span name", (i & 1) ? "a" : "b"));
    ROUND(label_rm[r], inprof_set_label("span name", (i & 1) ? "a" : NULL));
    ROUND(clear[r], if (i & 1) inprof_clear_labels(); else inprof_set_label("span name", "a"));
    ROUND(endpoint[r], inprof_set_endpoint(1000 + ((uint64_t)i & 1023), names[i & 1]));
  }
  inprof_clear_labels();
  inprof_set_span(0, 0);
  printf("RESULT bench=context_calls calls=%ld empty_ns=%.2f set_span_ns=%.2f "
         "set_label_ns=%.2f set_label_or_remove_ns=%.2f set_label_or_clear_ns=%.2f "
         "set_endpoint_ns=%.2f\n",
         ncalls, median(empty, ROUNDS), median(span, ROUNDS), median(label, ROUNDS),
         median(label_rm, ROUNDS), median(clear, ROUNDS), median(endpoint, ROUNDS));
  fflush(stdout);
}

/* ------------------------------------------------------- handler path */

static inprof__ring *ring;
static uint64_t *lat;
static int lat_index;
static uint64_t clock_cost;

static void path_handler(int sig, siginfo_t *info, void *uc) {
  (void)sig, (void)info;
  uint64_t t0 = bench_ns(CLOCK_MONOTONIC);
  inprof__sample *s = inprof__ring_reserve(ring);
  if (!s) bench_die("ring full");
  uint64_t now = inprof__now_ns(CLOCK_THREAD_CPUTIME_ID);
  inprof__sampler_write_cpu(ring, s, 1, now, uc);
  uint64_t t1 = bench_ns(CLOCK_MONOTONIC);
  lat[lat_index] = t1 - t0 > clock_cost ? t1 - t0 - clock_cost : 0;
}

static void take_samples(uint64_t *out, int n) {
  pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
  lat = out;
  for (int i = 0; i < n; i++) {
    lat_index = i;
    syscall(SYS_tgkill, pid, tid, SIGUSR2);
    if (inprof__ring_peek(ring)) inprof__ring_release(ring);
  }
}

__attribute__((noinline)) static void measure_handler(void) {
  uint64_t *bare = calloc((size_t)nsamples, sizeof *bare);
  uint64_t *ctx = calloc((size_t)nsamples, sizeof *ctx);
  int block = 500;
  for (int done = 0; done < nsamples; done += block) {
    int n = nsamples - done < block ? nsamples - done : block;
    inprof_clear_labels();
    inprof_set_span(0, 0);
    take_samples(bare + done, n);
    inprof_set_span(0x1234567890abcdefull, 0xfedcba0987654321ull);
    inprof_set_label("tenant", "acme");
    inprof_set_label("span name", "handle_request");
    inprof_set_label("region", "eu-1");
    inprof_set_label("shard", "17");
    take_samples(ctx + done, n);
  }
  inprof_clear_labels();
  inprof_set_span(0, 0);
  printf("RESULT bench=context_handler depth=32 samples=%d bare_p50_ns=%llu bare_p99_ns=%llu "
         "context_p50_ns=%llu context_p99_ns=%llu\n",
         nsamples, (unsigned long long)bench_quantile(bare, (size_t)nsamples, 0.5),
         (unsigned long long)bench_quantile(bare, (size_t)nsamples, 0.99),
         (unsigned long long)bench_quantile(ctx, (size_t)nsamples, 0.5),
         (unsigned long long)bench_quantile(ctx, (size_t)nsamples, 0.99));
  fflush(stdout);
  free(bare);
  free(ctx);
}

/* ------------------------------------------------------- profile size */

static _Atomic int size_quit;

static void *size_worker(void *arg) {
  uint64_t k = (uint64_t)(uintptr_t)arg, n = 0;
  static const char *const names[4] = {"parse", "query", "render", "log"};
  volatile uint64_t acc = 1;
  inprof_set_label("tenant", k ? "beta" : "alpha");
  while (!atomic_load(&size_quit)) {
    n++;
    inprof_set_span(1000 + k * 1000000 + n / 8, n);
    inprof_set_label("span name", names[n % 4]);
    uint64_t until = bench_ns(CLOCK_THREAD_CPUTIME_ID) + 10000000;
    while (bench_ns(CLOCK_THREAD_CPUTIME_ID) < until)
      for (int i = 0; i < 1000; i++) acc = acc * 6364136223846793005ull + 1;
  }
  return NULL;
}

/* Bytes of the .pprof.gz files in dir. */
static uint64_t dir_bytes(const char *dir) {
  DIR *d = opendir(dir);
  uint64_t total = 0;
  struct dirent *e;
  char path[512];
  struct stat st;
  while (d && (e = readdir(d)) != NULL) {
    if (!strstr(e->d_name, ".pprof.gz")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) == 0) total += (uint64_t)st.st_size;
  }
  if (d) closedir(d);
  return total;
}

static uint64_t profile_bytes(int timeline, int seconds) {
  char dir[] = "/tmp/inprof-bench-ctx-XXXXXX";
  if (!mkdtemp(dir)) bench_die("mkdtemp");
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.output_dir = dir;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.heap_sample_bytes = 0;
  cfg.upload_period_ms = 3600000;
  cfg.timeline_enabled = (uint32_t)timeline;
  if (inprof_start(&cfg) != INPROF_OK) bench_die("inprof_start: %s", inprof_last_error());
  atomic_store(&size_quit, 0);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, size_worker, (void *)(uintptr_t)i);
  struct timespec ts = {seconds, 0};
  nanosleep(&ts, NULL);
  atomic_store(&size_quit, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  inprof_stop(30000);
  uint64_t b = dir_bytes(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) bench_die("rm");
  return b;
}

static void measure_size(int seconds) {
  uint64_t on = 0, off = 0;
  for (int r = 0; r < 2; r++) {
    on += profile_bytes(1, seconds);
    off += profile_bytes(0, seconds);
  }
  double per_min = 60.0 / (2.0 * seconds);
  printf("RESULT bench=context_profile_size seconds=%d threads=2 hz=99 "
         "timeline_on_bytes_per_min=%.0f timeline_off_bytes_per_min=%.0f\n",
         seconds, (double)on * per_min, (double)off * per_min);
  fflush(stdout);
}

__attribute__((noinline)) static int recurse(int depth, void (*fn)(void)) {
  if (depth <= 1) {
    fn();
    return 0;
  }
  int r = recurse(depth - 1, fn);
  __asm__ volatile("" ::: "memory");
  return r + 1;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--calls")) ncalls = atol(argv[i + 1]);
    if (!strcmp(argv[i], "--samples")) nsamples = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--size-seconds")) size_seconds = atoi(argv[i + 1]);
  }
  if (ncalls < 1000) ncalls = 1000;
  if (nsamples < 1000) nsamples = 1000;
  bench_calls();

  inprof__unwind_init();
  ring = inprof__ring_new(64, INPROF_DEFAULT_MAX_FRAMES);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = path_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  uint64_t t[64];
  for (int i = 0; i < 64; i++) {
    uint64_t a = bench_ns(CLOCK_MONOTONIC);
    t[i] = bench_ns(CLOCK_MONOTONIC) - a;
  }
  clock_cost = bench_quantile(t, 64, 0.5);
  recurse(32, measure_handler);
  inprof__ring_free(ring);
  if (size_seconds > 0) measure_size(size_seconds);
  return 0;
}
