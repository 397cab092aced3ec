/*
 * Issue 10, failure 3: fork() must never wait for a flush or an export.
 * With heap profiling on, one thread flushes in a loop (a large heap profile,
 * so each flush keeps the collector busy), another allocates, and the main
 * thread forks children that _exit() at once. The fork handlers used to take
 * the heap locks and then wait for the lifecycle lock held by the flush,
 * which waited for the collector, which waited for a heap lock held by the
 * forking thread: each fork stalled for the whole flush timeout.
 *
 * Properties: all FORKS forks complete and every child exits 0 within the
 * test's bound (60 s for the whole test; a healthy run needs a few seconds);
 * no child hangs (each is waited for with a deadline, then killed and named).
 * The longest single fork is printed as information only, never asserted.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "inprof.h"
#include "rel_util.h"
#include "testutil.h"

#define FORKS 100
#define LIVE 20000

static atomic_int stop_threads;
static atomic_int flushes_ok, flushes_bad;

/* Distinct call stacks for the heap profile: the depth varies. */
__attribute__((noinline)) static void *alloc_at_depth(int depth, size_t size) {
  if (depth > 0) {
    void *p = alloc_at_depth(depth - 1, size);
    __asm__ volatile("" ::: "memory"); /* not a tail call: keep the frame */
    return p;
  }
  void *p = malloc(size);
  if (p) inprof_record_alloc(p, size);
  return p;
}

static void *alloc_main(void *arg) {
  rel_track *t = arg;
  static void *live[LIVE];
  uint64_t x = 0x9E3779B97F4A7C15ull;
  while (!atomic_load(&stop_threads)) {
    for (int i = 0; i < 2000; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int s = (int)(x % LIVE);
      if (live[s]) {
        inprof_record_free(live[s]);
        free(live[s]);
      }
      rel_phase(t, "malloc");
      live[s] = alloc_at_depth((int)((x >> 20) % 48), 64 + (size_t)((x >> 32) % 8192));
      rel_phase(t, "loop");
    }
    rel_progress(t);
  }
  for (int s = 0; s < LIVE; s++)
    if (live[s]) inprof_record_free(live[s]), free(live[s]);
  return NULL;
}

static void *flush_main(void *arg) {
  rel_track *t = arg;
  while (!atomic_load(&stop_threads)) {
    rel_phase(t, "inprof_flush");
    inprof_status st = inprof_flush(10000);
    rel_phase(t, "loop");
    if (st == INPROF_OK) atomic_fetch_add(&flushes_ok, 1);
    else atomic_fetch_add(&flushes_bad, 1);
    rel_progress(t);
  }
  return NULL;
}

int main(void) {
  rel_watchdog_start("test_rel_fork_flush", 60);
  rel_track *main_t = rel_track_new("main (forker)", 0);
  char *dir = testutil_tmpdir("rel-forkflush");
  REQUIRE(dir);
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 999;
  cfg.heap_sample_bytes = 1024;
  cfg.upload = INPROF_UPLOAD_OFF;
  cfg.output_dir = dir;
  cfg.service = "relforkflush";
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  pthread_t alloc, flusher;
  REQUIRE(pthread_create(&alloc, NULL, alloc_main, rel_track_new("allocator", 30)) == 0);
  rel_sleep_ms(300); /* some heap samples before the flushes begin */
  REQUIRE(pthread_create(&flusher, NULL, flush_main, rel_track_new("flusher", 0)) == 0);

  double max_fork = 0, sum_fork = 0;
  int children_ok = 0, hung = 0;
  for (int i = 0; i < FORKS; i++) {
    rel_phase(main_t, "fork");
    double t0 = rel_now_s();
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    double dt = rel_now_s() - t0;
    REQUIRE(pid > 0);
    if (dt > max_fork) max_fork = dt;
    sum_fork += dt;
    rel_phase(main_t, "waitpid");
    /* A child that _exit()s at once and is still there after 20 s hung in
     * an at-fork handler. */
    double deadline = rel_now_s() + 20;
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && rel_now_s() < deadline) rel_sleep_ms(1);
    if (w == 0) {
      fprintf(stderr, "child %d hung after fork (in the child's at-fork handlers); killed\n", i);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (++hung >= 3) break;
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) children_ok++;
    else fprintf(stderr, "child %d: status 0x%x\n", i, status);
    rel_progress(main_t);
    rel_sleep_ms(5);
  }
  rel_phase(main_t, "join");
  atomic_store(&stop_threads, 1);
  pthread_join(flusher, NULL);
  pthread_join(alloc, NULL);
  rel_phase(main_t, "inprof_stop");
  inprof_status st = inprof_stop(20000);
  rel_watchdog_stop();

  printf("forks %d, children ok %d, hung %d; fork time max %.1f ms, mean %.1f ms "
         "(information only); flushes ok %d, failed %d\n",
         FORKS, children_ok, hung, max_fork * 1e3, sum_fork * 1e3 / FORKS,
         atomic_load(&flushes_ok), atomic_load(&flushes_bad));
  CHECKF(children_ok == FORKS, "%d of %d children exited 0", children_ok, FORKS);
  CHECK(hung == 0);
  CHECKF(st == INPROF_OK, "stop: %s (%s)", inprof_strerror(st), inprof_last_error());
  CHECK(atomic_load(&flushes_ok) > 0);
  testutil_capture("rm -rf %s", dir);
  return testutil_done("test_rel_fork_flush");
}
