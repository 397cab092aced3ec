# Heap profiling tests (issue 4) and the hook micro-benchmark.
inprof_add_test(test_heap_internal SOURCES test_heap_internal.c INTERNAL TIMEOUT 180)
