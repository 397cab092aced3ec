/*
 * Issue 10, failure 7: huge sizes must not corrupt the profile.
 * inprof_record_alloc(p, SIZE_MAX) (any size >= 2^63) used to write
 * alloc-space and inuse-space of -9223372036854775808. The heap hooks are
 * given sizes of SIZE_MAX, 2^63 + 1, 2^63, 2^63 - 1 and 2^62 (each from its
 * own call site, some twice so that sums overflow too) at a sample size of
 * 1 byte (every one is sampled), plus ordinary allocations; the profile is
 * written to a file and read with `go tool pprof -raw`.
 *
 * Properties: no value of any sample is negative; the largest alloc-space
 * and inuse-space values are exactly INT64_MAX (saturated, not wrapped);
 * after every block is freed the next profile has no negative value and no
 * in-use space left. Exit 77 when `go` is not available.
 */
#include <inttypes.h>
#include <stdatomic.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

/* Fake blocks: the hooks never dereference a pointer. */
static char blocks[64][16];
static int nblocks;

__attribute__((noinline)) static void site_size_max(void) {
  inprof_record_alloc(blocks[nblocks++], SIZE_MAX);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void site_2p63_plus1(void) {
  inprof_record_alloc(blocks[nblocks++], ((size_t)1 << 63) + 1);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void site_2p63(void) {
  inprof_record_alloc(blocks[nblocks++], (size_t)1 << 63);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void site_2p63_minus1(void) {
  inprof_record_alloc(blocks[nblocks++], ((size_t)1 << 63) - 1);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void site_2p62(void) {
  inprof_record_alloc(blocks[nblocks++], (size_t)1 << 62);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void site_small(void) {
  inprof_record_alloc(blocks[nblocks++], 1000);
  __asm__ volatile("" ::: "memory");
}

typedef struct raw_stats {
  int samples;       /* sample lines read */
  int negatives;     /* values < 0 */
  int col_alloc, col_inuse;
  int64_t max_alloc, max_inuse;
  int64_t sum_inuse_capped; /* saturating sum of inuse-space */
} raw_stats;

/* Parses the "Samples:" block of `go tool pprof -raw`: a header line of
 * sample types, then one line per sample "v1 v2 ...: loc ids". */
static int parse_raw(const char *raw, raw_stats *rs) {
  memset(rs, 0, sizeof *rs);
  rs->col_alloc = rs->col_inuse = -1;
  const char *p = strstr(raw, "\nSamples:\n");
  if (!p) return -1;
  p += strlen("\nSamples:\n");
  const char *nl = strchr(p, '\n');
  if (!nl) return -1;
  /* Header: whitespace-separated types. */
  char header[1024];
  size_t hl = (size_t)(nl - p) < sizeof header - 1 ? (size_t)(nl - p) : sizeof header - 1;
  memcpy(header, p, hl);
  header[hl] = 0;
  int col = 0;
  for (char *save = NULL, *tok = strtok_r(header, " \t", &save); tok;
       tok = strtok_r(NULL, " \t", &save), col++) {
    if (!strcmp(tok, "alloc-space/bytes")) rs->col_alloc = col;
    if (!strcmp(tok, "inuse-space/bytes")) rs->col_inuse = col;
  }
  p = nl + 1;
  while (*p) {
    nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    /* Sample lines start with spaces and a number; label and location
     * lines of a sample do not have a number before their colon. */
    const char *q = p;
    while (q < p + len && *q == ' ') q++;
    if (!colon || q == colon || !(*q == '-' || (*q >= '0' && *q <= '9'))) {
      if (len > 0 && p[0] != ' ') break; /* the next section */
      p = nl ? nl + 1 : p + len;
      continue;
    }
    int c = 0;
    while (q < colon) {
      char *end;
      long long v = strtoll(q, &end, 10);
      if (end == q) break;
      if (v < 0) rs->negatives++;
      if (c == rs->col_alloc && v > rs->max_alloc) rs->max_alloc = v;
      if (c == rs->col_inuse) {
        if (v > rs->max_inuse) rs->max_inuse = v;
        if (__builtin_add_overflow(rs->sum_inuse_capped, (int64_t)v, &rs->sum_inuse_capped))
          rs->sum_inuse_capped = INT64_MAX;
      }
      c++;
      q = end;
      while (q < colon && *q == ' ') q++;
    }
    rs->samples++;
    p = nl ? nl + 1 : p + len;
  }
  return 0;
}

static char *read_profile(const char *dir) {
  char *file = testutil_latest_profile(dir);
  if (!file) return NULL;
  char *raw = testutil_capture("%s tool pprof -raw -symbolize=none %s 2>&1", INPROF_GO, file);
  free(file);
  return raw;
}

static void run(const char *dir, int phase) {
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 0;
  cfg.heap_sample_bytes = 1;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = dir;
  cfg.service = "relhuge";
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  if (phase == 0) {
    site_size_max();
    site_size_max(); /* the same stack twice: the sum overflows too */
    site_2p63_plus1();
    site_2p63();
    site_2p63_minus1();
    site_2p62();
    site_2p62();
    site_2p62(); /* 3 * 2^62 > INT64_MAX */
    for (int i = 0; i < 4; i++) site_small();
  } else {
    for (int i = 0; i < nblocks; i++) inprof_record_free(blocks[i]);
  }
  inprof_status st = inprof_stop(20000);
  CHECKF(st == INPROF_OK, "stop: %s (%s)", inprof_strerror(st), inprof_last_error());
}

int main(void) {
  if (access(INPROF_GO, X_OK) != 0) {
    printf("test_rel_huge_sizes: skipped, no go at %s\n", INPROF_GO);
    return 77;
  }
  rel_watchdog_start("test_rel_huge_sizes", 120);
  char *dir1 = testutil_tmpdir("rel-huge1");
  char *dir2 = testutil_tmpdir("rel-huge2");
  REQUIRE(dir1 && dir2);

  run(dir1, 0);
  inprof_statistics s = {.struct_size = sizeof s};
  REQUIRE(inprof_stats(&s) == INPROF_OK);
  CHECKF(s.heap_live_samples == (uint64_t)nblocks, "live samples %" PRIu64 ", expected %d",
         s.heap_live_samples, nblocks);

  char *raw = read_profile(dir1);
  REQUIRE(raw);
  raw_stats rs;
  if (parse_raw(raw, &rs) != 0) {
    fprintf(stderr, "cannot read the profile:\n%.2000s\n", raw);
    REQUIRE(0);
  }
  printf("with huge sizes: %d samples, %d negative values, max alloc-space %" PRId64
         ", max inuse-space %" PRId64 "\n",
         rs.samples, rs.negatives, rs.max_alloc, rs.max_inuse);
  CHECK(rs.col_alloc >= 0 && rs.col_inuse >= 0);
  CHECK(rs.samples >= 1);
  CHECKF(rs.negatives == 0, "%d negative values in the profile", rs.negatives);
  CHECKF(rs.max_alloc == INT64_MAX, "max alloc-space %" PRId64 " is not INT64_MAX", rs.max_alloc);
  CHECKF(rs.max_inuse == INT64_MAX, "max inuse-space %" PRId64 " is not INT64_MAX", rs.max_inuse);
  free(raw);

  /* Everything freed: nothing in use, nothing negative. */
  run(dir2, 1);
  REQUIRE(inprof_stats(&s) == INPROF_OK);
  CHECKF(s.heap_live_samples == 0, "live samples after freeing all: %" PRIu64,
         s.heap_live_samples);
  raw = read_profile(dir2);
  if (raw && parse_raw(raw, &rs) == 0) {
    printf("after frees: %d samples, %d negative values, inuse-space sum %" PRId64 "\n",
           rs.samples, rs.negatives, rs.sum_inuse_capped);
    CHECK(rs.negatives == 0);
    CHECK(rs.sum_inuse_capped == 0);
  }
  /* A profile with no sample at all may be omitted or empty: both fine. */
  free(raw);
  rel_watchdog_stop();
  testutil_capture("rm -rf %s %s", dir1, dir2);
  return testutil_done("test_rel_huge_sizes");
}
