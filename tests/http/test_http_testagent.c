/* test_http_testagent.c - uploads to Datadog's own APM test agent
 * (ddapm-test-agent, PyPI, pinned by tests/intake/setup_test_agent.sh) on
 * loopback: every upload is accepted and the requests it recorded decode to
 * our event and profile (checked by tests/http_testagent_check.py). */
#define INPROF_TEST_INTERNAL
#include "test_http_util.h"
#include "sample/context.h"

#ifndef INPROF_DDAPM_TEST_AGENT
#define INPROF_DDAPM_TEST_AGENT "/opt/inprof-ddapm/bin/ddapm-test-agent"
#endif

int main(void) {
  if (access(INPROF_DDAPM_TEST_AGENT, X_OK) != 0) {
    fprintf(stderr, "%s not found: run tests/intake/setup_test_agent.sh\n",
            INPROF_DDAPM_TEST_AGENT);
    return 1;
  }
  atomic_store(&inprof__log_level, INPROF__LOG_DEBUG);
  char *dir = testutil_tmpdir("ddapm");
  REQUIRE(dir);
  char port[16], otlp_http[16], otlp_grpc[16], snap[400], logpath[400];
  snprintf(port, sizeof port, "%d", refused_port());
  snprintf(otlp_http, sizeof otlp_http, "%d", refused_port());
  snprintf(otlp_grpc, sizeof otlp_grpc, "%d", refused_port());
  snprintf(snap, sizeof snap, "%s/snapshots", dir);
  snprintf(logpath, sizeof logpath, "%s/agent.log", dir);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(INPROF_DDAPM_TEST_AGENT, "ddapm-test-agent", "--host", "127.0.0.1", "--port", port,
          "--otlp-http-port", otlp_http, "--otlp-grpc-port", otlp_grpc, "--snapshot-dir",
          snap, (char *)NULL);
    _exit(127);
  }
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%s", port);
  char *out = testutil_capture("python3 %s/tests/http/http_testagent_check.py wait %s 2>&1",
                               INPROF_SOURCE_DIR, url);
  int up = out && strstr(out, "test agent up") != NULL;
  free(out);
  if (!up) {
    char *log = testutil_capture("cat %s", logpath);
    fprintf(stderr, "ddapm-test-agent did not start:\n%s\n", log ? log : "");
    kill(pid, SIGKILL);
    return 1;
  }

  inprof__settings s = agent_settings(url);
  uint64_t ok0 = STAT(uploads_ok), failed0 = STAT(uploads_failed);
  REQUIRE(inprof__http_start(&s) == INPROF_OK);
  for (int i = 1; i <= 3; i++) {
    /* Upload i carries endpoint_counts {"GET /ta": i} (the check below). */
    inprof__endpoint_count("GET /ta", (uint64_t)i);
    inprof__dd_endpoint_counts_seal((uint64_t)i);
    size_t len;
    uint8_t *pp = make_pprof(20, 0, &len);
    inprof__upload_meta m = {1795964400000000000ull + (uint64_t)i * 1000000000u,
                             1795964401000000000ull + (uint64_t)i * 1000000000u, (uint64_t)i};
    inprof__http_submit(pp, len, &m);
    free(pp);
    th_sleep_ms(100);
  }
  inprof__http_stop(deadline_in_ms(10000));
  CHECKF(STAT(uploads_ok) - ok0 == 3, "test agent accepted %llu of 3",
         (unsigned long long)(STAT(uploads_ok) - ok0));
  CHECK(STAT(uploads_failed) == failed0);

  out = testutil_capture(
      "INPROF_GO=%s INPROF_UNZSTD=%s INPROF_EXPECT_ENDPOINT='GET /ta' "
      "python3 %s/tests/http/http_testagent_check.py check %s 3 "
      "service:http-test-svc env:test-env version:1.2.3 team:profiling 2>&1",
      INPROF_PPROF, INPROF_UNZSTD, INPROF_SOURCE_DIR, url);
  fprintf(stderr, "%s", out ? out : "");
  CHECK(out && strstr(out, "\nOK\n") != NULL);
  free(out);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  free(dir);
  return testutil_done("test_http_testagent");
}
