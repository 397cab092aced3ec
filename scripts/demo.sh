#!/usr/bin/env bash
# The main job: build at-daemon with profiling, run it for a few seconds with
# profiles written locally, and print the hottest functions.
#   DEMO_SECONDS (default 6), DEMO_THREADS (default 2), DEMO_OUT (default ./profiles)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/install-deps.sh --no-test-tools
export PATH="$PATH:/usr/local/go/bin:$HOME/.cargo/bin"
SECONDS_TO_RUN=${DEMO_SECONDS:-6}
OUT=${DEMO_OUT:-$ROOT/profiles}
mkdir -p "$OUT"
rm -f "$OUT"/at-daemon-*.pprof.gz

echo "=== building at-daemon with --features profiling (release)"
(cd rust-test-host && cargo build --release -p at-daemon --features profiling)

echo "=== running at-daemon for ${SECONDS_TO_RUN}s, profiles in $OUT"
INPROF_OUTPUT_DIR="$OUT" INPROF_UPLOAD=false DD_SERVICE=at-daemon \
  DD_PROFILING_UPLOAD_PERIOD=${DEMO_PERIOD:-3} \
  rust-test-host/target/release/at-daemon --threads "${DEMO_THREADS:-2}" --duration "$SECONDS_TO_RUN"

echo "=== profiles written"
ls -l "$OUT"/at-daemon-*.pprof.gz
echo "=== hottest functions (cpu-time, all periods)"
go tool pprof -top -nodecount=15 -sample_index=cpu-time "$OUT"/at-daemon-*.pprof.gz 2>/dev/null
