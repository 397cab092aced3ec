/*
 * fuzz_elf.c - the symbolizer's ELF reader (build id from the program
 * headers' notes, .symtab/.dynsym, demangling of every name) on hostile
 * files: inprof__symbolizer_check_image must never crash, read out of
 * bounds, hang or leak (ASan/UBSan builds check), whatever the bytes.
 *
 * Seed: a small shared object built with the tests (fuzz_seed_lib.c). The
 * unmutated seed must yield its two exported functions and a build id, so
 * the harness is shown to reach the symbol-table path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/symbolizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private, aligned copy: the reader expects an mmap'd image. */
  uint8_t *img = malloc(size ? size : 1);
  if (!img) return 0;
  memcpy(img, data, size);
  char build_id[2 * 64 + 1];
  uint32_t n = inprof__symbolizer_check_image(img, size, build_id, sizeof build_id);
  if (strlen(build_id) >= sizeof build_id) abort();
  static int first = 1;
  if (first) {
    /* The driver feeds the seed first, unmutated. */
    first = 0;
    if (n < 2 || !build_id[0]) {
      fprintf(stderr, "fuzz_elf: the seed gave %u functions, build id '%s'\n", n, build_id);
      abort();
    }
  }
  free(img);
  return 0;
}
