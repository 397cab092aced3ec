/*
 * sample/ring.h - the sample ring: a bounded multi-producer, single-consumer
 * queue of fixed-size sample slots, preallocated at start.
 *
 * Producers are signal handlers (and later allocation hooks) on any thread;
 * they never wait: a full ring makes reserve return NULL and the caller
 * counts a drop. Each slot carries a sequence number (Vyukov's bounded
 * queue): a producer owns slot i once it moves `head` past i, and publishes
 * it by setting seq = i + 1; the consumer frees it by setting
 * seq = i + capacity. The producer side is static inline here so that the
 * signal handler's object file contains all of it (see
 * tests/packaging/check_signal_safe.sh): only lock-free atomics, so
 * reserve/commit are async-signal-safe.
 *
 * Why a fill mark: the consumer (the collector) sleeps for long stretches
 * instead of polling the ring. A producer whose commit reaches the fill mark
 * (notify_at) writes the consumer's eventfd once (notify_sent makes it one
 * write per mark, never one per sample): a raw write(2) through syscall(),
 * which is async-signal-safe. The consumer re-arms the mark after draining.
 */
#ifndef INPROF__SAMPLE_RING_H
#define INPROF__SAMPLE_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/common.h"
#include "sample/sample.h"

typedef struct inprof__ring_slot {
  _Atomic uint64_t seq;
  uint64_t pos;                /* remembered by reserve for commit; keeps
                                  the sample 16-byte aligned */
} inprof__ring_slot;

typedef struct inprof__ring {
  _Atomic uint64_t head;       /* next position to reserve */
  /* Read by producers at each commit, written by the consumer at each
   * re-arm (rare): on the producers' line. */
  _Atomic uint64_t notify_at;  /* a commit at this position or later notifies */
  _Atomic int notify_sent;     /* 1 once notified, until the consumer re-arms */
  int notify_fd;               /* eventfd of the consumer, -1: nobody to wake */
  char pad0[40];               /* producers and the consumer on separate lines */
  uint64_t tail;               /* next position to consume (consumer only) */
  uint64_t notify_mark;        /* consumer only: samples waiting that wake it */
  uint64_t mask;
  size_t stride;               /* bytes per slot: header + sample + frames */
  uint32_t max_frames;
  size_t mapped;
  unsigned char *slots;
} inprof__ring;

/* capacity is rounded up to a power of two; slots hold max_frames frames. */
INPROF__HIDDEN inprof__ring *inprof__ring_new(uint32_t capacity, uint32_t max_frames);
INPROF__HIDDEN void inprof__ring_free(inprof__ring *r);
/* Single consumer: the oldest committed sample or NULL; then release it. */
INPROF__HIDDEN inprof__sample *inprof__ring_peek(inprof__ring *r);
INPROF__HIDDEN void inprof__ring_release(inprof__ring *r);
/* Consumer: wake fd (an eventfd, or -1) once `mark` samples are waiting. */
INPROF__HIDDEN void inprof__ring_set_notify(inprof__ring *r, int fd, uint32_t mark);
/* Consumer, after draining: re-arms the mark past the current tail. Returns
 * 1 when `mark` samples already wait again (drain once more), else 0. */
INPROF__HIDDEN int inprof__ring_rearm(inprof__ring *r);

static inline inprof__ring_slot *inprof__ring_slot_at(const inprof__ring *r, uint64_t pos) {
  return (inprof__ring_slot *)(r->slots + (size_t)(pos & r->mask) * r->stride);
}

static inline uint32_t inprof__ring_max_frames(const inprof__ring *r) {
  return r->max_frames;
}

/* Producer (async-signal-safe, lock-free): a slot to fill, NULL when full. */
static inline inprof__sample *inprof__ring_reserve(inprof__ring *r) {
  uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
  for (;;) {
    inprof__ring_slot *h = inprof__ring_slot_at(r, pos);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
    int64_t diff = (int64_t)(seq - pos);
    if (diff == 0) {
      if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
                                                memory_order_relaxed,
                                                memory_order_relaxed)) {
        h->pos = pos;
        return (inprof__sample *)(h + 1);
      }
      /* pos was reloaded by the failed CAS: retry */
    } else if (diff < 0) {
      return NULL;             /* the slot is still unconsumed: full */
    } else {
      pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    }
  }
}

/* Any context (async-signal-safe): wakes the consumer now. */
static inline void inprof__ring_wake(inprof__ring *r) {
  if (r->notify_fd < 0) return;
  uint64_t one = 1;
  /* eventfd is non-blocking; the handler preserves errno around this. */
  (void)syscall(SYS_write, r->notify_fd, &one, sizeof one);
}

/* Producer: publishes a slot reserve returned; at the fill mark, wakes the
 * consumer once (one relaxed load per sample otherwise). */
static inline void inprof__ring_commit(inprof__ring *r, inprof__sample *s) {
  inprof__ring_slot *h = (inprof__ring_slot *)s - 1;
  uint64_t pos = h->pos;
  atomic_store_explicit(&h->seq, pos + 1, memory_order_release);
  if (pos >= atomic_load_explicit(&r->notify_at, memory_order_relaxed) &&
      !atomic_exchange_explicit(&r->notify_sent, 1, memory_order_acq_rel))
    inprof__ring_wake(r);
}

#endif
