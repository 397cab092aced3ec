/*
 * Concurrency: worker threads allocate, free, "realloc" and hand blocks to
 * each other to be freed on another thread, while the CPU sampler runs and
 * profiles are exported (short period plus flushes). At the end, with every
 * outstanding block known, the live table must hold exactly the sampled ones:
 * entries == live count == outstanding blocks found live, invariants intact;
 * after freeing everything nothing is left.
 *
 * argv[1]: seconds of work (default 2); argv[2]: sample rate (default 4096).
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


#define WORKERS 4
#define QUEUE 4096

/* Blocks handed to other threads to free. */
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static void *q[QUEUE];
static size_t q_head, q_len;
static _Atomic int stop_flag;

static void q_push(void *p, void **own, size_t *nown) {
  pthread_mutex_lock(&q_mu);
  if (q_len < QUEUE) {
    q[(q_head + q_len++) % QUEUE] = p;
    p = NULL;
  }
  pthread_mutex_unlock(&q_mu);
  if (p) own[(*nown)++] = p; /* queue full: keep it */
}

static void *q_pop(void) {
  void *p = NULL;
  pthread_mutex_lock(&q_mu);
  if (q_len) {
    p = q[q_head];
    q_head = (q_head + 1) % QUEUE;
    q_len--;
  }
  pthread_mutex_unlock(&q_mu);
  return p;
}

static void *hmalloc(size_t n) {
  void *p = malloc(n);
  REQUIRE(p);
  inprof_record_alloc(p, n);
  return p;
}

static void hfree(void *p) {
  inprof_record_free(p);
  free(p);
}

static void *hrealloc(void *old, size_t n) {
  inprof_record_free(old);
  void *p = realloc(old, n);
  REQUIRE(p);
  inprof_record_alloc(p, n);
  return p;
}

typedef struct worker {
  pthread_t thread;
  uint64_t rng;
  void **own;                  /* blocks this thread still holds */
  size_t nown, cap;
  uint64_t ops;
} worker;

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *work(void *arg) {
  worker *w = arg;
  while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
    uint64_t r = next_rand(&w->rng);
    size_t n = r % 4 == 0 ? 4096 + (r >> 8) % 65536 : 16 + (r >> 8) % 512;
    switch ((r >> 32) % 8) {
    case 0: case 1: case 2: /* allocate and keep */
      if (w->nown < w->cap) {
        w->own[w->nown++] = hmalloc(n);
        break;
      }
      /* fallthrough */
    case 3: /* free one of ours */
      if (w->nown) {
        size_t i = (r >> 40) % w->nown;
        hfree(w->own[i]);
        w->own[i] = w->own[--w->nown];
      }
      break;
    case 4: /* hand one of ours to another thread */
      if (w->nown) {
        size_t i = (r >> 40) % w->nown;
        void *p = w->own[i];
        w->own[i] = w->own[--w->nown];
        q_push(p, w->own, &w->nown);
      }
      break;
    case 5: { /* free one another thread allocated */
      void *p = q_pop();
      if (p) hfree(p);
      break;
    }
    case 6: /* realloc one of ours */
      if (w->nown) {
        size_t i = (r >> 40) % w->nown;
        w->own[i] = hrealloc(w->own[i], n);
      }
      break;
    default: /* short-lived */
      hfree(hmalloc(n));
      break;
    }
    w->ops++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? strtod(argv[1], NULL) : 2.0;
  uint64_t rate = argc > 2 ? strtoull(argv[2], NULL, 10) : 4096;
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "heap-threads", "heap-threads");
  cfg.heap_sample_bytes = rate;
  cfg.upload_period_ms = 200;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  static worker w[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    w[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    w[i].cap = 2000;
    w[i].own = malloc(w[i].cap * sizeof(void *));
    REQUIRE(w[i].own);
    pthread_create(&w[i].thread, NULL, work, &w[i]);
  }
  uint64_t deadline = inprof__now_ns(CLOCK_MONOTONIC) + (uint64_t)(seconds * 1e9);
  int flushes = 0;
  while (inprof__now_ns(CLOCK_MONOTONIC) < deadline) {
    usleep(50000);
    CHECK(inprof_flush(10000) == INPROF_OK);
    flushes++;
  }
  atomic_store(&stop_flag, 1);
  uint64_t ops = 0;
  for (int i = 0; i < WORKERS; i++) {
    pthread_join(w[i].thread, NULL);
    ops += w[i].ops;
  }

  /* Quiescent: every outstanding block is in some worker's list or the queue. */
  uint64_t outstanding = 0, found_live = 0;
  for (int i = 0; i < WORKERS; i++)
    for (size_t j = 0; j < w[i].nown; j++, outstanding++)
      found_live += (uint64_t)inprof__heap_test_is_live(w[i].own[j]);
  for (size_t j = 0; j < q_len; j++, outstanding++)
    found_live += (uint64_t)inprof__heap_test_is_live(q[(q_head + j) % QUEUE]);
  uint64_t entries = 0;
  uint64_t bad = inprof__heap_test_check(&entries);
  inprof_statistics st = {.struct_size = sizeof st};
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  printf("%llu ops, %d flushes, %llu outstanding, %llu live sampled, %llu table entries, "
         "%llu samples, %llu dropped, %llu profiles\n",
         (unsigned long long)ops, flushes, (unsigned long long)outstanding,
         (unsigned long long)found_live, (unsigned long long)entries,
         (unsigned long long)st.heap_samples, (unsigned long long)st.heap_samples_dropped,
         (unsigned long long)st.profiles_written);
  CHECKF(bad == 0, "%llu invariant violations", (unsigned long long)bad);
  CHECK(entries == found_live);
  CHECK(st.heap_live_samples == found_live);
  CHECK(found_live > 0);
  CHECK(st.heap_samples_dropped == 0);
  CHECK(st.profiles_written >= (uint64_t)flushes);

  /* The last profile's in-use objects are the live samples, scaled. */
  REQUIRE(inprof_flush(10000) == INPROF_OK);
  char *file = testutil_latest_profile(dir);
  REQUIRE(file);
  static testutil_row rows[8192];
  int n = testutil_pprof_top(file, "inuse-space", rows, 8192);
  CHECK(n > 0 && testutil_total(rows, n) > 0);
  free(file);

  for (int i = 0; i < WORKERS; i++) {
    for (size_t j = 0; j < w[i].nown; j++) hfree(w[i].own[j]);
    free(w[i].own);
  }
  for (void *p; (p = q_pop()) != NULL;) hfree(p);
  bad = inprof__heap_test_check(&entries);
  CHECKF(bad == 0 && entries == 0, "after freeing all: %llu bad, %llu entries",
         (unsigned long long)bad, (unsigned long long)entries);
  CHECK(inprof__heap_live_samples() == 0);
  REQUIRE(inprof_stop(10000) == INPROF_OK);
  free(testutil_capture("rm -rf %s", dir));
  free(dir);
  return testutil_done("test_heap_threads");
}
