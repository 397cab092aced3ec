/*
 * test_sym_inline.c - CPU split 40/30/20/10 between three always_inline
 * functions at inline depths 1, 2 and 3 and one real function. Each share
 * must come out within 5 points, attributed to its own function and to the
 * line of its loop, with the inlined call chain (call lines) in one
 * Location. Then the same binary fully stripped and found again through its
 * debug file: by .gnu_debuglink next to it and in its .debug/ folder (with
 * DEBUGINFOD_URLS set, which must change nothing), and by build id under
 * INPROF_DEBUG_DIRS. A debug file of another build (wrong build id) must be
 * refused. With INPROF_INLINED_FRAMES=0 the inlined time goes to the real
 * function.
 */
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

#include "symtest.h"

static volatile uint64_t sink;

#define AI static inline __attribute__((always_inline))
/* One multiply-add chain per iteration, kept in a register: every loop below
 * costs the same per iteration whatever the CPU does with memory. */
#define STEP(x)                                                  \
  do {                                                           \
    x = x * 6364136223846793005ull + 1442695040888963407ull;     \
    __asm__ volatile("" : "+r"(x));                              \
  } while (0)

AI void inl_one(uint64_t n) {
  uint64_t x = n;
  for (uint64_t i = 0; i < n; i++) STEP(x); /* MARK:one */
  sink += x;
}

AI void inl_two(uint64_t n) {
  uint64_t x = n;
  for (uint64_t i = 0; i < n; i++) STEP(x); /* MARK:two */
  sink += x;
}
AI void inl_two_outer(uint64_t n) {
  inl_two(n); /* MARK:call_two */
}

AI void inl_three(uint64_t n) {
  uint64_t x = n;
  for (uint64_t i = 0; i < n; i++) STEP(x); /* MARK:three */
  sink += x;
}
AI void inl_three_mid(uint64_t n) {
  inl_three(n); /* MARK:call_three_mid */
}
AI void inl_three_outer(uint64_t n) {
  inl_three_mid(n); /* MARK:call_three_outer */
}

__attribute__((noinline)) void real_fn(uint64_t n) {
  uint64_t x = n;
  for (uint64_t i = 0; i < n; i++) STEP(x); /* MARK:real */
  sink += x;
}

__attribute__((noinline)) void sym_driver(uint64_t unit) {
  inl_one(4 * unit);
  inl_two_outer(3 * unit);
  inl_three_outer(2 * unit); /* MARK:call_three_driver */
  real_fn(unit);
}

static int child(const char *dir) {
  symtest_start(dir);
  double t0 = symtest_cpu_seconds();
  /* Call lengths vary, so that the kernel tick that triggers samples does
   * not fall into step with the loops. */
  uint64_t r = 88172645463325252ull;
  /* 6 s of CPU: about 1500 samples at the kernel's 250 Hz tick, so a 5-point
   * tolerance on a 30% share is over 4 standard errors (3 s gave 2.9 and
   * failed about once in 25 runs). */
  while (symtest_cpu_seconds() - t0 < 6.0) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    sym_driver(2000 + r % 40000);
  }
  symtest_stop();
  return 0;
}

#define SRC INPROF_SOURCE_DIR "/tests/symbols/test_sym_inline.c"

typedef struct want {
  const char *name;
  double share;
  const char *marker;
} want;

static const want wants[] = {
    {"inl_one", 0.40, "MARK:one"},
    {"inl_two", 0.30, "MARK:two"},
    {"inl_three", 0.20, "MARK:three"},
    {"real_fn", 0.10, "MARK:real"},
};

/* Lines of one Location in `go tool pprof -raw`, innermost first. */
static int raw_has_chain(const char *raw, const char *const *names, const int *lines,
                         int n) {
  /* An entry starts with "<id>: 0x..." and continues on indented lines. */
  const char *p = strstr(raw, "\nLocations\n");
  if (!p) return 0;
  while ((p = strstr(p, ": 0x")) != NULL) {
    const char *end = strstr(p + 1, ": 0x");
    const char *maps = strstr(p, "\nMappings");
    if (!end || (maps && maps < end)) end = maps ? maps : p + strlen(p);
    int ok = 1;
    const char *q = p;
    for (int i = 0; i < n && ok; i++) {
      char needle[256];
      snprintf(needle, sizeof needle, " %s ", names[i]);
      q = strstr(q, needle);
      ok = q && q < end;
      if (!ok) break;
      snprintf(needle, sizeof needle, "test_sym_inline.c:%d:", lines[i]);
      const char *nl = strchr(q, '\n');
      const char *hit = strstr(q, needle);
      ok = hit && (!nl || hit < nl);
    }
    if (ok) return 1;
    p = end;
    if (!*p) break;
  }
  return 0;
}

/* Checks one profile; quiet=1 returns 0/1 without counting failures. */
static int check_profile(const char *what, const char *file, int expect_named) {
  int fails_before = testutil_failures;
  testutil_row rows[512];
  int n = symtest_top(file, "", rows, 512);
  CHECKF(n > 0, "%s: pprof -top failed", what);
  if (n <= 0) return 0;
  double total = testutil_total(rows, n);
  CHECKF(total > 0.5e9, "%s: only %.0f ns of CPU in the profile", what, total);
  if (!expect_named) {
    double named = 0;
    for (size_t i = 0; i < sizeof wants / sizeof *wants; i++)
      named += symtest_flat_exact(rows, n, wants[i].name);
    return named == 0;
  }
  for (size_t i = 0; i < sizeof wants / sizeof *wants; i++) {
    double share = symtest_flat_exact(rows, n, wants[i].name) / total;
    CHECKF(share > wants[i].share - 0.05 && share < wants[i].share + 0.05,
           "%s: %s has %.1f%% of CPU, want %.0f%% +- 5", what, wants[i].name, share * 100,
           wants[i].share * 100);
  }
  /* Per line: each function's time sits on its loop's line. */
  testutil_row lrows[512];
  int ln = symtest_top(file, "-lines", lrows, 512);
  CHECKF(ln > 0, "%s: pprof -top -lines failed", what);
  for (size_t i = 0; i < sizeof wants / sizeof *wants && ln > 0; i++) {
    int line = symtest_marker_line(SRC, wants[i].marker);
    REQUIRE(line > 0);
    char row_prefix[256], row_suffix[64];
    snprintf(row_prefix, sizeof row_prefix, "%s ", wants[i].name);
    snprintf(row_suffix, sizeof row_suffix, "test_sym_inline.c:%d", line);
    double at_line = 0;
    for (int k = 0; k < ln; k++) {
      size_t ls = strlen(lrows[k].name), ss = strlen(row_suffix);
      if (!strncmp(lrows[k].name, row_prefix, strlen(row_prefix)) && ls >= ss &&
          !strcmp(lrows[k].name + ls - ss, row_suffix))
        at_line += lrows[k].flat;
    }
    double share = at_line / total;
    CHECKF(share > wants[i].share - 0.05,
           "%s: %s at line %d has %.1f%% of CPU, want about %.0f%%", what, wants[i].name,
           line, share * 100, wants[i].share * 100);
  }
  /* The depth-3 chain, innermost first, with call lines. */
  char *raw = testutil_capture("%s tool pprof -raw -symbolize=none %s 2>&1", INPROF_GO, file);
  REQUIRE(raw);
  const char *names[] = {"inl_three", "inl_three_mid", "inl_three_outer", "sym_driver"};
  int lines[] = {symtest_marker_line(SRC, "MARK:three"),
                 symtest_marker_line(SRC, "MARK:call_three_mid"),
                 symtest_marker_line(SRC, "MARK:call_three_outer"),
                 symtest_marker_line(SRC, "MARK:call_three_driver")};
  CHECKF(raw_has_chain(raw, names, lines, 4),
         "%s: no Location with inl_three:%d <- inl_three_mid:%d <- inl_three_outer:%d <- "
         "sym_driver:%d",
         what, lines[0], lines[1], lines[2], lines[3]);
  /* The mapping of the executable says it has all of it. */
  CHECKF(strstr(raw, "[FN][FL][LN][IN]") != NULL, "%s: mapping flags missing", what);
  free(raw);
  if (testutil_failures != fails_before) symtest_print_rows(what, rows, n < 12 ? n : 12);
  return testutil_failures == fails_before;
}

static void run(const char *cmd) {
  char *out = testutil_capture("%s 2>&1", cmd);
  if (out && *out) fprintf(stderr, "%s: %s", cmd, out);
  free(out);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "child")) return child(argv[2]);
  char self[PATH_MAX];
  REQUIRE(realpath("/proc/self/exe", self));
  /* The variants may not find the real binary's own debug file by chance. */
  setenv("INPROF_DEBUG_DIRS", "/nonexistent-inprof-debug", 1);

  /* 1. The binary as built (DWARF inside). */
  char *p = symtest_run_child("", self, "syminl-plain");
  REQUIRE(p);
  check_profile("built", p, 1);
  free(p);

  /* 1b. Inlined frames off: the inlined time is its real function's, and
   * the mapping does not claim inline frames. */
  p = symtest_run_child("INPROF_INLINED_FRAMES=0", self, "syminl-noinl");
  REQUIRE(p);
  {
    testutil_row rows[512];
    int n = symtest_top(p, "", rows, 512);
    REQUIRE(n > 0);
    double total = testutil_total(rows, n);
    double drv = symtest_flat_exact(rows, n, "sym_driver") / total;
    double real = symtest_flat_exact(rows, n, "real_fn") / total;
    CHECKF(drv > 0.85 && drv < 0.95, "inline off: sym_driver has %.1f%%, want 90 +- 5",
           drv * 100);
    CHECKF(real > 0.05 && real < 0.15, "inline off: real_fn has %.1f%%, want 10 +- 5",
           real * 100);
    CHECK(symtest_flat_exact(rows, n, "inl_one") == 0);
    char *raw = testutil_capture("%s tool pprof -raw -symbolize=none %s 2>&1", INPROF_GO, p);
    REQUIRE(raw);
    CHECKF(strstr(raw, "[FN][FL][LN]") && !strstr(raw, "[FN][FL][LN][IN]"),
           "inline off: mapping flags");
    free(raw);
    if (testutil_failures) symtest_print_rows("inline off", rows, n < 12 ? n : 12);
  }
  free(p);

  char *dir = testutil_tmpdir("syminl-strip");
  REQUIRE(dir);
  char cmd[8192];
  /* 2. Fully stripped, debug file found by .gnu_debuglink next to it. */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && cp '%s' prog && objcopy --only-keep-debug prog prog.debug && "
           "objcopy --strip-all --add-gnu-debuglink=prog.debug prog prog.linked && "
           "objcopy --strip-all prog prog.bare",
           dir, self);
  run(cmd);
  char path[4096];
  snprintf(path, sizeof path, "%s/prog.linked", dir);
  struct stat st;
  REQUIRE(stat(path, &st) == 0);
  char *sections = testutil_capture("readelf -S '%s' | grep -c debug_info", path);
  CHECKF(sections && atoi(sections) == 0, "prog.linked still has .debug_info");
  free(sections);
  p = symtest_run_child("", path, "syminl-link");
  REQUIRE(p);
  check_profile("debuglink", p, 1);
  free(p);

  /* 2b. The same, the debug file in the .debug/ folder next to it; and
   * debuginfod configured, which must never be asked (no network). */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && mkdir -p sub/.debug && cp prog.linked sub/prog.linked && "
           "cp prog.debug sub/.debug/prog.debug",
           dir);
  run(cmd);
  snprintf(path, sizeof path, "%s/sub/prog.linked", dir);
  p = symtest_run_child("DEBUGINFOD_URLS=http://127.0.0.1:9", path, "syminl-dotdebug");
  REQUIRE(p);
  check_profile("debuglink in .debug/", p, 1);
  free(p);

  /* 3. Fully stripped, no debuglink; debug file in a build-id directory. */
  char *bid = testutil_capture(
      "readelf -n '%s/prog' | sed -n 's/.*Build ID: *\\([0-9a-f]*\\).*/\\1/p' | head -n 1",
      dir);
  REQUIRE(bid);
  bid[strcspn(bid, "\n")] = 0;
  REQUIRE(strlen(bid) > 4);
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s/dbg/.build-id/%.2s' && cp '%s/prog.debug' '%s/dbg/.build-id/%.2s/%s.debug'",
           dir, bid, dir, dir, bid, bid + 2);
  run(cmd);
  snprintf(path, sizeof path, "%s/prog.bare", dir);
  char env[4096];
  snprintf(env, sizeof env, "INPROF_DEBUG_DIRS='/nonexistent-inprof-debug:%s/dbg'", dir);
  p = symtest_run_child(env, path, "syminl-bid");
  REQUIRE(p);
  check_profile("build-id dir", p, 1);
  free(p);

  /* 4. A debug file of another build behind the same debuglink name and
   * build-id path: refused, so nothing of ours is named. */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && mkdir -p wrong && cp prog.linked wrong/prog.linked && "
           "cp '%s' wrong/prog.debug.src && "
           "objcopy --only-keep-debug wrong/prog.debug.src wrong/prog.debug && "
           "mkdir -p wrong/dbg/.build-id/%.2s && cp wrong/prog.debug wrong/dbg/.build-id/%.2s/%s.debug",
           dir, SYM_OTHER_LIB, bid, bid, bid + 2);
  run(cmd);
  snprintf(path, sizeof path, "%s/wrong/prog.linked", dir);
  snprintf(env, sizeof env, "INPROF_DEBUG_DIRS='%s/wrong/dbg'", dir);
  p = symtest_run_child(env, path, "syminl-wrong");
  REQUIRE(p);
  CHECKF(check_profile("wrong debug file", p, 0),
         "a debug file with another build id was used");
  free(p);

  testutil_capture("rm -rf '%s'", dir);
  free(bid);
  free(dir);
  return testutil_done("test_sym_inline");
}
