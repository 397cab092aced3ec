/*
 * export/http.h - Datadog uploads as the collector sees them: start (with
 * validation), submit (never blocks), stop (bounded). The pieces live in
 * export/dd_event.c, http_dest.c, http_queue.c and http_transfer.c.
 */
#ifndef INPROF__EXPORT_HTTP_H
#define INPROF__EXPORT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "config/settings.h"
#include "export/dd_event.h"

/* Validates destinations (URLs, API key) and starts the upload thread. */
INPROF__HIDDEN inprof_status inprof__http_start(const inprof__settings *s);
/* Queues a copy of an uncompressed pprof for upload; never blocks. */
INPROF__HIDDEN void inprof__http_submit(const uint8_t *pprof, size_t len,
                                        const inprof__upload_meta *meta);
/* Uploads what is queued, then stops the thread; returns by deadline_ns
 * (MONOTONIC): 1 if a queued profile was given up at the deadline (the
 * thread was still uploading, or aborted or skipped an upload), else 0. */
INPROF__HIDDEN int inprof__http_stop(uint64_t deadline_ns);
/* Fork, in the child only: forgets the parent's queue and upload thread. */
INPROF__HIDDEN void inprof__http_atfork_child(void);
/* The URL uploads go to once start has validated s (a copy); NULL if not running. */
INPROF__HIDDEN char *inprof__http_current_url(void);

#endif
