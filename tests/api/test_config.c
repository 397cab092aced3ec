/*
 * Configuration: defaults, every environment variable, and every bad value
 * gives a clear error naming the variable and the value, never a crash.
 */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inprof.h"
#include "testutil.h"

static const char *all_vars[] = {
    "DD_PROFILING_ENABLED", "INPROF_CPU_HZ", "INPROF_CPU_SIGNAL", "INPROF_HEAP_SAMPLE_BYTES",
    "DD_PROFILING_UPLOAD_PERIOD", "INPROF_MAX_FRAMES", "DD_SERVICE", "DD_ENV", "DD_VERSION",
    "DD_TAGS", "INPROF_OUTPUT_DIR", "DD_TRACE_AGENT_URL", "DD_AGENT_HOST",
    "DD_TRACE_AGENT_PORT", "DD_PROFILING_AGENTLESS", "INPROF_UPLOAD", "DD_SITE",
    "DD_API_KEY", "INPROF_INTAKE_URL", "INPROF_CA_BUNDLE", "INPROF_CONNECT_TIMEOUT_MS",
    "INPROF_UPLOAD_TIMEOUT_MS", "INPROF_LOG_LEVEL"};

static void clear_env(void) {
  for (size_t i = 0; i < sizeof all_vars / sizeof *all_vars; i++) unsetenv(all_vars[i]);
}

/* A bad value: start fails with INVALID (or `want`), the message names both. */
static void expect_bad(const char *var, const char *value, inprof_status want) {
  clear_env();
  setenv("INPROF_UPLOAD", "false", 1);
  setenv(var, value, 1);
  inprof_status st = inprof_start(NULL);
  const char *msg = inprof_last_error();
  CHECKF(st == want, "%s=%s: status %d (%s), want %d", var, value, st, inprof_strerror(st),
         want);
  CHECKF(strstr(msg, var) != NULL, "%s=%s: message does not name the variable: %s", var,
         value, msg);
  CHECKF(strstr(msg, value) != NULL, "%s=%s: message does not name the value: %s", var,
         value, msg);
  CHECK(!inprof_is_running());
  if (st == INPROF_OK) inprof_stop(1000);
}

int main(void) {
  /* Defaults. */
  inprof_config cfg;
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  CHECK(cfg.struct_size == sizeof cfg);
  CHECK(cfg.enabled == 1);
  CHECK(cfg.cpu_hz == 99);
  CHECK(cfg.heap_sample_bytes == 524288);
  CHECK(cfg.upload_period_ms == 60000);
  CHECK(cfg.max_frames == INPROF_DEFAULT_MAX_FRAMES);
  CHECK(cfg.upload == INPROF_UPLOAD_AUTO);
  CHECK(cfg.output_dir == NULL && cfg.service == NULL);
  CHECK(inprof_config_init(NULL) == INPROF_ERR_INVALID);

  /* Every variable read. */
  clear_env();
  setenv("DD_PROFILING_ENABLED", "false", 1);
  setenv("INPROF_CPU_HZ", "250", 1);
  setenv("INPROF_CPU_SIGNAL", "SIGRTMIN+3", 1);
  setenv("INPROF_HEAP_SAMPLE_BYTES", "65536", 1);
  setenv("DD_PROFILING_UPLOAD_PERIOD", "0.5", 1);
  setenv("INPROF_MAX_FRAMES", "64", 1);
  setenv("DD_SERVICE", "svc", 1);
  setenv("DD_ENV", "staging", 1);
  setenv("DD_VERSION", "1.2.3", 1);
  setenv("DD_TAGS", "team:core,region:eu", 1);
  setenv("INPROF_OUTPUT_DIR", "/tmp", 1);
  setenv("DD_AGENT_HOST", "10.1.2.3", 1);
  setenv("DD_TRACE_AGENT_PORT", "9126", 1);
  setenv("DD_PROFILING_AGENTLESS", "yes", 1);
  setenv("INPROF_UPLOAD", "auto", 1);
  setenv("DD_SITE", "datadoghq.eu", 1);
  setenv("DD_API_KEY", "k", 1);
  setenv("INPROF_CONNECT_TIMEOUT_MS", "1500", 1);
  setenv("INPROF_UPLOAD_TIMEOUT_MS", "2500", 1);
  setenv("INPROF_LOG_LEVEL", "warn", 1);
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  REQUIRE(inprof_config_from_env(&cfg) == INPROF_OK);
  CHECK(cfg.enabled == 0);
  CHECK(cfg.cpu_hz == 250);
  CHECK(cfg.cpu_signal == SIGRTMIN + 3);
  CHECK(cfg.heap_sample_bytes == 65536);
  CHECK(cfg.upload_period_ms == 500);
  CHECK(cfg.max_frames == 64);
  CHECK(cfg.service && !strcmp(cfg.service, "svc"));
  CHECK(cfg.env && !strcmp(cfg.env, "staging"));
  CHECK(cfg.version && !strcmp(cfg.version, "1.2.3"));
  CHECK(cfg.tags && !strcmp(cfg.tags, "team:core,region:eu"));
  CHECK(cfg.output_dir && !strcmp(cfg.output_dir, "/tmp"));
  CHECKF(cfg.agent_url && !strcmp(cfg.agent_url, "http://10.1.2.3:9126"), "%s",
         cfg.agent_url ? cfg.agent_url : "(null)");
  CHECK(cfg.agentless == 1);
  CHECK(cfg.upload == INPROF_UPLOAD_AUTO);
  CHECK(cfg.site && !strcmp(cfg.site, "datadoghq.eu"));
  CHECK(cfg.connect_timeout_ms == 1500 && cfg.upload_timeout_ms == 2500);
  CHECK(cfg.log_level == 2);
  setenv("DD_TRACE_AGENT_URL", "unix:///var/run/datadog/apm.socket", 1);
  REQUIRE(inprof_config_from_env(&cfg) == INPROF_OK);
  CHECK(cfg.agent_url && !strcmp(cfg.agent_url, "unix:///var/run/datadog/apm.socket"));

  /* DD_PROFILING_ENABLED=false: start succeeds and does nothing. */
  clear_env();
  setenv("DD_PROFILING_ENABLED", "false", 1);
  CHECK(inprof_start(NULL) == INPROF_OK);
  CHECK(!inprof_is_running());
  CHECK(inprof_stop(100) == INPROF_OK);

  /* Bad values, each named. */
  expect_bad("INPROF_CPU_HZ", "abc", INPROF_ERR_INVALID);
  expect_bad("INPROF_CPU_HZ", "-5", INPROF_ERR_INVALID);
  expect_bad("INPROF_CPU_HZ", "99999", INPROF_ERR_INVALID);
  expect_bad("INPROF_CPU_HZ", "12abc", INPROF_ERR_INVALID);
  expect_bad("DD_PROFILING_UPLOAD_PERIOD", "-10", INPROF_ERR_INVALID);
  expect_bad("DD_PROFILING_UPLOAD_PERIOD", "0", INPROF_ERR_INVALID);
  expect_bad("DD_PROFILING_UPLOAD_PERIOD", "soon", INPROF_ERR_INVALID);
  expect_bad("DD_PROFILING_ENABLED", "maybe", INPROF_ERR_INVALID);
  expect_bad("INPROF_HEAP_SAMPLE_BYTES", "1e3x", INPROF_ERR_INVALID);
  expect_bad("INPROF_MAX_FRAMES", "0", INPROF_ERR_INVALID);
  expect_bad("INPROF_MAX_FRAMES", "100000", INPROF_ERR_INVALID);
  expect_bad("INPROF_CPU_SIGNAL", "SIGNOPE", INPROF_ERR_INVALID);
  expect_bad("DD_TRACE_AGENT_PORT", "http", INPROF_ERR_INVALID);
  expect_bad("DD_TRACE_AGENT_PORT", "70000", INPROF_ERR_INVALID);
  expect_bad("INPROF_LOG_LEVEL", "loud", INPROF_ERR_INVALID);
  expect_bad("INPROF_UPLOAD", "sometimes", INPROF_ERR_INVALID);
  expect_bad("INPROF_UPLOAD_TIMEOUT_MS", "0", INPROF_ERR_INVALID);
  expect_bad("INPROF_OUTPUT_DIR", "/nonexistent/inprof-dir", INPROF_ERR_OUTPUT);
  /* Not a directory, and a directory below a file (not writable even as root). */
  expect_bad("INPROF_OUTPUT_DIR", "/etc/hostname", INPROF_ERR_OUTPUT);
  expect_bad("INPROF_OUTPUT_DIR", "/dev/null/sub", INPROF_ERR_OUTPUT);
  /* Read-only for a non-root user; as root only checked when not root. */
  if (geteuid() != 0) {
    char *ro = testutil_tmpdir("ro");
    chmod(ro, 0500);
    expect_bad("INPROF_OUTPUT_DIR", ro, INPROF_ERR_OUTPUT);
  }

  /* Config struct errors. */
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.cpu_hz = 20000;
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECK(strstr(inprof_last_error(), "cpu_hz") != NULL);
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  cfg.struct_size = 8;
  CHECK(inprof_start(&cfg) == INPROF_ERR_VERSION);
  CHECK(strstr(inprof_last_error(), "struct_size") != NULL);

  /* The host is still fine and a good configuration starts. */
  clear_env();
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  cfg.upload = INPROF_UPLOAD_OFF;
  CHECK(inprof_start(&cfg) == INPROF_OK);
  CHECK(inprof_is_running());
  CHECK(inprof_stop(5000) == INPROF_OK);
  CHECK(inprof_strerror(12345) != NULL);
  return testutil_done("test_config");
}
