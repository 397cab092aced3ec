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
#include <ctype.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/defaults.h"
#include "base/diag.h"
#include "base/strbuf.h"
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

/* ----------------------------------------------------------- messages */

_Static_assert(INPROF__OPT_COUNT <= 32, "inprof__settings.from_env has 32 bits");

static const char *const opt_env[] = {
#define OPT_ENV_NAME(type, env, field, min, max, def) env,
    INPROF__OPTIONS(OPT_ENV_NAME)
#undef OPT_ENV_NAME
};
static const char *const opt_field[] = {
#define OPT_FIELD_NAME(type, env, field, min, max, def) #field,
    INPROF__OPTIONS(OPT_FIELD_NAME)
#undef OPT_FIELD_NAME
};

#define VALUE_SHOWN_MAX 120

/* The value as typed, quoted, with unprintable bytes as \xNN so that a
 * stray space, tab or newline is visible; long values are cut. */
static void quote(const char *v, char *out, size_t cap) {
  size_t n = 0;
  out[n++] = '"';
  const char *p = v;
  for (; *p && n + 8 < cap && (size_t)(p - v) < VALUE_SHOWN_MAX; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
      n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
    else
      out[n++] = (char)c;
  }
  if (*p) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n++] = '"';
  out[n] = 0;
}

/* "invalid NAME=\"value\": why", the form of every environment error. */
static inprof_status env_invalid(const char *name, const char *value, const char *why) {
  char q[VALUE_SHOWN_MAX * 4 + 16];
  quote(value, q, sizeof q);
  return inprof__fail(INPROF_ERR_INVALID, "invalid %s=%s: %s", name, q, why);
}

/* The form of an error in a value set in code (in an inprof_config field). */
static inprof_status field_invalid(int opt, const char *shown, const char *why) {
  if (shown)
    return inprof__fail(INPROF_ERR_INVALID, "invalid inprof_config.%s = %s (%s): %s",
                        opt_field[opt], shown, opt_env[opt], why);
  return inprof__fail(INPROF_ERR_INVALID, "invalid inprof_config.%s (%s): %s", opt_field[opt],
                      opt_env[opt], why);
}

INPROF__HIDDEN inprof_status inprof__settings_invalid(const inprof__settings *s, int opt,
                                                      const char *value, const char *why_fmt,
                                                      ...) {
  char why[256];
  va_list ap;
  va_start(ap, why_fmt);
  vsnprintf(why, sizeof why, why_fmt, ap);
  va_end(ap);
  if (opt < 0 || opt >= INPROF__OPT_COUNT)
    return inprof__fail(INPROF_ERR_INVALID, "invalid configuration: %s", why);
  char q[VALUE_SHOWN_MAX * 4 + 16];
  if (value) quote(value, q, sizeof q);
  if (opt == INPROF__OPT_agent_url && s->agent_url_from_parts) {
    if (value)
      return inprof__fail(INPROF_ERR_INVALID,
                          "invalid DD_AGENT_HOST/DD_TRACE_AGENT_PORT (agent URL %s): %s", q,
                          why);
    return inprof__fail(INPROF_ERR_INVALID, "invalid DD_AGENT_HOST/DD_TRACE_AGENT_PORT: %s",
                        why);
  }
  if (s->from_env & (1u << opt)) {
    if (value) return env_invalid(opt_env[opt], value, why);
    return inprof__fail(INPROF_ERR_INVALID, "invalid %s: %s", opt_env[opt], why);
  }
  return field_invalid(opt, value ? q : NULL, why);
}

/* ------------------------------------------------------------ parsers */

/* NULL when unset; "" when set but empty (the parsers decide what that means). */
static const char *env_get(const char *name) { return getenv(name); }

static inprof_status env_empty(const char *name, const char *expected) {
  char why[256];
  snprintf(why, sizeof why, "empty value; set %s, or unset the variable for the default",
           expected);
  return env_invalid(name, "", why);
}

/*
 * Plain decimal digits, nothing else: no sign, spaces, 0x, exponent or
 * trailing text. A number too big for 64 bits returns 1 (out of range,
 * the caller says which range); anything else that is not digits, -1.
 */
static int parse_u64(const char *s, uint64_t *out) {
  if (!*s) return -1;
  uint64_t v = 0;
  int overflow = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      overflow = 1;
    else
      v = v * 10 + d;
  }
  if (overflow) return 1;
  *out = v;
  return 0;
}

static inprof_status env_U32(const char *name, uint64_t min, uint64_t max,
                             uint32_t *out) {
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  char what[80], why[96];
  snprintf(what, sizeof what, "an integer from %llu to %llu (decimal digits only)",
           (unsigned long long)min, (unsigned long long)max);
  snprintf(why, sizeof why, "expected %s", what);
  if (!*v) return env_empty(name, what);
  uint64_t n;
  if (parse_u64(v, &n) != 0 || n < min || n > max) return env_invalid(name, v, why);
  *out = (uint32_t)n;
  return INPROF_OK;
}

static inprof_status env_BYTES(const char *name, uint64_t min, uint64_t max,
                               uint64_t *out) {
  (void)min; /* 0: off */
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  char what[80], why[96];
  snprintf(what, sizeof what, "bytes from 0 (off) to %llu (decimal digits only)",
           (unsigned long long)max);
  snprintf(why, sizeof why, "expected %s", what);
  if (!*v) return env_empty(name, what);
  uint64_t n;
  if (parse_u64(v, &n) != 0 || n > max) return env_invalid(name, v, why);
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

/*
 * Another library's name for an option, read (just as strictly, and named
 * in errors) only when the documented name is unset: ddprof spells the
 * timeline switch DD_PROFILING_TIMELINE_ENABLE.
 */
static const char *env_alias(const char *name) {
  static const char *const aliases[][2] = {
      {"DD_PROFILING_TIMELINE_ENABLED", "DD_PROFILING_TIMELINE_ENABLE"}};
  if (env_get(name)) return name;
  for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
    if (!strcmp(name, aliases[i][0]) && env_get(aliases[i][1])) return aliases[i][1];
  return name;
}

static inprof_status env_BOOL(const char *name, uint64_t min, uint64_t max,
                              uint32_t *out) {
  (void)min, (void)max;
  name = env_alias(name);
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  int b;
  if (!*v) return env_empty(name, "true or false");
  if (parse_bool(v, &b) != 0) return env_invalid(name, v, "expected true or false");
  *out = (uint32_t)b;
  return INPROF_OK;
}

static inprof_status env_UPLOAD(const char *name, uint64_t min, uint64_t max,
                                uint32_t *out) {
  (void)min, (void)max;
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  int b;
  if (!*v) return env_empty(name, "auto, true or false");
  if (!strcasecmp(v, "auto"))
    *out = INPROF_UPLOAD_AUTO;
  else if (parse_bool(v, &b) == 0)
    *out = b ? INPROF_UPLOAD_ON : INPROF_UPLOAD_OFF;
  else
    return env_invalid(name, v, "expected auto, true or false");
  return INPROF_OK;
}

/*
 * Seconds as plain decimal digits with an optional fraction ("60", "0.5"),
 * to milliseconds. Exact, without floating point: *ns_out is the value in
 * whole nanoseconds and *more says digits past the ninth made it a little
 * more, so the bounds compare exactly; then it rounds to the nearest ms.
 */
static int parse_seconds_ns(const char *v, uint64_t max_ns, uint64_t *ns_out, int *more) {
  const char *p = v;
  uint64_t secs = 0;
  int big = 0;
  if (*p < '0' || *p > '9') return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (secs > max_ns / 1000000000ull + 1)
      big = 1; /* out of range, but keep checking the syntax */
    else
      secs = secs * 10 + (uint64_t)(*p - '0');
  }
  uint64_t frac = 0, scale = 100000000ull;
  int sticky = 0;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (scale) {
        frac += (uint64_t)(*p - '0') * scale;
        scale /= 10;
      } else if (*p != '0') {
        sticky = 1;
      }
    }
  }
  if (*p) return -1;
  if (big) return 1;
  *ns_out = secs * 1000000000ull + frac;
  *more = sticky;
  return 0;
}

static inprof_status env_PERIOD(const char *name, uint64_t min_ms, uint64_t max_ms,
                                uint32_t *out_ms) {
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  char what[128], why[144];
  snprintf(what, sizeof what,
           "seconds from %llu.%03llu to %llu as digits with an optional fraction, "
           "e.g. 60 or 0.5",
           (unsigned long long)(min_ms / 1000), (unsigned long long)(min_ms % 1000),
           (unsigned long long)(max_ms / 1000));
  snprintf(why, sizeof why, "expected %s", what);
  if (!*v) return env_empty(name, what);
  uint64_t ns, max_ns = max_ms * 1000000ull;
  int more;
  if (parse_seconds_ns(v, max_ns, &ns, &more) != 0 || ns < min_ms * 1000000ull ||
      ns > max_ns || (ns == max_ns && more))
    return env_invalid(name, v, why);
  *out_ms = (uint32_t)((ns + 500000ull) / 1000000ull);
  return INPROF_OK;
}

/* The signals a sampler may not use: they cannot be caught, or they report
 * faults the host must see. */
static int signal_usable(int64_t sig) {
  return sig >= 1 && sig <= SIGRTMAX && sig != SIGKILL && sig != SIGSTOP &&
         sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE;
}

/* "SIGPROF", "PROF", "SIGVTALRM", "SIGRTMIN+3", "SIGUSR2" or a number. */
static int parse_signal(const char *v, int32_t *out) {
  uint64_t n;
  if (*v >= '0' && *v <= '9') {
    if (parse_u64(v, &n) != 0 || n > (uint64_t)SIGRTMAX) return -1;
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
    if (*rest && *rest != '+') return -1;
    if (*rest == '+' && parse_u64(rest + 1, &off) != 0) return -1;
    if (off > (uint64_t)(SIGRTMAX - SIGRTMIN)) return -1;
    *out = (int32_t)(SIGRTMIN + (int)off);
    return 0;
  }
  return -1;
}

#define SIGNAL_EXPECTED \
  "a signal name such as SIGPROF or SIGRTMIN+3, or a number"

static inprof_status env_SIGNAL(const char *name, uint64_t min, uint64_t max,
                                int32_t *out) {
  (void)min, (void)max;
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  if (!*v) return env_empty(name, SIGNAL_EXPECTED);
  int32_t sig;
  if (parse_signal(v, &sig) != 0) return env_invalid(name, v, "expected " SIGNAL_EXPECTED);
  if (!signal_usable(sig))
    return env_invalid(name, v,
                       "not usable for sampling (it cannot be caught or reports a fault); "
                       "expected e.g. SIGPROF or SIGRTMIN+3");
  *out = sig;
  return INPROF_OK;
}

static inprof_status env_LOG_LEVEL(const char *name, uint64_t min, uint64_t max,
                                   uint32_t *out) {
  (void)min;
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  static const char expected[] = "off, error, warn, info or debug (or 0 to 4)";
  if (!*v) return env_empty(name, expected);
  static const char *names[] = {"off", "error", "warn", "info", "debug"};
  for (uint32_t i = 0; i < 5; i++)
    if (!strcasecmp(v, names[i])) return *out = i, INPROF_OK;
  if (!strcasecmp(v, "warning")) return *out = INPROF__LOG_WARN, INPROF_OK;
  uint64_t n;
  if (parse_u64(v, &n) == 0 && n <= max) return *out = (uint32_t)n, INPROF_OK;
  return env_invalid(name, v, "expected off, error, warn, info or debug (or 0 to 4)");
}

static inprof_status env_STR(const char *name, uint64_t min, uint64_t max,
                             const char **out) {
  (void)min, (void)max;
  const char *v = env_get(name);
  if (!v) return INPROF_OK;
  if (!*v) return env_empty(name, "a value");
  *out = v;
  return INPROF_OK;
}

/* Empty is a documented value here: no extra tags, also over tags set in
 * code (settings treat "" as none). */
static inprof_status env_TAGS(const char *name, uint64_t min, uint64_t max,
                              const char **out) {
  (void)min, (void)max;
  const char *v = env_get(name);
  if (v) *out = v;
  return INPROF_OK;
}

/*
 * DD_AGENT_HOST/DD_TRACE_AGENT_PORT become one URL. The string must outlive
 * this call (cfg only borrows strings), so it is kept here, in a list that
 * stays reachable; a new one is made only for a host and port not seen
 * before, which bounds what is kept by what the environment ever held.
 */
typedef struct kept_url {
  struct kept_url *next;
  char url[];
} kept_url;
static pthread_mutex_t agent_url_lock = PTHREAD_MUTEX_INITIALIZER;
static kept_url *agent_urls;

#define AGENT_HOST_MAX 253 /* a DNS name's limit */

static const char *agent_url_from_parts(const char *host, unsigned port) {
  char url[AGENT_HOST_MAX + 32];
  int bracket = strchr(host, ':') != NULL && host[0] != '[';
  snprintf(url, sizeof url, "http://%s%s%s:%u", bracket ? "[" : "", host,
           bracket ? "]" : "", port);
  pthread_mutex_lock(&agent_url_lock);
  kept_url *k = agent_urls;
  while (k && strcmp(k->url, url) != 0) k = k->next;
  if (!k) {
    size_t n = strlen(url) + 1;
    k = malloc(sizeof *k + n);
    if (k) {
      memcpy(k->url, url, n);
      k->next = agent_urls;
      agent_urls = k;
    }
  }
  pthread_mutex_unlock(&agent_url_lock);
  return k ? k->url : NULL;
}

static int is_agent_url_from_parts(const char *p) {
  int found = 0;
  pthread_mutex_lock(&agent_url_lock);
  for (kept_url *k = agent_urls; k && !found; k = k->next) found = k->url == p;
  pthread_mutex_unlock(&agent_url_lock);
  return found;
}

INPROF__HIDDEN void inprof__config_release_agent_urls(void) {
  pthread_mutex_lock(&agent_url_lock);
  kept_url *k = agent_urls;
  agent_urls = NULL;
  pthread_mutex_unlock(&agent_url_lock);
  while (k) {
    kept_url *next = k->next;
    free(k);
    k = next;
  }
}

/* A host name, an IPv4 address or an IPv6 address (bracketed or not): only
 * characters that make a URL with the same host, so the URL built from it
 * cannot be read differently from what the user wrote. */
static int host_ok(const char *h) {
  size_t n = strlen(h);
  if (n == 0 || n > AGENT_HOST_MAX) return 0;
  if (h[0] == '[') {
    if (n < 3 || h[n - 1] != ']') return 0;
    for (size_t i = 1; i + 1 < n; i++)
      if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.') return 0;
    return 1;
  }
  if (strchr(h, ':')) {
    for (const char *p = h; *p; p++)
      if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') return 0;
    return 1;
  }
  for (const char *p = h; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') return 0;
  return 1;
}

static inprof_status env_AGENT_URL(const char *name, uint64_t min, uint64_t max,
                                   const char **out) {
  (void)min, (void)max;
  const char *v = env_get(name);
  if (v && !*v) return env_empty(name, "http://host:port or unix:///path/to/socket");
  if (v) {
    *out = v;
    return INPROF_OK;
  }
  const char *host = env_get("DD_AGENT_HOST");
  const char *port = env_get("DD_TRACE_AGENT_PORT");
  if (host && !*host) return env_empty("DD_AGENT_HOST", "a host name or IP address");
  if (port && !*port) return env_empty("DD_TRACE_AGENT_PORT", "a port from 1 to 65535");
  uint64_t p = strtoul(INPROF__DEFAULT_AGENT_PORT, NULL, 10);
  if (port) {
    if (parse_u64(port, &p) != 0 || p < 1 || p > 65535)
      return env_invalid("DD_TRACE_AGENT_PORT", port,
                         "expected a port from 1 to 65535 (decimal digits only)");
  }
  if (!host && !port) return INPROF_OK;
  if (host && !host_ok(host))
    return env_invalid("DD_AGENT_HOST", host,
                       "expected a host name or IP address (letters, digits, '.', '-', "
                       "'_'; IPv6 with ':'; at most 253 characters)");
  *out = agent_url_from_parts(host ? host : INPROF__DEFAULT_AGENT_HOST, (unsigned)p);
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

static inprof_status field_range(int opt, uint64_t v, uint64_t min, uint64_t max) {
  if (v >= min && v <= max) return INPROF_OK;
  char shown[24], why[64];
  snprintf(shown, sizeof shown, "%llu", (unsigned long long)v);
  snprintf(why, sizeof why, "expected %llu to %llu", (unsigned long long)min,
           (unsigned long long)max);
  return field_invalid(opt, shown, why);
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

/* Secrets are never shown: their value is replaced by "<set>". */
static int is_secret(int opt) { return opt == INPROF__OPT_api_key; }

INPROF__HIDDEN char *inprof__settings_json(const inprof__settings *s) {
  inprof__sb b = {0};
  inprof__sb_str(&b, "{");
  int opt = 0;
#define OPT_JSON_STR(field)                                      \
  if (!s->field) inprof__sb_str(&b, "null");                    \
  else if (is_secret(opt)) inprof__sb_str(&b, "\"<set>\"");     \
  else inprof__sb_json(&b, s->field);
#define OPT_JSON_NUM(field) inprof__sb_fmt(&b, "%lld", (long long)s->field);
#define OPT_JSON(type, env, field, min, max, def)                  \
  inprof__sb_str(&b, opt ? "," : "");                             \
  inprof__sb_json(&b, env);                                       \
  inprof__sb_str(&b, ":");                                        \
  OPT_IF(INPROF__OPT_STRING_##type, OPT_JSON_STR, OPT_JSON_NUM)(field) \
  opt++;
  INPROF__OPTIONS(OPT_JSON)
#undef OPT_JSON
#undef OPT_JSON_STR
#undef OPT_JSON_NUM
  inprof__sb_str(&b, "}");
  return inprof__sb_take(&b);
}

/*
 * inprof_config_from_env leaves cfg's strings pointing into the
 * environment: a string still pointing there came from its variable.
 * (A copy of the same text set in code is the code's, and named so.)
 */
static int string_from_env(const char *env, const char *v) {
  return v && v == getenv(env);
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
  /* The environment parser has checked what came from the environment with
   * the same bounds, so what fails here was set in code: name the field. */
#define OPT_RANGE_CHECK(field, min, max) \
  if ((st = field_range(INPROF__OPT_##field, cfg->field, min, max)) != INPROF_OK) return st;
#define OPT_RANGE_NONE(field, min, max)
#define OPT_RANGE(type, env, field, min, max, def) \
  OPT_IF(INPROF__OPT_RANGED_##type, OPT_RANGE_CHECK, OPT_RANGE_NONE)(field, min, max)
  INPROF__OPTIONS(OPT_RANGE)
#undef OPT_RANGE
  int32_t sig = cfg->cpu_signal ? cfg->cpu_signal : SIGPROF;
  if (!signal_usable(sig)) {
    char shown[16];
    snprintf(shown, sizeof shown, "%d", (int)cfg->cpu_signal);
    return field_invalid(INPROF__OPT_cpu_signal, shown,
                         "not usable for sampling (it cannot be caught or reports a "
                         "fault); expected 0 (SIGPROF), SIGPROF or SIGRTMIN+n");
  }

  int oom = 0;
#define OPT_COPY_STR(field, env)                                         \
  oom |= dup_opt(cfg->field, &out->field);                               \
  if (out->field && string_from_env(env, cfg->field))                    \
    out->from_env |= 1u << INPROF__OPT_##field;
#define OPT_COPY_VALUE(field, env) out->field = cfg->field;
#define OPT_COPY(type, env, field, min, max, def) \
  OPT_IF(INPROF__OPT_STRING_##type, OPT_COPY_STR, OPT_COPY_VALUE)(field, env)
  INPROF__OPTIONS(OPT_COPY)
#undef OPT_COPY
  if (out->agent_url && !(out->from_env & (1u << INPROF__OPT_agent_url)) &&
      is_agent_url_from_parts(cfg->agent_url))
    out->agent_url_from_parts = 1;
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
