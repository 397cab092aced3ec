/*
 * base/common.h - what every source file of the library shares: the public
 * header, the attribute that keeps internal symbols out of the ABI, and the
 * TLS model that async-signal-safe code needs.
 *
 * Naming: public names are inprof_* / INPROF_*; internal functions and
 * objects are inprof__*, internal macros and enums INPROF__*.
 */
#ifndef INPROF__BASE_COMMON_H
#define INPROF__BASE_COMMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "inprof.h"

#define INPROF__HIDDEN __attribute__((visibility("hidden")))
/* initial-exec: no lazy TLS allocation, so signal handlers and allocator
 * hooks may touch these variables. */
#define INPROF__TLS __attribute__((tls_model("initial-exec")))
#define INPROF__LIKELY(x) __builtin_expect(!!(x), 1)
#define INPROF__UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
