/*
 * test_zerocode.c - zero-code mode end to end: runs programs that were never
 * linked with inprof under inprof-run and checks the profiles they leave, the
 * refusals and exit statuses of inprof-run, and the one-profiler rule for a
 * program that links inprof itself. argv[1] names the case; each case is its
 * own ctest test. This driver is not linked with inprof either.
 */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "test_http_util.h"

#ifndef ZC_RUN
#error "ZC_RUN (inprof-run) must be defined"
#endif

typedef struct result {
  int rc;
  char *out; /* stdout and stderr */
} result;

/* Runs inprof-run with the shell-quoted arguments given. */
static result run(const char *fmt, ...) {
  char args[3000], cmd[3500];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "%s %s 2>&1; echo \"rc=$?\"", ZC_RUN, args);
  result r = {-1, testutil_capture("%s", cmd)};
  REQUIRE(r.out);
  char *rc = strstr(r.out, "rc=");
  while (rc && strstr(rc + 1, "rc=")) rc = strstr(rc + 1, "rc=");
  if (rc) r.rc = atoi(rc + 3);
  printf("$ inprof-run %s\n%s", args, r.out);
  return r;
}

static double num_after(const char *text, const char *key) {
  const char *p = strstr(text, key);
  return p ? strtod(p + strlen(key), NULL) : -1;
}

static int count_files(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix)) && strstr(e->d_name, ".pprof.gz")) n++;
  closedir(d);
  return n;
}

static double cum_of(testutil_row *rows, int n, const char *fn) {
  for (int i = 0; i < n; i++)
    if (!strcmp(rows[i].name, fn)) return rows[i].cum;
  return 0;
}

static void check_close(const char *what, const char *site, double got, double want, double tol) {
  double err = want > 0 ? got / want - 1 : got;
  printf("%-12s %-12s profile %14.0f truth %14.0f (%+.2f%%)\n", site, what, got, want, 100 * err);
  CHECKF(fabs(err) <= tol, "%s of %s: %.0f, truth %.0f", what, site, got, want);
}

static void rmdir_all(char *dir) {
  free(testutil_capture("rm -rf %s", dir));
  free(dir);
}

/* -------------------------------------------------------------- cases */

static void case_cpu(void) {
  char *dir = testutil_tmpdir("zc-cpu");
  REQUIRE(dir);
  result r = run("--service zc-cpu --output-dir %s --heap-sample-bytes 0 --upload-period 3600 "
                 "-- %s/zc_cpu_heap cpu", dir, ZC_BIN_DIR);
  CHECK(r.rc == 0);
  int pid = (int)num_after(r.out, "pid ");
  double os = num_after(r.out, "cpu_ns ");
  REQUIRE(pid > 0 && os > 0);
  CHECKF(count_files(dir, "") == 1, "%d files", count_files(dir, ""));
  char file[512];
  snprintf(file, sizeof file, "%s/zc-cpu-%d-1.pprof.gz", dir, pid);
  REQUIRE(access(file, R_OK) == 0);
  static testutil_row rows[4096];
  int n = testutil_pprof_top(file, "cpu-time", rows, 4096);
  REQUIRE(n > 0);
  double three = cum_of(rows, n, "busy_three"), one = cum_of(rows, n, "busy_one");
  double total = testutil_total(rows, n), share = three / (three + one);
  printf("busy_three %.0f busy_one %.0f share %.3f (want 0.750); total %.0f, getrusage %.0f\n",
         three, one, share, total, os);
  CHECKF(share > 0.70 && share < 0.80, "share %.3f", share);
  /* getrusage is read just before exit; the profile also covers the exit. */
  CHECKF(total > 0.9 * os && total < 1.15 * os, "profile %.0f ns vs OS %.0f ns", total, os);
  free(r.out);
  rmdir_all(dir);
}

static void case_heap(void) {
  char *dir = testutil_tmpdir("zc-heap");
  REQUIRE(dir);
  result r = run("--service zc-heap --output-dir %s --cpu-hz 0 --heap-sample-bytes 32768 "
                 "--upload-period 3600 -- %s/zc_cpu_heap heap", dir, ZC_BIN_DIR);
  CHECK(r.rc == 0);
  int pid = (int)num_after(r.out, "pid ");
  REQUIRE(pid > 0);
  char file[512];
  snprintf(file, sizeof file, "%s/zc-heap-%d-1.pprof.gz", dir, pid);
  REQUIRE(access(file, R_OK) == 0);
  static testutil_row alloc[4096], inuse[4096];
  int na = testutil_pprof_top(file, "alloc-space", alloc, 4096);
  int ni = testutil_pprof_top(file, "inuse-space", inuse, 4096);
  REQUIRE(na > 0 && ni > 0);
  static const char *sites[4] = {"site_small", "site_medium", "site_large", "site_freed"};
  double sum = 0;
  for (int s = 0; s < 4; s++) {
    char key[64];
    snprintf(key, sizeof key, "%s ", sites[s]);
    const char *line = strstr(r.out, key);
    REQUIRE(line);
    double want_alloc = 0, want_kept = 0;
    REQUIRE(sscanf(line + strlen(key), "%lf %lf", &want_alloc, &want_kept) == 2);
    /* cum: the interposed malloc is the leaf frame, the site its caller. */
    double got = cum_of(alloc, na, sites[s]);
    sum += got;
    check_close("alloc-space", sites[s], got, want_alloc, 0.10);
    if (s < 3) check_close("inuse-space", sites[s], cum_of(inuse, ni, sites[s]), want_kept, 0.10);
  }
  CHECKF(cum_of(inuse, ni, "site_freed") == 0, "site_freed in use: %.0f",
         cum_of(inuse, ni, "site_freed"));
  /* The rest is main's own: the 8 MiB array of kept pointers, stdio. */
  double total = testutil_total(alloc, na);
  CHECKF(sum >= 0.98 * total, "sites %.0f of %.0f allocated bytes", sum, total);
  CHECK(testutil_flat_of(alloc, na, "inprof_record_alloc") == 0);
  CHECK(testutil_flat_of(alloc, na, "heap_alloc_slow") == 0);
  free(r.out);
  rmdir_all(dir);
}

static void case_cxx(void) {
  char *dir = testutil_tmpdir("zc-cxx");
  REQUIRE(dir);
  result r = run("--service zc-cxx --output-dir %s --cpu-hz 0 --heap-sample-bytes 32768 "
                 "-- %s/zc_cxx", dir, ZC_BIN_DIR);
  CHECK(r.rc == 0);
  int pid = (int)num_after(r.out, "pid ");
  double want = num_after(r.out, "cxx_site ");
  REQUIRE(pid > 0 && want > 0);
  char file[512];
  snprintf(file, sizeof file, "%s/zc-cxx-%d-1.pprof.gz", dir, pid);
  REQUIRE(access(file, R_OK) == 0);
  static testutil_row alloc[4096];
  int na = testutil_pprof_top(file, "alloc-space", alloc, 4096);
  REQUIRE(na > 0);
  double site = 0, newop = 0;
  for (int i = 0; i < na; i++) {
    if (strstr(alloc[i].name, "cxx_site")) site += alloc[i].cum;
    if (strstr(alloc[i].name, "operator new")) newop += alloc[i].cum;
  }
  check_close("alloc-space", "cxx_site", site, want, 0.10);
  CHECKF(newop >= 0.9 * site, "operator new %.0f, cxx_site %.0f", newop, site);
  free(r.out);
  rmdir_all(dir);
}

/* Requests (of the first nreq) that have the summary line `tag`. */
static int count_tag(const intake *in, int nreq, const char *tag) {
  int c = 0;
  for (int i = 1; i <= nreq; i++) {
    char *t = intake_request(in, i);
    if (t && has_line(t, tag)) c++;
    free(t);
  }
  return c;
}

/* Files in dir starting with prefix whose Profile.comment (go tool pprof
 * -comments) is exactly "process_name:<name>"; -1 when a file has another
 * process_name comment or none. */
static int count_named_files(const char *dir, const char *prefix, const char *name) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0, bad = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix)) && strstr(e->d_name, ".pprof.gz")) {
      char *c = testutil_capture("%s tool pprof -comments %s/%s 2>&1", INPROF_GO, dir,
                                 e->d_name);
      REQUIRE(c);
      char want[300];
      snprintf(want, sizeof want, "process_name:%s\n", name);
      if (!strcmp(c, want)) n++;
      else printf("%s: comments %s", e->d_name, c), bad = 1;
      free(c);
    }
  closedir(d);
  return bad ? -1 : n;
}

/*
 * zc_cpu_heap (exits normally) -> sh -c -> zc_child a; zc_child b. Each
 * process that exits normally leaves one file set and one upload, tagged
 * with its own process_name: in the upload's tags and as the pprof file's
 * comment. The shell may leave none: dash leaves with _exit, which skips the
 * exit export (documented).
 */
static void case_chain(int follow) {
  char *dir = testutil_tmpdir("zc-chain");
  REQUIRE(dir);
  intake in;
  intake_start(&in, NULL);
  result r = run("%s --service chain --version 1.2.3 --agent-url %s --output-dir %s "
                 "--upload-period 3600 -- %s/zc_cpu_heap spawn "
                 "'%s/zc_child a; %s/zc_child b; exit 0'",
                 follow ? "" : "--no-follow", in.url, dir, ZC_BIN_DIR, ZC_BIN_DIR, ZC_BIN_DIR);
  CHECK(r.rc == 0);
  int pp = (int)num_after(r.out, "pid ");
  int pa = (int)num_after(r.out, "child a pid "), pb = (int)num_after(r.out, "child b pid ");
  REQUIRE(pp > 0 && pa > 0 && pb > 0);
  char pre[64];
  snprintf(pre, sizeof pre, "chain-%d-", pp);
  int fp = count_files(dir, pre);
  snprintf(pre, sizeof pre, "chain-%d-", pa);
  int fa = count_files(dir, pre);
  snprintf(pre, sizeof pre, "chain-%d-", pb);
  int fb = count_files(dir, pre);
  int all = count_files(dir, "chain-");
  printf("files: parent %d, child a %d, child b %d, all %d\n", fp, fa, fb, all);
  int kids = follow ? 1 : 0;
  CHECKF(fp == 1 && fa == kids && fb == kids, "parent %d, child a %d, child b %d files",
         fp, fa, fb);
  int shell_files = all - fp - fa - fb;
  CHECKF(shell_files == 0 || (follow && shell_files == 1), "%d files from the shell",
         shell_files);
  /* The files carry the process_name too. */
  snprintf(pre, sizeof pre, "chain-%d-", pp);
  CHECKF(count_named_files(dir, pre, "zc_cpu_heap") == fp, "parent's file comments");
  snprintf(pre, sizeof pre, "chain-%d-", pa);
  CHECKF(count_named_files(dir, pre, "zc_child") == fa, "child a's file comments");
  snprintf(pre, sizeof pre, "chain-%d-", pb);
  CHECKF(count_named_files(dir, pre, "zc_child") == fb, "child b's file comments");
  int nreq = intake_wait(&in, all, 20000);
  th_sleep_ms(300); /* a late extra upload would be a failure too */
  nreq = intake_count(&in);
  CHECKF(nreq == all, "%d uploads, %d file sets", nreq, all);
  int named_parent = count_tag(&in, nreq, "tag=process_name:zc_cpu_heap");
  int named_child = count_tag(&in, nreq, "tag=process_name:zc_child");
  int named_sh = count_tag(&in, nreq, "tag=process_name:dash") +
                 count_tag(&in, nreq, "tag=process_name:sh") +
                 count_tag(&in, nreq, "tag=process_name:bash");
  printf("uploads %d: process_name zc_cpu_heap %d, zc_child %d, shell %d\n", nreq,
         named_parent, named_child, named_sh);
  CHECK(named_parent == 1);
  CHECK(named_child == 2 * kids);
  CHECK(named_sh == shell_files);
  CHECK(count_tag(&in, nreq, "tag=service:chain") == nreq);
  CHECK(count_tag(&in, nreq, "tag=version:1.2.3") == nreq);
  CHECK(count_tag(&in, nreq, "violations=0") == nreq);
  intake_stop(&in);
  free(r.out);
  rmdir_all(dir);
}

static void case_refusals(void) {
  char *dir = testutil_tmpdir("zc-refuse");
  REQUIRE(dir);
  result r;
  /* Static: refused, nothing run. */
  r = run("--output-dir %s -- %s/zc_static", dir, ZC_BIN_DIR);
  CHECK(r.rc == 2 && strstr(r.out, "statically linked") && !strstr(r.out, "static ran"));
  free(r.out);
  r = run("--allow-unprofiled --output-dir %s %s/zc_static", dir, ZC_BIN_DIR);
  CHECK(r.rc == 0 && strstr(r.out, "static ran") && strstr(r.out, "unprofiled"));
  free(r.out);
  /* Setuid: refused (we may be root, so only the mode is checked by inprof-run). */
  char suid[600];
  snprintf(suid, sizeof suid, "%s/zc_child_suid", dir);
  free(testutil_capture("cp %s/zc_child %s && chmod 4755 %s", ZC_BIN_DIR, suid, suid));
  r = run("%s", suid);
  CHECK(r.rc == 2 && strstr(r.out, "setuid") && !strstr(r.out, "child - pid"));
  free(r.out);
  /* Usage errors. */
  r = run("--bogus -- true");
  CHECK(r.rc == 2 && strstr(r.out, "unknown option --bogus") && strstr(r.out, "usage:"));
  free(r.out);
  r = run("--service");
  CHECK(r.rc == 2 && strstr(r.out, "needs a value"));
  free(r.out);
  r = run("--service x");
  CHECK(r.rc == 2 && strstr(r.out, "no command"));
  free(r.out);
  r = run("");
  CHECK(r.rc == 2 && strstr(r.out, "usage:"));
  free(r.out);
  r = run("--cpu-hz lots -- true");
  CHECK(r.rc == 2 && strstr(r.out, "INPROF_CPU_HZ"));
  free(r.out);
  r = run("--output-dir %s/does-not-exist -- true", dir);
  CHECK(r.rc == 2);
  free(r.out);
  /* Not found / not executable, as a shell. */
  r = run("-- inprof-no-such-command-zc");
  CHECK(r.rc == 127 && strstr(r.out, "not found"));
  free(r.out);
  r = run("%s/no-such-file", dir);
  CHECK(r.rc == 127);
  free(r.out);
  char noexec[600];
  snprintf(noexec, sizeof noexec, "%s/noexec", dir);
  free(testutil_capture("echo x > %s && chmod 644 %s", noexec, noexec));
  r = run("%s", noexec);
  CHECK(r.rc == 126);
  free(r.out);
  /* --version: the tool's version alone or before "--"; DD_VERSION otherwise. */
  r = run("--version");
  CHECK(r.rc == 0 && strstr(r.out, "inprof-run "));
  free(r.out);
  r = run("-V");
  CHECK(r.rc == 0 && strstr(r.out, "inprof-run "));
  free(r.out);
  r = run("--help");
  CHECK(r.rc == 0 && strstr(r.out, "usage:") && strstr(r.out, "--no-follow"));
  free(r.out);
#if !ZC_SANITIZER_BUILD
  /* These run a program with the preload, which a sanitizer build's
   * instrumented preload library cannot do (see CMakeLists.txt). */
  r = run("--version 9.9 --output-dir %s --upload-period 3600 -- sh -c 'echo \"v=$DD_VERSION\"'",
          dir);
  CHECK(r.rc == 0 && strstr(r.out, "v=9.9"));
  free(r.out);
  r = run("--version=9.8 --output-dir %s -- sh -c 'echo \"v=$DD_VERSION\"'", dir);
  CHECK(r.rc == 0 && strstr(r.out, "v=9.8"));
  free(r.out);
  /* The command's own exit status comes back. */
  r = run("--output-dir %s -- sh -c 'exit 7'", dir);
  CHECK(r.rc == 7);
  free(r.out);
#endif
  rmdir_all(dir);
}

/* prog: zc_linked (inprof linked statically) or zc_linked_shared (libinprof.so). */
static void case_linked(const char *prog) {
  char *dir = testutil_tmpdir("zc-linked");
  REQUIRE(dir);
  result r = run("--service zc-linked --output-dir %s -- %s/%s", dir, ZC_BIN_DIR, prog);
  CHECK(r.rc == 0);
  int st = (int)num_after(r.out, "start ");
  /* 2 is INPROF_ERR_RUNNING: the preload's copy runs, this one stays off. */
  CHECKF(st == 2, "the program's own inprof_start returned %d, want 2 (INPROF_ERR_RUNNING)", st);
  CHECKF(strstr(r.out, "libinprof-preload"), "the error does not name the running copy");
  /* zc_linked_shared's inprof_is_running binds to the preload's export: 1 there. */
  if (!strcmp(prog, "zc_linked")) CHECK(strstr(r.out, "running 0"));
  /* One profiler: one set of files, the preload's. */
  CHECKF(count_files(dir, "zc-linked-") == 1, "%d files", count_files(dir, "zc-linked-"));
  free(r.out);
  rmdir_all(dir);
}

/*
 * The preload library's code in an instrumented program (zc_asan_dlopen:
 * dlopen'ed, its allocator entry points called explicitly, exit export):
 * ASan and UBSan check it in the sanitizer builds; everywhere, the heap
 * profile it writes must match what the program allocated per site.
 */
static void case_asan_dlopen(void) {
  char *dir = testutil_tmpdir("zc-asan");
  REQUIRE(dir);
  /* 4 KiB sampling: the 2000 kept 4 KiB blocks are each sampled with
   * probability 0.63, so the estimate's relative deviation is 1.7%: the
   * 10% bound is ~6 deviations (at 16 KiB it was 2.4: a failure in ~60
   * runs, seen once). */
  char *out = testutil_capture(
      "env -u LD_PRELOAD INPROF_OUTPUT_DIR=%s INPROF_UPLOAD=false DD_SERVICE=zc-asan "
      "INPROF_HEAP_SAMPLE_BYTES=4096 INPROF_CPU_HZ=99 DD_PROFILING_UPLOAD_PERIOD=3600 "
      "%s/zc_asan_dlopen %s 2>&1; echo \"rc=$?\"", dir, ZC_BIN_DIR, ZC_PRELOAD);
  REQUIRE(out);
  printf("%s", out);
  CHECKF(strstr(out, "rc=0\n") != NULL, "zc_asan_dlopen failed");
  CHECK(strstr(out, "ERROR: AddressSanitizer") == NULL);
  CHECK(strstr(out, "runtime error:") == NULL);
  int pid = (int)num_after(out, "pid ");
  REQUIRE(pid > 0);
  char file[512];
  snprintf(file, sizeof file, "%s/zc-asan-%d-1.pprof.gz", dir, pid);
  CHECKF(access(file, R_OK) == 0, "no exit export %s", file);
  static testutil_row alloc[4096], inuse[4096];
  int na = testutil_pprof_top(file, "alloc-space", alloc, 4096);
  int ni = testutil_pprof_top(file, "inuse-space", inuse, 4096);
  REQUIRE(na > 0 && ni > 0);
  static const char *sites[3] = {"asan_site_kept", "asan_site_calloc", "asan_site_grown"};
  for (int s = 0; s < 3; s++) {
    char key[64];
    snprintf(key, sizeof key, "%s ", sites[s]);
    const char *line = strstr(out, key);
    REQUIRE(line);
    double want_alloc = 0, want_kept = 0;
    REQUIRE(sscanf(line + strlen(key), "%lf %lf", &want_alloc, &want_kept) == 2);
    check_close("alloc-space", sites[s], cum_of(alloc, na, sites[s]), want_alloc, 0.10);
    if (want_kept > 0)
      check_close("inuse-space", sites[s], cum_of(inuse, ni, sites[s]), want_kept, 0.10);
    else
      CHECKF(cum_of(inuse, ni, sites[s]) == 0, "%s in use: %.0f", sites[s],
             cum_of(inuse, ni, sites[s]));
  }
  free(out);
  rmdir_all(dir);
}

int main(int argc, char **argv) {
  REQUIRE(argc > 1);
  setvbuf(stdout, NULL, _IONBF, 0);
  if (!strcmp(argv[1], "cpu")) case_cpu();
  else if (!strcmp(argv[1], "heap")) case_heap();
  else if (!strcmp(argv[1], "cxx")) case_cxx();
  else if (!strcmp(argv[1], "chain")) case_chain(1);
  else if (!strcmp(argv[1], "nofollow")) case_chain(0);
  else if (!strcmp(argv[1], "refusals")) case_refusals();
  else if (!strcmp(argv[1], "linked")) {
    case_linked("zc_linked");
    case_linked("zc_linked_shared");
  }
  else if (!strcmp(argv[1], "asan_dlopen")) case_asan_dlopen();
  else REQUIRE(!"unknown case");
  return testutil_done(argv[1]);
}
