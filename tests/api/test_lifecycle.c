/*
 * Lifecycle through the public API: calls before start are harmless, start
 * and stop are idempotent, stop then start works, flush exports now, and
 * start/stop from several threads at once neither crashes nor leaks a
 * running profiler.
 */
#include <pthread.h>
#include <unistd.h>

#include "cpu_work.h"
#include "inprof.h"
#include "testutil.h"

static inprof_config cfg;

static void *racer(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++) {
    inprof_status st = inprof_start(&cfg);
    if (st != INPROF_OK && st != INPROF_ERR_BUSY) {
      fprintf(stderr, "racer start: %d %s\n", st, inprof_last_error());
      testutil_failures++;
    }
    inprof_flush(2000);
    inprof_stop(5000);
  }
  return NULL;
}

static int count_files(const char *dir) {
  char *out = testutil_capture("ls -1 %s | grep -c '\\.pprof\\.gz$'", dir);
  int n = atoi(out);
  free(out);
  return n;
}

int main(void) {
  /* Before start: everything harmless. */
  CHECK(!inprof_is_running());
  CHECK(inprof_stop(100) == INPROF_OK);
  CHECK(inprof_flush(100) == INPROF_ERR_NOT_RUNNING);
  CHECK(strstr(inprof_last_error(), "not running") != NULL);
  inprof_record_alloc((void *)0x1000, 64);
  inprof_record_free((void *)0x1000);
  inprof_statistics st = {.struct_size = sizeof st};
  CHECK(inprof_stats(&st) == INPROF_OK);
  CHECK(st.cpu_samples == 0 && st.profiles_written == 0);
  inprof_statistics bad = {.struct_size = 3};
  CHECK(inprof_stats(&bad) == INPROF_ERR_VERSION);
  CHECK(inprof_stats(NULL) == INPROF_ERR_INVALID);
  CHECK(inprof_version() == INPROF_VERSION_NUM);

  char *dir = testutil_file_config(&cfg, "life", "life");

  /* Start twice, flush, stop twice. */
  CHECK(inprof_start(&cfg) == INPROF_OK);
  CHECK(inprof_start(&cfg) == INPROF_OK);
  CHECK(inprof_is_running());
  CPU_WORK_SPIN(200000000ull);
  CHECK(inprof_flush(5000) == INPROF_OK);
  CHECK(count_files(dir) == 1);
  CHECK(inprof_stop(5000) == INPROF_OK);
  CHECK(!inprof_is_running());
  CHECK(inprof_stop(5000) == INPROF_OK);
  CHECK(count_files(dir) == 2);

  /* Stop then start again: a new sequence of files, samples still flow. */
  CHECK(inprof_stats(&st) == INPROF_OK);
  uint64_t samples_before = st.cpu_samples;
  CHECK(inprof_start(&cfg) == INPROF_OK);
  CPU_WORK_SPIN(200000000ull);
  CHECK(inprof_stop(5000) == INPROF_OK);
  CHECK(inprof_stats(&st) == INPROF_OK);
  CHECKF(st.cpu_samples > samples_before + 5, "samples %llu -> %llu",
         (unsigned long long)samples_before, (unsigned long long)st.cpu_samples);
  CHECK(count_files(dir) == 3);

  /* Concurrent start/stop/flush from several threads. */
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, racer, NULL);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  CHECK(inprof_stop(5000) == INPROF_OK);
  CHECK(!inprof_is_running());
  CHECK(inprof_stats(&st) == INPROF_OK);
  CHECK(st.threads_tracked == 0);
  CHECKF(st.profiles_failed == 0, "%llu profiles failed",
         (unsigned long long)st.profiles_failed);
  /* Profiles are valid pprof (a sample of them: each read takes a while). */
  char *out = testutil_capture(
      "for f in $(ls %s/*.pprof.gz | head -n 8); do %s tool pprof -raw \"$f\" >/dev/null 2>&1 || echo BAD $f; "
      "done",
      dir, INPROF_GO);
  CHECKF(out && !strstr(out, "BAD"), "%s", out);
  free(out);
  return testutil_done("test_lifecycle");
}
