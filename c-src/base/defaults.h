/*
 * base/defaults.h - defaults and fixed names used by more than one module,
 * defined once: the version string, the service name rule, upload timeouts,
 * the default destinations, and the name prefix of the profiler's threads.
 */
#ifndef INPROF__BASE_DEFAULTS_H
#define INPROF__BASE_DEFAULTS_H

#include "base/common.h"

#define INPROF__STR_(x) #x
#define INPROF__STR(x) INPROF__STR_(x)
/* "0.1.0", from the public header's version numbers. */
#define INPROF__VERSION_STR                                                    \
  INPROF__STR(INPROF_VERSION_MAJOR) "." INPROF__STR(INPROF_VERSION_MINOR) "." \
      INPROF__STR(INPROF_VERSION_PATCH)

/* The service name when neither DD_SERVICE nor the program name is known. */
#define INPROF__SERVICE_FALLBACK "unnamed-native-service"

/* Upload timeouts, milliseconds. */
#define INPROF__DEFAULT_CONNECT_TIMEOUT_MS 3000u
#define INPROF__DEFAULT_UPLOAD_TIMEOUT_MS 10000u
#define INPROF__TIMEOUT_MAX_MS 600000u

/* Where uploads go when nothing else is configured. */
#define INPROF__DEFAULT_AGENT_HOST "localhost"
#define INPROF__DEFAULT_AGENT_PORT "8126"
#define INPROF__DEFAULT_AGENT_URL \
  "http://" INPROF__DEFAULT_AGENT_HOST ":" INPROF__DEFAULT_AGENT_PORT
#define INPROF__DEFAULT_SITE "datadoghq.com"

/* Threads named "inprof-*" (the collector, the uploader) are never sampled. */
#define INPROF__THREAD_PREFIX "inprof-"

/*
 * The default service rule: the configured name when non-empty, else the
 * program's name, else INPROF__SERVICE_FALLBACK.
 */
static inline const char *inprof__service_or_default(const char *service) {
  extern char *program_invocation_short_name;
  if (service && *service) return service;
  if (program_invocation_short_name && *program_invocation_short_name)
    return program_invocation_short_name;
  return INPROF__SERVICE_FALLBACK;
}

#endif
