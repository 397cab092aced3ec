/* test_http_agent.c - uploads to an agent over TCP and over a unix socket,
 * checked by the contract-checking intake: parts, event.json, tags,
 * periods, profile_seq, headers, the pprof itself. */
#define INPROF_TEST_INTERNAL
#include "test_http_util.h"

/* Uploads n profiles to url and checks what the intake recorded. */
static void run(intake *in, const char *url, int n) {
  inprof__settings s = agent_settings(url);
  uint64_t ok0 = STAT(uploads_ok), failed0 = STAT(uploads_failed);
  REQUIRE(inprof__http_start(&s) == INPROF_OK);
  uint64_t t0 = 1795964400000000000ull;
  for (int i = 1; i <= n; i++) {
    size_t len;
    uint8_t *pp = make_pprof(10 + (unsigned)i, 0, &len);
    inprof__upload_meta m = {t0 + (uint64_t)(i - 1) * 1000000123ull,
                             t0 + (uint64_t)i * 1000000123ull, (uint64_t)i};
    inprof__http_submit(pp, len, &m);
    free(pp); /* submit copied it */
    /* Upload one by one so that request order is submission order. */
    CHECK(intake_wait(in, i, 20000) == i);
  }
  uint64_t t = th_now_ms();
  inprof__http_stop(deadline_in_ms(5000));
  CHECK(th_now_ms() - t < 1000); /* nothing was left to send */
  CHECKF(STAT(uploads_ok) - ok0 == (uint64_t)n, "ok %llu",
         (unsigned long long)(STAT(uploads_ok) - ok0));
  CHECK(STAT(uploads_failed) == failed0);

  char runtime_id[512] = "";
  for (int i = 1; i <= n; i++) {
    char *r = intake_request(in, i);
    REQUIRE(r);
    CHECK_REQ(has_line(r, "status=202") && has_line(r, "violations=0"), r);
    CHECK_REQ(has_line(r, "path=/profiling/v1/input"), r);
    CHECK_REQ(has_line(r, "api_key=absent"), r);
    CHECK_REQ(has_line(r, "family=native") && has_line(r, "version=4"), r);
    CHECK_REQ(has_line(r, "dd-evp-origin=inprof"), r);
    CHECK_REQ(has_line(r, "user-agent=inprof/0.1.0"), r);
    CHECK_REQ(has_line(r, "tag=service:http-test-svc"), r);
    CHECK_REQ(has_line(r, "tag=env:test-env"), r);
    CHECK_REQ(has_line(r, "tag=version:1.2.3"), r);
    CHECK_REQ(has_line(r, "tag=team:profiling") && has_line(r, "tag=owner:inprof"), r);
    CHECK_REQ(has_line(r, "tag=language:native"), r);
    CHECK_REQ(has_line(r, "tag=profiler_version:0.1.0"), r);
    char want[512];
    snprintf(want, sizeof want, "tag=profile_seq:%d", i);
    CHECK_REQ(has_line(r, want), r);
    char host[256];
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "tag=host:%s", host);
    CHECK_REQ(has_line(r, want), r);
    snprintf(want, sizeof want, "tag=runtime-id:%s", inprof__http_runtime_id());
    CHECK_REQ(has_line(r, want), r);
    if (i == 1) snprintf(runtime_id, sizeof runtime_id, "%s", want);
    CHECK_REQ(has_line(r, runtime_id), r);
    /* The period as submitted, to the nanosecond. */
    snprintf(want, sizeof want, "start_ns=%llu",
             (unsigned long long)(t0 + (uint64_t)(i - 1) * 1000000123ull));
    CHECK_REQ(has_line(r, want), r);
    snprintf(want, sizeof want, "end_ns=%llu",
             (unsigned long long)(t0 + (uint64_t)i * 1000000123ull));
    CHECK_REQ(has_line(r, want), r);
    /* The profile went through zstd and go tool pprof with its samples. */
    snprintf(want, sizeof want,
             "pprof=profile.pprof compression=zstd samples=%d types=cpu-samples/count "
             "cpu-time/nanoseconds",
             10 + i);
    CHECK_REQ(has_line(r, want) || strstr(r, want), r);
    free(r);
  }
}

int main(void) {
  atomic_store(&inprof__log_level, INPROF__LOG_DEBUG);
  intake tcp;
  intake_start(&tcp, NULL);
  run(&tcp, tcp.url, 3);
  intake_stop(&tcp);

  char *dir = testutil_tmpdir("sock");
  char sock[300];
  snprintf(sock, sizeof sock, "%s/agent.sock", dir);
  intake ux;
  intake_start(&ux, "--unix", sock, NULL);
  CHECK(!strncmp(ux.url, "unix:///", 8));
  run(&ux, ux.url, 2);
  intake_stop(&ux);
  free(dir);
  return testutil_done("test_http_agent");
}
