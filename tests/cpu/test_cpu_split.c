/*
 * End to end: a host with two busy threads running functions with a known
 * 3:1 CPU split, profiled at 99 Hz for a few seconds through the public API.
 * The profile (read by `go tool pprof`) must show the split within 5
 * percentage points, total cpu-time within 10% of what getrusage reports,
 * and the "thread name" label of each thread.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cpu_work.h"
#include "inprof.h"
#include "testutil.h"

#define UNIT_NS 800000000ull   /* busy_one: 0.8 s of CPU, busy_three: 2.4 s */

__attribute__((noinline)) void busy_three(void) { CPU_WORK_SPIN(3 * UNIT_NS); }
__attribute__((noinline)) void busy_one(void) { CPU_WORK_SPIN(UNIT_NS); }

static void *thread_three(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "split-three");
  busy_three();
  return NULL;
}

static void *thread_one(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "split-one");
  busy_one();
  return NULL;
}

static double rusage_cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

int main(void) {
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "split", "split-test");
  cfg.heap_sample_bytes = 0;

  double cpu_before = rusage_cpu_ns();
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  pthread_t a, b;
  pthread_create(&a, NULL, thread_three, NULL);
  pthread_create(&b, NULL, thread_one, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  REQUIRE(inprof_stop(10000) == INPROF_OK);
  double cpu_after = rusage_cpu_ns();

  inprof_statistics st = {.struct_size = sizeof st};
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  printf("samples %llu dropped %llu overruns %llu files %llu\n",
         (unsigned long long)st.cpu_samples, (unsigned long long)st.cpu_samples_dropped,
         (unsigned long long)st.cpu_timer_overruns, (unsigned long long)st.profiles_written);
  CHECK(st.profiles_written == 1);
  CHECK(st.cpu_samples > 200);

  char *file = testutil_latest_profile(dir);
  REQUIRE(file);
  char expect_name[256];
  snprintf(expect_name, sizeof expect_name, "%s/split-test-%d-1.pprof.gz", dir, getpid());
  CHECKF(!strcmp(file, expect_name), "file %s, expected %s", file, expect_name);

  static testutil_row rows[4096];
  int n = testutil_pprof_top(file, "cpu-time", rows, 4096);
  REQUIRE(n > 0);
  /* cum: the burners call clock_gettime, whose time belongs to them. */
  double three = 0, one = 0;
  for (int i = 0; i < n; i++) {
    if (!strcmp(rows[i].name, "busy_three")) three = rows[i].cum;
    if (!strcmp(rows[i].name, "busy_one")) one = rows[i].cum;
  }
  double total = testutil_total(rows, n);
  double os = cpu_after - cpu_before;
  double share = three / (three + one);
  printf("busy_three %.0f ns, busy_one %.0f ns, share %.3f (want 0.750); "
         "profile total %.0f ns, getrusage %.0f ns (ratio %.3f)\n",
         three, one, share, total, os, total / os);
  CHECKF(share > 0.70 && share < 0.80, "share %.3f", share);
  CHECKF(total > 0.9 * os && total < 1.1 * os, "profile %.0f ns vs OS %.0f ns", total, os);

  /* Thread labels, as Datadog reads them. */
  char *tags = testutil_capture("%s tool pprof -tags %s 2>&1", INPROF_GO, file);
  CHECKF(strstr(tags, "thread name") && strstr(tags, "split-three") &&
             strstr(tags, "split-one"),
         "tags:\n%s", tags);
  CHECKF(strstr(tags, "thread id"), "tags:\n%s", tags);
  /* Sample types, as Datadog names them. */
  char *raw = testutil_capture("%s tool pprof -raw %s 2>&1", INPROF_GO, file);
  CHECKF(strstr(raw, "cpu-samples/count") && strstr(raw, "cpu-time/nanoseconds"),
         "raw header:\n%.400s", raw);
  CHECKF(strstr(raw, "PeriodType: cpu nanoseconds"), "raw header:\n%.400s", raw);
  free(tags);
  free(raw);
  return testutil_done("test_cpu_split");
}
