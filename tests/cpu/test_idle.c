/*
 * The idle profiler (issue 15): the collector sleeps when there is nothing
 * to do, yet loses nothing.
 *  1. The ring wakes its consumer at the fill mark, once per mark, never
 *     per sample: a consumer that sleeps only on the eventfd (no timeout
 *     it relies on) drains a signal-driven burst many times the ring's
 *     size; every record is consumed or counted as dropped.
 *  2. An idle process with CPU profiling on: the collector wakes at most a
 *     few times a second (counted by the collector itself).
 *  3. A thread born while the profiler sleeps, burning CPU, is found early
 *     (most of its expected samples are there) and its cpu-time is its
 *     whole CPU clock, within the bounds of test_cpu_threads; waking the
 *     collector for it interrupts no sleeping host thread.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "collect/collector.h"
#include "cpu_work.h"
#include "inprof.h"
#include "sample/ring.h"
#include "testutil.h"

/* ---------------------------------------------------- 1. ring fill mark */

#define CAP 256u
#define MARK 64u
#define BURST 20000u                /* records, ~78 rings' worth */

static inprof__ring *ring;
static _Atomic uint64_t produced, dropped, consumed;
static _Atomic int producing = 1;

/* Kernel CPU timers expire at most once a tick, so each signal writes a
 * small burst of records, as many threads sampled in one tick would. */
#define PER_SIGNAL 16

static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)si; (void)uc;
  for (int i = 0; i < PER_SIGNAL && atomic_load(&producing); i++) {
    inprof__sample *s = inprof__ring_reserve(ring);
    if (!s) {
      atomic_fetch_add(&dropped, 1);
    } else {
      s->kind = INPROF__SAMPLE_CPU;
      s->nframes = 0;
      inprof__ring_commit(ring, s);
      atomic_fetch_add(&produced, 1);
    }
    if (atomic_load(&produced) + atomic_load(&dropped) >= BURST) atomic_store(&producing, 0);
  }
}

static void *producer(void *arg) {
  (void)arg;
  timer_t t = cpu_work_thread_timer(SIGPROF, 100000); /* 10 kHz of CPU time */
  volatile uint64_t acc = 1;
  while (atomic_load(&producing)) acc = acc * 6364136223846793005ull + 1;
  timer_delete(t);
  return NULL;
}

static void test_ring_mark(void) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(fd >= 0);
  ring = inprof__ring_new(CAP, 4);
  REQUIRE(ring);
  inprof__ring_set_notify(ring, fd, MARK);

  /* Below the mark: no wakeup. At the mark: exactly one. */
  for (uint32_t i = 0; i + 1 < MARK; i++) inprof__ring_commit(ring, inprof__ring_reserve(ring));
  struct pollfd p = {.fd = fd, .events = POLLIN};
  CHECKF(poll(&p, 1, 0) == 0, "woken below the mark");
  inprof__ring_commit(ring, inprof__ring_reserve(ring));
  for (uint32_t i = 0; i < MARK; i++) inprof__ring_commit(ring, inprof__ring_reserve(ring));
  uint64_t v = 0;
  CHECKF(read(fd, &v, sizeof v) == sizeof v && v == 1, "writes at the mark: %llu (want 1)",
         (unsigned long long)v);
  while (inprof__ring_peek(ring)) inprof__ring_release(ring);
  CHECK(inprof__ring_rearm(ring) == 0);

  /* A burst from a signal handler; the consumer waits only on the fd. */
  struct sigaction sa = {0};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  REQUIRE(sigaction(SIGPROF, &sa, NULL) == 0);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &block, NULL); /* the consumer is never interrupted */
  pthread_t th[2];
  sigset_t none;
  sigemptyset(&none);
  for (int i = 0; i < 2; i++) {
    pthread_sigmask(SIG_UNBLOCK, &block, NULL);
    pthread_create(&th[i], NULL, producer, NULL);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
  }
  uint64_t wakeups = 0, timeouts = 0;
  while (atomic_load(&producing) || inprof__ring_peek(ring)) {
    int r = poll(&p, 1, 2000);
    if (r == 0) {
      if (atomic_load(&producing)) timeouts++; /* a mark crossing that did not wake us */
    } else {
      (void)!read(fd, &v, sizeof v);
      wakeups++;
    }
    do {
      while (inprof__ring_peek(ring)) {
        inprof__ring_release(ring);
        atomic_fetch_add(&consumed, 1);
      }
    } while (inprof__ring_rearm(ring));
  }
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  while (inprof__ring_peek(ring)) {
    inprof__ring_release(ring);
    atomic_fetch_add(&consumed, 1);
  }
  uint64_t prod = atomic_load(&produced), drop = atomic_load(&dropped);
  printf("ring: %llu produced, %llu consumed, %llu dropped, %llu wakeups (%llu per mark)\n",
         (unsigned long long)prod, (unsigned long long)atomic_load(&consumed),
         (unsigned long long)drop, (unsigned long long)wakeups,
         (unsigned long long)(wakeups ? prod / wakeups : 0));
  CHECK(atomic_load(&consumed) == prod);
  CHECKF(timeouts == 0, "%llu two-second waits while the producers ran: a mark crossing "
         "did not wake the consumer", (unsigned long long)timeouts);
  /* Never per sample: at most one wakeup per mark's worth (+ the tail). */
  CHECKF(wakeups <= prod / MARK + 2, "%llu wakeups for %llu samples (mark %u)",
         (unsigned long long)wakeups, (unsigned long long)prod, MARK);
  /* With 3/4 of the ring as headroom the consumer keeps up. */
  CHECKF(drop * 20 < prod, "%llu of %llu dropped", (unsigned long long)drop,
         (unsigned long long)prod);
  inprof__ring_free(ring);
  close(fd);
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = 0;
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  sigaction(SIGPROF, &sa, NULL);
}

/* ------------------------------------------- 2 and 3. the profiler idle */

#define LATE_NS 400000000ull

static _Atomic uint64_t late_cpu_ns;
static _Atomic int late_done;

__attribute__((noinline)) void late_thread_burn(void) { CPU_WORK_SPIN(LATE_NS); }

static void *late_thread(void *arg) {
  (void)arg;
  late_thread_burn();
  atomic_store(&late_cpu_ns, cpu_work_thread_ns());
  atomic_store(&late_done, 1);
  return NULL;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

int main(void) {
  test_ring_mark();

  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "idle", NULL);
  cfg.heap_sample_bytes = 0;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  sleep_ms(500); /* start's own CPU is past */
  uint64_t w0 = inprof__collector_wakeups();
  sleep_ms(3000);
  uint64_t w1 = inprof__collector_wakeups();
  printf("idle: %llu collector wakeups in 3 s\n", (unsigned long long)(w1 - w0));
  /* One a second while idle, plus slack; the fixed 20 ms tick made 150. */
  CHECKF(w1 - w0 <= 3 * 2 + 2, "%llu wakeups in 3 idle seconds", (unsigned long long)(w1 - w0));

  /* The main thread sleeps meanwhile: the collector's wake-up signal must
   * never cut a host thread's sleep short (EINTR); only the collector
   * takes it. */
  pthread_t t;
  pthread_create(&t, NULL, late_thread, NULL);
  int eintr = 0;
  while (!atomic_load(&late_done)) {
    struct timespec ts = {0, 20000000};
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR) eintr++;
  }
  pthread_join(t, NULL);
  CHECKF(eintr == 0, "a sleeping host thread was interrupted %d times", eintr);
  REQUIRE(inprof_stop(10000) == INPROF_OK);

  char *file = testutil_latest_profile(dir);
  REQUIRE(file);
  static testutil_row rows[4096];
  /* No table at all (n < 0) is an empty profile: the thread was missed. */
  int n = testutil_pprof_top(file, "cpu-time", rows, 4096);
  double late = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(rows[i].name, "late_thread_burn")) late = rows[i].cum;
  n = testutil_pprof_top(file, "cpu-samples", rows, 4096);
  double samples = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(rows[i].name, "late_thread_burn")) samples = rows[i].cum;
  double cpu = (double)atomic_load(&late_cpu_ns);
  double expected_samples = cpu / 1e9 * cfg.cpu_hz;
  printf("late thread: %.0f ns of %.0f (%.1f%%), %.0f samples of ~%.0f\n", late, cpu,
         100.0 * late / cpu, samples, expected_samples);
  CHECKF(late > 0.9 * cpu && late < 1.05 * cpu, "late thread: %.0f ns of %.0f", late, cpu);
  /* Found early, not at the next idle tick: most of its samples exist. */
  CHECKF(samples >= 0.6 * expected_samples, "late thread: %.0f samples of ~%.0f", samples,
         expected_samples);
  return testutil_done("test_idle");
}
