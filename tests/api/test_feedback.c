/*
 * What a user sees on stderr. Warnings are on by default and rate-limited
 * per kind: a failure repeated every period prints once a minute with its
 * repeat count, and does not hide a different failure. A service whose
 * agent is missing says so by default (a failed upload), once. At info the
 * profiler says where profiles go and names each file it writes.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/diag.h"
#include "testutil.h"

static int saved_stderr = -1;
static char capture_path[] = "/tmp/inprof-feedback-XXXXXX";

static void capture_begin(void) {
  fflush(stderr);
  int fd = mkstemp(capture_path);
  REQUIRE(fd >= 0);
  saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
}

/* Restores stderr and returns what was written (caller frees). */
static char *capture_end(void) {
  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  FILE *f = fopen(capture_path, "r");
  REQUIRE(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  unlink(capture_path);
  memcpy(capture_path + strlen(capture_path) - 6, "XXXXXX", 6);
  return strdup(buf);
}

/* Starts from the environment, flushes `flushes` times, stops, and returns
 * what stderr got meanwhile (caller frees); *st: the start's status. */
static char *run_captured(int flushes, inprof_status *st) {
  capture_begin();
  *st = inprof_start(NULL);
  if (*st == INPROF_OK) {
    for (int i = 0; i < flushes; i++) inprof_flush(10000);
    inprof_stop(10000);
  }
  return capture_end();
}

static int count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void log_kind_a(int i) { inprof__log(INPROF__LOG_WARN, "kind A happened (%d)", i); }
static void log_kind_b(void) { inprof__log(INPROF__LOG_ERROR, "kind B happened"); }

static void rate_limit_per_kind(void) {
  atomic_store(&inprof__log_level, INPROF__LOG_WARN);
  capture_begin();
  for (int i = 0; i < 100; i++) log_kind_a(i);
  log_kind_b();
  log_kind_b();
  inprof__log(INPROF__LOG_INFO, "an info line");
  inprof__log_window_s = 0; /* the minute has passed */
  log_kind_a(100);
  inprof__log_window_s = 60;
  char *out = capture_end();
  CHECKF(count(out, "kind A happened") == 2, "%s", out);
  CHECKF(count(out, "inprof: warn: kind A happened (0)") == 1, "%s", out);
  CHECKF(count(out, "kind A happened (100) (99 more like this") == 1, "%s", out);
  CHECKF(count(out, "inprof: error: kind B happened") == 1, "%s", out);
  CHECKF(count(out, "an info line") == 0, "%s", out);
  free(out);
}

/* No agent listens on port 1: the default level must say uploads fail,
 * once, however many periods fail. */
static void default_warns_once_about_missing_agent(void) {
  unsetenv("INPROF_LOG_LEVEL");
  unsetenv("INPROF_OUTPUT_DIR");
  setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:1", 1);
  setenv("INPROF_UPLOAD", "true", 1);
  setenv("INPROF_CONNECT_TIMEOUT_MS", "500", 1);
  inprof_status st;
  char *out = run_captured(3, &st);
  REQUIRE(st == INPROF_OK);
  inprof_statistics stats = {.struct_size = sizeof stats};
  inprof_stats(&stats);
  CHECKF(stats.uploads_failed >= 3, "uploads_failed %llu", (unsigned long long)stats.uploads_failed);
  CHECKF(count(out, "inprof: warn: upload of profile") == 1, "stderr:\n%s", out);
  CHECKF(count(out, "127.0.0.1:1") >= 1, "stderr:\n%s", out);
  free(out);
  unsetenv("DD_TRACE_AGENT_URL");
  unsetenv("INPROF_UPLOAD");
  unsetenv("INPROF_CONNECT_TIMEOUT_MS");
}

static void info_says_where_profiles_go(void) {
  char dir[] = "/tmp/inprof-feedback-dir-XXXXXX";
  REQUIRE(mkdtemp(dir));
  setenv("INPROF_LOG_LEVEL", "info", 1);
  setenv("INPROF_OUTPUT_DIR", dir, 1);
  setenv("INPROF_UPLOAD", "false", 1);
  setenv("DD_SERVICE", "feedback-test", 1);
  inprof_status st;
  char *out = run_captured(1, &st);
  REQUIRE(st == INPROF_OK);
  char want[128];
  snprintf(want, sizeof want, "files in %s", dir);
  CHECKF(count(out, want) == 1, "stderr:\n%s", out);
  snprintf(want, sizeof want, "inprof: info: wrote %s/feedback-test-", dir);
  CHECKF(count(out, want) == 2, "flush and stop each write a file; stderr:\n%s", out);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  free(out);
  unsetenv("INPROF_LOG_LEVEL");
  unsetenv("INPROF_OUTPUT_DIR");
  unsetenv("INPROF_UPLOAD");
}

/* Messages name what the user set: the socket of a unix agent (not the
 * TCP port curl's text would give), "missing" for an absent API key, and
 * the value of DD_PROFILING_ENABLED as written. */
static void messages_name_what_was_set(void) {
  inprof__log_window_s = 0; /* every line prints: this case counts its own */
  setenv("DD_TRACE_AGENT_URL", "unix:///tmp/inprof-feedback-no-such.sock", 1);
  setenv("INPROF_UPLOAD", "true", 1);
  inprof_status st;
  char *out = run_captured(1, &st);
  CHECK(st == INPROF_OK);
  CHECKF(strstr(out, "to the agent's unix socket /tmp/inprof-feedback-no-such.sock failed: ") &&
             strstr(out, "No such file or directory") && !strstr(out, "port 80"),
         "stderr:\n%s", out);
  free(out);
  unsetenv("DD_TRACE_AGENT_URL");

  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.agentless = 1;
  cfg.upload = INPROF_UPLOAD_ON;
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECKF(!strncmp(inprof_last_error(), "missing DD_API_KEY", 18), "%s", inprof_last_error());
  unsetenv("INPROF_UPLOAD");

  setenv("DD_PROFILING_ENABLED", "0", 1);
  setenv("INPROF_LOG_LEVEL", "info", 1);
  capture_begin();
  st = inprof_start(NULL);
  inprof_stop(1000);
  out = capture_end();
  CHECK(st == INPROF_OK);
  CHECKF(strstr(out, "profiling disabled (DD_PROFILING_ENABLED=\"0\")") != NULL, "stderr:\n%s", out);
  free(out);
  unsetenv("DD_PROFILING_ENABLED");
  unsetenv("INPROF_LOG_LEVEL");
  inprof__log_window_s = 60;
}

int main(void) {
  rate_limit_per_kind();
  default_warns_once_about_missing_agent();
  info_says_where_profiles_go();
  messages_name_what_was_set();
  return testutil_done("test_feedback");
}
