// The public header compiles as C++ with -Wall -Wextra -Werror -pedantic.
#include "inprof.h"

#include <cstdio>

int main() {
  inprof_config cfg;
  if (inprof_config_init(&cfg) != INPROF_OK) return 1;
  static_assert(sizeof(inprof_status) == 4, "status is int32_t");
  std::printf("test_header_cpp: ok\n");
  return inprof_strerror(INPROF_ERR_INVALID)[0] ? 0 : 1;
}
