#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   gcc      gcc, -Werror, Release (-O3): build, then every ctest test;
#   clang    clang, -Werror: build, then every ctest test;
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer: build, then every ctest test;
#   tsan     ThreadSanitizer: build, then the tests that TSan can check (see below);
#   repeat   the reliability tests (ctest label "reliability") 20 times in a row;
#   rust     cargo test in rust-test-host (the Rust crates and at-daemon),
#            then tests/packaging/check_rust_static.sh (static dependencies);
#   package  cargo package of inprof-sys and inprof, built from the unpacked
#            .crate files by a scratch project (scripts/check-package.sh);
#   bench    the benchmark suite in quick mode, so that it cannot rot.
# Every step runs even when an earlier one failed; the summary at the end lists
# each step's result and the script exits non-zero if any failed.
# Set INPROF_TEST_STEPS="gcc rust" (for example) to run a subset.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/install-deps.sh || { echo "install-deps failed" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin:$HOME/.cargo/bin"
DDAPM=${INPROF_DDAPM_DIR:-$ROOT/.venv/ddapm}/bin/ddapm-test-agent
STEPS=${INPROF_TEST_STEPS:-gcc clang asan tsan repeat rust package bench}
JOBS=${JOBS:-2}

build() { # name, extra cmake args...
  local name=$1; shift
  local dir="$ROOT/build-test-$name"
  echo "=== [$name] configure and build"
  cmake -S "$ROOT" -B "$dir" -DINPROF_WERROR=ON -DINPROF_DDAPM_TEST_AGENT="$DDAPM" "$@" >/dev/null &&
    cmake --build "$dir" -j"$JOBS"
}

run_ctest() { # name, ctest args...
  local name=$1; shift
  echo "=== [$name] ctest $*"
  (cd "$ROOT/build-test-$name" && ctest --output-on-failure -j1 "$@")
}

step() {
  case $1 in
    gcc)   CC=gcc CXX=g++ build gcc -DCMAKE_BUILD_TYPE=Release && run_ctest gcc ;;  # -O3: its warnings too
    clang) CC=clang CXX=clang++ build clang && run_ctest clang ;;
    asan)  export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
           CC=gcc CXX=g++ build asan -DINPROF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug && run_ctest asan ;;
    tsan)  # The library's own tests under ThreadSanitizer. Tests labelled
           # "no-tsan" exercise what TSan cannot model (fork-heavy children,
           # signal-handler calls into the library, tests that compare CPU
           # time under TSan's slowdown) and are left to the other builds.
           CC=clang CXX=clang++ build tsan -DINPROF_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug &&
             TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
             run_ctest tsan -LE 'no-tsan|packaging|soak|zerocode' ;;
    repeat) # Each reliability reproducer (issue 10) 20 times in a row, in the
           # gcc build, two at a time (they assert properties, not durations).
           { [ -d "$ROOT/build-test-gcc" ] || CC=gcc CXX=g++ build gcc -DCMAKE_BUILD_TYPE=Release; } &&
             echo "=== [repeat] ctest -L reliability --repeat until-fail:20 -j2" &&
             (cd "$ROOT/build-test-gcc" && ctest --output-on-failure -j2 -L reliability \
                --repeat until-fail:20) ;;
    rust)  echo "=== [rust] cargo test"
           # at-daemon's zero-code test runs the gcc build's inprof-run when
           # there is one (else it builds inprof-run itself).
           if [ -x "$ROOT/build-test-gcc/c-src/zerocode/inprof-run" ]; then
             export INPROF_RUN="$ROOT/build-test-gcc/c-src/zerocode/inprof-run"
           fi
           # Then, whatever cargo test said: at-daemon with profiling needs
           # no shared library beyond what it needs without (static
           # dependencies), and runs in a root holding only those.
           (cd rust-test-host && cargo test --release --features inprof/tracing 2>&1); rc=$?
           bash tests/packaging/check_rust_static.sh && return $rc ;;
    package) echo "=== [package] cargo package + build from the unpacked crates"
           bash scripts/check-package.sh ;;
    bench) echo "=== [bench] quick mode"
           bench/run.sh --quick ;;
    *) echo "unknown step $1" >&2; return 2 ;;
  esac
}

passed=() failed=()
for s in $STEPS; do
  if step "$s"; then passed+=("$s"); else failed+=("$s"); echo "=== [$s] FAILED" >&2; fi
done
echo "=== steps passed: ${passed[*]:-none}"
if ((${#failed[@]})); then
  echo "=== steps FAILED: ${failed[*]}"
  echo "${#passed[@]} passed, ${#failed[@]} failed"
  exit 1
fi
echo "${#passed[@]} passed, 0 failed"
