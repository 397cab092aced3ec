/*
 * sample/context.c - owns what a sample knows besides its stack: each
 * thread's context (span ids, custom labels), the process-wide table that
 * interns (key, value) label strings, the local root span -> endpoint map,
 * and the endpoint hit counts of the current period.
 *
 * Why it is built this way:
 * - The setters run on every span enter and exit of the host, so they take
 *   no lock and allocate nothing once a (key, value) pair is known: a few
 *   stores into the thread's own TLS (BENCHMARKS.md, "Context").
 * - The CPU signal handler cannot copy strings nor take locks. It copies the
 *   thread's context, 32 bytes of span ids and label ids, into the sample
 *   (inprof__context_copy). Per-thread timers signal the thread itself, so
 *   the handler only reads its own thread's TLS, as does the heap hook.
 * - A handler may interrupt a setter anywhere. The context is
 *   double-buffered (sample/context.h): a setter fills the inactive slot
 *   and flips the index with one store, so a reader sees the old or the new
 *   context, never a mix. A label is one id naming an interned (key, value)
 *   pair, so even a mix could not pair one label's key with another's value.
 * - Interning: an open-addressing index of entry ids (CAS from 0 to claim a
 *   slot, never removed) over preallocated entries and a string arena, all
 *   static, so that ids stay valid for the life of the process (live heap
 *   samples keep them across periods) and nothing is freed under a reader.
 *   Bounded: LABEL_ENTRIES pairs and LABEL_ARENA bytes; past that
 *   inprof_set_label returns INPROF_ERR_LIMIT and labels_table_full counts.
 *   Two threads interning the same new pair at once: the loser of the CAS
 *   finds the winner's equal entry and uses it (its reserved entry is left
 *   unused).
 * - Endpoints: a direct-mapped table of local root span id -> endpoint
 *   label id, each slot under a sequence counter (a writer claims it with a
 *   CAS from an even value and gives up on an odd one; the collector
 *   retries nothing, it only takes consistent reads). A newer root evicts
 *   an older one in its slot: the table keeps recent roots, which is what a
 *   period's samples need.
 * - Endpoint counts: one atomic counter per interned endpoint id, taken
 *   (exchanged with 0) by the collector at each export; at most
 *   EP_PERIOD_MAX distinct endpoints per period.
 * All of it is .bss: pages are only touched when used, a forked child keeps
 * valid ids, and there is nothing to reset or free.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/hash.h"
#include "sample/context.h"

#define LABEL_ENTRIES 16384u          /* ids 1..LABEL_ENTRIES-1 */
#define LABEL_INDEX (2u * LABEL_ENTRIES) /* at most half full */
#define LABEL_ARENA (2u << 20)
#define EP_SLOTS 65536u               /* remembered roots: 1 MiB of .bss, touched as used */
#define EP_PERIOD_MAX 1024u           /* distinct endpoints counted per period */

_Static_assert(INPROF_MAX_LABEL_KEY_BYTES < 256 && INPROF_MAX_LABEL_VALUE_BYTES < 256,
               "lengths fit the entries' bytes");

INPROF__HIDDEN __thread inprof__context_tls inprof__context INPROF__TLS;

/* ------------------------------------------------------------- interning */

typedef struct label_entry {
  uint64_t hash;
  uint32_t off;                 /* key\0value\0 in the arena */
  uint32_t khash;               /* the key's own hash: same key, same khash */
  uint8_t klen, vlen;
} label_entry;

static label_entry entries[LABEL_ENTRIES];
static _Atomic uint32_t index_[LABEL_INDEX]; /* entry id; 0 = empty */
static _Atomic uint32_t entries_used = 1;    /* id 0 means "none" */
static _Atomic uint32_t arena_used;
static char arena[LABEL_ARENA];
static _Atomic uint64_t table_full;

/* A word at a time: keys and values are short, and this is on every
 * set_label. Lengths go in so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t hash_bytes(uint64_t h, const char *p, size_t n) {
  h ^= (uint64_t)n * 0x9E3779B97F4A7C15ull;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  h = (h ^ w) * 0x94d049bb133111ebull;
  return h ^ (h >> 29);
}

static int entry_equals(const label_entry *e, uint64_t h, const char *key, size_t klen,
                        const char *value, size_t vlen) {
  const char *s = arena + e->off;
  return e->hash == h && e->klen == klen && e->vlen == vlen && memcmp(s, key, klen) == 0 &&
         memcmp(s + klen + 1, value, vlen) == 0;
}

/* Reserves and fills an entry (not yet visible); 0 when full. */
static uint32_t entry_new(uint64_t h, uint32_t khash, const char *key, size_t klen,
                          const char *value, size_t vlen) {
  if (atomic_load_explicit(&entries_used, memory_order_relaxed) >= LABEL_ENTRIES) return 0;
  uint32_t id = atomic_fetch_add_explicit(&entries_used, 1, memory_order_relaxed);
  if (id >= LABEL_ENTRIES) return 0;
  uint32_t len = (uint32_t)(klen + vlen + 2);
  if (atomic_load_explicit(&arena_used, memory_order_relaxed) + len > LABEL_ARENA) return 0;
  uint32_t off = atomic_fetch_add_explicit(&arena_used, len, memory_order_relaxed);
  if (off + len > LABEL_ARENA) return 0;
  memcpy(arena + off, key, klen);
  arena[off + klen] = 0;
  memcpy(arena + off + klen + 1, value, vlen);
  arena[off + klen + 1 + vlen] = 0;
  entries[id] = (label_entry){.hash = h, .off = off, .khash = khash, .klen = (uint8_t)klen,
                              .vlen = (uint8_t)vlen};
  return id;
}

INPROF__HIDDEN uint32_t inprof__label_intern(const char *key, size_t klen, const char *value,
                                             size_t vlen) {
  if (klen == 0 || klen > INPROF_MAX_LABEL_KEY_BYTES || vlen > INPROF_MAX_LABEL_VALUE_BYTES)
    return 0;
  uint64_t kh = hash_bytes(0, key, klen);
  uint64_t h = inprof__mix64(hash_bytes(kh, value, vlen));
  uint32_t mine = 0;
  for (uint32_t i = (uint32_t)h & (LABEL_INDEX - 1), n = 0; n < LABEL_INDEX;
       i = (i + 1) & (LABEL_INDEX - 1), n++) {
    uint32_t e = atomic_load_explicit(&index_[i], memory_order_acquire);
    if (e == 0) {
      if (!mine && !(mine = entry_new(h, (uint32_t)kh, key, klen, value, vlen))) break;
      uint32_t expected = 0;
      if (atomic_compare_exchange_strong_explicit(&index_[i], &expected, mine,
                                                  memory_order_release, memory_order_acquire))
        return mine;
      e = expected;             /* another thread took the slot first */
    }
    if (entry_equals(&entries[e], h, key, klen, value, vlen)) return e;
  }
  atomic_fetch_add_explicit(&table_full, 1, memory_order_relaxed);
  return 0;
}

INPROF__HIDDEN int inprof__label_get(uint32_t id, const char **key, const char **value) {
  uint32_t used = atomic_load_explicit(&entries_used, memory_order_acquire);
  if (id == 0 || id >= used || id >= LABEL_ENTRIES) return 0;
  const label_entry *e = &entries[id];
  *key = arena + e->off;
  *value = arena + e->off + e->klen + 1;
  return 1;
}

INPROF__HIDDEN uint64_t inprof__context_labels_table_full(void) {
  return atomic_load_explicit(&table_full, memory_order_relaxed);
}

/*
 * A per-thread cache of recent (key, value) -> id lookups, by the caller's
 * pointers: a tracing layer sets the same few literals over and over. A hit
 * is only trusted after comparing the strings themselves (strcmp stops at
 * the caller's NUL, so it never reads past its strings): a buffer reused
 * with other text is a miss, never a wrong id.
 */
#define CACHE_SLOTS 8  /* 192 bytes of static TLS per thread */
typedef struct cache_slot {
  const char *key, *value;
  uint32_t id;
} cache_slot;
static __thread cache_slot tls_cache[CACHE_SLOTS] INPROF__TLS;

static inline cache_slot *cache_slot_of(const char *key, const char *value) {
  uint64_t h = ((uint64_t)(uintptr_t)key * 31u) ^ (uint64_t)(uintptr_t)value;
  return &tls_cache[inprof__mix64(h) & (CACHE_SLOTS - 1)];
}

/* The id of (key, value) if the cache knows it, else 0. */
static inline uint32_t cache_get(const char *key, const char *value) {
  const cache_slot *c = cache_slot_of(key, value);
  if (c->key != key || c->value != value || !c->id) return 0;
  const label_entry *e = &entries[c->id];
  if (strcmp(arena + e->off, key) != 0 || strcmp(arena + e->off + e->klen + 1, value) != 0)
    return 0;
  return c->id;
}

static inline void cache_put(const char *key, const char *value, uint32_t id) {
  cache_slot *c = cache_slot_of(key, value);
  c->key = key;
  c->value = value;
  c->id = id;
}

/* ------------------------------------------------------- thread context */

/* tid -> address of that thread's inprof__context, for readers outside the
 * thread (inprof__context_read_of). Open addressing; slots are never
 * emptied (lookups stop at an empty one), but a registering thread takes
 * over the slot of a thread that no longer exists, so the table holds the
 * threads alive at once, not all that ever were. A stale entry read
 * before its takeover is caught by the owner check. With more threads
 * alive than slots, later ones stay unregistered (their blocked samples
 * carry no labels). */
#define REGISTRY_SLOTS 4096u
typedef struct registry_slot {
  _Atomic uint32_t tid;
  _Atomic uintptr_t addr;
} registry_slot;
static registry_slot registry[REGISTRY_SLOTS];

static void context_register(void) {
  int saved_errno = errno; /* the probe below fails with ESRCH on purpose */
  uint32_t tid = (uint32_t)syscall(SYS_gettid);
  inprof__context.owner_tid = tid;
  uint32_t h = (uint32_t)inprof__mix64(tid) & (REGISTRY_SLOTS - 1);
  for (uint32_t i = 0; i < REGISTRY_SLOTS; i++) {
    registry_slot *r = &registry[(h + i) & (REGISTRY_SLOTS - 1)];
    uint32_t cur = atomic_load_explicit(&r->tid, memory_order_acquire);
    /* Taken by a live thread (tgkill with signal 0 only checks). */
    if (cur != 0 && cur != tid &&
        !(syscall(SYS_tgkill, getpid(), (pid_t)cur, 0) != 0 && errno == ESRCH))
      continue;
    if (cur != tid && !atomic_compare_exchange_strong(&r->tid, &cur, tid)) continue;
    atomic_store_explicit(&r->addr, (uintptr_t)&inprof__context, memory_order_release);
    break;
  }
  errno = saved_errno;
}

INPROF__HIDDEN int inprof__context_read_of(uint32_t tid, inprof__sample_ctx *out) {
  uint32_t h = (uint32_t)inprof__mix64(tid) & (REGISTRY_SLOTS - 1);
  for (uint32_t i = 0; i < REGISTRY_SLOTS; i++) {
    registry_slot *r = &registry[(h + i) & (REGISTRY_SLOTS - 1)];
    uint32_t cur = atomic_load_explicit(&r->tid, memory_order_acquire);
    if (cur == 0) return 0;
    if (cur != tid) continue;
    uintptr_t addr = atomic_load_explicit(&r->addr, memory_order_acquire);
    if (!addr) return 0;
    inprof__context_tls copy;
    struct iovec local = {&copy, sizeof copy}, remote = {(void *)addr, sizeof copy};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof copy ||
        copy.owner_tid != tid)
      return 0;
    *out = copy.slot[copy.active & 1u];
    return 1;
  }
  return 0;
}

INPROF__HIDDEN void inprof__context_atfork_child(void) {
  memset(registry, 0, sizeof registry);
  inprof__context.owner_tid = 0; /* the forking thread re-registers */
}

/* The slot a setter fills: a copy of the active one. */
static inline inprof__sample_ctx *ctx_begin(void) {
  if (__builtin_expect(!inprof__context.owner_tid, 0)) context_register();
  uint32_t a = inprof__context.active & 1u;
  inprof__context.slot[a ^ 1u] = inprof__context.slot[a];
  return &inprof__context.slot[a ^ 1u];
}

/* Publishes what ctx_begin's slot holds: one store, after the slot's. */
static inline void ctx_commit(void) {
  atomic_signal_fence(memory_order_release);
  inprof__context.active = (inprof__context.active & 1u) ^ 1u;
  atomic_signal_fence(memory_order_seq_cst);
}

INPROF__HIDDEN void inprof__context_set_span(uint64_t local_root_span_id, uint64_t span_id) {
  const inprof__sample_ctx *cur = &inprof__context.slot[inprof__context.active & 1u];
  if (cur->local_root_span_id == local_root_span_id && cur->span_id == span_id) return;
  inprof__sample_ctx *c = ctx_begin();
  c->local_root_span_id = local_root_span_id;
  c->span_id = span_id;
  ctx_commit();
}

/* Index of the thread's label with this key, or -1; *count: labels set. */
static int find_key(const inprof__sample_ctx *c, const char *key, size_t klen, int *count) {
  int found = -1, n = 0;
  for (; n < INPROF__LABEL_SLOTS && c->labels[n]; n++) {
    const label_entry *e = &entries[c->labels[n]];
    if (found < 0 && e->klen == klen && memcmp(arena + e->off, key, klen) == 0) found = n;
  }
  *count = n;
  return found;
}

/* Index of the thread's label whose key is id's key, or -1; *count: labels set. */
static int find_key_of(const inprof__sample_ctx *c, uint32_t id, int *count) {
  const label_entry *want = &entries[id];
  int found = -1, n = 0;
  for (; n < INPROF__LABEL_SLOTS && c->labels[n]; n++) {
    const label_entry *e = &entries[c->labels[n]];
    if (found < 0 && e->khash == want->khash && e->klen == want->klen &&
        memcmp(arena + e->off, arena + want->off, e->klen) == 0)
      found = n;
  }
  *count = n;
  return found;
}

INPROF__HIDDEN inprof_status inprof__context_set_label(const char *key, const char *value) {
  uint32_t id;
  if (value && key && (id = cache_get(key, value)) != 0) {
    /* Known pair: no hashing, no table. */
    const inprof__sample_ctx *cur = &inprof__context.slot[inprof__context.active & 1u];
    int count;
    int at = find_key_of(cur, id, &count);
    if (at >= 0 && cur->labels[at] == id) return INPROF_OK;
    if (at < 0 && count == INPROF__LABEL_SLOTS)
      return inprof__fail_reentrant(INPROF_ERR_LIMIT,
                                    "inprof_set_label: the thread already has "
                                    "INPROF_MAX_LABELS (4) labels");
    inprof__sample_ctx *c = ctx_begin();
    c->labels[at >= 0 ? at : count] = id;
    ctx_commit();
    return INPROF_OK;
  }
  if (!key || !*key)
    return inprof__fail_reentrant(INPROF_ERR_INVALID, "inprof_set_label: empty or NULL key");
  size_t klen = strnlen(key, INPROF_MAX_LABEL_KEY_BYTES + 1);
  if (klen > INPROF_MAX_LABEL_KEY_BYTES)
    return inprof__fail_reentrant(INPROF_ERR_INVALID,
                                  "inprof_set_label: key longer than "
                                  "INPROF_MAX_LABEL_KEY_BYTES (63)");
  size_t vlen = value ? strnlen(value, INPROF_MAX_LABEL_VALUE_BYTES + 1) : 0;
  if (vlen > INPROF_MAX_LABEL_VALUE_BYTES)
    return inprof__fail_reentrant(INPROF_ERR_INVALID,
                                  "inprof_set_label: value longer than "
                                  "INPROF_MAX_LABEL_VALUE_BYTES (127)");
  const inprof__sample_ctx *cur = &inprof__context.slot[inprof__context.active & 1u];
  int count;
  int at = find_key(cur, key, klen, &count);
  if (!value) {
    if (at < 0) return INPROF_OK;
    inprof__sample_ctx *c = ctx_begin();
    for (int i = at; i + 1 < count; i++) c->labels[i] = c->labels[i + 1];
    c->labels[count - 1] = 0;
    ctx_commit();
    return INPROF_OK;
  }
  if (at < 0 && count == INPROF__LABEL_SLOTS)
    return inprof__fail_reentrant(INPROF_ERR_LIMIT,
                                  "inprof_set_label: the thread already has "
                                  "INPROF_MAX_LABELS (4) labels");
  id = inprof__label_intern(key, klen, value, vlen);
  if (!id)
    return inprof__fail_reentrant(INPROF_ERR_LIMIT,
                                  "inprof_set_label: the label table is full");
  cache_put(key, value, id);
  if (at >= 0 && cur->labels[at] == id) return INPROF_OK;
  inprof__sample_ctx *c = ctx_begin();
  c->labels[at >= 0 ? at : count] = id;
  ctx_commit();
  return INPROF_OK;
}

INPROF__HIDDEN void inprof__context_clear_labels(void) {
  const inprof__sample_ctx *cur = &inprof__context.slot[inprof__context.active & 1u];
  if (!cur->labels[0]) return;
  inprof__sample_ctx *c = ctx_begin();
  memset(c->labels, 0, sizeof c->labels);
  ctx_commit();
}

/* ------------------------------------------------------------ endpoints */

typedef struct ep_slot {
  _Atomic uint32_t seq;         /* odd while a writer fills the slot */
  _Atomic uint32_t id;
  _Atomic uint64_t root;
} ep_slot;

static ep_slot ep_map[EP_SLOTS];
static _Atomic uint64_t ep_counts[LABEL_ENTRIES];
static _Atomic uint32_t ep_distinct;
static _Atomic uint64_t ep_dropped;

/* Endpoint names longer than a label value are cut at a UTF-8 boundary. */
static size_t endpoint_len(const char *s) {
  size_t n = strnlen(s, INPROF_MAX_LABEL_VALUE_BYTES + 1);
  if (n <= INPROF_MAX_LABEL_VALUE_BYTES) return n;
  n = INPROF_MAX_LABEL_VALUE_BYTES;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return n;
}

static uint32_t endpoint_id(const char *endpoint) {
  static const char key[] = INPROF__ENDPOINT_KEY;
  if (!endpoint || !*endpoint) return 0;
  uint32_t id = cache_get(key, endpoint);
  if (id) return id;
  size_t len = endpoint_len(endpoint);
  id = inprof__label_intern(key, sizeof key - 1, endpoint, len);
  /* A name cut to fit is not equal to its entry: it would never hit. */
  if (id && !endpoint[len]) cache_put(key, endpoint, id);
  return id;
}

INPROF__HIDDEN void inprof__endpoint_set(uint64_t root, const char *endpoint) {
  if (!root) return;
  uint32_t id = endpoint_id(endpoint);
  ep_slot *s = &ep_map[inprof__mix64(root) & (EP_SLOTS - 1)];
  uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
  /* Another writer is in this slot right now: the newer root of the two
   * is as good as either; give up rather than wait. */
  if ((seq & 1u) || !atomic_compare_exchange_strong_explicit(&s->seq, &seq, seq + 1,
                                                             memory_order_acquire,
                                                             memory_order_relaxed))
    return;
  atomic_store_explicit(&s->root, root, memory_order_relaxed);
  atomic_store_explicit(&s->id, id, memory_order_relaxed);
  atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

INPROF__HIDDEN uint32_t inprof__endpoint_lookup(uint64_t root) {
  if (!root) return 0;
  ep_slot *s = &ep_map[inprof__mix64(root) & (EP_SLOTS - 1)];
  uint32_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
  if (s1 & 1u) return 0;
  uint64_t r = atomic_load_explicit(&s->root, memory_order_relaxed);
  uint32_t id = atomic_load_explicit(&s->id, memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  if (atomic_load_explicit(&s->seq, memory_order_relaxed) != s1 || r != root) return 0;
  return id;
}

INPROF__HIDDEN void inprof__endpoint_count(const char *endpoint, uint64_t count) {
  if (!count) return;
  uint32_t id = endpoint_id(endpoint);
  if (!id) return;
  if (atomic_load_explicit(&ep_counts[id], memory_order_relaxed) == 0) {
    /* A new endpoint this period: within the bound, or dropped. */
    if (atomic_fetch_add_explicit(&ep_distinct, 1, memory_order_relaxed) >= EP_PERIOD_MAX) {
      atomic_fetch_add_explicit(&ep_dropped, 1, memory_order_relaxed);
      return;
    }
  }
  /* Release: the collector that takes this count reads the entry's strings. */
  atomic_fetch_add_explicit(&ep_counts[id], count, memory_order_release);
}

INPROF__HIDDEN void inprof__endpoint_counts_take(inprof__endpoint_count_fn fn, void *ctx) {
  uint32_t used = atomic_load_explicit(&entries_used, memory_order_acquire);
  if (used > LABEL_ENTRIES) used = LABEL_ENTRIES;
  atomic_store_explicit(&ep_distinct, 0, memory_order_relaxed);
  for (uint32_t id = 1; id < used; id++) {
    /* seq_cst: pairs with the adder, whose intern happened before its add. */
    uint64_t n = atomic_exchange(&ep_counts[id], 0);
    const char *k, *v;
    if (n && fn && inprof__label_get(id, &k, &v)) fn(ctx, v, n);
  }
}

INPROF__HIDDEN uint64_t inprof__context_endpoint_counts_dropped(void) {
  return atomic_load_explicit(&ep_dropped, memory_order_relaxed);
}
