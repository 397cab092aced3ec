/*
 * collect/aggregate.c - one period's samples summed by (thread, stack).
 *
 * Used only by the collector thread, so it may allocate. Entries live in one
 * array (insertion order, so visits and the pprof built from them are
 * deterministic) and their frames in one growing arena; an open-addressing
 * index of entry numbers finds them. Both grow on demand up to max_stacks and
 * are kept across resets so a steady workload stops allocating.
 * inprof__agg_dropped counts adds refused since the last reset (a new key
 * past max_stacks, or no memory); reset zeroes it, so read it before.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "collect/aggregate.h"

typedef struct agg_entry {
  uint64_t hash;
  size_t frames_off;           /* into frames arena */
  uint32_t tid;
  uint32_t nframes;
  int64_t values[INPROF__VT_COUNT];
} agg_entry;

struct inprof__agg {
  uint32_t max_stacks;
  uint32_t n;                  /* entries in use */
  uint32_t cap;                /* entries allocated */
  agg_entry *entries;
  uint32_t *index;             /* entry number + 1; 0 = empty */
  uint32_t index_mask;         /* index size - 1 (power of two) */
  uintptr_t *frames;
  size_t frames_len, frames_cap;
  uint64_t dropped;
};

INPROF__HIDDEN inprof__agg *inprof__agg_new(uint32_t max_stacks) {
  inprof__agg *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->max_stacks = max_stacks ? max_stacks : 1;
  a->index_mask = 63;
  a->index = calloc(a->index_mask + 1, sizeof *a->index);
  if (!a->index) {
    free(a);
    return NULL;
  }
  return a;
}

INPROF__HIDDEN void inprof__agg_free(inprof__agg *a) {
  if (!a) return;
  free(a->entries);
  free(a->index);
  free(a->frames);
  free(a);
}

INPROF__HIDDEN void inprof__agg_reset(inprof__agg *a) {
  if (!a) return;
  a->n = 0;
  a->frames_len = 0;
  a->dropped = 0;
  memset(a->index, 0, ((size_t)a->index_mask + 1) * sizeof *a->index);
}

/* Keeps the index at most half full. */
static int grow_index(inprof__agg *a) {
  size_t size = ((size_t)a->index_mask + 1) * 2;
  if (size > (size_t)UINT32_MAX) return -1;
  uint32_t *idx = calloc(size, sizeof *idx);
  if (!idx) return -1;
  uint32_t mask = (uint32_t)(size - 1);
  for (uint32_t e = 0; e < a->n; e++) {
    uint32_t slot = (uint32_t)a->entries[e].hash & mask;
    while (idx[slot]) slot = (slot + 1) & mask;
    idx[slot] = e + 1;
  }
  free(a->index);
  a->index = idx;
  a->index_mask = mask;
  return 0;
}

static int grow_entries(inprof__agg *a) {
  uint32_t cap = a->cap ? a->cap * 2 : 64;
  if (cap > a->max_stacks || cap < a->cap) cap = a->max_stacks;
  agg_entry *e = realloc(a->entries, (size_t)cap * sizeof *e);
  if (!e) return -1;
  a->entries = e;
  a->cap = cap;
  return 0;
}

static int reserve_frames(inprof__agg *a, uint32_t n) {
  if (a->frames_cap - a->frames_len >= n) return 0;
  size_t cap = a->frames_cap ? a->frames_cap : 1024;
  while (cap - a->frames_len < n) cap *= 2;
  uintptr_t *f = realloc(a->frames, cap * sizeof *f);
  if (!f) return -1;
  a->frames = f;
  a->frames_cap = cap;
  return 0;
}

/* Sums saturate: heap sizes can reach 2^63 and more, and a profile value
 * that wrapped negative would be read as a huge free. */
static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

INPROF__HIDDEN int inprof__agg_add(inprof__agg *a, uint32_t tid, const uintptr_t *frames,
                    uint32_t nframes, const int64_t *values) {
  if (!a || (nframes && !frames) || !values) return -1;
  uint64_t h = inprof__stack_hash(tid, frames, nframes);
  uint32_t slot = (uint32_t)h & a->index_mask;
  for (uint32_t e; (e = a->index[slot]) != 0; slot = (slot + 1) & a->index_mask) {
    agg_entry *en = &a->entries[e - 1];
    if (en->hash == h && en->tid == tid && en->nframes == nframes &&
        (nframes == 0 ||
         memcmp(a->frames + en->frames_off, frames, nframes * sizeof *frames) == 0)) {
      for (int i = 0; i < INPROF__VT_COUNT; i++) en->values[i] = sat_add(en->values[i], values[i]);
      return 0;
    }
  }

  /* A new key: within bounds and memory, or dropped. */
  if (a->n >= a->max_stacks || (a->n == a->cap && grow_entries(a) != 0) ||
      reserve_frames(a, nframes) != 0) {
    a->dropped++;
    return -1;
  }
  if ((uint64_t)(a->n + 1) * 2 > (uint64_t)a->index_mask + 1) {
    if (grow_index(a) != 0) {
      a->dropped++;
      return -1;
    }
    slot = (uint32_t)h & a->index_mask;
    while (a->index[slot]) slot = (slot + 1) & a->index_mask;
  }
  agg_entry *en = &a->entries[a->n];
  en->hash = h;
  en->tid = tid;
  en->nframes = nframes;
  en->frames_off = a->frames_len;
  if (nframes) memcpy(a->frames + a->frames_len, frames, nframes * sizeof *frames);
  a->frames_len += nframes;
  memcpy(en->values, values, sizeof en->values);
  a->index[slot] = ++a->n;
  return 0;
}

INPROF__HIDDEN uint64_t inprof__agg_dropped(const inprof__agg *a) { return a ? a->dropped : 0; }

INPROF__HIDDEN uint32_t inprof__agg_entries(const inprof__agg *a) { return a ? a->n : 0; }

INPROF__HIDDEN void inprof__agg_foreach(const inprof__agg *a, inprof__agg_visit_fn fn, void *ctx) {
  if (!a || !fn) return;
  for (uint32_t e = 0; e < a->n; e++) {
    const agg_entry *en = &a->entries[e];
    fn(ctx, en->tid, a->frames + en->frames_off, en->nframes, en->values);
  }
}
