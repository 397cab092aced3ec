/*
 * test_wall_context.c - wall samples of a blocked thread carry that
 * thread's context (span ids, custom labels), read from outside while it
 * sleeps; another thread's values never show on its samples. Two threads
 * each set their own span ids and "who" label, then sleep 1.5 s in a
 * function of their own; wall sampling only (no CPU samples to borrow a
 * context from), 100 Hz.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "wall_util.h"

#define SLEEP_MS 1500

__attribute__((noinline)) void wall_ctx_sleep_a(void) { nap_ms(SLEEP_MS); }
__attribute__((noinline)) void wall_ctx_sleep_b(void) { nap_ms(SLEEP_MS); }

static void *sleeper(void *arg) {
  int k = (int)(intptr_t)arg;
  inprof_set_span(500 + (uint64_t)k, 600 + (uint64_t)k);
  REQUIRE(inprof_set_label("who", k ? "b" : "a") == INPROF_OK);
  if (k) wall_ctx_sleep_b();
  else wall_ctx_sleep_a();
  inprof_clear_labels();
  inprof_set_span(0, 0);
  return NULL;
}

/* wall-time (ns) of function fn among samples tagged who=value. */
static double wall_of(const char *file, const char *value, const char *fn) {
  char focus[64];
  snprintf(focus, sizeof focus, "who=^%s$", value);
  testutil_row rows[512];
  int n = wall_top(file, focus, rows, 512, NULL);
  return n > 0 ? testutil_cum_of(rows, n, fn) : 0;
}

int main(void) {
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "wall-ctx", "wall-ctx");
  cfg.cpu_hz = 0;
  cfg.heap_sample_bytes = 0;
  cfg.wall_hz = 100;
  cfg.upload_period_ms = 600000;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  pthread_t t[2];
  for (int k = 0; k < 2; k++) REQUIRE(pthread_create(&t[k], NULL, sleeper, (void *)(intptr_t)k) == 0);
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  REQUIRE(inprof_stop(10000) == INPROF_OK);
  char *file = testutil_latest_profile(dir);
  REQUIRE(file);

  double a = wall_of(file, "a", "wall_ctx_sleep_a"), b = wall_of(file, "b", "wall_ctx_sleep_b");
  double a_as_b = wall_of(file, "b", "wall_ctx_sleep_a"), b_as_a = wall_of(file, "a", "wall_ctx_sleep_b");
  printf("who=a: %.0f ms in sleep_a, %.0f ms in sleep_b; who=b: %.0f ms in sleep_b, %.0f ms in sleep_a\n",
         a / 1e6, b_as_a / 1e6, b / 1e6, a_as_b / 1e6);
  /* Most of each sleep carries its own label (the first visit of a thread
   * may come before its first setter call); none carries the other's. */
  CHECKF(a > 0.7 * SLEEP_MS * 1e6, "who=a on sleep_a: %.0f ms", a / 1e6);
  CHECKF(b > 0.7 * SLEEP_MS * 1e6, "who=b on sleep_b: %.0f ms", b / 1e6);
  CHECK(a_as_b == 0 && b_as_a == 0);
  /* Span ids too: the numeric label of each thread's root, as pprof shows it. */
  char *tags = testutil_capture("%s tool pprof -tags -sample_index=wall-time %s 2>&1", INPROF_GO, file);
  CHECKF(tags && strstr(tags, "local root span id") && strstr(tags, "500") && strstr(tags, "501"),
         "pprof -tags:\n%s", tags ? tags : "(null)");
  free(tags);
  free(file);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  free(dir);
  return testutil_done("test_wall_context");
}
