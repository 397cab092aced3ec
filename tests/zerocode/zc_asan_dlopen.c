/*
 * zc_asan_dlopen.c - libinprof-preload.so's own code under ASan (issue 12),
 * the part of zero-code mode a sanitizer build can check.
 *
 * Preloading cannot be tested under ASan: ASan's runtime must come first in
 * the library list and interposes malloc itself, so a preload library after
 * it never sees the program's malloc calls; and placed before it (with
 * verify_asan_link_order=0), its free would give glibc the blocks ASan's
 * interceptors (strdup...) hand out. So this instrumented program dlopen()s
 * the instrumented preload library with RTLD_LOCAL: it interposes nothing,
 * but its constructor starts the profiler from the environment as under
 * LD_PRELOAD, the program calls its malloc, calloc, realloc and free
 * explicitly (dlsym on the handle: the interposer's own entry
 * points, which sample into the heap profile), and its exit handler exports
 * the last period when main returns. ASan checks all of that code: the
 * interposer, the sampler and live table, the collector and the exit export.
 *
 * Not called: memalign, posix_memalign, aligned_alloc, valloc, pvalloc. The
 * interposer implements them with glibc's __libc_memalign, and libasan
 * exports a __libc_memalign of its own that comes first in the global
 * scope: the block would be ASan's and the interposer's free would hand it
 * to glibc's __libc_free. Nor reallocarray: it calls realloc through the
 * global scope, which in a dlopen()ed library is the program's realloc
 * (ASan's here), not the interposer's.
 *
 * Usage: zc_asan_dlopen PRELOAD_SO. Prints "pid N" and, per site,
 * "<site> <bytes allocated> <bytes still in use at exit>".
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);

static malloc_fn p_malloc;
static calloc_fn p_calloc;
static realloc_fn p_realloc;
static free_fn p_free;

#define KEPT 2000
static void *kept[KEPT];
static volatile size_t kept_size = 4096, calloc_size = 2048, grown_size = 8192;

/* Each site is its own function, the caller of the interposer's entry. */
__attribute__((noinline)) static void *asan_site_kept(size_t n) {
  void *p = p_malloc(n);
  __asm__ volatile("" ::: "memory");
  return p;
}

__attribute__((noinline)) static void *asan_site_calloc(size_t n) {
  void *p = p_calloc(n / 16, 16);
  __asm__ volatile("" ::: "memory");
  return p;
}

__attribute__((noinline)) static void *asan_site_grown(void *p, size_t n) {
  void *q = p_realloc(p_realloc(p, n / 2), n);
  __asm__ volatile("" ::: "memory");
  return q;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  p_malloc = (malloc_fn)dlsym(h, "malloc");
  p_calloc = (calloc_fn)dlsym(h, "calloc");
  p_realloc = (realloc_fn)dlsym(h, "realloc");
  p_free = (free_fn)dlsym(h, "free");
  if (!p_malloc || !p_calloc || !p_realloc || !p_free) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    return 1;
  }
  printf("pid %d\n", (int)getpid());
  /* Kept: 2000 x 4 KiB live at exit. Calloc: 4000 x 2 KiB, freed. Grown:
   * 3000 blocks through realloc to 4 KiB then to 8 KiB, freed. The sizes
   * come from volatile variables so that the compiler makes no constant-
   * propagated clones of the site functions (their names would change). */
  double kept_bytes = 0, calloc_bytes = 0, grown_bytes = 0;
  for (int i = 0; i < KEPT; i++) {
    kept[i] = asan_site_kept(kept_size);
    if (!kept[i]) return 1;
    memset(kept[i], i & 0xff, kept_size);
    kept_bytes += (double)kept_size;
  }
  for (int i = 0; i < 4000; i++) {
    char *p = asan_site_calloc(calloc_size);
    if (!p || p[calloc_size - 1] != 0) return 1;
    calloc_bytes += (double)calloc_size;
    p_free(p);
  }
  for (int i = 0; i < 3000; i++) {
    char *p = p_malloc(64);
    if (!p) return 1;
    p[63] = 7;
    p = asan_site_grown(p, grown_size);
    if (!p || p[63] != 7) return 1;
    grown_bytes += (double)(grown_size / 2 + grown_size); /* both reallocs */
    p_free(p);
  }
  printf("asan_site_kept %.0f %.0f\n", kept_bytes, kept_bytes);
  printf("asan_site_calloc %.0f 0\n", calloc_bytes);
  printf("asan_site_grown %.0f 0\n", grown_bytes);
  /* The kept blocks stay live: the exit export shows them in use. They are
   * glibc's, not ASan's, so LeakSanitizer does not see them. */
  return 0;
}
