//! `inprof::tracing::ProfilingLayer` (feature `tracing`): samples taken
//! inside spans carry the span's ids, `span name` and the root's `trace
//! endpoint`; nested spans, out-of-order exits and a span entered on two
//! threads restore the right context; outside spans nothing is left.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use inprof::tracing::ProfilingLayer;
use inprof::{Config, Upload};
use tracing_subscriber::layer::SubscriberExt;

fn go() -> PathBuf {
    let p = Path::new("/usr/local/go/bin/go");
    if p.exists() { p.to_path_buf() } else { PathBuf::from("go") }
}

/// Samples of `go tool pprof -traces`: (labels, frames).
fn traces(file: &Path) -> Vec<(BTreeMap<String, String>, Vec<String>)> {
    let out = Command::new(go())
        .args(["tool", "pprof", "-traces", "-unit=ms", "-sample_index=cpu-time"])
        .arg(file)
        .output()
        .expect("run go tool pprof");
    assert!(out.status.success(), "pprof -traces failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut samples = Vec::new();
    for block in text.split("-----------+-------------------------------------------------------").skip(1) {
        let mut labels = BTreeMap::new();
        let mut frames = Vec::new();
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            let t = line.trim();
            if frames.is_empty() {
                if let Some((k, v)) = line.split_once(":  ") {
                    labels.insert(k.trim().to_string(), v.trim().to_string());
                    continue;
                }
                // "<value>ms   <leaf frame>"
                frames.push(t.split_once(char::is_whitespace).map(|(_, f)| f.trim()).unwrap_or("").to_string());
            } else {
                frames.push(t.to_string());
            }
        }
        samples.push((labels, frames));
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

// Distinct seeds keep the compiler from merging these into one symbol.
const PHASE: Duration = Duration::from_millis(350);
#[inline(never)]
fn tl_root_only() -> u64 {
    burn(PHASE, 1)
}
#[inline(never)]
fn tl_in_child() -> u64 {
    burn(PHASE, 2)
}
#[inline(never)]
fn tl_back_in_root() -> u64 {
    burn(PHASE, 3)
}
#[inline(never)]
fn tl_outside() -> u64 {
    burn(PHASE, 4)
}
#[inline(never)]
fn tl_out_of_order() -> u64 {
    burn(PHASE, 5)
}
#[inline(never)]
fn tl_recorded_endpoint() -> u64 {
    burn(PHASE, 6)
}
#[inline(never)]
fn tl_other_thread() -> u64 {
    burn(PHASE * 2, 7)
}

#[test]
fn samples_carry_span_context() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tracing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profiler =
        Config::new().output_dir(&dir).upload(Upload::Off).service("inprof-tracing-test").cpu_hz(250).start().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(ProfilingLayer::new()));

    tracing::dispatcher::with_default(&dispatch, || {
        let root = tracing::info_span!("request", http.route = "/users/{id}");
        // The same root entered on another thread at the same time.
        let (root2, d2) = (root.clone(), dispatch.clone());
        let other = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d2, || {
                let _e = root2.enter();
                tl_other_thread();
            })
        });
        {
            let _r = root.enter();
            tl_root_only();
            {
                let child = tracing::info_span!("db_query");
                let _c = child.enter();
                tl_in_child();
            }
            tl_back_in_root();
        }
        tl_outside();
        // Exits out of order: the outer span's guard is dropped first.
        let alpha = tracing::info_span!("alpha");
        let a = alpha.enter();
        let beta = tracing::info_span!("beta");
        let b = beta.enter();
        drop(a);
        tl_out_of_order();
        drop(b);
        let job = tracing::info_span!("job", resource.name = tracing::field::Empty);
        job.record("resource.name", "nightly-report");
        job.in_scope(tl_recorded_endpoint);
        other.join().unwrap();
    });
    profiler.stop(Duration::from_secs(10)).unwrap();

    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let samples = traces(&files[0]);
    // Per phase: the one set of (span name, root, span, endpoint) its
    // samples carry; every sample of a phase must carry the same.
    let ctx = |phase: &str| -> (usize, Vec<[Option<String>; 4]>) {
        let mut seen: Vec<[Option<String>; 4]> = Vec::new();
        let mut n = 0;
        for (labels, frames) in &samples {
            if !frames.iter().any(|f| f.ends_with(&format!("::{phase}"))) {
                continue;
            }
            n += 1;
            let c = ["span name", "local root span id", "span id", "trace endpoint"].map(|k| labels.get(k).cloned());
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        assert!(n >= 10, "{phase}: only {n} samples");
        (n, seen)
    };
    let one = |phase: &str| {
        let (n, seen) = ctx(phase);
        assert_eq!(seen.len(), 1, "{phase}: {n} samples with different contexts: {seen:?}");
        seen.into_iter().next().unwrap()
    };
    let s = |v: &str| Some(v.to_string());

    let root = one("tl_root_only");
    assert_eq!(root[0], s("request"));
    assert!(root[1].is_some() && root[1] == root[2], "a root is its own local root: {root:?}");
    assert_eq!(root[3], s("/users/{id}"));
    let child = one("tl_in_child");
    assert_eq!(child[0], s("db_query"));
    assert_eq!(child[1], root[1], "the child's local root is the request span");
    assert!(child[2].is_some() && child[2] != root[2]);
    assert_eq!(child[3], root[3], "the root's endpoint");
    assert_eq!(one("tl_back_in_root"), root, "exiting the child restores the root's context");
    assert_eq!(one("tl_outside"), [None, None, None, None], "nothing left outside spans");
    let beta = one("tl_out_of_order");
    assert_eq!(beta[0], s("beta"), "after alpha's out-of-order exit, beta is still entered");
    assert!(beta[1].is_some() && beta[1] != beta[2], "beta is alpha's child: {beta:?}");
    assert_eq!(beta[3], s("alpha"), "a root without route or resource: its name is the endpoint");
    let job = one("tl_recorded_endpoint");
    assert_eq!(job[0], s("job"));
    assert_eq!(job[3], s("nightly-report"), "resource.name recorded after creation");
    assert_eq!(one("tl_other_thread"), root, "the same span entered on another thread");
    let ids: Vec<_> = [&root, &child, &beta, &job].iter().map(|c| c[2].clone()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "span ids are unique: {ids:?}");
}
