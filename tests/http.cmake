# Datadog upload tests (export_http.c). They run tests/intake/intake.py, a
# contract-checking intake, as a child process on loopback.
add_executable(inprof_unzstd ${CMAKE_CURRENT_SOURCE_DIR}/intake/unzstd.c)
target_link_libraries(inprof_unzstd PRIVATE PkgConfig::ZSTD)

# go's own pprof reader as a binary: `go tool pprof` rebuilds and starts it
# on every call (~0.5 s), too slow to check each upload of a 0.3 s period.
set(INPROF_PPROF_TOOL ${CMAKE_CURRENT_BINARY_DIR}/pprof)
add_custom_command(OUTPUT ${INPROF_PPROF_TOOL}
  COMMAND ${GO_EXECUTABLE} build -o ${INPROF_PPROF_TOOL} cmd/pprof
  COMMENT "go build cmd/pprof")
add_custom_target(inprof_pprof_tool DEPENDS ${INPROF_PPROF_TOOL})

function(inprof_http_test name)
  inprof_add_test(${name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c ${ARGN})
  target_compile_definitions(${name} PRIVATE
    INPROF_UNZSTD="$<TARGET_FILE:inprof_unzstd>" INPROF_PPROF="${INPROF_PPROF_TOOL}")
  add_dependencies(${name} inprof_unzstd inprof_pprof_tool)
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

# The whole library through its public API, configured from the environment.
inprof_http_test(test_http_e2e_agent TIMEOUT 120)
inprof_http_test(test_http_e2e_faults TIMEOUT 120)
