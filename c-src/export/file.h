/*
 * export/file.h - pprof files on local disk.
 */
#ifndef INPROF__EXPORT_FILE_H
#define INPROF__EXPORT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

/* Checks that dir exists and is writable (at start). Sets the last error. */
INPROF__HIDDEN inprof_status inprof__file_check_dir(const char *dir);
/* gzip(pprof) -> <dir>/<service>-<pid>-<seq>.pprof.gz via temp + rename, 0600. */
INPROF__HIDDEN int inprof__file_write(const char *dir, const char *service,
                                      uint64_t seq, const uint8_t *pprof,
                                      size_t len);

#endif
