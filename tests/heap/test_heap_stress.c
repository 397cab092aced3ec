/*
 * Stress for AddressSanitizer/UBSan builds (and plain ones): threads hammer
 * the hooks with real malloc'ed blocks (allocate, free, realloc, free on
 * another thread, threads coming and going) while the main thread restarts
 * the profiler over and over with different rates (1 byte: every allocation
 * sampled), flushes, and stops it under load. Table growth, collection,
 * record garbage collection and the filter all run concurrently. At the end
 * every block is freed and the tables must be empty and consistent.
 *
 * argv[1]: seconds (default 3).
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/diag.h"
#include "collect/aggregate.h"
#include "config/settings.h"
#include "heap/heap.h"
#include "testutil.h"


#define THREADS 6
#define SLOTS 512

static _Atomic(void *) shared[SLOTS]; /* blocks any thread may free */
static _Atomic int stop_flag;

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

__attribute__((noinline)) static void *hmalloc(size_t n) {
  void *p = malloc(n);
  REQUIRE(p);
  memset(p, 0xab, n < 64 ? n : 64);
  inprof_record_alloc(p, n);
  return p;
}

__attribute__((noinline)) static void hfree(void *p) {
  if (!p) return;
  inprof_record_free(p);
  free(p);
}

static void *churn(void *arg) {
  uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
  void *own[64] = {0};
  for (int round = 0; round < 2000 && !atomic_load(&stop_flag); round++) {
    for (int k = 0; k < 64; k++) {
      uint64_t r = next_rand(&rng);
      size_t n = (r & 15) == 0 ? 1 + (r >> 8) % 200000 : 1 + (r >> 8) % 300;
      int i = (int)((r >> 40) % 64);
      switch ((r >> 50) % 4) {
      case 0:
        hfree(own[i]);
        own[i] = hmalloc(n);
        break;
      case 1:
        if (own[i]) {
          inprof_record_free(own[i]);
          own[i] = realloc(own[i], n);
          REQUIRE(own[i]);
          inprof_record_alloc(own[i], n);
        }
        break;
      case 2: { /* swap with the shared pool: cross-thread frees */
        int j = (int)((r >> 20) % SLOTS);
        void *mine = own[i] ? own[i] : hmalloc(n);
        own[i] = atomic_exchange(&shared[j], mine);
        break;
      }
      default:
        hfree(hmalloc(n));
      }
    }
  }
  for (int i = 0; i < 64; i++) hfree(own[i]);
  return NULL;
}

/* Threads come and go for the whole run. */
static void *spawner(void *arg) {
  (void)arg;
  uintptr_t seed = 1;
  while (!atomic_load(&stop_flag)) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn, (void *)seed++);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? strtod(argv[1], NULL) : 3.0;
  char *dir = testutil_tmpdir("heap-stress");
  REQUIRE(dir);
  pthread_t sp;
  pthread_create(&sp, NULL, spawner, NULL);

  static const uint64_t rates[] = {1, 64, 4096, 524288};
  uint64_t deadline = inprof__now_ns(CLOCK_MONOTONIC) + (uint64_t)(seconds * 1e9);
  int cycles = 0;
  while (inprof__now_ns(CLOCK_MONOTONIC) < deadline) {
    inprof_config cfg;
    inprof_config_init(&cfg);
    cfg.output_dir = dir;
    cfg.upload = INPROF_UPLOAD_OFF;
    cfg.service = "heap-stress";
    cfg.heap_sample_bytes = rates[cycles % 4];
    cfg.cpu_hz = cycles % 2 ? 0 : 99;
    cfg.upload_period_ms = 100;
    cfg.max_frames = 16 + (uint32_t)(cycles % 3) * 100;
    REQUIRE(inprof_start(&cfg) == INPROF_OK);
    for (int i = 0; i < 3; i++) {
      usleep(30000);
      CHECK(inprof_flush(10000) == INPROF_OK);
    }
    REQUIRE(inprof_stop(10000) == INPROF_OK);
    uint64_t bad = inprof__heap_test_check(NULL);
    CHECKF(bad == 0, "cycle %d: %llu invariant violations", cycles, (unsigned long long)bad);
    cycles++;
  }
  atomic_store(&stop_flag, 1);
  pthread_join(sp, NULL);
  for (int j = 0; j < SLOTS; j++) hfree(atomic_exchange(&shared[j], NULL));

  uint64_t entries = 0;
  uint64_t bad = inprof__heap_test_check(&entries);
  inprof_statistics st = {.struct_size = sizeof st};
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  printf("%d cycles, %llu samples, %llu dropped, %llu live, %llu profiles\n", cycles,
         (unsigned long long)st.heap_samples, (unsigned long long)st.heap_samples_dropped,
         (unsigned long long)st.heap_live_samples, (unsigned long long)st.profiles_written);
  CHECKF(bad == 0 && entries == 0, "at the end: %llu bad, %llu entries",
         (unsigned long long)bad, (unsigned long long)entries);
  CHECK(st.heap_live_samples == 0);
  CHECK(st.heap_samples > 0);
  CHECK(cycles >= 2);
  free(testutil_capture("rm -rf %s", dir));
  free(dir);
  return testutil_done("test_heap_stress");
}
