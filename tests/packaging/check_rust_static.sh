#!/usr/bin/env bash
# Proves that the Rust build links libinprof's dependencies statically by
# default: at-daemon built with the `profiling` feature must need no shared
# library (readelf -d, NEEDED) beyond what the same binary built without it
# needs, plus glibc's libraries and libgcc_s. Then it runs the profiling build
# in a minimal root holding only the binary, the dynamic loader and those
# libraries (a chroot in a private mount namespace, with /proc bound in for
# the symbolizer), and checks that it wrote a profile there. Prints the size
# the feature adds (as built and stripped).
#
# Usage: tests/packaging/check_rust_static.sh
# Builds in rust-test-host's target directory unless CARGO_TARGET_DIR is set;
# JOBS (default 2) limits cargo's parallel jobs. The minimal-root run is
# skipped, with a message, where namespaces or chroot are not permitted.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$PATH:$HOME/.cargo/bin"
ws=$root/rust-test-host
target=${CARGO_TARGET_DIR:-$ws/target}
jobs=${JOBS:-2}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/inprof-static.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

build() { # output name, cargo args...
  local out=$1; shift
  echo "=== [rust-static] cargo build --release -p at-daemon $*"
  (cd "$ws" && cargo build --release -p at-daemon -j"$jobs" --target-dir "$target" "$@")
  cp "$target/release/at-daemon" "$scratch/$out"
}
build plain
build profiling --features profiling

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u; }
needed "$scratch/plain" > "$scratch/plain.needed"
needed "$scratch/profiling" > "$scratch/profiling.needed"
echo "without profiling: $(tr '\n' ' ' < "$scratch/plain.needed")"
echo "with profiling:    $(tr '\n' ' ' < "$scratch/profiling.needed")"
# glibc's libraries and libgcc_s: what any Rust or C program on glibc may need.
allowed='^(libc|libm|libdl|libpthread|librt|libutil|libgcc_s|ld-linux[-a-z0-9_]*)\.so(\.[0-9]+)*$'
extra=$(comm -13 "$scratch/plain.needed" "$scratch/profiling.needed" | grep -Ev "$allowed" || true)
if [ -n "$extra" ]; then
  echo "check_rust_static: FAIL: at-daemon with profiling needs shared libraries that it does not need without:" >&2
  echo "$extra" >&2
  exit 1
fi
echo "check_rust_static: profiling adds no shared library outside glibc's and libgcc_s"

size() { stat -c %s "$1"; }
strip -o "$scratch/plain.stripped" "$scratch/plain"
strip -o "$scratch/profiling.stripped" "$scratch/profiling"
for v in "" .stripped; do
  a=$(size "$scratch/plain$v") b=$(size "$scratch/profiling$v")
  printf 'size%s: without %d bytes, with profiling %d bytes, added %d bytes (%.1f MiB)\n' \
    "${v:- (as built)}" "$a" "$b" "$((b - a))" "$(awk "BEGIN { print ($b - $a) / 1048576 }")"
done

# The minimal root: the binary, the loader and each NEEDED library, copied
# from where this machine's loader finds them, and nothing else (no /etc,
# /usr or /lib beyond those files).
mr=$scratch/root
mkdir -p "$mr/proc" "$mr/out" "$mr/tmp"
cp "$scratch/profiling" "$mr/at-daemon"
interp=$(readelf -l "$scratch/profiling" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
copy() { mkdir -p "$mr$(dirname "$2")"; cp -L "$1" "$mr$2"; }
copy "$interp" "$interp"
ldd "$scratch/profiling" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
  copy "$lib" "$lib"
done
echo "minimal root: $(cd "$mr" && find . -type f | sort | tr '\n' ' ')"
run_in_root() { # command run as root of a new mount namespace
  local cmd="mount --rbind /proc '$mr/proc' && exec chroot '$mr' /at-daemon --threads 1 --duration 1.5"
  if [ "$(id -u)" = 0 ]; then
    unshare --mount sh -c "$cmd"
  else
    unshare --user --map-root-user --mount sh -c "$cmd"
  fi
}
if ! unshare --mount true 2>/dev/null && ! unshare --user --map-root-user --mount true 2>/dev/null; then
  echo "check_rust_static: SKIP the minimal-root run: this machine does not permit mount namespaces (unshare failed)"
  exit 0
fi
# An HTTPS intake on the loopback (the minimal root shares the network), with
# a certificate from a CA made here that the root's copy of the CA file
# trusts: uploads prove that the static curl's TLS works.
agent_env=()
if command -v openssl >/dev/null && command -v python3 >/dev/null; then
  t=$scratch/tls
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/ca.key" -out "$t/ca.pem" -days 2 \
    -subj /CN=inprof-static-check-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$t/key.pem" -out "$t/leaf.csr" -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$t/ext.cnf"
  openssl x509 -req -in "$t/leaf.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
    -out "$t/cert.pem" -days 2 -extfile "$t/ext.cnf" 2>/dev/null
  cp "$t/ca.pem" "$mr/ca.pem"
  cat > "$t/intake.py" <<'EOF'
import http.server, ssl, sys
class Intake(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print("POST", self.path, flush=True)
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), Intake)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
  python3 "$t/intake.py" "$t/cert.pem" "$t/key.pem" > "$t/intake.log" 2>&1 &
  intake_pid=$!
  trap 'kill $intake_pid 2>/dev/null; rm -rf "$scratch"' EXIT
  for _ in $(seq 100); do [ -s "$t/intake.log" ] && break; sleep 0.1; done
  port=$(head -1 "$t/intake.log")
  agent_env=(DD_TRACE_AGENT_URL="https://127.0.0.1:$port" INPROF_CA_BUNDLE=/ca.pem)
else
  echo "check_rust_static: no openssl or python3: HTTPS upload not checked"
fi
echo "=== [rust-static] at-daemon with profiling in the minimal root"
(
  export INPROF_OUTPUT_DIR=/out DD_PROFILING_UPLOAD_PERIOD=1 DD_SERVICE=static-check INPROF_CPU_HZ=200 \
    INPROF_LOG_LEVEL=info "${agent_env[@]}"
  run_in_root
) > "$scratch/run.log" 2>&1 || {
  echo "check_rust_static: FAIL: at-daemon did not run in the minimal root:" >&2
  cat "$scratch/run.log" >&2
  exit 1
}
grep -q '^JOB ' "$scratch/run.log" || { echo "check_rust_static: FAIL: no JOB lines:" >&2; cat "$scratch/run.log" >&2; exit 1; }
ls "$mr/out"/*.pprof.gz >/dev/null 2>&1 || {
  echo "check_rust_static: FAIL: no profile written in the minimal root:" >&2
  cat "$scratch/run.log" >&2
  exit 1
}
echo "check_rust_static: ran in the minimal root and wrote $(ls "$mr/out" | tr '\n' ' ')"
if ((${#agent_env[@]})); then
  if ! grep -q '^POST /profiling/v1/input' "$t/intake.log" || grep -q 'upload.*failed' "$scratch/run.log"; then
    echo "check_rust_static: FAIL: HTTPS upload from the minimal root:" >&2
    cat "$scratch/run.log" "$t/intake.log" >&2
    exit 1
  fi
  echo "check_rust_static: uploaded over HTTPS from the minimal root ($(grep -c '^POST' "$t/intake.log") profiles)"
fi
echo "check_rust_static: OK"
