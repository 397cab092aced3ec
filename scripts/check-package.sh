#!/usr/bin/env bash
# Proves that the Rust crates build as a user gets them from a registry or a
# vendored copy: `cargo package` turns inprof-sys and inprof into .crate
# files, which are unpacked in a scratch
# folder, where a small binary crate that depends on them by path only (no
# workspace, no repository around it) is built and run: it starts the
# profiler with an output directory, burns CPU, stops, and a .pprof.gz must be
# there. Exits non-zero on any failure.
#
# Usage: scripts/check-package.sh       (KEEP=1 keeps the scratch folder)
# Uses rust-test-host's target directory unless CARGO_TARGET_DIR is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$PATH:$HOME/.cargo/bin"
ws=$root/rust-test-host
target=${CARGO_TARGET_DIR:-$ws/target}
jobs=${JOBS:-2}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/inprof-package.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  echo "check-package: scratch folder $scratch kept"
else
  trap 'rm -rf "$scratch"' EXIT
fi

echo "=== [package] cargo package -p inprof-sys -p inprof"
# --allow-dirty: this checks what the files make, committed or not.
# --no-verify: cargo's verification would build both crates from their
# packaged sources, which the scratch binary below does too (and runs);
# once is enough, as the static dependencies (curl, rustls) take minutes.
(cd "$ws" && cargo package -p inprof-sys -p inprof --allow-dirty --no-verify -j"$jobs" \
   --target-dir "$target")

version() { sed -n 's/^version = "\(.*\)"/\1/p' "$ws/$1/Cargo.toml" | head -1; }
sys_crate=$target/package/inprof-sys-$(version inprof-sys).crate
api_crate=$target/package/inprof-$(version inprof).crate
for c in "$sys_crate" "$api_crate"; do
  [ -f "$c" ] || { echo "check-package: $c was not made" >&2; exit 1; }
done

echo "=== [package] contents of $(basename "$sys_crate")"
tar tzf "$sys_crate" > "$scratch/sys-files.txt"
for f in CMakeLists.txt inprof.pc.in include/inprof.h build.rs src/lib.rs; do
  grep -qx "inprof-sys-[^/]*/$f" "$scratch/sys-files.txt" ||
    { echo "check-package: inprof-sys package lacks $f" >&2; exit 1; }
done
grep -q '^inprof-sys-[^/]*/c-src/.*\.c$' "$scratch/sys-files.txt" ||
  { echo "check-package: inprof-sys package has no C sources" >&2; exit 1; }
if grep -E '/(target|build[^/]*|\.venv|tests)/' "$scratch/sys-files.txt"; then
  echo "check-package: build outputs or tests in the inprof-sys package (above)" >&2
  exit 1
fi
echo "$(wc -l < "$scratch/sys-files.txt") files"

mkdir -p "$scratch/crates"
tar xzf "$sys_crate" -C "$scratch/crates"
tar xzf "$api_crate" -C "$scratch/crates"
sys_dir=$(basename "$sys_crate" .crate)
api_dir=$(basename "$api_crate" .crate)
# The binary's name must not start with "inprof": its threads would be
# named like the library's own, which are never sampled.
# The unpacked inprof names inprof-sys by version (a registry dependency);
# point it at the unpacked copy, as a vendored source or [patch] would.
mkdir -p "$scratch/app/src" "$scratch/app/.cargo"
cat > "$scratch/app/Cargo.toml" <<EOF
[package]
name = "pkgcheck"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
inprof = { path = "../crates/$api_dir" }

[patch.crates-io]
inprof-sys = { path = "../crates/$sys_dir" }

# Not part of any enclosing workspace.
[workspace]
EOF
cat > "$scratch/app/src/main.rs" <<'EOF'
//! Starts inprof with an output directory, burns CPU, stops, and checks that
//! CPU samples were taken and a profile file was written.
use std::time::{Duration, Instant};

/// This thread's time on CPU (schedstat's first field, in ns).
fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).expect("usage: pkgcheck DIR");
    let profiler = inprof::Config::new()
        .service("package-check")
        .output_dir(&dir)
        .upload(inprof::Upload::Off)
        .cpu_hz(500)
        .start()?;
    // 300 ms of CPU time, however busy the machine (wall time capped).
    let (start_cpu, t) = (cpu_ns(), Instant::now());
    let mut x = 1u64;
    while cpu_ns() - start_cpu < 300_000_000 && t.elapsed() < Duration::from_secs(60) {
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    profiler.stop(Duration::from_secs(20))?;
    let stats = inprof::stats()?;
    let files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pprof.gz"))
        .collect();
    println!("package-check: {} profile(s), {} CPU samples, x={x}", files.len(), stats.cpu_samples);
    if stats.cpu_samples == 0 {
        return Err(format!("no CPU samples after {:?} of CPU time: {stats:?}",
                           Duration::from_nanos(cpu_ns() - start_cpu)).into());
    }
    if files.is_empty() {
        return Err(format!("no .pprof.gz in {dir}").into());
    }
    Ok(())
}
EOF
# Same dependency versions as the workspace was tested with.
cp "$ws/Cargo.lock" "$scratch/app/Cargo.lock"

echo "=== [package] build and run a binary that depends on the unpacked crates by path"
(cd "$scratch/app" && cargo build --release -j"$jobs" --target-dir "$scratch/target")
mkdir -p "$scratch/profiles"
"$scratch/target/release/pkgcheck" "$scratch/profiles"
ls "$scratch/profiles"/*.pprof.gz >/dev/null
echo "check-package: OK"
