# Tests of the output path: aggregation, symbolization, pprof, file export.
inprof_add_test(test_aggregate SOURCES test_aggregate.c INTERNAL)

# A module test_symbolize dlopen()s: symbols of an object loaded later.
add_library(output_dlopen_lib MODULE output_dlopen_lib.c)
target_compile_options(output_dlopen_lib PRIVATE ${INPROF_WARNINGS})
inprof_add_test(test_symbolize SOURCES test_symbolize.c INTERNAL)
target_compile_definitions(test_symbolize PRIVATE
  OUTPUT_DLOPEN_LIB="$<TARGET_FILE:output_dlopen_lib>")
add_dependencies(test_symbolize output_dlopen_lib)

inprof_add_test(test_export_file SOURCES test_export_file.c INTERNAL)

inprof_add_test(test_pprof SOURCES test_pprof.c INTERNAL)
