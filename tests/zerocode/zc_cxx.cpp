// zc_cxx.cpp - a C++ program, never linked with inprof: new/delete through
// libstdc++ reach the interposed malloc/free. Prints pid and bytes allocated
// at its one site.
#include <cstdio>
#include <memory>
#include <vector>
#include <unistd.h>

static double site_bytes;

__attribute__((noinline)) void cxx_site(std::vector<std::unique_ptr<char[]>> &keep) {
  for (unsigned i = 0; site_bytes < 200e6; i++) {
    size_t n = 1000 + (i * 131) % 9000;
    char *p = new char[n];
    p[0] = 1;
    site_bytes += (double)n;
    if (i % 8 == 0)
      keep.emplace_back(p);
    else
      delete[] p;
  }
}

int main() {
  std::printf("pid %d\n", (int)getpid());
  std::vector<std::unique_ptr<char[]>> keep;
  keep.reserve(1 << 16);
  cxx_site(keep);
  std::printf("cxx_site %.0f\n", site_bytes);
  return 0;
}
