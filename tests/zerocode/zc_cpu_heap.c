/*
 * zc_cpu_heap.c - a plain C program, never linked with inprof, profiled by
 * test_zerocode under inprof-run. "cpu": two threads with a known 3:1 CPU
 * split (as test_cpu_split). "heap": four allocation sites with known byte
 * counts using plain malloc/free (as test_heap_sites), kept blocks held
 * until exit so the exit profile shows them in use. "spawn CMD": runs CMD
 * with /bin/sh in a child and waits (an exec chain). Prints its pid and the
 * truth on stdout for the driver.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu_work.h"

#define UNIT_NS 600000000ull

__attribute__((noinline)) void busy_three(void) { CPU_WORK_SPIN(3 * UNIT_NS); }
__attribute__((noinline)) void busy_one(void) { CPU_WORK_SPIN(UNIT_NS); }

static void *thread_three(void *arg) {
  (void)arg;
  busy_three();
  return NULL;
}

static void *thread_one(void *arg) {
  (void)arg;
  busy_one();
  return NULL;
}

static double alloc_truth[4], kept_truth[4];
static void **kept;
static size_t nkept, capkept;

static void keep(void *p) {
  if (nkept < capkept) kept[nkept++] = p;
  else abort();
}

static void *must(void *p) {
  if (!p) abort();
  return p;
}

__attribute__((noinline)) void site_small(double total) {
  for (uint64_t i = 0; alloc_truth[0] < total; i++) {
    size_t n = 16 + (i * 37) % 241;
    char *p = must(malloc(n));
    p[0] = 1;
    alloc_truth[0] += (double)n;
    if (i % 4 == 0) { keep(p); kept_truth[0] += (double)n; } else free(p);
  }
}

__attribute__((noinline)) void site_medium(double total) {
  for (uint64_t i = 0; alloc_truth[1] < total; i++) {
    size_t n = 8192 + (i * 7919) % (56 * 1024);
    char *p = must(calloc(1, n)); /* calloc goes through the interposer too */
    alloc_truth[1] += (double)n;
    if (i % 4 == 1) { keep(p); kept_truth[1] += (double)n; } else free(p);
  }
}

__attribute__((noinline)) void site_large(double total) {
  for (uint64_t i = 0; alloc_truth[2] < total; i++) {
    size_t n = (4u << 20) + i * 4096;
    char *p = must(malloc(n));
    p[0] = 1;
    alloc_truth[2] += (double)n;
    if (i % 4 == 2) { keep(p); kept_truth[2] += (double)n; } else free(p);
  }
}

/* Blocks grown with realloc and all freed: nothing left in use. */
__attribute__((noinline)) void site_freed(double total) {
  enum { WINDOW = 1000 };
  void *win[WINDOW] = {0};
  for (uint64_t i = 0; alloc_truth[3] < total; i++) {
    size_t n = 1024 + (i * 331) % 3072;
    if (win[i % WINDOW]) free(win[i % WINDOW]);
    win[i % WINDOW] = must(malloc(n / 2));
    win[i % WINDOW] = must(realloc(win[i % WINDOW], n));
    alloc_truth[3] += (double)(n / 2 + n);
  }
  for (int i = 0; i < WINDOW; i++) free(win[i]);
}

static double rusage_cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "cpu";
  printf("pid %d\n", (int)getpid());
  if (!strcmp(mode, "spawn") && argc > 2) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", argv[2], (char *)NULL);
      _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  }
  if (!strcmp(mode, "cpu")) {
    pthread_t a, b;
    pthread_create(&a, NULL, thread_three, NULL);
    pthread_create(&b, NULL, thread_one, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("cpu_ns %.0f\n", rusage_cpu_ns());
  } else {
    capkept = 1u << 20;
    kept = must(malloc(capkept * sizeof *kept));
    site_small(256e6);
    site_medium(256e6);
    site_large(128e6);
    site_freed(128e6);
    static const char *names[4] = {"site_small", "site_medium", "site_large", "site_freed"};
    for (int s = 0; s < 4; s++)
      printf("%s %.0f %.0f\n", names[s], alloc_truth[s], kept_truth[s]);
    /* kept stays allocated: the profile written at exit shows it in use. */
  }
  fflush(stdout);
  return 0;
}
