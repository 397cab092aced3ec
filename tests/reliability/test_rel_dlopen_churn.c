/*
 * Issue 10, failure 1: the host must never deadlock when libraries whose
 * code is hot are dlopen()ed and dlclose()d while sampling at a high rate,
 * with heap sampling, another thread in malloc/free and periodic flushes.
 * (The signal handler's unwinder used to call dl_iterate_phdr, which waits
 * for the loader lock held by a dlclose() that waits for the malloc lock
 * held by the interrupted thread.)
 *
 * Properties: every thread keeps making progress (a thread stuck for 20 s,
 * or the whole test beyond 60 s, is a hang: the watchdog names the phase and
 * aborts), every flush and the stop succeed, profiles are written.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

typedef uint64_t (*churn_work_fn)(uint64_t, void (*)(void *, size_t), void (*)(void *));

static const char *const libs[] = {CHURN_LIB_A, CHURN_LIB_B, CHURN_LIB_C};
#define NLIBS 3
/* Workload length (not an assertion): loaders churn for this long. */
#define CHURN_SECONDS 4.0
#define LOADERS 2

static atomic_int loaders_done;
static atomic_int stop_alloc;
static atomic_int load_failures;
static atomic_int cycles;

static void *loader_main(void *arg) {
  rel_track *t = arg;
  uintptr_t seed = (uintptr_t)t;
  double end = rel_now_s() + CHURN_SECONDS;
  for (int r = 0; rel_now_s() < end; r++) {
    const char *path = libs[(r + seed) % NLIBS];
    rel_phase(t, "dlopen");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
      atomic_fetch_add(&load_failures, 1);
      break;
    }
    rel_phase(t, "dlsym");
    churn_work_fn work = (churn_work_fn)(uintptr_t)dlsym(h, "churn_work");
    if (work) {
      rel_phase(t, "hot code in the module");
      work(100 + r % 50, inprof_record_alloc, inprof_record_free);
    }
    rel_phase(t, "dlclose");
    dlclose(h);
    rel_progress(t);
    atomic_fetch_add(&cycles, 1);
  }
  rel_phase(t, "done");
  atomic_fetch_add(&loaders_done, 1);
  return NULL;
}

/* A host thread in malloc/free (arena locks) all the time, hooks included. */
static void *alloc_main(void *arg) {
  rel_track *t = arg;
  void *slots[256] = {0};
  uint64_t x = 88172645463325252ull;
  while (!atomic_load(&stop_alloc)) {
    for (int i = 0; i < 1000; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int s = (int)(x & 255);
      if (slots[s]) {
        rel_phase(t, "free");
        inprof_record_free(slots[s]);
        free(slots[s]);
        slots[s] = NULL;
      } else {
        size_t size = 16 + (size_t)((x >> 8) % 65536);
        rel_phase(t, "malloc");
        slots[s] = malloc(size);
        if (slots[s]) inprof_record_alloc(slots[s], size);
      }
    }
    rel_progress(t);
  }
  for (int s = 0; s < 256; s++)
    if (slots[s]) inprof_record_free(slots[s]), free(slots[s]);
  rel_phase(t, "done");
  return NULL;
}

int main(void) {
  /* One malloc arena: the loader threads' dlclose() and the malloc thread
   * then contend for the same arena lock, as threads of a host with more
   * threads than arenas do. */
  mallopt(M_ARENA_MAX, 1);
  rel_watchdog_start("test_rel_dlopen_churn", 60);
  rel_track *main_t = rel_track_new("main (flusher)", 30);
  char *dir = testutil_tmpdir("rel-dlopen");
  REQUIRE(dir);

  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 999;
  cfg.heap_sample_bytes = 8192;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = dir;
  cfg.service = "reldlopen";
  rel_phase(main_t, "inprof_start");
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  pthread_t loaders[LOADERS], alloc;
  static const char *names[LOADERS] = {"loader 0", "loader 1"};
  for (int i = 0; i < LOADERS; i++)
    REQUIRE(pthread_create(&loaders[i], NULL, loader_main, rel_track_new(names[i], 20)) == 0);
  REQUIRE(pthread_create(&alloc, NULL, alloc_main, rel_track_new("malloc/free", 20)) == 0);

  int flushes = 0, flush_bad = 0;
  while (atomic_load(&loaders_done) < LOADERS) {
    rel_phase(main_t, "inprof_flush");
    inprof_status st = inprof_flush(20000);
    if (st != INPROF_OK) {
      flush_bad++;
      fprintf(stderr, "flush %d: %s (%s)\n", flushes, inprof_strerror(st), inprof_last_error());
    }
    flushes++;
    rel_progress(main_t);
    rel_phase(main_t, "sleep");
    rel_sleep_ms(100);
  }
  rel_phase(main_t, "join loaders");
  for (int i = 0; i < LOADERS; i++) pthread_join(loaders[i], NULL);
  atomic_store(&stop_alloc, 1);
  rel_phase(main_t, "join malloc thread");
  pthread_join(alloc, NULL);

  inprof_statistics stats = {.struct_size = sizeof stats};
  inprof_stats(&stats);
  rel_phase(main_t, "inprof_stop");
  inprof_status st = inprof_stop(20000);
  rel_phase(main_t, "checks");
  CHECKF(st == INPROF_OK, "stop: %s (%s)", inprof_strerror(st), inprof_last_error());
  CHECK(atomic_load(&load_failures) == 0);
  CHECKF(flush_bad == 0, "%d of %d flushes failed", flush_bad, flushes);
  int files = rel_count_dir(dir, ".pprof.gz");
  printf("dlopen/dlclose cycles %d, flushes %d, profiles %d, cpu samples %llu, heap samples %llu, failed %llu\n", atomic_load(&cycles),
         flushes, files, (unsigned long long)stats.cpu_samples, (unsigned long long)stats.heap_samples,
         (unsigned long long)stats.profiles_failed);
  CHECKF(files >= 2, "%d profiles written", files);
  CHECK(stats.profiles_failed == 0);
  CHECK(stats.cpu_samples > 0);
  rel_watchdog_stop();
  testutil_capture("rm -rf %s", dir);
  return testutil_done("test_rel_dlopen_churn");
}
