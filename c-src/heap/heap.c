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
 *  - Stacks are interned per (thread, stack) in a chained table striped over
 *    16 mutexes by hash; each record carries this period's allocation estimates and a
 *    reference count of the live entries pointing at it. The collector emits
 *    one aggregate entry per record and returns records nobody uses any more
 *    to a pool (per power-of-two frame count) carved from mapped chunks.
 *  - Small stacks: every function the hooks call is bound at start
 *    (heap_warm_up), and a sample is skipped (counted) when the stack has no
 *    room for its frames array, so a hook on a small sigaltstack never
 *    overflows it.
 *
 * Sampling maths: the distance to the next sampled byte is exponential with
 * mean R (heap_sample_bytes), so an allocation of s bytes is sampled with
 * probability 1 - exp(-s/R) and a sample stands for 1/(1 - exp(-s/R))
 * allocations of s bytes. The weight is computed per sample from its own
 * size (never from a per-stack average size) and stored with the live entry.
 *
 * Locks: stack-table stripe locks S0..S15 (S: any of them), then shard
 * locks L0..L15, each set in index order, and the collector's own lock C
 * (heap_collect_mu) outermost, taken by the collector only. No lock is
 * process-wide on the sampled path: an insert holds one S (the stripe of
 * its stack's hash) and, inside it, one L; a free holds one L; the
 * collector holds C, then one L at a time, then one S at a time; the
 * invariant check holds every S and every L.
 * Nothing waits for anything while holding S or an L: no malloc/free, no
 * unwinding, no other library lock is taken under them (tables and stack
 * records come from mmap'd memory, mapped with no heap lock held), so a
 * thread that blocks on S or an L always gets it, even when the thread
 * holding it was interrupted by a signal whose handler is inside malloc.
 * The collector calls the aggregate (which mallocs) holding only C, which no
 * hook ever takes.
 *
 * Re-entry (a host signal handler calling the hooks): code that holds a heap
 * lock or unwinds for a sample runs with tls_in_heap set. A hook on a thread
 * that has it set was called from a handler that interrupted that code: an
 * allocation is dropped (counted), a free is kept in a small per-thread list
 * and matched when the interrupted code leaves, so neither waits for a lock
 * its own thread holds. Allocations made under inprof__in_profiler (the
 * collector, exporters) are not sampled; their frees are still looked up, so
 * a sampled host block freed by profiler code does not stay live.
 *
 * Fork: nothing here is held across fork. The child (inprof__heap_atfork_child)
 * re-initializes every heap lock and starts with empty tables: a table another
 * parent thread was changing at the fork cannot be trusted, so the parent's
 * tables and records are left mapped in the child and never touched again.
 *
 * Lifetime: the live table persists across periods and across stop/start.
 * inprof__heap_stop() only stops sampling new allocations: frees are still
 * matched against the table (the free path never looks at the enabled flag),
 * so it stays exact, the final export after stop still reports the live heap,
 * and after a restart blocks allocated before the stop still count as in use.
 * The tables are kept (bounded as below) until the process exits.
 *
 * Sizes: a size of 2^63 bytes or more is a valid argument; every sum and
 * estimate is kept in doubles and rounded with saturation, so the profile
 * shows at most INT64_MAX and never wraps negative.
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
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/hash.h"
#include "base/rng.h"
#include "collect/aggregate.h"
#include "cpu/unwind.h"
#include "heap/heap.h"
#include "heap/heap_fast.h"
#include "sample/context.h"

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
/* Stack records come in power-of-two frame counts 1..INPROF_MAX_FRAMES_LIMIT
 * (512 = 2^9), carved from 1 MiB mapped chunks and reused per class. */
#define HEAP_CLASSES 10
#define HEAP_CHUNK_BYTES ((size_t)1 << 20)
/* Frees a signal handler made while its thread was inside heap code. */
#define HEAP_DEFERRED 64
/*
 * Frames between inprof__unwind_here's caller and the allocating code:
 * heap_sample, heap_alloc_slow and inprof_record_alloc (none is inlined nor
 * tail-called).
 */
#define HEAP_SKIP_FRAMES 3
/* Stack heap_sample needs besides its frames array (its own frame, the
 * table code, a mutex call), checked before it is entered. */
#define HEAP_SAMPLE_STACK 1024u

/* ------------------------------------------------------------ per thread */

/* The hooks' own countdown; hidden but extern so that the preload
 * interposer (same shared object) decides the unsampled case inline. */
INPROF__HIDDEN __thread uint64_t inprof__heap_countdown HEAP_TLS;
#define tls_countdown inprof__heap_countdown
static __thread uint64_t tls_rng HEAP_TLS;
static __thread uint32_t tls_gen HEAP_TLS;
static __thread uint32_t tls_tid HEAP_TLS;
/* Set while this thread holds a heap lock or unwinds for a sample; a signal
 * handler on this thread may read it at any instruction. */
static __thread volatile sig_atomic_t tls_in_heap HEAP_TLS;
/* Appended to by handlers (tls_in_heap set), popped by heap_leave; the
 * count is atomic because either side may interrupt the other. */
static __thread uintptr_t tls_deferred[HEAP_DEFERRED] HEAP_TLS;
static __thread _Atomic uint32_t tls_ndeferred HEAP_TLS;

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
INPROF__HIDDEN _Atomic uint64_t inprof__heap_filter[HEAP_FILTER_SIZE / 64];
#define heap_filter inprof__heap_filter
_Static_assert(HEAP_FILTER_BITS == INPROF_HEAP_FILTER_BITS,
               "the free filter's size is public ABI (inprof_heap_free_filter)");

typedef struct heap_stack {
  struct heap_stack *next;      /* bucket chain, or the class's free list */
  struct heap_stack *report_next; /* the collector's list while reported */
  uint64_t hash;
  _Atomic uint32_t refs;        /* live entries pointing here */
  uint32_t tid;
  uint32_t nframes;
  uint32_t cls;                 /* pool size class */
  inprof__sample_ctx ctx;       /* allocating thread's span ids, labels; part of the key */
  double alloc_count, alloc_bytes; /* this period; under S */
  double inuse_count, inuse_bytes; /* collector scratch */
  int64_t report[INPROF__VT_COUNT]; /* collector only */
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
  heap_entry *slots;            /* mapped, cap entries */
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

/*
 * The big tables, mapped at the first start rather than static: a forked
 * child drops them by forgetting one pointer, instead of clearing (and so
 * copying) 384 KiB of pages in every child of a profiled process.
 */
typedef struct heap_tables {
  heap_stack *buckets[HEAP_STACK_BUCKETS];    /* under S */
  uint32_t filter_count[HEAP_FILTER_SIZE];    /* slot fi under L(fi % 16) */
} heap_tables;
static _Atomic(heap_tables *) heap_tab;

/*
 * The stack table is striped, so that sampling threads whose stacks hash
 * apart never wait for one another: stripe k (S_k, its mutex) owns the
 * buckets b with b % HEAP_STRIPES == k (a record's stripe is its hash's low
 * bits), the records in them and its own record pool. No sampled path takes
 * a process-wide lock. The record count and bytes bounds are process-wide
 * atomics (reserved before a record is made, given back when it is freed).
 */
#define HEAP_STRIPES 16u
typedef struct heap_stripe {
  pthread_mutex_t mu;
  heap_stack *pool_free[HEAP_CLASSES];
  char *pool_bump;
  size_t pool_left;
} __attribute__((aligned(64))) heap_stripe;

static heap_stripe heap_stripes[HEAP_STRIPES] = {
#define HEAP_STRIPE_INIT {.mu = PTHREAD_MUTEX_INITIALIZER}
    HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT,
    HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT,
    HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT,
    HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT, HEAP_STRIPE_INIT,
#undef HEAP_STRIPE_INIT
};
_Static_assert(HEAP_STACK_BUCKETS % HEAP_STRIPES == 0, "a bucket belongs to one stripe");

static inline heap_stripe *heap_stripe_of(uint64_t hash) {
  return &heap_stripes[hash & (HEAP_STRIPES - 1)];
}

static _Atomic uint32_t heap_nstacks;
static _Atomic uint64_t heap_stack_bytes;
/* A mapped chunk no one uses yet: filled with no lock held, taken under S_k. */
static _Atomic(void *) heap_pool_spare;

static pthread_mutex_t heap_collect_mu = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------- memory */

/* mmap, never malloc: callable from a signal handler that interrupted malloc. */
static void *heap_map(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void heap_unmap(void *p, size_t bytes) {
  if (p) munmap(p, bytes);
}

static inline heap_tables *heap_tables_get(void) {
  return atomic_load_explicit(&heap_tab, memory_order_acquire);
}

static uint32_t heap_class(uint32_t nframes) {
  uint32_t cls = 0;
  while (cls + 1 < HEAP_CLASSES && ((uint32_t)1 << cls) < nframes) cls++;
  return cls;
}

static size_t heap_class_bytes(uint32_t cls) {
  return sizeof(heap_stack) + ((size_t)1 << cls) * sizeof(uintptr_t);
}

/* With no heap lock held: makes sure a chunk is ready for the next record. */
static void heap_pool_refill(void) {
  if (atomic_load_explicit(&heap_pool_spare, memory_order_relaxed)) return;
  void *chunk = heap_map(HEAP_CHUNK_BYTES);
  void *expected = NULL;
  if (chunk && !atomic_compare_exchange_strong(&heap_pool_spare, &expected, chunk))
    heap_unmap(chunk, HEAP_CHUNK_BYTES);
}

/* Under S_k (sp). NULL when no memory is ready (the caller drops the sample). */
static heap_stack *heap_pool_get(heap_stripe *sp, uint32_t cls) {
  heap_stack *st = sp->pool_free[cls];
  if (st) {
    sp->pool_free[cls] = st->next;
  } else {
    size_t need = heap_class_bytes(cls);
    if (sp->pool_left < need) {
      void *chunk = atomic_exchange(&heap_pool_spare, NULL);
      /* Another thread took the spare since this one refilled it: map one
       * here. mmap is a system call, not the allocator, so it cannot wait
       * for a lock the interrupted code holds. */
      if (!chunk) chunk = heap_map(HEAP_CHUNK_BYTES);
      if (!chunk) return NULL;
      /* The old chunk's tail (less than one record) is given up. */
      sp->pool_bump = chunk;
      sp->pool_left = HEAP_CHUNK_BYTES;
    }
    st = (heap_stack *)(void *)sp->pool_bump;
    sp->pool_bump += need;
    sp->pool_left -= need;
  }
  memset(st, 0, sizeof *st);
  st->cls = cls;
  return st;
}

/* Under the record's stripe lock: back to that stripe's pool. */
static void heap_pool_put(heap_stack *st) {
  heap_stripe *sp = heap_stripe_of(st->hash);
  st->next = sp->pool_free[st->cls];
  sp->pool_free[st->cls] = st;
}

/* ------------------------------------------------------------- hashing */

/* Top bits of a Fibonacci hash: malloc's zero low bits do not matter.
 * Public (INPROF_HEAP_FILTER_MULTIPLIER): callers test the filter inline. */
static inline uint32_t heap_filter_index(uintptr_t p) {
  return inprof__heap_filter_index(p);
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

/* Rounds an estimate into a profile value: never negative, at most INT64_MAX
 * (an allocation of 2^63 bytes or more must not wrap). */
static int64_t heap_round(double v) {
  if (!(v > 0)) return 0; /* also NaN */
  if (v >= 9223372036854775807.0) return INT64_MAX; /* 2^63 as a double */
  return (int64_t)llround(v);
}

/* ------------------------------------------------------------- guard */

static void heap_free_entry(uintptr_t p, uint32_t fi);

/* Marks this thread as inside heap code; returns the previous mark. */
static inline int heap_enter(void) {
  int prev = tls_in_heap;
  tls_in_heap = 1;
  atomic_signal_fence(memory_order_seq_cst);
  return prev;
}

/*
 * Leaves heap code, first matching the frees a signal handler deferred
 * meanwhile. They are popped with the mark still set, so a handler arriving
 * now only appends (never pops); a free appended after the last pop but
 * before the mark is cleared is caught by the check after clearing.
 */
static inline void heap_leave(int prev) {
  if (prev) {
    tls_in_heap = prev;
    return;
  }
  for (;;) {
    uint32_t n = atomic_load_explicit(&tls_ndeferred, memory_order_relaxed);
    while (n > 0) {
      uintptr_t p = tls_deferred[n - 1];
      if (!atomic_compare_exchange_weak_explicit(&tls_ndeferred, &n, n - 1,
                                                 memory_order_relaxed, memory_order_relaxed))
        continue; /* a handler appended meanwhile: n is reloaded */
      heap_free_entry(p, heap_filter_index(p));
      n = atomic_load_explicit(&tls_ndeferred, memory_order_relaxed);
    }
    atomic_signal_fence(memory_order_seq_cst);
    tls_in_heap = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (HEAP_LIKELY(atomic_load_explicit(&tls_ndeferred, memory_order_relaxed) == 0)) return;
    tls_in_heap = 1;
    atomic_signal_fence(memory_order_seq_cst);
  }
}

/* ----------------------------------------------------------- stack table */

/* Gives back a record count and bytes reserved in the bounds. */
static void heap_stacks_unreserve(uint32_t n, uint64_t bytes) {
  atomic_fetch_sub_explicit(&heap_nstacks, n, memory_order_relaxed);
  atomic_fetch_sub_explicit(&heap_stack_bytes, bytes, memory_order_relaxed);
}

/* Under S. Returns the record with a new reference, or NULL (drop). */
static heap_stack *heap_stack_intern(heap_tables *tab, uint64_t h, uint32_t tid,
                                     const inprof__sample_ctx *ctx, const uintptr_t *frames,
                                     uint32_t n, double count, double bytes) {
  heap_stack **bucket = &tab->buckets[h & (HEAP_STACK_BUCKETS - 1)];
  heap_stack *st;
  for (st = *bucket; st; st = st->next)
    if (st->hash == h && st->tid == tid && st->nframes == n &&
        memcmp(&st->ctx, ctx, sizeof *ctx) == 0 &&
        memcmp(st->frames, frames, n * sizeof *frames) == 0)
      break;
  if (!st) {
    uint32_t cls = heap_class(n);
    size_t sz = heap_class_bytes(cls);
    /* Reserved first, given back on failure: the bounds hold across stripes. */
    if (atomic_fetch_add_explicit(&heap_nstacks, 1, memory_order_relaxed) >= HEAP_MAX_STACKS) {
      heap_stacks_unreserve(1, 0);
      return NULL;
    }
    if (atomic_fetch_add_explicit(&heap_stack_bytes, sz, memory_order_relaxed) + sz >
        HEAP_MAX_STACK_BYTES) {
      heap_stacks_unreserve(1, sz);
      return NULL;
    }
    st = heap_pool_get(heap_stripe_of(h), cls);
    if (!st) {
      heap_stacks_unreserve(1, sz);
      return NULL;
    }
    st->hash = h;
    st->tid = tid;
    st->ctx = *ctx;
    st->nframes = n;
    memcpy(st->frames, frames, n * sizeof *frames);
    st->next = *bucket;
    *bucket = st;
  }
  st->alloc_count += count;
  st->alloc_bytes += bytes;
  atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
  return st;
}

/* Under the record's stripe lock: unlinks an unused record and returns it
 * to the pool. */
static void heap_stack_release(heap_tables *tab, heap_stack *st) {
  heap_stack **link = &tab->buckets[st->hash & (HEAP_STACK_BUCKETS - 1)];
  while (*link && *link != st) link = &(*link)->next;
  if (!*link) return;
  *link = st->next;
  heap_stacks_unreserve(1, heap_class_bytes(st->cls));
  heap_pool_put(st);
}

/* -------------------------------------------------------------- shards */

static inline uint32_t heap_home(const heap_shard *sh, uintptr_t p) {
  return (uint32_t)inprof__mix64(p) & (sh->cap - 1);
}

/* Under the shard lock. Address 0 is never an entry: it is the empty
 * slot's mark, which the probe below would otherwise match (free(NULL)
 * reaches here whenever a live entry shares filter slot 0). */
static heap_entry *heap_shard_find(heap_shard *sh, uintptr_t p) {
  if (sh->cap == 0 || p == 0) return NULL;
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

/* Under the shard lock: room for one more entry at load factor at most 1/2. */
static inline bool heap_shard_has_room(const heap_shard *sh) {
  return sh->count < HEAP_SHARD_MAX_LIVE && (sh->count + 1) * 2 <= sh->cap;
}

/*
 * With sh's lock not held (heap_record may hold its stripe lock S_k: only
 * L and mmap are taken here): grows sh when its next insert would need it. The
 * bigger table is mapped with the lock dropped and swapped in only if no
 * other thread grew the shard meanwhile; the loser's table is unmapped.
 */
static void heap_shard_grow(heap_shard *sh) {
  pthread_mutex_lock(&sh->mu);
  uint32_t ocap = sh->cap;
  bool need = sh->count < HEAP_SHARD_MAX_LIVE && !heap_shard_has_room(sh);
  pthread_mutex_unlock(&sh->mu);
  if (!need) return;
  uint32_t ncap = ocap ? ocap * 2 : HEAP_SHARD_MIN_CAP;
  heap_entry *ns = heap_map((size_t)ncap * sizeof *ns);
  if (!ns) return;
  heap_entry *old = NULL;
  pthread_mutex_lock(&sh->mu);
  if (sh->cap == ocap) {
    old = sh->slots;
    sh->slots = ns;
    sh->cap = ncap;
    for (uint32_t i = 0; i < ocap; i++)
      if (old[i].ptr) heap_shard_place(sh, &old[i]);
    ns = NULL;
  }
  pthread_mutex_unlock(&sh->mu);
  heap_unmap(ns, (size_t)ncap * sizeof *ns);
  heap_unmap(old, (size_t)ocap * sizeof *old);
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
static void heap_filter_inc(heap_tables *tab, uint32_t fi) {
  if (tab->filter_count[fi]++ == 0)
    atomic_fetch_or_explicit(&heap_filter[fi >> 6], (uint64_t)1 << (fi & 63),
                             memory_order_relaxed);
}

static void heap_filter_dec(heap_tables *tab, uint32_t fi) {
  if (--tab->filter_count[fi] == 0)
    atomic_fetch_and_explicit(&heap_filter[fi >> 6], ~((uint64_t)1 << (fi & 63)),
                              memory_order_relaxed);
}

/* ----------------------------------------------------------- slow paths */

static void heap_lock_all(void) {
  for (uint32_t k = 0; k < HEAP_STRIPES; k++) pthread_mutex_lock(&heap_stripes[k].mu);
  for (uint32_t i = 0; i < HEAP_SHARDS; i++) pthread_mutex_lock(&heap_shards[i].mu);
}

static void heap_unlock_all(void) {
  for (uint32_t i = HEAP_SHARDS; i-- > 0;) pthread_mutex_unlock(&heap_shards[i].mu);
  for (uint32_t k = HEAP_STRIPES; k-- > 0;) pthread_mutex_unlock(&heap_stripes[k].mu);
}

/* Records a sampled block; the caller has entered heap code (heap_enter). */
static void heap_record(uintptr_t p, uint64_t size, uint64_t rate, uint32_t gen,
                        const uintptr_t *frames, uint32_t n) {
  double weight = 1.0 / -expm1(-(double)size / (double)rate);
  uint32_t tid = heap_tid();
  inprof__sample_ctx ctx;
  inprof__context_copy(&ctx);   /* this thread's span ids and labels now */
  uint32_t fi = heap_filter_index(p);
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];

  /* Memory first, with no lock held. */
  heap_pool_refill();
  heap_shard_grow(sh);

  uint64_t h = inprof__stack_hash(tid, frames, n) ^ inprof__context_hash(&ctx);
  heap_stripe *sp = heap_stripe_of(h);
  pthread_mutex_lock(&sp->mu);
  heap_tables *tab = heap_tables_get();
  /* Checked under S_k: a stop or restart before this point wins. */
  if (!tab || !atomic_load_explicit(&heap_enabled, memory_order_relaxed) ||
      atomic_load_explicit(&heap_gen, memory_order_relaxed) != gen) {
    pthread_mutex_unlock(&sp->mu);
    return;
  }
  heap_stack *st = heap_stack_intern(tab, h, tid, &ctx, frames, n, weight, weight * (double)size);
  if (!st) {
    pthread_mutex_unlock(&sp->mu);
    INPROF__COUNT(heap_samples_dropped, 1);
    return;
  }
  INPROF__COUNT(heap_samples, 1);

  pthread_mutex_lock(&sh->mu);
  heap_entry *e = heap_shard_find(sh, p);
  /* The grow above left room for one entry, but another thread (another
   * stripe) may have taken it since: grow again rather than drop a sample
   * the bounds allow. Mapping under S_k is allowed (a system call, as in
   * heap_pool_get); L is dropped for it. Each pass either finds room or
   * sees the shard grown (by this thread or another), so a few passes
   * suffice; only a failed mmap or the shard's bound ends in the drop below. */
  for (int tries = 0; !e && !heap_shard_has_room(sh) && sh->count < HEAP_SHARD_MAX_LIVE &&
                      tries < 4; tries++) {
    pthread_mutex_unlock(&sh->mu);
    heap_shard_grow(sh);
    pthread_mutex_lock(&sh->mu);
    e = heap_shard_find(sh, p);
  }
  if (e) {
    /* A block freed without a hook call: the newer allocation replaces it. */
    atomic_fetch_sub_explicit(&e->stack->refs, 1, memory_order_release);
    e->size = size;
    e->weight = weight;
    e->stack = st;
  } else if (heap_shard_has_room(sh)) {
    heap_entry ne = {.ptr = p, .size = size, .weight = weight, .stack = st};
    heap_shard_place(sh, &ne);
    sh->count++;
    heap_filter_inc(tab, fi);
    atomic_fetch_add_explicit(&heap_live, 1, memory_order_relaxed);
  } else {
    /* Counted in this period's allocations, but not tracked as live. */
    atomic_fetch_sub_explicit(&st->refs, 1, memory_order_release);
    INPROF__COUNT(heap_samples_dropped, 1);
  }
  pthread_mutex_unlock(&sh->mu);
  /* S_k is held until the entry is in: the invariant check (every S and L)
   * then never sees a reference without its entry. */
  pthread_mutex_unlock(&sp->mu);
}

/* Unwinds and records one sampled block. Its own function so that the
 * frames array (sized by max_frames) is only on the stack while sampling. */
static __attribute__((noinline)) void heap_sample(uintptr_t p, uint64_t size, uint64_t rate,
                                                  uint32_t gen, uint32_t max) {
  uintptr_t frames[max];
  uint32_t n = inprof__unwind_here(frames, max, HEAP_SKIP_FRAMES);
  heap_record(p, size, rate, gen, frames, n);
  __asm__ volatile("" ::: "memory");
}

/*
 * cd is the countdown the caller decided on: this thread's own
 * (inprof_record_alloc, the interposer) or one the caller keeps
 * (inprof_record_alloc_countdown, e.g. Rust's ProfiledAllocator in its own
 * thread-local). Several countdowns on one thread are each a Poisson process
 * over the bytes they see, so every byte is still sampled with rate 1/R.
 */
static __attribute__((noinline)) void heap_alloc_slow(void *ptr, size_t size, uint64_t *cd) {
  if (!atomic_load_explicit(&heap_enabled, memory_order_acquire)) {
    *cd = HEAP_RECHECK_BYTES;
    return;
  }
  if (tls_in_heap) {
    /* A signal handler interrupted this thread's heap code: taking a lock or
     * unwinding now could wait for the interrupted code itself. */
    if (ptr && !inprof__in_profiler) INPROF__COUNT(heap_samples_dropped, 1);
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
      *cd = d - size;
      errno = saved_errno;
      return;
    }
  }
  /* Memoryless: the next distance starts after this block. */
  *cd = heap_draw(rate);
  if (ptr == NULL || inprof__in_profiler) {
    errno = saved_errno;
    return;
  }

  uint32_t max = atomic_load_explicit(&heap_max_frames, memory_order_relaxed);
  if (max == 0 || max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  /* A hook may run on a nearly full stack (a small sigaltstack): without
   * room for the frames array, the sample is skipped, never overflowed.
   * The check costs a system call per page; room that ends inside the page
   * this frame is on needs none (that page is mapped: this frame uses it). */
  size_t room = (size_t)max * sizeof(uintptr_t) + HEAP_SAMPLE_STACK;
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  bool same_page = here >= room && ((here - room) & ~(uintptr_t)4095) == (here & ~(uintptr_t)4095);
  if (!same_page && !inprof__unwind_stack_room(room)) {
    INPROF__COUNT(heap_samples_dropped, 1);
    errno = saved_errno;
    return;
  }
  int prev = heap_enter();
  int prev_in_profiler = inprof__in_profiler;
  inprof__in_profiler = 1;
  heap_sample((uintptr_t)ptr, size, rate, gen, max);
  inprof__in_profiler = prev_in_profiler;
  heap_leave(prev);
  errno = saved_errno;
}

/* Removes p's live entry, if any; the caller has entered heap code. */
/* Under the shard lock: forgets p's entry, if it has one. */
static void heap_shard_forget(heap_shard *sh, uintptr_t p, uint32_t fi) {
  heap_entry *e = heap_shard_find(sh, p);
  if (e) {
    /* Under L: the entry's reference keeps the record alive until here. */
    atomic_fetch_sub_explicit(&e->stack->refs, 1, memory_order_release);
    heap_shard_erase(sh, e);
    heap_filter_dec(heap_tables_get(), fi);
    atomic_fetch_sub_explicit(&heap_live, 1, memory_order_relaxed);
  }
}

static void heap_free_entry(uintptr_t p, uint32_t fi) {
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];
  pthread_mutex_lock(&sh->mu);
  heap_shard_forget(sh, p, fi);
  pthread_mutex_unlock(&sh->mu);
}

/* The same without waiting: for a handler whose deferral slots are full.
 * A shard lock this thread's interrupted code holds is busy, never waited
 * for; only then is the free lost (counted: its block stays "in use"). */
static void heap_free_entry_nowait(uintptr_t p, uint32_t fi) {
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];
  if (pthread_mutex_trylock(&sh->mu) != 0) {
    INPROF__COUNT(heap_samples_dropped, 1);
    return;
  }
  heap_shard_forget(sh, p, fi);
  pthread_mutex_unlock(&sh->mu);
}

static __attribute__((noinline)) void heap_free_slow(uintptr_t p, uint32_t fi) {
  /* free(NULL): no entry, no lock (the inline filter test lets it through
   * when a live entry shares its slot). */
  if (HEAP_UNLIKELY(p == 0)) return;
  if (tls_in_heap) {
    /* A handler interrupted this thread's heap code, which may hold the
     * shard lock: matched when that code leaves (heap_leave). A slot is
     * reserved first, so a handler interrupting this one cannot take it. */
    uint32_t n = atomic_fetch_add_explicit(&tls_ndeferred, 1, memory_order_relaxed);
    if (n < HEAP_DEFERRED) {
      tls_deferred[n] = p;
    } else {
      atomic_fetch_sub_explicit(&tls_ndeferred, 1, memory_order_relaxed);
      heap_free_entry_nowait(p, fi);
    }
    return;
  }
  int saved_errno = errno;
  int prev = heap_enter();
  heap_free_entry(p, fi);
  heap_leave(prev);
  errno = saved_errno;
}

/* ---------------------------------------------------------------- hooks */

INPROF_EXPORT void inprof_record_alloc(void *ptr, size_t size) {
  uint64_t c = tls_countdown;
  if (HEAP_LIKELY(size < c)) {
    tls_countdown = c - size;
    return;
  }
  heap_alloc_slow(ptr, size, &tls_countdown);
  /* Keeps this frame on the stack (no tail call): HEAP_SKIP_FRAMES counts it. */
  __asm__ volatile("" ::: "memory");
}

/*
 * The same with the caller's countdown: the caller subtracts inline and calls
 * here only when an allocation reaches it, so one frame (this one) stands
 * where inprof_record_alloc's would, and HEAP_SKIP_FRAMES still holds. A
 * size below the countdown is handled too (just subtracted), so any call is
 * correct. A countdown of 0 (a new thread's) takes the slow path, which
 * draws a first distance, as for the library's own countdown.
 */
INPROF_EXPORT void inprof_record_alloc_countdown(void *ptr, size_t size, uint64_t *countdown) {
  uint64_t c = *countdown;
  if (HEAP_LIKELY(size < c)) {
    *countdown = c - size;
    return;
  }
  heap_alloc_slow(ptr, size, countdown);
  __asm__ volatile("" ::: "memory");
}

/* The filter's words, for callers that test it inline (never NULL; the
 * array is static, so the address holds for the whole process and in a
 * forked child). */
INPROF_EXPORT const uint64_t *inprof_heap_free_filter(void) {
  return (const uint64_t *)(const void *)heap_filter;
}

INPROF_EXPORT void inprof_record_free(void *ptr) {
  uintptr_t p = (uintptr_t)ptr;
  uint32_t fi = heap_filter_index(p);
  if (HEAP_LIKELY(!heap_filter_test(fi)))
    return;
  heap_free_slow(p, fi);
}

/* ------------------------------------------------------------ lifecycle */

INPROF__HIDDEN void inprof__heap_atfork_child(void) {
  /*
   * Called in the child only (api.c takes no heap lock before fork). Another
   * parent thread may have held any heap lock, or been half way through a
   * table change, at the fork: re-initialize every lock and start from empty
   * tables. The parent's tables, records and pool are left mapped in the
   * child and never touched again (a leak of at most their size, instead of
   * trusting a possibly inconsistent table). Blocks allocated before the
   * fork are no longer tracked: the child's profile starts empty.
   */
  atomic_store_explicit(&heap_enabled, 0, memory_order_relaxed);
  pthread_mutex_init(&heap_collect_mu, NULL);
  for (uint32_t k = 0; k < HEAP_STRIPES; k++) {
    heap_stripe *sp = &heap_stripes[k];
    pthread_mutex_init(&sp->mu, NULL);
    memset(sp->pool_free, 0, sizeof sp->pool_free);
    sp->pool_bump = NULL;
    sp->pool_left = 0;
  }
  for (uint32_t i = 0; i < HEAP_SHARDS; i++) {
    pthread_mutex_init(&heap_shards[i].mu, NULL);
    heap_shards[i].slots = NULL;
    heap_shards[i].cap = heap_shards[i].count = 0;
  }
  /* Only a process that ever sampled has bits to clear (and pages to copy). */
  if (atomic_load_explicit(&heap_tab, memory_order_relaxed))
    memset((void *)heap_filter, 0, sizeof heap_filter);
  atomic_store_explicit(&heap_tab, NULL, memory_order_relaxed);
  atomic_store_explicit(&heap_live, 0, memory_order_relaxed);
  atomic_store_explicit(&heap_nstacks, 0, memory_order_relaxed);
  atomic_store_explicit(&heap_stack_bytes, 0, memory_order_relaxed);
  /* The spare chunk is either untouched or NULL: it stays usable. */
  /* The forking thread is the child's only thread: fix its cached identity. */
  tls_in_heap = 0;
  atomic_store_explicit(&tls_ndeferred, 0, memory_order_relaxed);
  tls_tid = 0;
  tls_rng = 0;
}

/*
 * Calls once, in normal context, every library function the hooks reach, so
 * that each is bound now: a hook's first call through lazy binding
 * (_dl_runtime_resolve saves the whole vector state on the stack) would
 * overflow a small signal stack. The volatile inputs keep the compiler from
 * folding the calls away.
 */
static void heap_warm_up(void) {
  static volatile double one = 1.0, dsink;
  static volatile size_t n = 8;
  static volatile long lsink;
  uint64_t st = inprof__rng_seed(0);
  lsink = (long)inprof__rng_exp(&st, 4096);
  dsink = expm1(-one);
  lsink = llround(one);
  lsink = syscall(SYS_gettid);
  char a[16] = {0}, b[16] = {0};
  memcpy(a, b, n);
  memset(a, 1, n);
  lsink = memcmp(a, b, n);
  int saved = errno;
  heap_unmap(heap_map(4096), 4096);
  errno = saved;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  if (pthread_mutex_trylock(&mu) == 0) pthread_mutex_unlock(&mu);
  pthread_mutex_lock(&mu);
  pthread_mutex_unlock(&mu);
  (void)dsink;
  (void)lsink;
}

INPROF__HIDDEN inprof_status inprof__heap_start(const inprof__settings *s) {
  if (!s || s->heap_sample_bytes == 0) return INPROF_OK;
  heap_warm_up();
  /* The hooks walk against the unwinder's tables, CPU sampling on or off
   * (the collector refreshes them each period). */
  inprof__unwind_init();
  if (!heap_tables_get()) {
    /* Start is serialized (api.c's lifecycle lock), so one mapping at most. */
    heap_tables *tab = heap_map(sizeof *tab);
    if (!tab)
      return inprof__fail(INPROF_ERR_NO_MEMORY, "cannot map the heap profiler's tables: %s",
                          strerror(errno));
    atomic_store_explicit(&heap_tab, tab, memory_order_release);
  }
  heap_pool_refill();
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

/* consume: the period ends (inprof__heap_collect); else only a look at it
 * (inprof__heap_snapshot, for inprof_collect): allocation counts stay for
 * the period's export and no record is reclaimed. */
static void heap_report(inprof__agg *agg, bool consume) {
  int prev_in_profiler = inprof__in_profiler;
  inprof__in_profiler = 1;
  /* C only: the aggregate below allocates, which no heap lock allows. */
  pthread_mutex_lock(&heap_collect_mu);
  heap_tables *tab = heap_tables_get();
  heap_stack *report = NULL;

  if (tab) {
    /* Live blocks into their records' scratch; one shard locked at a time. */
    for (uint32_t i = 0; i < HEAP_SHARDS; i++) {
      heap_shard *sh = &heap_shards[i];
      int prev = heap_enter();
      pthread_mutex_lock(&sh->mu);
      for (uint32_t j = 0; j < sh->cap; j++) {
        heap_entry *e = &sh->slots[j];
        if (!e->ptr) continue;
        e->stack->inuse_count += e->weight;
        e->stack->inuse_bytes += e->weight * (double)e->size;
      }
      pthread_mutex_unlock(&sh->mu);
      heap_leave(prev);
    }

    /* Each record's values move to its report fields. A reported record is
     * not reused before the second pass below, so it outlives its stripe's
     * lock while the aggregate copies it (only this function, under C,
     * reuses records). One stripe locked at a time. */
    int prev = heap_enter();
    for (uint32_t k = 0; k < HEAP_STRIPES; k++) {
      heap_stripe *sp = &heap_stripes[k];
      pthread_mutex_lock(&sp->mu);
      for (uint32_t b = k; b < HEAP_STACK_BUCKETS; b += HEAP_STRIPES) {
        heap_stack **link = &tab->buckets[b];
        while (*link) {
          heap_stack *st = *link;
          int64_t *v = st->report;
          memset(v, 0, sizeof st->report);
          v[INPROF__VT_ALLOC_SAMPLES] = heap_round(st->alloc_count);
          v[INPROF__VT_ALLOC_SPACE] = heap_round(st->alloc_bytes);
          v[INPROF__VT_INUSE_OBJECTS] = heap_round(st->inuse_count);
          v[INPROF__VT_INUSE_SPACE] = heap_round(st->inuse_bytes);
          if (consume) st->alloc_count = st->alloc_bytes = 0;
          st->inuse_count = st->inuse_bytes = 0;
          bool has_values = v[INPROF__VT_ALLOC_SAMPLES] || v[INPROF__VT_ALLOC_SPACE] ||
                            v[INPROF__VT_INUSE_OBJECTS] || v[INPROF__VT_INUSE_SPACE];
          if (agg && has_values) {
            st->report_next = report;
            report = st;
            link = &st->next;
          } else if (consume && atomic_load_explicit(&st->refs, memory_order_acquire) == 0) {
            /* Acquire pairs with the release decrements: the last user's
             * accesses happen before the reuse. */
            *link = st->next;
            heap_stacks_unreserve(1, heap_class_bytes(st->cls));
            heap_pool_put(st);
          } else {
            link = &st->next;
          }
        }
      }
      pthread_mutex_unlock(&sp->mu);
    }
    heap_leave(prev);
  }

  /* tid, frames and nframes never change while a record exists. */
  for (heap_stack *st = report; st; st = st->report_next)
    inprof__agg_add_ctx(agg, st->tid, &st->ctx, 0, st->frames, st->nframes, st->report);

  if (report) {
    int prev = heap_enter();
    for (heap_stack *st = report, *next; st; st = next) {
      next = st->report_next;
      heap_stripe *sp = heap_stripe_of(st->hash);
      pthread_mutex_lock(&sp->mu);
      st->report_next = NULL;
      if (consume && atomic_load_explicit(&st->refs, memory_order_acquire) == 0 &&
          st->alloc_count == 0)
        heap_stack_release(tab, st);
      pthread_mutex_unlock(&sp->mu);
    }
    heap_leave(prev);
  }

  pthread_mutex_unlock(&heap_collect_mu);
  inprof__in_profiler = prev_in_profiler;
}

INPROF__HIDDEN void inprof__heap_collect(inprof__agg *agg) { heap_report(agg, true); }

INPROF__HIDDEN void inprof__heap_snapshot(inprof__agg *agg) { heap_report(agg, false); }

/* ------------------------------------------- test-only introspection */

INPROF__HIDDEN uint64_t inprof__heap_test_check(uint64_t *entries) {
  uint64_t bad = 0, total = 0, refs = 0;
  static uint32_t fcount[HEAP_FILTER_SIZE];
  int prev = heap_enter();
  heap_lock_all();
  heap_tables *tab = heap_tables_get();
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
    uint32_t have = tab ? tab->filter_count[fi] : 0;
    if (have != fcount[fi]) bad++;
    if (heap_filter_test(fi) != (fcount[fi] > 0)) bad++;
  }
  uint32_t nst = 0;
  for (uint32_t b = 0; tab && b < HEAP_STACK_BUCKETS; b++)
    for (heap_stack *st = tab->buckets[b]; st; st = st->next) {
      refs += atomic_load_explicit(&st->refs, memory_order_relaxed);
      nst++;
    }
  if (nst != atomic_load_explicit(&heap_nstacks, memory_order_relaxed)) bad++;
  if (refs != total) bad++;
  if (total != atomic_load_explicit(&heap_live, memory_order_relaxed)) bad++;
  heap_unlock_all();
  heap_leave(prev);
  if (entries) *entries = total;
  return bad;
}

INPROF__HIDDEN int inprof__heap_test_is_live(const void *ptr) {
  uintptr_t p = (uintptr_t)ptr;
  uint32_t fi = heap_filter_index(p);
  heap_shard *sh = &heap_shards[fi & (HEAP_SHARDS - 1)];
  int prev = heap_enter();
  pthread_mutex_lock(&sh->mu);
  int live = heap_shard_find(sh, p) != NULL;
  pthread_mutex_unlock(&sh->mu);
  heap_leave(prev);
  return live;
}
