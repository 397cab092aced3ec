/*
 * export/http_transfer.h - one upload over libcurl: the multipart request,
 * zstd compression, headers, timeouts, and aborting at the stop deadline.
 * A connection holds what every upload of one profiler run shares; a
 * session holds the upload thread's reusable handles.
 */
#ifndef INPROF__EXPORT_HTTP_TRANSFER_H
#define INPROF__EXPORT_HTTP_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "config/settings.h"
#include "export/dd_event.h"

typedef struct inprof__http_conn inprof__http_conn;
typedef struct inprof__http_session inprof__http_session;

/* Validates the destination and prepares everything an upload needs; NULL
 * with the last error set (and *st the status) on failure. */
INPROF__HIDDEN inprof__http_conn *inprof__http_conn_new(const inprof__settings *s,
                                                        inprof_status *st);
INPROF__HIDDEN void inprof__http_conn_free(inprof__http_conn *c);
INPROF__HIDDEN const char *inprof__http_conn_url(const inprof__http_conn *c);
INPROF__HIDDEN const char *inprof__http_conn_unix_path(const inprof__http_conn *c);
/* From any thread: transfers stop at abort_at_ns (CLOCK_MONOTONIC, non-zero);
 * wakes a transfer waiting on the network so it sees the deadline. */
INPROF__HIDDEN void inprof__http_conn_abort_at(inprof__http_conn *c, uint64_t abort_at_ns);
/* Whether the abort deadline has passed. */
INPROF__HIDDEN int inprof__http_conn_aborted(inprof__http_conn *c);

/* The upload thread's handles; NULL when out of memory (logged). */
INPROF__HIDDEN inprof__http_session *inprof__http_session_new(void);
INPROF__HIDDEN void inprof__http_session_free(inprof__http_session *s);
/* Compresses and uploads one pprof; counts and logs the outcome. */
INPROF__HIDDEN void inprof__http_upload(inprof__http_conn *c, inprof__http_session *s,
                                        const uint8_t *pprof, size_t len,
                                        const inprof__upload_meta *meta);

#endif
