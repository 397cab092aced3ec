#!/bin/sh
# run.sh BUILD_DIR [runs] - zero-code overhead: ns per malloc+free pair and
# mixed-allocation throughput, plain vs interposer only (profiling off) vs
# inprof-run at the default heap rate (CPU at 99 Hz too). Prints one line each
# and the differences; target: the interposed fast path adds <= 3 ns per pair.
set -eu
B=${1:?usage: run.sh BUILD_DIR [runs]}
RUNS=${2:-9}
BIN=$B/tests/zerocode/bench_malloc_pair
RUN=$B/c-src/zerocode/inprof-run
LIB=$B/c-src/zerocode/libinprof-preload.so
OUT=$(mktemp -d)
plain=$("$BIN" "$RUNS")
off=$(LD_PRELOAD=$LIB DD_PROFILING_ENABLED=false "$BIN" "$RUNS")
on=$("$RUN" --output-dir "$OUT" --upload-period 3600 -- "$BIN" "$RUNS")
rm -rf "$OUT"
v() { echo "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
printf '%-28s %10s %14s\n' mode pair_ns mix_ops_per_s
printf '%-28s %10s %14s\n' plain "$(v "$plain" pair_ns)" "$(v "$plain" mix_ops_per_s)"
printf '%-28s %10s %14s\n' "preload, profiling off" "$(v "$off" pair_ns)" "$(v "$off" mix_ops_per_s)"
printf '%-28s %10s %14s\n' "inprof-run (512 KiB, 99 Hz)" "$(v "$on" pair_ns)" "$(v "$on" mix_ops_per_s)"
awk -v p="$(v "$plain" pair_ns)" -v o="$(v "$off" pair_ns)" -v n="$(v "$on" pair_ns)" \
    -v pm="$(v "$plain" mix_ops_per_s)" -v nm="$(v "$on" mix_ops_per_s)" 'BEGIN {
  printf "added ns per pair: interposer %.2f, profiling on %.2f (target <= 3)\n", o - p, n - p
  printf "mixed throughput ratio (inprof-run / plain): %.3f\n", nm / pm }'
