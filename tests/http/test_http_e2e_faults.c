/* test_http_e2e_faults.c - the whole library against a broken agent:
 * configuration errors name their variable; an agent that is down for many
 * short periods costs bounded memory and leaves the host running; a server
 * that never answers cannot hold inprof_stop past its timeout. */
#include "inprof.h"
#include "test_http_util.h"

static inprof_statistics stats_now(void) {
  inprof_statistics s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  inprof_stats(&s);
  return s;
}

static void expect_bad_env(const char *var, const char *value, const char *named) {
  inprof_config cfg;
  inprof_config_init(&cfg);
  setenv(var, value, 1);
  inprof_status st = inprof_config_from_env(&cfg);
  if (st == INPROF_OK) st = inprof_start(&cfg);
  CHECKF(st == INPROF_ERR_INVALID, "%s=%s: status %d", var, value, st);
  CHECKF(strstr(inprof_last_error(), named) != NULL, "%s=%s: error \"%s\"", var, value,
         inprof_last_error());
  CHECK(inprof_is_running() == 0);
  unsetenv(var);
  if (st == INPROF_OK) inprof_stop(1000);
}

int main(void) {
  unsetenv("INPROF_OUTPUT_DIR");
  setenv("INPROF_HEAP_SAMPLE_BYTES", "0", 1);
  setenv("DD_SERVICE", "e2e-faults", 1);

  /* Bad configuration fails start, naming the variable. */
  expect_bad_env("DD_TRACE_AGENT_URL", "ftp://agent:21", "DD_TRACE_AGENT_URL");
  expect_bad_env("DD_TRACE_AGENT_URL", "http//missing-colon", "DD_TRACE_AGENT_URL");
  setenv("DD_API_KEY", "", 1);
  unsetenv("DD_API_KEY");
  expect_bad_env("DD_PROFILING_AGENTLESS", "true", "DD_API_KEY");

  pthread_t host;
  pthread_create(&host, NULL, host_main, NULL);

  /* The agent is down (refused) for ~100 periods of 20 ms. */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", refused_port());
  setenv("DD_TRACE_AGENT_URL", url, 1);
  setenv("DD_PROFILING_UPLOAD_PERIOD", "0.02", 1);
  inprof_statistics s0 = stats_now();
  REQUIRE(inprof_start(NULL) == INPROF_OK);
  th_sleep_ms(300);
  long rss0 = heap_kib(), rss_max = rss0;
  uint64_t progress0 = atomic_load(&host_progress);
  for (int i = 0; i < 20; i++) {
    th_sleep_ms(100);
    long r = heap_kib();
    if (r > rss_max) rss_max = r;
  }
  uint64_t progress = atomic_load(&host_progress) - progress0;
  uint64_t t = th_now_ms();
  CHECK(inprof_stop(3000) == INPROF_OK);
  CHECKF(th_now_ms() - t < 1000, "stop took %llu ms", (unsigned long long)(th_now_ms() - t));
  inprof_statistics s1 = stats_now();
  uint64_t failed = s1.uploads_failed - s0.uploads_failed;
  fprintf(stderr, "agent down: %llu uploads failed, %llu dropped, heap %ld -> max %ld KiB\n",
          (unsigned long long)failed,
          (unsigned long long)(s1.uploads_dropped - s0.uploads_dropped), rss0, rss_max);
  CHECKF(failed >= 50, "only %llu failed uploads counted", (unsigned long long)failed);
  CHECK(s1.uploads_ok == s0.uploads_ok);
  CHECKF(rss_max - rss0 < 8 * 1024, "live heap grew by %ld KiB", rss_max - rss0);
  CHECK(progress > 0);

  /* An agent that accepts and never answers, during stop. */
  intake in;
  intake_start(&in, "--mode", "hang", "--no-pprof-check", NULL);
  setenv("DD_TRACE_AGENT_URL", in.url, 1);
  setenv("DD_PROFILING_UPLOAD_PERIOD", "0.2", 1);
  setenv("INPROF_UPLOAD_TIMEOUT_MS", "30000", 1);
  s0 = stats_now();
  REQUIRE(inprof_start(NULL) == INPROF_OK);
  th_sleep_ms(700);
  t = th_now_ms();
  inprof_status st = inprof_stop(1000);
  uint64_t took = th_now_ms() - t;
  fprintf(stderr, "stop with a hanging agent: %llu ms, status %d\n", (unsigned long long)took,
          st);
  CHECKF(took <= 1300, "inprof_stop(1000) took %llu ms", (unsigned long long)took);
  CHECK(host_progress_over(200) > 0);
  th_sleep_ms(300);
  s1 = stats_now();
  CHECK(intake_count(&in) >= 1);
  CHECK(s1.uploads_ok == s0.uploads_ok);
  CHECKF(s1.uploads_failed - s0.uploads_failed >= 1, "failed +%llu",
         (unsigned long long)(s1.uploads_failed - s0.uploads_failed));
  intake_stop(&in);

  atomic_store(&host_quit, 1);
  pthread_join(host, NULL);
  return testutil_done("test_http_e2e_faults");
}
