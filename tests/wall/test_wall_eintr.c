/*
 * test_wall_eintr.c - wall sampling at its highest rate never interrupts a
 * blocked call: sleep(1), nanosleep, poll (timeout) and a pipe read whose
 * data comes later all return exactly as without profiling (sleep and
 * nanosleep 0 with nothing left, poll 0 after its whole timeout, read the
 * data), while the counters show the wall sampler really read these
 * blocked threads' stacks (so the test would see an interruption if the
 * sampler made one). Run twice: with CPU sampling on (as in production;
 * its timers count CPU time, so they never fire in a blocked thread) and
 * with wall sampling alone.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "cpu/wall.h"
#include "wall_util.h"

static int pipefd[2];

static void *writer(void *arg) {
  (void)arg;
  struct timespec d = {0, 400 * 1000000L};
  while (nanosleep(&d, &d) != 0 && errno == EINTR) {
  }
  (void)!write(pipefd[1], "x", 1);
  return NULL;
}

/* One round of every call; each result checked. */
static void round_of_calls(int round) {
  uint64_t t0 = mono_ns();
  unsigned left = sleep(1);
  CHECKF(left == 0, "round %d: sleep(1) returned %u early", round, left);
  CHECKF(mono_ns() - t0 >= 1000000000u, "round %d: sleep(1) returned before 1 s", round);

  struct timespec req = {0, 300 * 1000000L}, rem = {7, 7};
  t0 = mono_ns();
  errno = 0;
  int r = nanosleep(&req, &rem);
  CHECKF(r == 0, "round %d: nanosleep -> %d errno %d", round, r, errno);
  CHECKF(mono_ns() - t0 >= 300000000u, "round %d: nanosleep returned early", round);

  int p[2];
  REQUIRE(pipe(p) == 0);
  struct pollfd pf = {.fd = p[0], .events = POLLIN};
  t0 = mono_ns();
  errno = 0;
  r = poll(&pf, 1, 300);
  CHECKF(r == 0, "round %d: poll -> %d errno %d (want 0: timeout)", round, r, errno);
  CHECKF(mono_ns() - t0 >= 300000000u, "round %d: poll returned early", round);
  close(p[0]);
  close(p[1]);

  REQUIRE(pipe(pipefd) == 0);
  pthread_t w;
  REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
  char c = 0;
  errno = 0;
  ssize_t n = read(pipefd[0], &c, 1);
  CHECKF(n == 1 && c == 'x', "round %d: read -> %zd errno %d", round, n, errno);
  pthread_join(w, NULL);
  close(pipefd[0]);
  close(pipefd[1]);
}

/* Blocked helpers besides the main thread, so the sampler visits several
 * blocked threads per tick; each checks its own calls too. */
static void *sleeper(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++) {
    struct timespec req = {0, 100 * 1000000L};
    errno = 0;
    int r = nanosleep(&req, NULL);
    CHECKF(r == 0, "helper nanosleep -> %d errno %d", r, errno);
  }
  return NULL;
}

/* One profiler run with the given CPU rate (0: wall sampling alone). */
static void run(uint32_t cpu_hz) {
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "wall-eintr", "wall-eintr");
  cfg.wall_hz = 1000;
  cfg.cpu_hz = cpu_hz;
  cfg.upload_period_ms = 600000;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);
  pthread_t h[4];
  for (int i = 0; i < 4; i++) REQUIRE(pthread_create(&h[i], NULL, sleeper, NULL) == 0);
  inprof__wall_counts before, after;
  inprof__wall_get_counts(&before);
  for (int round = 0; round < 2; round++) round_of_calls(round);
  for (int i = 0; i < 4; i++) pthread_join(h[i], NULL);
  inprof__wall_get_counts(&after);
  REQUIRE(inprof_stop(5000) == INPROF_OK);
  /* The sampler did visit blocked threads at its rate and read their
   * stacks from outside (about 1000 ticks a second for ~5 s). */
  printf("cpu %u Hz: visits %llu read %llu reused %llu running %llu torn %llu\n", cpu_hz,
         (unsigned long long)(after.visits - before.visits),
         (unsigned long long)(after.read - before.read),
         (unsigned long long)(after.reused - before.reused),
         (unsigned long long)(after.running - before.running),
         (unsigned long long)(after.torn - before.torn));
  CHECK(after.visits - before.visits >= 1000);
  CHECK(after.read - before.read >= 20);
  char *prof = testutil_latest_profile(dir);
  CHECK(prof != NULL);
  if (prof) {
    testutil_row rows[512];
    int n = testutil_pprof_top(prof, "wall-time", rows, 512);
    CHECK(n > 0);
    CHECKF(testutil_flat_of(rows, n, "nanosleep") > 0, "no wall-time in nanosleep");
  }
  free(prof);
  free(dir);
}

int main(void) {
  run(997); /* as in production: CPU sampling on */
  run(0);   /* wall sampling alone */
  return testutil_done("test_wall_eintr");
}
