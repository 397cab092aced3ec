/*
 * Stress: sampling at 1000 Hz while host threads malloc/free (through the
 * heap hooks too) and create/join threads, with flushes, for 20 s (or the
 * seconds given as argv[1]). Passing means no crash, no deadlock (ctest's
 * timeout), samples taken and every profile readable.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "inprof.h"
#include "testutil.h"

static _Atomic int running = 1;
static _Atomic uint64_t ops;

static void *tiny(void *arg) {
  void *p = malloc(128);
  inprof_record_alloc(p, 128);
  inprof_record_free(p);
  free(p);
  return arg;
}

__attribute__((noinline)) static void churn_memory(unsigned *seed) {
  void *blocks[64] = {0};
  for (int round = 0; round < 1000; round++) {
    int i = (int)(rand_r(seed) % 64);
    if (blocks[i]) {
      inprof_record_free(blocks[i]);
      free(blocks[i]);
    }
    size_t size = 16u << (rand_r(seed) % 14);
    blocks[i] = malloc(size);
    inprof_record_alloc(blocks[i], size);
    memset(blocks[i], 1, size < 256 ? size : 256);
  }
  for (int i = 0; i < 64; i++)
    if (blocks[i]) {
      inprof_record_free(blocks[i]);
      free(blocks[i]);
    }
}

static void *worker(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  while (atomic_load(&running)) {
    churn_memory(&seed);
    if (rand_r(&seed) % 4 == 0) {
      pthread_t t;
      if (pthread_create(&t, NULL, tiny, NULL) == 0) pthread_join(t, NULL);
    }
    atomic_fetch_add(&ops, 1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 20;
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "stress", NULL);
  cfg.cpu_hz = 1000;
  cfg.heap_sample_bytes = 16384;
  cfg.upload_period_ms = 1000;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  pthread_t th[6];
  for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int s = 0; s < seconds; s++) {
    sleep(1);
    if (s % 5 == 2) CHECK(inprof_flush(10000) == INPROF_OK);
  }
  atomic_store(&running, 0);
  for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
  REQUIRE(inprof_stop(10000) == INPROF_OK);
  inprof_statistics st = {.struct_size = sizeof st};
  inprof_stats(&st);
  printf("ops %llu samples %llu dropped %llu overruns %llu heap %llu files %llu failed %llu\n",
         (unsigned long long)ops, (unsigned long long)st.cpu_samples,
         (unsigned long long)st.cpu_samples_dropped, (unsigned long long)st.cpu_timer_overruns,
         (unsigned long long)st.heap_samples, (unsigned long long)st.profiles_written,
         (unsigned long long)st.profiles_failed);
  /* Tick-bound (2 cores, often 250 Hz ticks) and slowed by sanitizers: loose. */
  CHECK(st.cpu_samples > (uint64_t)seconds * 50);
  CHECK(st.profiles_written >= (uint64_t)seconds / 2);
  CHECK(st.profiles_failed == 0);
  char *out = testutil_capture(
      "for f in %s/*.pprof.gz; do %s tool pprof -raw \"$f\" >/dev/null 2>&1 || echo BAD $f; "
      "done",
      dir, INPROF_GO);
  CHECKF(out && !strstr(out, "BAD"), "%s", out);
  return testutil_done("test_stress");
}
