/* zc_child.c - a small program for exec chains: burns a little CPU,
 * allocates, prints its pid. Never linked with inprof. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpu_work.h"

__attribute__((noinline)) void child_work(void) { CPU_WORK_SPIN(100000000ull); }

int main(int argc, char **argv) {
  for (int i = 0; i < 1000; i++) free(malloc(1000));
  child_work();
  printf("child %s pid %d\n", argc > 1 ? argv[1] : "-", (int)getpid());
  fflush(stdout);
  return 0;
}
