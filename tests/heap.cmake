# Heap profiling tests (issue 4) and the hook micro-benchmark.
inprof_add_test(test_heap_internal SOURCES test_heap_internal.c INTERNAL TIMEOUT 180)
inprof_add_test(test_heap_sites SOURCES test_heap_sites.c TIMEOUT 300)
inprof_add_test(test_heap_threads SOURCES test_heap_threads.c INTERNAL TIMEOUT 180)
inprof_add_test(test_heap_stress SOURCES test_heap_stress.c INTERNAL TIMEOUT 180)
