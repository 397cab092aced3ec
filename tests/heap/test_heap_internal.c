/*
 * c-src/heap/heap.c on its own (no collector thread): hooks before start, the sampling
 * probability and the unbiased weights against the Poisson formula, the
 * stack's innermost frame, the re-entry guard, frees, stop/start, invariants
 * of the tables, and fork while another thread is in the slow path.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/diag.h"
#include "collect/aggregate.h"
#include "config/settings.h"
#include "heap/heap.h"
#include "testutil.h"


/* Fake block addresses: the hooks never dereference them. */
static uintptr_t next_fake = 0x100000000000ull;
static void *fake_block(void) {
  next_fake += 16 * 7;
  return (void *)next_fake;
}

static uint64_t stat_samples(void) {
  return atomic_load(&inprof__stats.heap_samples);
}

static void start(uint64_t rate) {
  inprof__settings s;
  memset(&s, 0, sizeof s);
  s.heap_sample_bytes = rate;
  s.max_frames = 64;
  REQUIRE(inprof__heap_start(&s) == INPROF_OK);
  /*
   * This thread's countdown was drawn at the previous run's rate and is
   * only redrawn at its next slow path: a huge NULL allocation forces that
   * now (NULL is never recorded), so each test starts at its own rate.
   */
  inprof_record_alloc(NULL, (size_t)1 << 62);
}

typedef struct sums {
  int64_t v[INPROF__VT_COUNT];
  uint32_t entries;
  uint32_t frame0_in_site;
  uintptr_t site_lo, site_hi;
} sums;

static void sum_visit(void *ctx, uint32_t tid, const uintptr_t *frames,
                      uint32_t nframes, const int64_t *values) {
  sums *s = ctx;
  (void)tid;
  for (int i = 0; i < INPROF__VT_COUNT; i++) s->v[i] += values[i];
  s->entries++;
  if (nframes > 0 && frames[0] > s->site_lo && frames[0] < s->site_hi) s->frame0_in_site++;
}

static sums collect(uintptr_t site_lo, uintptr_t site_hi) {
  sums s;
  memset(&s, 0, sizeof s);
  s.site_lo = site_lo;
  s.site_hi = site_hi;
  inprof__agg *agg = inprof__agg_new(100000);
  REQUIRE(agg);
  inprof__heap_collect(agg);
  inprof__agg_foreach(agg, sum_visit, &s);
  inprof__agg_free(agg);
  return s;
}

static void check_tables(uint64_t expect_live) {
  uint64_t entries = 0;
  uint64_t bad = inprof__heap_test_check(&entries);
  CHECKF(bad == 0, "%llu invariant violations", (unsigned long long)bad);
  CHECKF(entries == expect_live, "entries %llu expected %llu",
         (unsigned long long)entries, (unsigned long long)expect_live);
  CHECK(inprof__heap_live_samples() == expect_live);
}

/* The call site every sample of test_probability must point into. */
__attribute__((noinline)) void alloc_site(void **ptrs, size_t n, size_t size) {
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = fake_block();
    inprof_record_alloc(ptrs[i], size);
  }
  __asm__ volatile("" ::: "memory");
}

static void test_before_start(void) {
  /* Never started: nothing is recorded, nothing crashes. */
  uint64_t before = stat_samples();
  for (int i = 0; i < 100000; i++) {
    void *p = fake_block();
    inprof_record_alloc(p, 1000);
    inprof_record_free(p);
  }
  inprof_record_alloc(NULL, 0);
  inprof_record_free(NULL);
  CHECK(stat_samples() == before);
  check_tables(0);
}

/*
 * n allocations of size s at mean rate: the number of samples is Binomial
 * with p = 1 - exp(-s/rate); the estimates must recover n and n*s.
 */
static void test_probability(uint64_t rate, size_t size, size_t n) {
  start(rate);
  void **ptrs = malloc(n * sizeof *ptrs);
  REQUIRE(ptrs);
  uint64_t before = stat_samples();
  alloc_site(ptrs, n, size);
  uint64_t got = stat_samples() - before;
  double p = -expm1(-(double)size / (double)rate);
  double expect = p * (double)n;
  double sd = sqrt((double)n * p * (1 - p));
  CHECKF(fabs((double)got - expect) <= 5 * sd + 1,
         "size %zu: %llu samples, expected %.1f +- %.1f", size,
         (unsigned long long)got, expect, sd);
  check_tables(got);

  /* alloc_site is a few dozen instructions (more under ASan). */
  sums s = collect((uintptr_t)alloc_site, (uintptr_t)alloc_site + 1024);
  double est_n = (double)s.v[INPROF__VT_ALLOC_SAMPLES];
  double est_b = (double)s.v[INPROF__VT_ALLOC_SPACE];
  /* relative error of the estimate: sd / expect of a binomial count */
  double tol = 5 * sd / expect + 0.002;
  CHECKF(fabs(est_n / (double)n - 1) <= tol, "size %zu: alloc-samples %.0f, truth %zu",
         size, est_n, n);
  CHECKF(fabs(est_b / ((double)n * (double)size) - 1) <= tol,
         "size %zu: alloc-space %.0f, truth %zu", size, est_b, n * size);
  /* Everything is still live: in-use equals allocated. */
  CHECK(s.v[INPROF__VT_INUSE_OBJECTS] == s.v[INPROF__VT_ALLOC_SAMPLES]);
  CHECK(llabs(s.v[INPROF__VT_INUSE_SPACE] - s.v[INPROF__VT_ALLOC_SPACE]) <= 1);
  CHECK(s.v[INPROF__VT_CPU_SAMPLES] == 0 && s.v[INPROF__VT_CPU_TIME] == 0);
  /* The hook's own frames are skipped: the innermost frame is the site. */
  CHECKF(s.entries >= 1 && s.frame0_in_site == s.entries,
         "%u of %u stacks start in alloc_site", s.frame0_in_site, s.entries);

  /* A second collect: the period's allocations are gone, the live heap stays. */
  sums s2 = collect(0, 0);
  CHECK(s2.v[INPROF__VT_ALLOC_SAMPLES] == 0 && s2.v[INPROF__VT_ALLOC_SPACE] == 0);
  CHECK(s2.v[INPROF__VT_INUSE_SPACE] == s.v[INPROF__VT_INUSE_SPACE]);

  /* Free half: in-use drops by about half; free all: nothing is left. */
  for (size_t i = 0; i < n; i += 2) inprof_record_free(ptrs[i]);
  sums s3 = collect(0, 0);
  CHECKF(fabs((double)s3.v[INPROF__VT_INUSE_SPACE] / (double)s.v[INPROF__VT_INUSE_SPACE] -
              0.5) <= 0.5 * (5 * sd / expect * 1.5 + 0.01),
         "after freeing half: %lld of %lld", (long long)s3.v[INPROF__VT_INUSE_SPACE],
         (long long)s.v[INPROF__VT_INUSE_SPACE]);
  for (size_t i = 1; i < n; i += 2) inprof_record_free(ptrs[i]);
  sums s4 = collect(0, 0);
  CHECK(s4.v[INPROF__VT_INUSE_SPACE] == 0 && s4.v[INPROF__VT_INUSE_OBJECTS] == 0);
  CHECK(s4.entries == 0);
  check_tables(0);
  free(ptrs);
  inprof__heap_stop();
  printf("rate %llu size %zu: %llu samples (expected %.0f), estimates %.0f allocs %.0f bytes\n",
         (unsigned long long)rate, size, (unsigned long long)got, expect, est_n, est_b);
}

static void test_guard_and_stop(void) {
  start(1); /* every allocation sampled */
  uint64_t before = stat_samples();
  inprof__in_profiler = 1;
  void *a = fake_block();
  inprof_record_alloc(a, 100);
  inprof__in_profiler = 0;
  CHECK(stat_samples() == before);

  void *b = fake_block();
  inprof_record_alloc(b, 100);
  CHECK(stat_samples() == before + 1);
  CHECK(inprof__heap_test_is_live(b));
  /* A block allocated again without a free (a missed hook) replaces it. */
  inprof_record_alloc(b, 200);
  check_tables(1);

  /* After stop: no new samples; frees still match, live blocks stay. */
  void *c = fake_block();
  inprof_record_alloc(c, 100);
  inprof__heap_stop();
  uint64_t after_stop = stat_samples();
  for (int i = 0; i < 1000; i++) {
    void *p = fake_block();
    inprof_record_alloc(p, 100000);
    inprof_record_free(p);
  }
  CHECK(stat_samples() == after_stop);
  check_tables(2);
  inprof_record_free(b);
  check_tables(1);
  CHECK(!inprof__heap_test_is_live(b) && inprof__heap_test_is_live(c));

  /* Restart: the block from before the stop is still in use. */
  start(1);
  sums s = collect(0, 0);
  CHECK(s.v[INPROF__VT_INUSE_SPACE] == 100 && s.v[INPROF__VT_INUSE_OBJECTS] == 1);
  inprof_record_free(c);
  check_tables(0);
  inprof__heap_stop();
  collect(0, 0);
}

/* Saturating filter counters and many entries in one shard's table. */
static void test_many(void) {
  start(1);
  enum { N = 200000 };
  void **ptrs = malloc(N * sizeof *ptrs);
  REQUIRE(ptrs);
  for (int i = 0; i < N; i++) {
    ptrs[i] = fake_block();
    inprof_record_alloc(ptrs[i], 64); /* p = 1 - exp(-64) */
  }
  check_tables(N);
  for (int i = 0; i < N; i += 3) inprof_record_free(ptrs[i]);
  check_tables(N - (N + 2) / 3);
  for (int i = 0; i < N; i++)
    if (i % 3) inprof_record_free(ptrs[i]);
  check_tables(0);
  free(ptrs);
  inprof__heap_stop();
  collect(0, 0);
}

/* The live table is bounded (1M entries, 64K per shard): the excess is dropped and counted. */
static void test_cap(void) {
  start(1);
  enum { N = (1 << 20) + 50000 };
  void **ptrs = malloc(N * sizeof *ptrs);
  REQUIRE(ptrs);
  uint64_t s0 = stat_samples(), d0 = atomic_load(&inprof__stats.heap_samples_dropped);
  for (int i = 0; i < N; i++) {
    ptrs[i] = fake_block();
    inprof_record_alloc(ptrs[i], 64);
  }
  uint64_t live = inprof__heap_live_samples();
  uint64_t dropped = atomic_load(&inprof__stats.heap_samples_dropped) - d0;
  printf("cap: %d sampled, %llu live, %llu dropped\n", N, (unsigned long long)live,
         (unsigned long long)dropped);
  CHECK(stat_samples() - s0 == N);
  CHECK(live <= (1u << 20) && live > (1u << 20) - 50000);
  CHECK(dropped == N - live);
  check_tables(live);
  for (int i = 0; i < N; i++) inprof_record_free(ptrs[i]);
  check_tables(0);
  free(ptrs);
  inprof__heap_stop();
  collect(0, 0);
}

static _Atomic int hammer_stop;
static void *hammer(void *arg) {
  (void)arg;
  while (!atomic_load(&hammer_stop)) {
    void *p[64];
    for (int i = 0; i < 64; i++) {
      p[i] = malloc(32);
      inprof_record_alloc(p[i], 32);
    }
    for (int i = 0; i < 64; i++) {
      inprof_record_free(p[i]);
      free(p[i]);
    }
  }
  return NULL;
}

/* Fork while another thread holds the heap locks now and then. */
static void test_fork(void) {
  start(1);
  pthread_t t;
  pthread_create(&t, NULL, hammer, NULL);
  int failures = 0;
  for (int i = 0; i < 50; i++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      alarm(10); /* a deadlock ends as SIGALRM */
      for (int j = 0; j < 1000; j++) {
        void *p = malloc(64);
        inprof_record_alloc(p, 64);
        inprof_record_free(p);
        free(p);
      }
      uint64_t bad = inprof__heap_test_check(NULL);
      _exit(bad ? 2 : 0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
  }
  atomic_store(&hammer_stop, 1);
  pthread_join(t, NULL);
  CHECKF(failures == 0, "%d of 50 children failed", failures);
  check_tables(0);
  inprof__heap_stop();
  collect(0, 0);
}

/*
 * The public inline fast path (inprof.h): a caller-owned countdown with
 * inprof_record_alloc_countdown, and the filter from inprof_heap_free_filter
 * tested with the documented hash. Sample count matches 1 - exp(-s/R) per
 * block within 5 sigma, every live sampled block's public filter bit is set
 * (no false negatives: the caller would otherwise skip its free), and after
 * frees decided through the public filter nothing stays live.
 */
static int public_filter_bit(const void *p) {
  const uint64_t *f = inprof_heap_free_filter();
  uint64_t i = ((uint64_t)(uintptr_t)p * INPROF_HEAP_FILTER_MULTIPLIER) >>
               (64 - INPROF_HEAP_FILTER_BITS);
  return (int)((__atomic_load_n(&f[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1);
}

static void test_public_inline_path(void) {
  enum { N = 200000 };
  const uint64_t rate = 4096;
  static void *ptrs[N];
  start(rate);
  uint64_t live0 = inprof__heap_live_samples();
  uint64_t countdown = 0, s0 = stat_samples(), calls = 0;
  double mean = 0, var = 0;
  for (size_t i = 0; i < N; i++) {
    size_t size = 16 + (i * 7919) % 2000;
    double q = 1 - exp(-(double)size / (double)rate);
    mean += q;
    var += q * (1 - q);
    ptrs[i] = fake_block();
    if (size < countdown) {
      countdown -= size;
    } else {
      calls++;
      inprof_record_alloc_countdown(ptrs[i], size, &countdown);
    }
  }
  double got = (double)(stat_samples() - s0);
  CHECKF(fabs(got - mean) <= 5 * sqrt(var), "public countdown: %.0f samples, expected %.0f +- %.0f",
         got, mean, sqrt(var));
  /* The countdown is re-armed by each call: calls stay near the samples. */
  CHECKF((double)calls <= got + 2, "%llu calls for %.0f samples", (unsigned long long)calls, got);
  uint64_t live = inprof__heap_live_samples() - live0, missing = 0, sent = 0;
  CHECKF((double)live == got, "live %llu after %.0f samples", (unsigned long long)live, got);
  for (size_t i = 0; i < N; i++)
    if (inprof__heap_test_is_live(ptrs[i]) && !public_filter_bit(ptrs[i])) missing++;
  CHECKF(missing == 0, "%llu live sampled blocks with a clear public filter bit",
         (unsigned long long)missing);
  /* Blocks not sampled whose bit is set anyway (another block's slot):
   * at most the set fraction of the filter, plus 5 sigma. */
  const uint64_t *f = inprof_heap_free_filter();
  uint64_t set = 0;
  for (uint32_t w = 0; w < (1u << INPROF_HEAP_FILTER_BITS) / 64; w++)
    set += (uint64_t)__builtin_popcountll(__atomic_load_n(&f[w], __ATOMIC_RELAXED));
  double frac = (double)set / (double)(1u << INPROF_HEAP_FILTER_BITS);
  double fp_max = ((double)N - got) * frac + 5 * sqrt((double)N * frac * (1 - frac)) + 10;
  for (size_t i = 0; i < N; i++)
    if (public_filter_bit(ptrs[i])) {
      sent++;
      inprof_record_free(ptrs[i]);
    }
  /* Only set bits reach the library: about the samples plus false positives. */
  CHECKF(sent >= (uint64_t)got && (double)sent <= got + fp_max,
         "%llu frees sent for %.0f samples (filter %.2f full)", (unsigned long long)sent, got, frac);
  printf("public inline path: %.0f samples (expected %.0f), %llu calls, %llu frees sent\n", got,
         mean, (unsigned long long)calls, (unsigned long long)sent);
  check_tables(live0);
  inprof__heap_stop();
  (void)collect(0, 0); /* this period's allocations are not the next test's */
}

/*
 * free(NULL) while a live sampled block shares filter slot 0 (the slot of
 * address 0): the filter lets the call through, and the table must not take
 * address 0 (its empty-slot mark) for an entry. A regression test for a
 * crash at exit in zero-code mode, where the interposer's free passes NULL
 * to the hook without a test of its own.
 */
static void test_free_null_slot0(void) {
  start(4096);
  uint64_t live0 = inprof__heap_live_samples();
  uintptr_t p = 0x200000000000ull;
  while ((((uint64_t)p * INPROF_HEAP_FILTER_MULTIPLIER) >> (64 - INPROF_HEAP_FILTER_BITS)) != 0)
    p += 16;
  /* 2^40 bytes at a mean of 4096: sampled with certainty. */
  inprof_record_alloc((void *)p, (size_t)1 << 40);
  REQUIRE(inprof__heap_test_is_live((void *)p));
  CHECK(public_filter_bit(NULL));
  inprof_record_free(NULL);
  inprof_record_free(NULL);
  CHECK(inprof__heap_test_is_live((void *)p));
  check_tables(live0 + 1);
  inprof_record_free((void *)p);
  CHECK(!inprof__heap_test_is_live((void *)p));
  check_tables(live0);
  inprof__heap_stop();
  (void)collect(0, 0);
}

int main(void) {
  test_before_start();
  test_free_null_slot0();
  test_public_inline_path();
  test_probability(4096, 64, 400000);
  test_probability(4096, 4096, 40000);
  test_probability(4096, 40000, 20000);
  test_probability(524288, 512, 2000000);
  test_guard_and_stop();
  test_many();
  test_cap();
  test_fork();
  return testutil_done("test_heap_internal");
}
