/*
 * api_owned.h - starting and stopping a session on behalf of an owner other
 * than the program: the preload library's autostart (zero-code mode). While
 * such a session runs, the program's own inprof_start returns
 * INPROF_ERR_RUNNING naming the owner, and its inprof_stop leaves the
 * session running. Defined in api.c; used by zerocode/preload.c.
 */
#ifndef INPROF__API_OWNED_H
#define INPROF__API_OWNED_H

#include "base/common.h"

INPROF__HIDDEN inprof_status inprof__start_owned(const inprof_config *cfg, const char *owner);
INPROF__HIDDEN inprof_status inprof__stop_owned(uint32_t timeout_ms);

#endif
