/*
 * test_sym_libc.c - with Debian's libc6-dbg installed, libc internals are
 * named: a memcpy/memset-heavy loop shows libc's own function names
 * (__memmove_avx_unaligned_erms and the like, which .dynsym lacks), not an
 * address in libc.so.6. Skipped, saying so, when libc6-dbg is absent.
 */
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "symtest.h"

static char src[1 << 16], dst[1 << 16];
static volatile int sinkc;

static int child(const char *dir) {
  symtest_start(dir);
  double t0 = symtest_cpu_seconds();
  /* libc's own functions, through volatile pointers: the compiler cannot
   * inline them, and sanitizer interceptors are not in the way. */
  void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  REQUIRE(libc);
  void *(*volatile cpy)(void *, const void *, size_t) =
      (void *(*)(void *, const void *, size_t))dlsym(libc, "memcpy");
  void *(*volatile set)(void *, int, size_t) =
      (void *(*)(void *, int, size_t))dlsym(libc, "memset");
  REQUIRE(cpy && set);
  while (symtest_cpu_seconds() - t0 < 1.0) {
    for (int i = 0; i < 64; i++) {
      cpy(dst, src, sizeof dst);
      set(src, i, sizeof src);
    }
    sinkc += dst[100];
  }
  symtest_stop();
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "child")) return child(argv[2]);
  char self[PATH_MAX];
  REQUIRE(realpath("/proc/self/exe", self));
  Dl_info info;
  void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  REQUIRE(libc);
  REQUIRE(dladdr(dlsym(libc, "fopen"), &info) && info.dli_fname);
  char *bid = testutil_capture(
      "readelf -n '%s' | sed -n 's/.*Build ID: *\\([0-9a-f]*\\).*/\\1/p' | head -n 1",
      info.dli_fname);
  REQUIRE(bid);
  bid[strcspn(bid, "\n")] = 0;
  char dbg[512];
  snprintf(dbg, sizeof dbg, "/usr/lib/debug/.build-id/%.2s/%s.debug", bid, bid + 2);
  struct stat st;
  if (strlen(bid) < 4 || stat(dbg, &st) != 0) {
    printf("test_sym_libc: SKIPPED: no libc debug file %s for %s (install libc6-dbg)\n",
           dbg, info.dli_fname);
    free(bid);
    return 0;
  }
  free(bid);
  unsetenv("INPROF_DEBUG_DIRS");
  char *p = symtest_run_child("", self, "symlibc");
  REQUIRE(p);
  testutil_row rows[512];
  int n = symtest_top(p, "", rows, 512);
  REQUIRE(n > 0);
  double total = testutil_total(rows, n), named = 0, internal = 0;
  for (int i = 0; i < n; i++) {
    const char *r = rows[i].name;
    if (strstr(r, "mem") && r[0] != '[' && strncmp(r, "0x", 2) != 0) named += rows[i].flat;
    /* The IFUNC variants exist only in the debug file's .symtab. */
    if (strstr(r, "_avx") || strstr(r, "_sse2") || strstr(r, "_evex") || strstr(r, "_erms"))
      internal += rows[i].flat;
  }
  CHECKF(named / total > 0.5, "named mem* functions have %.1f%% of CPU, want > 50%%",
         100 * named / total);
  CHECKF(internal / total > 0.5, "libc-internal variants have %.1f%% of CPU, want > 50%%",
         100 * internal / total);
  if (testutil_failures) symtest_print_rows("pprof -top", rows, n);
  free(p);
  return testutil_done("test_sym_libc");
}
