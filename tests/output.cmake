# Tests of the output path: aggregation, symbolization, pprof, file export.
inprof_add_test(test_aggregate SOURCES test_aggregate.c INTERNAL)
