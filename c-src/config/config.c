/*
 * config/config.c - owns configuration: defaults (inprof_config_init), the
 * environment (inprof_config_from_env) and validation into the resolved,
 * self-owned inprof__settings the rest of the library reads. All three are
 * generated from the option table in config/options.h; this file holds the
 * parser of each option type.
 *
 * Every rejected value produces INPROF_ERR_INVALID with a last error that
 * names the variable (or field) and the value, so a user can fix it without
 * reading the source.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/defaults.h"
#include "base/diag.h"
#include "config/options.h"
#include "config/settings.h"

/* Token dispatch on the 0/1 flags of config/options.h. */
#define OPT_IF_(flag, yes, no) OPT_IF_##flag(yes, no)
#define OPT_IF(flag, yes, no) OPT_IF_(flag, yes, no)
#define OPT_IF_0(yes, no) no
#define OPT_IF_1(yes, no) yes

INPROF_EXPORT inprof_status inprof_config_init(inprof_config *cfg) {
  if (!cfg) return inprof__fail(INPROF_ERR_INVALID, "inprof_config_init: cfg is NULL");
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = (uint32_t)sizeof *cfg;
#define OPT_INIT_NONE(field, def)
#define OPT_INIT_VALUE(field, def) cfg->field = def;
#define OPT_INIT(type, env, field, min, max, def) \
  OPT_IF(INPROF__OPT_STRING_##type, OPT_INIT_NONE, OPT_INIT_VALUE)(field, def)
  INPROF__OPTIONS(OPT_INIT)
#undef OPT_INIT
  return INPROF_OK;
}

/* ------------------------------------------------------------ parsers */

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

static inprof_status bad(const char *name, const char *value, const char *why) {
  return inprof__fail(INPROF_ERR_INVALID, "invalid %s=\"%s\": %s", name, value, why);
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

static inprof_status env_U32(const char *name, uint64_t min, uint64_t max,
                             uint32_t *out) {
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  uint64_t n;
  if (parse_u64(v, &n) != 0 || n < min || n > max) {
    char why[96];
    snprintf(why, sizeof why, "expected an integer from %u to %u", (unsigned)min,
             (unsigned)max);
    return bad(name, v, why);
  }
  *out = (uint32_t)n;
  return INPROF_OK;
}

static inprof_status env_BYTES(const char *name, uint64_t min, uint64_t max,
                               uint64_t *out) {
  (void)min; /* 0: off */
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  uint64_t n;
  if (parse_u64(v, &n) != 0 || n > max) {
    char why[96];
    snprintf(why, sizeof why, "expected bytes from 0 (off) to %llu",
             (unsigned long long)max);
    return bad(name, v, why);
  }
  *out = n;
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

static inprof_status env_BOOL(const char *name, uint64_t min, uint64_t max,
                              uint32_t *out) {
  (void)min, (void)max;
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  int b;
  if (parse_bool(v, &b) != 0) return bad(name, v, "expected true or false");
  *out = (uint32_t)b;
  return INPROF_OK;
}

static inprof_status env_UPLOAD(const char *name, uint64_t min, uint64_t max,
                                uint32_t *out) {
  (void)min, (void)max;
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  int b;
  if (!strcasecmp(v, "auto"))
    *out = INPROF_UPLOAD_AUTO;
  else if (parse_bool(v, &b) == 0)
    *out = b ? INPROF_UPLOAD_ON : INPROF_UPLOAD_OFF;
  else
    return bad(name, v, "expected auto, true or false");
  return INPROF_OK;
}

/* Seconds, possibly fractional ("60", "0.5"), to milliseconds. */
static inprof_status env_PERIOD(const char *name, uint64_t min_ms, uint64_t max_ms,
                                uint32_t *out_ms) {
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  errno = 0;
  char *end;
  double secs = strtod(v, &end);
  while (*end == ' ') end++;
  if (errno || end == v || *end || !isfinite(secs))
    return bad(name, v, "expected a number of seconds, e.g. 60 or 0.5");
  double ms = secs * 1000.0;
  if (ms < (double)min_ms || ms > (double)max_ms) {
    char why[96];
    snprintf(why, sizeof why, "expected seconds from %g to %g", (double)min_ms / 1000.0,
             (double)max_ms / 1000.0);
    return bad(name, v, why);
  }
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

static inprof_status env_SIGNAL(const char *name, uint64_t min, uint64_t max,
                                int32_t *out) {
  (void)min, (void)max;
  const char *v = env_nonempty(name);
  if (v && parse_signal(v, out) != 0)
    return bad(name, v, "expected a signal name such as SIGPROF or SIGRTMIN+3, or a number");
  return INPROF_OK;
}

static inprof_status env_LOG_LEVEL(const char *name, uint64_t min, uint64_t max,
                                   uint32_t *out) {
  (void)min;
  const char *v = env_nonempty(name);
  if (!v) return INPROF_OK;
  static const char *names[] = {"off", "error", "warn", "info", "debug"};
  for (uint32_t i = 0; i < 5; i++)
    if (!strcasecmp(v, names[i])) return *out = i, INPROF_OK;
  if (!strcasecmp(v, "warning")) return *out = INPROF__LOG_WARN, INPROF_OK;
  uint64_t n;
  if (parse_u64(v, &n) == 0 && n <= max) return *out = (uint32_t)n, INPROF_OK;
  return bad(name, v, "expected off, error, warn, info or debug");
}

static inprof_status env_STR(const char *name, uint64_t min, uint64_t max,
                             const char **out) {
  (void)min, (void)max;
  const char *v = env_nonempty(name);
  if (v) *out = v;
  return INPROF_OK;
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

static inprof_status env_AGENT_URL(const char *name, uint64_t min, uint64_t max,
                                   const char **out) {
  (void)min, (void)max;
  const char *v = env_nonempty(name);
  if (v) {
    *out = v;
    return INPROF_OK;
  }
  const char *host = env_nonempty("DD_AGENT_HOST");
  const char *port = env_nonempty("DD_TRACE_AGENT_PORT");
  if (port) {
    uint64_t p;
    if (parse_u64(port, &p) != 0 || p < 1 || p > 65535)
      return bad("DD_TRACE_AGENT_PORT", port, "expected a port from 1 to 65535");
  }
  if (!host && !port) return INPROF_OK;
  if (host && strpbrk(host, "/ ?#@"))
    return bad("DD_AGENT_HOST", host, "expected a host name or IP address");
  *out = agent_url_from_parts(host ? host : INPROF__DEFAULT_AGENT_HOST,
                              port ? port : INPROF__DEFAULT_AGENT_PORT);
  if (!*out)
    return inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory building the agent URL");
  return INPROF_OK;
}

INPROF_EXPORT inprof_status inprof_config_from_env(inprof_config *cfg) {
  if (!cfg || cfg->struct_size < sizeof(inprof_config))
    return inprof__fail(cfg ? INPROF_ERR_VERSION : INPROF_ERR_INVALID,
                        "inprof_config_from_env: cfg is NULL or not initialized "
                        "with inprof_config_init");
  inprof_status st;
#define OPT_FROM_ENV(type, env, field, min, max, def) \
  if ((st = env_##type(env, min, max, &cfg->field)) != INPROF_OK) return st;
  INPROF__OPTIONS(OPT_FROM_ENV)
#undef OPT_FROM_ENV
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
  return inprof__fail(INPROF_ERR_INVALID, "invalid inprof_config.%s = %llu: expected %llu to %llu",
                      field, (unsigned long long)v, (unsigned long long)min,
                      (unsigned long long)max);
}

INPROF__HIDDEN void inprof__settings_free(inprof__settings *s) {
#define OPT_FREE_STR(field) \
  free(s->field);          \
  s->field = NULL;
#define OPT_FREE_NONE(field)
#define OPT_FREE(type, env, field, min, max, def) \
  OPT_IF(INPROF__OPT_STRING_##type, OPT_FREE_STR, OPT_FREE_NONE)(field)
  INPROF__OPTIONS(OPT_FREE)
#undef OPT_FREE
#undef OPT_FREE_STR
#undef OPT_FREE_NONE
}

INPROF__HIDDEN inprof_status inprof__settings_from_config(const inprof_config *cfg,
                                                          inprof__settings *out) {
  memset(out, 0, sizeof *out);
  if (cfg->struct_size != sizeof(inprof_config))
    return inprof__fail(INPROF_ERR_VERSION,
                        "inprof_config.struct_size is %u, this library expects %zu: "
                        "initialize the struct with inprof_config_init()",
                        cfg->struct_size, sizeof(inprof_config));
  inprof_status st;
#define OPT_RANGE_CHECK(field, min, max) \
  if ((st = field_range(#field, cfg->field, min, max)) != INPROF_OK) return st;
#define OPT_RANGE_NONE(field, min, max)
#define OPT_RANGE(type, env, field, min, max, def) \
  OPT_IF(INPROF__OPT_RANGED_##type, OPT_RANGE_CHECK, OPT_RANGE_NONE)(field, min, max)
  INPROF__OPTIONS(OPT_RANGE)
#undef OPT_RANGE
  int32_t sig = cfg->cpu_signal ? cfg->cpu_signal : SIGPROF;
  if (sig < 1 || sig > SIGRTMAX || sig == SIGKILL || sig == SIGSTOP ||
      sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)
    return inprof__fail(INPROF_ERR_INVALID,
                        "invalid inprof_config.cpu_signal = %d: not a usable signal",
                        (int)cfg->cpu_signal);

  int oom = 0;
#define OPT_COPY_STR(field) oom |= dup_opt(cfg->field, &out->field);
#define OPT_COPY_VALUE(field) out->field = cfg->field;
#define OPT_COPY(type, env, field, min, max, def) \
  OPT_IF(INPROF__OPT_STRING_##type, OPT_COPY_STR, OPT_COPY_VALUE)(field)
  INPROF__OPTIONS(OPT_COPY)
#undef OPT_COPY
  if (!out->service) oom |= dup_opt(inprof__service_or_default(NULL), &out->service);
  if (oom) {
    inprof__settings_free(out);
    return inprof__fail(INPROF_ERR_NO_MEMORY, "out of memory copying the configuration");
  }
  out->cpu_signal = sig;
  if (cfg->upload == INPROF_UPLOAD_ON)
    out->upload = 1;
  else if (cfg->upload == INPROF_UPLOAD_OFF)
    out->upload = 0;
  else
    out->upload = (out->agent_url || out->agentless || !out->output_dir) ? 1 : 0;
  return INPROF_OK;
}
