//! ns per call of the context API from Rust (BENCHMARKS.md, "Context"):
//! an `inprof::labels` guard made and dropped (one label, then nested under
//! an outer guard), `inprof::set_span`, and the raw `inprof_set_label`
//! set + remove pair that a guard wraps, side by side in one run.
//!
//!   cargo run --release -p inprof --example bench_labels [-- ITERATIONS]
//!
//! Each case runs 7 times; the median ns per iteration is printed. The
//! profiler is started (99 Hz, no output) so that the calls take the same
//! path as in a profiled service.

use std::hint::black_box;
use std::time::Instant;

fn median_ns(iters: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for i in 0..iters {
                f(black_box(i));
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[3]
}

fn main() {
    let iters: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("inprof-bench-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _p = inprof::Config::new().output_dir(&dir).upload(inprof::Upload::Off).start().ok();
    let values = ["a", "b", "c", "d"];

    let guard1 = median_ns(iters, |i| {
        let _g = inprof::labels(&[("tenant", values[(i & 3) as usize])]).unwrap();
    });
    let outer = inprof::labels(&[("service", "bench")]).unwrap();
    let guard_nested = median_ns(iters, |i| {
        let _g = inprof::labels(&[("tenant", values[(i & 3) as usize])]).unwrap();
    });
    drop(outer);
    let guard2 = median_ns(iters, |i| {
        let _g = inprof::labels(&[("tenant", values[(i & 3) as usize]), ("span name", "job")]).unwrap();
    });
    let set_span = median_ns(iters, |i| inprof::set_span(i | 1, i + 7));
    inprof::set_span(0, 0);
    let cvals: [&[u8]; 4] = [b"a\0", b"b\0", b"c\0", b"d\0"];
    let raw = median_ns(iters, |i| unsafe {
        inprof::sys::inprof_set_label(b"tenant\0".as_ptr().cast(), cvals[(i & 3) as usize].as_ptr().cast());
        inprof::sys::inprof_set_label(b"tenant\0".as_ptr().cast(), std::ptr::null());
    });
    println!("iterations per run: {iters} (median of 7 runs)");
    println!("inprof::labels guard, 1 label (make + drop):        {guard1:6.1} ns");
    println!("inprof::labels guard, 1 label under an outer guard:  {guard_nested:6.1} ns");
    println!("inprof::labels guard, 2 labels (make + drop):        {guard2:6.1} ns");
    println!("raw inprof_set_label set + remove (what 1 label costs in C): {raw:6.1} ns");
    println!("inprof::set_span:                                    {set_span:6.1} ns");
    drop(_p);
    let _ = std::fs::remove_dir_all(&dir);
}
