# Core library tests: header, config, ring, lifecycle, CPU sampling end to end.
inprof_add_test(test_header_c SOURCES test_header.c)
target_compile_options(test_header_c PRIVATE -std=c11 -pedantic -Werror)
inprof_add_test(test_header_cpp SOURCES test_header_cpp.cpp)
target_compile_options(test_header_cpp PRIVATE -std=c++17 -pedantic -Werror)
inprof_add_test(test_config SOURCES test_config.c)
inprof_add_test(test_ring SOURCES test_ring.c INTERNAL)
inprof_add_test(test_lifecycle SOURCES test_lifecycle.c)
inprof_add_test(test_cpu_split SOURCES test_cpu_split.c TIMEOUT 120)
inprof_add_test(test_cpu_threads SOURCES test_cpu_threads.c TIMEOUT 120)
inprof_add_test(test_signal SOURCES test_signal.c)
inprof_add_test(test_fork SOURCES test_fork.c)
inprof_add_test(test_stress SOURCES test_stress.c TIMEOUT 180)
add_test(NAME test_shared_exports
  COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_exports.sh $<TARGET_FILE:inprof_shared>
          ${CMAKE_SOURCE_DIR}/include/inprof.h)
inprof_add_test(test_cxx_exceptions SOURCES test_cxx_exceptions.cpp LIBS dl)
inprof_add_test(test_unwind SOURCES test_unwind.c INTERNAL)
# Packaging: runs in the gcc and clang builds; a sanitizer build's library
# cannot be linked into a plain program, which is what this checks.
if(NOT INPROF_SANITIZE)
  add_test(NAME test_install
    COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_install.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
endif()
