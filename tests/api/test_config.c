/*
 * Configuration: defaults, every environment variable, and every bad value
 * gives a clear error naming the variable and the value, never a crash.
 * Values are strict: plain decimal integers, no empty values (but DD_TAGS),
 * a CA bundle that is a PEM file; a value set in code is named by its
 * inprof_config field, a value from the environment by its variable.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stddef.h>

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

/* A bad value: start fails with INVALID (or `want`); the message names the
 * variable (as VAR=, not as an inprof_config field) and shows the value as
 * `shown` (the value itself unless it has bytes the message escapes). */
static void expect_bad_shown(const char *var, const char *value, const char *shown,
                             inprof_status want) {
  clear_env();
  setenv("INPROF_UPLOAD", "false", 1);
  setenv(var, value, 1);
  inprof_status st = inprof_start(NULL);
  const char *msg = inprof_last_error();
  char named[64];
  snprintf(named, sizeof named, "%s=", var);
  CHECKF(st == want, "%s=\"%s\": status %d (%s), want %d", var, value, st,
         inprof_strerror(st), want);
  CHECKF(strstr(msg, named) != NULL, "%s=\"%s\": message does not name the variable: %s",
         var, value, msg);
  CHECKF(strstr(msg, shown) != NULL, "%s=\"%s\": message does not show the value: %s", var,
         value, msg);
  CHECKF(strstr(msg, "inprof_config.") == NULL,
         "%s=\"%s\": an environment value named as a field: %s", var, value, msg);
  CHECK(!inprof_is_running());
  if (st == INPROF_OK) inprof_stop(1000);
}

static void expect_bad(const char *var, const char *value, inprof_status want) {
  expect_bad_shown(var, value, value, want);
}

/* An empty value is rejected, and the message says so. */
static void expect_empty_rejected(const char *var) {
  expect_bad(var, "", INPROF_ERR_INVALID);
  CHECKF(strstr(inprof_last_error(), "empty") != NULL, "%s=: %s", var, inprof_last_error());
}

/* Bad values of each option, from the environment. */
static const struct {
  const char *var, *value;
} bad_values[] = {
    /* The profiling signal: parsed, then usable (INPROF_CPU_SIGNAL=9 is SIGKILL). */
    {"INPROF_CPU_SIGNAL", "9"},
    {"INPROF_CPU_SIGNAL", "19"},
    {"INPROF_CPU_SIGNAL", "11"},
    {"INPROF_CPU_SIGNAL", "0"},
    {"INPROF_CPU_SIGNAL", "65"},
    {"INPROF_CPU_SIGNAL", "SIGKILL"},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN+100"},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN+18446744073709551615"},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN+18446744073709551616"},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN-1"},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN+"},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN+ 1"},
    {"INPROF_CPU_SIGNAL", " SIGPROF"},
    {"INPROF_CPU_SIGNAL", "+27"},
    /* Integers: plain decimal digits only, overflow out of range. */
    {"INPROF_CPU_HZ", " 99"},
    {"INPROF_CPU_HZ", "99 "},
    {"INPROF_CPU_HZ", "+99"},
    {"INPROF_CPU_HZ", "0x10"},
    {"INPROF_CPU_HZ", "1e3"},
    {"INPROF_CPU_HZ", "99.0"},
    {"INPROF_CPU_HZ", "4294967395"},
    {"INPROF_CPU_HZ", "18446744073709551616"},
    {"INPROF_CPU_HZ", "99999999999999999999999999"},
    {"INPROF_HEAP_SAMPLE_BYTES", "0x10"},
    {"INPROF_HEAP_SAMPLE_BYTES", "1e3"},
    {"INPROF_HEAP_SAMPLE_BYTES", "-1"},
    {"INPROF_HEAP_SAMPLE_BYTES", "1 024"},
    {"INPROF_HEAP_SAMPLE_BYTES", "512k"},
    {"INPROF_HEAP_SAMPLE_BYTES", "1099511627777"},
    {"INPROF_HEAP_SAMPLE_BYTES", "18446744073709551615"},
    {"INPROF_HEAP_SAMPLE_BYTES", "18446744073709551616"},
    {"INPROF_MAX_FRAMES", "64k"},
    {"INPROF_MAX_FRAMES", "513"},
    {"INPROF_CONNECT_TIMEOUT_MS", "600001"},
    {"INPROF_CONNECT_TIMEOUT_MS", "1e3"},
    {"INPROF_UPLOAD_TIMEOUT_MS", " 5"},
    {"INPROF_UPLOAD_TIMEOUT_MS", "-0"},
    /* The upload period: decimal seconds, e.g. 60 or 0.5, nothing else. */
    {"DD_PROFILING_UPLOAD_PERIOD", " 60"},
    {"DD_PROFILING_UPLOAD_PERIOD", "60 "},
    {"DD_PROFILING_UPLOAD_PERIOD", "0x10"},
    {"DD_PROFILING_UPLOAD_PERIOD", "1e3"},
    {"DD_PROFILING_UPLOAD_PERIOD", "1E1"},
    {"DD_PROFILING_UPLOAD_PERIOD", "inf"},
    {"DD_PROFILING_UPLOAD_PERIOD", "nan"},
    {"DD_PROFILING_UPLOAD_PERIOD", "infinity"},
    {"DD_PROFILING_UPLOAD_PERIOD", "-1"},
    {"DD_PROFILING_UPLOAD_PERIOD", "+5"},
    {"DD_PROFILING_UPLOAD_PERIOD", ".5"},
    {"DD_PROFILING_UPLOAD_PERIOD", "5."},
    {"DD_PROFILING_UPLOAD_PERIOD", "60s"},
    {"DD_PROFILING_UPLOAD_PERIOD", "0,5"},
    {"DD_PROFILING_UPLOAD_PERIOD", "1.2.3"},
    {"DD_PROFILING_UPLOAD_PERIOD", "0.0099"},
    {"DD_PROFILING_UPLOAD_PERIOD", "0.009999999999"},
    {"DD_PROFILING_UPLOAD_PERIOD", "86400.001"},
    {"DD_PROFILING_UPLOAD_PERIOD", "86400.0000000001"},
    {"DD_PROFILING_UPLOAD_PERIOD", "99999999999999999999999"},
    /* Keywords. */
    {"DD_PROFILING_ENABLED", "tru"},
    {"DD_PROFILING_ENABLED", " true"},
    {"DD_PROFILING_AGENTLESS", "2"},
    {"INPROF_UPLOAD", "auto "},
    {"INPROF_LOG_LEVEL", "5"},
    {"INPROF_LOG_LEVEL", "-1"},
    {"INPROF_LOG_LEVEL", " 1"},
    /* The agent built from host and port. */
    {"DD_TRACE_AGENT_PORT", "0"},
    {"DD_TRACE_AGENT_PORT", "+80"},
    {"DD_TRACE_AGENT_PORT", " 80"},
    {"DD_TRACE_AGENT_PORT", "8126x"},
    {"DD_TRACE_AGENT_PORT", "18446744073709560126"},
    {"DD_AGENT_HOST", "a/b"},
    {"DD_AGENT_HOST", "a b"},
    {"DD_AGENT_HOST", "agent:8126"},
    {"DD_AGENT_HOST", "[::1"},
    {"DD_AGENT_HOST", "user@agent"},
};

/* Every variable but DD_TAGS rejects an empty value. */
static const char *empty_rejected[] = {
    "DD_PROFILING_ENABLED", "INPROF_CPU_HZ", "INPROF_CPU_SIGNAL", "INPROF_HEAP_SAMPLE_BYTES",
    "DD_PROFILING_UPLOAD_PERIOD", "INPROF_MAX_FRAMES", "DD_SERVICE", "DD_ENV", "DD_VERSION",
    "INPROF_OUTPUT_DIR", "DD_TRACE_AGENT_URL", "DD_AGENT_HOST", "DD_TRACE_AGENT_PORT",
    "DD_PROFILING_AGENTLESS", "INPROF_UPLOAD", "DD_SITE", "DD_API_KEY", "INPROF_INTAKE_URL",
    "INPROF_CA_BUNDLE", "INPROF_CONNECT_TIMEOUT_MS", "INPROF_UPLOAD_TIMEOUT_MS",
    "INPROF_LOG_LEVEL"};

/* Good values and what they become. */
static const struct {
  const char *var, *value;
  size_t offset; /* of the uint32_t/int32_t/uint64_t field in inprof_config */
  int wide;      /* 1: uint64_t */
  long long want;
} good_values[] = {
#define U32F(f) offsetof(inprof_config, f), 0
#define U64F(f) offsetof(inprof_config, f), 1
    {"INPROF_CPU_HZ", "0", U32F(cpu_hz), 0},
    {"INPROF_CPU_HZ", "007", U32F(cpu_hz), 7},
    {"INPROF_CPU_HZ", "10000", U32F(cpu_hz), 10000},
    {"INPROF_HEAP_SAMPLE_BYTES", "0", U64F(heap_sample_bytes), 0},
    {"INPROF_HEAP_SAMPLE_BYTES", "1099511627776", U64F(heap_sample_bytes), 1099511627776ll},
    {"INPROF_MAX_FRAMES", "512", U32F(max_frames), 512},
    {"INPROF_MAX_FRAMES", "1", U32F(max_frames), 1},
    {"INPROF_CONNECT_TIMEOUT_MS", "600000", U32F(connect_timeout_ms), 600000},
    {"DD_PROFILING_UPLOAD_PERIOD", "60", U32F(upload_period_ms), 60000},
    {"DD_PROFILING_UPLOAD_PERIOD", "0.5", U32F(upload_period_ms), 500},
    {"DD_PROFILING_UPLOAD_PERIOD", "0.01", U32F(upload_period_ms), 10},
    {"DD_PROFILING_UPLOAD_PERIOD", "0.0100000000001", U32F(upload_period_ms), 10},
    {"DD_PROFILING_UPLOAD_PERIOD", "000.250", U32F(upload_period_ms), 250},
    {"DD_PROFILING_UPLOAD_PERIOD", "1.0005", U32F(upload_period_ms), 1001},
    {"DD_PROFILING_UPLOAD_PERIOD", "1.0004999", U32F(upload_period_ms), 1000},
    {"DD_PROFILING_UPLOAD_PERIOD", "86400", U32F(upload_period_ms), 86400000},
    {"DD_PROFILING_UPLOAD_PERIOD", "86400.000", U32F(upload_period_ms), 86400000},
    {"INPROF_CPU_SIGNAL", "SIGPROF", U32F(cpu_signal), SIGPROF},
    {"INPROF_CPU_SIGNAL", "prof", U32F(cpu_signal), SIGPROF},
    {"INPROF_CPU_SIGNAL", "27", U32F(cpu_signal), 27},
    {"INPROF_CPU_SIGNAL", "SIGUSR2", U32F(cpu_signal), SIGUSR2},
    {"INPROF_CPU_SIGNAL", "SIGRTMIN", U32F(cpu_signal), -1},   /* SIGRTMIN */
    {"INPROF_CPU_SIGNAL", "SIGRTMIN+0", U32F(cpu_signal), -1}, /* SIGRTMIN */
    {"INPROF_LOG_LEVEL", "DEBUG", U32F(log_level), 4},
    {"INPROF_LOG_LEVEL", "warning", U32F(log_level), 2},
    {"INPROF_LOG_LEVEL", "0", U32F(log_level), 0},
    {"DD_PROFILING_ENABLED", "ON", U32F(enabled), 1},
    {"INPROF_UPLOAD", "No", U32F(upload), INPROF_UPLOAD_OFF},
#undef U32F
#undef U64F
};

static void check_good_values(void) {
  for (size_t i = 0; i < sizeof good_values / sizeof *good_values; i++) {
    clear_env();
    setenv(good_values[i].var, good_values[i].value, 1);
    inprof_config cfg;
    inprof_config_init(&cfg);
    inprof_status st = inprof_config_from_env(&cfg);
    CHECKF(st == INPROF_OK, "%s=\"%s\": %s", good_values[i].var, good_values[i].value,
           inprof_last_error());
    const char *p = (const char *)&cfg + good_values[i].offset;
    long long got;
    if (good_values[i].wide) {
      uint64_t v;
      memcpy(&v, p, sizeof v);
      got = (long long)v;
    } else {
      uint32_t v;
      memcpy(&v, p, sizeof v);
      got = (long long)v;
    }
    long long want = good_values[i].want == -1 ? SIGRTMIN : good_values[i].want;
    CHECKF(got == want, "%s=\"%s\": got %lld, want %lld", good_values[i].var,
           good_values[i].value, got, want);
  }

  /* The agent URL from host and port. */
  static const struct {
    const char *host, *port, *url;
  } agents[] = {
      {"10.1.2.3", NULL, "http://10.1.2.3:8126"},
      {"::1", NULL, "http://[::1]:8126"},
      {"[::1]", "9", "http://[::1]:9"},
      {"my_agent.local", "08126", "http://my_agent.local:8126"},
      {NULL, "65535", "http://localhost:65535"},
  };
  for (size_t i = 0; i < sizeof agents / sizeof *agents; i++) {
    clear_env();
    if (agents[i].host) setenv("DD_AGENT_HOST", agents[i].host, 1);
    if (agents[i].port) setenv("DD_TRACE_AGENT_PORT", agents[i].port, 1);
    inprof_config cfg;
    inprof_config_init(&cfg);
    CHECK(inprof_config_from_env(&cfg) == INPROF_OK);
    CHECKF(cfg.agent_url && !strcmp(cfg.agent_url, agents[i].url), "%s %s: %s, want %s",
           agents[i].host ? agents[i].host : "-", agents[i].port ? agents[i].port : "-",
           cfg.agent_url ? cfg.agent_url : "(null)", agents[i].url);
  }

  /* DD_TAGS= means "no extra tags", also over tags set in code; start works. */
  clear_env();
  setenv("DD_TAGS", "", 1);
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.tags = "set:in-code";
  CHECK(inprof_config_from_env(&cfg) == INPROF_OK);
  CHECK(cfg.tags && !strcmp(cfg.tags, ""));
  cfg.upload = INPROF_UPLOAD_OFF;
  CHECKF(inprof_start(&cfg) == INPROF_OK, "DD_TAGS=: %s", inprof_last_error());
  CHECK(inprof_stop(5000) == INPROF_OK);
}

/* Writes a file of `text` (NULL: empty) and returns its path. */
static char *write_file(const char *dir, const char *name, const char *text) {
  char *path = malloc(strlen(dir) + strlen(name) + 2);
  REQUIRE(path);
  sprintf(path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  REQUIRE(f);
  if (text) fputs(text, f);
  fclose(f);
  return path;
}

#define PEM                                                                  \
  "# test bundle\n-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n"      \
  "-----END CERTIFICATE-----\n"

/*
 * INPROF_CA_BUNDLE: only a readable regular file with a PEM certificate
 * passes start. Uploads must be on (the bundle is the uploader's) and go to
 * a closed port, so nothing is sent and stop is quick.
 */
static void check_ca_bundle(void) {
  char *dir = testutil_tmpdir("ca");
  REQUIRE(dir);
  char *empty = write_file(dir, "empty.pem", NULL);
  char *text = write_file(dir, "text.pem", "not a certificate\n");
  char *good = write_file(dir, "good.pem", PEM);
  char fifo[512];
  snprintf(fifo, sizeof fifo, "%s/fifo.pem", dir);
  REQUIRE(mkfifo(fifo, 0600) == 0);
  const char *bad[] = {"/dev/zero", "/dev/null", dir, empty, text, fifo,
                       "/nonexistent/ca.pem", "/proc/self/status"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    clear_env();
    setenv("INPROF_UPLOAD", "true", 1);
    setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:1", 1);
    setenv("INPROF_CA_BUNDLE", bad[i], 1);
    inprof_status st = inprof_start(NULL);
    const char *msg = inprof_last_error();
    CHECKF(st == INPROF_ERR_INVALID, "INPROF_CA_BUNDLE=%s: status %d", bad[i], st);
    CHECKF(strstr(msg, "INPROF_CA_BUNDLE=") && strstr(msg, bad[i]),
           "INPROF_CA_BUNDLE=%s: %s", bad[i], msg);
    CHECK(!inprof_is_running());
    if (st == INPROF_OK) inprof_stop(1000);
  }
  /* Set in code: named as the field. */
  clear_env();
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.upload = INPROF_UPLOAD_ON;
  cfg.agent_url = "http://127.0.0.1:1";
  cfg.ca_bundle = "/dev/zero";
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECKF(strstr(inprof_last_error(), "inprof_config.ca_bundle") != NULL, "%s",
         inprof_last_error());
  /* From the environment through inprof_config_from_env: still the variable. */
  setenv("INPROF_CA_BUNDLE", text, 1);
  inprof_config_init(&cfg);
  cfg.upload = INPROF_UPLOAD_ON;
  cfg.agent_url = "http://127.0.0.1:1";
  REQUIRE(inprof_config_from_env(&cfg) == INPROF_OK);
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECKF(strstr(inprof_last_error(), "INPROF_CA_BUNDLE=") != NULL, "%s", inprof_last_error());

  /* A PEM bundle starts (the system's too, when there is one). */
  const char *goods[] = {good, "/etc/ssl/certs/ca-certificates.crt"};
  for (size_t i = 0; i < sizeof goods / sizeof *goods; i++) {
    if (access(goods[i], R_OK) != 0) continue;
    clear_env();
    setenv("INPROF_UPLOAD", "true", 1);
    setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:1", 1);
    setenv("INPROF_CA_BUNDLE", goods[i], 1);
    setenv("INPROF_CPU_HZ", "0", 1);
    setenv("INPROF_HEAP_SAMPLE_BYTES", "0", 1);
    inprof_status st = inprof_start(NULL);
    CHECKF(st == INPROF_OK, "INPROF_CA_BUNDLE=%s: %s", goods[i], inprof_last_error());
    if (st == INPROF_OK) inprof_stop(5000);
  }
  unlink(empty), unlink(text), unlink(good), unlink(fifo);
  rmdir(dir);
  free(empty), free(text), free(good), free(dir);
}

/* Values set in code are named as inprof_config fields, not variables. */
static void check_field_names(void) {
  clear_env();
  inprof_config cfg;
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.cpu_signal = SIGKILL;
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECKF(strstr(inprof_last_error(), "inprof_config.cpu_signal = 9") != NULL, "%s",
         inprof_last_error());
  CHECKF(strstr(inprof_last_error(), "INPROF_CPU_SIGNAL=") == NULL, "%s",
         inprof_last_error());
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.upload_period_ms = 5;
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECKF(strstr(inprof_last_error(), "inprof_config.upload_period_ms = 5") != NULL, "%s",
         inprof_last_error());
  REQUIRE(inprof_config_init(&cfg) == INPROF_OK);
  cfg.upload = INPROF_UPLOAD_ON;
  cfg.agent_url = "ftp://agent:21";
  CHECK(inprof_start(&cfg) == INPROF_ERR_INVALID);
  CHECKF(strstr(inprof_last_error(), "inprof_config.agent_url") != NULL &&
             strstr(inprof_last_error(), "ftp://agent:21") != NULL,
         "%s", inprof_last_error());
  CHECKF(strstr(inprof_last_error(), "DD_TRACE_AGENT_URL=") == NULL, "%s",
         inprof_last_error());
  CHECK(!inprof_is_running());
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
  for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++)
    expect_bad(bad_values[i].var, bad_values[i].value, INPROF_ERR_INVALID);
  expect_bad_shown("INPROF_CPU_HZ", "\t5", "\"\\x095\"", INPROF_ERR_INVALID);
  expect_bad_shown("DD_PROFILING_UPLOAD_PERIOD", "60\n", "\"60\\x0a\"", INPROF_ERR_INVALID);
  for (size_t i = 0; i < sizeof empty_rejected / sizeof *empty_rejected; i++)
    expect_empty_rejected(empty_rejected[i]);
  /* Destinations are checked when the uploader starts: uploads on. */
  static const char *bad_agents[] = {"ftp://agent:21", "agent:8126", "http://a:1/path",
                                     "unix://relative"};
  for (size_t i = 0; i < sizeof bad_agents / sizeof *bad_agents; i++) {
    clear_env();
    setenv("DD_TRACE_AGENT_URL", bad_agents[i], 1);
    inprof_status st = inprof_start(NULL);
    CHECKF(st == INPROF_ERR_INVALID, "DD_TRACE_AGENT_URL=%s: %d", bad_agents[i], st);
    CHECKF(strstr(inprof_last_error(), "DD_TRACE_AGENT_URL=") &&
               strstr(inprof_last_error(), bad_agents[i]),
           "%s", inprof_last_error());
    if (st == INPROF_OK) inprof_stop(1000);
  }
  check_good_values();
  check_ca_bundle();
  check_field_names();
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
