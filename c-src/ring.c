/*
 * ring.c - owns the sample ring: a bounded multi-producer, single-consumer
 * queue of fixed-size sample slots, preallocated at start.
 *
 * Producers are signal handlers and allocation hooks on any thread; they
 * never wait: a full ring makes reserve() return NULL and the caller counts
 * a drop. Each slot carries a sequence number (Vyukov's bounded queue): a
 * producer owns slot i once it moves `head` past i, and publishes it by
 * setting seq = i + 1; the consumer frees it by setting seq = i + capacity.
 * Only lock-free atomics are used, so reserve/commit are async-signal-safe.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

typedef struct slot_header {
  _Atomic uint64_t seq;
  uint64_t pad;                /* keeps the sample 16-byte aligned */
} slot_header;

struct inprof__ring {
  _Atomic uint64_t head;       /* next position to reserve */
  char pad0[56];               /* producers and the consumer on separate lines */
  uint64_t tail;               /* next position to consume (consumer only) */
  uint64_t mask;
  size_t stride;               /* bytes per slot: header + sample + frames */
  uint32_t max_frames;
  size_t mapped;
  unsigned char *slots;
};

static slot_header *slot_at(const inprof__ring *r, uint64_t pos) {
  return (slot_header *)(r->slots + (size_t)(pos & r->mask) * r->stride);
}

static inprof__sample *sample_of(slot_header *h) { return (inprof__sample *)(h + 1); }

INPROF_HIDDEN inprof__ring *inprof__ring_new(uint32_t capacity, uint32_t max_frames) {
  if (capacity < 2) capacity = 2;
  uint64_t cap = 1;
  while (cap < capacity) cap <<= 1;
  inprof__ring *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->stride = sizeof(slot_header) + sizeof(inprof__sample) +
              (size_t)max_frames * sizeof(uintptr_t);
  r->stride = (r->stride + 63) & ~(size_t)63;
  r->mask = cap - 1;
  r->max_frames = max_frames;
  r->mapped = (size_t)cap * r->stride;
  /* mmap rather than malloc: the memory is touched only as slots are used,
   * and an allocator hook never sees it. */
  void *m = mmap(NULL, r->mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (m == MAP_FAILED) {
    free(r);
    return NULL;
  }
  r->slots = m;
  for (uint64_t i = 0; i < cap; i++) atomic_init(&slot_at(r, i)->seq, i);
  atomic_init(&r->head, 0);
  return r;
}

INPROF_HIDDEN void inprof__ring_free(inprof__ring *r) {
  if (!r) return;
  munmap(r->slots, r->mapped);
  free(r);
}

INPROF_HIDDEN uint32_t inprof__ring_max_frames(const inprof__ring *r) {
  return r->max_frames;
}

INPROF_HIDDEN inprof__sample *inprof__ring_reserve(inprof__ring *r) {
  uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
  for (;;) {
    slot_header *h = slot_at(r, pos);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
    int64_t diff = (int64_t)(seq - pos);
    if (diff == 0) {
      if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
                                                memory_order_relaxed,
                                                memory_order_relaxed)) {
        inprof__sample *s = sample_of(h);
        h->pad = pos;          /* remembered for commit */
        return s;
      }
      /* pos was reloaded by the failed CAS: retry */
    } else if (diff < 0) {
      return NULL;             /* the slot is still unconsumed: full */
    } else {
      pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    }
  }
}

INPROF_HIDDEN void inprof__ring_commit(inprof__ring *r, inprof__sample *s) {
  (void)r;
  slot_header *h = (slot_header *)s - 1;
  atomic_store_explicit(&h->seq, h->pad + 1, memory_order_release);
}

INPROF_HIDDEN inprof__sample *inprof__ring_peek(inprof__ring *r) {
  slot_header *h = slot_at(r, r->tail);
  uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
  return seq == r->tail + 1 ? sample_of(h) : NULL;
}

INPROF_HIDDEN void inprof__ring_release(inprof__ring *r) {
  slot_header *h = slot_at(r, r->tail);
  atomic_store_explicit(&h->seq, r->tail + r->mask + 1, memory_order_release);
  r->tail++;
}
