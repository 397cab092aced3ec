//! The inline fast path of `ProfiledAllocator` (countdown and free filter
//! decided in Rust, C called only for the rare cases) must neither lose a
//! sampled free nor miscount allocations:
//! - threads allocate known sizes through the global allocator, keep them,
//!   then free everything (some on another thread, some through realloc):
//!   the live samples must come back to where they were, so every sampled
//!   block's free reached C (a wrong hash or word index in the Rust filter
//!   check would leave them live);
//! - the number of samples taken over a known allocation pattern must match
//!   its expectation, sum over blocks of 1 - exp(-size/rate), within 5 sigma
//!   (a countdown that is never lowered, or lowered twice, or never re-armed,
//!   is far outside).
//!
//! Its own test binary (one #[test]): the allocator and the profiler are
//! process-wide.

use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use inprof::{Config, ProfiledAllocator, Upload};

#[global_allocator]
static GLOBAL: ProfiledAllocator<System> = ProfiledAllocator::new(System);

const RATE: u64 = 16 * 1024;
const THREADS: usize = 4;
const BLOCKS: usize = 20_000;

fn size_of_block(t: usize, i: usize) -> usize {
    // 8 B .. ~12 KiB, deterministic per (thread, index).
    let x = (i as u64 ^ ((t as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    8 + (x >> 51) as usize
}

/// Expected samples of one thread's pattern (allocations only; frees never sample).
fn expected(t: usize) -> (f64, f64) {
    let mut mean = 0.0;
    let mut var = 0.0;
    for i in 0..BLOCKS {
        let s = size_of_block(t, i) as f64;
        let p = 1.0 - (-s / RATE as f64).exp();
        mean += p;
        var += p * (1.0 - p);
        if i % 3 == 0 {
            // grown by realloc to twice its size: a free and an allocation
            let s2 = 2.0 * s;
            let p2 = 1.0 - (-s2 / RATE as f64).exp();
            mean += p2;
            var += p2 * (1.0 - p2);
        }
    }
    (mean, var)
}

#[test]
fn inline_fast_path_keeps_every_sampled_free_and_counts() {
    let profiler = Config::new()
        .upload(Upload::Off)
        .service("heap-inline-rs")
        .cpu_hz(0)
        .heap_sample_bytes(RATE)
        .upload_period(Duration::from_secs(3600))
        .start()
        .expect("start");

    // Let every thread's first countdown be drawn at this rate before
    // counting (a thread's first allocation after start begins its process).
    let before = profiler.stats();

    let (tx, rx) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut kept: Vec<Vec<u8>> = Vec::with_capacity(BLOCKS);
                for i in 0..BLOCKS {
                    let n = size_of_block(t, i);
                    let mut v: Vec<u8> = Vec::with_capacity(n);
                    if i % 3 == 0 {
                        v.reserve_exact(2 * n); // realloc: free n, allocate 2n
                    }
                    kept.push(black_box(v));
                }
                // Half freed here, half handed to the main thread to free.
                let other = kept.split_off(BLOCKS / 2);
                tx.send(other).unwrap();
                drop(kept);
            })
        })
        .collect();
    drop(tx);
    let handed: Vec<Vec<Vec<u8>>> = rx.iter().collect();
    for w in workers {
        w.join().unwrap();
    }
    let mid = profiler.stats();
    drop(handed);
    let after = profiler.stats();

    let (mut mean, mut var) = (0.0, 0.0);
    for t in 0..THREADS {
        let (m, v) = expected(t);
        mean += m;
        var += v;
    }
    // The kept vectors' own buffers (4 × BLOCKS pointers) and the channel's
    // allocations are sampled too; they are counted on top of the pattern.
    let extra_bytes = (THREADS * BLOCKS * std::mem::size_of::<Vec<u8>>() * 2) as f64;
    let extra = extra_bytes / RATE as f64 + 16.0;
    let got = (mid.heap_samples - before.heap_samples) as f64;
    let sigma = var.sqrt();
    println!("samples {got} expected {mean:.0} ± {sigma:.0} (+ up to {extra:.0} for the test's own containers)");
    assert_eq!(mid.heap_samples_dropped, before.heap_samples_dropped, "samples dropped");
    assert!(got >= mean - 5.0 * sigma, "too few samples: {got} vs {mean:.0} ± {sigma:.0}");
    assert!(got <= mean + 5.0 * sigma + extra, "too many samples: {got} vs {mean:.0} ± {sigma:.0}");

    // While everything was held, the kept half was live; after freeing it
    // all, nothing sampled by the pattern stays live (other harness
    // allocations may hold a sampled block or two).
    println!(
        "live samples: before {} mid {} after {}",
        before.heap_live_samples, mid.heap_live_samples, after.heap_live_samples
    );
    assert!(mid.heap_live_samples > before.heap_live_samples + (mean / 4.0) as u64);
    assert!(
        after.heap_live_samples <= before.heap_live_samples + 2,
        "sampled blocks still live after freeing everything: {} (before {})",
        after.heap_live_samples,
        before.heap_live_samples
    );
    profiler.stop(Duration::from_secs(10)).expect("stop");
}
