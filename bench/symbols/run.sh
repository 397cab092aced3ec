#!/bin/sh
# run.sh LIB_BUILD_DIR [exports] [--markdown] [--at-daemon BIN] - what
# symbolization costs an
# export (issue 11), three ways side by side in one run:
#   symbol tables only   bench_symbols built without -g, no debug directory
#                        (what inprof did before DWARF)
#   DWARF, 16 MiB cap    built with -g, the default debug directories
#                        (/usr/lib/debug: libc6-dbg when installed) and cap
#   DWARF, 64 MiB cap    the same with INPROF_SYMBOLIZER_MAX_MB=64 (libc's
#                        DWARF fits too)
# For each: first export (wall and collector CPU), later exports (medians),
# and VmRSS growth across the first export. Builds bench_symbols against
# LIB_BUILD_DIR's libinprof.so (its inprof_shared target is brought up to
# date). --markdown prints a BENCHMARKS.md section instead of the table.
# --at-daemon BIN also measures at-daemon built with its profiling feature
# (at_daemon.py: from outside, line tables vs a copy stripped of them).
set -eu
LIB=${1:?usage: run.sh LIB_BUILD_DIR [exports] [--markdown] [--at-daemon BIN]}
EXPORTS=${2:-8}
MD="" AT=""
[ $# -ge 2 ] && shift 2 || shift $#
while [ $# -gt 0 ]; do
  case $1 in
    --markdown) MD=--markdown ;;
    --at-daemon) AT=$2; shift ;;
    *) echo "bench/symbols/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cmake --build "$LIB" --target inprof_shared >/dev/null
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CC=${CC:-cc}
for v in g g0; do
  $CC -std=c11 -D_GNU_SOURCE -O2 -"$v" -I"$ROOT/include" "$HERE/bench_symbols.c" \
      -o "$W/bench_symbols_$v" -L"$LIB" -Wl,-rpath,"$LIB" -linprof -lpthread
done
run() { # label binary env...
  label=$1 bin=$2; shift 2
  rm -rf "$W/out"; mkdir "$W/out"
  env "$@" "$W/$bin" "$W/out" "$EXPORTS" 300 > "$W/res" || { echo "bench_symbols failed ($label)" >&2; exit 1; }
  v() { awk -v k="$1" '$1 == k { print $2 }' "$W/res"; }
  echo "$label|$(v first_export_ms)|$(v first_export_cpu_ms)|$(v later_export_ms)|$(v later_export_cpu_ms)|$(( ($(v rss_after_first_kib) - $(v rss_before_kib)) ))|$(v symbolizer_cap_hits)|$(v cpu_samples)" >> "$W/rows"
}
run "symbol tables only" bench_symbols_g0 INPROF_DEBUG_DIRS=/nonexistent-inprof-bench
run "DWARF, 16 MiB cap (default)" bench_symbols_g INPROF_SYMBOLIZER_MAX_MB=16
run "DWARF, 64 MiB cap" bench_symbols_g INPROF_SYMBOLIZER_MAX_MB=64
dbg=no; [ -d /usr/lib/debug/.build-id ] && dbg=yes
if [ "$MD" = --markdown ]; then
  echo "## Symbolization cost (issue 11)"
  echo
  echo "\`bench/symbols/run.sh BUILD_DIR $EXPORTS\`: a C program (2 threads, always_inline chains and libc memcpy/memset/qsort/snprintf, 199 Hz) flushing every 300 ms, $EXPORTS exports. Export time is the flush's wall time and, in parentheses, the collector thread's CPU time for it (schedstat); RSS growth is VmRSS after the first export minus before it. /usr/lib/debug present: $dbg."
  echo
  echo "| mode | first export | later exports (median) | RSS growth at first export | cap hits | CPU samples |"
  echo "|---|---|---|---|---|---|"
  awk -F'|' '{ printf "| %s | %.1f ms (%.1f ms CPU) | %.2f ms (%.2f ms CPU) | %.1f MiB | %s | %s |\n", $1, $2, $3, $4, $5, $6 / 1024, $7, $8 }' "$W/rows"
  echo
  if [ -n "$AT" ]; then python3 "$HERE/at_daemon.py" "$AT" 6 --markdown; fi
  echo "Targets (issue 11, on at-daemon): first export <= 100 ms, later exports <= 5 ms, symbolizer memory <= 16 MiB. The symbolizer's own accounting is not in the public statistics; the RSS growth above is an upper bound that includes the pages of debug sections mapped from the files."
  echo
else
  printf '%-28s %10s %8s %10s %8s %10s %5s %8s\n' mode first_ms cpu_ms later_ms cpu_ms rss+kib caps samples
  awk -F'|' '{ printf "%-28s %10s %8s %10s %8s %10s %5s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$W/rows"
  if [ -n "$AT" ]; then python3 "$HERE/at_daemon.py" "$AT" 6; fi
fi
