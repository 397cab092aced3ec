/*
 * config/settings.h - inprof__settings: the validated, self-owned
 * configuration every module reads, made from an inprof_config at start.
 */
#ifndef INPROF__CONFIG_SETTINGS_H
#define INPROF__CONFIG_SETTINGS_H

#include <stdint.h>

#include "config/options.h"

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
} inprof__settings;

/* Copies and validates cfg into out. On error sets the last error. */
INPROF__HIDDEN inprof_status inprof__settings_from_config(const inprof_config *cfg,
                                                          inprof__settings *out);
INPROF__HIDDEN void inprof__settings_free(inprof__settings *s);

#endif
