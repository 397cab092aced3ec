/*
 * base/sync.c - see base/sync.h.
 */
#include <errno.h>

#include "base/clock.h"
#include "base/sync.h"

INPROF__HIDDEN int inprof__sync_init(pthread_mutex_t *mu, pthread_cond_t *cond,
                                     pthread_cond_t *cond2) {
  pthread_condattr_t ca;
  int err = pthread_condattr_init(&ca);
  if (err) return err;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if ((err = pthread_mutex_init(mu, NULL)) != 0) goto out;
  if ((err = pthread_cond_init(cond, &ca)) != 0) {
    pthread_mutex_destroy(mu);
    goto out;
  }
  if (cond2 && (err = pthread_cond_init(cond2, &ca)) != 0) {
    pthread_cond_destroy(cond);
    pthread_mutex_destroy(mu);
  }
out:
  pthread_condattr_destroy(&ca);
  return err;
}

INPROF__HIDDEN void inprof__sync_destroy(pthread_mutex_t *mu, pthread_cond_t *cond,
                                         pthread_cond_t *cond2) {
  pthread_mutex_destroy(mu);
  pthread_cond_destroy(cond);
  if (cond2) pthread_cond_destroy(cond2);
}

INPROF__HIDDEN int inprof__sync_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu,
                                           uint64_t deadline_ns) {
  struct timespec ts = inprof__ns_to_timespec(deadline_ns);
  return pthread_cond_timedwait(cond, mu, &ts) == ETIMEDOUT ? ETIMEDOUT : 0;
}
