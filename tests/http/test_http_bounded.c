/* test_http_bounded.c - the agent is down (hangs, then refuses) while many
 * big profiles keep coming: the queue stays bounded (oldest dropped and
 * counted), memory stays flat, submit never blocks, every profile is
 * accounted for as uploaded, failed or dropped. */
#define INPROF_TEST_INTERNAL
#include "test_http_util.h"

#define N 150

static void flood(const char *name, const char *url) {
  size_t len;
  uint8_t *pp = make_pprof(100, 2u << 20, &len); /* ~2 MiB each */
  inprof__settings s = agent_settings(url);
  s.upload_timeout_ms = 300;
  s.connect_timeout_ms = 300;
  uint64_t ok0 = STAT(uploads_ok), failed0 = STAT(uploads_failed),
           dropped0 = STAT(uploads_dropped);
  REQUIRE(inprof__http_start(&s) == INPROF_OK);
  long rss0 = heap_kib(), rss_max = rss0;
  uint64_t worst_submit = 0;
  for (int i = 0; i < N; i++) {
    inprof__upload_meta m = {(uint64_t)i, (uint64_t)i + 1, (uint64_t)i + 1};
    uint64_t t = th_now_ms();
    inprof__http_submit(pp, len, &m);
    if (th_now_ms() - t > worst_submit) worst_submit = th_now_ms() - t;
    th_sleep_ms(10); /* a 10 ms upload period */
    long r = heap_kib();
    if (r > rss_max) rss_max = r;
  }
  inprof__http_stop(deadline_in_ms(2000));
  th_sleep_ms(100);
  uint64_t ok = STAT(uploads_ok) - ok0, failed = STAT(uploads_failed) - failed0,
           dropped = STAT(uploads_dropped) - dropped0;
  fprintf(stderr, "%s: %d profiles of %zu bytes: ok %llu failed %llu dropped %llu, "
          "heap %ld -> max %ld KiB, slowest submit %llu ms\n",
          name, N, len, (unsigned long long)ok, (unsigned long long)failed,
          (unsigned long long)dropped, rss0, rss_max, (unsigned long long)worst_submit);
  CHECK(ok == 0);
  CHECKF(ok + failed + dropped == N, "%s: %llu of %d profiles accounted for", name,
         (unsigned long long)(ok + failed + dropped), N);
  CHECKF(dropped >= N / 2, "%s: only %llu dropped", name, (unsigned long long)dropped);
  /* Queue: at most 4 copies (8 MiB) plus one in flight and its zstd output. */
  CHECKF(rss_max - rss0 < 24 * 1024, "%s: live heap grew by %ld KiB", name, rss_max - rss0);
  CHECKF(worst_submit < 100, "%s: a submit took %llu ms", name,
         (unsigned long long)worst_submit);
  free(pp);
}

int main(void) {
  atomic_store(&inprof__log_level, INPROF__LOG_WARN);
  intake in;
  intake_start(&in, "--mode", "hang", "--no-pprof-check", NULL);
  flood("hanging agent", in.url);
  intake_stop(&in);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", refused_port());
  /* Refused uploads fail at once: few drops, but still all accounted for. */
  size_t len;
  uint8_t *pp = make_pprof(10, 0, &len);
  inprof__settings s = agent_settings(url);
  uint64_t failed0 = STAT(uploads_failed), dropped0 = STAT(uploads_dropped);
  REQUIRE(inprof__http_start(&s) == INPROF_OK);
  for (int i = 0; i < 200; i++) {
    inprof__upload_meta m = {(uint64_t)i, (uint64_t)i + 1, (uint64_t)i + 1};
    inprof__http_submit(pp, len, &m);
    th_sleep_ms(2);
  }
  inprof__http_stop(deadline_in_ms(3000));
  th_sleep_ms(100);
  CHECKF(STAT(uploads_failed) - failed0 + STAT(uploads_dropped) - dropped0 == 200,
         "refused: failed %llu + dropped %llu != 200",
         (unsigned long long)(STAT(uploads_failed) - failed0),
         (unsigned long long)(STAT(uploads_dropped) - dropped0));
  free(pp);
  return testutil_done("test_http_bounded");
}
