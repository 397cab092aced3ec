/*
 * export/dd_event.h - what Datadog's intake wants to know about a profile
 * besides the pprof: event.json, the profiler tags, the runtime id, the
 * container id, RFC 3339 times.
 */
#ifndef INPROF__EXPORT_DD_EVENT_H
#define INPROF__EXPORT_DD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "config/settings.h"

/* One profile's upload: its period and number. */
typedef struct inprof__upload_meta {
  uint64_t start_ns, end_ns;   /* CLOCK_REALTIME */
  uint64_t seq;
} inprof__upload_meta;

/* "2026-11-29T15:00:00.123456789Z" from CLOCK_REALTIME ns; out >= 32 bytes. */
INPROF__HIDDEN void inprof__http_rfc3339(uint64_t ns, char *out, size_t len);

/* The first 64-hex container id in a /proc/self/cgroup text, or 0. */
INPROF__HIDDEN int inprof__http_container_id(const char *cgroup_text, char out[65]);
/* This process's container id from /proc/self/cgroup, "" if none. */
INPROF__HIDDEN void inprof__dd_read_container_id(char out[65]);

/* This process's runtime-id (UUID v4), stable for the life of the process. */
INPROF__HIDDEN const char *inprof__http_runtime_id(void);

/* tags_profiler without profile_seq (which changes per upload); malloc'ed,
 * NULL when out of memory. */
INPROF__HIDDEN char *inprof__dd_tags(const inprof__settings *s);
/* event.json for one upload with tags from inprof__dd_tags; malloc'ed or NULL. */
INPROF__HIDDEN char *inprof__dd_event_json(const char *tags, const inprof__upload_meta *meta);

/*
 * event.json for one upload with the tags of settings s; malloc'ed, NUL
 * terminated, NULL when out of memory.
 */
INPROF__HIDDEN char *inprof__http_event_json(const inprof__settings *s,
                                             const inprof__upload_meta *meta);

#endif
