/*
 * fork() while profiling at a high rate: the fork itself always completes
 * (the profiling signal is blocked around it), the child runs normally and
 * is not profiled, it can start its own profiler, and the parent keeps
 * sampling.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "cpu_work.h"
#include "inprof.h"
#include "testutil.h"

int main(void) {
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "fork", "parent");
  cfg.cpu_hz = 1000;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  CPU_WORK_SPIN(50000000ull);

  int children_ok = 0;
  for (int i = 0; i < 50; i++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      /* The child: not profiled, but can be. */
      if (inprof_is_running()) _exit(10);
      CPU_WORK_SPIN(5000000ull);
      if (i % 10 == 0) {
        inprof_config c2 = cfg;
        c2.service = "child";
        if (inprof_start(&c2) != INPROF_OK) _exit(11);
        CPU_WORK_SPIN(30000000ull);
        if (inprof_stop(5000) != INPROF_OK) _exit(12);
      }
      _exit(0);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
      children_ok++;
    else
      fprintf(stderr, "child %d: status 0x%x\n", i, status);
  }
  CHECKF(children_ok == 50, "%d of 50 children ok", children_ok);
  CPU_WORK_SPIN(100000000ull);
  inprof_statistics st = {.struct_size = sizeof st};
  inprof_stats(&st);
  /* At 1000 Hz the kernel's tick (often 250 Hz) bounds signals per thread:
   * count samples loosely, and check the CPU time they carry instead. */
  CHECKF(st.cpu_samples > 20, "parent samples %llu", (unsigned long long)st.cpu_samples);
  CHECK(inprof_is_running());
  REQUIRE(inprof_stop(5000) == INPROF_OK);
  char *parent = testutil_capture("ls %s/parent-*.pprof.gz", dir);
  parent[strcspn(parent, "\n")] = 0;
  static testutil_row rows[1024];
  int nrows = testutil_pprof_top(parent, "cpu-time", rows, 1024);
  double total = testutil_total(rows, nrows);
  printf("parent cpu-time in profile: %.0f ns (spun 150000000 ns)\n", total);
  CHECKF(total > 0.8 * 150000000.0, "parent cpu-time %.0f ns", total);
  char *n = testutil_capture("ls %s | grep -c '^child-'", dir);
  CHECKF(atoi(n) == 5, "child profiles: %s", n);
  return testutil_done("test_fork");
}
