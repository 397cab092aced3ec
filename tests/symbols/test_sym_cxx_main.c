/* test_sym_cxx_main.c - runs test_sym_cxx.cpp's workload profiled in a
 * child and reads the profile as pprof users do (see that file). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symtest.h"

void sym_cxx_workload(double seconds);

static int child(const char *dir) {
  symtest_start(dir);
  sym_cxx_workload(1.2);
  symtest_stop();
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "child")) return child(argv[2]);
  char self[PATH_MAX];
  REQUIRE(realpath("/proc/self/exe", self));
  char *p = symtest_run_child("", self, "symcxx");
  REQUIRE(p);
  testutil_row rows[512];
  int n = symtest_top(p, "", rows, 512);
  REQUIRE(n > 0);
  double total = testutil_total(rows, n);
  const char *names[] = {"ns::burn(int)", "ns::burn(double)", "Box<int>::run(int)"};
  for (int i = 0; i < 3; i++) {
    double share = symtest_flat_exact(rows, n, names[i]) / total;
    CHECKF(share > 0.10, "%s has %.1f%% of CPU in pprof -top, want a row of its own",
           names[i], share * 100);
  }
  /* The simplified forms must not appear as rows. */
  CHECK(symtest_flat_exact(rows, n, "ns::burn") == 0);
  CHECK(symtest_flat_exact(rows, n, "Box::run") == 0);
  /* -raw shows the mangled names as system names. */
  char *raw = testutil_capture("%s tool pprof -raw -symbolize=none %s 2>&1", INPROF_GO, p);
  REQUIRE(raw);
  CHECKF(strstr(raw, "(_ZN2ns4burnEi)") && strstr(raw, "(_ZN2ns4burnEd)") &&
             strstr(raw, "(_ZN3BoxIiE3runEi)"),
         "mangled system names missing from -raw:\n%.3000s", raw);
  free(raw);
  if (testutil_failures) symtest_print_rows("pprof -top", rows, n);
  free(p);
  return testutil_done("test_sym_cxx");
}
