/*
 * export/http_dest.h - an upload destination, validated from the settings.
 */
#ifndef INPROF__EXPORT_HTTP_DEST_H
#define INPROF__EXPORT_HTTP_DEST_H

#include "base/common.h"
#include "config/settings.h"

typedef struct inprof__http_dest {
  char *url;          /* full endpoint URL */
  char *unix_path;    /* agent over a unix socket, else NULL */
  char *ca_bundle;    /* NULL: the system's */
  char *api_key_hdr;  /* "DD-API-KEY: ..." agentless only; wiped on free */
} inprof__http_dest;

/* Validates the destination (URLs, API key, CA bundle) of s into d; on error
 * sets the last error, naming the variable, and leaves d empty. */
INPROF__HIDDEN inprof_status inprof__http_dest_from_settings(const inprof__settings *s,
                                                             inprof__http_dest *d);
INPROF__HIDDEN void inprof__http_dest_free(inprof__http_dest *d);

#endif
