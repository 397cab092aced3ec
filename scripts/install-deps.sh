#!/usr/bin/env bash
# Installs what building and testing inprof needs, when it is missing:
# Debian packages (as root, or through sudo), and the pinned Python test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config clang
  libunwind-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libzstd-dev
  libcurl4-openssl-dev libiberty-dev libdw-dev libelf-dev
  liblzma-dev libbz2-dev
  libc6-dbg libclang-rt-14-dev
  cbindgen binutils openssl python3 python3-venv
  libgoogle-perftools-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Go (go tool pprof is the reference pprof reader) and Rust come with the
# machine; fall back to Debian's packages when they are absent.
export PATH="$PATH:/usr/local/go/bin:$HOME/.cargo/bin"
command -v go >/dev/null || missing+=(golang-go)
command -v cargo >/dev/null || missing+=(cargo rustc)

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Datadog's APM test agent (pinned, from PyPI) in a private virtualenv; the
# HTTP tests upload to it. The demo does not need it (--no-test-tools).
[ "${1:-}" = "--no-test-tools" ] && exit 0
DDAPM_DIR=${INPROF_DDAPM_DIR:-$PWD/.venv/ddapm}
if [ ! -x "$DDAPM_DIR/bin/ddapm-test-agent" ]; then
  echo "install-deps: installing ddapm-test-agent into $DDAPM_DIR"
  sh tests/intake/setup_test_agent.sh "$DDAPM_DIR" >/dev/null
fi
