//! Heap profiling from Rust: `ProfiledAllocator<System>` is this test
//! binary's global allocator. Known amounts are allocated from known sites
//! (many small blocks, medium blocks, a few multi-MB blocks, and a site whose
//! blocks are all freed), some kept; the exported profile, read with
//! `go tool pprof`, must give per site alloc-space and inuse-space within 10%
//! of the truth and nothing in use at the freeing site.
//!
//! The rate is 32 KiB (not the default 512 KiB) so that ~770 MB gives
//! thousands of samples per site: a 10% miss is > 4.5 sigma. One #[test]
//! only: the profiler and the allocator are process-wide.

use std::alloc::System;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use inprof::{Config, ProfiledAllocator, Upload};

#[global_allocator]
static GLOBAL: ProfiledAllocator<System> = ProfiledAllocator::new(System);

const RATE: u64 = 32 * 1024;

#[derive(Default, Debug)]
struct Truth {
    alloc: f64,
    kept: f64,
}

/// 16..256-byte blocks, one in four kept.
#[inline(never)]
fn site_small(total: f64, keep: &mut Vec<Vec<u8>>, t: &mut Truth) {
    let mut i = 0u64;
    while t.alloc < total {
        let n = 16 + ((i * 37) % 241) as usize;
        let v: Vec<u8> = black_box(Vec::with_capacity(n));
        t.alloc += n as f64;
        if i % 4 == 0 {
            t.kept += n as f64;
            keep.push(v);
        }
        i += 1;
    }
}

/// 8..64 KiB blocks (zeroed: alloc_zeroed), one in four kept.
#[inline(never)]
fn site_medium(total: f64, keep: &mut Vec<Vec<u8>>, t: &mut Truth) {
    let mut i = 0u64;
    while t.alloc < total {
        let n = 8192 + ((i * 7919) % (56 * 1024)) as usize;
        let v: Vec<u8> = black_box(vec![0u8; n]);
        t.alloc += n as f64;
        if i % 4 == 1 {
            t.kept += n as f64;
            keep.push(v);
        }
        i += 1;
    }
}

/// 4 MiB and a little more, one in four kept.
#[inline(never)]
fn site_large(total: f64, keep: &mut Vec<Vec<u8>>, t: &mut Truth) {
    let mut i = 0u64;
    while t.alloc < total {
        let n = (4 << 20) + (i as usize) * 4096;
        let v: Vec<u8> = black_box(Vec::with_capacity(n));
        t.alloc += n as f64;
        if i % 4 == 2 {
            t.kept += n as f64;
            keep.push(v);
        }
        i += 1;
    }
}

/// 1..4 KiB blocks grown by realloc from half their size, all freed.
#[inline(never)]
fn site_freed(total: f64, t: &mut Truth) {
    let mut window: Vec<Vec<u8>> = Vec::with_capacity(1000);
    let mut i = 0u64;
    while t.alloc < total {
        let n = 1024 + ((i * 331) % 3072) as usize;
        let mut v: Vec<u8> = Vec::with_capacity(n / 2);
        v.reserve_exact(n); // realloc: a free of n/2 bytes and an allocation of n
        t.alloc += (n / 2 + v.capacity()) as f64;
        if window.len() == 1000 {
            window.swap_remove((i % 1000) as usize);
        }
        window.push(black_box(v));
        i += 1;
    }
    drop(window);
}

fn go() -> PathBuf {
    std::env::var_os("INPROF_GO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/local/go/bin/go"))
}

/// Per function: cumulative value of one sample type (`go tool pprof -top -cum`).
fn pprof_cum(file: &Path, sample_index: &str) -> Vec<(String, f64)> {
    let out = Command::new(go())
        .args(["tool", "pprof", "-top", "-cum", "-nodecount=100000", "-nodefraction=0"])
        .arg(format!("-sample_index={sample_index}"))
        .arg("-unit=B")
        .arg(file)
        .output()
        .expect("run go tool pprof");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pprof failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.contains("flat%") && line.contains("cum%") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let value = |s: &str| s.trim_end_matches('B').parse::<f64>().unwrap_or(f64::NAN);
        rows.push((f[5..].join(" "), value(f[3])));
    }
    rows
}

/// The cumulative value of the function whose name ends with `::site`.
fn cum_of(rows: &[(String, f64)], site: &str) -> f64 {
    let suffix = format!("::{site}");
    rows.iter().filter(|(n, _)| n.ends_with(&suffix)).map(|(_, v)| *v).fold(0.0, f64::max)
}

#[test]
fn per_site_alloc_and_inuse_within_ten_percent() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("heap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let profiler = Config::new()
        .output_dir(&dir)
        .upload(Upload::Off)
        .service("heap-rs")
        .cpu_hz(0)
        .heap_sample_bytes(RATE)
        .upload_period(Duration::from_secs(3600))
        .start()
        .expect("start");

    // Reserved up front: the keeper's own growth is not one of the sites.
    let mut keep: Vec<Vec<u8>> = Vec::with_capacity(1 << 20);
    let mut truth: [Truth; 4] = Default::default();
    site_small(256e6, &mut keep, &mut truth[0]);
    site_medium(256e6, &mut keep, &mut truth[1]);
    site_large(128e6, &mut keep, &mut truth[2]);
    site_freed(128e6, &mut truth[3]);

    let stats = profiler.stats();
    profiler.flush(Duration::from_secs(30)).expect("flush");
    println!("stats: {stats:?}");
    assert_eq!(stats.heap_samples_dropped, 0);
    assert!(stats.heap_live_samples > 0);

    let file = dir.join(format!("heap-rs-{}-1.pprof.gz", std::process::id()));
    assert!(file.is_file(), "no profile {}", file.display());
    let alloc = pprof_cum(&file, "alloc-space");
    let inuse = pprof_cum(&file, "inuse-space");
    let names = ["site_small", "site_medium", "site_large", "site_freed"];
    let mut failures = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let got_a = cum_of(&alloc, name);
        let got_i = cum_of(&inuse, name);
        let t = &truth[i];
        println!(
            "{name:12} alloc {got_a:12.0} truth {:12.0} ({:+.2}%)  inuse {got_i:12.0} truth {:12.0}",
            t.alloc,
            100.0 * (got_a / t.alloc - 1.0),
            t.kept
        );
        if (got_a / t.alloc - 1.0).abs() > 0.10 {
            failures.push(format!("{name}: alloc-space {got_a} vs {}", t.alloc));
        }
        if t.kept > 0.0 && (got_i / t.kept - 1.0).abs() > 0.10 {
            failures.push(format!("{name}: inuse-space {got_i} vs {}", t.kept));
        }
    }
    if cum_of(&inuse, "site_freed") != 0.0 {
        failures.push(format!("site_freed still in use: {}", cum_of(&inuse, "site_freed")));
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Everything freed: nothing sampled stays live.
    drop(keep);
    let after = profiler.stats();
    // Other test-harness threads may hold a sampled block or two of their own.
    assert!(after.heap_live_samples <= 2, "live after freeing: {}", after.heap_live_samples);
    profiler.stop(Duration::from_secs(10)).expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}
