/* test_http_bounded.c - the agent is down (hangs, then refuses) while many
 * big profiles keep coming: the queue stays bounded (oldest dropped and
 * counted), memory stays flat, submit never blocks, every profile is
 * accounted for as uploaded, failed or dropped.
 *
 * Properties only, no timings: "never blocks" is a watchdog far above any
 * plausible delay (a submit that waits for the network would wait for the
 * hanging agent, i.e. forever), so a slow, loaded machine cannot fail it. */
#define INPROF_TEST_INTERNAL
#include <signal.h>
#include <unistd.h>

#include "test_http_util.h"

#define N 150
/* Profiles waiting in export/http_queue.c's queue (QUEUE_CAP) plus the one
 * the upload thread holds. */
#define OUTSTANDING_MAX (4 + 1)
/* Seconds a submit or a stop may take before the test calls it a hang. */
#define WATCHDOG_S 60

static const char *volatile watched = "nothing";

static void on_watchdog(int sig) {
  (void)sig;
  static const char msg[] = "test_http_bounded: blocked for " INPROF__STR(WATCHDOG_S)
      " s in: ";
  ssize_t r = write(2, msg, sizeof msg - 1);
  r = write(2, watched, strlen(watched));
  r = write(2, "\n", 1);
  (void)r;
  _exit(1);
}

static void watch(const char *what) {
  watched = what;
  alarm(WATCHDOG_S);
}

static void unwatch(void) { alarm(0); }

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
  uint64_t outstanding_max = 0;
  for (int i = 0; i < N; i++) {
    inprof__upload_meta m = {(uint64_t)i, (uint64_t)i + 1, (uint64_t)i + 1};
    watch("inprof__http_submit");
    inprof__http_submit(pp, len, &m);
    unwatch();
    /* Bounded queue: whatever the uploader's pace, at most OUTSTANDING_MAX
     * submitted profiles are neither uploaded, failed nor dropped. */
    uint64_t accounted = (STAT(uploads_ok) - ok0) + (STAT(uploads_failed) - failed0) +
                         (STAT(uploads_dropped) - dropped0);
    uint64_t outstanding = (uint64_t)(i + 1) - accounted;
    if (outstanding > outstanding_max) outstanding_max = outstanding;
    th_sleep_ms(10); /* a 10 ms upload period */
    long r = heap_kib();
    if (r > rss_max) rss_max = r;
  }
  watch("inprof__http_stop");
  inprof__http_stop(deadline_in_ms(2000));
  unwatch();
  th_sleep_ms(100);
  uint64_t ok = STAT(uploads_ok) - ok0, failed = STAT(uploads_failed) - failed0,
           dropped = STAT(uploads_dropped) - dropped0;
  fprintf(stderr, "%s: %d profiles of %zu bytes: ok %llu failed %llu dropped %llu, "
          "at most %llu outstanding, heap %ld -> max %ld KiB\n",
          name, N, len, (unsigned long long)ok, (unsigned long long)failed,
          (unsigned long long)dropped, (unsigned long long)outstanding_max, rss0, rss_max);
  CHECK(ok == 0);
  CHECKF(ok + failed + dropped == N, "%s: %llu of %d profiles accounted for", name,
         (unsigned long long)(ok + failed + dropped), N);
  CHECKF(outstanding_max <= OUTSTANDING_MAX, "%s: %llu profiles queued or in flight", name,
         (unsigned long long)outstanding_max);
  /* Queue: at most 4 copies (8 MiB) plus one in flight and its zstd output. */
  CHECKF(rss_max - rss0 < 24 * 1024, "%s: live heap grew by %ld KiB", name, rss_max - rss0);
  free(pp);
}

int main(void) {
  atomic_store(&inprof__log_level, INPROF__LOG_WARN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_watchdog;
  sigaction(SIGALRM, &sa, NULL);
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
    watch("inprof__http_submit (refused)");
    inprof__http_submit(pp, len, &m);
    unwatch();
    th_sleep_ms(2);
  }
  watch("inprof__http_stop (refused)");
  inprof__http_stop(deadline_in_ms(3000));
  unwatch();
  th_sleep_ms(100);
  CHECKF(STAT(uploads_failed) - failed0 + STAT(uploads_dropped) - dropped0 == 200,
         "refused: failed %llu + dropped %llu != 200",
         (unsigned long long)(STAT(uploads_failed) - failed0),
         (unsigned long long)(STAT(uploads_dropped) - dropped0));
  free(pp);
  return testutil_done("test_http_bounded");
}
