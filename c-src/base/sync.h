/*
 * base/sync.h - the mutex + CLOCK_MONOTONIC condition variable pairs the
 * library's threads wait on, and the one timed wait (until an absolute
 * monotonic deadline, so wall-clock jumps never stretch a timeout).
 */
#ifndef INPROF__BASE_SYNC_H
#define INPROF__BASE_SYNC_H

#include <pthread.h>
#include <stdint.h>

#include "base/common.h"

/* Initializes mu and one or two condvars (cond2 may be NULL) on
 * CLOCK_MONOTONIC. Returns 0 or an errno value. */
INPROF__HIDDEN int inprof__sync_init(pthread_mutex_t *mu, pthread_cond_t *cond,
                                     pthread_cond_t *cond2);
INPROF__HIDDEN void inprof__sync_destroy(pthread_mutex_t *mu, pthread_cond_t *cond,
                                         pthread_cond_t *cond2);
/* pthread_cond_timedwait until deadline_ns (CLOCK_MONOTONIC); ETIMEDOUT once
 * the deadline has passed, else 0. */
INPROF__HIDDEN int inprof__sync_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu,
                                           uint64_t deadline_ns);

#endif
