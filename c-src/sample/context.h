/*
 * sample/context.h - the per-thread context samples carry (span ids,
 * custom labels), the process-wide table of interned (key, value) labels,
 * the local root span -> endpoint map and the endpoint hit counts. See the
 * top of context.c for why it is built this way.
 *
 * Async-signal-safe: inprof__context_copy (inline, reads only this
 * thread's TLS), inprof__label_get. Everything else is lock-free too, but
 * the setters must not re-enter each other on one thread.
 */
#ifndef INPROF__SAMPLE_CONTEXT_H
#define INPROF__SAMPLE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "sample/sample.h"

_Static_assert(INPROF__LABEL_SLOTS == INPROF_MAX_LABELS, "labels per sample = per thread");

/*
 * The thread's context, double-buffered: the setters write the slot that
 * is not `active`, then flip `active` (one aligned 32-bit store). A signal
 * handler interrupting a setter on this thread reads the active slot, which
 * no setter touches, so it sees the whole old context or the whole new one.
 * Only the owning thread writes it, and only that thread's signal handler
 * and heap hooks read it: compiler fences suffice, no CPU barrier.
 */
typedef struct inprof__context_tls {
  inprof__sample_ctx slot[2];
  volatile uint32_t active;
  /* The thread that registered this block (see inprof__context_read_of):
   * 0 until its first setter call. */
  uint32_t owner_tid;
} inprof__context_tls;

extern INPROF__HIDDEN __thread inprof__context_tls inprof__context INPROF__TLS;

/* Copies the calling thread's current context into out. Signal-safe. */
static inline void inprof__context_copy(inprof__sample_ctx *out) {
  uint32_t a = inprof__context.active & 1u;
  atomic_signal_fence(memory_order_acquire);
  *out = inprof__context.slot[a];
}

/*
 * Another thread's current context, for the wall sampler, which reads the
 * stacks of blocked threads from outside (cpu/wall.c). Each thread
 * registers its block's address at its first setter call; the block is
 * copied with process_vm_readv (safe if the thread has exited and its
 * memory is gone) and accepted only if it still names tid as its owner.
 * The caller makes sure the thread did not run meanwhile (it is blocked in
 * a system call), so the active slot is stable. 1 and *out set, or 0 (the
 * thread never set a context: no labels).
 */
INPROF__HIDDEN int inprof__context_read_of(uint32_t tid, inprof__sample_ctx *out);
/* In a forked child: the registry names the parent's threads. */
INPROF__HIDDEN void inprof__context_atfork_child(void);

/* A hash of a context, to mix into a stack key (the heap's stack table). */
static inline uint64_t inprof__context_hash(const inprof__sample_ctx *c) {
  uint64_t h = c->local_root_span_id * 0x9E3779B97F4A7C15ull ^ c->span_id;
  for (int i = 0; i < INPROF__LABEL_SLOTS; i++)
    h = (h ^ c->labels[i]) * 0xbf58476d1ce4e5b9ull + (uint64_t)i;
  return h ^ (h >> 31);
}

/* ------------------------------------------------------------- setters */

INPROF__HIDDEN void inprof__context_set_span(uint64_t local_root_span_id, uint64_t span_id);
/* INPROF_OK, INPROF_ERR_INVALID (key/value), INPROF_ERR_LIMIT (labels per
 * thread, table full). value NULL removes key. */
INPROF__HIDDEN inprof_status inprof__context_set_label(const char *key, const char *value);
INPROF__HIDDEN void inprof__context_clear_labels(void);

/* ------------------------------------------------------- label table */

/* The key "trace endpoint" endpoints are interned under. */
#define INPROF__ENDPOINT_KEY "trace endpoint"

/* Interned id of (key, value), inserting it; 0 when the table is full
 * (counted) or a length is over the limits. */
INPROF__HIDDEN uint32_t inprof__label_intern(const char *key, size_t klen, const char *value,
                                             size_t vlen);
/* The strings of a label id (never freed: the table only grows). 0 if the
 * id is unknown. */
INPROF__HIDDEN int inprof__label_get(uint32_t id, const char **key, const char **value);

/* ----------------------------------------------------------- endpoints */

/* Remembers root -> endpoint (a bounded map keeping the most recent). */
INPROF__HIDDEN void inprof__endpoint_set(uint64_t local_root_span_id, const char *endpoint);
/* The label id of root's endpoint (key INPROF__ENDPOINT_KEY), or 0. */
INPROF__HIDDEN uint32_t inprof__endpoint_lookup(uint64_t local_root_span_id);

/* Adds count hits to endpoint in the current period. */
INPROF__HIDDEN void inprof__endpoint_count(const char *endpoint, uint64_t count);
/* Takes (and zeroes) the period's hit counts: fn(ctx, endpoint, count) for
 * each endpoint with hits. Collector thread. */
typedef void (*inprof__endpoint_count_fn)(void *ctx, const char *endpoint, uint64_t count);
INPROF__HIDDEN void inprof__endpoint_counts_take(inprof__endpoint_count_fn fn, void *ctx);

/* Counters for inprof_stats: set_label calls refused for a full table,
 * count_endpoint calls dropped past the per-period bound. */
INPROF__HIDDEN uint64_t inprof__context_labels_table_full(void);
INPROF__HIDDEN uint64_t inprof__context_endpoint_counts_dropped(void);

#endif
