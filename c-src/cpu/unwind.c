/*
 * cpu/unwind.c - the normal-context side of stack walking: it builds the
 * snapshot of unwind tables that the lock-free walker (unwind_signal.c)
 * reads, keeps it current as objects are loaded and unloaded, retires old
 * snapshots only when no walk can still see them, closes the walker around
 * fork(), and walks the caller's own stack for the heap hooks.
 *
 * Snapshot lifetime (a two-counter grace period, like RCU): a walk
 * increments readers[epoch & 1], re-checks the epoch, then loads the
 * current snapshot. The builder publishes a new snapshot, advances the
 * epoch, and waits until readers[old epoch & 1] drains; only then does it
 * free what the old snapshot alone referenced. Walks never wait.
 */
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cpu/unwind.h"

/* An object's copied tables, owned here; `pub` is what walks read. */
typedef struct owned_object {
  inprof__unwind_object pub;
  uintptr_t base;      /* dlpi_addr */
  uint64_t name_hash;  /* with base and hdr_addr: which object this is */
  void *mem;
  size_t mem_len;
  int seen;
  struct owned_object *next;
} owned_object;

static pthread_mutex_t builder_mu = PTHREAD_MUTEX_INITIALIZER;
static owned_object *objects;           /* every object of the current snapshot */
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static size_t copied_bytes;

/* Copies beyond this are not made (the object's samples end at its
 * frames, counted as unknown PCs): bounded memory whatever is loaded. */
#define COPY_LIMIT_BYTES ((size_t)256 << 20)

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; s && *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

/* Reads a DW_EH_PE value of .eh_frame_hdr (in the live object, under the
 * loader's lock: it cannot be unmapped meanwhile). */
static int hdr_value(const uint8_t **p, uint8_t enc, uintptr_t hdr, uintptr_t *out) {
  uintptr_t field = (uintptr_t)*p;
  int64_t v;
  switch (enc & 0x0f) {
  case 0x03: { uint32_t x; memcpy(&x, *p, 4); v = x; *p += 4; break; }
  case 0x0b: { int32_t x; memcpy(&x, *p, 4); v = x; *p += 4; break; }
  case 0x00: case 0x04: case 0x0c: { int64_t x; memcpy(&x, *p, 8); v = x; *p += 8; break; }
  default: return 0;
  }
  switch (enc & 0x70) {
  case 0x00: break;
  case 0x10: v += (int64_t)field; break;
  case 0x30: v += (int64_t)hdr; break;
  default: return 0;
  }
  *out = (uintptr_t)v;
  return 1;
}

/* The end of .eh_frame: its records up to the zero terminator, within the
 * segment that holds it. */
static size_t eh_frame_length(uintptr_t start, uintptr_t limit) {
  uintptr_t p = start;
  while (p + 4 <= limit) {
    uint32_t len;
    memcpy(&len, (const void *)p, 4);
    if (len == 0) return p + 4 - start;
    uint64_t full = len;
    size_t head = 4;
    if (len == 0xffffffffu) {
      if (p + 12 > limit) break;
      memcpy(&full, (const void *)(p + 4), 8);
      head = 12;
    }
    if (full > limit - p - head) break;
    p += head + full;
  }
  return p - start;
}

static owned_object *copy_object(struct dl_phdr_info *info, uintptr_t text_start,
                                 uintptr_t text_end, const ElfW(Phdr) *eh_hdr) {
  uintptr_t hdr = info->dlpi_addr + eh_hdr->p_vaddr;
  const uint8_t *p = (const uint8_t *)hdr;
  if (p[0] != 1) return NULL; /* version */
  uint8_t frame_enc = p[1], count_enc = p[2], table_enc = p[3];
  p += 4;
  uintptr_t eh_frame, count;
  if (!hdr_value(&p, frame_enc, hdr, &eh_frame) || !hdr_value(&p, count_enc, hdr, &count))
    return NULL;
  /* The walker's binary search reads 32-bit datarel pairs: what every
   * linker writes. Other tables are not used. */
  if (table_enc != 0x3b || count > (1u << 26)) return NULL;
  /* The loaded segment that holds .eh_frame bounds its length. */
  uintptr_t limit = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t s = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && eh_frame >= s && eh_frame < s + ph->p_memsz)
      limit = s + ph->p_memsz;
  }
  if (!limit) return NULL;
  size_t frame_len = eh_frame_length(eh_frame, limit);
  size_t table_len = (size_t)count * 8;
  size_t total = table_len + frame_len;
  if (copied_bytes + total > COPY_LIMIT_BYTES) return NULL;
  owned_object *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  size_t mem_len = total ? total : 1;
  void *mem = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    free(o);
    return NULL;
  }
  memcpy(mem, p, table_len);
  memcpy((uint8_t *)mem + table_len, (const void *)eh_frame, frame_len);
  mprotect(mem, mem_len, PROT_READ);
  o->mem = mem;
  o->mem_len = mem_len;
  o->pub = (inprof__unwind_object){.start = text_start, .end = text_end, .hdr_addr = hdr,
                                   .table = (const int32_t *)mem, .fde_count = (uint32_t)count,
                                   .eh_frame_addr = eh_frame,
                                   .eh_frame = (const uint8_t *)mem + table_len,
                                   .eh_frame_len = frame_len};
  copied_bytes += mem_len;
  return o;
}

static void free_object(owned_object *o) {
  copied_bytes -= o->mem_len;
  munmap(o->mem, o->mem_len);
  free(o);
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *ctx) {
  (void)size;
  (void)ctx;
  uintptr_t text_start = UINTPTR_MAX, text_end = 0;
  const ElfW(Phdr) *eh_hdr = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_GNU_EH_FRAME) eh_hdr = ph;
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t s = info->dlpi_addr + ph->p_vaddr;
    if (s < text_start) text_start = s;
    if (s + ph->p_memsz > text_end) text_end = s + ph->p_memsz;
  }
  if (!eh_hdr || text_end <= text_start) return 0;
  uintptr_t hdr = info->dlpi_addr + eh_hdr->p_vaddr;
  uint64_t name_hash = hash_name(info->dlpi_name);
  for (owned_object *o = objects; o; o = o->next) {
    if (o->base == info->dlpi_addr && o->pub.hdr_addr == hdr && o->name_hash == name_hash &&
        o->pub.start == text_start && o->pub.end == text_end) {
      o->seen = 1;
      return 0;
    }
  }
  owned_object *o = copy_object(info, text_start, text_end, eh_hdr);
  if (!o) return 0;
  o->base = info->dlpi_addr;
  o->name_hash = name_hash;
  o->seen = 1;
  o->next = objects;
  objects = o;
  return 0;
}

/* dl_iterate_phdr's counters of loads and unloads: nothing changed when
 * both are as last seen. */
static int counts_cb(struct dl_phdr_info *info, size_t size, void *ctx) {
  unsigned long long *c = ctx;
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
  }
  return 1; /* the first object is enough */
}

static int by_start(const void *a, const void *b) {
  const inprof__unwind_object *x = *(const inprof__unwind_object *const *)a;
  const inprof__unwind_object *y = *(const inprof__unwind_object *const *)b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Waits until no walk can hold a snapshot of the given epoch parity.
 * Walks take microseconds; the bound only guards against a walk that
 * never returns (a thread stopped by a debugger). */
static int wait_readers(uint32_t parity) {
  for (int i = 0; i < 20000; i++) {
    if (atomic_load(&inprof__unwind_readers[parity]) == 0) return 1;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* Called with builder_mu held. */
static void refresh_locked(int force) {
  unsigned long long c[2] = {0, 0};
  dl_iterate_phdr(counts_cb, c);
  if (!force && c[0] == seen_adds && c[1] == seen_subs && atomic_load(&inprof__unwind_current))
    return;
  for (owned_object *o = objects; o; o = o->next) o->seen = 0;
  dl_iterate_phdr(phdr_cb, NULL);
  uint32_t n = 0;
  for (owned_object *o = objects; o; o = o->next) n += o->seen;
  inprof__unwind_snapshot *s = malloc(sizeof *s + n * sizeof s->objects[0]);
  if (!s) return;
  s->count = 0;
  for (owned_object *o = objects; o; o = o->next)
    if (o->seen) s->objects[s->count++] = &o->pub;
  qsort(s->objects, s->count, sizeof s->objects[0], by_start);

  const inprof__unwind_snapshot *old = atomic_exchange(&inprof__unwind_current, s);
  uint32_t e = atomic_fetch_add(&inprof__unwind_epoch, 1);
  if (!wait_readers(e & 1)) {
    /* A walk is stuck: keep the old tables alive (leaked) rather than
     * free memory it may read. */
    for (owned_object **pp = &objects; *pp;) {
      if (!(*pp)->seen) *pp = (*pp)->next; /* dropped from the list, not freed */
      else pp = &(*pp)->next;
    }
  } else {
    free((void *)old);
    for (owned_object **pp = &objects; *pp;) {
      owned_object *o = *pp;
      if (!o->seen) {
        *pp = o->next;
        free_object(o);
      } else {
        pp = &o->next;
      }
    }
  }
  seen_adds = c[0];
  seen_subs = c[1];
}

INPROF__HIDDEN void inprof__unwind_init(void) {
  pthread_mutex_lock(&builder_mu);
  refresh_locked(0);
  pthread_mutex_unlock(&builder_mu);
}

INPROF__HIDDEN void inprof__unwind_refresh(void) {
  /* Not from a signal handler: dl_iterate_phdr takes the loader's lock. */
  pthread_mutex_lock(&builder_mu);
  refresh_locked(0);
  pthread_mutex_unlock(&builder_mu);
}

INPROF__HIDDEN void inprof__unwind_get_counts(uint64_t out[4]) {
  out[0] = atomic_load(&inprof__unwind_counters.unknown_pc);
  out[1] = atomic_load(&inprof__unwind_counters.no_stack_room);
  out[2] = atomic_load(&inprof__unwind_counters.gated);
  out[3] = atomic_load(&inprof__unwind_counters.bad_cfi);
}

/* ------------------------------------------------------------- fork */

/* Prepare: no refresh in progress (the builder's lock), no walk in
 * progress and none starting (the gate) until parent/child reopen it, so
 * the child inherits no half-done state. Nothing here waits on a flush. */
INPROF__HIDDEN void inprof__unwind_atfork_prepare(void) {
  pthread_mutex_lock(&builder_mu);
  atomic_store(&inprof__unwind_gate, 1);
  wait_readers(0);
  wait_readers(1);
}

INPROF__HIDDEN void inprof__unwind_atfork_parent(void) {
  atomic_store(&inprof__unwind_gate, 0);
  pthread_mutex_unlock(&builder_mu);
}

INPROF__HIDDEN void inprof__unwind_atfork_child(void) {
  /* Same address space, same objects: the snapshot stays valid. Counters
   * of walks belong to threads that do not exist here. */
  atomic_store(&inprof__unwind_readers[0], 0);
  atomic_store(&inprof__unwind_readers[1], 0);
  atomic_store(&inprof__unwind_gate, 0);
  pthread_mutex_init(&builder_mu, NULL);
}
