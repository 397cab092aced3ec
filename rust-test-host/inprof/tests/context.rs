//! The context API from Rust: label guards restore exactly what was there
//! before (nested, overridden, dropped out of order), errors change nothing,
//! and a profile's samples carry the labels, span ids and endpoint that
//! were set on their thread when they were taken.
//!
//! Label state is per thread and every test runs on its own thread, so the
//! tests below do not disturb each other; only the profiling test starts the
//! (process-global) profiler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use inprof::{current_labels, labels, sys, with_labels, Config, ErrorKind, Upload};

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    p.sort();
    p
}

#[test]
fn guards_restore_previous_labels() {
    assert!(current_labels().is_empty());
    let outer = labels(&[("tenant", "a"), ("job", "export")]).unwrap();
    assert_eq!(current_labels(), pairs(&[("job", "export"), ("tenant", "a")]));
    {
        let _inner = labels(&[("tenant", "b")]).unwrap();
        assert_eq!(current_labels(), pairs(&[("job", "export"), ("tenant", "b")]));
    }
    assert_eq!(current_labels(), pairs(&[("job", "export"), ("tenant", "a")]));
    // Out of order: the outer guard goes first; the inner one's value stays.
    let inner = labels(&[("tenant", "c"), ("user", "x")]).unwrap();
    drop(outer);
    assert_eq!(current_labels(), pairs(&[("tenant", "c"), ("user", "x")]));
    drop(inner);
    assert!(current_labels().is_empty());
    // A key repeated in one call takes its last value, and is one key.
    let g = labels(&[("k", "1"), ("k", "2")]).unwrap();
    assert_eq!(current_labels(), pairs(&[("k", "2")]));
    drop(g);
    // with_labels: set inside, restored after, also on panic.
    let seen = with_labels(&[("phase", "inside")], current_labels);
    assert_eq!(seen, pairs(&[("phase", "inside")]));
    assert!(current_labels().is_empty());
    let r = std::panic::catch_unwind(|| with_labels(&[("phase", "panics")], || panic!("boom")));
    assert!(r.is_err());
    assert!(current_labels().is_empty());
}

/// The C side's view: a thread holds at most INPROF_MAX_LABELS keys, so
/// whether a new key is accepted tells whether the library still holds the
/// keys this crate believes it holds.
#[test]
fn library_sees_what_guards_set_and_restore() {
    let max = sys::INPROF_MAX_LABELS as usize;
    let keys: Vec<String> = (0..max).map(|i| format!("key{i}")).collect();
    let guards: Vec<_> = keys.iter().map(|k| labels(&[(k.as_str(), "v")]).unwrap()).collect();
    let err = labels(&[("one-too-many", "v")]).unwrap_err();
    assert_eq!(err.status(), sys::INPROF_ERR_LIMIT, "{err:?}");
    // Overriding a key already held takes no new slot.
    let over = labels(&[("key0", "w")]).expect("override of a held key");
    drop(over);
    assert_eq!(current_labels().iter().find(|(k, _)| k == "key0").unwrap().1, "v");
    // Dropping a guard frees the key in the library: a new one fits.
    let mut guards = guards;
    drop(guards.pop());
    let fits = labels(&[("new", "v")]).expect("a key freed by a dropped guard");
    // A failing call in the middle undoes its earlier pairs: `new` and
    // three old keys are held; ("extra", ok) would be the 5th key.
    drop(fits);
    let err = labels(&[("extra", "v"), ("bad", &"x".repeat(128))]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err:?}");
    let ok = labels(&[("extra2", "v")]).expect("the failed call's first pair was undone");
    drop(ok);
    drop(guards);
    assert!(current_labels().is_empty());
    // All removed in the library too: four new keys fit again.
    let again: Vec<_> = (0..max).map(|i| labels(&[(format!("again{i}").as_str(), "v")]).unwrap()).collect();
    drop(again);
}

#[test]
fn invalid_labels_are_errors_and_change_nothing() {
    let _g = labels(&[("tenant", "a")]).unwrap();
    let long_key = "k".repeat(sys::INPROF_MAX_LABEL_KEY_BYTES as usize + 1);
    let long_value = "v".repeat(sys::INPROF_MAX_LABEL_VALUE_BYTES as usize + 1);
    let max_key = "k".repeat(sys::INPROF_MAX_LABEL_KEY_BYTES as usize);
    let max_value = "v".repeat(sys::INPROF_MAX_LABEL_VALUE_BYTES as usize);
    for bad in [
        vec![("", "v")],
        vec![(long_key.as_str(), "v")],
        vec![("tenant", long_value.as_str())],
        vec![("te\0nant", "v")],
        vec![("tenant", "b\0")],
        vec![("tenant", "b"), ("", "v")],
    ] {
        let err = labels(&bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{bad:?}: {err:?}");
        assert!(!err.message().is_empty());
        assert_eq!(current_labels(), pairs(&[("tenant", "a")]), "after {bad:?}");
    }
    let g = labels(&[(max_key.as_str(), max_value.as_str())]).expect("labels at the maximum lengths");
    drop(g);
    assert_eq!(current_labels(), pairs(&[("tenant", "a")]));
}

// ---------------------------------------------------------------- profile

fn go() -> PathBuf {
    let p = Path::new("/usr/local/go/bin/go");
    if p.exists() { p.to_path_buf() } else { PathBuf::from("go") }
}

/// One sample of `go tool pprof -traces`: its labels and its frames.
#[derive(Debug)]
pub struct TraceSample {
    pub labels: BTreeMap<String, String>,
    pub frames: Vec<String>,
    pub value_ms: f64,
}

/// Parses `go tool pprof -traces` output: blocks separated by dashed lines,
/// `key:  value` label lines, then the value and the leaf frame on one line
/// and the callers below.
pub fn traces(file: &Path, sample_index: &str) -> Vec<TraceSample> {
    let out = Command::new(go())
        .args(["tool", "pprof", "-traces", "-unit=ms"])
        .arg(format!("-sample_index={sample_index}"))
        .arg(file)
        .output()
        .expect("run go tool pprof");
    assert!(out.status.success(), "pprof -traces failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut samples = Vec::new();
    for block in text.split("-----------+-------------------------------------------------------").skip(1) {
        let mut s = TraceSample { labels: BTreeMap::new(), frames: Vec::new(), value_ms: 0.0 };
        for line in block.lines() {
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            if s.frames.is_empty() && s.value_ms == 0.0 {
                // Label lines: "key:  value" right-aligned keys; values of
                // numeric labels come as "123" (no unit).
                if let Some((k, v)) = line.split_once(":  ").filter(|(k, _)| !k.trim().is_empty() && !k.contains("ms")) {
                    s.labels.insert(k.trim().to_string(), v.trim().trim_matches(|c| c == '[' || c == ']').to_string());
                    continue;
                }
                let mut it = t.splitn(2, char::is_whitespace);
                let v = it.next().unwrap();
                s.value_ms = v.strip_suffix("ms").unwrap_or(v).parse().unwrap_or(0.0);
                s.frames.push(it.next().unwrap_or("").trim().to_string());
            } else {
                s.frames.push(t.to_string());
            }
        }
        if !s.frames.is_empty() {
            samples.push(s);
        }
    }
    samples
}

/// This thread's CPU time (no libc crate here).
fn thread_cpu() -> Duration {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer; cannot fail for this clock on Linux.
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Burns `d` of this thread's CPU time (not wall time: on a loaded
/// machine a phase still gets its samples). Inlined, so that each phase
/// function does the work itself (a tail call would leave it off stacks).
#[inline(always)]
fn burn(d: Duration, seed: u64) -> u64 {
    let end = thread_cpu() + d;
    let mut x = seed;
    while thread_cpu() < end {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

const PHASE: Duration = Duration::from_millis(400);
// Each phase passes its own seed: functions with identical bodies would be
// merged into one symbol by the compiler, and the phases told apart by
// their frames no more.

#[inline(never)]
fn phase_unlabelled() -> u64 {
    burn(PHASE, 1)
}
#[inline(never)]
fn phase_tenant_a() -> u64 {
    burn(PHASE, 2)
}
#[inline(never)]
fn phase_tenant_b_user_x() -> u64 {
    burn(PHASE, 3)
}
#[inline(never)]
fn phase_outer_dropped() -> u64 {
    burn(PHASE, 4)
}
#[inline(never)]
fn phase_span() -> u64 {
    burn(PHASE, 5)
}
#[inline(never)]
fn phase_cleared() -> u64 {
    burn(PHASE, 6)
}

#[test]
fn samples_carry_the_context_of_their_thread() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("context-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profiler =
        Config::new().output_dir(&dir).upload(Upload::Off).service("inprof-context-test").cpu_hz(250).start().unwrap();
    // A second thread with other labels at the same time: never mixed in.
    let other = std::thread::spawn(|| {
        with_labels(&[("tenant", "other-thread")], || {
            inprof::set_span(999, 998);
            std::hint::black_box(burn(PHASE * 2, 99));
            inprof::set_span(0, 0);
        })
    });
    phase_unlabelled();
    let outer = labels(&[("tenant", "a")]).unwrap();
    phase_tenant_a();
    let inner = labels(&[("tenant", "b"), ("user", "x")]).unwrap();
    phase_tenant_b_user_x();
    drop(outer);
    phase_outer_dropped();
    drop(inner);
    inprof::set_span(41, 42);
    inprof::set_endpoint(41, "GET /things");
    phase_span();
    inprof::set_span(0, 0);
    phase_cleared();
    other.join().unwrap();
    profiler.stop(Duration::from_secs(10)).unwrap();

    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let samples = traces(&files[0], "cpu-time");
    let expect: [(&str, &[(&str, &str)]); 6] = [
        ("phase_unlabelled", &[]),
        ("phase_tenant_a", &[("tenant", "a")]),
        ("phase_tenant_b_user_x", &[("tenant", "b"), ("user", "x")]),
        ("phase_outer_dropped", &[("tenant", "b"), ("user", "x")]),
        ("phase_span", &[("local root span id", "41"), ("span id", "42"), ("trace endpoint", "GET /things")]),
        ("phase_cleared", &[]),
    ];
    // Labels the library adds to every CPU sample (timeline): not ours.
    let ignored = ["thread id", "thread name", "end_timestamp_ns"];
    let mut report = String::new();
    let mut failures = Vec::new();
    for (phase, want) in expect {
        let want: BTreeMap<String, String> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut n = 0;
        let mut wrong = 0;
        for s in samples.iter().filter(|s| s.frames.iter().any(|f| f.ends_with(&format!("::{phase}")))) {
            n += 1;
            let got: BTreeMap<String, String> =
                s.labels.iter().filter(|(k, _)| !ignored.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
            if got != want {
                wrong += 1;
                if wrong <= 3 {
                    failures.push(format!("{phase}: sample labels {got:?}, expected {want:?}"));
                }
            }
        }
        report += &format!("{phase}: {n} samples, {wrong} with other labels\n");
        if n < 10 {
            failures.push(format!("{phase}: only {n} samples"));
        }
    }
    // The other thread's samples: its own labels only.
    let theirs: Vec<&TraceSample> = samples.iter().filter(|s| s.labels.get("tenant").map(String::as_str) == Some("other-thread")).collect();
    assert!(theirs.len() >= 10, "other thread: {} samples\n{report}", theirs.len());
    for s in &theirs {
        assert_eq!(s.labels.get("span id").map(String::as_str), Some("998"), "{s:?}");
        assert!(!s.frames.iter().any(|f| f.contains("::phase_")), "{s:?}");
    }
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
    println!("{report}");
}
