/*
 * export_http.h - pieces of export_http.c that its tests call directly
 * (tests/test_http_*.c). The exporter's real interface is in internal.h.
 */
#ifndef INPROF_EXPORT_HTTP_H
#define INPROF_EXPORT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* "2026-11-29T15:00:00.123456789Z" from CLOCK_REALTIME ns; out >= 32 bytes. */
INPROF_HIDDEN void inprof__http_rfc3339(uint64_t ns, char *out, size_t len);

/* The first 64-hex container id in a /proc/self/cgroup text, or 0. */
INPROF_HIDDEN int inprof__http_container_id(const char *cgroup_text, char out[65]);

/* This process's runtime-id (UUID v4), stable for the life of the process. */
INPROF_HIDDEN const char *inprof__http_runtime_id(void);

/*
 * event.json for one upload with the tags of settings s; malloc'ed, NUL
 * terminated, NULL when out of memory.
 */
INPROF_HIDDEN char *inprof__http_event_json(const inprof__settings *s,
                                            const inprof__upload_meta *meta);

/* The URL uploads go to once start has validated s (a copy); NULL if not running. */
INPROF_HIDDEN char *inprof__http_current_url(void);

#endif
