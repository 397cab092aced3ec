/*
 * cpu/unwind_signal.c - the stack walker that runs in signal handlers and
 * heap hooks, and nothing else: a DWARF call-frame-information (CFI)
 * interpreter over the unwind tables that cpu/unwind.c copies out of the
 * loaded objects beforehand. Everything here is async-signal-safe: no
 * malloc, no locks, no libc calls at all (system calls are made directly),
 * which tests/packaging/check_signal_safe.sh checks on this object's
 * undefined symbols.
 *
 * Why not libunwind from the handler: on a cache miss it calls
 * dl_iterate_phdr, which takes the loader's lock; a thread interrupted
 * while holding the malloc lock, and another in dlclose holding the loader
 * lock and calling free, then deadlock the host (issue 10). Here a PC in
 * no known object ends the walk (counted); nothing is looked up.
 *
 * Memory the walk reads: the copied tables (owned by the builder, freed
 * only after every walk that could see them has left, see unwind.c) and
 * the interrupted thread's stack, whose pages are checked with a system
 * call before they are read, so bad CFI or a corrupt stack ends the walk
 * instead of faulting. The wall sampler (cpu/wall.c) walks a blocked
 * thread's stack from a copy instead (inprof__unwind_walk_copy): the same
 * walk, with reads translated into the copy and nothing else readable.
 */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "cpu/unwind_signal.h"

INPROF__HIDDEN inprof__unwind_counts inprof__unwind_counters;
INPROF__HIDDEN _Atomic(const inprof__unwind_snapshot *) inprof__unwind_current;
INPROF__HIDDEN _Atomic uint32_t inprof__unwind_epoch;
INPROF__HIDDEN _Atomic uint32_t inprof__unwind_readers[2];
INPROF__HIDDEN _Atomic int inprof__unwind_gate;

#define COUNT(field) atomic_fetch_add_explicit(&inprof__unwind_counters.field, 1, \
                                               memory_order_relaxed)

#if defined(__x86_64__)

/* ------------------------------------------------------ memory checks */

#define PAGE_SIZE_MIN 4096u

/* A direct system call: no libc, no lazy binding, no sanitizer hooks. */
static inline long raw_syscall4(long n, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}

/* Readable without faulting? rt_sigprocmask copies the set from `addr`
 * before it looks at `how`; an invalid `how` then fails with EINVAL and
 * changes nothing, while an unreadable address fails with EFAULT. */
static int page_readable(uintptr_t addr) {
  /* Page 0 would be a NULL set, which the kernel does not read at all. */
  if (addr < PAGE_SIZE_MIN) return 0;
  long r = raw_syscall4(SYS_rt_sigprocmask, -1, (long)(addr & ~(uintptr_t)(PAGE_SIZE_MIN - 1)),
                        0, sizeof(uint64_t));
  return r != -14; /* -EFAULT */
}

/* The stack pages already checked in this walk. With `copy` set the walk
 * reads another thread's stack from a copy (cpu/wall.c): addresses in
 * [lo, hi) come from copy[addr - lo], nothing else is readable. */
typedef struct walk_mem {
  uintptr_t lo, hi;
  const uint8_t *copy;
} walk_mem;

/* Stack slots of other frames may sit next to a sanitizer's redzones: the
 * read is checked above, not by the sanitizer. */
__attribute__((no_sanitize("address", "thread", "alignment"))) static uintptr_t
load_word(uintptr_t addr) {
  return *(const volatile uintptr_t *)addr;
}

static int read_word(walk_mem *m, uintptr_t addr, uintptr_t *out) {
  if (m->copy) {
    if (addr < m->lo || addr > m->hi || m->hi - addr < sizeof *out) return 0;
    __builtin_memcpy(out, m->copy + (addr - m->lo), sizeof *out);
    return 1;
  }
  if (addr < m->lo || addr + sizeof *out > m->hi) {
    uintptr_t first = addr & ~(uintptr_t)(PAGE_SIZE_MIN - 1);
    uintptr_t last = (addr + sizeof *out - 1) & ~(uintptr_t)(PAGE_SIZE_MIN - 1);
    if (addr + sizeof *out < addr) return 0;
    if (!page_readable(first) || (last != first && !page_readable(last))) return 0;
    /* Stacks are contiguous: extend the checked range when adjacent. */
    if (m->hi == first || (m->lo <= first && first < m->hi)) {
      if (m->lo == m->hi) m->lo = first;
      m->hi = last + PAGE_SIZE_MIN;
    } else {
      m->lo = first;
      m->hi = last + PAGE_SIZE_MIN;
    }
  }
  *out = load_word(addr);
  return 1;
}

INPROF__HIDDEN int inprof__unwind_stack_room(size_t bytes) {
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (here < bytes) return 0;
  /* Every page down to here - bytes: a guard page is one page anywhere in
   * that range, so checking only the lowest page would miss a guard page
   * below an already-used but small stack only when the stack is smaller
   * than `bytes`, which the lowest page's check catches too. */
  for (uintptr_t a = here - bytes; a < here; a += PAGE_SIZE_MIN)
    if (!page_readable(a)) return 0;
  return 1;
}

/* ------------------------------------------------- reading the tables */

/* A cursor over one object's copied .eh_frame. */
typedef struct cfi_reader {
  const inprof__unwind_object *obj;
  const uint8_t *p, *end;
  int bad;
} cfi_reader;

static uintptr_t runtime_addr(const cfi_reader *r, const uint8_t *q) {
  return r->obj->eh_frame_addr + (uintptr_t)(q - r->obj->eh_frame);
}

static uint64_t rd_fixed(cfi_reader *r, unsigned n) {
  if ((size_t)(r->end - r->p) < n) {
    r->bad = 1;
    r->p = r->end;
    return 0;
  }
  /* Fixed-size copies, inlined: no call to memcpy (or a sanitizer's
   * interceptor of it) from a signal handler. Little-endian. */
  uint64_t v;
  switch (n) {
  case 1: v = r->p[0]; break;
  case 2: { uint16_t x; __builtin_memcpy(&x, r->p, 2); v = x; break; }
  case 4: { uint32_t x; __builtin_memcpy(&x, r->p, 4); v = x; break; }
  default: __builtin_memcpy(&v, r->p, 8); break;
  }
  r->p += n;
  return v;
}

static uint8_t rd_u8(cfi_reader *r) { return (uint8_t)rd_fixed(r, 1); }

static uint64_t rd_uleb(cfi_reader *r) {
  uint64_t v = 0;
  unsigned shift = 0;
  for (;;) {
    if (r->p >= r->end) {
      r->bad = 1;
      return 0;
    }
    uint8_t b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) return v;
  }
}

static int64_t rd_sleb(cfi_reader *r) {
  int64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    if (r->p >= r->end) {
      r->bad = 1;
      return 0;
    }
    b = *r->p++;
    if (shift < 64) v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
    shift += 7;
  } while (b & 0x80);
  if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
  return v;
}

/* A DW_EH_PE-encoded pointer. Indirect values would need a read of the
 * object's own memory: they are parsed (to skip them) but reported bad to
 * callers that need the value. */
#define PE_OMIT 0xff
static uintptr_t rd_encoded(cfi_reader *r, uint8_t enc, int *indirect) {
  if (enc == PE_OMIT) return 0;
  uintptr_t field = runtime_addr(r, r->p);
  uint64_t v;
  switch (enc & 0x0f) {
  case 0x00: v = rd_fixed(r, 8); break;
  case 0x01: v = rd_uleb(r); break;
  case 0x02: v = rd_fixed(r, 2); break;
  case 0x03: v = rd_fixed(r, 4); break;
  case 0x04: v = rd_fixed(r, 8); break;
  case 0x09: v = (uint64_t)rd_sleb(r); break;
  case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
  case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
  case 0x0c: v = rd_fixed(r, 8); break;
  default: r->bad = 1; return 0;
  }
  switch (enc & 0x70) {
  case 0x00: break;
  case 0x10: v += field; break;
  case 0x30: v += r->obj->hdr_addr; break;
  default: r->bad = 1; return 0;
  }
  if (indirect) *indirect = (enc & 0x80) != 0;
  return (uintptr_t)v;
}

/* ------------------------------------------------------- CFI rows */

enum { REG_BP = 6, REG_SP = 7, REG_RA = 16 };
enum { RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_VAL_OFFSET, RULE_EXPR, RULE_VAL_EXPR, RULE_BAD };
enum { CFA_REG, CFA_EXPR };

typedef struct rule {
  uint8_t how;
  int64_t off;
  const uint8_t *expr;
  uint32_t expr_len;
} rule;

typedef struct row {
  uint8_t cfa_how;
  uint32_t cfa_reg;
  int64_t cfa_off;
  const uint8_t *cfa_expr;
  uint32_t cfa_expr_len;
  rule bp, ra;
} row;

typedef struct cie_info {
  uint64_t code_align;
  int64_t data_align;
  uint32_t ra_reg;
  uint8_t fde_enc;
  uint8_t has_z, signal_frame;
  const uint8_t *insns, *insns_end;
} cie_info;

/* The rule a column gets, or NULL for columns the walk does not need. */
static rule *column(row *rw, const cie_info *cie, uint64_t reg) {
  if (reg == cie->ra_reg) return &rw->ra;
  if (reg == REG_BP) return &rw->bp;
  return NULL;
}

#define REMEMBER_DEPTH 8

/* Runs CFI instructions from `r` until the location passes `target`
 * (target = UINTPTR_MAX: all of them, for a CIE's initial instructions). */
static int run_cfi(cfi_reader *r, const cie_info *cie, uintptr_t loc, uintptr_t target,
                   row *rw, const row *initial) {
  row saved[REMEMBER_DEPTH];
  unsigned depth = 0;
  while (r->p < r->end && !r->bad) {
    uint8_t op = rd_u8(r);
    uint8_t hi = op & 0xc0, low = op & 0x3f;
    uint64_t reg;
    rule *c;
    if (hi == 0x40) { /* advance_loc */
      loc += low * cie->code_align;
      if (loc > target) return 1;
      continue;
    }
    if (hi == 0x80) { /* offset */
      int64_t off = (int64_t)rd_uleb(r) * cie->data_align;
      if ((c = column(rw, cie, low))) *c = (rule){.how = RULE_OFFSET, .off = off};
      continue;
    }
    if (hi == 0xc0) { /* restore */
      if ((c = column(rw, cie, low))) *c = initial ? *column((row *)initial, cie, low)
                                                   : (rule){.how = RULE_SAME};
      continue;
    }
    switch (op) {
    case 0x00: break; /* nop */
    case 0x01: { /* set_loc */
      loc = rd_encoded(r, cie->fde_enc, NULL);
      if (loc > target) return 1;
      break;
    }
    case 0x02: loc += rd_fixed(r, 1) * cie->code_align; if (loc > target) return 1; break;
    case 0x03: loc += rd_fixed(r, 2) * cie->code_align; if (loc > target) return 1; break;
    case 0x04: loc += rd_fixed(r, 4) * cie->code_align; if (loc > target) return 1; break;
    case 0x05: /* offset_extended */
      reg = rd_uleb(r);
      { int64_t off = (int64_t)rd_uleb(r) * cie->data_align;
        if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_OFFSET, .off = off}; }
      break;
    case 0x06: /* restore_extended */
      reg = rd_uleb(r);
      if ((c = column(rw, cie, reg))) *c = initial ? *column((row *)initial, cie, reg)
                                                   : (rule){.how = RULE_SAME};
      break;
    case 0x07: /* undefined */
      reg = rd_uleb(r);
      if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_UNDEF};
      break;
    case 0x08: /* same_value */
      reg = rd_uleb(r);
      if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_SAME};
      break;
    case 0x09: /* register: saved in another register, which the walk does not track */
      reg = rd_uleb(r);
      (void)rd_uleb(r);
      if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_BAD};
      break;
    case 0x0a: /* remember_state */
      if (depth == REMEMBER_DEPTH) return 0;
      saved[depth++] = *rw;
      break;
    case 0x0b: /* restore_state: the whole row, CFA included (as GCC's unwinder) */
      if (depth == 0) return 0;
      *rw = saved[--depth];
      break;
    case 0x0c: /* def_cfa */
      rw->cfa_how = CFA_REG;
      rw->cfa_reg = (uint32_t)rd_uleb(r);
      rw->cfa_off = (int64_t)rd_uleb(r);
      break;
    case 0x0d: rw->cfa_how = CFA_REG; rw->cfa_reg = (uint32_t)rd_uleb(r); break;
    case 0x0e: rw->cfa_off = (int64_t)rd_uleb(r); break;
    case 0x0f: { /* def_cfa_expression */
      uint64_t len = rd_uleb(r);
      if (len > (uint64_t)(r->end - r->p)) return 0;
      rw->cfa_how = CFA_EXPR;
      rw->cfa_expr = r->p;
      rw->cfa_expr_len = (uint32_t)len;
      r->p += len;
      break;
    }
    case 0x10: /* expression */
    case 0x16: { /* val_expression */
      reg = rd_uleb(r);
      uint64_t len = rd_uleb(r);
      if (len > (uint64_t)(r->end - r->p)) return 0;
      if ((c = column(rw, cie, reg)))
        *c = (rule){.how = op == 0x10 ? RULE_EXPR : RULE_VAL_EXPR, .expr = r->p,
                    .expr_len = (uint32_t)len};
      r->p += len;
      break;
    }
    case 0x11: /* offset_extended_sf */
      reg = rd_uleb(r);
      { int64_t off = rd_sleb(r) * cie->data_align;
        if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_OFFSET, .off = off}; }
      break;
    case 0x12: /* def_cfa_sf */
      rw->cfa_how = CFA_REG;
      rw->cfa_reg = (uint32_t)rd_uleb(r);
      rw->cfa_off = rd_sleb(r) * cie->data_align;
      break;
    case 0x13: rw->cfa_off = rd_sleb(r) * cie->data_align; break; /* def_cfa_offset_sf */
    case 0x14: /* val_offset */
      reg = rd_uleb(r);
      { int64_t off = (int64_t)rd_uleb(r) * cie->data_align;
        if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_VAL_OFFSET, .off = off}; }
      break;
    case 0x15: /* val_offset_sf */
      reg = rd_uleb(r);
      { int64_t off = rd_sleb(r) * cie->data_align;
        if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_VAL_OFFSET, .off = off}; }
      break;
    case 0x2e: (void)rd_uleb(r); break; /* GNU_args_size */
    case 0x2f: /* GNU_negative_offset_extended */
      reg = rd_uleb(r);
      { int64_t off = -(int64_t)rd_uleb(r) * cie->data_align;
        if ((c = column(rw, cie, reg))) *c = (rule){.how = RULE_OFFSET, .off = off}; }
      break;
    default: return 0; /* an opcode this walker does not know */
    }
  }
  return !r->bad;
}

/* ------------------------------------------------- DWARF expressions */

/* The register values a frame's expressions may name. */
typedef struct frame_regs {
  uintptr_t ip, sp, bp;
} frame_regs;

/* The operations that CFI expressions use on x86-64 (PLT entries, the
 * signal trampoline, realigned stacks). Anything else ends the walk. */
static int eval_expr(const uint8_t *expr, uint32_t len, const frame_regs *fr, walk_mem *m,
                     const inprof__unwind_object *obj, int push_first, uintptr_t first,
                     uintptr_t *out) {
  uintptr_t st[16];
  unsigned n = 0;
  cfi_reader r = {.obj = obj, .p = expr, .end = expr + len};
  if (push_first) st[n++] = first;
#define PUSH(v) do { uintptr_t v_ = (uintptr_t)(v); if (n == 16) return 0; st[n++] = v_; } while (0)
#define NEED(k) do { if (n < (k)) return 0; } while (0)
  while (r.p < r.end && !r.bad) {
    uint8_t op = rd_u8(&r);
    if (op >= 0x30 && op <= 0x4f) { PUSH(op - 0x30); continue; } /* lit0..31 */
    if (op >= 0x70 && op <= 0x8f) {                            /* breg0..31 */
      int64_t off = rd_sleb(&r);
      unsigned reg = op - 0x70;
      uintptr_t base;
      if (reg == REG_SP) base = fr->sp;
      else if (reg == REG_BP) base = fr->bp;
      else if (reg == REG_RA) base = fr->ip;
      else return 0;
      PUSH(base + (uintptr_t)off);
      continue;
    }
    uintptr_t a, b;
    switch (op) {
    case 0x06: NEED(1); if (!read_word(m, st[n - 1], &st[n - 1])) return 0; break; /* deref */
    case 0x08: PUSH(rd_fixed(&r, 1)); break;
    case 0x09: PUSH((int64_t)(int8_t)rd_fixed(&r, 1)); break;
    case 0x0a: PUSH(rd_fixed(&r, 2)); break;
    case 0x0b: PUSH((int64_t)(int16_t)rd_fixed(&r, 2)); break;
    case 0x0c: PUSH(rd_fixed(&r, 4)); break;
    case 0x0d: PUSH((int64_t)(int32_t)rd_fixed(&r, 4)); break;
    case 0x0e: case 0x0f: PUSH(rd_fixed(&r, 8)); break;
    case 0x10: PUSH(rd_uleb(&r)); break;
    case 0x11: PUSH(rd_sleb(&r)); break;
    case 0x12: NEED(1); PUSH(st[n - 1]); break; /* dup */
    case 0x13: NEED(1); n--; break;             /* drop */
    case 0x16: NEED(2); a = st[n - 1]; st[n - 1] = st[n - 2]; st[n - 2] = a; break; /* swap */
    case 0x23: NEED(1); st[n - 1] += (uintptr_t)rd_uleb(&r); break; /* plus_uconst */
    case 0x1a: case 0x1c: case 0x21: case 0x22: case 0x24: case 0x25:
    case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e:
      NEED(2);
      b = st[--n];
      a = st[n - 1];
      switch (op) {
      case 0x1a: a &= b; break;
      case 0x1c: a -= b; break;
      case 0x21: a |= b; break;
      case 0x22: a += b; break;
      case 0x24: a = b < 64 ? a << b : 0; break;
      case 0x25: a = b < 64 ? a >> b : 0; break;
      case 0x29: a = a == b; break;
      case 0x2a: a = (intptr_t)a >= (intptr_t)b; break;
      case 0x2b: a = (intptr_t)a > (intptr_t)b; break;
      case 0x2c: a = (intptr_t)a <= (intptr_t)b; break;
      case 0x2d: a = (intptr_t)a < (intptr_t)b; break;
      default: a = a != b; break;
      }
      st[n - 1] = a;
      break;
    default: return 0;
    }
  }
#undef PUSH
#undef NEED
  if (r.bad || n == 0) return 0;
  *out = st[n - 1];
  return 1;
}

/* --------------------------------------------------------- lookups */

static const inprof__unwind_object *find_object(const inprof__unwind_snapshot *s, uintptr_t pc) {
  uint32_t lo = 0, hi = s->count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->objects[mid]->start <= pc) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return NULL;
  const inprof__unwind_object *o = s->objects[lo - 1];
  return pc < o->end ? o : NULL;
}

/* The FDE whose table entry has the greatest initial location <= pc. */
static const uint8_t *find_fde(const inprof__unwind_object *o, uintptr_t pc) {
  if (o->fde_count == 0) return NULL;
  intptr_t rel = (intptr_t)(pc - o->hdr_addr);
  uint32_t lo = 0, hi = o->fde_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if ((intptr_t)o->table[2 * mid] <= rel) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return NULL;
  uintptr_t fde_addr = o->hdr_addr + (uintptr_t)(intptr_t)o->table[2 * (lo - 1) + 1];
  if (fde_addr < o->eh_frame_addr || fde_addr - o->eh_frame_addr >= o->eh_frame_len) return NULL;
  return o->eh_frame + (fde_addr - o->eh_frame_addr);
}

/* A CIE or FDE record's body: [p, end) after its length field. */
static int record_bounds(const inprof__unwind_object *o, const uint8_t *rec, const uint8_t **body,
                         const uint8_t **end) {
  cfi_reader r = {.obj = o, .p = rec, .end = o->eh_frame + o->eh_frame_len};
  uint64_t len = rd_fixed(&r, 4);
  if (len == 0xffffffffu) len = rd_fixed(&r, 8);
  if (r.bad || len == 0 || len > (uint64_t)(r.end - r.p)) return 0;
  *body = r.p;
  *end = r.p + len;
  return 1;
}

static int parse_cie(const inprof__unwind_object *o, const uint8_t *cie, cie_info *ci) {
  const uint8_t *body, *end;
  if (!record_bounds(o, cie, &body, &end)) return 0;
  cfi_reader r = {.obj = o, .p = body, .end = end};
  if (rd_fixed(&r, 4) != 0) return 0; /* CIE id in .eh_frame */
  uint8_t version = rd_u8(&r);
  const char *aug = (const char *)r.p;
  while (r.p < r.end && *r.p) r.p++;
  if (r.p >= r.end) return 0;
  r.p++;
  ci->fde_enc = 0;
  ci->has_z = 0;
  ci->signal_frame = 0;
  ci->code_align = rd_uleb(&r);
  ci->data_align = rd_sleb(&r);
  ci->ra_reg = version == 1 ? rd_u8(&r) : (uint32_t)rd_uleb(&r);
  const uint8_t *aug_end = NULL;
  if (aug[0] == 'z') {
    uint64_t alen = rd_uleb(&r);
    if (alen > (uint64_t)(r.end - r.p)) return 0;
    aug_end = r.p + alen;
    ci->has_z = 1;
  }
  for (const char *a = aug + (aug[0] == 'z'); *a; a++) {
    switch (*a) {
    case 'R': ci->fde_enc = rd_u8(&r); break;
    case 'P': { uint8_t enc = rd_u8(&r); (void)rd_encoded(&r, (uint8_t)(enc & 0x7f), NULL); break; }
    case 'L': (void)rd_u8(&r); break;
    case 'S': ci->signal_frame = 1; break;
    case 'B': break;
    default:
      if (!aug_end) return 0; /* cannot skip what it does not know */
      goto done; /* the rest is skipped with the augmentation data */
    }
  }
done:
  if (aug_end) r.p = aug_end;
  if (r.bad) return 0;
  ci->insns = r.p;
  ci->insns_end = end;
  return 1;
}

/* One step: the caller's registers from the callee's. Returns 1 when it
 * stepped, 0 when the walk ends (outermost frame or failure). */
static int step(const inprof__unwind_snapshot *s, frame_regs *fr, int exact, int *next_exact,
                walk_mem *m, int *clean_end) {
  uintptr_t pc = exact ? fr->ip : fr->ip - 1;
  const inprof__unwind_object *o = find_object(s, pc);
  if (!o) {
    COUNT(unknown_pc);
    return 0;
  }
  const uint8_t *fde = find_fde(o, pc), *body, *end;
  if (!fde || !record_bounds(o, fde, &body, &end)) {
    COUNT(unknown_pc);
    return 0;
  }
  cfi_reader r = {.obj = o, .p = body, .end = end};
  uint32_t cie_ptr = (uint32_t)rd_fixed(&r, 4);
  if (r.bad || cie_ptr == 0) return 0;
  const uint8_t *cie = body - cie_ptr;
  if (cie < o->eh_frame || cie >= o->eh_frame + o->eh_frame_len) return 0;
  cie_info ci;
  if (!parse_cie(o, cie, &ci)) return 0;
  uintptr_t pc_begin = rd_encoded(&r, ci.fde_enc, NULL);
  uintptr_t pc_range = rd_encoded(&r, (uint8_t)(ci.fde_enc & 0x0f), NULL);
  if (r.bad || pc < pc_begin || pc - pc_begin >= pc_range) {
    COUNT(unknown_pc);
    return 0;
  }
  if (ci.has_z) {
    uint64_t alen = rd_uleb(&r);
    if (alen > (uint64_t)(r.end - r.p)) return 0;
    r.p += alen;
  }
  row rw = {.cfa_how = CFA_REG, .cfa_reg = REG_SP, .bp = {.how = RULE_SAME},
            .ra = {.how = RULE_UNDEF}};
  cfi_reader cr = {.obj = o, .p = ci.insns, .end = ci.insns_end};
  if (!run_cfi(&cr, &ci, pc_begin, UINTPTR_MAX, &rw, NULL)) return 0;
  row initial = rw;
  if (!run_cfi(&r, &ci, pc_begin, pc, &rw, &initial)) return 0;

  uintptr_t cfa;
  if (rw.cfa_how == CFA_EXPR) {
    if (!eval_expr(rw.cfa_expr, rw.cfa_expr_len, fr, m, o, 0, 0, &cfa)) return 0;
  } else if (rw.cfa_reg == REG_SP) {
    cfa = fr->sp + (uintptr_t)rw.cfa_off;
  } else if (rw.cfa_reg == REG_BP) {
    cfa = fr->bp + (uintptr_t)rw.cfa_off;
  } else {
    return 0;
  }
  uintptr_t ra, bp = fr->bp;
  switch (rw.ra.how) {
  case RULE_UNDEF: *clean_end = 1; return 0; /* the outermost frame */
  case RULE_OFFSET: if (!read_word(m, cfa + (uintptr_t)rw.ra.off, &ra)) return 0; break;
  case RULE_EXPR: {
    uintptr_t at;
    if (!eval_expr(rw.ra.expr, rw.ra.expr_len, fr, m, o, 1, cfa, &at) || !read_word(m, at, &ra))
      return 0;
    break;
  }
  default: return 0;
  }
  switch (rw.bp.how) {
  case RULE_SAME: break;
  case RULE_UNDEF: bp = 0; break;
  case RULE_OFFSET: if (!read_word(m, cfa + (uintptr_t)rw.bp.off, &bp)) return 0; break;
  case RULE_VAL_OFFSET: bp = cfa + (uintptr_t)rw.bp.off; break;
  case RULE_EXPR: {
    uintptr_t at;
    if (!eval_expr(rw.bp.expr, rw.bp.expr_len, fr, m, o, 1, cfa, &at) || !read_word(m, at, &bp))
      return 0;
    break;
  }
  default: return 0;
  }
  if (ra == 0) {
    *clean_end = 1;
    return 0;
  }
  /* Stacks grow down: a caller's frame is above its callee's, except
   * across a signal frame (the interrupted code may be on another stack). */
  if (!ci.signal_frame && cfa <= fr->sp) return 0;
  fr->ip = ra;
  fr->sp = cfa;
  fr->bp = bp;
  *next_exact = ci.signal_frame;
  return 1;
}

/* ------------------------------------------------------------ walks */

/* Enters the current snapshot's grace period; see unwind.c for the
 * writer's side. Returns the snapshot, or NULL (gate closed, none yet). */
static const inprof__unwind_snapshot *reader_enter(uint32_t *slot) {
  for (int tries = 0; tries < 4; tries++) {
    uint32_t e = atomic_load(&inprof__unwind_epoch);
    atomic_fetch_add(&inprof__unwind_readers[e & 1], 1);
    if (atomic_load(&inprof__unwind_epoch) == e) {
      const inprof__unwind_snapshot *s =
          atomic_load(&inprof__unwind_gate) ? NULL : atomic_load(&inprof__unwind_current);
      if (s) {
        *slot = e & 1;
        return s;
      }
      atomic_fetch_sub(&inprof__unwind_readers[e & 1], 1);
      return NULL;
    }
    atomic_fetch_sub(&inprof__unwind_readers[e & 1], 1);
  }
  return NULL;
}

static uint32_t walk(const inprof__unwind_regs *regs, uintptr_t *frames, uint32_t max,
                     uint32_t skip, walk_mem m) {
  if (max == 0) return 0;
  uint32_t slot = 0;
  const inprof__unwind_snapshot *s = reader_enter(&slot);
  uint32_t n = 0, depth = 0;
  if (!s) {
    COUNT(gated);
    if (skip == 0) frames[n++] = regs->ip;
    return n;
  }
  frame_regs fr = {.ip = regs->ip, .sp = regs->sp, .bp = regs->bp};
  int exact = 1, next_exact = 0, clean_end = 0;
  for (;;) {
    if (depth++ >= skip) {
      frames[n++] = fr.ip;
      if (n == max) break;
    }
    if (depth > INPROF_MAX_FRAMES_LIMIT + 64) break;
    if (!step(s, &fr, exact, &next_exact, &m, &clean_end)) {
      if (!clean_end && depth > 1) COUNT(bad_cfi);
      break;
    }
    exact = next_exact;
  }
  atomic_fetch_sub(&inprof__unwind_readers[slot], 1);
  return n;
}

INPROF__HIDDEN uint32_t inprof__unwind_walk(const inprof__unwind_regs *regs, uintptr_t *frames,
                                            uint32_t max, uint32_t skip) {
  return walk(regs, frames, max, skip, (walk_mem){0, 0, NULL});
}

INPROF__HIDDEN uint32_t inprof__unwind_walk_copy(const inprof__unwind_regs *regs,
                                                 const uint8_t *copy, uintptr_t base,
                                                 size_t len, uintptr_t *frames, uint32_t max) {
  if (max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  if (!copy || base + len < base) len = 0;
  return walk(regs, frames, max, 0, (walk_mem){base, base + len, copy});
}

INPROF__HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                              uint32_t max) {
  const mcontext_t *mc = &((const ucontext_t *)ucontext)->uc_mcontext;
  inprof__unwind_regs regs = {.ip = (uintptr_t)mc->gregs[REG_RIP],
                              .sp = (uintptr_t)mc->gregs[REG_RSP],
                              .bp = (uintptr_t)mc->gregs[REG_RBP]};
  if (max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  return inprof__unwind_walk(&regs, frames, max, 0);
}

/* ----------------------------------------------------- own stack */

INPROF__HIDDEN __attribute__((noinline)) uint32_t
inprof__unwind_here(uintptr_t *frames, uint32_t max, uint32_t skip) {
  if (max > INPROF_MAX_FRAMES_LIMIT) max = INPROF_MAX_FRAMES_LIMIT;
  if (max == 0) return 0;
  if (!inprof__unwind_stack_room(INPROF__UNWIND_STACK_NEED)) {
    COUNT(no_stack_room);
    return 0;
  }
  inprof__unwind_regs regs;
  /* This function's own registers at one instruction: the walk starts in
   * this frame (skipped below). */
  __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
                   : "=r"(regs.ip), "=r"(regs.sp), "=r"(regs.bp));
  if (skip > 16) skip = 16;
  return inprof__unwind_walk(&regs, frames, max, skip + 1);
}

#else /* not x86-64: the interrupted PC only, until a port */

INPROF__HIDDEN int inprof__unwind_stack_room(size_t bytes) {
  (void)bytes;
  return 1;
}

INPROF__HIDDEN uint32_t inprof__unwind_walk(const inprof__unwind_regs *regs, uintptr_t *frames,
                                            uint32_t max, uint32_t skip) {
  if (max == 0 || skip) return 0;
  frames[0] = regs->ip;
  return 1;
}

INPROF__HIDDEN uint32_t inprof__unwind_signal(void *ucontext, uintptr_t *frames,
                                              uint32_t max) {
  (void)ucontext, (void)frames, (void)max;
  return 0;
}

INPROF__HIDDEN uint32_t inprof__unwind_walk_copy(const inprof__unwind_regs *regs,
                                                 const uint8_t *copy, uintptr_t base,
                                                 size_t len, uintptr_t *frames, uint32_t max) {
  (void)copy, (void)base, (void)len;
  return inprof__unwind_walk(regs, frames, max, 0);
}

INPROF__HIDDEN uint32_t inprof__unwind_here(uintptr_t *frames, uint32_t max, uint32_t skip) {
  (void)frames, (void)max, (void)skip;
  return 0;
}

#endif
