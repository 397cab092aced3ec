//! inprof-sys's declarations against the `inprof.h` its build script exports
//! (DEP_INPROF_INCLUDE, see build.rs):
//! - cbindgen over inprof-sys/src/lib.rs gives a header that
//!   scripts/abi_compare.py finds equal to it after normalizing, and the
//!   comparison fails on a header with one constant or field changed;
//! - size, alignment and every field's offset and size of the shared structs
//!   agree between Rust and a C program compiled against the header.

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use inprof_sys::{inprof_config, inprof_statistics, inprof_status};

fn header() -> PathBuf {
    Path::new(inprof_abi::INCLUDE_DIR).join("inprof.h")
}

/// The -sys crate's sources (a sibling in this workspace).
fn sys_crate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../inprof-sys")
}

/// The normalizing comparison shared with scripts/check-abi.sh.
fn abi_compare_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/abi_compare.py")
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("abi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The header cbindgen makes of inprof-sys/src/lib.rs (single-file mode: it
/// parses that file alone and never runs cargo).
fn header_from_rust() -> PathBuf {
    let out = tmp_dir("cbindgen").join("from_rust.h");
    let sys = sys_crate();
    let st = Command::new("cbindgen")
        .arg("--quiet")
        .arg("--config")
        .arg(sys.join("cbindgen.toml"))
        .arg("--output")
        .arg(&out)
        .arg(sys.join("src/lib.rs"))
        .status()
        .expect("run cbindgen (apt-get install cbindgen)");
    assert!(st.success(), "cbindgen failed");
    out
}

fn compare(c_header: &Path, generated: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(abi_compare_py())
        .arg(c_header)
        .arg(generated)
        .output()
        .expect("run python3 scripts/abi_compare.py");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn cbindgen_output_matches_header() {
    let (ok, text) = compare(&header(), &header_from_rust());
    assert!(ok, "abi_compare.py failed:\n{text}");
    assert!(text.contains("ABI OK"), "{text}");
}

#[test]
fn cbindgen_check_detects_differences() {
    let header_text = std::fs::read_to_string(header()).unwrap();
    let generated = header_from_rust();
    let dir = tmp_dir("tampered");
    let cases = [
        ("constant value", "#define INPROF_ERR_BUSY 9", "#define INPROF_ERR_BUSY 19"),
        ("field type", "  uint64_t heap_samples_dropped;", "  uint32_t heap_samples_dropped;"),
        ("field order", "  const char *env;\n  const char *version;", "  const char *version;\n  const char *env;"),
        ("parameter type", "inprof_stop(uint32_t timeout_ms)", "inprof_stop(uint64_t timeout_ms)"),
        ("missing function", "INPROF_EXPORT uint32_t inprof_version(void);", ""),
    ];
    for (what, from, to) in cases {
        assert!(header_text.contains(from), "test needs updating: header has no {from:?}");
        let path = dir.join(format!("{}.h", what.replace(' ', "_")));
        std::fs::write(&path, header_text.replacen(from, to, 1)).unwrap();
        let (ok, text) = compare(&path, &generated);
        assert!(!ok, "abi_compare.py passed a header with a changed {what}:\n{text}");
        assert!(text.contains("ABI MISMATCH"), "{what}: {text}");
    }
}

/// (struct, field) -> (offset, size); field "." -> (alignment, size).
type Layout = BTreeMap<(String, String), (usize, usize)>;

fn field_size<S, F>(_: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! rust_layout {
    ($map:ident, $t:ident { $($f:ident),* $(,)? }) => {{
        $map.insert((stringify!($t).to_string(), ".".to_string()), (align_of::<$t>(), size_of::<$t>()));
        $(
            $map.insert(
                (stringify!($t).to_string(), stringify!($f).to_string()),
                (offset_of!($t, $f), field_size::<$t, _>(|s| &s.$f)),
            );
        )*
    }};
}

fn rust_side() -> Layout {
    let mut m = Layout::new();
    rust_layout!(m, inprof_config {
        struct_size, enabled, cpu_hz, cpu_signal, heap_sample_bytes, upload_period_ms, max_frames,
        service, env, version, tags, output_dir, agent_url, agentless, upload, site, api_key,
        intake_url, ca_bundle, connect_timeout_ms, upload_timeout_ms, log_level, reserved0,
        inlined_frames, symbolizer_max_mb, debug_dirs, timeline_enabled, wall_hz,
        wall_threads_per_tick,
    });
    rust_layout!(m, inprof_statistics {
        struct_size, threads_tracked, cpu_samples, cpu_samples_dropped, cpu_timer_overruns,
        threads_failed, heap_samples, heap_samples_dropped, heap_live_samples, profiles_written,
        profiles_failed, uploads_ok, uploads_failed, uploads_dropped,
        unwind_unknown_pc, unwind_no_stack_room, symbolizer_cap_hits,
        timeline_samples_aggregated, labels_table_full, endpoint_counts_dropped,
    });
    m.insert(("inprof_status".into(), ".".into()), (align_of::<inprof_status>(), size_of::<inprof_status>()));
    m
}

fn c_side() -> Layout {
    let dir = tmp_dir("layout");
    let exe = dir.join("abi_layout");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg("-I")
        .arg(inprof_abi::INCLUDE_DIR)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/abi_layout.c"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(st.success(), "compiling tests/abi_layout.c failed");
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let mut m = Layout::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let p: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(p.len(), 4, "bad line {line:?}");
        let prev = m.insert((p[0].into(), p[1].into()), (p[2].parse().unwrap(), p[3].parse().unwrap()));
        assert!(prev.is_none(), "{line:?} twice");
    }
    m
}

/// Field names of `typedef struct NAME { ... }` in the header, in order.
fn header_fields(name: &str) -> Vec<String> {
    let h = std::fs::read_to_string(header()).unwrap();
    let start = h.find(&format!("typedef struct {name} {{")).unwrap_or_else(|| panic!("no struct {name}"));
    let body = &h[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    let no_comments: String = {
        let mut s = String::new();
        let mut rest = body;
        while let Some(i) = rest.find("/*") {
            s.push_str(&rest[..i]);
            rest = &rest[rest[i..].find("*/").unwrap() + i + 2..];
        }
        s + rest
    };
    no_comments
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.rsplit(|c: char| c.is_whitespace() || c == '*').next().unwrap().to_string())
        .collect()
}

#[test]
fn struct_layouts_match_c() {
    let rust = rust_side();
    let c = c_side();
    // Every field in the header is measured on both sides.
    for s in ["inprof_config", "inprof_statistics"] {
        let listed = |m: &Layout| {
            let mut v: Vec<(usize, String)> = m
                .iter()
                .filter(|((t, f), _)| t == s && f != ".")
                .map(|((_, f), (off, _))| (*off, f.clone()))
                .collect();
            v.sort();
            v.into_iter().map(|(_, f)| f).collect::<Vec<_>>()
        };
        let want = header_fields(s);
        assert!(want.len() > 5, "parsed too few fields of {s}: {want:?}");
        assert_eq!(listed(&c), want, "C layout program vs header fields of {s}");
        assert_eq!(listed(&rust), want, "Rust fields vs header fields of {s}");
    }
    let mut diffs = Vec::new();
    for (k, v) in &c {
        match rust.get(k) {
            Some(r) if r == v => {}
            other => diffs.push(format!("{}.{}: C {:?}, Rust {:?}", k.0, k.1, v, other)),
        }
    }
    for k in rust.keys() {
        if !c.contains_key(k) {
            diffs.push(format!("{}.{}: only on the Rust side", k.0, k.1));
        }
    }
    assert!(diffs.is_empty(), "layout differences:\n{}", diffs.join("\n"));
    // The struct_size the Rust wrapper sends is the C sizeof.
    assert_eq!(c[&("inprof_config".into(), ".".into())].1, size_of::<inprof_config>());
    assert_eq!(c[&("inprof_statistics".into(), ".".into())].1, size_of::<inprof_statistics>());
}
