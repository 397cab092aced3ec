/* test_http_e2e_agent.c - the whole library, configured from the
 * environment as a user would, profiling busy host threads and uploading
 * every 0.3 s to the contract-checking intake: every period arrives, valid,
 * with the user's tags, consecutive profile_seq and adjacent periods. */
#include "inprof.h"
#include "test_http_util.h"

#define MAXREQ 64

int main(void) {
  intake in;
  intake_start(&in, "--require-tag", "service:e2e-svc", "--require-tag", "env:staging",
               "--require-tag", "version:9.9", "--require-tag", "team:native", NULL);
  setenv("DD_TRACE_AGENT_URL", in.url, 1);
  setenv("DD_SERVICE", "e2e-svc", 1);
  setenv("DD_ENV", "staging", 1);
  setenv("DD_VERSION", "9.9", 1);
  setenv("DD_TAGS", "team:native,region:eu-1", 1);
  setenv("DD_PROFILING_UPLOAD_PERIOD", "0.3", 1);
  setenv("INPROF_HEAP_SAMPLE_BYTES", "0", 1);
  setenv("INPROF_LOG_LEVEL", "warn", 1);
  unsetenv("INPROF_OUTPUT_DIR");

  pthread_t host[2];
  for (int i = 0; i < 2; i++) pthread_create(&host[i], NULL, host_main, NULL);
  inprof_status st = inprof_start(NULL);
  REQUIRE(st == INPROF_OK);
  th_sleep_ms(2000);
  uint64_t t = th_now_ms();
  CHECK(inprof_stop(10000) == INPROF_OK);
  CHECKF(th_now_ms() - t < 3000, "stop took %llu ms", (unsigned long long)(th_now_ms() - t));
  atomic_store(&host_quit, 1);
  for (int i = 0; i < 2; i++) pthread_join(host[i], NULL);

  inprof_statistics stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  REQUIRE(inprof_stats(&stats) == INPROF_OK);
  int n = intake_count(&in);
  fprintf(stderr, "uploads: ok %llu failed %llu dropped %llu, intake saw %d\n",
          (unsigned long long)stats.uploads_ok, (unsigned long long)stats.uploads_failed,
          (unsigned long long)stats.uploads_dropped, n);
  CHECKF(n >= 5 && n <= 9, "%d uploads in 2 s at 0.3 s", n);
  CHECK(stats.uploads_ok == (uint64_t)n);
  CHECK(stats.uploads_failed == 0 && stats.uploads_dropped == 0);
  if (n > MAXREQ) n = MAXREQ;

  unsigned long long start[MAXREQ], end[MAXREQ], seq[MAXREQ];
  long samples_total = 0;
  for (int i = 1; i <= n; i++) {
    char *r = intake_request(&in, i);
    REQUIRE(r);
    CHECK_REQ(has_line(r, "status=202") && has_line(r, "violations=0"), r);
    CHECK_REQ(has_line(r, "tag=region:eu-1") && has_line(r, "tag=language:native"), r);
    start[i - 1] = strtoull(line_value(r, "start_ns"), NULL, 10);
    end[i - 1] = strtoull(line_value(r, "end_ns"), NULL, 10);
    const char *sq = strstr(r, "tag=profile_seq:");
    seq[i - 1] = sq ? strtoull(sq + 16, NULL, 10) : 0;
    const char *sm = strstr(r, " samples=");
    if (sm) samples_total += strtol(sm + 9, NULL, 10);
    CHECK_REQ(strstr(r, "types=cpu-samples/count cpu-time/nanoseconds") != NULL, r);
    free(r);
  }
  for (int i = 0; i < n; i++) {
    unsigned long long dur_ms = (end[i] - start[i]) / 1000000ull;
    CHECKF(end[i] > start[i], "period %d: end before start", i);
    /* The final period is cut short by stop. */
    if (i < n - 1)
      CHECKF(dur_ms >= 250 && dur_ms <= 700, "period %d lasted %llu ms (0.3 s wanted)", i,
             dur_ms);
    if (i > 0) {
      CHECKF(seq[i] == seq[i - 1] + 1, "profile_seq %llu after %llu", seq[i], seq[i - 1]);
      CHECKF(start[i] >= end[i - 1] && start[i] - end[i - 1] < 50000000ull,
             "period %d starts %lld ns after the previous end", i,
             (long long)(start[i] - end[i - 1]));
    }
  }
  CHECKF(samples_total > 0, "no CPU samples in any uploaded profile");
  intake_stop(&in);
  return testutil_done("test_http_e2e_agent");
}
