/*
 * sample/ring.c - the ring's allocation and its consumer side (the
 * collector); the producer side is inline in sample/ring.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sample/ring.h"

static inprof__sample *sample_of(inprof__ring_slot *h) { return (inprof__sample *)(h + 1); }

INPROF__HIDDEN inprof__ring *inprof__ring_new(uint32_t capacity, uint32_t max_frames) {
  if (capacity < 2) capacity = 2;
  uint64_t cap = 1;
  while (cap < capacity) cap <<= 1;
  inprof__ring *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->stride = sizeof(inprof__ring_slot) + sizeof(inprof__sample) +
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
  for (uint64_t i = 0; i < cap; i++) atomic_init(&inprof__ring_slot_at(r, i)->seq, i);
  atomic_init(&r->head, 0);
  /* No consumer to wake until one asks: the mark is out of reach. */
  r->notify_fd = -1;
  atomic_init(&r->notify_at, UINT64_MAX);
  atomic_init(&r->notify_sent, 0);
  return r;
}

INPROF__HIDDEN void inprof__ring_free(inprof__ring *r) {
  if (!r) return;
  munmap(r->slots, r->mapped);
  free(r);
}

INPROF__HIDDEN inprof__sample *inprof__ring_peek(inprof__ring *r) {
  inprof__ring_slot *h = inprof__ring_slot_at(r, r->tail);
  uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
  return seq == r->tail + 1 ? sample_of(h) : NULL;
}

INPROF__HIDDEN void inprof__ring_release(inprof__ring *r) {
  inprof__ring_slot *h = inprof__ring_slot_at(r, r->tail);
  atomic_store_explicit(&h->seq, r->tail + r->mask + 1, memory_order_release);
  r->tail++;
}

INPROF__HIDDEN void inprof__ring_set_notify(inprof__ring *r, int fd, uint32_t mark) {
  if (mark < 1) mark = 1;
  if (mark > r->mask + 1) mark = (uint32_t)(r->mask + 1);
  r->notify_fd = fd;
  r->notify_mark = mark;
  inprof__ring_rearm(r);
}

INPROF__HIDDEN int inprof__ring_rearm(inprof__ring *r) {
  if (r->notify_fd < 0) return 0;
  /* Mark first, then clear the flag, then look at head: a producer that
   * committed past the new mark while the flag was still set did not
   * write, and the head check below sees its sample instead. */
  atomic_store(&r->notify_at, r->tail + r->notify_mark - 1);
  atomic_store(&r->notify_sent, 0);
  return atomic_load(&r->head) - r->tail >= r->notify_mark;
}
