/*
 * fuzz_config_env.c - the environment parser (inprof_config_from_env) and
 * what start does with its result (inprof__settings_from_config, then the
 * upload destination check) on arbitrary environments.
 *
 * Input: lines NAME=VALUE (a NUL ends a value, as in a real environment),
 * installed as the whole environment. Checked, besides no crash and no leak:
 *  - a rejected environment fails with INPROF_ERR_INVALID and a message
 *    naming a variable that is set, never an inprof_config field;
 *  - an accepted one holds every number in its documented range, every
 *    string as the environment's own pointer, the same result twice, and
 *    is accepted by inprof__settings_from_config (what the environment
 *    parser accepts, start accepts: INPROF_CPU_SIGNAL=9 was not);
 *  - an error of the destination check also names a set variable.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/diag.h"
#include "config/options.h"
#include "config/settings.h"
#include "export/http_dest.h"

extern char **environ;

#define MAX_VARS 64

static const char *const known[] = {
#define ENV_NAME(type, env, field, min, max, def) env,
    INPROF__OPTIONS(ENV_NAME)
#undef ENV_NAME
        "DD_AGENT_HOST",
    "DD_TRACE_AGENT_PORT", NULL};

static char *entries[MAX_VARS + 1];
static size_t nentries;

static void dump_env(void) {
  fprintf(stderr, "environment (%zu variables):\n", nentries);
  for (size_t i = 0; i < nentries; i++) {
    fputs("  ", stderr);
    for (const char *p = entries[i]; *p; p++) {
      unsigned char c = (unsigned char)*p;
      if (c < 0x20 || c >= 0x7f)
        fprintf(stderr, "\\x%02x", c);
      else
        fputc(c, stderr);
    }
    fputc('\n', stderr);
  }
}

#define FUZZ_CHECK(cond, ...)                                      \
  do {                                                             \
    if (!(cond)) {                                                 \
      fprintf(stderr, "fuzz_config_env: failed: %s: ", #cond);     \
      fprintf(stderr, __VA_ARGS__);                                \
      fputc('\n', stderr);                                         \
      dump_env();                                                  \
      abort();                                                     \
    }                                                              \
  } while (0)

/* The message names a variable of ours that is set, and no field. */
static void check_message(const char *what) {
  const char *msg = inprof__last_error();
  FUZZ_CHECK(*msg, "%s: no last error", what);
  int named = 0;
  for (size_t i = 0; known[i] && !named; i++)
    named = getenv(known[i]) && strstr(msg, known[i]);
  FUZZ_CHECK(named, "%s: message names no variable that is set: %s", what, msg);
  FUZZ_CHECK(strncmp(msg, "invalid inprof_config.", 22) != 0,
             "%s: an environment value named as a field: %s", what, msg);
}

/* Files the destination check may open: the fuzzer picks paths, and a
 * fuzzer must not wander the file system. */
static int ca_path_allowed(const char *p) {
  static const char *const ok[] = {"/dev/null", "/dev/zero", "/nonexistent/ca.pem",
                                   "/etc/hostname", "/tmp", "/etc/ssl/certs/ca-certificates.crt",
                                   NULL};
  for (size_t i = 0; ok[i]; i++)
    if (!strcmp(p, ok[i])) return 1;
  return 0;
}

static int in_range(uint64_t v, uint64_t min, uint64_t max) { return v >= min && v <= max; }

static void check(void) {
  inprof__clear_error();
  inprof_config cfg, again;
  inprof_config_init(&cfg);
  inprof_status st = inprof_config_from_env(&cfg);
  if (st != INPROF_OK) {
    FUZZ_CHECK(st == INPROF_ERR_INVALID || st == INPROF_ERR_NO_MEMORY, "status %d", st);
    if (st == INPROF_ERR_INVALID) check_message("inprof_config_from_env");
    return;
  }

  /* Numbers in range. */
#define RANGE_YES(field, min, max)                                                  \
  FUZZ_CHECK(in_range(cfg.field, min, max), #field " = %llu out of range",          \
             (unsigned long long)cfg.field);
#define RANGE_NO(field, min, max)
#define RANGE(type, env, field, min, max, def) \
  RANGE_##type(field, min, max)
#define RANGE_BOOL RANGE_YES
#define RANGE_U32 RANGE_YES
#define RANGE_BYTES RANGE_YES
#define RANGE_PERIOD RANGE_YES
#define RANGE_UPLOAD RANGE_YES
#define RANGE_LOG_LEVEL RANGE_YES
#define RANGE_SIGNAL RANGE_NO
#define RANGE_STR RANGE_NO
#define RANGE_TAGS RANGE_NO
#define RANGE_AGENT_URL RANGE_NO
  INPROF__OPTIONS(RANGE)

  /* Strings are the environment's own, and only set ones. */
#define STRING_YES(env, field)                                                      \
  if (strcmp(env, "DD_TRACE_AGENT_URL") != 0 || getenv(env))                        \
    FUZZ_CHECK(cfg.field == getenv(env), #field " is not the environment's " env);  \
  if (cfg.field && strcmp(env, "DD_TAGS") != 0)                                     \
    FUZZ_CHECK(*cfg.field, #field " is empty");
#define STRING_NO(env, field)
#define STRING(type, env, field, min, max, def) STRING_##type(env, field)
#define STRING_BOOL STRING_NO
#define STRING_U32 STRING_NO
#define STRING_BYTES STRING_NO
#define STRING_PERIOD STRING_NO
#define STRING_UPLOAD STRING_NO
#define STRING_LOG_LEVEL STRING_NO
#define STRING_SIGNAL STRING_NO
#define STRING_STR STRING_YES
#define STRING_TAGS STRING_YES
#define STRING_AGENT_URL STRING_YES
  INPROF__OPTIONS(STRING)
  int from_parts = !getenv("DD_TRACE_AGENT_URL") &&
                   (getenv("DD_AGENT_HOST") || getenv("DD_TRACE_AGENT_PORT"));
  if (from_parts)
    FUZZ_CHECK(cfg.agent_url && !strncmp(cfg.agent_url, "http://", 7),
               "agent URL from host and port: %s", cfg.agent_url ? cfg.agent_url : "(null)");
  else if (!getenv("DD_TRACE_AGENT_URL"))
    FUZZ_CHECK(!cfg.agent_url, "agent URL without any variable");

  /* The same environment, the same result. */
  inprof_config_init(&again);
  FUZZ_CHECK(inprof_config_from_env(&again) == INPROF_OK, "second parse failed");
  FUZZ_CHECK(!memcmp(&cfg, &again, sizeof cfg), "second parse differs");

  /* What the environment parser accepts, start accepts. */
  inprof__settings s;
  st = inprof__settings_from_config(&cfg, &s);
  if (st == INPROF_ERR_NO_MEMORY) return;
  FUZZ_CHECK(st == INPROF_OK, "settings rejected what the environment parser accepted: %s",
             inprof__last_error());
#define ORIGIN_YES(env, field)                                                       \
  if (cfg.field && *cfg.field &&                                                     \
      !(from_parts && INPROF__OPT_##field == INPROF__OPT_agent_url))                 \
    FUZZ_CHECK(s.from_env & (1u << INPROF__OPT_##field), #field " not marked as " env);
#define ORIGIN(type, env, field, min, max, def) STRING_##type##_ORIGIN(env, field)
#define STRING_BOOL_ORIGIN STRING_NO
#define STRING_U32_ORIGIN STRING_NO
#define STRING_BYTES_ORIGIN STRING_NO
#define STRING_PERIOD_ORIGIN STRING_NO
#define STRING_UPLOAD_ORIGIN STRING_NO
#define STRING_LOG_LEVEL_ORIGIN STRING_NO
#define STRING_SIGNAL_ORIGIN STRING_NO
#define STRING_STR_ORIGIN ORIGIN_YES
#define STRING_TAGS_ORIGIN ORIGIN_YES
#define STRING_AGENT_URL_ORIGIN ORIGIN_YES
  INPROF__OPTIONS(ORIGIN)
  if (from_parts) FUZZ_CHECK(s.agent_url_from_parts, "agent URL not marked as built");

  /* The destination check: its errors name a variable too. */
  if (s.ca_bundle && !ca_path_allowed(s.ca_bundle)) {
    free(s.ca_bundle);
    s.ca_bundle = NULL;
  }
  inprof__http_dest d;
  inprof__clear_error();
  st = inprof__http_dest_from_settings(&s, &d);
  if (st == INPROF_OK)
    inprof__http_dest_free(&d);
  else if (st == INPROF_ERR_INVALID)
    check_message("destination");
  else
    FUZZ_CHECK(st == INPROF_ERR_NO_MEMORY, "destination status %d", st);
  inprof__settings_free(&s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  atomic_store(&inprof__log_level, INPROF__LOG_OFF);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  atomic_store(&inprof__log_level, INPROF__LOG_OFF);
  nentries = 0;
  size_t i = 0;
  while (i < size && nentries < MAX_VARS) {
    size_t end = i;
    while (end < size && data[end] != '\n') end++;
    size_t eq = i;
    while (eq < end && data[eq] != '=' && data[eq] != 0) eq++;
    if (eq > i && eq < end && data[eq] == '=') {
      size_t vend = eq + 1;
      while (vend < end && data[vend] != 0) vend++;
      char *e = malloc(vend - i + 1);
      if (!e) break;
      memcpy(e, data + i, vend - i);
      e[vend - i] = 0;
      entries[nentries++] = e;
    }
    i = end + 1;
  }
  entries[nentries] = NULL;
  char **saved = environ;
  environ = entries;
  check();
  environ = saved;
  for (size_t k = 0; k < nentries; k++) free(entries[k]);
  /* No inprof_config points at the URLs built from host and port any more. */
  inprof__config_release_agent_urls();
  return 0;
}

/* For the plain driver's mutator: names and values worth splicing in. */
const char *const *fuzz_tokens(void);
const char *const *fuzz_tokens(void) {
  static const char *const t[] = {
#define TOKEN_NAME(type, env, field, min, max, def) env "=",
      INPROF__OPTIONS(TOKEN_NAME)
#undef TOKEN_NAME
      "DD_AGENT_HOST=", "DD_TRACE_AGENT_PORT=", "\n", "=", "0", "1", "9", "-", "+", " ", "\t",
      ".", "0x", "1e3", "inf", "nan", "SIG", "SIGRTMIN+", "SIGPROF", "RTMIN", "true", "false",
      "auto", "debug", "18446744073709551616", "4294967296", "65536", "99999999999999999999",
      "http://", "https://", "unix://", "[::1]", "::", "%", "@", "?", "#", "/dev/zero", "/tmp",
      "\xff", NULL};
  return t;
}
