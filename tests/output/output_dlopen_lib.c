/* output_dlopen_lib.c - a module test_symbolize dlopen()s after the
 * symbolizer first looked: mangled Rust names inside a shared object. */
#include <stdint.h>

volatile int output_lib_sink;

/* at_daemon::jobs::parse_records (Rust legacy, hash removed) */
__attribute__((noinline, used)) int lib_rust_legacy(int x)
    __asm__("_ZN9at_daemon4jobs13parse_records17h9f8e7d6c5b4a3921E");
int lib_rust_legacy(int x) { output_lib_sink = x; return x * 3 + 1; }

/* <at_tests::jobs::Queue>::push (Rust v0) */
__attribute__((noinline, used)) int lib_rust_v0(int x)
    __asm__("_RNvMNtCs1234_8at_tests4jobsNtB2_5Queue4push");
int lib_rust_v0(int x) { output_lib_sink = x + 5; return x * 5 + 2; }

__attribute__((noinline, used)) int output_lib_plain(int x) {
  output_lib_sink = x + 7;
  return x * 7 + 3;
}

/* Addresses for the test, so it needs no knowledge of mangled names. */
__attribute__((visibility("default"))) void output_lib_functions(uintptr_t out[3]) {
  out[0] = (uintptr_t)&lib_rust_legacy;
  out[1] = (uintptr_t)&lib_rust_v0;
  out[2] = (uintptr_t)&output_lib_plain;
}
