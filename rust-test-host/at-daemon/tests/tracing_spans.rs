//! at-daemon built with `--features tracing`: inprof's tracing layer gives
//! every job sample a `span name` label (the job's kind), so the profile
//! grouped by `span name` shows the designed CPU split (src/jobs.rs), the
//! samples in a job's own function carry that job's span name, and every
//! job sample carries its batch root's span ids and `trace endpoint`.
//!
//! The daemon is built here with the feature, whatever features this test
//! was built with, so `cargo test -p at-daemon` runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const DESIGN: [(&str, f64); 4] =
    [("parse_records", 0.40), ("hash_blocks", 0.30), ("sort_batches", 0.20), ("compress_chunks", 0.10)];
/// Percentage points a span name's share may differ from the design.
const PROFILE_TOLERANCE_PP: f64 = 5.0;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf()
}

/// at-daemon with `--features tracing`, copied aside (other feature sets
/// build to the same target/release/at-daemon).
fn build() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(workspace())
                .args(["build", "--release", "--locked", "-p", "at-daemon", "--features", "tracing", "--target-dir"])
                .arg(target_dir())
                .output()
                .expect("run cargo build");
            assert!(out.status.success(), "cargo build --features tracing failed:\n{}", String::from_utf8_lossy(&out.stderr));
            let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join("at-daemon-tracing");
            std::fs::copy(target_dir().join("release/at-daemon"), &dest).unwrap();
            dest
        })
        .clone()
}

fn run(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("DD_") || k.starts_with("INPROF_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run at-daemon");
    assert!(
        out.status.success(),
        "at-daemon failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn go() -> String {
    std::env::var("GO").unwrap_or_else(|_| {
        if Path::new("/usr/local/go/bin/go").exists() { "/usr/local/go/bin/go".into() } else { "go".into() }
    })
}

fn pprof(args: &[&str], files: &[PathBuf]) -> String {
    let out = Command::new(go()).args(["tool", "pprof"]).args(args).args(files).output().expect("run go tool pprof");
    assert!(out.status.success(), "go tool pprof {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `pprof -tags` output: tag -> value -> amount in ms (from "12.3ms",
/// "1.2s", "800us" ...), for the tags it lists.
fn tags(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let ms = |v: &str| -> Option<f64> {
        for (unit, f) in [("ns", 1e-6), ("us", 1e-3), ("µs", 1e-3), ("ms", 1.0), ("s", 1e3)] {
            if let Some(n) = v.strip_suffix(unit).and_then(|n| n.parse::<f64>().ok()) {
                return Some(n * f);
            }
        }
        None
    };
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some((tag, _)) = line.split_once(": Total ") {
            current = Some(tag.trim().to_string());
            out.entry(tag.trim().to_string()).or_default();
        } else if let (Some(tag), Some((left, value))) = (&current, line.split_once("): ")) {
            let amount = left.split_whitespace().next().and_then(ms);
            if let Some(a) = amount {
                *out.get_mut(tag).unwrap().entry(value.trim().to_string()).or_default() += a;
            }
        }
    }
    out
}

#[test]
fn profile_by_span_name_matches_designed_split() {
    const WANT_SAMPLES: u64 = 1200;
    const MAX_RUNS: usize = 4;
    let bin = build();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("daemon-tracing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let env = [
        ("INPROF_OUTPUT_DIR", dir.to_str().unwrap()),
        ("INPROF_UPLOAD", "false"),
        ("INPROF_CPU_HZ", "250"),
        ("DD_SERVICE", "at-daemon-tracing-test"),
    ];
    // As in daemon.rs: add runs until the profiles hold enough samples for
    // a 5-point tolerance to mean something.
    let mut files = Vec::new();
    let mut samples = 0;
    for _ in 0..MAX_RUNS {
        let out = run(&bin, &["--threads", "2", "--duration", "5"], &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("profiling off"), "profiler did not start:\n{stderr}");
        files = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".pprof.gz"))
            .collect();
        let top = pprof(&["-top", "-sample_index=cpu-samples"], &files);
        samples = top
            .lines()
            .find_map(|l| l.split("Total samples = ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sample total in:\n{top}"));
        if samples >= WANT_SAMPLES {
            break;
        }
    }
    assert!(samples >= WANT_SAMPLES / 2, "only {samples} CPU samples: machine too loaded to compare shares");

    let text = pprof(&["-tags", "-tagshow=span name|trace endpoint", "-sample_index=cpu-time"], &files);
    let t = tags(&text);
    let by_name = t.get("span name").unwrap_or_else(|| panic!("no `span name` tag:\n{text}"));
    let total: f64 = DESIGN.iter().map(|(n, _)| by_name.get(*n).copied().unwrap_or(0.0)).sum();
    assert!(total > 0.0, "no job span names:\n{text}");
    let mut report = format!("span name        design  profile  ({samples} samples, {total:.0} ms in job spans)\n");
    let mut failures = Vec::new();
    for (name, design) in DESIGN {
        let share = by_name.get(name).copied().unwrap_or(0.0) / total;
        report += &format!("{name:<16} {:>5.1}%  {:>6.1}%\n", design * 100.0, share * 100.0);
        if (share - design).abs() * 100.0 > PROFILE_TOLERANCE_PP {
            failures.push(format!("{name}: profile {:.1}% vs design {:.1}%", share * 100.0, design * 100.0));
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{}\n{report}\n{text}", failures.join("\n"));
    // Jobs run inside their batch's root span, whose name is the endpoint.
    let endpoints = t.get("trace endpoint").unwrap_or_else(|| panic!("no `trace endpoint` tag:\n{text}"));
    assert_eq!(endpoints.keys().collect::<Vec<_>>(), vec!["batch"], "{text}");
    // The library resolves a root's endpoint when it writes the profile,
    // from a bounded hashed table of recent roots: a root whose slot a
    // later root took loses its endpoint (about 1% of the job time with the
    // ~400 batches a run has here), hence 95% and not all.
    assert!(endpoints["batch"] >= total * 0.95, "job samples without the batch endpoint:\n{text}");

    // A job's own function is sampled under its own span name only.
    for (name, _) in DESIGN {
        let focus = format!("-focus=at_daemon::jobs::{name}$");
        let text = pprof(&["-tags", "-tagshow=span name", "-sample_index=cpu-time", &focus], &files);
        let names = tags(&text).remove("span name").unwrap_or_default();
        let all: f64 = names.values().sum();
        let own = names.get(name).copied().unwrap_or(0.0);
        assert!(all > 0.0 && own >= all * 0.99, "{name}: samples in its function carry other span names:\n{text}");
    }
    // Span ids: every job sample has a local root (its batch) other than
    // its own span id, and there are many of both.
    let ids = pprof(&["-tags", "-tagshow=span id|local root span id", "-sample_index=cpu-samples"], &files);
    let idt = tags_counts(&ids);
    let roots = idt.get("local root span id").map_or(0, |m| m.len());
    let spans = idt.get("span id").map_or(0, |m| m.len());
    assert!(roots >= 10 && spans > roots, "{roots} roots, {spans} span ids:\n{}", &ids[..ids.len().min(3000)]);
}

/// `pprof -tags` with a count sample type: tag -> value -> samples.
fn tags_counts(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some((tag, _)) = line.split_once(": Total ") {
            current = Some(tag.trim().to_string());
        } else if let (Some(tag), Some((left, value))) = (&current, line.split_once("): ")) {
            if let Some(n) = left.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) {
                *out.entry(tag.clone()).or_default().entry(value.trim().to_string()).or_default() += n;
            }
        }
    }
    out
}
