/*
 * End to end through the public API: a host allocates known amounts from four
 * call sites (many small blocks, medium blocks, a few multi-MB blocks, and a
 * site whose blocks are all freed), keeping some. The exported profile, read
 * with `go tool pprof`, must give per site alloc-space and inuse-space within
 * 10% of the truth, no in-use memory at the freeing site, and no samples in
 * the hooks' own frames.
 *
 * The rate is 32 KiB rather than the default 512 KiB so that ~770 MB gives
 * thousands of samples per site: at 10% tolerance the check is > 4.5 sigma,
 * i.e. it fails only when the estimator is wrong.
 *
 * argv[1] (optional): sample rate in bytes; argv[2]: volume multiplier.
 */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "inprof.h"
#include "testutil.h"

typedef struct site_truth {
  const char *name;
  double alloc_bytes, kept_bytes;
} site_truth;

static site_truth truth[4] = {
    {"site_small", 0, 0}, {"site_medium", 0, 0}, {"site_large", 0, 0}, {"site_freed", 0, 0}};

static inline __attribute__((always_inline)) void *hooked_malloc(size_t n) {
  void *p = malloc(n);
  REQUIRE(p);
  inprof_record_alloc(p, n);
  return p;
}

static inline __attribute__((always_inline)) void hooked_free(void *p) {
  inprof_record_free(p);
  free(p);
}

static void **kept;
static size_t nkept, capkept;

static void keep(void *p) {
  if (nkept == capkept) {
    capkept = capkept ? capkept * 2 : 4096;
    kept = realloc(kept, capkept * sizeof *kept);
    REQUIRE(kept);
  }
  kept[nkept++] = p;
}

/* 16..256-byte blocks, one in four kept. */
__attribute__((noinline)) void site_small(double total) {
  for (uint64_t i = 0; truth[0].alloc_bytes < total; i++) {
    size_t n = 16 + (i * 37) % 241;
    void *p = hooked_malloc(n);
    truth[0].alloc_bytes += (double)n;
    if (i % 4 == 0) {
      keep(p);
      truth[0].kept_bytes += (double)n;
    } else {
      hooked_free(p);
    }
  }
}

/* 8..64 KiB blocks, one in four kept. */
__attribute__((noinline)) void site_medium(double total) {
  for (uint64_t i = 0; truth[1].alloc_bytes < total; i++) {
    size_t n = 8192 + (i * 7919) % (56 * 1024);
    void *p = hooked_malloc(n);
    truth[1].alloc_bytes += (double)n;
    if (i % 4 == 1) {
      keep(p);
      truth[1].kept_bytes += (double)n;
    } else {
      hooked_free(p);
    }
  }
}

/* 4 MiB + a little, one in four kept. */
__attribute__((noinline)) void site_large(double total) {
  for (uint64_t i = 0; truth[2].alloc_bytes < total; i++) {
    size_t n = (4u << 20) + i * 4096;
    void *p = hooked_malloc(n);
    truth[2].alloc_bytes += (double)n;
    if (i % 4 == 2) {
      keep(p);
      truth[2].kept_bytes += (double)n;
    } else {
      hooked_free(p);
    }
  }
}

/* 1..4 KiB blocks held in a window of 1000, then all freed. */
__attribute__((noinline)) void site_freed(double total) {
  enum { WINDOW = 1000 };
  void *win[WINDOW] = {0};
  for (uint64_t i = 0; truth[3].alloc_bytes < total; i++) {
    size_t n = 1024 + (i * 331) % 3072;
    if (win[i % WINDOW]) hooked_free(win[i % WINDOW]);
    win[i % WINDOW] = hooked_malloc(n);
    truth[3].alloc_bytes += (double)n;
  }
  for (int i = 0; i < WINDOW; i++)
    if (win[i]) hooked_free(win[i]);
}

static double value_of(testutil_row *rows, int n, const char *fn) {
  double v = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(rows[i].name, fn)) v += rows[i].flat;
  return v;
}

static void check_close(const char *what, const char *site, double got, double want,
                        double tol) {
  double err = want > 0 ? got / want - 1 : got;
  printf("%-12s %-12s profile %14.0f truth %14.0f (%+.2f%%)\n", site, what, got, want,
         100 * err);
  CHECKF(fabs(err) <= tol, "%s of %s: %.0f, truth %.0f", what, site, got, want);
}

int main(int argc, char **argv) {
  uint64_t rate = argc > 1 ? strtoull(argv[1], NULL, 10) : 32768;
  double mult = argc > 2 ? strtod(argv[2], NULL) : 1.0;
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "heap-sites", "heap-sites");
  cfg.cpu_hz = 0;
  cfg.heap_sample_bytes = rate;
  cfg.upload_period_ms = 3600 * 1000; /* only our flush exports */
  /* The always_inline hook wrappers would be the leaves in builds with
   * debug info; this test attributes bytes to the real functions. */
  cfg.inlined_frames = 0;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  site_small(256e6 * mult);
  site_medium(256e6 * mult);
  site_large(128e6 * mult);
  site_freed(128e6 * mult);

  inprof_statistics st = {.struct_size = sizeof st};
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  REQUIRE(inprof_flush(30000) == INPROF_OK);
  printf("heap samples %llu dropped %llu live %llu\n", (unsigned long long)st.heap_samples,
         (unsigned long long)st.heap_samples_dropped, (unsigned long long)st.heap_live_samples);
  CHECK(st.heap_samples_dropped == 0);
  CHECK(st.heap_live_samples > 0 && st.heap_live_samples < st.heap_samples);

  char file[512];
  snprintf(file, sizeof file, "%s/heap-sites-%d-1.pprof.gz", dir, getpid());
  REQUIRE(access(file, R_OK) == 0);

  static testutil_row alloc[4096], inuse[4096], objects[4096];
  int na = testutil_pprof_top(file, "alloc-space", alloc, 4096);
  int ni = testutil_pprof_top(file, "inuse-space", inuse, 4096);
  int no = testutil_pprof_top(file, "inuse-objects", objects, 4096);
  REQUIRE(na > 0 && ni > 0 && no > 0);

  for (int s = 0; s < 4; s++) {
    check_close("alloc-space", truth[s].name, value_of(alloc, na, truth[s].name),
                truth[s].alloc_bytes, 0.10);
    if (s < 3)
      check_close("inuse-space", truth[s].name, value_of(inuse, ni, truth[s].name),
                  truth[s].kept_bytes, 0.10);
  }
  /* Everything site_freed allocated was freed: not one sampled block left. */
  CHECKF(value_of(inuse, ni, "site_freed") == 0, "site_freed in use: %.0f",
         value_of(inuse, ni, "site_freed"));
  /* The hooks' frames are skipped: the sites are the leaves. */
  double total = testutil_total(alloc, na), sites = 0;
  for (int s = 0; s < 4; s++) sites += value_of(alloc, na, truth[s].name);
  CHECKF(sites >= 0.999 * total, "sites %.0f of %.0f allocated bytes", sites, total);
  CHECK(value_of(alloc, na, "inprof_record_alloc") == 0);

  /* Free what was kept: a later profile has no in-use memory left. */
  for (size_t i = 0; i < nkept; i++) hooked_free(kept[i]);
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  CHECKF(st.heap_live_samples == 0, "live samples after freeing all: %llu",
         (unsigned long long)st.heap_live_samples);
  REQUIRE(inprof_flush(30000) == INPROF_OK);
  snprintf(file, sizeof file, "%s/heap-sites-%d-2.pprof.gz", dir, getpid());
  REQUIRE(access(file, R_OK) == 0);
  ni = testutil_pprof_top(file, "inuse-space", inuse, 4096);
  CHECKF(ni <= 0 || testutil_total(inuse, ni) == 0, "in use after freeing all: %.0f",
         ni > 0 ? testutil_total(inuse, ni) : 0.0);
  na = testutil_pprof_top(file, "alloc-space", alloc, 4096);
  CHECKF(na <= 0 || testutil_total(alloc, na) == 0, "second period allocated %.0f",
         na > 0 ? testutil_total(alloc, na) : 0.0);

  REQUIRE(inprof_stop(10000) == INPROF_OK);
  free(kept);
  free(testutil_capture("rm -rf %s", dir));
  free(dir);
  return testutil_done("test_heap_sites");
}
