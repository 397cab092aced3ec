#!/bin/sh
# setup_test_agent.sh [DIR] - installs Datadog's APM test agent, pinned, into
# a virtualenv (default: /opt/inprof-ddapm). test_http_testagent runs
# DIR/bin/ddapm-test-agent; configure with -DINPROF_DDAPM_TEST_AGENT=... to
# use another one.
set -eu
dir=${1:-/opt/inprof-ddapm}
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check 'ddapm-test-agent==1.69.1'
"$dir/bin/ddapm-test-agent" --version
