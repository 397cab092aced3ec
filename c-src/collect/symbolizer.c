/*
 * collect/symbolizer.c - address -> function, file, line and mapping, for the
 * collector (never the signal handler).
 *
 * Loaded objects come from dl_iterate_phdr (the executable's empty name is
 * resolved through /proc/self/exe; the vDSO is read from memory). Nothing is
 * read for an object until an address in it is looked up: most loaded
 * objects (libcurl alone brings in dozens) never appear in a profile. Then:
 * - its ELF file is mmap'ed read-only and its .symtab and .dynsym function
 *   symbols kept sorted by address (names demangled lazily, once);
 * - its debug info is found: in the file itself, else in a separate debug
 *   file, as gdb and perf find them: <dir>/.build-id/xx/yyyy.debug, then the
 *   .gnu_debuglink name next to the object, in its .debug/ folder and under
 *   <dir>/<object's folder>, for each dir of the debug directories
 *   (INPROF_DEBUG_DIRS, default /usr/lib/debug). A candidate whose build id
 *   differs from the object's (or, without build ids, whose CRC differs from
 *   the debuglink's) is refused: wrong names are worse than none. The debug
 *   file's .symtab is read too (libc6-dbg names libc's internal functions).
 *   Nothing is ever fetched from the network: libdw is used directly, never
 *   libdwfl's standard lookup, which may call debuginfod.
 * - the DWARF is opened with libdw, with a table of compile unit ranges.
 * Each address's answer is cached in its object, so later exports only look
 * up new addresses. Objects that are no longer loaded are released on the
 * next refresh, with their debug info and cache.
 *
 * With debug info, a frame is its chain of functions, innermost first: the
 * functions inlined at that address (DW_TAG_inlined_subroutine), each at its
 * line (the innermost at the address's line-table line, the others at the
 * call line of the function inlined into them), then the real function
 * (DW_TAG_subprogram). Names come from the linkage name when there is one
 * (system_name keeps it raw, name is demangled), else from DW_AT_name. With
 * inlined frames off, only the real function is kept, at the line of the
 * outermost call. Without debug info for an address, the symbol table
 * answers (function only); with neither, the frame keeps only its mapping.
 *
 * Memory: the symbolizer counts its own tables and what libdw allocates for
 * an open object (its decompressed debug sections and, estimated, line
 * tables). Past the cap (INPROF_SYMBOLIZER_MAX_MB), no more debug info is
 * opened (symbol tables still are) and cap_hits counts each refusal.
 *
 * A file whose build id differs from the loaded object's (replaced on disk)
 * is not used for symbols.
 *
 * Symbol choice: an address belongs to the nearest preceding function symbol
 * if it lies within that symbol's size, or if that size is 0 (hand-written
 * assembly often has no size). Among aliases at one address the name with the
 * fewest leading underscores wins (getpid over __getpid), then GLOBAL over
 * WEAK over LOCAL, then the shorter, then the alphabetically first name.
 *
 * Names: C++ is demangled with parameters (ns::f(int)), as pprof's own tools
 * and c++filt show them, so overloads stay distinct; Rust legacy and v0 names
 * lose their hash and crate disambiguators (at_tests::jobs::parse). Names
 * longer than INPROF__DEMANGLE_MAX are kept mangled: libiberty's demangler
 * uses stack space proportional to the name. Its callback entry points are
 * used so that it never calls xmalloc (which exits the process on failure).
 *
 * inprof__symbolize returns 1 when addr lies in a PT_LOAD segment of a loaded
 * object (one mapping per segment, page-aligned like /proc/self/maps), else 0.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <demangle.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>
#include <zlib.h>

#include "collect/symbolizer.h"
#include "config/options.h"

#define INPROF__DEMANGLE_MAX 4096
#define DEMANGLE_BUF 16384

typedef struct sym {
  uint64_t value;              /* link-time address (st_value) */
  uint64_t size;
  const char *mangled;         /* in the mapped string table */
  char *name;                  /* demangled, lazily; or == mangled */
} sym;

/* One address range of a compile unit, for finding an address's unit. */
typedef struct cu_range {
  uint64_t lo, hi;
  uint32_t unit;               /* index in object.units */
} cu_range;

/* A function DIE with code: a subprogram or an inlined_subroutine. */
typedef struct fn_node {
  Dwarf_Off die;
  int32_t parent;              /* the function it is in (its node), or -1 */
} fn_node;

/* One address range of a function node. */
typedef struct fn_range {
  uint64_t lo, hi;
  uint32_t node;
  uint32_t depth;              /* nesting depth: inner ranges sort after outer */
} fn_range;

/* A compile unit; its function index is built the first time an address
 * in it is looked up (one walk of its DIEs instead of one per address). */
typedef struct unit {
  Dwarf_Off die;               /* offset of the unit's DIE */
  fn_node *nodes;
  fn_range *ranges;
  uint32_t nnodes, nranges, nodes_cap, ranges_cap;
  int indexed;                 /* 1 built, -1 failed (walk per address) */
  int lines_counted;           /* its line table is in dwarf_bytes */
} unit;

/* One cached answer: an address's lines, innermost first. */
typedef struct frame_ent {
  uint64_t vaddr;
  inprof__sym_line *lines;
  uint32_t nlines;
  int from_dwarf;
} frame_ent;

typedef struct object {
  char *path;                  /* as dl_iterate_phdr gave it (resolved) */
  uintptr_t base;              /* dlpi_addr: runtime = base + link address */
  uintptr_t lo, hi;            /* runtime range of all PT_LOAD segments */
  char build_id[2 * 64 + 1];
  inprof__mapping_info *maps;  /* one per PT_LOAD segment */
  uint32_t nmaps;
  sym *syms;
  uint32_t nsyms;
  void *image;                 /* mmap of the file, NULL for the vDSO */
  size_t image_len;
  void *dbg_image;             /* mmap of the separate debug file, if any */
  size_t dbg_image_len;
  char *dbg_path;              /* the file the DWARF is read from */
  Elf *elf;                    /* open DWARF, or NULL */
  Dwarf *dw;
  cu_range *cus;
  uint32_t ncus;
  unit *units;
  uint32_t nunits;
  uint64_t dwarf_bytes;        /* what libdw holds for it (estimated) */
  frame_ent *cache;            /* open addressing by vaddr; lines NULL = empty */
  uint32_t cache_mask, cache_n;
  char **strs;                 /* interned strings of cached answers */
  uint32_t strs_mask, strs_n;
  uint64_t own_bytes;          /* what the cache and strings hold */
  int is_vdso;
  int symbols_loaded;          /* symbols are read on the first lookup */
  int active;                  /* seen by the latest refresh */
  int seen;
} object;

/* One active PT_LOAD segment, for binary search by address. */
typedef struct range {
  uintptr_t start, limit;
  object *obj;
  const inprof__mapping_info *map;
} range;

struct inprof__symbolizer {
  object **objs;
  uint32_t nobjs, cap;
  range *ranges;
  uint32_t nranges, ranges_cap;
  char *demangle_buf;
  int inlined_frames;
  uint64_t max_bytes;
  char **debug_dirs;
  uint32_t ndebug_dirs;
  uint64_t cap_hits;
  /* The loaded objects as the last inprof__symbolizer_snapshot saw them,
   * not yet applied by inprof__symbolizer_refresh; NULL when none. */
  struct seen_list *pending;
  int snapshot_failed;         /* the last snapshot ran out of memory */
};

#define DEFAULT_DEBUG_DIRS "/usr/lib/debug"
#define DEFAULT_MAX_BYTES ((uint64_t)INPROF__DEFAULT_SYMBOLIZER_MAX_MB << 20)
#define MAX_INLINE_DEPTH 64
/* libdw's per-line record, and per-file, roughly: for the memory estimate. */
#define LINE_COST 48u
#define STR_OVERHEAD 16u

/* ----------------------------------------------------------- demangling */

typedef struct dm_out {
  char *buf;
  size_t len, cap;
  int overflow;
} dm_out;

static void dm_append(const char *s, size_t n, void *opaque) {
  dm_out *o = opaque;
  if (o->overflow || n >= o->cap - o->len) {
    o->overflow = 1;
    return;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = 0;
}

INPROF__HIDDEN const char *inprof__demangle(const char *name, char *buf, size_t len) {
  if (!name || !buf || len < 2) return name;
  size_t n = strnlen(name, INPROF__DEMANGLE_MAX + 1);
  if (n > INPROF__DEMANGLE_MAX) return name;
  int rust_v0 = name[0] == '_' && name[1] == 'R';
  int itanium = name[0] == '_' && name[1] == 'Z';
  if (!rust_v0 && !itanium) return name;
  dm_out o = {buf, 0, len, 0};
  buf[0] = 0;
  /* Legacy Rust names are valid Itanium names too: try Rust first, as
   * libiberty's own cplus_demangle does, so the hash is dropped. */
  if (rust_demangle_callback(name, DMGL_PARAMS | DMGL_ANSI, dm_append, &o) &&
      !o.overflow && o.len)
    return buf;
  if (rust_v0) return name;
  o.len = 0;
  o.overflow = 0;
  buf[0] = 0;
  if (cplus_demangle_v3_callback(name, DMGL_PARAMS | DMGL_ANSI, dm_append, &o) &&
      !o.overflow && o.len)
    return buf;
  return name;
}

/* ---------------------------------------------------------- ELF parsing */

static int in_bounds(size_t size, uint64_t off, uint64_t len) {
  return off <= size && len <= size - off;
}

/* Hex build id from the notes in [notes, notes + len), aligned to align. */
static void parse_build_id(const uint8_t *notes, size_t len, size_t align,
                           char *out, size_t out_len) {
  if (align != 8) align = 4;
  size_t off = 0;
  while (off + sizeof(ElfW(Nhdr)) <= len) {
    ElfW(Nhdr) nh;
    memcpy(&nh, notes + off, sizeof nh);
    size_t name_off = off + sizeof nh;
    size_t desc_off = name_off + ((nh.n_namesz + align - 1) & ~(align - 1));
    size_t next = desc_off + ((nh.n_descsz + align - 1) & ~(align - 1));
    if (desc_off > len || nh.n_descsz > len - desc_off || next <= off) return;
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
        memcmp(notes + name_off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
        nh.n_descsz * 2 < out_len) {
      static const char hex[] = "0123456789abcdef";
      for (size_t i = 0; i < nh.n_descsz; i++) {
        uint8_t b = notes[desc_off + i];
        out[2 * i] = hex[b >> 4];
        out[2 * i + 1] = hex[b & 15];
      }
      out[2 * nh.n_descsz] = 0;
      return;
    }
    off = next;
  }
}

static int valid_elf(const uint8_t *img, size_t size) {
  if (size < sizeof(ElfW(Ehdr))) return 0;
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
  return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
         eh->e_ident[EI_CLASS] == (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) &&
         eh->e_ident[EI_DATA] == ELFDATA2LSB;
}

/* The build id recorded in a file image (program headers, file offsets). */
static void file_build_id(const uint8_t *img, size_t size, char *out, size_t out_len) {
  out[0] = 0;
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
  if (eh->e_phentsize != sizeof(ElfW(Phdr)) ||
      !in_bounds(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(ElfW(Phdr))))
    return;
  const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(img + eh->e_phoff);
  for (unsigned i = 0; i < eh->e_phnum && !out[0]; i++)
    if (ph[i].p_type == PT_NOTE && in_bounds(size, ph[i].p_offset, ph[i].p_filesz))
      parse_build_id(img + ph[i].p_offset, ph[i].p_filesz, ph[i].p_align, out,
                     out_len);
}

static int bind_rank(unsigned char info) {
  switch (ELF64_ST_BIND(info)) {
  case STB_GLOBAL: return 0;
  case STB_WEAK: return 1;
  default: return 2;
  }
}

static size_t leading_underscores(const char *s) {
  size_t n = 0;
  while (s[n] == '_') n++;
  return n;
}

typedef struct raw_sym {
  uint64_t value, size;
  const char *name;
  unsigned char info;
} raw_sym;

/* Orders by address, then best alias first (see the comment at the top). */
static int raw_cmp(const void *pa, const void *pb) {
  const raw_sym *a = pa, *b = pb;
  if (a->value != b->value) return a->value < b->value ? -1 : 1;
  size_t ua = leading_underscores(a->name), ub = leading_underscores(b->name);
  if (ua != ub) return ua < ub ? -1 : 1;
  int ra = bind_rank(a->info), rb = bind_rank(b->info);
  if (ra != rb) return ra - rb;
  size_t la = strlen(a->name), lb = strlen(b->name);
  if (la != lb) return la < lb ? -1 : 1;
  return strcmp(a->name, b->name);
}

static int add_symtab(const uint8_t *img, size_t size, const ElfW(Shdr) *sh,
                      unsigned shnum, unsigned idx, raw_sym **out, size_t *n,
                      size_t *cap) {
  const ElfW(Shdr) *s = &sh[idx];
  if (s->sh_entsize != sizeof(ElfW(Sym)) || s->sh_link >= shnum ||
      !in_bounds(size, s->sh_offset, s->sh_size))
    return 0;
  const ElfW(Shdr) *str = &sh[s->sh_link];
  if (str->sh_type != SHT_STRTAB || !in_bounds(size, str->sh_offset, str->sh_size) ||
      str->sh_size == 0)
    return 0;
  const char *strtab = (const char *)img + str->sh_offset;
  /* Names must end inside the table; it ends with NUL in valid files. */
  if (strtab[str->sh_size - 1] != 0) return 0;
  const ElfW(Sym) *syms = (const ElfW(Sym) *)(img + s->sh_offset);
  size_t count = s->sh_size / sizeof(ElfW(Sym));
  for (size_t i = 0; i < count; i++) {
    const ElfW(Sym) *y = &syms[i];
    int type = ELF64_ST_TYPE(y->st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || y->st_shndx == SHN_UNDEF ||
        y->st_value == 0 || y->st_name == 0 || y->st_name >= str->sh_size)
      continue;
    if (*n == *cap) {
      size_t c = *cap ? *cap * 2 : 1024;
      raw_sym *r = realloc(*out, c * sizeof *r);
      if (!r) return -1;
      *out = r;
      *cap = c;
    }
    (*out)[(*n)++] = (raw_sym){y->st_value, y->st_size, strtab + y->st_name, y->st_info};
  }
  return 0;
}

/* Adds the function symbols of an ELF image's symbol tables to raw. */
static void collect_symbols(const uint8_t *img, size_t size, raw_sym **raw, size_t *n,
                            size_t *cap) {
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
  if (eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shnum == 0 ||
      !in_bounds(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr))))
    return;
  const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(img + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; i++)
    if (sh[i].sh_type == SHT_SYMTAB || sh[i].sh_type == SHT_DYNSYM)
      if (add_symtab(img, size, sh, eh->e_shnum, i, raw, n, cap) != 0) break;
}

/* Fills o->syms from the symbol tables of up to two ELF images (the object
 * and its separate debug file: aliases of one address merge). */
static void load_symbols2(object *o, const uint8_t *img, size_t size,
                          const uint8_t *img2, size_t size2) {
  raw_sym *raw = NULL;
  size_t n = 0, cap = 0;
  if (img) collect_symbols(img, size, &raw, &n, &cap);
  if (img2) collect_symbols(img2, size2, &raw, &n, &cap);
  if (n == 0) {
    free(raw);
    return;
  }
  qsort(raw, n, sizeof *raw, raw_cmp);
  sym *out = malloc(n * sizeof *out);
  if (!out) {
    free(raw);
    return;
  }
  uint32_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && out[k - 1].value == raw[i].value) {
      /* An alias: the first (best) name stays, the size is the largest. */
      if (raw[i].size > out[k - 1].size) out[k - 1].size = raw[i].size;
      continue;
    }
    out[k++] = (sym){raw[i].value, raw[i].size, raw[i].name, NULL};
  }
  free(raw);
  o->syms = out;
  o->nsyms = k;
}

static void load_symbols(object *o, const uint8_t *img, size_t size) {
  load_symbols2(o, img, size, NULL, 0);
}

/* ------------------------------------------------------- debug files */

static int map_file(const char *path, void **img, size_t *len);

/* Section name -> header, from the section header table (NULL: none). */
static const ElfW(Shdr) *find_section(const uint8_t *img, size_t size, const char *name) {
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
  if (eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shnum == 0 ||
      eh->e_shstrndx >= eh->e_shnum ||
      !in_bounds(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr))))
    return NULL;
  const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(img + eh->e_shoff);
  const ElfW(Shdr) *strs = &sh[eh->e_shstrndx];
  if (!in_bounds(size, strs->sh_offset, strs->sh_size) || strs->sh_size == 0) return NULL;
  const char *names = (const char *)img + strs->sh_offset;
  size_t want = strlen(name);
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    uint64_t off = sh[i].sh_name;
    if (off < strs->sh_size && strs->sh_size - off > want &&
        memcmp(names + off, name, want + 1) == 0)
      return &sh[i];
  }
  return NULL;
}

/* The image carries DWARF line info of its own (not stripped to NOBITS). */
static int has_dwarf(const uint8_t *img, size_t size) {
  const ElfW(Shdr) *s = find_section(img, size, ".debug_info");
  return s && s->sh_type != SHT_NOBITS && s->sh_size > 0;
}

static int has_symtab(const uint8_t *img, size_t size) {
  const ElfW(Shdr) *s = find_section(img, size, ".symtab");
  return s && s->sh_type == SHT_SYMTAB && s->sh_size > 0;
}

/* Maps path if it is an ELF debug file for the object: same build id, or,
 * when the object has none, the debuglink's CRC (crc >= 0). */
static int try_debug_file(const object *o, const char *path, int64_t crc, void **img,
                          size_t *len) {
  if (map_file(path, img, len) != 0) return -1;
  int ok = valid_elf(*img, *len);
  if (ok && o->build_id[0]) {
    char bid[sizeof o->build_id];
    file_build_id(*img, *len, bid, sizeof bid);
    ok = strcmp(bid, o->build_id) == 0;
  } else if (ok) {
    ok = crc >= 0 && crc32(0L, *img, (uInt)*len) == (uLong)crc;
  }
  ok = ok && (has_dwarf(*img, *len) || has_symtab(*img, *len));
  if (!ok) {
    munmap(*img, *len);
    *img = NULL;
    return -1;
  }
  return 0;
}

/* Finds and maps the object's separate debug file; 0 when found. */
static int find_debug_file(inprof__symbolizer *s, object *o, char *out, size_t out_len) {
  char path[PATH_MAX];
  /* 1. By build id under each debug directory. */
  size_t bl = strlen(o->build_id);
  for (uint32_t d = 0; bl > 2 && d < s->ndebug_dirs; d++) {
    int n = snprintf(path, sizeof path, "%s/.build-id/%.2s/%s.debug", s->debug_dirs[d],
                     o->build_id, o->build_id + 2);
    if (n > 0 && (size_t)n < sizeof path &&
        try_debug_file(o, path, -1, &o->dbg_image, &o->dbg_image_len) == 0) {
      snprintf(out, out_len, "%s", path);
      return 0;
    }
  }
  /* 2. By .gnu_debuglink: the name, then a CRC32 at the next 4-byte boundary. */
  const ElfW(Shdr) *sh = find_section(o->image, o->image_len, ".gnu_debuglink");
  if (!sh || sh->sh_type == SHT_NOBITS || !in_bounds(o->image_len, sh->sh_offset, sh->sh_size))
    return -1;
  const char *link = (const char *)o->image + sh->sh_offset;
  size_t ll = strnlen(link, sh->sh_size);
  if (ll == 0 || ll == sh->sh_size || strchr(link, '/')) return -1;
  size_t crc_off = (ll + 4) & ~(size_t)3;
  int64_t crc = -1;
  if (crc_off + 4 <= sh->sh_size) {
    uint32_t c;
    memcpy(&c, link + crc_off, 4);
    crc = c;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", o->path);
  char *slash = strrchr(dir, '/');
  if (!slash) return -1;
  *slash = 0;
  /* The debug file may not be the object itself (a link naming itself). */
  for (uint32_t k = 0; k < 2 + s->ndebug_dirs; k++) {
    int n;
    if (k == 0) n = snprintf(path, sizeof path, "%s/%.*s", dir, (int)ll, link);
    else if (k == 1) n = snprintf(path, sizeof path, "%s/.debug/%.*s", dir, (int)ll, link);
    else n = snprintf(path, sizeof path, "%s%s/%.*s", s->debug_dirs[k - 2], dir, (int)ll, link);
    if (n <= 0 || (size_t)n >= sizeof path || strcmp(path, o->path) == 0) continue;
    if (try_debug_file(o, path, crc, &o->dbg_image, &o->dbg_image_len) == 0) {
      snprintf(out, out_len, "%s", path);
      return 0;
    }
  }
  return -1;
}

/* ------------------------------------------------------------- DWARF */

static int cu_cmp(const void *pa, const void *pb) {
  const cu_range *a = pa, *b = pb;
  return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* What opening costs: dwarf_begin_elf decompresses every compressed debug
 * section up front, reading the whole mapped file (whose pages then count
 * too); the unit table reads every unit's abbreviations, which libdw keeps
 * parsed (about 4 times their size, measured on libc6-dbg's libc: the
 * estimate, 18 MiB, matches the RSS it adds). Uncompressed sections stay in
 * the file mapping, touched only where looked up. */
static uint64_t dwarf_open_cost(Elf *elf) {
  uint64_t cost = 0;
  int any_compressed = 0;
  Elf_Scn *scn = NULL;
  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return 0;
  while ((scn = elf_nextscn(elf, scn)) != NULL) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!name || strncmp(name, ".debug_", 7) != 0) continue;
    uint64_t size = sh.sh_type == SHT_NOBITS ? 0 : sh.sh_size;
    GElf_Chdr ch;
    int compressed = (sh.sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &ch);
    if (compressed) {
      size = ch.ch_size;
      cost += size;
    }
    if (!strcmp(name, ".debug_abbrev")) cost += 4 * size;
    any_compressed |= compressed;
  }
  size_t raw = 0;
  if (any_compressed && elf_rawfile(elf, &raw)) cost += raw;
  return cost;
}

static void object_close_dwarf(object *o) {
  if (o->dw) dwarf_end(o->dw);
  if (o->elf) elf_end(o->elf);
  o->dw = NULL;
  o->elf = NULL;
  free(o->cus);
  o->cus = NULL;
  o->ncus = 0;
  for (uint32_t i = 0; i < o->nunits; i++) {
    free(o->units[i].nodes);
    free(o->units[i].ranges);
  }
  free(o->units);
  o->units = NULL;
  o->nunits = 0;
  o->dwarf_bytes = 0;
}

static uint64_t total_memory(const inprof__symbolizer *s) {
  uint64_t m = 0;
  for (uint32_t i = 0; i < s->nobjs; i++) {
    const object *o = s->objs[i];
    m += o->dwarf_bytes + o->own_bytes + (uint64_t)o->nsyms * sizeof(sym) +
         (uint64_t)o->ncus * sizeof(cu_range) + (uint64_t)o->nunits * sizeof(unit);
  }
  return m;
}

/* Opens the DWARF in path (the object or its debug file) with libdw. */
static void object_open_dwarf(inprof__symbolizer *s, object *o, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  /* The whole file is mapped: libelf needs the descriptor no more. */
  if (elf) elf_cntl(elf, ELF_C_FDDONE);
  close(fd);
  if (!elf) return;
  uint64_t cost = dwarf_open_cost(elf);
  if (s->max_bytes && total_memory(s) + cost > s->max_bytes) {
    s->cap_hits++;
    elf_end(elf);
    return;
  }
  Dwarf *dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
  if (!dw) {
    elf_end(elf);
    return;
  }
  o->elf = elf;
  o->dw = dw;
  o->dwarf_bytes = cost;
  size_t cap = 0, ucap = 0;
  Dwarf_CU *cu = NULL, *next;
  Dwarf_Half version;
  uint8_t unit_type;
  Dwarf_Die cudie;
  while (dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie, NULL) == 0) {
    cu = next;
    if (unit_type != DW_UT_compile && unit_type != DW_UT_partial) continue;
    if (o->nunits == ucap) {
      size_t c = ucap ? ucap * 2 : 64;
      unit *v = realloc(o->units, c * sizeof *v);
      if (!v) {
        object_close_dwarf(o);
        return;
      }
      o->units = v;
      ucap = c;
    }
    o->units[o->nunits] = (unit){.die = dwarf_dieoffset(&cudie)};
    uint32_t u = o->nunits++;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
      if (hi <= lo) continue;
      if (o->ncus == cap) {
        size_t c = cap ? cap * 2 : 64;
        cu_range *v = realloc(o->cus, c * sizeof *v);
        if (!v) {
          object_close_dwarf(o);
          return;
        }
        o->cus = v;
        cap = c;
      }
      o->cus[o->ncus++] = (cu_range){.lo = lo, .hi = hi, .unit = u};
    }
  }
  if (o->ncus == 0) {
    object_close_dwarf(o);
    return;
  }
  qsort(o->cus, o->ncus, sizeof *o->cus, cu_cmp);
}

/* The unit whose ranges hold vaddr (its DIE in cudie), or NULL. */
static unit *find_cu(object *o, uint64_t vaddr, Dwarf_Die *cudie) {
  uint32_t lo = 0, hi = o->ncus;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (o->cus[mid].lo <= vaddr) lo = mid + 1;
    else hi = mid;
  }
  /* Ranges of units rarely overlap; look back a little in case they do. */
  for (uint32_t i = lo, k = 0; i > 0 && k < 8; i--, k++)
    if (vaddr >= o->cus[i - 1].lo && vaddr < o->cus[i - 1].hi)
      return dwarf_offdie(o->dw, o->units[o->cus[i - 1].unit].die, cudie)
                 ? &o->units[o->cus[i - 1].unit]
                 : NULL;
  return NULL;
}

/*
 * Collects the functions holding vaddr under parent, outermost first: the
 * subprogram, then each inlined_subroutine inside it. Descends into lexical
 * blocks and into namespaces and types (Rust and C++ nest functions there).
 */
static int walk_functions(Dwarf_Die *parent, uint64_t vaddr, Dwarf_Die *chain, int *n,
                          int depth) {
  Dwarf_Die child;
  if (depth > 2 * MAX_INLINE_DEPTH || dwarf_child(parent, &child) != 0) return 0;
  do {
    int tag = dwarf_tag(&child);
    switch (tag) {
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_lexical_block:
      if (dwarf_haspc(&child, vaddr) == 1) {
        if (tag != DW_TAG_lexical_block && *n < MAX_INLINE_DEPTH) chain[(*n)++] = child;
        walk_functions(&child, vaddr, chain, n, depth + 1);
        return 1;
      }
      break;
    case DW_TAG_namespace:
    case DW_TAG_module:
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
      if (dwarf_haschildren(&child) == 1 && walk_functions(&child, vaddr, chain, n, depth + 1))
        return 1;
      break;
    default:
      break;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return 0;
}

static int fn_range_cmp(const void *pa, const void *pb) {
  const fn_range *a = pa, *b = pb;
  if (a->lo != b->lo) return a->lo < b->lo ? -1 : 1;
  return a->depth < b->depth ? -1 : a->depth > b->depth;
}

/* Adds parent's function DIEs with code (and theirs, nested) to u. */
static int index_walk(unit *u, Dwarf_Die *parent, int32_t parent_node, uint32_t depth) {
  Dwarf_Die child;
  if (depth > 4 * MAX_INLINE_DEPTH || dwarf_child(parent, &child) != 0) return 0;
  do {
    int tag = dwarf_tag(&child);
    switch (tag) {
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine: {
      Dwarf_Addr base, lo, hi;
      ptrdiff_t off = 0;
      int32_t node = -1;
      while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
        if (hi <= lo) continue;
        if (node < 0) {
          if (u->nnodes == u->nodes_cap) {
            uint32_t c = u->nodes_cap ? u->nodes_cap * 2 : 64;
            fn_node *v = realloc(u->nodes, c * sizeof *v);
            if (!v) return -1;
            u->nodes = v;
            u->nodes_cap = c;
          }
          node = (int32_t)u->nnodes++;
          u->nodes[node] = (fn_node){.die = dwarf_dieoffset(&child), .parent = parent_node};
        }
        if (u->nranges == u->ranges_cap) {
          uint32_t c = u->ranges_cap ? u->ranges_cap * 2 : 64;
          fn_range *v = realloc(u->ranges, c * sizeof *v);
          if (!v) return -1;
          u->ranges = v;
          u->ranges_cap = c;
        }
        u->ranges[u->nranges++] =
            (fn_range){.lo = lo, .hi = hi, .node = (uint32_t)node, .depth = depth};
      }
      /* An abstract instance (no code) holds no function with code. */
      if (node >= 0 && dwarf_haschildren(&child) == 1 &&
          index_walk(u, &child, node, depth + 1) != 0)
        return -1;
      break;
    }
    case DW_TAG_lexical_block:
    case DW_TAG_namespace:
    case DW_TAG_module:
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
      if (dwarf_haschildren(&child) == 1 &&
          index_walk(u, &child, parent_node, depth + 1) != 0)
        return -1;
      break;
    default:
      break;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return 0;
}

/* Builds u's function index: every function range, sorted by start. */
static void index_unit(object *o, unit *u, Dwarf_Die *cudie) {
  if (index_walk(u, cudie, -1, 0) != 0) {
    free(u->nodes);
    free(u->ranges);
    u->nodes = NULL;
    u->ranges = NULL;
    u->nnodes = u->nranges = u->nodes_cap = u->ranges_cap = 0;
    u->indexed = -1;
    return;
  }
  qsort(u->ranges, u->nranges, sizeof *u->ranges, fn_range_cmp);
  u->indexed = 1;
  o->own_bytes += (uint64_t)u->nodes_cap * sizeof *u->nodes +
                  (uint64_t)u->ranges_cap * sizeof *u->ranges;
}

/*
 * The functions holding vaddr from u's index, outermost first (as
 * walk_functions gives them); -1 when the index cannot tell quickly.
 * Ranges nest, so the innermost range holding vaddr is the one with the
 * greatest start (the deepest among equal starts): the first found going
 * back from the last range starting at or below vaddr.
 */
static int indexed_functions(object *o, unit *u, uint64_t vaddr, Dwarf_Die *chain) {
  uint32_t lo = 0, hi = u->nranges;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (u->ranges[mid].lo <= vaddr) lo = mid + 1;
    else hi = mid;
  }
  int32_t node = -1;
  for (uint32_t i = lo, k = 0; i > 0; i--, k++) {
    if (k == 512) return -1;
    if (vaddr < u->ranges[i - 1].hi) {
      node = (int32_t)u->ranges[i - 1].node;
      break;
    }
  }
  int32_t path[MAX_INLINE_DEPTH];
  int n = 0;
  for (; node >= 0 && n < MAX_INLINE_DEPTH; node = u->nodes[node].parent) path[n++] = node;
  /* path is innermost first; chain wants the outermost first. */
  int k = 0;
  for (int i = n - 1; i >= 0; i--)
    if (dwarf_offdie(o->dw, u->nodes[path[i]].die, &chain[k])) k++;
  return k;
}

static uint64_t str_hash64(const char *p) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
  return h;
}

/* The object's copy of str (NULL for NULL, or when memory runs out). */
static const char *obj_intern(object *o, const char *str) {
  if (!str) return NULL;
  if ((o->strs_n + 1) * 2 > o->strs_mask + 1 || !o->strs) {
    uint32_t size = o->strs ? (o->strs_mask + 1) * 2 : 256;
    char **t = calloc(size, sizeof *t);
    if (!t) return NULL;
    for (uint32_t i = 0; o->strs && i <= o->strs_mask; i++)
      if (o->strs[i]) {
        uint32_t j = (uint32_t)str_hash64(o->strs[i]) & (size - 1);
        while (t[j]) j = (j + 1) & (size - 1);
        t[j] = o->strs[i];
      }
    o->own_bytes += (uint64_t)(size - (o->strs ? o->strs_mask + 1 : 0)) * sizeof *t;
    free(o->strs);
    o->strs = t;
    o->strs_mask = size - 1;
  }
  uint32_t i = (uint32_t)str_hash64(str) & o->strs_mask;
  while (o->strs[i]) {
    if (strcmp(o->strs[i], str) == 0) return o->strs[i];
    i = (i + 1) & o->strs_mask;
  }
  char *c = strdup(str);
  if (!c) return NULL;
  o->strs[i] = c;
  o->strs_n++;
  o->own_bytes += strlen(c) + 1 + STR_OVERHEAD;
  return c;
}

/* The DIE's declaration file. dwarf_decl_file of elfutils 0.188 refuses
 * file 0, which DWARF 5 allows and clang uses for the primary source file. */
static const char *decl_file(Dwarf_Die *d) {
  Dwarf_Attribute a;
  Dwarf_Word idx;
  Dwarf_Die cu;
  Dwarf_Files *files;
  size_t nfiles;
  if (!dwarf_attr_integrate(d, DW_AT_decl_file, &a) || dwarf_formudata(&a, &idx) != 0)
    return NULL;
  /* The index is into the file table of the unit of the DIE that holds the
   * attribute: follow origins and specifications to it (another unit's,
   * possibly). */
  Dwarf_Die where = *d;
  Dwarf_Attribute ao;
  for (int i = 0; i < 8 && !dwarf_attr(&where, DW_AT_decl_file, &ao); i++) {
    Dwarf_Die next;
    if (!((dwarf_attr(&where, DW_AT_abstract_origin, &ao) ||
           dwarf_attr(&where, DW_AT_specification, &ao)) &&
          dwarf_formref_die(&ao, &next)))
      break;
    where = next;
  }
  if (!dwarf_diecu(&where, &cu, NULL, NULL) || dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 ||
      idx >= nfiles)
    return dwarf_decl_file(d);
  return dwarf_filesrc(files, idx, NULL, NULL);
}

/* name and system_name of a function DIE, following abstract origins and
 * specifications to the declaration that carries them. */
static void die_names(inprof__symbolizer *s, object *o, Dwarf_Die *d, inprof__sym_line *l) {
  Dwarf_Attribute a;
  const char *linkage = NULL, *plain = NULL;
  if (dwarf_attr_integrate(d, DW_AT_linkage_name, &a) ||
      dwarf_attr_integrate(d, DW_AT_MIPS_linkage_name, &a))
    linkage = dwarf_formstring(&a);
  if (dwarf_attr_integrate(d, DW_AT_name, &a)) plain = dwarf_formstring(&a);
  if (linkage && *linkage) {
    l->system_name = obj_intern(o, linkage);
    l->name = obj_intern(o, inprof__demangle(linkage, s->demangle_buf, DEMANGLE_BUF));
  } else if (plain && *plain) {
    l->name = l->system_name = obj_intern(o, plain);
  }
  l->func_file = obj_intern(o, decl_file(d));
  int line = 0;
  if (dwarf_decl_line(d, &line) == 0 && line > 0) l->func_line = (uint32_t)line;
}

static const char *call_file(object *o, Dwarf_Die *cudie, Dwarf_Die *inl) {
  Dwarf_Attribute a;
  Dwarf_Word idx;
  Dwarf_Files *files;
  size_t nfiles;
  if (!dwarf_attr(inl, DW_AT_call_file, &a) || dwarf_formudata(&a, &idx) != 0 ||
      dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 || idx >= nfiles)
    return NULL;
  return obj_intern(o, dwarf_filesrc(files, idx, NULL, NULL));
}

static uint32_t call_line(Dwarf_Die *inl) {
  Dwarf_Attribute a;
  Dwarf_Word v;
  if (!dwarf_attr(inl, DW_AT_call_line, &a) || dwarf_formudata(&a, &v) != 0) return 0;
  return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/*
 * Fills lines (room for MAX_INLINE_DEPTH) from the DWARF for vaddr; returns
 * their number, 0 when the debug info does not cover vaddr.
 */
static uint32_t dwarf_lines(inprof__symbolizer *s, object *o, uint64_t vaddr,
                            inprof__sym_line *lines) {
  Dwarf_Die cudie;
  unit *u = find_cu(o, vaddr, &cudie);
  if (!u) return 0;
  Dwarf_Die chain[MAX_INLINE_DEPTH];
  int n = 0;
  if (!u->indexed) index_unit(o, u, &cudie);
  if (u->indexed < 0 || (n = indexed_functions(o, u, vaddr, chain)) < 0) {
    n = 0;
    walk_functions(&cudie, vaddr, chain, &n, 0);
  }
  if (n == 0) return 0;
  size_t nl = 0;
  Dwarf_Lines *lt;
  int have_lines = dwarf_getsrclines(&cudie, &lt, &nl) == 0;
  /* libdw keeps a unit's line table until dwarf_end: count it once (a unit
   * with several ranges may be counted more than once: an overestimate). */
  if (have_lines && !u->lines_counted) {
    u->lines_counted = 1;
    o->dwarf_bytes += (uint64_t)nl * LINE_COST;
  }
  Dwarf_Line *dl = have_lines ? dwarf_getsrc_die(&cudie, vaddr) : NULL;
  const char *file = dl ? obj_intern(o, dwarf_linesrc(dl, NULL, NULL)) : NULL;
  int lineno = 0;
  if (dl) dwarf_lineno(dl, &lineno);
  /* chain is outermost first; lines are innermost first. */
  uint32_t k = 0;
  for (int i = n - 1; i >= 0; i--, k++) {
    inprof__sym_line *l = &lines[k];
    memset(l, 0, sizeof *l);
    die_names(s, o, &chain[i], l);
    if (i == n - 1) {
      l->file = file;
      l->line = lineno > 0 ? (uint32_t)lineno : 0;
    } else {
      l->file = call_file(o, &cudie, &chain[i + 1]);
      l->line = call_line(&chain[i + 1]);
    }
    /* Line tables only (rustc's debug = "line-tables-only", clang's
     * -gline-tables-only) give a function no DW_AT_decl_file: the file its
     * line at this address is in is where its code is. */
    if (!l->func_file) l->func_file = l->file;
  }
  return k;
}


/* --------------------------------------------------------------- objects */

static void object_free(object *o) {
  if (!o) return;
  object_close_dwarf(o);
  for (uint32_t i = 0; o->cache && i <= o->cache_mask; i++) free(o->cache[i].lines);
  free(o->cache);
  for (uint32_t i = 0; o->strs && i <= o->strs_mask; i++) free(o->strs[i]);
  free(o->strs);
  for (uint32_t i = 0; i < o->nsyms; i++)
    if (o->syms[i].name != o->syms[i].mangled) free(o->syms[i].name);
  free(o->syms);
  if (o->image) munmap(o->image, o->image_len);
  if (o->dbg_image) munmap(o->dbg_image, o->dbg_image_len);
  free(o->dbg_path);
  free(o->maps);
  free(o->path);
  free(o);
}

typedef struct seen_obj {
  char *name;
  uintptr_t base;
  ElfW(Phdr) *phdr;
  uint16_t phnum;
  /* Read while dl_iterate_phdr holds the loader's lock: once it returns,
   * a dlclose() may unmap the object's notes. */
  char build_id[2 * 64 + 1];
} seen_obj;

typedef struct seen_list {
  seen_obj *v;
  size_t n, cap;
  int failed;
} seen_list;

/* Runs under the loader's lock: only copy, the real work happens after. */
static int phdr_cb(struct dl_phdr_info *info, size_t size, void *ctx) {
  (void)size;
  seen_list *l = ctx;
  if (l->n == l->cap) {
    size_t c = l->cap ? l->cap * 2 : 32;
    seen_obj *v = realloc(l->v, c * sizeof *v);
    if (!v) {
      l->failed = 1;
      return 1;
    }
    l->v = v;
    l->cap = c;
  }
  seen_obj *s = &l->v[l->n];
  s->name = strdup(info->dlpi_name ? info->dlpi_name : "");
  s->phdr = malloc(info->dlpi_phnum * sizeof *s->phdr + 1);
  if (!s->name || !s->phdr) {
    free(s->name);
    free(s->phdr);
    l->failed = 1;
    return 1;
  }
  memcpy(s->phdr, info->dlpi_phdr, info->dlpi_phnum * sizeof *s->phdr);
  s->phnum = info->dlpi_phnum;
  s->base = info->dlpi_addr;
  s->build_id[0] = 0;
  for (unsigned i = 0; i < s->phnum && !s->build_id[0]; i++)
    if (s->phdr[i].p_type == PT_NOTE)
      parse_build_id((const uint8_t *)(s->base + s->phdr[i].p_vaddr), s->phdr[i].p_memsz,
                     s->phdr[i].p_align, s->build_id, sizeof s->build_id);
  l->n++;
  return 0;
}

static int map_file(const char *path, void **img, size_t *len) {
  *img = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return -1;
  *img = p;
  *len = (size_t)st.st_size;
  return 0;
}

/* The vDSO has no file: its whole ELF image, section headers included, is
 * mapped at AT_SYSINFO_EHDR. */
static size_t vdso_image_len(const uint8_t *img) {
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) return 0;
  uint64_t end = eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;
  const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(img + eh->e_phoff);
  uint64_t mapped = 0;
  for (unsigned i = 0; i < eh->e_phnum; i++)
    if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > mapped)
      mapped = ph[i].p_offset + ph[i].p_filesz;
  return end <= mapped ? (size_t)end : 0;
}

static object *object_load(const seen_obj *s, const char *path, int is_vdso) {
  object *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->path = strdup(path);
  o->base = s->base;
  o->maps = calloc(s->phnum ? s->phnum : 1, sizeof *o->maps);
  if (!o->path || !o->maps) {
    object_free(o);
    return NULL;
  }
  o->lo = UINTPTR_MAX;
  for (unsigned i = 0; i < s->phnum; i++) {
    const ElfW(Phdr) *p = &s->phdr[i];
    if (p->p_type == PT_NOTE && !o->build_id[0])
      memcpy(o->build_id, s->build_id, sizeof o->build_id);
    if (p->p_type != PT_LOAD || p->p_memsz == 0) continue;
    /* Like /proc/self/maps: the mapping starts at the page boundary. */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = s->base + p->p_vaddr;
    uint64_t lead = start & (page - 1);
    inprof__mapping_info *m = &o->maps[o->nmaps++];
    m->start = start - lead;
    m->limit = start + p->p_memsz;
    m->file_offset = p->p_offset >= lead ? p->p_offset - lead : 0;
    if (m->start < o->lo) o->lo = (uintptr_t)m->start;
    if (m->limit > o->hi) o->hi = (uintptr_t)m->limit;
  }
  for (uint32_t i = 0; i < o->nmaps; i++) {
    o->maps[i].path = o->path;
    o->maps[i].build_id = o->build_id;
  }

  o->is_vdso = is_vdso;
  return o;
}

/*
 * Reads an object's symbols and opens its debug info the first time an
 * address in it is looked up (see the top of the file).
 */
static void object_load_symbols(inprof__symbolizer *s, object *o) {
  o->symbols_loaded = 1;
  void *img = NULL;
  size_t len = 0;
  if (o->is_vdso) {
    img = (void *)getauxval(AT_SYSINFO_EHDR);
    len = img ? vdso_image_len(img) : 0;
    if (len && valid_elf(img, len)) load_symbols(o, img, len);
    return;
  }
  if (map_file(o->path, &img, &len) != 0) return;
  char fid[sizeof o->build_id];
  int ok = valid_elf(img, len);
  if (ok) file_build_id(img, len, fid, sizeof fid);
  if (!ok || (o->build_id[0] && strcmp(fid, o->build_id) != 0)) {
    munmap(img, len);
    return;
  }
  if (!o->build_id[0]) memcpy(o->build_id, fid, sizeof fid);
  o->image = img;
  o->image_len = len;
  char dbg[PATH_MAX];
  const char *dwarf_path = NULL;
  if (has_dwarf(img, len)) {
    dwarf_path = o->path;
  } else if (find_debug_file(s, o, dbg, sizeof dbg) == 0) {
    o->dbg_path = strdup(dbg);
    if (has_dwarf(o->dbg_image, o->dbg_image_len)) dwarf_path = o->dbg_path;
  }
  load_symbols2(o, img, len, o->dbg_image, o->dbg_image_len);
  if (dwarf_path) object_open_dwarf(s, o, dwarf_path);
  if (!o->nsyms && !o->dw) {
    munmap(o->image, o->image_len);
    o->image = NULL;
    if (o->dbg_image) munmap(o->dbg_image, o->dbg_image_len);
    o->dbg_image = NULL;
  }
}

static void free_debug_dirs(inprof__symbolizer *s) {
  for (uint32_t i = 0; i < s->ndebug_dirs; i++) free(s->debug_dirs[i]);
  free(s->debug_dirs);
  s->debug_dirs = NULL;
  s->ndebug_dirs = 0;
}

/* Splits a colon-separated list; empty entries and trailing slashes go. */
static void set_debug_dirs(inprof__symbolizer *s, const char *list) {
  free_debug_dirs(s);
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ':';
  s->debug_dirs = calloc(n, sizeof *s->debug_dirs);
  if (!s->debug_dirs) return;
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ":");
    size_t keep = len;
    while (keep > 1 && p[keep - 1] == '/') keep--;
    if (keep > 0 && (s->debug_dirs[s->ndebug_dirs] = strndup(p, keep)) != NULL)
      s->ndebug_dirs++;
    p += len;
    if (*p == ':') p++;
  }
}

INPROF__HIDDEN inprof__symbolizer *inprof__symbolizer_new(void) {
  inprof__symbolizer *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->demangle_buf = malloc(DEMANGLE_BUF);
  if (!s->demangle_buf) {
    free(s);
    return NULL;
  }
  elf_version(EV_CURRENT);
  /* Defaults; the collector passes the settings with
   * inprof__symbolizer_configure. */
  inprof__symbolizer_options o = {1, DEFAULT_MAX_BYTES, NULL};
  inprof__symbolizer_configure(s, &o);
  return s;
}

INPROF__HIDDEN void inprof__symbolizer_configure(inprof__symbolizer *s,
                                                 const inprof__symbolizer_options *o) {
  if (!s || !o) return;
  s->inlined_frames = o->inlined_frames;
  s->max_bytes = o->max_bytes;
  set_debug_dirs(s, o->debug_dirs && *o->debug_dirs ? o->debug_dirs : DEFAULT_DEBUG_DIRS);
}

INPROF__HIDDEN uint64_t inprof__symbolizer_memory(const inprof__symbolizer *s) {
  return s ? total_memory(s) : 0;
}

INPROF__HIDDEN uint64_t inprof__symbolizer_cap_hits(const inprof__symbolizer *s) {
  return s ? s->cap_hits : 0;
}

INPROF__HIDDEN int inprof__symbolizer_inlined_frames(const inprof__symbolizer *s) {
  return s ? s->inlined_frames : 1;
}

static void seen_list_free(struct seen_list *l);

INPROF__HIDDEN void inprof__symbolizer_free(inprof__symbolizer *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->nobjs; i++) object_free(s->objs[i]);
  free(s->objs);
  free(s->ranges);
  free(s->demangle_buf);
  free_debug_dirs(s);
  seen_list_free(s->pending);
  free(s);
}

static int range_cmp(const void *pa, const void *pb) {
  const range *a = pa, *b = pb;
  return a->start < b->start ? -1 : a->start > b->start;
}

static void rebuild_ranges(inprof__symbolizer *s) {
  uint32_t need = 0;
  for (uint32_t i = 0; i < s->nobjs; i++)
    if (s->objs[i]->active) need += s->objs[i]->nmaps;
  if (need > s->ranges_cap) {
    range *r = realloc(s->ranges, need * sizeof *r);
    if (!r) {
      s->nranges = 0;
      return;
    }
    s->ranges = r;
    s->ranges_cap = need;
  }
  s->nranges = 0;
  for (uint32_t i = 0; i < s->nobjs; i++) {
    object *o = s->objs[i];
    if (!o->active) continue;
    for (uint32_t m = 0; m < o->nmaps; m++)
      s->ranges[s->nranges++] =
          (range){(uintptr_t)o->maps[m].start, (uintptr_t)o->maps[m].limit, o, &o->maps[m]};
  }
  qsort(s->ranges, s->nranges, sizeof *s->ranges, range_cmp);
}

static void seen_list_free(seen_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].phdr);
  }
  free(l->v);
  free(l);
}

/*
 * Only the copy of the loader's list, so that the collector's fork gate
 * covers this and nothing else: a fork in the host then never waits for
 * the refresh's file lookups and releases, nor for any DWARF work.
 */
INPROF__HIDDEN void inprof__symbolizer_snapshot(inprof__symbolizer *s) {
  if (!s) return;
  seen_list_free(s->pending);
  s->pending = calloc(1, sizeof *s->pending);
  s->snapshot_failed = !s->pending;
  if (s->pending) dl_iterate_phdr(phdr_cb, s->pending);
}

INPROF__HIDDEN void inprof__symbolizer_refresh(inprof__symbolizer *s) {
  if (!s) return;
  /* Without a snapshot (callers other than the collector), take one here;
   * after a failed one, keep the objects as they are: this may be outside
   * the caller's fork gate. */
  if (!s->pending && !s->snapshot_failed) inprof__symbolizer_snapshot(s);
  s->snapshot_failed = 0;
  seen_list *lp = s->pending;
  s->pending = NULL;
  if (!lp) return;
  seen_list l = *lp;
  free(lp);
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);

  for (uint32_t i = 0; i < s->nobjs; i++) s->objs[i]->seen = 0;
  for (size_t i = 0; i < l.n; i++) {
    seen_obj *so = &l.v[i];
    int is_vdso = 0;
    char resolved[PATH_MAX];
    const char *path = so->name;
    /* The vDSO's first segment starts at its ELF header. */
    for (unsigned p = 0; vdso && p < so->phnum; p++)
      if (so->phdr[p].p_type == PT_LOAD) {
        is_vdso = so->base + so->phdr[p].p_vaddr == vdso;
        break;
      }
    if (is_vdso) {
      path = "[vdso]";
    } else if (path[0] == 0) {
      if (i != 0) continue;    /* only the executable has no name */
      path = realpath("/proc/self/exe", resolved) ? resolved : program_invocation_name;
    } else if (realpath(path, resolved)) {
      path = resolved;
    }
    object *found = NULL;
    for (uint32_t k = 0; k < s->nobjs && !found; k++)
      if (s->objs[k]->base == so->base && strcmp(s->objs[k]->path, path) == 0)
        found = s->objs[k];
    if (!found) {
      if (s->nobjs == s->cap) {
        uint32_t c = s->cap ? s->cap * 2 : 32;
        object **v = realloc(s->objs, c * sizeof *v);
        if (!v) continue;
        s->objs = v;
        s->cap = c;
      }
      found = object_load(so, path, is_vdso);
      if (!found) continue;
      s->objs[s->nobjs++] = found;
    }
    found->seen = 1;
  }
  /* An object no longer loaded is released, debug info and cache with it;
   * one loaded again later is read again. When the walk failed part way,
   * nothing is released on its word. */
  if (!l.failed) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->nobjs; i++) {
      if (s->objs[i]->seen) s->objs[k++] = s->objs[i];
      else object_free(s->objs[i]);
    }
    s->nobjs = k;
  }
  for (uint32_t i = 0; i < s->nobjs; i++) s->objs[i]->active = s->objs[i]->seen;
  if (!l.failed || l.n) rebuild_ranges(s);
  for (size_t i = 0; i < l.n; i++) {
    free(l.v[i].name);
    free(l.v[i].phdr);
  }
  free(l.v);
}

static const char *sym_name(inprof__symbolizer *s, sym *y) {
  if (y->name) return y->name;
  const char *d = inprof__demangle(y->mangled, s->demangle_buf, DEMANGLE_BUF);
  if (d != y->mangled) {
    y->name = strdup(d);
    if (y->name) return y->name;
  }
  y->name = (char *)y->mangled;
  return y->name;
}

/* The active segment holding addr, or NULL. */
static const range *find_range(const inprof__symbolizer *s, uintptr_t addr) {
  if (!s || s->nranges == 0) return NULL;
  /* The last range starting at or below addr. */
  uint32_t lo = 0, hi = s->nranges;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->ranges[mid].start <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0 || addr >= s->ranges[lo - 1].limit) return NULL;
  return &s->ranges[lo - 1];
}

/* The symbol table's function at vaddr, or NULL. */
static sym *symtab_lookup(object *o, uint64_t vaddr) {
  uint32_t lo = 0, hi = o->nsyms;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (o->syms[mid].value <= vaddr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return NULL;
  sym *y = &o->syms[lo - 1];
  return y->size == 0 || vaddr - y->value < y->size ? y : NULL;
}

INPROF__HIDDEN int inprof__symbolize(inprof__symbolizer *s, uintptr_t addr,
                                     const char **function,
                                     const inprof__mapping_info **mapping) {
  if (function) *function = NULL;
  if (mapping) *mapping = NULL;
  const range *r = find_range(s, addr);
  if (!r) return 0;
  if (mapping) *mapping = r->map;
  object *o = r->obj;
  if (!o->symbols_loaded) object_load_symbols(s, o);
  sym *y = symtab_lookup(o, (uint64_t)addr - o->base);
  if (y && function) *function = sym_name(s, y);
  return 1;
}

/* The cache slot of vaddr in o (empty: lines == NULL and nlines == 0). */
static frame_ent *cache_slot(object *o, uint64_t vaddr) {
  uint32_t i = (uint32_t)((vaddr * 0x9E3779B97F4A7C15ull) >> 32) & o->cache_mask;
  while (o->cache[i].lines && o->cache[i].vaddr != vaddr) i = (i + 1) & o->cache_mask;
  return &o->cache[i];
}

static int cache_grow(object *o) {
  if (o->cache && (o->cache_n + 1) * 2 <= o->cache_mask + 1) return 0;
  uint32_t size = o->cache ? (o->cache_mask + 1) * 2 : 256;
  frame_ent *t = calloc(size, sizeof *t);
  if (!t) return -1;
  frame_ent *old = o->cache;
  uint32_t old_size = old ? o->cache_mask + 1 : 0;
  o->cache = t;
  o->cache_mask = size - 1;
  for (uint32_t i = 0; i < old_size; i++)
    if (old[i].lines) *cache_slot(o, old[i].vaddr) = old[i];
  free(old);
  o->own_bytes += (uint64_t)(size - old_size) * sizeof *t;
  return 0;
}

/* Computes vaddr's lines into out (room for MAX_INLINE_DEPTH). */
static uint32_t compute_lines(inprof__symbolizer *s, object *o, uint64_t vaddr,
                              inprof__sym_line *out, int *from_dwarf) {
  uint32_t n = 0;
  *from_dwarf = o->dw != NULL;
  if (o->dw) n = dwarf_lines(s, o, vaddr, out);
  sym *y = symtab_lookup(o, vaddr);
  if (n == 0) {
    if (!y) return 0;
    memset(&out[0], 0, sizeof out[0]);
    out[0].name = obj_intern(o, sym_name(s, y));
    out[0].system_name = obj_intern(o, y->mangled);
    return out[0].name ? 1 : 0;
  }
  /* The real function: a DWARF name without linkage name (C, or debug info
   * reduced to line tables) is the symbol's when the symbol table has one. */
  inprof__sym_line *outer = &out[n - 1];
  if (y && outer->system_name == outer->name && (!outer->name || !strchr(outer->name, ':'))) {
    outer->name = obj_intern(o, sym_name(s, y));
    outer->system_name = obj_intern(o, y->mangled);
  }
  if (!s->inlined_frames && n > 1) {
    out[0] = *outer;
    n = 1;
  }
  /* A line whose names could not be read is no use to anyone. */
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++)
    if (out[i].name) out[k++] = out[i];
  return k;
}

INPROF__HIDDEN int inprof__symbolize_frame(inprof__symbolizer *s, uintptr_t addr,
                                           inprof__sym_frame *out) {
  memset(out, 0, sizeof *out);
  const range *r = find_range(s, addr);
  if (!r) return 0;
  out->mapping = r->map;
  object *o = r->obj;
  if (!o->symbols_loaded) object_load_symbols(s, o);
  uint64_t vaddr = (uint64_t)addr - o->base;
  if (cache_grow(o) == 0) {
    frame_ent *e = cache_slot(o, vaddr);
    if (!e->lines) {
      inprof__sym_line tmp[MAX_INLINE_DEPTH];
      int from_dwarf;
      uint32_t n = compute_lines(s, o, vaddr, tmp, &from_dwarf);
      /* An entry always has an array, even of no line, to mark it used. */
      inprof__sym_line *lines = malloc((n ? n : 1) * sizeof *lines);
      if (!lines) return 1;
      memcpy(lines, tmp, n * sizeof *lines);
      *e = (frame_ent){.vaddr = vaddr, .lines = lines, .nlines = n, .from_dwarf = from_dwarf};
      o->cache_n++;
      o->own_bytes += (n ? n : 1) * sizeof *lines + STR_OVERHEAD;
    }
    out->lines = e->nlines ? e->lines : NULL;
    out->nlines = e->nlines;
    out->from_dwarf = e->from_dwarf;
  }
  return 1;
}

INPROF__HIDDEN uint32_t inprof__symbolizer_check_image(const uint8_t *img, size_t size,
                                                       char *build_id, size_t build_id_len) {
  if (build_id_len) build_id[0] = 0;
  if (!valid_elf(img, size)) return 0;
  if (build_id_len) file_build_id(img, size, build_id, build_id_len);
  inprof__symbolizer *s = inprof__symbolizer_new();
  object *o = calloc(1, sizeof *o);
  if (!s || !o) {
    inprof__symbolizer_free(s);
    free(o);
    return 0;
  }
  load_symbols(o, img, size);
  /* Every name demangled, as a profile with every function would need. */
  for (uint32_t i = 0; i < o->nsyms; i++) (void)sym_name(s, &o->syms[i]);
  uint32_t n = o->nsyms;
  object_free(o);
  inprof__symbolizer_free(s);
  return n;
}
