#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. gcc, -Werror, Release (-O3): build, then every ctest test;
#   2. clang, -Werror: build, then every ctest test;
#   3. AddressSanitizer + UndefinedBehaviorSanitizer: build, then every ctest test;
#   4. cargo test in rust-test-host (the Rust crate and at-daemon);
#   5. the benchmark suite in quick mode, so that it cannot rot.
# Set INPROF_TEST_STEPS="gcc rust" (for example) to run a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/install-deps.sh
export PATH="$PATH:/usr/local/go/bin:$HOME/.cargo/bin"
DDAPM=${INPROF_DDAPM_DIR:-$ROOT/.venv/ddapm}/bin/ddapm-test-agent
STEPS=${INPROF_TEST_STEPS:-gcc clang asan rust bench}
JOBS=${JOBS:-2}

run_ctest() { # name, extra cmake args...
  local name=$1; shift
  local dir="$ROOT/build-test-$name"
  echo "=== [$name] configure and build"
  cmake -S "$ROOT" -B "$dir" -DINPROF_WERROR=ON -DINPROF_DDAPM_TEST_AGENT="$DDAPM" "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "=== [$name] ctest"
  (cd "$dir" && ctest --output-on-failure -j1)
}

for step in $STEPS; do
  case $step in
    gcc)   CC=gcc CXX=g++ run_ctest gcc -DCMAKE_BUILD_TYPE=Release ;;  # -O3: its warnings too
    clang) CC=clang CXX=clang++ run_ctest clang ;;
    asan)  LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0" \
           CC=gcc CXX=g++ run_ctest asan -DINPROF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug ;;
    rust)
      echo "=== [rust] cargo test"
      (cd rust-test-host && cargo test --release 2>&1)
      ;;
    bench)
      if [ -x bench/run.sh ]; then
        echo "=== [bench] quick mode"
        bench/run.sh --quick
      fi
      ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
echo "=== all test steps passed: $STEPS"
