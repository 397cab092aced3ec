/*
 * config/settings.h - inprof__settings: the validated, self-owned
 * configuration every module reads, made from an inprof_config at start.
 */
#ifndef INPROF__CONFIG_SETTINGS_H
#define INPROF__CONFIG_SETTINGS_H

#include <stdint.h>

#include "config/options.h"

/* Each option's index in INPROF__OPTIONS: INPROF__OPT_cpu_hz... */
enum {
#define INPROF__OPT_INDEX(type, env, field, min, max, def) INPROF__OPT_##field,
  INPROF__OPTIONS(INPROF__OPT_INDEX)
#undef INPROF__OPT_INDEX
  INPROF__OPT_COUNT
};

/*
 * One field per option of config/options.h, of the option type's C type;
 * every string owned (strdup) or NULL. Resolved at copy time:
 *   cpu_signal  never 0 (SIGPROF when unset)
 *   service     never NULL (inprof__service_or_default)
 *   agent_url   NULL: the exporter uses its default
 *   upload      1 upload, 0 do not (INPROF_UPLOAD_AUTO decided)
 */
typedef struct inprof__settings {
#define INPROF__OPT_SETTINGS_FIELD(type, env, field, min, max, def) \
  INPROF__OPT_CTYPE_##type field;
  INPROF__OPTIONS(INPROF__OPT_SETTINGS_FIELD)
#undef INPROF__OPT_SETTINGS_FIELD
  /*
   * Bit (1u << INPROF__OPT_<field>) set: the string came from its
   * environment variable (cfg pointed into the environment), so a later
   * check names the variable rather than the inprof_config field. Numbers
   * are never marked: the environment parser checks them completely.
   */
  uint32_t from_env;
  /* agent_url was built from DD_AGENT_HOST and DD_TRACE_AGENT_PORT. */
  uint32_t agent_url_from_parts;
} inprof__settings;

/* Copies and validates cfg into out. On error sets the last error. */
INPROF__HIDDEN inprof_status inprof__settings_from_config(const inprof_config *cfg,
                                                          inprof__settings *out);
INPROF__HIDDEN void inprof__settings_free(inprof__settings *s);
/* The effective configuration as a JSON object keyed by environment name
 * ({"INPROF_CPU_HZ":99,...}), secrets shown only as "<set>"; malloc'ed or
 * NULL. For Datadog's event.json "info" (export/dd_event.c). */
INPROF__HIDDEN char *inprof__settings_json(const inprof__settings *s);

/*
 * Sets the last error for a bad value of option opt (INPROF__OPT_<field>)
 * of s and returns INPROF_ERR_INVALID. The message names what the user set:
 *   invalid DD_TRACE_AGENT_URL="ftp://x": why           (from the environment)
 *   invalid inprof_config.agent_url = "ftp://x" (DD_TRACE_AGENT_URL): why
 * value NULL leaves the value out (secrets); unprintable bytes are escaped.
 */
INPROF__HIDDEN inprof_status inprof__settings_invalid(const inprof__settings *s, int opt,
                                                      const char *value, const char *why_fmt,
                                                      ...) __attribute__((format(printf, 4, 5)));

/* For tests that run the parser many times: frees the agent URLs that
 * inprof_config_from_env built from DD_AGENT_HOST and DD_TRACE_AGENT_PORT.
 * Only when no inprof_config still points at one. */
INPROF__HIDDEN void inprof__config_release_agent_urls(void);

#endif
