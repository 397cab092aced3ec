/* test_context_endpoints.c - inprof_count_endpoint end to end: a host counts
 * endpoint hits from several threads while the library uploads every 0.3 s
 * to the strict test intake (tests/intake/intake.py, which checks the
 * endpoint_counts shape: null or a flat {endpoint: positive count}). The
 * counts summed over all uploads equal what the host counted, periods
 * without hits have null, and each upload's counts are its own period's. */
#include "inprof.h"
#include "test_http_util.h"

#define THREADS 3
#define NAMES 3
static const char *const names[NAMES] = {"GET /a", "POST /b", "GET /q\"x"};
/* json.dumps of each name, as the intake writes it in endpoint_count lines. */
static const char *const names_json[NAMES] = {"\"GET /a\"", "\"POST /b\"", "\"GET /q\\\"x\""};
static _Atomic uint64_t counted[NAMES];
static _Atomic int quit;

static void *counter_main(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
  while (!atomic_load(&quit)) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    int i = (int)(seed % NAMES);
    uint64_t n = 1 + (seed >> 32) % 3;
    inprof_count_endpoint(names[i], n);
    atomic_fetch_add(&counted[i], n);
    th_sleep_ms(1);
  }
  return NULL;
}

int main(void) {
  intake in;
  intake_start(&in, NULL);
  setenv("DD_TRACE_AGENT_URL", in.url, 1);
  setenv("DD_SERVICE", "endpoints-svc", 1);
  setenv("DD_PROFILING_UPLOAD_PERIOD", "0.3", 1);
  setenv("INPROF_HEAP_SAMPLE_BYTES", "0", 1);
  setenv("INPROF_LOG_LEVEL", "warn", 1);
  unsetenv("INPROF_OUTPUT_DIR");

  /* Not running: not counted (no upload to add them to). */
  inprof_count_endpoint("GET /before", 5);
  REQUIRE(inprof_start(NULL) == INPROF_OK);
  /* Empty and NULL names and zero counts are ignored. */
  inprof_count_endpoint("", 3);
  inprof_count_endpoint(NULL, 3);
  inprof_count_endpoint("GET /zero", 0);
  /* A first period with no hits: its event.json has null. */
  th_sleep_ms(700);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, counter_main, (void *)(uintptr_t)(i + 1));
  th_sleep_ms(1500);
  atomic_store(&quit, 1);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  CHECK(inprof_stop(10000) == INPROF_OK);

  int n = intake_count(&in);
  CHECKF(n >= 5, "%d uploads", n);
  uint64_t got[NAMES] = {0};
  int with_counts = 0, with_null = 0;
  for (int r = 1; r <= n; r++) {
    char *req = intake_request(&in, r);
    REQUIRE(req);
    CHECKF(has_line(req, "status=202") && has_line(req, "violations=0"), "request %d:\n%s", r,
           req);
    CHECKF(!strstr(req, "GET /before") && !strstr(req, "GET /zero"), "request %d:\n%s", r, req);
    int any = 0;
    for (const char *p = req; (p = strstr(p, "endpoint_count=")) != NULL; p++) {
      char *end;
      uint64_t c = strtoull(p + 15, &end, 10);
      CHECKF(*end == ' ', "line %.60s", p);
      int known = 0;
      for (int i = 0; i < NAMES; i++) {
        size_t len = strlen(names_json[i]);
        if (!strncmp(end + 1, names_json[i], len) && (end[1 + len] == '\n' || !end[1 + len])) {
          got[i] += c;
          known = 1;
        }
      }
      CHECKF(known, "unknown endpoint in %.80s", p);
      any = 1;
    }
    with_counts += any;
    with_null += !any;
    free(req);
  }
  for (int i = 0; i < NAMES; i++) {
    printf("%s: host counted %llu, uploads carried %llu\n", names[i],
           (unsigned long long)atomic_load(&counted[i]), (unsigned long long)got[i]);
    CHECK(atomic_load(&counted[i]) > 0);
    CHECK(got[i] == atomic_load(&counted[i]));
  }
  /* Hits went to several periods, and the idle first period had null. */
  CHECKF(with_counts >= 3, "%d uploads with counts", with_counts);
  CHECKF(with_null >= 1, "%d uploads without counts", with_null);
  inprof_statistics st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  CHECK(st.endpoint_counts_dropped == 0);
  intake_stop(&in);
  return testutil_done("test_context_endpoints");
}
