# Heap profiling tests (issue 4) and the hook micro-benchmark.
inprof_add_test(test_heap_internal SOURCES test_heap_internal.c INTERNAL TIMEOUT 180)
inprof_add_test(test_heap_sites SOURCES test_heap_sites.c TIMEOUT 300)
inprof_add_test(test_heap_threads SOURCES test_heap_threads.c INTERNAL TIMEOUT 180)
inprof_add_test(test_heap_stress SOURCES test_heap_stress.c INTERNAL TIMEOUT 180)

# Micro-benchmark (not a test): ns per hook pair and workload throughput ratio.
# Run: build/tests/bench_heap_hooks [rate_bytes] [runs]
add_executable(bench_heap_hooks ${CMAKE_SOURCE_DIR}/bench/heap_hooks.c)
target_compile_options(bench_heap_hooks PRIVATE ${INPROF_WARNINGS})
target_link_libraries(bench_heap_hooks PRIVATE inprof_static)
