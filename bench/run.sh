#!/usr/bin/env bash
# inprof's benchmark suite, one command (issue 6):
#
#   bench/run.sh           full suite: builds in release mode, runs every
#                          benchmark interleaved, writes BENCHMARKS.md
#                          (about 5 minutes of measuring on 2 cores; the
#                          first run also builds the Rust peers)
#   bench/run.sh --quick   seconds: the C benchmarks with tiny runs, report to
#                          build-bench/BENCHMARKS.quick.md; scripts/test.sh
#                          runs it so that the suite cannot rot
#   --rust                 with --quick: also build and run the Rust side
#   --no-rust              full suite without at-daemon and bench/rust
#   --only a,b             only these sections (c_cpu handler heap c_rss
#                          at_daemon rust idle symbols zerocode); handy
#                          while working on one
#
# Everything is built under build-bench/ (ignored by git): the library in
# Release (build-bench/lib), the C benchmarks (build-bench/c), at-daemon with
# and without profiling, and bench/rust (its own Cargo project: pprof-rs and
# tikv-jemallocator never enter the inprof crate's dependency graph).
# Exit status is non-zero only when the suite itself breaks, never for a
# missed target.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build-bench
export PATH="$PATH:$HOME/.cargo/bin"
JOBS=${JOBS:-2}

QUICK=0 RUST=1 ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --rust) RUST=2 ;;
    --no-rust) RUST=0 ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
# Quick mode leaves Rust out unless asked: building the peers takes minutes.
if [ $QUICK = 1 ] && [ $RUST = 1 ]; then RUST=0; fi

for f in /usr/lib/x86_64-linux-gnu/libprofiler.so.0 /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4; do
  [ -e "$f" ] || { echo "bench/run.sh: $f missing (apt-get install libgoogle-perftools-dev)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench/run.sh: python3 missing" >&2; exit 1; }

t_build=$(date +%s)
mkdir -p "$B"
LIB=$B/lib
if [ $QUICK = 1 ] && [ -f "$ROOT/build-test-gcc/libinprof.a" ] && [ -z "${INPROF_BENCH_RELEASE:-}" ]; then
  # scripts/test.sh has just built the library in its gcc step: quick mode
  # checks that the suite runs, so it reuses that build (brought up to date)
  # rather than compiling a Release copy. INPROF_BENCH_RELEASE=1 forces one.
  LIB=$ROOT/build-test-gcc
  echo "=== [bench] library: reusing $LIB"
  cmake --build "$LIB" -j"$JOBS" --target inprof_static >"$B/lib-build.log" 2>&1 ||
    { cat "$B/lib-build.log" >&2; exit 1; }
else
  echo "=== [bench] library, Release"
  # No -Werror here: a warning that only -O3 shows must not stop a benchmark.
  cmake -S "$ROOT" -B "$LIB" -DCMAKE_BUILD_TYPE=Release -DINPROF_BUILD_TESTS=OFF >/dev/null
  cmake --build "$LIB" -j"$JOBS" >"$B/lib-build.log" 2>&1 || { cat "$B/lib-build.log" >&2; exit 1; }
fi

echo "=== [bench] C benchmarks"
cmake -S "$ROOT/bench" -B "$B/c" -DCMAKE_BUILD_TYPE=Release -DINPROF_BUILD_DIR="$LIB" >/dev/null
cmake --build "$B/c" -j"$JOBS" --target pprof_summary bench_cpu bench_handler bench_heap bench_idle bench_wall
# The heap developer's micro-benchmark is optional: a broken one is reported, not fatal.
if [ -f "$ROOT/bench/heap_hooks.c" ]; then
  cmake --build "$B/c" -j"$JOBS" --target heap_hooks >"$B/heap_hooks-build.log" 2>&1 ||
    { echo "bench: heap_hooks.c did not build (see $B/heap_hooks-build.log); skipped" >&2; rm -f "$B/c/heap_hooks"; }
fi

RUST_ARGS=()
if [ $RUST != 0 ]; then
  echo "=== [bench] at-daemon with and without profiling"
  export INPROF_LIB_DIR="$LIB"
  (cd "$ROOT/rust-test-host" &&
     CARGO_TARGET_DIR="$B/cargo-at" cargo build --release -q -p at-daemon -j"$JOBS" &&
     cp "$B/cargo-at/release/at-daemon" "$B/at-daemon-off" &&
     CARGO_TARGET_DIR="$B/cargo-at" cargo build --release -q -p at-daemon --features profiling -j"$JOBS" &&
     cp "$B/cargo-at/release/at-daemon" "$B/at-daemon-prof")
  echo "=== [bench] bench/rust (pprof-rs, tikv-jemallocator)"
  (cd "$ROOT/bench/rust" && CARGO_TARGET_DIR="$B/cargo" cargo build --release -q -j"$JOBS")
  RUST_ARGS=(--rustbench "$B/cargo/release/rustbench"
             --at-daemon-off "$B/at-daemon-off" --at-daemon-prof "$B/at-daemon-prof")
fi
build_s=$(( $(date +%s) - t_build ))

if [ $QUICK = 1 ]; then
  OUT="$B/BENCHMARKS.quick.md"
  QUICK_ARGS=(--quick)
else
  OUT="$ROOT/BENCHMARKS.md"
  QUICK_ARGS=()
fi
echo "=== [bench] measuring (build took ${build_s}s)"
python3 "$ROOT/bench/bench.py" "${QUICK_ARGS[@]}" --build "$B" --c-bin "$B/c" \
  "${RUST_ARGS[@]}" --out "$OUT" --build-seconds "$build_s" --only "$ONLY"
# The idle profiler's own cost (issue 15): its own section, appended.
if [ -z "$ONLY" ] || [[ ",$ONLY," == *,idle,* ]]; then
  if [ $QUICK = 1 ]; then IDLE_S=1; else IDLE_S=10; fi
  "$B/c/bench_idle" "$IDLE_S" --markdown | grep -v '^RESULT' >>"$OUT"
fi
# Wall-time sampling's cost (issue 14), 100 Hz: its own section, appended.
if [ -z "$ONLY" ] || [[ ",$ONLY," == *,wall,* ]]; then
  echo "=== [bench] wall"
  "$B/c/bench_wall" "$([ $QUICK = 1 ] && echo 1 || echo 5)" 100 --markdown | grep -v '^RESULT' >>"$OUT"
fi
# Symbolization cost (issue 11) and zero-code mode (issue 12): their own
# scripts, sections appended; --only names them symbols and zerocode.
if [ -z "$ONLY" ] || [[ ",$ONLY," == *,symbols,* ]]; then
  echo "=== [bench] symbols"
  SYM_AT=()
  if [ $RUST != 0 ]; then SYM_AT=(--at-daemon "$B/at-daemon-prof"); fi
  sh "$ROOT/bench/symbols/run.sh" "$LIB" "$([ $QUICK = 1 ] && echo 3 || echo 12)" --markdown \
    "${SYM_AT[@]}" >>"$OUT"
fi
if [ -z "$ONLY" ] || [[ ",$ONLY," == *,zerocode,* ]]; then
  echo "=== [bench] zerocode"
  sh "$ROOT/bench/zerocode/run.sh" "$LIB" "$([ $QUICK = 1 ] && echo 1 || echo 9)" --markdown >>"$OUT"
fi
echo "=== [bench] wrote $OUT"
