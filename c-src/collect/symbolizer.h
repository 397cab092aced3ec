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
/* Re-reads the loaded objects (dl_iterate_phdr); call once per export. */
INPROF__HIDDEN void inprof__symbolizer_refresh(inprof__symbolizer *s);
/*
 * Looks up addr (pass addr - 1 for return addresses). On success returns 1,
 * sets *function (demangled, Rust hash removed; NULL if no symbol) and
 * *mapping (NULL if the address is in no known object). Strings stay valid
 * until inprof__symbolizer_free.
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
