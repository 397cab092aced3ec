/*
 * fuzz_elf.c - the symbolizer's ELF and DWARF reading on hostile files.
 *
 * LLVMFuzzerTestOneInput writes the input to a temporary file, registers it
 * as if it were loaded (inprof__symbolizer_add_file) and symbolizes
 * addresses in and around it: it must never crash, hang or leak (ASan/UBSan
 * builds check). Built with -fsanitize=fuzzer and -DINPROF_LIBFUZZER it is a
 * libFuzzer target; otherwise main() is a driver that runs each seed file
 * given on the command line as is (it must resolve its known function, so
 * the harness is shown to reach the DWARF path), then deterministic
 * mutations of it: bit flips and boundary values in the ELF, program and
 * section headers and anywhere in the file, truncations, and the seed with
 * compressed debug sections.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elf.h>
#include <link.h>

#if __has_include("collect/symbolizer.h")
#include "collect/symbolizer.h"
#else
#include "internal.h"
#endif
#include "testutil.h"

#define BASE ((uintptr_t)0x10000000)

static char tmp_path[256];
static int last_named;         /* functions named in the last run */
static int last_inlined;       /* locations with more than one frame */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!tmp_path[0]) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/inprof-fuzz-elf-%ld.so", (long)getpid());
  }
  FILE *f = fopen(tmp_path, "wb");
  if (!f) return 0;
  if (size && fwrite(data, 1, size, f) != size) {
    fclose(f);
    return 0;
  }
  fclose(f);
  last_named = last_inlined = 0;
  inprof__symbolizer *s = inprof__symbolizer_new();
  if (!s) return 0;
  if (inprof__symbolizer_add_file(s, tmp_path, BASE) == 0) {
    /* Addresses from the start of the image, and some the input picks. */
    for (uintptr_t off = 0; off < 0x4000; off += 0x10) {
      inprof__symbols r;
      inprof__symbolize_frames(s, BASE + off, &r);
      for (uint32_t i = 0; i < r.nframes; i++) {
        const inprof__frame *fr = &r.frames[i];
        /* Every string handed out must be readable. */
        if (fr->function) last_named += strlen(fr->function) > 0;
        if (fr->system_name) (void)strlen(fr->system_name);
        if (fr->file) (void)strlen(fr->file);
        if (fr->function_file) (void)strlen(fr->function_file);
      }
      last_inlined += r.nframes > 1;
    }
    for (size_t i = 0; i + 4 <= size && i < 64; i += 4) {
      uint32_t v;
      memcpy(&v, data + i, 4);
      const char *fn;
      const inprof__mapping_info *m;
      inprof__symbolize(s, BASE + (v & 0xfffff), &fn, &m);
    }
    /* A refresh drops the added object (it is not really loaded). */
    inprof__symbolizer_refresh(s);
  }
  inprof__symbolizer_free(s);
  unlink(tmp_path);
  return 0;
}

#ifndef INPROF_LIBFUZZER

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = buf ? (size_t)n : 0;
  return buf;
}

/* Offsets worth hitting: headers and tables that steer the readers. */
static size_t pick_offset(const uint8_t *seed, size_t len) {
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)seed;
  switch (next_rand() % 4) {
  case 0: return next_rand() % (sizeof *eh < len ? sizeof *eh : len);
  case 1:
    if (eh->e_phoff < len) {
      size_t span = (size_t)eh->e_phnum * sizeof(ElfW(Phdr));
      if (span) return (eh->e_phoff + next_rand() % span) % len;
    }
    break;
  case 2:
    if (eh->e_shoff < len) {
      size_t span = (size_t)eh->e_shnum * sizeof(ElfW(Shdr));
      if (span) return (eh->e_shoff + next_rand() % span) % len;
    }
    break;
  default: break;
  }
  return next_rand() % len;
}

static void mutate(uint8_t *buf, const uint8_t *seed, size_t len) {
  memcpy(buf, seed, len);
  int edits = 1 + (int)(next_rand() % 8);
  static const uint8_t values[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x40, 0x10};
  for (int e = 0; e < edits; e++) {
    size_t off = pick_offset(seed, len);
    switch (next_rand() % 3) {
    case 0: buf[off] ^= (uint8_t)(1u << (next_rand() % 8)); break;
    case 1: buf[off] = values[next_rand() % sizeof values]; break;
    default:
      for (size_t k = 0; k < 8 && off + k < len; k++) buf[off + k] = (uint8_t)next_rand();
    }
  }
}

static void run_seed(const char *path, int iterations, int must_resolve) {
  size_t len;
  uint8_t *seed = read_file(path, &len);
  if (!seed) {
    CHECKF(0, "cannot read seed %s", path);
    return;
  }
  LLVMFuzzerTestOneInput(seed, len);
  if (must_resolve) {
    CHECKF(last_named > 0, "%s: nothing named in the unmodified seed", path);
    CHECKF(last_inlined > 0, "%s: no inlined frames in the unmodified seed", path);
  }
  uint8_t *buf = malloc(len);
  REQUIRE(buf);
  for (int i = 0; i < iterations; i++) {
    mutate(buf, seed, len);
    size_t n = len;
    if (next_rand() % 8 == 0) n = (size_t)(next_rand() % len); /* truncated */
    LLVMFuzzerTestOneInput(buf, n);
  }
  LLVMFuzzerTestOneInput(seed, 0);
  LLVMFuzzerTestOneInput(seed, 3);
  free(buf);
  free(seed);
}

int main(int argc, char **argv) {
  int iterations = getenv("FUZZ_ELF_ITERATIONS") ? atoi(getenv("FUZZ_ELF_ITERATIONS")) : 400;
  REQUIRE(argc >= 2);
  for (int a = 1; a < argc; a++) {
    run_seed(argv[a], iterations, 1);
    /* The same seed with compressed debug sections (libdw inflates them). */
    char cmd[2048], z[512];
    snprintf(z, sizeof z, "/tmp/inprof-fuzz-seed-z-%ld.so", (long)getpid());
    snprintf(cmd, sizeof cmd, "objcopy --compress-debug-sections=zlib '%s' '%s'", argv[a], z);
    if (system(cmd) == 0) {
      run_seed(z, iterations, 1);
      unlink(z);
    }
    /* Stripped: only .dynsym is left. */
    snprintf(cmd, sizeof cmd, "objcopy --strip-all '%s' '%s'", argv[a], z);
    if (system(cmd) == 0) {
      run_seed(z, iterations / 4, 0);
      unlink(z);
    }
  }
  return testutil_done("fuzz_elf");
}
#endif
