/*
 * base/status.h - the status codes' one table: each code of inprof.h with
 * the text inprof_strerror returns. Other languages' bindings (the Rust
 * error type) are written from this same list.
 */
#ifndef INPROF__BASE_STATUS_H
#define INPROF__BASE_STATUS_H

#include "base/common.h"

/* X(code, text): in numeric order, code being the inprof.h macro. */
#define INPROF__STATUS_LIST(X)                                                      \
  X(INPROF_OK, "success")                                                           \
  X(INPROF_ERR_INVALID, "invalid argument or configuration value")                  \
  X(INPROF_ERR_RUNNING, "the profiler is already running")                          \
  X(INPROF_ERR_NOT_RUNNING, "the profiler is not running")                          \
  X(INPROF_ERR_SIGNAL_IN_USE, "the profiling signal already has another handler")   \
  X(INPROF_ERR_SYSTEM, "a system call failed")                                      \
  X(INPROF_ERR_NO_MEMORY, "out of memory")                                          \
  X(INPROF_ERR_TIMEOUT, "timed out")                                                \
  X(INPROF_ERR_OUTPUT, "the output directory is missing or not writable")           \
  X(INPROF_ERR_BUSY, "a previous stop has not finished yet")                        \
  X(INPROF_ERR_VERSION, "struct version mismatch")                                 \
  X(INPROF_ERR_LIMIT, "a fixed limit was reached (labels per thread, label table)")

#define INPROF__STATUS_UNKNOWN_TEXT "unknown status"

/* The text of a status, INPROF__STATUS_UNKNOWN_TEXT for others; static. */
INPROF__HIDDEN const char *inprof__status_text(inprof_status status);

#endif
