/* zc_static.c - built with -static: inprof-run must refuse it (no loader
 * reads LD_PRELOAD) or, with --allow-unprofiled, run it as is. */
#include <stdio.h>

int main(void) {
  printf("static ran\n");
  return 0;
}
