/* The public header compiles as strict C11 (see tests/api/CMakeLists.txt flags). */
#include "inprof.h"
#include "inprof.h" /* include guard */

#include <stdio.h>

int main(void) {
  inprof_config cfg;
  inprof_statistics st;
  (void)st;
  if (inprof_config_init(&cfg) != INPROF_OK || cfg.struct_size != sizeof cfg) return 1;
  if (inprof_version() != INPROF_VERSION_NUM) return 1;
  printf("test_header_c: ok\n");
  return 0;
}
