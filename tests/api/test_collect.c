/*
 * inprof_collect: the current period so far, in memory, without ending the
 * period. What it returns is a pprof go tool pprof reads, naming where the
 * CPU went and who holds memory; the period's file, exported afterwards,
 * still holds the whole period (its CPU time and its allocations were not
 * taken by the collect). Errors name what is wrong.
 */
#include <stdlib.h>
#include <unistd.h>

#include "cpu_work.h"
#include "testutil.h"

#define BURN_NS 400000000ull   /* 0.4 s of CPU before the collect */
#define HOLD_BLOCKS 64
#define HOLD_SIZE (256 * 1024)

static void *held[HOLD_BLOCKS];

__attribute__((noinline)) void collect_burn(uint64_t ns) { CPU_WORK_SPIN(ns); }

__attribute__((noinline)) void collect_hold(void) {
  for (int i = 0; i < HOLD_BLOCKS; i++) {
    held[i] = malloc(HOLD_SIZE);
    memset(held[i], 1, HOLD_SIZE);
    inprof_record_alloc(held[i], HOLD_SIZE); /* the linked library's heap hook */
  }
}

static char *write_tmp(const uint8_t *buf, size_t len) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/inprof-collect-XXXXXX.pprof");
  int fd = mkstemps(path, 6);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, buf, len) == (ssize_t)len);
  close(fd);
  return path;
}

int main(void) {
  uint8_t *buf = (uint8_t *)"untouched";
  size_t len = 7;
  CHECK(inprof_collect(&buf, &len, 1000) == INPROF_ERR_NOT_RUNNING);
  CHECK(buf == NULL && len == 0);
  CHECK(strstr(inprof_last_error(), "not running") != NULL);
  CHECK(inprof_collect(NULL, &len, 1000) == INPROF_ERR_INVALID);
  CHECK(strstr(inprof_last_error(), "out or out_len") != NULL);

  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "collect", "collect-test");
  cfg.upload_period_ms = 3600 * 1000; /* only our flush ends the period */
  cfg.heap_sample_bytes = 64 * 1024;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  collect_hold();
  collect_burn(BURN_NS);
  REQUIRE(inprof_collect(&buf, &len, 30000) == INPROF_OK);
  REQUIRE(buf && len > 0);
  char *snap = write_tmp(buf, len);
  inprof_collect_free(buf);
  inprof_collect_free(NULL);

  testutil_row rows[4096];
  int n = testutil_pprof_top(snap, "cpu-time", rows, 4096);
  double burn_snap = testutil_cum_of(rows, n, "collect_burn");
  CHECKF(burn_snap > 0.6 * BURN_NS && burn_snap < 1.3 * BURN_NS,
         "collect_burn cpu-time in the collected profile: %.0f ns of %llu", burn_snap,
         (unsigned long long)BURN_NS);
  n = testutil_pprof_top(snap, "inuse-space", rows, 4096);
  double held_snap = testutil_flat_of(rows, n, "collect_hold");
  CHECKF(held_snap > 0.5 * HOLD_BLOCKS * HOLD_SIZE && held_snap < 2.0 * HOLD_BLOCKS * HOLD_SIZE,
         "collect_hold inuse-space in the collected profile: %.0f", held_snap);
  unlink(snap);

  /* The period goes on: the exported file has the CPU and the allocations
   * from before the collect, plus what came after. */
  collect_burn(BURN_NS / 2);
  REQUIRE(inprof_flush(30000) == INPROF_OK);
  char *file = testutil_latest_profile(dir);
  REQUIRE(file);
  n = testutil_pprof_top(file, "cpu-time", rows, 4096);
  double burn_file = testutil_cum_of(rows, n, "collect_burn");
  CHECKF(burn_file > burn_snap + 0.3 * BURN_NS && burn_file < 1.3 * (BURN_NS + BURN_NS / 2),
         "collect_burn cpu-time in the exported file: %.0f ns (collected %.0f)", burn_file,
         burn_snap);
  n = testutil_pprof_top(file, "alloc-space", rows, 4096);
  double alloc_file = testutil_flat_of(rows, n, "collect_hold");
  CHECKF(alloc_file > 0.5 * HOLD_BLOCKS * HOLD_SIZE,
         "collect_hold alloc-space in the exported file: %.0f (taken by the collect?)", alloc_file);
  free(file);

  /* A collect right after the export sees the new period only. */
  REQUIRE(inprof_collect(&buf, &len, 30000) == INPROF_OK);
  snap = write_tmp(buf, len);
  inprof_collect_free(buf);
  n = testutil_pprof_top(snap, "cpu-time", rows, 4096);
  CHECKF(n >= 0 && testutil_cum_of(rows, n, "collect_burn") < 0.2 * BURN_NS,
         "the new period still holds the old CPU time");
  unlink(snap);

  REQUIRE(inprof_stop(30000) == INPROF_OK);
  for (int i = 0; i < HOLD_BLOCKS; i++) {
    inprof_record_free(held[i]);
    free(held[i]);
  }
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  free(dir);
  return testutil_done("test_collect");
}
