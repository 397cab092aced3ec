/*
 * heap/heap.c - heap profiling: the allocator hooks (inprof_record_alloc/free),
 * Poisson sampling of allocated bytes, the live table of sampled blocks and
 * the per-period allocation totals handed to the collector.
 *
 * Shape (why each piece is there):
 *  - Allocation fast path: a per-thread countdown of bytes to the next sample
 *    (initial-exec TLS, no lazy allocation). An unsampled allocation is one
 *    compare and one subtraction; everything else is in a noinline slow path.
 *    Before start and after stop the slow path re-arms the countdown to
 *    HEAP_RECHECK_BYTES, so a disabled profiler costs a relaxed load every
 *    64 KiB per thread.
 *    Threads' countdowns cannot be reset from outside, so a thread picks up a
 *    (re)start at its next slow path: until then it runs on the countdown it
 *    had (the 64 KiB recheck, or a draw at the previous run's rate, which is
 *    exact again when the rate is unchanged since the draw is memoryless).
 *  - Free fast path: a static bitmap of 2^16 bits (8 KiB) indexed by a
 *    multiplicative hash of the address, with a per-bit count of the live
 *    entries behind it kept off the fast path (a counting Bloom filter with
 *    one hash). A clear bit proves the block was not sampled: one multiply,
 *    one load, one test, no lock. A set bit (a sampled block, or a false
 *    positive with probability ~live/65536) goes to the locked table.
 *  - Live table: 16 shards, each an open-addressed (linear probing, backward
 *    shift deletion) table under its own mutex. The shard is chosen from the
 *    filter index, so every entry behind one filter slot lives in one shard
 *    and the slot's count is only written under that shard's mutex.
 *  - Stacks are interned per (thread, stack) in a chained table under one
 *    mutex; each record carries this period's allocation estimates and a
 *    reference count of the live entries pointing at it. The collector emits
 *    one aggregate entry per record and frees records nobody uses any more.
 *
 * Sampling maths: the distance to the next sampled byte is exponential with
 * mean R (heap_sample_bytes), so an allocation of s bytes is sampled with
 * probability 1 - exp(-s/R) and a sample stands for 1/(1 - exp(-s/R))
 * allocations of s bytes. The weight is computed per sample from its own
 * size (never from a per-stack average size) and stored with the live entry.
 *
 * Locks: stack lock S, then shard locks L0..L15 in index order. An insert
 * holds S and one L; a free holds one L; the collector holds one L at a time,
 * then S; stop and fork hold all. Any code holding one of these locks sets
 * tls_in_heap, and the hooks do nothing on a thread that has it set, so an
 * allocation made under our locks (table growth, the aggregate, libunwind)
 * cannot re-enter and deadlock. Allocations made under inprof__in_profiler
 * (the collector, exporters) are not sampled; their frees are still looked
 * up, so a sampled host block freed by profiler code does not stay live.
 *
 * Lifetime: the live table persists across periods and across stop/start.
 * inprof__heap_stop() only stops sampling new allocations: frees are still
 * matched against the table (the free path never looks at the enabled flag),
 * so it stays exact, the final export after stop still reports the live heap,
 * and after a restart blocks allocated before the stop still count as in use.
 * The tables are kept (bounded as below) until the process exits.
 *
 * Bounds (drops counted in heap_samples_dropped, never blocking):
 *  - HEAP_MAX_LIVE live entries (1M: 32 bytes each, at most 64 MiB of table
 *    at load factor 1/2; at the default rate that is ~512 GiB of live heap);
 *  - HEAP_MAX_STACKS interned (thread, stack) records and HEAP_MAX_STACK_BYTES
 *    of them.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/hash.h"
#include "base/rng.h"
#include "collect/aggregate.h"
#include "cpu/unwind.h"
#include "heap/heap.h"

#define HEAP_TLS INPROF__TLS
#define HEAP_LIKELY(x) INPROF__LIKELY(x)
#define HEAP_UNLIKELY(x) INPROF__UNLIKELY(x)

#define HEAP_RECHECK_BYTES (64u * 1024u)
#define HEAP_FILTER_BITS 16
#define HEAP_FILTER_SIZE (1u << HEAP_FILTER_BITS)
#define HEAP_SHARD_BITS 4
#define HEAP_SHARDS (1u << HEAP_SHARD_BITS)
#define HEAP_MAX_LIVE (1u << 20)
#define HEAP_SHARD_MAX_LIVE (HEAP_MAX_LIVE / HEAP_SHARDS)
#define HEAP_SHARD_MIN_CAP 256u
#define HEAP_STACK_BUCKETS (1u << 14)
#define HEAP_MAX_STACKS (1u << 16)
#define HEAP_MAX_STACK_BYTES (64u << 20)
/*
 * Frames between inprof__unwind_here's caller and the allocating code:
 * heap_alloc_slow and inprof_record_alloc (neither is inlined nor tail-called).
 */
#define HEAP_SKIP_FRAMES 2

/* ------------------------------------------------------------ per thread */

static __thread uint64_t tls_countdown HEAP_TLS;
static __thread uint64_t tls_rng HEAP_TLS;
static __thread uint32_t tls_gen HEAP_TLS;
static __thread uint32_t tls_tid HEAP_TLS;
static __thread int tls_in_heap HEAP_TLS;

/* ---------------------------------------------------------------- global */

static _Atomic uint32_t heap_enabled;
static _Atomic uint32_t heap_gen;     /* bumped at each start; 0 = never */
static _Atomic uint64_t heap_rate;
static _Atomic uint32_t heap_max_frames;
static _Atomic uint64_t heap_live;

/*
 * The free filter: one bit per hash slot, set while some live entry hashes
 * there. 8 KiB, so the fast path's load stays in L1 even when the program's
 * frees are spread over a large heap (a byte per slot, 64 KiB, measurably
 * did not). The per-slot entry counts that decide when a bit may be cleared
 * are only touched on the slow path. Slot fi belongs to shard fi % 16: its
 * count is written under that shard's mutex; its bit shares a word with
 * other shards' bits, hence the atomic or/and.
 */
static _Atomic uint64_t heap_filter[HEAP_FILTER_SIZE / 64];
static uint32_t heap_filter_count[HEAP_FILTER_SIZE];

typedef struct heap_stack {
  struct heap_stack *next;
  uint64_t hash;
  _Atomic uint32_t refs;        /* live entries pointing here */
  uint32_t tid;
  uint32_t nframes;
  uint32_t pad;
  double alloc_count, alloc_bytes; /* this period; under S */
  double inuse_count, inuse_bytes; /* collector scratch */
  uintptr_t frames[];
} heap_stack;

typedef struct heap_entry {
  uintptr_t ptr;                /* 0: empty slot */
  uint64_t size;
  double weight;
  heap_stack *stack;
} heap_entry;

typedef struct heap_shard {
  pthread_mutex_t mu;
  heap_entry *slots;
  uint32_t cap;                 /* power of two, or 0 */
  uint32_t count;
} __attribute__((aligned(64))) heap_shard;

static heap_shard heap_shards[HEAP_SHARDS] = {
#define HEAP_SHARD_INIT {.mu = PTHREAD_MUTEX_INITIALIZER}
    HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT,
    HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT,
    HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT,
    HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT, HEAP_SHARD_INIT,
#undef HEAP_SHARD_INIT
};

static pthread_mutex_t heap_stack_mu = PTHREAD_MUTEX_INITIALIZER;
static heap_stack *heap_buckets[HEAP_STACK_BUCKETS];
static uint32_t heap_nstacks;
static size_t heap_stack_bytes;

static pthread_mutex_t heap_collect_mu = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------- hashing */

/* Top bits of a Fibonacci hash: malloc's zero low bits do not matter. */
static inline uint32_t heap_filter_index(uintptr_t p) {
  return (uint32_t)(((uint64_t)p * 0x9E3779B97F4A7C15ull) >> (64 - HEAP_FILTER_BITS));
}

/* ---------------------------------------------------------- randomness */

static uint32_t heap_tid(void) {
  if (HEAP_UNLIKELY(tls_tid == 0)) tls_tid = (uint32_t)syscall(SYS_gettid);
  return tls_tid;
}

/*
 * Bytes to the next sample: ceil of an exponential with mean rate, so that
 * an allocation is sampled when its size reaches the countdown.
 */
static uint64_t heap_draw(uint64_t rate) {
  if (HEAP_UNLIKELY(tls_rng == 0))
    /* Distinct per thread and per process without any lock. */
    tls_rng = inprof__rng_seed((uint64_t)heap_tid() ^ ((uint64_t)(uintptr_t)&tls_rng << 16));
  return inprof__rng_exp(&tls_rng, rate);
}

/* ----------------------------------------------------------- stack table */

/* Under S. Returns the record with a new reference, or NULL (drop). */
static heap_stack *heap_stack_intern(uint32_t tid, const uintptr_t *frames,
                                     uint32_t n, double count, double bytes) {
  uint64_t h = inprof__stack_hash(tid, frames, n);
  heap_stack **bucket = &heap_buckets[h & (HEAP_STACK_BUCKETS - 1)];
  heap_stack *st;
  for (st = *bucket; st; st = st->next)
    if (st->hash == h && st->tid == tid && st->nframes == n &&
        memcmp(st->frames, frames, n * sizeof *frames) == 0)
      break;
  if (!st) {
    size_t sz = sizeof *st + n * sizeof *frames;
    if (heap_nstacks >= HEAP_MAX_STACKS || heap_stack_bytes + sz > HEAP_MAX_STACK_BYTES)
      return NULL;
    st = calloc(1, sz);
    if (!st) return NULL;
    st->hash = h;
    st->tid = tid;
    st->nframes = n;
    memcpy(st->frames, frames, n * sizeof *frames);
    st->next = *bucket;
    *bucket = st;
    heap_nstacks++;
    heap_stack_bytes += sz;
  }
  st->alloc_count += count;
  st->alloc_bytes += bytes;
  atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
  return st;
}

/* -------------------------------------------------------------- shards */

static inline uint32_t heap_home(const heap_shard *sh, uintptr_t p) {
  return (uint32_t)inprof__mix64(p) & (sh->cap - 1);
}

/* Under the shard lock. */
static heap_entry *heap_shard_find(heap_shard *sh, uintptr_t p) {
  if (sh->cap == 0) return NULL;
  uint32_t mask = sh->cap - 1;
  for (uint32_t i = heap_home(sh, p);; i = (i + 1) & mask) {
    if (sh->slots[i].ptr == p) return &sh->slots[i];
    if (sh->slots[i].ptr == 0) return NULL;
  }
}

static void heap_shard_place(heap_shard *sh, const heap_entry *e) {
  uint32_t mask = sh->cap - 1;
  uint32_t i = heap_home(sh, e->ptr);
  while (sh->slots[i].ptr != 0) i = (i + 1) & mask;
  sh->slots[i] = *e;
}

/* Under the shard lock; keeps the load factor at most 1/2. */
static bool heap_shard_reserve(heap_shard *sh) {
  if ((sh->count + 1) * 2 <= sh->cap) return true;
  uint32_t ncap = sh->cap ? sh->cap * 2 : HEAP_SHARD_MIN_CAP;
  heap_entry *ns = calloc(ncap, sizeof *ns);
  if (!ns) return false;
  heap_entry *old = sh->slots;
  uint32_t ocap = sh->cap;
  sh->slots = ns;
  sh->cap = ncap;
  for (uint32_t i = 0; i < ocap; i++)
    if (old[i].ptr) heap_shard_place(sh, &old[i]);
  free(old);
  return true;
}

/* Under the shard lock: backward shift deletion keeps probes tombstone-free. */
static void heap_shard_erase(heap_shard *sh, heap_entry *e) {
  uint32_t mask = sh->cap - 1;
  uint32_t i = (uint32_t)(e - sh->slots);
  for (uint32_t j = (i + 1) & mask; sh->slots[j].ptr; j = (j + 1) & mask) {
    uint32_t k = heap_home(sh, sh->slots[j].ptr);
    /* Move j back into i unless its home lies cyclically in (i, j]. */
    bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      sh->slots[i] = sh->slots[j];
      i = j;
    }
  }
  sh->slots[i].ptr = 0;
  sh->count--;
}

static inline int heap_filter_test(uint32_t fi) {
  return (atomic_load_explicit(&heap_filter[fi >> 6], memory_order_relaxed) >>
          (fi & 63)) & 1;
}

/* Under the lock of shard fi % 16. */
static void heap_filter_inc(uint32_t fi) {
  if (heap_filter_count[fi]++ == 0)
    atomic_fetch_or_explicit(&heap_filter[fi >> 6], (uint64_t)1 << (fi & 63),
                             memory_order_relaxed);
}

static void heap_filter_dec(uint32_t fi) {
  if (--heap_filter_count[fi] == 0)
    atomic_fetch_and_explicit(&heap_filter[fi >> 6], ~((uint64_t)1 << (fi & 63)),
                              memory_order_relaxed);
}

/* ----------------------------------------------------------- slow paths */

static void heap_lock_all(void) {
  pthread_mutex_lock(&heap_stack_mu);
  for (uint32_t i = 0; i < HEAP_SHARDS; i++) pthread_mutex_lock(&heap_shards[i].mu);
}

static void heap_unlock_all(void) {
  for (uint32_t i = HEAP_SHARDS; i-- > 0;) pthread_mutex_unlock(&heap_shards[i].mu);
  pthread_mutex_unlock(&heap_stack_mu);
}

/* Records a sampled block; tls_in_heap is set by the caller. */
static void heap_record(uintptr_t p, uint64_t size, uint64_t rate, uint32_t gen,
                        const uintptr_t *frames, uint32_t n) {
  double weight = 1.0 / -expm1(-(double)size / (double)rate);
  uint32_t tid = heap_tid();
  uint32_t fi = heap_filter_index(p);
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];

  pthread_mutex_lock(&heap_stack_mu);
  /* Checked under S: a stop that already cleared the tables must win. */
  if (!atomic_load_explicit(&heap_enabled, memory_order_relaxed) ||
      atomic_load_explicit(&heap_gen, memory_order_relaxed) != gen) {
    pthread_mutex_unlock(&heap_stack_mu);
    return;
  }
  heap_stack *st = heap_stack_intern(tid, frames, n, weight, weight * (double)size);
  if (!st) {
    pthread_mutex_unlock(&heap_stack_mu);
    INPROF__COUNT(heap_samples_dropped, 1);
    return;
  }
  INPROF__COUNT(heap_samples, 1);

  pthread_mutex_lock(&sh->mu);
  heap_entry *e = heap_shard_find(sh, p);
  if (e) {
    /* A block freed without a hook call: the newer allocation replaces it. */
    atomic_fetch_sub_explicit(&e->stack->refs, 1, memory_order_release);
    e->size = size;
    e->weight = weight;
    e->stack = st;
  } else if (sh->count < HEAP_SHARD_MAX_LIVE && heap_shard_reserve(sh)) {
    heap_entry ne = {.ptr = p, .size = size, .weight = weight, .stack = st};
    heap_shard_place(sh, &ne);
    sh->count++;
    heap_filter_inc(fi);
    atomic_fetch_add_explicit(&heap_live, 1, memory_order_relaxed);
  } else {
    /* Counted in this period's allocations, but not tracked as live. */
    atomic_fetch_sub_explicit(&st->refs, 1, memory_order_release);
    INPROF__COUNT(heap_samples_dropped, 1);
  }
  pthread_mutex_unlock(&sh->mu);
  pthread_mutex_unlock(&heap_stack_mu);
}

static __attribute__((noinline)) void heap_alloc_slow(void *ptr, size_t size) {
  if (tls_in_heap) return; /* our own allocation, made under our locks */
  if (!atomic_load_explicit(&heap_enabled, memory_order_acquire)) {
    tls_countdown = HEAP_RECHECK_BYTES;
    return;
  }
  int saved_errno = errno;
  uint64_t rate = atomic_load_explicit(&heap_rate, memory_order_relaxed);
  uint32_t gen = atomic_load_explicit(&heap_gen, memory_order_relaxed);
  if (tls_gen != gen) {
    /* First slow path since this start: begin a fresh Poisson process here. */
    tls_gen = gen;
    uint64_t d = heap_draw(rate);
    if (size < d) {
      tls_countdown = d - size;
      errno = saved_errno;
      return;
    }
  }
  /* Memoryless: the next distance starts after this block. */
  tls_countdown = heap_draw(rate);
  if (ptr == NULL || inprof__in_profiler) {
    errno = saved_errno;
    return;
  }

  int prev_in_profiler = inprof__in_profiler;
  inprof__in_profiler = 1;
  tls_in_heap = 1;
  uintptr_t frames[INPROF_MAX_FRAMES_LIMIT];
  uint32_t max = atomic_load_explicit(&heap_max_frames, memory_order_relaxed);
  if (max == 0 || max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  uint32_t n = inprof__unwind_here(frames, max, HEAP_SKIP_FRAMES);
  heap_record((uintptr_t)ptr, size, rate, gen, frames, n);
  tls_in_heap = 0;
  inprof__in_profiler = prev_in_profiler;
  errno = saved_errno;
}

static __attribute__((noinline)) void heap_free_slow(uintptr_t p, uint32_t fi) {
  if (tls_in_heap) return;
  int saved_errno = errno;
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];
  tls_in_heap = 1;
  pthread_mutex_lock(&sh->mu);
  heap_entry *e = heap_shard_find(sh, p);
  if (e) {
    /* Under L: the entry's reference keeps the record alive until here. */
    atomic_fetch_sub_explicit(&e->stack->refs, 1, memory_order_release);
    heap_shard_erase(sh, e);
    heap_filter_dec(fi);
    atomic_fetch_sub_explicit(&heap_live, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&sh->mu);
  tls_in_heap = 0;
  errno = saved_errno;
}

/* ---------------------------------------------------------------- hooks */

INPROF_EXPORT void inprof_record_alloc(void *ptr, size_t size) {
  uint64_t c = tls_countdown;
  if (HEAP_LIKELY(size < c)) {
    tls_countdown = c - size;
    return;
  }
  heap_alloc_slow(ptr, size);
  /* Keeps this frame on the stack (no tail call): HEAP_SKIP_FRAMES counts it. */
  __asm__ volatile("" ::: "memory");
}

INPROF_EXPORT void inprof_record_free(void *ptr) {
  uintptr_t p = (uintptr_t)ptr;
  uint32_t fi = heap_filter_index(p);
  if (HEAP_LIKELY(!heap_filter_test(fi)))
    return;
  heap_free_slow(p, fi);
}

/* ------------------------------------------------------------ lifecycle */

/* Fork hooks, called from api.c's one registration (lock order there). */
INPROF__HIDDEN void inprof__heap_atfork_prepare(void) {
  tls_in_heap = 1;
  heap_lock_all();
}

INPROF__HIDDEN void inprof__heap_atfork_parent(void) {
  heap_unlock_all();
  tls_in_heap = 0;
}

INPROF__HIDDEN void inprof__heap_atfork_child(void) {
  /*
   * The child has no collector (collect/collector.c forgets it), so it samples
   * nothing until it starts the profiler itself. Its heap is a copy of the
   * parent's: the live table stays right and frees keep being matched.
   */
  atomic_store_explicit(&heap_enabled, 0, memory_order_relaxed);
  heap_unlock_all();
  /* The forking thread is the child's only thread: fix its cached identity. */
  tls_in_heap = 0;
  tls_tid = 0;
  tls_rng = 0;
}

INPROF__HIDDEN inprof_status inprof__heap_start(const inprof__settings *s) {
  if (!s || s->heap_sample_bytes == 0) return INPROF_OK;
  /* The walker needs its unwind tables before the first sampled allocation. */
  inprof__unwind_init();
  atomic_store_explicit(&heap_rate, s->heap_sample_bytes, memory_order_relaxed);
  atomic_store_explicit(&heap_max_frames, s->max_frames, memory_order_relaxed);
  uint32_t gen = atomic_load_explicit(&heap_gen, memory_order_relaxed) + 1;
  if (gen == 0) gen = 1;
  atomic_store_explicit(&heap_gen, gen, memory_order_relaxed);
  atomic_store_explicit(&heap_enabled, 1, memory_order_release);
  return INPROF_OK;
}

INPROF__HIDDEN void inprof__heap_stop(void) {
  atomic_store_explicit(&heap_enabled, 0, memory_order_release);
}

INPROF__HIDDEN uint64_t inprof__heap_live_samples(void) {
  return atomic_load_explicit(&heap_live, memory_order_relaxed);
}

static int64_t heap_round(double v) { return (int64_t)llround(v); }

INPROF__HIDDEN void inprof__heap_collect(inprof__agg *agg) {
  int prev_in_profiler = inprof__in_profiler;
  int prev_in_heap = tls_in_heap;
  inprof__in_profiler = 1;
  tls_in_heap = 1;
  pthread_mutex_lock(&heap_collect_mu);

  /* Live blocks into their records' scratch; one shard locked at a time. */
  for (uint32_t i = 0; i < HEAP_SHARDS; i++) {
    heap_shard *sh = &heap_shards[i];
    pthread_mutex_lock(&sh->mu);
    for (uint32_t j = 0; j < sh->cap; j++) {
      heap_entry *e = &sh->slots[j];
      if (!e->ptr) continue;
      e->stack->inuse_count += e->weight;
      e->stack->inuse_bytes += e->weight * (double)e->size;
    }
    pthread_mutex_unlock(&sh->mu);
  }

  pthread_mutex_lock(&heap_stack_mu);
  for (uint32_t b = 0; b < HEAP_STACK_BUCKETS; b++) {
    heap_stack **link = &heap_buckets[b];
    while (*link) {
      heap_stack *st = *link;
      int64_t v[INPROF__VT_COUNT] = {0};
      v[INPROF__VT_ALLOC_SAMPLES] = heap_round(st->alloc_count);
      v[INPROF__VT_ALLOC_SPACE] = heap_round(st->alloc_bytes);
      v[INPROF__VT_INUSE_OBJECTS] = heap_round(st->inuse_count);
      v[INPROF__VT_INUSE_SPACE] = heap_round(st->inuse_bytes);
      if (agg && (v[INPROF__VT_ALLOC_SAMPLES] || v[INPROF__VT_ALLOC_SPACE] ||
                  v[INPROF__VT_INUSE_OBJECTS] || v[INPROF__VT_INUSE_SPACE]))
        inprof__agg_add(agg, st->tid, st->frames, st->nframes, v);
      st->alloc_count = st->alloc_bytes = 0;
      st->inuse_count = st->inuse_bytes = 0;
      /* Acquire pairs with the release decrements: the last user's
       * accesses happen before the free. */
      if (atomic_load_explicit(&st->refs, memory_order_acquire) == 0) {
        *link = st->next;
        heap_nstacks--;
        heap_stack_bytes -= sizeof *st + st->nframes * sizeof st->frames[0];
        free(st);
      } else {
        link = &st->next;
      }
    }
  }
  pthread_mutex_unlock(&heap_stack_mu);

  pthread_mutex_unlock(&heap_collect_mu);
  tls_in_heap = prev_in_heap;
  inprof__in_profiler = prev_in_profiler;
}

/* ------------------------------------------- test-only introspection */

INPROF__HIDDEN uint64_t inprof__heap_test_check(uint64_t *entries) {
  uint64_t bad = 0, total = 0, refs = 0;
  static uint32_t fcount[HEAP_FILTER_SIZE];
  int prev = tls_in_heap;
  tls_in_heap = 1;
  heap_lock_all();
  memset(fcount, 0, sizeof fcount);
  for (uint32_t i = 0; i < HEAP_SHARDS; i++) {
    heap_shard *sh = &heap_shards[i];
    uint32_t n = 0;
    for (uint32_t j = 0; j < sh->cap; j++) {
      heap_entry *e = &sh->slots[j];
      if (!e->ptr) continue;
      n++;
      uint32_t fi = heap_filter_index(e->ptr);
      if ((fi & (HEAP_SHARDS - 1)) != i) bad++;
      if (heap_shard_find(sh, e->ptr) != e) bad++;
      fcount[fi]++;
    }
    if (n != sh->count) bad++;
    total += n;
  }
  for (uint32_t fi = 0; fi < HEAP_FILTER_SIZE; fi++) {
    if (heap_filter_count[fi] != fcount[fi]) bad++;
    if (heap_filter_test(fi) != (fcount[fi] > 0)) bad++;
  }
  uint32_t nst = 0;
  for (uint32_t b = 0; b < HEAP_STACK_BUCKETS; b++)
    for (heap_stack *st = heap_buckets[b]; st; st = st->next) {
      refs += atomic_load_explicit(&st->refs, memory_order_relaxed);
      nst++;
    }
  if (nst != heap_nstacks) bad++;
  if (refs != total) bad++;
  if (total != atomic_load_explicit(&heap_live, memory_order_relaxed)) bad++;
  heap_unlock_all();
  tls_in_heap = prev;
  if (entries) *entries = total;
  return bad;
}

INPROF__HIDDEN int inprof__heap_test_is_live(const void *ptr) {
  uintptr_t p = (uintptr_t)ptr;
  uint32_t fi = heap_filter_index(p);
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];
  int prev = tls_in_heap;
  tls_in_heap = 1;
  pthread_mutex_lock(&sh->mu);
  int live = heap_shard_find(sh, p) != NULL;
  pthread_mutex_unlock(&sh->mu);
  tls_in_heap = prev;
  return live;
}
