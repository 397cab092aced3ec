//! Wall-time profiling (issue 14) on at-daemon, a Rust service built without
//! frame pointers: its main thread waits in `JoinHandle::join` for the whole
//! run and its scheduler sleeps between dispatches, while the workers burn
//! CPU. With `INPROF_WALL_HZ=100`, read with `go tool pprof`:
//! - every thread's wall-time is within 5% of its lifetime (the profile's
//!   duration for the main thread, the run for the others);
//! - the waiting threads' wall-time is where they wait: at least 90% of the
//!   main thread's under `join`, at least 70% of the scheduler's under
//!   `sleep` (it also dispatches), so blocked Rust stacks read from outside
//!   unwind through Rust frames up to the waiting call's caller.

use std::path::{Path, PathBuf};
use std::process::Command;

const DURATION_S: f64 = 4.0;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf()
}

fn build_profiling() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--release", "--locked", "-p", "at-daemon", "--features", "profiling", "--target-dir"])
        .arg(target_dir())
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join("at-daemon-wall");
    std::fs::copy(target_dir().join("release/at-daemon"), &dest).unwrap();
    dest
}

fn go() -> String {
    std::env::var("GO").unwrap_or_else(|_| {
        if Path::new("/usr/local/go/bin/go").exists() { "/usr/local/go/bin/go".into() } else { "go".into() }
    })
}

/// `pprof -top` of wall-time (optionally one thread's samples): the rows as
/// (flat ms, cum ms, name) and the profile's duration in ms.
fn top(file: &Path, thread: Option<&str>) -> (Vec<(f64, f64, String)>, f64) {
    let mut cmd = Command::new(go());
    cmd.args(["tool", "pprof", "-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0"])
        .args(["-sample_index=wall-time", "-unit=ms"]);
    if let Some(t) = thread {
        cmd.arg(format!("-tagfocus=thread name=^{t}$"));
    }
    let out = cmd.arg(file).output().expect("run go tool pprof");
    assert!(out.status.success(), "pprof failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let ms = |s: &str| s.strip_suffix("ms").and_then(|v| v.parse::<f64>().ok()).or((s == "0").then_some(0.0));
    let mut duration = 0.0;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.split("Duration: ").nth(1) {
            let d = rest.split(',').next().unwrap_or("").trim();
            duration = d
                .strip_suffix("ms")
                .and_then(|v| v.parse::<f64>().ok())
                .or_else(|| d.strip_suffix('s').and_then(|v| v.parse::<f64>().ok()).map(|s| s * 1000.0))
                .unwrap_or(0.0);
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 6 {
            continue;
        }
        if let (Some(flat), Some(cum)) = (ms(cols[0]), ms(cols[3])) {
            rows.push((flat, cum, cols[5..].join(" ")));
        }
    }
    (rows, duration)
}

fn total(rows: &[(f64, f64, String)]) -> f64 {
    rows.iter().map(|r| r.0).sum()
}

fn cum_of(rows: &[(f64, f64, String)], needle: &str) -> f64 {
    rows.iter().filter(|r| r.2.contains(needle)).map(|r| r.1).fold(0.0, f64::max)
}

#[test]
fn wall_time_of_waiting_threads() {
    let bin = build_profiling();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wall-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(&bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("DD_") || k.starts_with("INPROF_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["--threads", "2", "--duration", &DURATION_S.to_string()])
        .env("INPROF_OUTPUT_DIR", &dir)
        .env("INPROF_UPLOAD", "false")
        .env("INPROF_WALL_HZ", "100")
        .env("DD_PROFILING_UPLOAD_PERIOD", "600")
        .output()
        .expect("run at-daemon");
    assert!(out.status.success(), "at-daemon failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let profile = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".pprof.gz"))
        .expect("a profile");

    let (_, duration) = top(&profile, None);
    assert!(duration > 0.0, "no duration in the profile");
    let run_ms = DURATION_S * 1000.0;
    // The main thread lives through the whole profile; the others through the run.
    for (thread, life) in [("at-daemon-wall", duration), ("scheduler", run_ms), ("worker-0", run_ms), ("worker-1", run_ms)]
    {
        let (rows, _) = top(&profile, Some(thread));
        let t = total(&rows);
        println!("{thread}: wall-time {t:.0} ms, lifetime ~{life:.0} ms");
        assert!((t - life).abs() <= 0.05 * life, "{thread}: wall-time {t:.0} ms, lifetime ~{life:.0} ms");
    }
    let (main_rows, _) = top(&profile, Some("at-daemon-wall"));
    let join = cum_of(&main_rows, "join");
    println!("main thread: {join:.0} ms of {:.0} ms under join", total(&main_rows));
    assert!(join >= 0.9 * total(&main_rows), "main thread: {join:.0} ms under join of {:.0}", total(&main_rows));
    let (sched_rows, _) = top(&profile, Some("scheduler"));
    let sleep = cum_of(&sched_rows, "sleep");
    println!("scheduler: {sleep:.0} ms of {:.0} ms under sleep", total(&sched_rows));
    assert!(sleep >= 0.7 * total(&sched_rows), "scheduler: {sleep:.0} ms under sleep of {:.0}", total(&sched_rows));
    let _ = std::fs::remove_dir_all(&dir);
}
