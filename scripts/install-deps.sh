#!/usr/bin/env bash
# Installs what building and testing inprof needs, when it is missing:
# Debian packages (as root, or through sudo), and the pinned Python test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config clang
  libunwind-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libzstd-dev
  libcurl4-openssl-dev libiberty-dev
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

# Python test tools (the Datadog test agent), pinned, in a private venv.
if [ -f tests/requirements.txt ]; then
  VENV=${INPROF_VENV:-$PWD/.venv}
  if [ ! -x "$VENV/bin/python" ] || ! cmp -s tests/requirements.txt "$VENV/.requirements"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
    cp tests/requirements.txt "$VENV/.requirements"
  fi
fi
