/*
 * collect/symbolizer.h - address -> function name and mapping, for the
 * collector.
 */
#ifndef INPROF__COLLECT_SYMBOLIZER_H
#define INPROF__COLLECT_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef struct inprof__mapping_info {
  uint64_t start, limit, file_offset;
  const char *path;            /* "" when anonymous */
  const char *build_id;        /* hex, "" when unknown */
} inprof__mapping_info;

typedef struct inprof__symbolizer inprof__symbolizer;
INPROF__HIDDEN inprof__symbolizer *inprof__symbolizer_new(void);
INPROF__HIDDEN void inprof__symbolizer_free(inprof__symbolizer *s);
/* Options; inprof__symbolizer_new starts with the defaults (inline frames
 * on, 64 MiB cap, /usr/lib/debug). debug_dirs is copied. */
typedef struct inprof__symbolizer_options {
  int inlined_frames;
  uint64_t max_bytes;          /* 0: no cap */
  const char *debug_dirs;      /* colon-separated; NULL: /usr/lib/debug */
} inprof__symbolizer_options;
INPROF__HIDDEN void inprof__symbolizer_configure(inprof__symbolizer *s,
                                                 const inprof__symbolizer_options *o);
/* Bytes the symbolizer holds now (its own tables plus an estimate of what
 * libdw holds for the objects whose debug info is open), and how often the
 * cap kept debug info from being loaded. */
INPROF__HIDDEN uint64_t inprof__symbolizer_memory(const inprof__symbolizer *s);
INPROF__HIDDEN uint64_t inprof__symbolizer_cap_hits(const inprof__symbolizer *s);
/* 1 when inlined frames are on (the default). */
INPROF__HIDDEN int inprof__symbolizer_inlined_frames(const inprof__symbolizer *s);

/* One source position of a frame: a function and where in it. */
typedef struct inprof__sym_line {
  const char *name;            /* demangled, Rust hash removed */
  const char *system_name;     /* the raw (mangled) symbol, or name */
  const char *file;            /* NULL when unknown */
  uint32_t line;               /* 0 when unknown */
  const char *func_file;       /* where the function is declared; NULL unknown */
  uint32_t func_line;
} inprof__sym_line;

typedef struct inprof__sym_frame {
  const inprof__mapping_info *mapping; /* NULL: in no known object */
  const inprof__sym_line *lines;       /* innermost first; NULL when nlines 0 */
  uint32_t nlines;
  int from_dwarf;              /* lines come from debug info (inline chain resolved) */
} inprof__sym_frame;

/*
 * Looks up addr (pass addr - 1 for return addresses) with debug info when
 * the object has any (function, file, line; inlined calls as several lines,
 * the outer ones at their call lines), else with its symbol table. Returns
 * 1 when addr lies in a known object. The result stays valid until the next
 * refresh or free; results are cached per object across refreshes.
 */
INPROF__HIDDEN int inprof__symbolize_frame(inprof__symbolizer *s, uintptr_t addr,
                                           inprof__sym_frame *out);

/* Copies the list of loaded objects (dl_iterate_phdr, under the loader's
 * lock) for the next refresh, and does nothing else: the collector calls it
 * under its fork gate and the refresh outside it. */
INPROF__HIDDEN void inprof__symbolizer_snapshot(inprof__symbolizer *s);
/* Applies the last snapshot (takes one first when there is none; keeps the
 * objects as they are when the last one ran out of memory); call once
 * per export. Objects no longer loaded are released with everything read for
 * them; debug info is read later, when an address is looked up. */
INPROF__HIDDEN void inprof__symbolizer_refresh(inprof__symbolizer *s);
/*
 * Looks up addr (pass addr - 1 for return addresses). On success returns 1,
 * sets *function (demangled, Rust hash removed; NULL if no symbol) and
 * *mapping (NULL if the address is in no known object), from the symbol
 * tables only. Strings stay valid until the next refresh or free.
 */
INPROF__HIDDEN int inprof__symbolize(inprof__symbolizer *s, uintptr_t addr,
                                     const char **function,
                                     const inprof__mapping_info **mapping);
/* Reads an ELF image's build id (into build_id, "" when none) and symbol
 * tables, demangling every name, as the symbolizer does for a loaded
 * object's file; returns the number of functions read. Hostile input must
 * be harmless: the fuzz test feeds it mutated files. */
INPROF__HIDDEN uint32_t inprof__symbolizer_check_image(const uint8_t *img, size_t size,
                                                       char *build_id, size_t build_id_len);
/* Demangles a C++ or Rust (legacy or v0) name into buf; returns buf or name. */
INPROF__HIDDEN const char *inprof__demangle(const char *name, char *buf, size_t len);

#endif
