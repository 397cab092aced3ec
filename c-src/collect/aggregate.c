/*
 * collect/aggregate.c - one period's samples summed by (thread, context,
 * stack), and the period's timeline.
 *
 * Used only by the collector thread, so it may allocate. Entries live in one
 * array (insertion order, so visits and the pprof built from them are
 * deterministic); an open-addressing index of entry numbers finds the
 * aggregated ones by key. Stacks are stored once each in a frames arena
 * (their own index), because the timeline keeps many samples of the same
 * few stacks: a timeline entry costs its values and ids, not its frames.
 * Everything grows on demand up to its bound and is kept across resets so
 * a steady workload stops allocating.
 *
 * The key includes the context ids (span ids, label ids): samples of one
 * stack taken in two spans are two pprof samples with their own labels.
 * Timeline samples (timestamp_ns != 0) are entries of their own, never
 * merged, up to timeline_max per period; later ones are aggregated and
 * counted in a process-wide counter (inprof_statistics).
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
  uint64_t timestamp_ns;       /* 0: aggregated */
  inprof__sample_ctx ctx;
  uint32_t tid;
  uint32_t nframes;
  int64_t values[INPROF__VT_COUNT];
} agg_entry;

typedef struct agg_stack {
  uint64_t hash;
  size_t frames_off;
  uint32_t nframes;
} agg_stack;

/* An open-addressing index of item numbers + 1 (0 = empty), kept at most
 * half full. */
typedef struct agg_index {
  uint32_t *slots;
  uint32_t mask;
} agg_index;

struct inprof__agg {
  uint32_t max_stacks;
  uint32_t keyed;              /* aggregated entries (bounded by max_stacks) */
  uint32_t n;                  /* entries in use */
  uint32_t cap;                /* entries allocated */
  agg_entry *entries;
  agg_index index;             /* aggregated entries by key */
  agg_stack *stacks;
  uint32_t nstacks, stacks_cap;
  agg_index stack_index;       /* stacks by frames */
  uintptr_t *frames;
  size_t frames_len, frames_cap;
  uint32_t timeline, timeline_max;
  uint64_t dropped;
};

static _Atomic uint64_t timeline_fallbacks;

static int index_init(agg_index *x) {
  x->mask = 63;
  x->slots = calloc(x->mask + 1, sizeof *x->slots);
  return x->slots ? 0 : -1;
}

static void index_clear(agg_index *x) {
  memset(x->slots, 0, ((size_t)x->mask + 1) * sizeof *x->slots);
}

/* Doubles x; hash_of(items, i) is item i's hash. */
static int index_grow(agg_index *x, uint32_t count, const void *items, size_t stride) {
  size_t size = ((size_t)x->mask + 1) * 2;
  if (size > (size_t)UINT32_MAX) return -1;
  uint32_t *idx = calloc(size, sizeof *idx);
  if (!idx) return -1;
  uint32_t mask = (uint32_t)(size - 1);
  for (uint32_t e = 0; e < count; e++) {
    /* Both item types start with their 64-bit hash. */
    uint64_t h;
    memcpy(&h, (const char *)items + (size_t)e * stride, sizeof h);
    uint32_t slot = (uint32_t)h & mask;
    while (idx[slot]) slot = (slot + 1) & mask;
    idx[slot] = e + 1;
  }
  free(x->slots);
  x->slots = idx;
  x->mask = mask;
  return 0;
}

INPROF__HIDDEN inprof__agg *inprof__agg_new(uint32_t max_stacks) {
  inprof__agg *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->max_stacks = max_stacks ? max_stacks : 1;
  a->timeline_max = INPROF__AGG_TIMELINE_MAX;
  if (index_init(&a->index) != 0 || index_init(&a->stack_index) != 0) {
    inprof__agg_free(a);
    return NULL;
  }
  return a;
}

INPROF__HIDDEN void inprof__agg_free(inprof__agg *a) {
  if (!a) return;
  free(a->entries);
  free(a->index.slots);
  free(a->stacks);
  free(a->stack_index.slots);
  free(a->frames);
  free(a);
}

INPROF__HIDDEN void inprof__agg_reset(inprof__agg *a) {
  if (!a) return;
  a->n = a->keyed = a->nstacks = a->timeline = 0;
  a->frames_len = 0;
  a->dropped = 0;
  index_clear(&a->index);
  index_clear(&a->stack_index);
}

INPROF__HIDDEN void inprof__agg_set_timeline_max(inprof__agg *a, uint32_t max) {
  if (a) a->timeline_max = max;
}

static int grow(void **v, uint32_t *cap, uint32_t need, uint32_t bound, size_t elem) {
  if (need <= *cap) return 0;
  uint32_t c = *cap ? *cap * 2 : 64;
  if (c > bound || c < *cap) c = bound;
  if (c < need) return -1;
  void *p = realloc(*v, (size_t)c * elem);
  if (!p) return -1;
  *v = p;
  *cap = c;
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

/* The stack's number, stored once; -1 when memory runs out. */
static int64_t stack_intern(inprof__agg *a, const uintptr_t *frames, uint32_t nframes) {
  uint64_t h = inprof__stack_hash(0, frames, nframes);
  uint32_t slot = (uint32_t)h & a->stack_index.mask;
  for (uint32_t e; (e = a->stack_index.slots[slot]) != 0;
       slot = (slot + 1) & a->stack_index.mask) {
    const agg_stack *st = &a->stacks[e - 1];
    if (st->hash == h && st->nframes == nframes &&
        (nframes == 0 ||
         memcmp(a->frames + st->frames_off, frames, nframes * sizeof *frames) == 0))
      return e - 1;
  }
  if (grow((void **)&a->stacks, &a->stacks_cap, a->nstacks + 1, UINT32_MAX / 2,
           sizeof *a->stacks) != 0 ||
      reserve_frames(a, nframes) != 0)
    return -1;
  if ((uint64_t)(a->nstacks + 1) * 2 > (uint64_t)a->stack_index.mask + 1) {
    if (index_grow(&a->stack_index, a->nstacks, a->stacks, sizeof *a->stacks) != 0) return -1;
    slot = (uint32_t)h & a->stack_index.mask;
    while (a->stack_index.slots[slot]) slot = (slot + 1) & a->stack_index.mask;
  }
  agg_stack *st = &a->stacks[a->nstacks];
  st->hash = h;
  st->nframes = nframes;
  st->frames_off = a->frames_len;
  if (nframes) memcpy(a->frames + a->frames_len, frames, nframes * sizeof *frames);
  a->frames_len += nframes;
  a->stack_index.slots[slot] = ++a->nstacks;
  return a->nstacks - 1;
}

/* Sums saturate: heap sizes can reach 2^63 and more, and a profile value
 * that wrapped negative would be read as a huge free. */
static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

static uint64_t ctx_hash(uint64_t h, const inprof__sample_ctx *c) {
  h = inprof__mix64(h ^ c->local_root_span_id) + c->span_id;
  h = inprof__mix64(h ^ c->span_id);
  for (int i = 0; i < INPROF__LABEL_SLOTS; i++) h = inprof__mix64(h + c->labels[i]) + i;
  return h;
}

/* A new entry for the key; NULL when out of memory. */
static agg_entry *entry_new(inprof__agg *a, uint64_t h, uint32_t tid,
                            const inprof__sample_ctx *ctx, uint64_t ts,
                            const uintptr_t *frames, uint32_t nframes, uint32_t bound) {
  if (grow((void **)&a->entries, &a->cap, a->n + 1, bound, sizeof *a->entries) != 0)
    return NULL;
  int64_t st = stack_intern(a, frames, nframes);
  if (st < 0) return NULL;
  agg_entry *en = &a->entries[a->n];
  en->hash = h;
  en->tid = tid;
  en->ctx = *ctx;
  en->timestamp_ns = ts;
  en->nframes = nframes;
  en->frames_off = a->stacks[st].frames_off;
  return en;
}

INPROF__HIDDEN int inprof__agg_add_ctx(inprof__agg *a, uint32_t tid,
                                       const inprof__sample_ctx *ctx, uint64_t timestamp_ns,
                                       const uintptr_t *frames, uint32_t nframes,
                                       const int64_t *values) {
  if (!a || (nframes && !frames) || !values) return -1;
  static const inprof__sample_ctx none;
  if (!ctx) ctx = &none;
  uint32_t bound = a->max_stacks + a->timeline_max;
  if (bound < a->max_stacks) bound = UINT32_MAX / 2;

  if (timestamp_ns) {
    if (a->timeline < a->timeline_max) {
      agg_entry *en = entry_new(a, 0, tid, ctx, timestamp_ns, frames, nframes, bound);
      if (en) {
        memcpy(en->values, values, sizeof en->values);
        a->n++;
        a->timeline++;
        return 0;
      }
    }
    atomic_fetch_add_explicit(&timeline_fallbacks, 1, memory_order_relaxed);
  }

  uint64_t h = ctx_hash(inprof__stack_hash(tid, frames, nframes), ctx);
  uint32_t slot = (uint32_t)h & a->index.mask;
  for (uint32_t e; (e = a->index.slots[slot]) != 0; slot = (slot + 1) & a->index.mask) {
    agg_entry *en = &a->entries[e - 1];
    if (en->hash == h && en->tid == tid && en->nframes == nframes &&
        memcmp(&en->ctx, ctx, sizeof *ctx) == 0 &&
        (nframes == 0 ||
         memcmp(a->frames + en->frames_off, frames, nframes * sizeof *frames) == 0)) {
      for (int i = 0; i < INPROF__VT_COUNT; i++) en->values[i] = sat_add(en->values[i], values[i]);
      return 0;
    }
  }

  /* A new key: within bounds and memory, or dropped. */
  if (a->keyed >= a->max_stacks) {
    a->dropped++;
    return -1;
  }
  if ((uint64_t)(a->keyed + 1) * 2 > (uint64_t)a->index.mask + 1) {
    /* Rebuilt from the aggregated entries only: timeline ones have hash 0
     * and no slot. */
    size_t size = ((size_t)a->index.mask + 1) * 2;
    uint32_t *idx = size <= (size_t)UINT32_MAX ? calloc(size, sizeof *idx) : NULL;
    if (!idx) {
      a->dropped++;
      return -1;
    }
    uint32_t mask = (uint32_t)(size - 1);
    for (uint32_t e = 0; e < a->n; e++) {
      if (a->entries[e].timestamp_ns) continue;
      uint32_t s = (uint32_t)a->entries[e].hash & mask;
      while (idx[s]) s = (s + 1) & mask;
      idx[s] = e + 1;
    }
    free(a->index.slots);
    a->index.slots = idx;
    a->index.mask = mask;
    slot = (uint32_t)h & a->index.mask;
    while (a->index.slots[slot]) slot = (slot + 1) & a->index.mask;
  }
  agg_entry *en = entry_new(a, h, tid, ctx, 0, frames, nframes, bound);
  if (!en) {
    a->dropped++;
    return -1;
  }
  memcpy(en->values, values, sizeof en->values);
  a->index.slots[slot] = ++a->n;
  a->keyed++;
  return 0;
}

INPROF__HIDDEN int inprof__agg_add(inprof__agg *a, uint32_t tid, const uintptr_t *frames,
                                   uint32_t nframes, const int64_t *values) {
  return inprof__agg_add_ctx(a, tid, NULL, 0, frames, nframes, values);
}

INPROF__HIDDEN uint64_t inprof__agg_dropped(const inprof__agg *a) { return a ? a->dropped : 0; }

INPROF__HIDDEN uint32_t inprof__agg_entries(const inprof__agg *a) { return a ? a->n : 0; }

INPROF__HIDDEN uint64_t inprof__agg_timeline_fallbacks(void) {
  return atomic_load_explicit(&timeline_fallbacks, memory_order_relaxed);
}

INPROF__HIDDEN void inprof__agg_foreach(const inprof__agg *a, inprof__agg_visit_fn fn, void *ctx) {
  if (!a || !fn) return;
  for (uint32_t e = 0; e < a->n; e++) {
    const agg_entry *en = &a->entries[e];
    fn(ctx, en->tid, a->frames + en->frames_off, en->nframes, en->values);
  }
}

INPROF__HIDDEN void inprof__agg_foreach_entry(const inprof__agg *a, inprof__agg_entry_fn fn,
                                              void *ctx) {
  if (!a || !fn) return;
  for (uint32_t e = 0; e < a->n; e++) {
    const agg_entry *en = &a->entries[e];
    inprof__agg_entry_view v = {.tid = en->tid,
                                .nframes = en->nframes,
                                .ctx = &en->ctx,
                                .timestamp_ns = en->timestamp_ns,
                                .frames = a->frames + en->frames_off,
                                .values = en->values};
    fn(ctx, &v);
  }
}
