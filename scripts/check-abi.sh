#!/usr/bin/env bash
# Proves that the Rust declarations (rust-test-host/inprof-sys/src/lib.rs) and the
# public C header agree: cbindgen regenerates a C header from the Rust side and
# scripts/abi_compare.py compares both after normalizing (constants and their
# values, typedefs, struct fields in order, function signatures).
#
# Usage: scripts/check-abi.sh [HEADER]   (default include/inprof.h)
# Needs cbindgen (Debian package cbindgen) and python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
header=${1:-$root/include/inprof.h}
crate=$root/rust-test-host/inprof-sys
command -v cbindgen >/dev/null || { echo "check-abi: cbindgen not found (apt-get install cbindgen)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Single-file mode: cbindgen parses lib.rs alone and never runs cargo.
cbindgen --quiet --config "$crate/cbindgen.toml" --output "$tmp/from_rust.h" "$crate/src/lib.rs"
python3 "$root/scripts/abi_compare.py" "$header" "$tmp/from_rust.h"
