# Datadog upload tests (export_http.c). They run tests/intake/intake.py, a
# contract-checking intake, as a child process on loopback.
add_executable(inprof_unzstd ${CMAKE_CURRENT_SOURCE_DIR}/intake/unzstd.c)
target_link_libraries(inprof_unzstd PRIVATE PkgConfig::ZSTD)

function(inprof_http_test name)
  inprof_add_test(${name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c ${ARGN})
  target_compile_definitions(${name} PRIVATE
    INPROF_UNZSTD="$<TARGET_FILE:inprof_unzstd>")
  add_dependencies(${name} inprof_unzstd)
endfunction()

inprof_http_test(test_http_unit INTERNAL TIMEOUT 60)
inprof_http_test(test_http_agent INTERNAL TIMEOUT 120)
inprof_http_test(test_http_tls INTERNAL TIMEOUT 120)
inprof_http_test(test_http_faults INTERNAL TIMEOUT 180)
inprof_http_test(test_http_bounded INTERNAL TIMEOUT 120)

# Datadog's APM test agent from PyPI: tests/intake/setup_test_agent.sh.
set(INPROF_DDAPM_TEST_AGENT "/opt/inprof-ddapm/bin/ddapm-test-agent" CACHE FILEPATH
    "ddapm-test-agent executable (tests/intake/setup_test_agent.sh installs it)")
inprof_http_test(test_http_testagent INTERNAL TIMEOUT 120)
target_compile_definitions(test_http_testagent PRIVATE
  INPROF_DDAPM_TEST_AGENT="${INPROF_DDAPM_TEST_AGENT}")
