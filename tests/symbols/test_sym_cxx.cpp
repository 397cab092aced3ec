/*
 * test_sym_cxx.cpp - the C++ workload of test_sym_cxx (checks in
 * test_sym_cxx_main.c, since testutil.h is C): overloads and a template instance read whole by
 * `go tool pprof -top`: ns::burn(int) and ns::burn(double) stay two rows,
 * Box<int>::run(int) keeps its template argument, because the profile keeps
 * the mangled symbol in system_name (readers simplify a C++-looking name
 * only when it equals system_name).
 */
#include <stdint.h>
#include <time.h>

static volatile uint64_t sink;
namespace ns {
__attribute__((noinline)) double burn(int n) {
  for (int i = 0; i < n; i++) sink += (uint64_t)i;
  return (double)sink;
}
__attribute__((noinline)) double burn(double n) {
  for (double i = 0; i < n; i += 1.0) sink += 3;
  return (double)sink;
}
}  // namespace ns

template <typename T> struct Box {
  T v;
  __attribute__((noinline)) T run(int n);
};
template <typename T> T Box<T>::run(int n) {
  for (int i = 0; i < n; i++) sink += (uint64_t)(v + (T)i);
  return v;
}
template struct Box<int>;

static double cpu_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

extern "C" void sym_cxx_workload(double seconds) {
  double t0 = cpu_seconds();
  Box<int> b{7};
  while (cpu_seconds() - t0 < seconds) {
    ns::burn(20000);
    ns::burn(20000.0);
    b.run(20000);
  }
}
