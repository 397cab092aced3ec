/*
 * config.c - owns configuration: defaults (inprof_config_init), the
 * environment (inprof_config_from_env) and validation into the resolved,
 * self-owned inprof__settings the rest of the library reads.
 *
 * Every rejected value produces INPROF_ERR_INVALID with a last error that
 * names the variable (or field) and the value, so a user can fix it without
 * reading the source.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define CPU_HZ_MAX 10000u
#define UPLOAD_PERIOD_MIN_MS 10u
#define UPLOAD_PERIOD_MAX_MS (24u * 3600u * 1000u)
#define TIMEOUT_MAX_MS 600000u
#define DEFAULT_CONNECT_TIMEOUT_MS 3000u
#define DEFAULT_UPLOAD_TIMEOUT_MS 10000u

INPROF_EXPORT inprof_status inprof_config_init(inprof_config *cfg) {
  if (!cfg) {
    inprof__set_error("inprof_config_init: cfg is NULL");
    return INPROF_ERR_INVALID;
  }
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = (uint32_t)sizeof *cfg;
  cfg->enabled = 1;
  cfg->cpu_hz = INPROF_DEFAULT_CPU_HZ;
  cfg->heap_sample_bytes = INPROF_DEFAULT_HEAP_SAMPLE_BYTES;
  cfg->upload_period_ms = INPROF_DEFAULT_UPLOAD_PERIOD_MS;
  cfg->max_frames = INPROF_DEFAULT_MAX_FRAMES;
  cfg->upload = INPROF_UPLOAD_AUTO;
  cfg->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  cfg->upload_timeout_ms = DEFAULT_UPLOAD_TIMEOUT_MS;
  return INPROF_OK;
}

/* ------------------------------------------------------------ parsers */

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

static inprof_status bad(const char *name, const char *value, const char *why) {
  inprof__set_error("invalid %s=\"%s\": %s", name, value, why);
  return INPROF_ERR_INVALID;
}

/* Decimal unsigned integer with optional surrounding spaces, nothing else. */
static int parse_u64(const char *s, uint64_t *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return -1;
  while (*end == ' ' || *end == '\t') end++;
  if (*end) return -1;
  *out = v;
  return 0;
}

static inprof_status env_u32(const char *name, uint32_t min, uint32_t max,
                             uint32_t *out) {
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  uint64_t n;
  if (parse_u64(v, &n) != 0 || n < min || n > max) {
    char why[96];
    snprintf(why, sizeof why, "expected an integer from %u to %u", min, max);
    return bad(name, v, why);
  }
  *out = (uint32_t)n;
  return INPROF_OK;
}

/* true/false in the spellings people use; "auto" only where allowed. */
static int parse_bool(const char *v, int *out) {
  static const char *yes[] = {"1", "true", "yes", "on", "y", "t"};
  static const char *no[] = {"0", "false", "no", "off", "n", "f"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
    if (!strcasecmp(v, yes[i])) return *out = 1, 0;
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    if (!strcasecmp(v, no[i])) return *out = 0, 0;
  return -1;
}

static inprof_status env_bool(const char *name, uint32_t *out) {
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  int b;
  if (parse_bool(v, &b) != 0) return bad(name, v, "expected true or false");
  *out = (uint32_t)b;
  return INPROF_OK;
}

/* Seconds, possibly fractional ("60", "0.5"), to milliseconds. */
static inprof_status env_period(const char *name, uint32_t *out_ms) {
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  errno = 0;
  char *end;
  double secs = strtod(v, &end);
  while (*end == ' ') end++;
  if (errno || end == v || *end || !isfinite(secs))
    return bad(name, v, "expected a number of seconds, e.g. 60 or 0.5");
  double ms = secs * 1000.0;
  if (ms < UPLOAD_PERIOD_MIN_MS || ms > UPLOAD_PERIOD_MAX_MS)
    return bad(name, v, "expected seconds from 0.01 to 86400");
  *out_ms = (uint32_t)(ms + 0.5);
  return INPROF_OK;
}

/* "SIGPROF", "PROF", "SIGVTALRM", "SIGRTMIN+3", "SIGUSR2" or a number. */
static int parse_signal(const char *v, int32_t *out) {
  uint64_t n;
  if (parse_u64(v, &n) == 0) {
    if (n < 1 || n > (uint64_t)SIGRTMAX) return -1;
    *out = (int32_t)n;
    return 0;
  }
  if (!strncasecmp(v, "SIG", 3)) v += 3;
  static const struct { const char *name; int sig; } named[] = {
      {"PROF", SIGPROF}, {"VTALRM", SIGVTALRM}, {"ALRM", SIGALRM},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
  for (size_t i = 0; i < sizeof named / sizeof *named; i++)
    if (!strcasecmp(v, named[i].name)) return *out = named[i].sig, 0;
  if (!strncasecmp(v, "RTMIN", 5)) {
    const char *rest = v + 5;
    uint64_t off = 0;
    if (*rest == '+' && parse_u64(rest + 1, &off) != 0) return -1;
    if (*rest && *rest != '+') return -1;
    if ((uint64_t)SIGRTMIN + off > (uint64_t)SIGRTMAX) return -1;
    *out = (int32_t)(SIGRTMIN + (int)off);
    return 0;
  }
  return -1;
}

static int parse_log_level(const char *v, uint32_t *out) {
  static const char *names[] = {"off", "error", "warn", "info", "debug"};
  for (uint32_t i = 0; i < 5; i++)
    if (!strcasecmp(v, names[i])) return *out = i, 0;
  if (!strcasecmp(v, "warning")) return *out = INPROF_LOG_WARN, 0;
  uint64_t n;
  if (parse_u64(v, &n) == 0 && n <= INPROF_LOG_DEBUG) return *out = (uint32_t)n, 0;
  return -1;
}

/*
 * DD_AGENT_HOST/DD_TRACE_AGENT_PORT become one URL. The string must outlive
 * this call (cfg only borrows strings), so it is kept here; a new one is made
 * only when the environment changed, which bounds what is kept.
 */
static pthread_mutex_t agent_url_lock = PTHREAD_MUTEX_INITIALIZER;
static char *agent_url_kept;

static const char *agent_url_from_parts(const char *host, const char *port) {
  char url[512];
  int bracket = strchr(host, ':') != NULL && host[0] != '[';
  snprintf(url, sizeof url, "http://%s%s%s:%s", bracket ? "[" : "", host,
           bracket ? "]" : "", port);
  pthread_mutex_lock(&agent_url_lock);
  if (!agent_url_kept || strcmp(agent_url_kept, url) != 0) {
    char *copy = strdup(url);
    if (copy) agent_url_kept = copy; /* the old one may still be borrowed */
  }
  const char *r = agent_url_kept;
  pthread_mutex_unlock(&agent_url_lock);
  return r;
}

INPROF_EXPORT inprof_status inprof_config_from_env(inprof_config *cfg) {
  if (!cfg || cfg->struct_size < sizeof(inprof_config)) {
    inprof__set_error("inprof_config_from_env: cfg is NULL or not initialized "
                      "with inprof_config_init");
    return cfg ? INPROF_ERR_VERSION : INPROF_ERR_INVALID;
  }
  inprof_status st;
  const char *v;
#define TRY(expr) \
  if ((st = (expr)) != INPROF_OK) return st

  TRY(env_bool("DD_PROFILING_ENABLED", &cfg->enabled));
  TRY(env_u32("INPROF_CPU_HZ", 0, CPU_HZ_MAX, &cfg->cpu_hz));
  if ((v = env_nonempty("INPROF_CPU_SIGNAL")) &&
      parse_signal(v, &cfg->cpu_signal) != 0)
    return bad("INPROF_CPU_SIGNAL", v,
               "expected a signal name such as SIGPROF or SIGRTMIN+3, or a number");
  if ((v = env_nonempty("INPROF_HEAP_SAMPLE_BYTES"))) {
    uint64_t n;
    if (parse_u64(v, &n) != 0 || n > (1ull << 40))
      return bad("INPROF_HEAP_SAMPLE_BYTES", v,
                 "expected bytes from 0 (off) to 1099511627776");
    cfg->heap_sample_bytes = n;
  }
  TRY(env_period("DD_PROFILING_UPLOAD_PERIOD", &cfg->upload_period_ms));
  TRY(env_u32("INPROF_MAX_FRAMES", 1, INPROF_MAX_FRAMES_LIMIT, &cfg->max_frames));

  if ((v = env_nonempty("DD_SERVICE"))) cfg->service = v;
  if ((v = env_nonempty("DD_ENV"))) cfg->env = v;
  if ((v = env_nonempty("DD_VERSION"))) cfg->version = v;
  if ((v = env_nonempty("DD_TAGS"))) cfg->tags = v;
  if ((v = env_nonempty("INPROF_OUTPUT_DIR"))) cfg->output_dir = v;

  if ((v = env_nonempty("DD_TRACE_AGENT_URL"))) {
    cfg->agent_url = v;
  } else {
    const char *host = env_nonempty("DD_AGENT_HOST");
    const char *port = env_nonempty("DD_TRACE_AGENT_PORT");
    if (port) {
      uint64_t p;
      if (parse_u64(port, &p) != 0 || p < 1 || p > 65535)
        return bad("DD_TRACE_AGENT_PORT", port, "expected a port from 1 to 65535");
    }
    if (host || port) {
      if (host && strpbrk(host, "/ ?#@"))
        return bad("DD_AGENT_HOST", host, "expected a host name or IP address");
      cfg->agent_url = agent_url_from_parts(host ? host : "localhost",
                                            port ? port : "8126");
      if (!cfg->agent_url) {
        inprof__set_error("out of memory building the agent URL");
        return INPROF_ERR_NO_MEMORY;
      }
    }
  }
  TRY(env_bool("DD_PROFILING_AGENTLESS", &cfg->agentless));
  if ((v = env_nonempty("INPROF_UPLOAD"))) {
    int b;
    if (!strcasecmp(v, "auto"))
      cfg->upload = INPROF_UPLOAD_AUTO;
    else if (parse_bool(v, &b) == 0)
      cfg->upload = b ? INPROF_UPLOAD_ON : INPROF_UPLOAD_OFF;
    else
      return bad("INPROF_UPLOAD", v, "expected auto, true or false");
  }
  if ((v = env_nonempty("DD_SITE"))) cfg->site = v;
  if ((v = env_nonempty("DD_API_KEY"))) cfg->api_key = v;
  if ((v = env_nonempty("INPROF_INTAKE_URL"))) cfg->intake_url = v;
  if ((v = env_nonempty("INPROF_CA_BUNDLE"))) cfg->ca_bundle = v;
  TRY(env_u32("INPROF_CONNECT_TIMEOUT_MS", 1, TIMEOUT_MAX_MS, &cfg->connect_timeout_ms));
  TRY(env_u32("INPROF_UPLOAD_TIMEOUT_MS", 1, TIMEOUT_MAX_MS, &cfg->upload_timeout_ms));
  if ((v = env_nonempty("INPROF_LOG_LEVEL")) && parse_log_level(v, &cfg->log_level) != 0)
    return bad("INPROF_LOG_LEVEL", v, "expected off, error, warn, info or debug");
#undef TRY
  return INPROF_OK;
}

/* ------------------------------------------------------------ settings */

static int dup_opt(const char *in, char **out) {
  *out = NULL;
  if (!in || !*in) return 0;
  *out = strdup(in);
  return *out ? 0 : -1;
}

static inprof_status field_range(const char *field, uint64_t v, uint64_t min,
                                 uint64_t max) {
  if (v >= min && v <= max) return INPROF_OK;
  inprof__set_error("invalid inprof_config.%s = %llu: expected %llu to %llu", field,
                    (unsigned long long)v, (unsigned long long)min,
                    (unsigned long long)max);
  return INPROF_ERR_INVALID;
}

INPROF_HIDDEN void inprof__settings_free(inprof__settings *s) {
  char **strs[] = {&s->service, &s->env,     &s->version,    &s->tags,
                   &s->output_dir, &s->agent_url, &s->site,   &s->api_key,
                   &s->intake_url, &s->ca_bundle};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
    free(*strs[i]);
    *strs[i] = NULL;
  }
}

INPROF_HIDDEN inprof_status inprof__settings_from_config(const inprof_config *cfg,
                                                         inprof__settings *out) {
  memset(out, 0, sizeof *out);
  if (cfg->struct_size != sizeof(inprof_config)) {
    inprof__set_error("inprof_config.struct_size is %u, this library expects %zu: "
                      "initialize the struct with inprof_config_init()",
                      cfg->struct_size, sizeof(inprof_config));
    return INPROF_ERR_VERSION;
  }
  inprof_status st;
  if ((st = field_range("enabled", cfg->enabled, 0, 1)) ||
      (st = field_range("cpu_hz", cfg->cpu_hz, 0, CPU_HZ_MAX)) ||
      (st = field_range("heap_sample_bytes", cfg->heap_sample_bytes, 0, 1ull << 40)) ||
      (st = field_range("upload_period_ms", cfg->upload_period_ms,
                        UPLOAD_PERIOD_MIN_MS, UPLOAD_PERIOD_MAX_MS)) ||
      (st = field_range("max_frames", cfg->max_frames, 1, INPROF_MAX_FRAMES_LIMIT)) ||
      (st = field_range("agentless", cfg->agentless, 0, 1)) ||
      (st = field_range("upload", cfg->upload, 0, 2)) ||
      (st = field_range("connect_timeout_ms", cfg->connect_timeout_ms, 1, TIMEOUT_MAX_MS)) ||
      (st = field_range("upload_timeout_ms", cfg->upload_timeout_ms, 1, TIMEOUT_MAX_MS)) ||
      (st = field_range("log_level", cfg->log_level, 0, INPROF_LOG_DEBUG)))
    return st;
  int32_t sig = cfg->cpu_signal ? cfg->cpu_signal : SIGPROF;
  if (sig < 1 || sig > SIGRTMAX || sig == SIGKILL || sig == SIGSTOP ||
      sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
    inprof__set_error("invalid inprof_config.cpu_signal = %d: not a usable signal",
                      (int)cfg->cpu_signal);
    return INPROF_ERR_INVALID;
  }

  out->enabled = cfg->enabled;
  out->cpu_hz = cfg->cpu_hz;
  out->cpu_signal = sig;
  out->heap_sample_bytes = cfg->heap_sample_bytes;
  out->upload_period_ms = cfg->upload_period_ms;
  out->max_frames = cfg->max_frames;
  out->agentless = cfg->agentless;
  out->connect_timeout_ms = cfg->connect_timeout_ms;
  out->upload_timeout_ms = cfg->upload_timeout_ms;
  out->log_level = cfg->log_level;

  extern char *program_invocation_short_name;
  const char *service = cfg->service && *cfg->service ? cfg->service
                        : (program_invocation_short_name && *program_invocation_short_name)
                            ? program_invocation_short_name
                            : "unnamed-native-service";
  if (dup_opt(service, &out->service) || dup_opt(cfg->env, &out->env) ||
      dup_opt(cfg->version, &out->version) || dup_opt(cfg->tags, &out->tags) ||
      dup_opt(cfg->output_dir, &out->output_dir) ||
      dup_opt(cfg->agent_url, &out->agent_url) || dup_opt(cfg->site, &out->site) ||
      dup_opt(cfg->api_key, &out->api_key) ||
      dup_opt(cfg->intake_url, &out->intake_url) ||
      dup_opt(cfg->ca_bundle, &out->ca_bundle)) {
    inprof__settings_free(out);
    inprof__set_error("out of memory copying the configuration");
    return INPROF_ERR_NO_MEMORY;
  }
  if (cfg->upload == INPROF_UPLOAD_ON)
    out->upload = 1;
  else if (cfg->upload == INPROF_UPLOAD_OFF)
    out->upload = 0;
  else
    out->upload = (out->agent_url || out->agentless || !out->output_dir) ? 1 : 0;
  return INPROF_OK;
}
