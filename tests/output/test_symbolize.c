/*
 * test_symbolize.c - the symbolizer on functions whose names and places are
 * known: C, C++ and Rust (legacy and v0) mangled names given to C functions
 * with asm labels, libc functions, a dlopen()ed module, symbol sizes, and
 * addresses nothing knows.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "collect/symbolizer.h"
#include "testutil.h"

static volatile int sink;

/* Distinct bodies, so identical-code folding cannot merge them. */
__attribute__((noinline, used)) int f_rust_legacy(int x)
    __asm__("_ZN8at_tests4jobs5parse17h0123456789abcdefE");
int f_rust_legacy(int x) { sink = x; return x * 11 + 1; }

__attribute__((noinline, used)) int f_rust_v0(int x)
    __asm__("_RNvNtCs1234_8at_tests4jobs13parse_records");
int f_rust_v0(int x) { sink = x + 1; return x * 13 + 2; }

__attribute__((noinline, used)) int f_cxx(int x) __asm__("_ZN8at_tests4jobs5Queue4pushEi");
int f_cxx(int x) { sink = x + 2; return x * 17 + 3; }

__attribute__((noinline, used)) int inprof_test_plain(int x) {
  sink = x + 3;
  return x * 19 + 4;
}

__attribute__((noinline, used)) static int local_helper(int x) {
  sink = x + 4;
  return x * 23 + 5;
}

/* Two functions followed by 64 bytes no symbol claims: one with a size (the
 * gap is outside it) and one without (the gap is attributed to it). */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl inprof_test_sized\n"
        ".type inprof_test_sized,@function\n"
        "inprof_test_sized:\n"
        "  ret\n"
        ".size inprof_test_sized, 1\n"
        ".skip 64, 0xcc\n"
        ".globl inprof_test_nosize\n"
        ".type inprof_test_nosize,@function\n"
        "inprof_test_nosize:\n"
        "  ret\n"
        ".skip 64, 0xcc\n");
void inprof_test_sized(void);
void inprof_test_nosize(void);

static const char *name_at(inprof__symbolizer *s, uintptr_t a,
                           const inprof__mapping_info **m) {
  const char *fn = NULL;
  const inprof__mapping_info *mm = NULL;
  int rc = inprof__symbolize(s, a, &fn, &mm);
  CHECKF(rc == (mm != NULL), "rc %d for %#lx", rc, (unsigned long)a);
  if (m) *m = mm;
  return fn;
}

#define CHECK_NAME(s, addr, want)                                              \
  do {                                                                         \
    const char *got_ = name_at(s, addr, NULL);                                 \
    CHECKF(got_ && strcmp(got_, want) == 0, "%#lx: got '%s', want '%s'",       \
           (unsigned long)(addr), got_ ? got_ : "(null)", want);               \
  } while (0)

static void check_demangle(void) {
  char buf[512];
  static const char *const cases[][2] = {
      {"_ZN8at_tests4jobs5parse17h0123456789abcdefE", "at_tests::jobs::parse"},
      {"_ZN9at_daemon4jobs13parse_records17h9f8e7d6c5b4a3921E",
       "at_daemon::jobs::parse_records"},
      {"_ZN8at_tests4jobs5parse17h0123456789abcdefE.llvm.8234", "at_tests::jobs::parse"},
      {"_RNvNtCs1234_8at_tests4jobs13parse_records", "at_tests::jobs::parse_records"},
      {"_RNvMNtCs1234_8at_tests4jobsNtB2_5Queue4push", "<at_tests::jobs::Queue>::push"},
      {"_ZN8at_tests4jobs5Queue4pushEi", "at_tests::jobs::Queue::push(int)"},
      {"_ZNK3foo3BarIiE3getEv", "foo::Bar<int>::get() const"},
      {"main", "main"},
      {"_Zgarbage", "_Zgarbage"},
      {"_R", "_R"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = inprof__demangle(cases[i][0], buf, sizeof buf);
    CHECKF(strcmp(got, cases[i][1]) == 0, "demangle(%s) = '%s', want '%s'",
           cases[i][0], got, cases[i][1]);
  }
  /* Too small a buffer: the mangled name, never a truncated one. */
  const char *m = "_ZN8at_tests4jobs5Queue4pushEi";
  CHECK(inprof__demangle(m, buf, 8) == m);
  /* Very long names are left alone (stack use of the demangler). */
  size_t big = 20000;
  char *longname = malloc(big + 16);
  REQUIRE(longname);
  strcpy(longname, "_ZN");
  size_t n = 3;
  while (n + 12 < big) n += (size_t)sprintf(longname + n, "5abcde");
  strcpy(longname + n, "E");
  CHECK(inprof__demangle(longname, buf, sizeof buf) == longname);
  free(longname);
}

static char *expected_build_id(const char *path) {
  char *out = testutil_capture(
      "readelf -n '%s' | sed -n 's/.*Build ID: *\\([0-9a-f]*\\).*/\\1/p' | head -n 1", path);
  if (out) out[strcspn(out, "\n")] = 0;
  return out;
}

int main(void) {
  check_demangle();

  inprof__symbolizer *s = inprof__symbolizer_new();
  REQUIRE(s);
  /* Before any refresh nothing is known, and nothing breaks. */
  const char *fn = (const char *)1;
  const inprof__mapping_info *m = (const inprof__mapping_info *)1;
  CHECK(inprof__symbolize(s, (uintptr_t)&inprof_test_plain, &fn, &m) == 0);
  CHECK(fn == NULL && m == NULL);
  inprof__symbolizer_refresh(s);

  /* The executable: names, mapping, build id. */
  CHECK_NAME(s, (uintptr_t)&f_rust_legacy, "at_tests::jobs::parse");
  CHECK_NAME(s, (uintptr_t)&f_rust_v0, "at_tests::jobs::parse_records");
  CHECK_NAME(s, (uintptr_t)&f_cxx, "at_tests::jobs::Queue::push(int)");
  CHECK_NAME(s, (uintptr_t)&inprof_test_plain, "inprof_test_plain");
  CHECK_NAME(s, (uintptr_t)&local_helper, "local_helper");
  /* A return address points just past a call: addr - 1 is still inside. */
  CHECK_NAME(s, (uintptr_t)&inprof_test_plain + 3, "inprof_test_plain");
  CHECK_NAME(s, (uintptr_t)&inprof_test_sized, "inprof_test_sized");
  CHECK_NAME(s, (uintptr_t)&inprof_test_nosize + 32, "inprof_test_nosize");
  fn = name_at(s, (uintptr_t)&inprof_test_sized + 32, &m);
  CHECKF(fn == NULL, "past a sized symbol: got '%s'", fn);
  CHECK(m != NULL);

  fn = name_at(s, (uintptr_t)&f_cxx, &m);
  REQUIRE(m);
  char exe[PATH_MAX];
  REQUIRE(realpath("/proc/self/exe", exe));
  CHECKF(strcmp(m->path, exe) == 0, "exe mapping path '%s', want '%s'", m->path, exe);
  CHECK(m->start <= (uintptr_t)&f_cxx && (uintptr_t)&f_cxx < m->limit);
  CHECK(m->start % (uint64_t)sysconf(_SC_PAGESIZE) == 0);
  char *want_id = expected_build_id(exe);
  CHECKF(want_id && *want_id && strcmp(m->build_id, want_id) == 0,
         "build id '%s', readelf says '%s'", m->build_id, want_id ? want_id : "");
  free(want_id);

  /* libc, through its own handle so no PLT stub of ours answers. */
  void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  REQUIRE(libc);
  uintptr_t qs = (uintptr_t)dlsym(libc, "qsort");
  uintptr_t gp = (uintptr_t)dlsym(libc, "getpid");
  REQUIRE(qs && gp);
  CHECK_NAME(s, qs, "qsort");
  CHECK_NAME(s, gp, "getpid"); /* not its alias __getpid */
  name_at(s, qs, &m);
  REQUIRE(m);
  CHECKF(strstr(m->path, "/libc.so.6") != NULL, "libc mapping path '%s'", m->path);
  want_id = expected_build_id(m->path);
  CHECKF(want_id && strcmp(m->build_id, want_id) == 0, "libc build id '%s' vs '%s'",
         m->build_id, want_id ? want_id : "");
  free(want_id);

  /* With libc6-dbg (its debug file under /usr/lib/debug by build id) and no
   * memory cap, libc frames come from DWARF: a file and line. Under a cap
   * too small for it (the default), only the symbol tables answer (the
   * debug file's included), and the refusal is counted. */
  char dbg[PATH_MAX];
  snprintf(dbg, sizeof dbg, "/usr/lib/debug/.build-id/%.2s/%s.debug", m->build_id,
           m->build_id + 2);
  if (access(dbg, R_OK) == 0) {
    inprof__sym_frame fr;
    inprof__symbolizer *u = inprof__symbolizer_new();
    REQUIRE(u);
    inprof__symbolizer_options uo = {1, 0, NULL};
    inprof__symbolizer_configure(u, &uo);
    inprof__symbolizer_refresh(u);
    CHECK(inprof__symbolize_frame(u, qs, &fr) == 1 && fr.mapping);
    CHECKF(fr.from_dwarf && fr.nlines >= 1 && fr.lines[0].file && fr.lines[0].line > 0,
           "qsort from libc's debug file: dwarf %d, %u lines", fr.from_dwarf, fr.nlines);
    CHECK(inprof__symbolizer_memory(u) > 1000000);
    inprof__symbolizer_free(u);
    inprof__symbolizer *c = inprof__symbolizer_new();
    REQUIRE(c);
    inprof__symbolizer_options o = {1, 1, NULL};
    inprof__symbolizer_configure(c, &o);
    inprof__symbolizer_refresh(c);
    CHECK(inprof__symbolize_frame(c, qs, &fr) == 1 && fr.mapping);
    CHECKF(!fr.from_dwarf && fr.nlines == 1 && strcmp(fr.lines[0].name, "qsort") == 0,
           "capped: dwarf %d, %u lines, '%s'", fr.from_dwarf, fr.nlines,
           fr.nlines ? fr.lines[0].name : "");
    CHECK(inprof__symbolizer_cap_hits(c) >= 1);
    inprof__symbolizer_free(c);
  } else {
    printf("test_symbolize: no %s (libc6-dbg): libc DWARF checks skipped\n", dbg);
  }
  dlclose(libc);

  /* The vDSO is a known object even without a file. */
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (vdso) {
    name_at(s, vdso + 16, &m);
    CHECKF(m && strcmp(m->path, "[vdso]") == 0, "vdso mapping '%s'", m ? m->path : "");
  }

  /* Addresses in no object: no function, no mapping, no crash. */
  void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(anon != MAP_FAILED);
  fn = (const char *)1;
  m = (const inprof__mapping_info *)1;
  CHECK(inprof__symbolize(s, (uintptr_t)anon + 100, &fn, &m) == 0);
  CHECK(fn == NULL && m == NULL);
  CHECK(inprof__symbolize(s, 16, &fn, &m) == 0 && fn == NULL && m == NULL);
  CHECK(inprof__symbolize(s, UINTPTR_MAX, &fn, &m) == 0 && fn == NULL && m == NULL);
  munmap(anon, 4096);

  /* A module loaded after the last refresh appears with the next one. */
  void *lib = dlopen(OUTPUT_DLOPEN_LIB, RTLD_NOW);
  REQUIRE(lib);
  void (*lib_functions)(uintptr_t *) =
      (void (*)(uintptr_t *))dlsym(lib, "output_lib_functions");
  REQUIRE(lib_functions);
  uintptr_t la[3];
  lib_functions(la);
  CHECK(name_at(s, la[0], &m) == NULL && m == NULL);
  inprof__symbolizer_refresh(s);
  CHECK_NAME(s, la[0], "at_daemon::jobs::parse_records");
  CHECK_NAME(s, la[1], "<at_tests::jobs::Queue>::push");
  CHECK_NAME(s, la[2], "output_lib_plain");
  const char *kept = name_at(s, la[0], &m);
  REQUIRE(kept && m);
  const char *kept_path = m->path;
  char lib_real[PATH_MAX];
  REQUIRE(realpath(OUTPUT_DLOPEN_LIB, lib_real));
  CHECKF(strcmp(m->path, lib_real) == 0, "module path '%s'", m->path);
  /* Executable names are unaffected by the refresh. */
  CHECK_NAME(s, (uintptr_t)&f_rust_v0, "at_tests::jobs::parse_records");

  /* Strings handed out stay valid until the next refresh. After dlclose
   * + refresh the range is gone and the object is released with what was
   * read for it (ASan builds would catch a use after free in the release). */
  CHECK(strcmp(kept, "at_daemon::jobs::parse_records") == 0);
  CHECK(strcmp(kept_path, lib_real) == 0);
  dlclose(lib);
  inprof__symbolizer_refresh(s);
  if (!dlopen(OUTPUT_DLOPEN_LIB, RTLD_NOW | RTLD_NOLOAD)) {
    fn = name_at(s, la[0], &m);
    CHECK(fn == NULL && m == NULL);
  }

  /* Many refreshes do not duplicate objects or leak ranges. */
  for (int i = 0; i < 50; i++) inprof__symbolizer_refresh(s);
  CHECK_NAME(s, qs, "qsort");
  CHECK_NAME(s, (uintptr_t)&f_rust_legacy, "at_tests::jobs::parse");

  inprof__symbolizer_free(s);
  (void)f_rust_legacy(1);
  (void)f_rust_v0(1);
  (void)f_cxx(1);
  (void)inprof_test_plain(1);
  (void)local_helper(1);
  return testutil_done("test_symbolize");
}
