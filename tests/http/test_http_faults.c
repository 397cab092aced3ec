/* test_http_faults.c - each server fault with a host thread running: the
 * failure is counted, submit never blocks, the host keeps going, and stop
 * returns by its deadline whatever the server does. */
#define INPROF_TEST_INTERNAL
#include "test_http_util.h"

static uint8_t *pp;
static size_t pp_len;
static uint64_t seq;

/* Submits one profile; returns how long submit took (ms). */
static uint64_t submit(void) {
  seq++;
  inprof__upload_meta m = {1795964400000000000ull + seq, 1795964401000000000ull + seq, seq};
  uint64_t t = th_now_ms();
  inprof__http_submit(pp, pp_len, &m);
  return th_now_ms() - t;
}

/* Waits until uploads_failed reaches want; returns 1 if it did. */
static int wait_failed(uint64_t want, unsigned timeout_ms) {
  uint64_t until = th_now_ms() + timeout_ms;
  while (STAT(uploads_failed) < want && th_now_ms() < until) th_sleep_ms(10);
  return STAT(uploads_failed) >= want;
}

/* One upload against a faulty server: it fails, counted, host unaffected. */
static void fault(const char *name, const char *url, unsigned upload_timeout_ms,
                  unsigned min_ms, unsigned max_ms) {
  fprintf(stderr, "--- fault: %s\n", name);
  inprof__settings s = agent_settings(url);
  s.upload_timeout_ms = upload_timeout_ms;
  s.connect_timeout_ms = upload_timeout_ms < 2000 ? upload_timeout_ms : 2000;
  uint64_t ok0 = STAT(uploads_ok), failed0 = STAT(uploads_failed);
  REQUIRE(inprof__http_start(&s) == INPROF_OK);
  uint64_t t0 = th_now_ms();
  CHECKF(submit() < 50, "%s: submit blocked", name);
  uint64_t during = host_progress_over(200);
  CHECKF(during > 0, "%s: the host made no progress", name);
  int failed = wait_failed(failed0 + 1, max_ms + 2000);
  uint64_t took = th_now_ms() - t0;
  CHECKF(failed, "%s: uploads_failed did not grow", name);
  CHECKF(took >= min_ms && took <= max_ms, "%s: failed after %llu ms, expected %u..%u", name,
         (unsigned long long)took, min_ms, max_ms);
  CHECKF(STAT(uploads_ok) == ok0, "%s: counted as ok", name);
  CHECKF(STAT(uploads_failed) == failed0 + 1, "%s: failed +%llu", name,
         (unsigned long long)(STAT(uploads_failed) - failed0));
  uint64_t t = th_now_ms();
  inprof__http_stop(deadline_in_ms(3000));
  CHECKF(th_now_ms() - t < 500, "%s: stop took %llu ms with nothing queued", name,
         (unsigned long long)(th_now_ms() - t));
}

int main(void) {
  atomic_store(&inprof__log_level, INPROF__LOG_DEBUG);
  pp = make_pprof(50, 0, &pp_len);
  pthread_t host;
  pthread_create(&host, NULL, host_main, NULL);
  char url[128];

  /* Connection refused: nobody listens there. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", refused_port());
  fault("refused", url, 3000, 0, 1000);

  const char *modes[] = {"500", "413", "reset"};
  for (int i = 0; i < 3; i++) {
    intake in;
    intake_start(&in, "--mode", modes[i], NULL);
    fault(modes[i], in.url, 3000, 0, 2500);
    char *r = intake_request(&in, 1);
    CHECKF(r != NULL, "%s: the intake saw no request", modes[i]);
    if (r && strcmp(modes[i], "reset") != 0) {
      char want[32];
      snprintf(want, sizeof want, "status=%s", modes[i]);
      /* The request itself was well-formed: only the server failed. */
      CHECK_REQ(has_line(r, want) && has_line(r, "violations=0"), r);
    }
    free(r);
    intake_stop(&in);
  }

  /* Accepts and never answers: the upload gives up at its timeout. */
  {
    intake in;
    intake_start(&in, "--mode", "hang", NULL);
    fault("hang", in.url, 1500, 1400, 2600);
    CHECK(intake_count(&in) == 1);
    intake_stop(&in);
  }

  /* A slow server during stop: stop returns by its deadline, the upload
   * is abandoned and counted as failed. */
  const char *stop_modes[] = {"slow", "hang"};
  for (int i = 0; i < 2; i++) {
    intake in;
    intake_start(&in, "--mode", stop_modes[i], "--slow-ms", "8000", NULL);
    inprof__settings s = agent_settings(in.url);
    s.upload_timeout_ms = 20000;
    uint64_t failed0 = STAT(uploads_failed), dropped0 = STAT(uploads_dropped);
    REQUIRE(inprof__http_start(&s) == INPROF_OK);
    submit();
    th_sleep_ms(300); /* the upload is now in flight */
    submit();         /* and this one waits in the queue */
    uint64_t t = th_now_ms();
    inprof__http_stop(deadline_in_ms(1000));
    uint64_t took = th_now_ms() - t;
    fprintf(stderr, "stop with a %s server took %llu ms\n", stop_modes[i],
            (unsigned long long)took);
    CHECKF(took >= 900 && took <= 1300, "%s: stop took %llu ms, deadline 1000",
           stop_modes[i], (unsigned long long)took);
    CHECK(host_progress_over(200) > 0);
    /* The abandoned upload is failed, the queued one dropped (the thread
     * may count them just after stop returned). */
    th_sleep_ms(400);
    CHECKF(STAT(uploads_failed) == failed0 + 1, "%s: failed +%llu", stop_modes[i],
           (unsigned long long)(STAT(uploads_failed) - failed0));
    CHECKF(STAT(uploads_dropped) == dropped0 + 1, "%s: dropped +%llu", stop_modes[i],
           (unsigned long long)(STAT(uploads_dropped) - dropped0));
    intake_stop(&in);
  }

  /* A deadline already past: stop returns at once. */
  {
    intake in;
    intake_start(&in, "--mode", "hang", NULL);
    inprof__settings s = agent_settings(in.url);
    REQUIRE(inprof__http_start(&s) == INPROF_OK);
    submit();
    th_sleep_ms(200);
    uint64_t t = th_now_ms();
    inprof__http_stop(inprof__now_ns(CLOCK_MONOTONIC));
    CHECKF(th_now_ms() - t < 100, "stop at a past deadline took %llu ms",
           (unsigned long long)(th_now_ms() - t));
    intake_stop(&in);
  }

  /* Stop with work queued and a healthy server: the last uploads are made. */
  {
    intake in;
    intake_start(&in, NULL);
    inprof__settings s = agent_settings(in.url);
    uint64_t ok0 = STAT(uploads_ok);
    REQUIRE(inprof__http_start(&s) == INPROF_OK);
    submit();
    submit();
    inprof__http_stop(deadline_in_ms(10000));
    CHECKF(STAT(uploads_ok) == ok0 + 2, "final uploads: ok +%llu",
           (unsigned long long)(STAT(uploads_ok) - ok0));
    CHECK(intake_count(&in) == 2);
    intake_stop(&in);
  }

  atomic_store(&host_quit, 1);
  pthread_join(host, NULL);
  free(pp);
  return testutil_done("test_http_faults");
}
