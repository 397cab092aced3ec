#!/bin/sh
# run.sh - checks the test intake against a real Datadog client (not a CI
# test: it needs the npm registry and takes ~40 s). Installs dd-trace
# (pinned) into a scratch directory, runs its profiler against
# tests/intake/intake.py with a short upload period, and prints what the
# intake recorded. The intake runs with --client any: the generic contract
# (parts, event.json fields, tags, RFC 3339, decodable pprof) without
# inprof's own choices (zstd, nanosecond timestamps, family native).
#
# Usage: scripts/ddtrace-compare/run.sh [scratch-dir]
set -eu
DD_TRACE_VERSION=${DD_TRACE_VERSION:-6.21.0}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d /tmp/inprof-ddtrace-XXXXXX)}
mkdir -p "$work"
cd "$work"
echo "scratch dir: $work"

if [ ! -d node_modules/dd-trace ]; then
  npm init -y >/dev/null
  npm install --no-audit --no-fund --silent "dd-trace@$DD_TRACE_VERSION"
fi
node -e 'console.log("dd-trace", require("dd-trace/package.json").version, "node", process.version)'

cat > app.js <<'JS'
// A busy service: CPU work and allocations for the profiler to see.
const tracer = require('dd-trace').init({ profiling: true });
const end = Date.now() + Number(process.env.RUN_MS || 25000);
const keep = [];
function work() {
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
  keep.push(new Array(1000).fill(x));
  if (keep.length > 200) keep.splice(0, 100);
  if (Date.now() < end) setImmediate(work);
  else setTimeout(() => process.exit(0), 500);
}
work();
JS

rm -rf rec intake.out intake.err
python3 "$root/tests/intake/intake.py" --record "$work/rec" --port 0 --client any \
  --max-seconds 120 --verbose > intake.out 2> intake.err &
intake_pid=$!
trap 'kill $intake_pid 2>/dev/null || true' EXIT
i=0
while ! grep -q '^PORT ' intake.out 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || { cat intake.err; exit 1; }; sleep 0.1
done
port=$(sed -n 's/^PORT //p' intake.out)
echo "intake on 127.0.0.1:$port"

# Profiling only: no traces, telemetry or remote config to the intake.
DD_TRACE_AGENT_URL="http://127.0.0.1:$port" DD_SERVICE=ddtrace-compare DD_ENV=test \
DD_VERSION=1.0.0 DD_TAGS="team:native,compare:yes" DD_PROFILING_ENABLED=true \
DD_PROFILING_UPLOAD_PERIOD=5 \
DD_INSTRUMENTATION_TELEMETRY_ENABLED=false DD_REMOTE_CONFIGURATION_ENABLED=false \
DD_TRACE_STARTUP_LOGS=false RUN_MS=${RUN_MS:-17000} node app.js

sleep 3 # the last upload, made as the process exits, may still be checked
n=0; bad=0; other=0
for f in rec/req-*.txt; do
  [ -e "$f" ] || continue
  echo "=== $f"
  cat "$f"
  # dd-trace also posts runtime metrics (/dogstatsd/v2/proxy): not profiles.
  if ! grep -q '^path=/profiling/v1/input$' "$f"; then other=$((other + 1)); continue; fi
  n=$((n + 1))
  grep -q '^violations=0$' "$f" || bad=$((bad + 1))
done
python3 - "$work/rec" <<'PY'
import glob, json, sys
for f in sorted(glob.glob(sys.argv[1] + "/req-*.json")):
    r = json.load(open(f))
    i = r["info"]
    print("---", f.rsplit("/", 1)[1], "transfer:", i.get("transfer"))
    print("headers:", {k: v for k, v in r["headers"].items() if k.lower() != "dd-api-key"})
    print("parts:", i.get("parts"))
    print("event fields beyond inprof's:", i.get("unknown_fields"))
    ev = i.get("event") or {}
    print("event:", json.dumps({k: v for k, v in ev.items() if k != "tags_profiler"})[:1500])
PY
echo "dd-trace profile uploads: $n, with contract violations: $bad (other requests: $other)"
[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
