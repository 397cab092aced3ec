#!/usr/bin/env bash
# The long soak of the reliability suite (issue 10), outside CI:
#   scripts/soak.sh [SECONDS]      (default 600: ten minutes)
# 999 Hz CPU sampling, heap sampling, a profile per second, thread churn and
# dlopen/dlclose churn at once; prints RSS, fds, POSIX timers and threads at
# start, every minute and at the end, and exits non-zero on a hang, a failed
# flush/stop, or leaked fds/timers/threads/memory. Builds what it needs in
# build-soak/ (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
bash scripts/install-deps.sh --no-test-tools
cmake -S . -B build-soak -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-soak -j"${JOBS:-2}" --target rel_soak
exec build-soak/tests/reliability/rel_soak "$seconds"
