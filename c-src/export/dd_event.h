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
/* Datadog-Entity-ID from a /proc/self/cgroup text: "ci-<container id>",
 * else "in-<inode of the cgroup directory under cgroup_root>"; 0 and ""
 * when neither is known. */
#define INPROF__ENTITY_ID_MAX 96
INPROF__HIDDEN int inprof__dd_entity_id(const char *cgroup_text, const char *cgroup_root,
                                        char out[INPROF__ENTITY_ID_MAX]);
/* This process's entity id (/proc/self/cgroup, /sys/fs/cgroup), "" if none. */
INPROF__HIDDEN void inprof__dd_read_entity_id(char out[INPROF__ENTITY_ID_MAX]);
/* This process's container id from /proc/self/cgroup, "" if none. */
INPROF__HIDDEN void inprof__dd_read_container_id(char out[65]);

/* This process's runtime-id (UUID v4), stable for the life of the process. */
INPROF__HIDDEN const char *inprof__http_runtime_id(void);

/* tags_profiler without profile_seq (which changes per upload); malloc'ed,
 * NULL when out of memory. */
INPROF__HIDDEN char *inprof__dd_tags(const inprof__settings *s);
/*
 * Takes the current period's endpoint hit counts (inprof_count_endpoint,
 * sample/context.c) for the upload numbered seq: its event.json then has
 * them as "endpoint_counts". Collector thread, once per export.
 */
INPROF__HIDDEN void inprof__dd_endpoint_counts_seal(uint64_t seq);

/* process_tags: "entrypoint.name:<exe>,entrypoint.type:executable,
 * entrypoint.workdir:<cwd's last component>"; malloc'ed or NULL. */
INPROF__HIDDEN char *inprof__dd_process_tags(void);

/* What stays the same for every upload of a process, computed once. */
typedef struct inprof__dd_static {
  char *tags;                  /* inprof__dd_tags */
  char *process_tags;          /* inprof__dd_process_tags */
  char *settings_json;         /* inprof__settings_json: info.profiler.settings */
} inprof__dd_static;
/* 0, or -1 (out of memory) with nothing left allocated. */
INPROF__HIDDEN int inprof__dd_static_init(inprof__dd_static *st, const inprof__settings *s);
INPROF__HIDDEN void inprof__dd_static_free(inprof__dd_static *st);

/* event.json for one upload; malloc'ed or NULL. "endpoint_counts" is the
 * object sealed for meta->seq, or null; "internal" holds the library's
 * version and counters at this moment; "info" the effective settings. */
INPROF__HIDDEN char *inprof__dd_event_json(const inprof__dd_static *st,
                                           const inprof__upload_meta *meta);

/*
 * event.json for one upload with the tags of settings s; malloc'ed, NUL
 * terminated, NULL when out of memory.
 */
INPROF__HIDDEN char *inprof__http_event_json(const inprof__settings *s,
                                             const inprof__upload_meta *meta);

#endif
