//! The safe API: sessions (start twice, stop twice, drop), flush, stats,
//! configuration errors from code and from the environment.
//!
//! The profiler is process-global, so every test takes TEST_LOCK; tests that
//! need a different environment run this same binary again as a child process
//! (see `child`), so no test changes its own process's environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use inprof::{Config, ErrorKind, Upload};

static TEST_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const STOP: Duration = Duration::from_secs(10);

fn fresh_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn profiles_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pprof.gz"))
        .collect();
    v.sort();
    v
}

/// Files only: no upload attempts to a local agent that is not there.
fn local_config(dir: &Path) -> Config {
    Config::new().output_dir(dir).upload(Upload::Off).service("inprof-api-test")
}

#[inline(never)]
fn burn_cpu(d: Duration) -> u64 {
    let t = Instant::now();
    let mut x = 1u64;
    while t.elapsed() < d {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

#[test]
fn version_matches_the_crate() {
    assert_eq!(inprof::library_version(), inprof::BUILT_FOR_VERSION);
    assert_eq!(inprof::BUILT_FOR_VERSION, inprof::sys::INPROF_VERSION_NUM);
}

#[test]
fn start_twice_shares_one_session() {
    let _g = lock();
    let dir = fresh_dir("twice");
    let first = local_config(&dir).start().expect("first start");
    assert!(inprof::is_running());
    // A second start, from the environment this time: Ok, same session.
    let second = inprof::start().expect("second start is Ok");
    let third = local_config(&dir).cpu_hz(7).start().expect("third start is Ok");
    assert!(second.is_running() && third.is_running());
    drop(first);
    assert!(inprof::is_running(), "dropping one of three handles must not stop the profiler");
    third.stop(STOP).expect("releasing a non-last handle");
    assert!(inprof::is_running());
    second.stop(STOP).expect("stopping the last handle");
    assert!(!inprof::is_running(), "last handle stopped: profiler must be off");
}

#[test]
fn stop_twice_and_restart() {
    let _g = lock();
    let dir = fresh_dir("restart");
    for round in 0..3 {
        let p = local_config(&dir).start().unwrap_or_else(|e| panic!("start in round {round}: {e}"));
        assert!(p.is_running());
        burn_cpu(Duration::from_millis(50));
        p.stop(STOP).unwrap_or_else(|e| panic!("stop in round {round}: {e}"));
        assert!(!inprof::is_running());
        // Stopping again (the library's stop) is harmless.
        assert_eq!(unsafe { inprof::sys::inprof_stop(1000) }, inprof::sys::INPROF_OK);
    }
    // Each session wrote its final profile.
    assert!(profiles_in(&dir).len() >= 3, "{:?}", profiles_in(&dir));
}

#[test]
fn drop_stops_and_exports() {
    let _g = lock();
    let dir = fresh_dir("drop");
    let before = inprof::stats().unwrap();
    {
        let _profiler = local_config(&dir).cpu_hz(250).stop_timeout(STOP).start().unwrap();
        burn_cpu(Duration::from_millis(400));
    }
    assert!(!inprof::is_running(), "drop must stop the profiler");
    let after = inprof::stats().unwrap();
    assert!(after.cpu_samples > before.cpu_samples, "no CPU samples: {before:?} -> {after:?}");
    assert!(after.profiles_written > before.profiles_written, "{after:?}");
    assert_eq!(profiles_in(&dir).len(), 1, "exactly the final profile: {:?}", profiles_in(&dir));
}

#[test]
fn flush_and_stats_while_running() {
    let _g = lock();
    let dir = fresh_dir("flush");
    let p = local_config(&dir).cpu_hz(250).start().unwrap();
    burn_cpu(Duration::from_millis(300));
    let s = p.stats();
    assert!(s.cpu_samples > 0 && s.threads_tracked >= 1, "{s:?}");
    p.flush(STOP).expect("flush");
    assert_eq!(profiles_in(&dir).len(), 1, "flush writes a profile now");
    p.stop(STOP).unwrap();
    assert_eq!(profiles_in(&dir).len(), 2, "stop writes the last one");
}

/// `Profiler::collect`: the period so far, in memory, readable by
/// `go tool pprof`; the period is not ended, so the flush that follows
/// still writes a file holding it.
#[test]
fn collect_in_memory_while_running() {
    let _g = lock();
    let dir = fresh_dir("collect");
    let p = local_config(&dir).cpu_hz(250).upload_period(Duration::from_secs(3600)).start().unwrap();
    burn_cpu(Duration::from_millis(400));
    let bytes = p.collect(STOP).expect("collect");
    assert!(!bytes.is_empty() && bytes[..2] != [0x1f, 0x8b], "uncompressed pprof expected");
    assert!(profiles_in(&dir).is_empty(), "collect must not export a file");
    let path = dir.join("collected.pprof");
    std::fs::write(&path, &bytes).unwrap();
    let go = ["/usr/local/go/bin/go", "go"]
        .into_iter()
        .find(|g| Command::new(g).arg("version").output().is_ok())
        .expect("go is needed to read profiles");
    let out = Command::new(go)
        .args(["tool", "pprof", "-top", "-sample_index=cpu-time"])
        .arg(&path)
        .output()
        .expect("run go tool pprof");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("burn_cpu"), "pprof -top:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr));
    p.flush(STOP).expect("flush");
    assert_eq!(profiles_in(&dir).len(), 1, "the period is exported once, by the flush");
    p.stop(STOP).unwrap();
}

#[test]
fn disabled_start_is_ok_and_idle() {
    let _g = lock();
    let dir = fresh_dir("disabled");
    let p = local_config(&dir).enabled(false).start().expect("disabled start is Ok");
    assert!(!p.is_running());
    p.stop(STOP).unwrap();
    assert!(profiles_in(&dir).is_empty());
}

#[test]
fn invalid_configuration_from_code() {
    let _g = lock();
    let e = Config::new().max_frames(100_000).upload(Upload::Off).start().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(!inprof::is_running());

    let e = Config::new().service("bad\0name").start().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("service"), "{e}");

    let e = Config::new().output_dir("/nonexistent/inprof/dir").start().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Output, "{e}");
    assert!(e.to_string().contains("/nonexistent/inprof/dir"), "message should name the directory: {e}");
    assert!(!inprof::is_running());

    // After the failures the profiler still starts normally.
    let dir = fresh_dir("after-invalid");
    local_config(&dir).start().unwrap().stop(STOP).unwrap();
}

/// Runs `child` in a new process of this test binary with `env` set.
fn run_child(case: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env("INPROF_API_CHILD", case)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child {case} failed:\n{text}");
    assert!(text.contains(&format!("CHILD {case} OK")), "child {case} did not finish:\n{text}");
    text
}

#[test]
fn bad_environment_value() {
    run_child("bad_env", &[("INPROF_CPU_HZ", "abc")]);
}

#[test]
fn environment_configures_start() {
    let dir = fresh_dir("env");
    run_child(
        "env_start",
        &[
            ("INPROF_OUTPUT_DIR", dir.to_str().unwrap()),
            ("INPROF_UPLOAD", "false"),
            ("DD_SERVICE", "env-service"),
            ("INPROF_CPU_HZ", "200"),
        ],
    );
    let files = profiles_in(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("env-service-"), "file named after DD_SERVICE: {name}");
}

/// The child side of the environment tests; does nothing in a normal run.
#[test]
fn child() {
    let case = match std::env::var("INPROF_API_CHILD") {
        Ok(c) => c,
        Err(_) => return,
    };
    match case.as_str() {
        "bad_env" => {
            let e = inprof::start().expect_err("INPROF_CPU_HZ=abc must be refused");
            assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
            assert_eq!(e.status(), inprof::sys::INPROF_ERR_INVALID);
            assert!(e.message().contains("INPROF_CPU_HZ"), "message must name the variable: {e}");
            assert!(e.to_string().contains("INPROF_CPU_HZ"), "Display must name the variable: {e}");
            // Display is the library's message itself (what C logs), and
            // Debug, which `?` from main prints, starts with it: no struct
            // dump, no bare status number.
            assert_eq!(e.to_string(), e.message());
            let dbg = format!("{e:?}");
            assert!(dbg.starts_with(e.message()) && !dbg.contains("status"), "{dbg}");
            assert_eq!(ErrorKind::from_code(e.status()), e.kind());
            assert_eq!(e.kind().code(), inprof::sys::INPROF_ERR_INVALID);
            // The kind's text is the library's inprof_strerror.
            let c_text = unsafe { std::ffi::CStr::from_ptr(inprof::sys::inprof_strerror(e.status())) };
            assert_eq!(e.kind().to_string(), c_text.to_string_lossy());
            println!("bad_env Display: {e}\nbad_env Debug: {e:?}");
            assert!(!inprof::is_running());
            let e2 = Config::from_env().expect_err("from_env must refuse it too");
            assert!(e2.message().contains("INPROF_CPU_HZ"), "{e2}");
            // The process goes on: work, and a start that does not read the
            // bad variable works.
            burn_cpu(Duration::from_millis(20));
            let dir = fresh_dir("bad-env-after");
            let p = local_config(&dir).start().expect("start from code after the bad env");
            p.stop(STOP).unwrap();
        }
        "env_start" => {
            let p = inprof::start().expect("start from the environment");
            assert!(p.is_running());
            // Config::from_env sees the same values.
            let c = Config::from_env().unwrap();
            let dbg = format!("{c:?}");
            assert!(dbg.contains("env-service") && dbg.contains("cpu_hz: 200"), "{dbg}");
            burn_cpu(Duration::from_millis(200));
            drop(p);
        }
        other => panic!("unknown child case {other}"),
    }
    println!("CHILD {case} OK");
}
