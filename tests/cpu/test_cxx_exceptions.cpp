// A C++ host linking libinprof: exceptions still go through libgcc_s's
// unwinder (libunwind.so also defines _Unwind_*), and throwing and catching
// many exceptions while profiling at a high rate works.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "inprof.h"

extern "C" void _Unwind_RaiseException(void);

__attribute__((noinline)) static int thrower(int i) {
  if (i % 2 == 0) throw std::runtime_error("even");
  return i;
}

int main() {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void *>(&_Unwind_RaiseException), &info) || !info.dli_fname) {
    std::fprintf(stderr, "dladdr failed\n");
    return 1;
  }
  std::printf("_Unwind_RaiseException from %s\n", info.dli_fname);
  // libgcc_s's (or a sanitizer's interceptor in front of it), never libunwind's.
  if (std::strstr(info.dli_fname, "libunwind")) {
    std::fprintf(stderr, "libunwind took over C++ exceptions: %s\n", info.dli_fname);
    return 1;
  }
  inprof_config cfg;
  inprof_config_init(&cfg);
  cfg.cpu_hz = 1000;
  cfg.upload = INPROF_UPLOAD_OFF;
  if (inprof_start(&cfg) != INPROF_OK) return 1;
  long caught = 0, returned = 0;
  for (int i = 0; i < 200000; i++) {
    try {
      returned += thrower(i);
    } catch (const std::runtime_error &) {
      caught++;
    }
  }
  inprof_stop(5000);
  if (caught != 100000) {
    std::fprintf(stderr, "caught %ld\n", caught);
    return 1;
  }
  std::printf("test_cxx_exceptions: ok (%ld caught, %ld returned)\n", caught, returned);
  return 0;
}
