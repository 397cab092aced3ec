/*
 * The sample ring under concurrent producers and one consumer: producers are
 * per-thread CPU timer signal handlers (as in production) plus plain threads
 * hammering reserve/commit; the consumer drains concurrently. Every record
 * produced is either consumed intact, in per-producer order, or counted as
 * dropped: nothing else may happen.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sample/ring.h"
#include "cpu_work.h"
#include "testutil.h"

#define PRODUCERS 6          /* 3 signal-driven, 3 plain */
#define FRAMES 16
#define RUN_NS 3000000000ull

static inprof__ring *ring;
static _Atomic int running = 1;
static _Atomic uint64_t produced[PRODUCERS], dropped[PRODUCERS];
static __thread int my_index = -1;
static __thread uint64_t my_seq;

static void produce(int idx) {
  inprof__sample *s = inprof__ring_reserve(ring);
  uint64_t seq = my_seq++;
  if (!s) {
    atomic_fetch_add(&dropped[idx], 1);
    return;
  }
  s->kind = INPROF__SAMPLE_CPU;
  s->tid = (uint32_t)idx;
  s->value = seq;
  s->nframes = FRAMES;
  for (uint32_t i = 0; i < FRAMES; i++) s->frames[i] = (uintptr_t)(seq * 31 + i + (uint64_t)idx);
  inprof__ring_commit(ring, s);
  atomic_fetch_add(&produced[idx], 1);
}

static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)si; (void)uc;
  if (my_index >= 0) produce(my_index);
}

static void *signal_producer(void *arg) {
  my_index = (int)(intptr_t)arg;
  timer_t t = cpu_work_thread_timer(SIGPROF, 50000); /* 20 kHz of CPU time */
  static _Atomic uint64_t spin;
  while (atomic_load(&running)) atomic_fetch_add_explicit(&spin, 1, memory_order_relaxed);
  struct itimerspec off = {{0, 0}, {0, 0}};
  timer_settime(t, 0, &off, NULL);
  timer_delete(t);
  return NULL;
}

static void *plain_producer(void *arg) {
  my_index = (int)(intptr_t)arg;
  while (atomic_load(&running)) produce(my_index);
  return NULL;
}

int main(void) {
  ring = inprof__ring_new(256, FRAMES);
  REQUIRE(ring != NULL);
  REQUIRE(inprof__ring_max_frames(ring) == FRAMES);
  /* Single-threaded: fill to capacity, the next reserve fails, drain in order. */
  uint32_t cap = 0;
  inprof__sample *s;
  while ((s = inprof__ring_reserve(ring)) != NULL) {
    s->value = cap++;
    inprof__ring_commit(ring, s);
  }
  CHECKF(cap == 256, "capacity %u", cap);
  for (uint32_t i = 0; i < cap; i++) {
    s = inprof__ring_peek(ring);
    REQUIRE(s != NULL);
    CHECK(s->value == i);
    inprof__ring_release(ring);
  }
  CHECK(inprof__ring_peek(ring) == NULL);

  struct sigaction sa = {0};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGPROF, &sa, NULL);

  pthread_t th[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++)
    pthread_create(&th[i], NULL, i < 3 ? signal_producer : plain_producer,
                   (void *)(intptr_t)i);

  uint64_t consumed[PRODUCERS] = {0}, next_seq_min[PRODUCERS] = {0};
  uint64_t corrupt = 0, disorder = 0;
  uint64_t end = inprof__now_ns(CLOCK_MONOTONIC) + RUN_NS;
  int stopped = 0;
  for (;;) {
    int got = 0;
    while ((s = inprof__ring_peek(ring)) != NULL) {
      int idx = (int)s->tid;
      REQUIRE(idx >= 0 && idx < PRODUCERS);
      uint64_t seq = s->value;
      if (seq < next_seq_min[idx]) disorder++;
      next_seq_min[idx] = seq + 1;
      if (s->nframes != FRAMES) corrupt++;
      for (uint32_t i = 0; i < FRAMES; i++)
        if (s->frames[i] != (uintptr_t)(seq * 31 + i + (uint64_t)idx)) corrupt++;
      consumed[idx]++;
      inprof__ring_release(ring);
      got++;
    }
    if (stopped && !got) break;
    if (!stopped && inprof__now_ns(CLOCK_MONOTONIC) >= end) {
      atomic_store(&running, 0);
      for (int i = 0; i < PRODUCERS; i++) pthread_join(th[i], NULL);
      stopped = 1;
      continue;
    }
    /* A slow consumer now and then, so that the ring really fills. */
    struct timespec ts = {0, (got & 1) ? 2000000 : 100000};
    nanosleep(&ts, NULL);
  }
  uint64_t total_p = 0, total_d = 0, total_c = 0;
  for (int i = 0; i < PRODUCERS; i++) {
    CHECKF(consumed[i] == atomic_load(&produced[i]),
           "producer %d: produced %llu consumed %llu", i,
           (unsigned long long)produced[i], (unsigned long long)consumed[i]);
    total_p += produced[i];
    total_d += dropped[i];
    total_c += consumed[i];
    CHECKF(produced[i] > 0, "producer %d never got a slot", i);
  }
  CHECKF(corrupt == 0, "%llu corrupt frames", (unsigned long long)corrupt);
  CHECKF(disorder == 0, "%llu out-of-order records", (unsigned long long)disorder);
  CHECKF(total_d > 0, "the ring never filled: the drop path was not exercised");
  printf("produced %llu, consumed %llu, dropped %llu\n", (unsigned long long)total_p,
         (unsigned long long)total_c, (unsigned long long)total_d);
  inprof__ring_free(ring);
  return testutil_done("test_ring");
}
