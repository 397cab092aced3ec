/*
 * config/options.h - every configuration option, declared once.
 *
 * One row per inprof_config field, in the order the environment is read
 * and fields are validated (the first bad value is the one reported):
 *   X(TYPE, "ENV_NAME", field, min, max, default)
 * TYPE picks the parser, the C type of the inprof__settings field and the
 * message a bad value gets; min/max bound numeric fields (checked for both
 * environment values and inprof_config fields); default is what
 * inprof_config_init stores. inprof__settings (config/settings.h),
 * inprof_config_init, inprof_config_from_env, the range checks and the
 * copying into settings are all generated from this table.
 */
#ifndef INPROF__CONFIG_OPTIONS_H
#define INPROF__CONFIG_OPTIONS_H

#include "base/defaults.h"
#include "base/diag.h"

#define INPROF__CPU_HZ_MAX 10000u
#define INPROF__UPLOAD_PERIOD_MIN_MS 10u
#define INPROF__UPLOAD_PERIOD_MAX_MS (24u * 3600u * 1000u)
#define INPROF__HEAP_SAMPLE_BYTES_MAX (1ull << 40)
/* Symbolizer memory cap; 0 = no cap. The default holds a Rust service's
 * line tables but not libc6-dbg's compressed DWARF (about 18 MiB once
 * opened; libc is then named from that file's symbol table). */
#define INPROF__SYMBOLIZER_MAX_MB_LIMIT (1u << 20)
#define INPROF__DEFAULT_SYMBOLIZER_MAX_MB 16u
/* Wall sampler (cpu/wall.c): ticks per second, threads visited per tick. */
#define INPROF__WALL_HZ_MAX 1000u
#define INPROF__WALL_THREADS_PER_TICK_MAX 65536u
#define INPROF__DEFAULT_WALL_THREADS_PER_TICK 16u

/*
 * Types:
 *  BOOL      true/false (1/0, yes/no, on/off...)        uint32_t
 *  U32       decimal integer in [min, max]              uint32_t
 *  BYTES     decimal integer in [min, max]              uint64_t
 *  PERIOD    seconds, fractional, to ms in [min, max]   uint32_t
 *  SIGNAL    SIGPROF, SIGRTMIN+3, a number; 0 = SIGPROF int32_t
 *  STR       a non-empty string                         char *
 *  TAGS      a string; empty means "no extra tags"      char *
 *  AGENT_URL a URL, or built from DD_AGENT_HOST and DD_TRACE_AGENT_PORT
 *  UPLOAD    auto/true/false                            uint32_t
 *  LOG_LEVEL off/error/warn/info/debug or 0-4           uint32_t
 *
 * Environment syntax is strict, so that a typo is reported rather than
 * half-read: an integer is plain decimal digits (no sign, spaces, 0x or
 * exponent; overflow is out of range), a period is digits with an optional
 * fraction ("60", "0.5"), and a set but empty variable is an error except
 * for TAGS (DD_TAGS= says "no extra tags", replacing any set in code).
 * Names and keywords (true, SIGPROF, warn...) are case-insensitive.
 * A few options are also read under another library's name when theirs is
 * unset (config.c's env_alias): DD_PROFILING_TIMELINE_ENABLE (ddprof) for
 * DD_PROFILING_TIMELINE_ENABLED.
 */
#define INPROF__OPTIONS(X)                                                           \
  X(BOOL, "DD_PROFILING_ENABLED", enabled, 0, 1, 1)                                  \
  X(U32, "INPROF_CPU_HZ", cpu_hz, 0, INPROF__CPU_HZ_MAX, INPROF_DEFAULT_CPU_HZ)      \
  X(SIGNAL, "INPROF_CPU_SIGNAL", cpu_signal, 0, 0, 0)                                \
  X(BYTES, "INPROF_HEAP_SAMPLE_BYTES", heap_sample_bytes, 0,                         \
    INPROF__HEAP_SAMPLE_BYTES_MAX, INPROF_DEFAULT_HEAP_SAMPLE_BYTES)                 \
  X(PERIOD, "DD_PROFILING_UPLOAD_PERIOD", upload_period_ms,                          \
    INPROF__UPLOAD_PERIOD_MIN_MS, INPROF__UPLOAD_PERIOD_MAX_MS,                      \
    INPROF_DEFAULT_UPLOAD_PERIOD_MS)                                                 \
  X(U32, "INPROF_MAX_FRAMES", max_frames, 1, INPROF_MAX_FRAMES_LIMIT,                \
    INPROF_DEFAULT_MAX_FRAMES)                                                       \
  X(STR, "DD_SERVICE", service, 0, 0, 0)                                             \
  X(STR, "DD_ENV", env, 0, 0, 0)                                                     \
  X(STR, "DD_VERSION", version, 0, 0, 0)                                             \
  X(TAGS, "DD_TAGS", tags, 0, 0, 0)                                                  \
  X(STR, "INPROF_OUTPUT_DIR", output_dir, 0, 0, 0)                                   \
  X(AGENT_URL, "DD_TRACE_AGENT_URL", agent_url, 0, 0, 0)                             \
  X(BOOL, "DD_PROFILING_AGENTLESS", agentless, 0, 1, 0)                              \
  X(UPLOAD, "INPROF_UPLOAD", upload, 0, 2, INPROF_UPLOAD_AUTO)                       \
  X(STR, "DD_SITE", site, 0, 0, 0)                                                   \
  X(STR, "DD_API_KEY", api_key, 0, 0, 0)                                             \
  X(STR, "INPROF_INTAKE_URL", intake_url, 0, 0, 0)                                   \
  X(STR, "INPROF_CA_BUNDLE", ca_bundle, 0, 0, 0)                                     \
  X(U32, "INPROF_CONNECT_TIMEOUT_MS", connect_timeout_ms, 1, INPROF__TIMEOUT_MAX_MS, \
    INPROF__DEFAULT_CONNECT_TIMEOUT_MS)                                              \
  X(U32, "INPROF_UPLOAD_TIMEOUT_MS", upload_timeout_ms, 1, INPROF__TIMEOUT_MAX_MS,   \
    INPROF__DEFAULT_UPLOAD_TIMEOUT_MS)                                               \
  X(LOG_LEVEL, "INPROF_LOG_LEVEL", log_level, 0, INPROF__LOG_DEBUG, INPROF__LOG_WARN) \
  X(BOOL, "INPROF_INLINED_FRAMES", inlined_frames, 0, 1, 1)                          \
  X(U32, "INPROF_SYMBOLIZER_MAX_MB", symbolizer_max_mb, 0,                           \
    INPROF__SYMBOLIZER_MAX_MB_LIMIT, INPROF__DEFAULT_SYMBOLIZER_MAX_MB)              \
  X(STR, "INPROF_DEBUG_DIRS", debug_dirs, 0, 0, 0)                                   \
  X(BOOL, "DD_PROFILING_TIMELINE_ENABLED", timeline_enabled, 0, 1, 1)                 \
  X(U32, "INPROF_WALL_HZ", wall_hz, 0, INPROF__WALL_HZ_MAX, 0)                       \
  X(U32, "INPROF_WALL_THREADS_PER_TICK", wall_threads_per_tick, 1,                   \
    INPROF__WALL_THREADS_PER_TICK_MAX, INPROF__DEFAULT_WALL_THREADS_PER_TICK)

/* The inprof__settings field type of each option type. */
#define INPROF__OPT_CTYPE_BOOL uint32_t
#define INPROF__OPT_CTYPE_U32 uint32_t
#define INPROF__OPT_CTYPE_BYTES uint64_t
#define INPROF__OPT_CTYPE_PERIOD uint32_t
#define INPROF__OPT_CTYPE_SIGNAL int32_t
#define INPROF__OPT_CTYPE_STR char *
#define INPROF__OPT_CTYPE_TAGS char *
#define INPROF__OPT_CTYPE_AGENT_URL char *
#define INPROF__OPT_CTYPE_UPLOAD uint32_t
#define INPROF__OPT_CTYPE_LOG_LEVEL uint32_t

/* 1 for the option types whose fields carry a [min, max] range. */
#define INPROF__OPT_RANGED_BOOL 1
#define INPROF__OPT_RANGED_U32 1
#define INPROF__OPT_RANGED_BYTES 1
#define INPROF__OPT_RANGED_PERIOD 1
#define INPROF__OPT_RANGED_SIGNAL 0
#define INPROF__OPT_RANGED_STR 0
#define INPROF__OPT_RANGED_TAGS 0
#define INPROF__OPT_RANGED_AGENT_URL 0
#define INPROF__OPT_RANGED_UPLOAD 1
#define INPROF__OPT_RANGED_LOG_LEVEL 1

/* 1 for the option types held as owned strings. */
#define INPROF__OPT_STRING_BOOL 0
#define INPROF__OPT_STRING_U32 0
#define INPROF__OPT_STRING_BYTES 0
#define INPROF__OPT_STRING_PERIOD 0
#define INPROF__OPT_STRING_SIGNAL 0
#define INPROF__OPT_STRING_STR 1
#define INPROF__OPT_STRING_TAGS 1
#define INPROF__OPT_STRING_AGENT_URL 1
#define INPROF__OPT_STRING_UPLOAD 0
#define INPROF__OPT_STRING_LOG_LEVEL 0

#endif
