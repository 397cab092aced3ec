/* test_http_tls.c - agentless upload over HTTPS to a loopback intake whose
 * certificate comes from a test CA made here with openssl: accepted with
 * that CA (DD-API-KEY sent and right), rejected with another CA; the API
 * key never reaches stderr or the last error. */
#define INPROF_TEST_INTERNAL
#include "test_http_util.h"

#define API_KEY "a1b2c3d4e5f60718293a4b5c6d7e8f90"

static inprof__settings agentless(const char *url, const char *ca) {
  inprof__settings s = agent_settings(NULL);
  s.agentless = 1;
  s.api_key = (char *)API_KEY;
  s.intake_url = (char *)url;
  s.ca_bundle = (char *)ca;
  return s;
}

static void upload_one(inprof__settings *s, uint64_t seq) {
  REQUIRE(inprof__http_start(s) == INPROF_OK);
  size_t len;
  uint8_t *pp = make_pprof(5, 0, &len);
  inprof__upload_meta m = {1795964400000000000ull, 1795964460000000000ull, seq};
  inprof__http_submit(pp, len, &m);
  free(pp);
  inprof__http_stop(deadline_in_ms(10000));
}

int main(void) {
  char *dir = testutil_tmpdir("tls");
  REQUIRE(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "sh %s/tests/intake/make_certs.sh %s", INPROF_SOURCE_DIR, dir);
  REQUIRE(system(cmd) == 0);
  char cert[400], key[400], ca[400], wrong[400], errlog[400];
  snprintf(cert, sizeof cert, "%s/server.pem", dir);
  snprintf(key, sizeof key, "%s/server.key", dir);
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(wrong, sizeof wrong, "%s/wrong-ca.pem", dir);
  snprintf(errlog, sizeof errlog, "%s/stderr.log", dir);

  intake in;
  intake_start(&in, "--tls-cert", cert, "--tls-key", key, "--path", "/api/v2/profile",
               "--api-key", API_KEY, NULL);
  char url[128];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", in.port);

  /* Everything the uploader logs goes to a file we search for the key. */
  atomic_store(&inprof__log_level, INPROF__LOG_DEBUG);
  fflush(stderr);
  int saved = dup(2);
  int logfd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(saved >= 0 && logfd >= 0 && dup2(logfd, 2) == 2);

  uint64_t ok0 = STAT(uploads_ok), failed0 = STAT(uploads_failed);
  inprof__settings s = agentless(url, ca);
  upload_one(&s, 1);
  int ok_delta = (int)(STAT(uploads_ok) - ok0);

  /* Wrong CA: the TLS handshake fails, nothing is delivered. */
  s = agentless(url, wrong);
  upload_one(&s, 2);
  int failed_delta = (int)(STAT(uploads_failed) - failed0);

  /* No CA bundle: the system store does not know the test CA either. */
  s = agentless(url, NULL);
  upload_one(&s, 3);
  int failed_delta2 = (int)(STAT(uploads_failed) - failed0);

  /* Plain HTTP to the TLS port fails too (no silent downgrade). */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", in.port);
  s = agentless(url, ca);
  upload_one(&s, 4);
  int failed_delta3 = (int)(STAT(uploads_failed) - failed0);

  /* A bad agentless configuration: the error must not show the key. */
  s = agentless("ftp://127.0.0.1/", ca);
  CHECK(inprof__http_start(&s) == INPROF_ERR_INVALID);
  CHECK(strstr(inprof_last_error(), "INPROF_INTAKE_URL") != NULL);
  CHECK(strstr(inprof_last_error(), API_KEY) == NULL);

  fflush(stderr);
  dup2(saved, 2);
  close(logfd);

  CHECKF(ok_delta == 1, "uploads_ok +%d", ok_delta);
  CHECKF(failed_delta == 1, "wrong CA: uploads_failed +%d", failed_delta);
  CHECKF(failed_delta2 == 2, "no CA: uploads_failed +%d", failed_delta2);
  CHECKF(failed_delta3 == 3, "http to https: uploads_failed +%d", failed_delta3);
  CHECK(intake_wait(&in, 1, 5000) >= 1);
  th_sleep_ms(300);
  CHECKF(intake_count(&in) == 1, "%d requests reached the intake", intake_count(&in));
  char *r = intake_request(&in, 1);
  REQUIRE(r);
  CHECK_REQ(has_line(r, "status=202") && has_line(r, "violations=0"), r);
  CHECK_REQ(has_line(r, "api_key=match"), r);
  CHECK_REQ(has_line(r, "path=/api/v2/profile"), r);
  CHECK_REQ(has_line(r, "tag=profile_seq:1"), r);
  free(r);

  char *log = testutil_capture("cat %s", errlog);
  REQUIRE(log);
  fprintf(stderr, "--- uploader log ---\n%s--------------------\n", log);
  CHECK(strstr(log, "certificate") != NULL || strstr(log, "SSL") != NULL);
  CHECK(strstr(log, API_KEY) == NULL);
  free(log);
  /* Nor in anything the intake wrote (it redacts the header value). */
  char *grep = testutil_capture("grep -rl %s %s || true", API_KEY, in.dir);
  CHECKF(grep && !*grep, "API key found in %s", grep ? grep : "?");
  free(grep);
  intake_stop(&in);
  free(dir);
  return testutil_done("test_http_tls");
}
