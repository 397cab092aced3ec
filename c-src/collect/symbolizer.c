/*
 * collect/symbolizer.c - address -> function name and mapping, for the collector.
 *
 * Loaded objects come from dl_iterate_phdr (the executable's empty name is
 * resolved through /proc/self/exe; the vDSO is read from memory). The first
 * time an address in an object is looked up, its ELF file is mmap'ed
 * read-only and its .symtab and .dynsym function symbols kept sorted by
 * address; names are read from the mapped string
 * tables and demangled lazily, once, on first lookup. Objects are cached by
 * (path, load address) and never dropped before inprof__symbolizer_free, so
 * the strings handed out stay valid even after a dlclose (memory grows only
 * with the number of distinct objects ever loaded).
 *
 * A file whose build id differs from the loaded object's (replaced on disk)
 * is not used for symbols: wrong names are worse than none.
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
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <demangle.h>

#include "collect/symbolizer.h"

#define INPROF__DEMANGLE_MAX 4096
#define DEMANGLE_BUF 16384

typedef struct sym {
  uint64_t value;              /* link-time address (st_value) */
  uint64_t size;
  const char *mangled;         /* in the mapped string table */
  char *name;                  /* demangled, lazily; or == mangled */
} sym;

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
};

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

/* Fills o->syms from the section headers of an ELF image. */
static void load_symbols(object *o, const uint8_t *img, size_t size) {
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
  if (eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shnum == 0 ||
      !in_bounds(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr))))
    return;
  const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(img + eh->e_shoff);
  raw_sym *raw = NULL;
  size_t n = 0, cap = 0;
  for (unsigned i = 0; i < eh->e_shnum; i++)
    if (sh[i].sh_type == SHT_SYMTAB || sh[i].sh_type == SHT_DYNSYM)
      if (add_symtab(img, size, sh, eh->e_shnum, i, &raw, &n, &cap) != 0) break;
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

/* --------------------------------------------------------------- objects */

static void object_free(object *o) {
  if (!o) return;
  for (uint32_t i = 0; i < o->nsyms; i++)
    if (o->syms[i].name != o->syms[i].mangled) free(o->syms[i].name);
  free(o->syms);
  if (o->image) munmap(o->image, o->image_len);
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
 * Reads an object's symbols the first time an address in it is looked up:
 * most loaded objects (libcurl alone brings in dozens) never appear in a
 * profile, and their symbol tables would only cost memory.
 */
static void object_load_symbols(object *o) {
  o->symbols_loaded = 1;
  void *img = NULL;
  size_t len = 0;
  if (o->is_vdso) {
    img = (void *)getauxval(AT_SYSINFO_EHDR);
    len = img ? vdso_image_len(img) : 0;
    if (len && valid_elf(img, len)) load_symbols(o, img, len);
  } else if (map_file(o->path, &img, &len) == 0) {
    char fid[sizeof o->build_id];
    int ok = valid_elf(img, len);
    if (ok) file_build_id(img, len, fid, sizeof fid);
    if (ok && (!o->build_id[0] || strcmp(fid, o->build_id) == 0)) {
      if (!o->build_id[0]) memcpy(o->build_id, fid, sizeof fid);
      load_symbols(o, img, len);
    }
    if (o->nsyms) {
      o->image = img;
      o->image_len = len;
    } else {
      munmap(img, len);
    }
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
  return s;
}

INPROF__HIDDEN void inprof__symbolizer_free(inprof__symbolizer *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->nobjs; i++) object_free(s->objs[i]);
  free(s->objs);
  free(s->ranges);
  free(s->demangle_buf);
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

INPROF__HIDDEN void inprof__symbolizer_refresh(inprof__symbolizer *s) {
  if (!s) return;
  seen_list l = {0};
  dl_iterate_phdr(phdr_cb, &l);
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
  /* An object seen again after a dlclose at the same place is the same
   * entry; one not seen stays for its strings but no longer matches. */
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

INPROF__HIDDEN int inprof__symbolize(inprof__symbolizer *s, uintptr_t addr,
                                     const char **function,
                                     const inprof__mapping_info **mapping) {
  if (function) *function = NULL;
  if (mapping) *mapping = NULL;
  if (!s || s->nranges == 0) return 0;
  /* The last range starting at or below addr. */
  uint32_t lo = 0, hi = s->nranges;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->ranges[mid].start <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0 || addr >= s->ranges[lo - 1].limit) return 0;
  const range *r = &s->ranges[lo - 1];
  if (mapping) *mapping = r->map;

  object *o = r->obj;
  if (!o->symbols_loaded) object_load_symbols(o);
  uint64_t vaddr = (uint64_t)addr - o->base;
  lo = 0;
  hi = o->nsyms;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (o->syms[mid].value <= vaddr) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0) {
    sym *y = &o->syms[lo - 1];
    if (y->size == 0 || vaddr - y->value < y->size) {
      if (function) *function = sym_name(s, y);
    }
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
