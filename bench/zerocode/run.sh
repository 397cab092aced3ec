#!/bin/sh
# run.sh BUILD_DIR [runs] [--markdown] - zero-code overhead: ns per
# malloc+free pair and mixed-allocation throughput, plain vs interposer only
# (profiling off) vs inprof-run at the default heap rate (CPU at 99 Hz too).
# Prints one line each and the differences; target: the interposed fast path
# adds <= 3 ns per pair. BUILD_DIR is a CMake build of the repository: its
# inprof-run and inprof_preload targets are brought up to date, and
# bench_malloc_pair is taken from its tests (tests/zerocode) or, in a build
# without tests, compiled here (it is never linked with inprof). --markdown
# prints a BENCHMARKS.md section instead (bench/run.sh appends it).
set -eu
B=${1:?usage: run.sh BUILD_DIR [runs] [--markdown]}
RUNS=${2:-9}
MD=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
cmake --build "$B" --target inprof-run inprof_preload >/dev/null
RUN=$B/c-src/zerocode/inprof-run
LIB=$B/c-src/zerocode/libinprof-preload.so
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BIN=$B/tests/zerocode/bench_malloc_pair
if [ -f "$B/CMakeCache.txt" ] && grep -q '^INPROF_BUILD_TESTS:BOOL=OFF' "$B/CMakeCache.txt"; then
  BIN=""
elif [ -f "$BIN" ]; then
  cmake --build "$B" --target bench_malloc_pair >/dev/null
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  BIN=$OUT/bench_malloc_pair
  ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$BIN" "$HERE/bench_malloc_pair.c"
fi
mkdir "$OUT/profiles"
plain=$("$BIN" "$RUNS")
off=$(LD_PRELOAD=$LIB DD_PROFILING_ENABLED=false "$BIN" "$RUNS")
on=$("$RUN" --output-dir "$OUT/profiles" --upload-period 3600 -- "$BIN" "$RUNS")
v() { echo "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
if [ "$MD" = --markdown ]; then
  echo "## Zero-code mode (issue 12)"
  echo
  echo "\`bench/zerocode/run.sh BUILD_DIR $RUNS\`: bench_malloc_pair (never linked with inprof; medians of $RUNS runs) plain, with libinprof-preload.so preloaded and profiling off (the interposer alone), and under inprof-run (heap at 512 KiB, CPU at 99 Hz). Pair: ns per malloc+free of an unsampled size on one thread (thread CPU time); mixed: an allocation-heavy loop's operations per second of process CPU time, the profiler's threads included."
  echo
  echo "| mode | ns per malloc+free pair | added ns | mixed throughput | ratio to plain |"
  echo "|---|---|---|---|---|"
  awk -v p="$(v "$plain" pair_ns)" -v o="$(v "$off" pair_ns)" -v n="$(v "$on" pair_ns)" \
      -v pm="$(v "$plain" mix_ops_per_s)" -v om="$(v "$off" mix_ops_per_s)" \
      -v nm="$(v "$on" mix_ops_per_s)" 'BEGIN {
    printf "| plain | %.2f | - | %.2f M ops/s | 1.000 |\n", p, pm / 1e6
    printf "| preload, profiling off | %.2f | %+.2f | %.2f M ops/s | %.3f |\n", o, o - p, om / 1e6, om / pm
    printf "| inprof-run (512 KiB, 99 Hz) | %.2f | %+.2f | %.2f M ops/s | %.3f |\n", n, n - p, nm / 1e6, nm / pm
    printf "\nTarget: the interposed fast path adds at most 3 ns per pair: %s in this run.\n\n", (n - p <= 3 && o - p <= 3) ? "met" : "missed" }'
  exit 0
fi
printf '%-28s %10s %14s\n' mode pair_ns mix_ops_per_s
printf '%-28s %10s %14s\n' plain "$(v "$plain" pair_ns)" "$(v "$plain" mix_ops_per_s)"
printf '%-28s %10s %14s\n' "preload, profiling off" "$(v "$off" pair_ns)" "$(v "$off" mix_ops_per_s)"
printf '%-28s %10s %14s\n' "inprof-run (512 KiB, 99 Hz)" "$(v "$on" pair_ns)" "$(v "$on" mix_ops_per_s)"
awk -v p="$(v "$plain" pair_ns)" -v o="$(v "$off" pair_ns)" -v n="$(v "$on" pair_ns)" \
    -v pm="$(v "$plain" mix_ops_per_s)" -v nm="$(v "$on" mix_ops_per_s)" 'BEGIN {
  printf "added ns per pair: interposer %.2f, profiling on %.2f (target <= 3)\n", o - p, n - p
  printf "mixed throughput ratio (inprof-run / plain): %.3f\n", nm / pm }'
