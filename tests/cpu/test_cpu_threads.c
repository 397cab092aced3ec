/*
 * Per-thread timers: equal work on equal threads gets equal cpu-time,
 * threads created after start and short-lived threads are covered, and the
 * timers of exited threads are released.
 */
#include <pthread.h>
#include <unistd.h>

#include "cpu_work.h"
#include "inprof.h"
#include "testutil.h"

#define EQ_NS 600000000ull      /* each equal thread */
#define SHORT_NS 100000000ull   /* each short thread */
#define SHORT_THREADS 16

#define EQ_FN(i) \
  __attribute__((noinline)) void equal_work_##i(void) { CPU_WORK_SPIN(EQ_NS); }
EQ_FN(0)
EQ_FN(1)
EQ_FN(2)
EQ_FN(3)
static void (*const eq_fns[4])(void) = {equal_work_0, equal_work_1, equal_work_2,
                                        equal_work_3};

__attribute__((noinline)) void short_burst(void) { CPU_WORK_SPIN(SHORT_NS); }

static void *run_eq(void *arg) {
  eq_fns[(intptr_t)arg]();
  return NULL;
}
static void *run_short(void *arg) {
  (void)arg;
  short_burst();
  return NULL;
}

int main(void) {
  inprof_config cfg;
  char *dir = testutil_file_config(&cfg, "threads", NULL);
  cfg.heap_sample_bytes = 0;
  REQUIRE(inprof_start(&cfg) == INPROF_OK);

  pthread_t th[4];
  for (intptr_t i = 0; i < 4; i++) pthread_create(&th[i], NULL, run_eq, (void *)i);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < SHORT_THREADS; i += 2) {
    pthread_t a, b;
    pthread_create(&a, NULL, run_short, NULL);
    pthread_create(&b, NULL, run_short, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
  }
  usleep(200000); /* two scans: exited threads released */
  inprof_statistics st = {.struct_size = sizeof st};
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  CHECKF(st.threads_tracked >= 1 && st.threads_tracked <= 2,
         "threads tracked after all workers exited: %u", st.threads_tracked);
  CHECK(st.threads_failed == 0);
  REQUIRE(inprof_stop(10000) == INPROF_OK);
  REQUIRE(inprof_stats(&st) == INPROF_OK);
  CHECK(st.threads_tracked == 0);

  char *file = testutil_latest_profile(dir);
  REQUIRE(file);
  static testutil_row rows[4096];
  int n = testutil_pprof_top(file, "cpu-time", rows, 4096);
  REQUIRE(n > 0);
  double eq[4] = {0}, shorts = 0;
  for (int i = 0; i < n; i++) {
    char name[32];
    for (int k = 0; k < 4; k++) {
      snprintf(name, sizeof name, "equal_work_%d", k);
      if (!strcmp(rows[i].name, name)) eq[k] = rows[i].cum;
    }
    if (!strcmp(rows[i].name, "short_burst")) shorts = rows[i].cum;
  }
  double lo = eq[0], hi = eq[0];
  for (int k = 1; k < 4; k++) {
    if (eq[k] < lo) lo = eq[k];
    if (eq[k] > hi) hi = eq[k];
  }
  printf("equal threads: %.0f %.0f %.0f %.0f ns (max/min %.3f); short threads %.0f ns of "
         "%.0f (%.1f%%)\n",
         eq[0], eq[1], eq[2], eq[3], lo > 0 ? hi / lo : 0, shorts,
         (double)SHORT_NS * SHORT_THREADS, 100.0 * shorts / ((double)SHORT_NS * SHORT_THREADS));
  CHECKF(lo > 0 && hi / lo <= 1.10, "equal threads differ: max/min %.3f", lo > 0 ? hi / lo : 0);
  for (int k = 0; k < 4; k++)
    CHECKF(eq[k] > 0.9 * EQ_NS && eq[k] < 1.05 * EQ_NS, "equal_work_%d: %.0f ns of %llu", k,
           eq[k], EQ_NS);
  double want = (double)SHORT_NS * SHORT_THREADS;
  CHECKF(shorts > 0.85 * want && shorts < 1.05 * want, "short threads: %.0f of %.0f ns",
         shorts, want);
  return testutil_done("test_cpu_threads");
}
