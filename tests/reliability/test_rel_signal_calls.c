/*
 * Issue 10, failure 6: the heap hooks called from the host's own signal
 * handlers must never deadlock. inprof_record_alloc in a handler that
 * interrupted malloc used to call calloc while holding the heap's stack
 * lock; inprof_start in a handler deadlocked in calloc under the lifecycle
 * lock.
 *
 * The profiler samples CPU at 999 Hz and the heap every 64 bytes, and a
 * thread flushes in a loop. Two worker threads malloc/free (with the hooks)
 * as fast as they can. A process-wide SIGALRM timer (delivered to any
 * thread, the collector's included) and a thread sending SIGUSR1 to the
 * workers run a handler that records an allocation of a fake block and
 * frees one recorded earlier. Once, while running, SIGUSR2 makes a worker's
 * handler call inprof_start and inprof_is_running; after the final stop,
 * SIGUSR2 raised by the main thread (outside any allocator) calls
 * inprof_start from a handler again, which must then really start.
 *
 * Properties: no hang (watchdog; each worker must keep progressing); every
 * handler that entered returned; handlers ran on the workers; the in-handler
 * start returned OK or BUSY while running and OK when stopped; once every
 * block (real and fake) is freed, no heap sample stays live.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

#define WORKERS 2
#define FAKE_SLOTS (1 << 17)
#define LAG 8

/* Fake blocks for the handlers: addresses malloc never returns. */
static char fake_heap[FAKE_SLOTS][16];
/* 1 once its allocation is recorded, 2 once a handler took it to free: a
 * block is freed after its allocation was recorded, whatever the threads. */
static _Atomic unsigned char fake_state[FAKE_SLOTS];
static atomic_uint fake_next;
static atomic_ullong handler_in, handler_out, handler_on_worker;
static atomic_int start_status = -1, start_running = -1;
static atomic_int stopped_start_status = -1;
static atomic_int stop_threads;
static pthread_t workers[WORKERS];
static __thread int is_worker;
static inprof_config handler_cfg;

static void hook_handler(int sig) {
  (void)sig;
  int saved = errno;
  atomic_fetch_add_explicit(&handler_in, 1, memory_order_relaxed);
  if (is_worker) atomic_fetch_add_explicit(&handler_on_worker, 1, memory_order_relaxed);
  unsigned k = atomic_fetch_add_explicit(&fake_next, 1, memory_order_relaxed);
  if (k < FAKE_SLOTS) {
    inprof_record_alloc(fake_heap[k], 16 + (k % 64) * 64);
    atomic_store(&fake_state[k], 1);
    /* Frees a block some earlier handler (maybe on another thread) recorded. */
    unsigned char one = 1;
    if (k >= LAG && atomic_compare_exchange_strong(&fake_state[k - LAG], &one, 2))
      inprof_record_free(fake_heap[k - LAG]);
  }
  atomic_fetch_add_explicit(&handler_out, 1, memory_order_relaxed);
  errno = saved;
}

static void start_handler(int sig) {
  (void)sig;
  int saved = errno;
  inprof_status st = inprof_start(&handler_cfg);
  if (atomic_load(&stop_threads) < 2) {
    atomic_store(&start_status, st);
    atomic_store(&start_running, (int)inprof_is_running());
  } else {
    atomic_store(&stopped_start_status, st);
  }
  errno = saved;
}

static void *worker_main(void *arg) {
  rel_track *t = arg;
  is_worker = 1;
  void *live[1024] = {0};
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)arg;
  while (!atomic_load(&stop_threads)) {
    for (int i = 0; i < 2000; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int s = (int)(x & 1023);
      if (live[s]) inprof_record_free(live[s]), free(live[s]);
      live[s] = rel_alloc_deep((int)((x >> 20) & 15), 8 + (size_t)((x >> 32) & 2047));
    }
    rel_progress(t);
  }
  for (int s = 0; s < 1024; s++)
    if (live[s]) inprof_record_free(live[s]), free(live[s]);
  return NULL;
}

static void *flush_main(void *arg) {
  rel_track *t = arg;
  while (!atomic_load(&stop_threads)) {
    rel_phase(t, "inprof_flush");
    inprof_flush(10000);
    rel_phase(t, "loop");
    rel_progress(t);
    rel_sleep_ms(10);
  }
  return NULL;
}

static void *signaler_main(void *arg) {
  rel_track *t = arg;
  unsigned n = 0;
  while (!atomic_load(&stop_threads)) {
    pthread_kill(workers[n % WORKERS], SIGUSR1);
    if (++n == 200) pthread_kill(workers[0], SIGUSR2); /* once, mid-run */
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
    if (n % 256 == 0) rel_progress(t);
  }
  return NULL;
}

static void install(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  REQUIRE(sigaction(sig, &sa, NULL) == 0);
}

int main(void) {
  rel_watchdog_start("test_rel_signal_calls", 90);
  rel_track *main_t = rel_track_new("main", 0);
  char *dir = testutil_tmpdir("rel-sigcalls");
  REQUIRE(dir);
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 999;
  cfg.heap_sample_bytes = 64;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = dir;
  cfg.service = "relsigcalls";
  handler_cfg = cfg;
  install(SIGALRM, hook_handler);
  install(SIGUSR1, hook_handler);
  install(SIGUSR2, start_handler);
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  pthread_t flusher, signaler;
  for (int i = 0; i < WORKERS; i++)
    REQUIRE(pthread_create(&workers[i], NULL, worker_main,
                           rel_track_new(i ? "worker 1" : "worker 0", 20)) == 0);
  REQUIRE(pthread_create(&flusher, NULL, flush_main, rel_track_new("flusher", 0)) == 0);
  REQUIRE(pthread_create(&signaler, NULL, signaler_main, rel_track_new("signaler", 20)) == 0);
  /* Process-directed: lands on whichever thread, the profiler's included. */
  struct itimerval it = {{0, 200}, {0, 200}};
  REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);

  rel_phase(main_t, "running");
  double end = rel_now_s() + 3;
  while (rel_now_s() < end) {
    rel_sleep_ms(50);
    rel_progress(main_t);
  }

  rel_phase(main_t, "join");
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  atomic_store(&stop_threads, 1);
  pthread_join(signaler, NULL);
  for (int i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
  pthread_join(flusher, NULL);
  /* A SIGALRM already pending lands now, or never: ignore it from here. */
  signal(SIGALRM, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);
  rel_phase(main_t, "inprof_stop");
  inprof_status st = inprof_stop(20000);
  CHECKF(st == INPROF_OK, "stop: %s (%s)", inprof_strerror(st), inprof_last_error());

  /* Stopped: a handler that interrupted no allocator may start it again. */
  atomic_store(&stop_threads, 2);
  rel_phase(main_t, "start from a handler");
  raise(SIGUSR2);
  int restarted = inprof_is_running() == 1;
  rel_phase(main_t, "second inprof_stop");
  inprof_status st2 = inprof_stop(20000);

  /* Frees every fake block whose allocation no handler freed. */
  for (unsigned k = 0; k < FAKE_SLOTS; k++)
    if (atomic_load(&fake_state[k]) == 1) inprof_record_free(fake_heap[k]);
  inprof_statistics s = {.struct_size = sizeof s};
  REQUIRE(inprof_stats(&s) == INPROF_OK);
  rel_watchdog_stop();

  printf("handlers: %llu entered, %llu returned, %llu on workers; start in handler: %d "
         "(running %d), after stop: %d; heap samples %" PRIu64 ", dropped %" PRIu64
         ", live %" PRIu64 "\n",
         (unsigned long long)atomic_load(&handler_in),
         (unsigned long long)atomic_load(&handler_out),
         (unsigned long long)atomic_load(&handler_on_worker), atomic_load(&start_status),
         atomic_load(&start_running), atomic_load(&stopped_start_status), s.heap_samples,
         s.heap_samples_dropped, s.heap_live_samples);
  CHECK(atomic_load(&handler_in) == atomic_load(&handler_out));
  CHECKF(atomic_load(&handler_on_worker) >= 100, "only %llu handlers ran on the workers",
         (unsigned long long)atomic_load(&handler_on_worker));
  int ss = atomic_load(&start_status);
  CHECKF(ss == INPROF_OK || ss == INPROF_ERR_BUSY, "start in a handler while running: %d", ss);
  CHECK(ss != INPROF_OK || atomic_load(&start_running) == 1);
  CHECKF(atomic_load(&stopped_start_status) == INPROF_OK, "start in a handler after stop: %d",
         atomic_load(&stopped_start_status));
  CHECK(restarted);
  CHECKF(st2 == INPROF_OK, "second stop: %s (%s)", inprof_strerror(st2), inprof_last_error());
  CHECK(s.heap_samples > 0);
  CHECKF(s.heap_live_samples == 0, "%" PRIu64 " heap samples still live after every free",
         s.heap_live_samples);
  testutil_capture("rm -rf %s", dir);
  return testutil_done("test_rel_signal_calls");
}
