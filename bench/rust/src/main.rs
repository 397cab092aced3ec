//! rustbench: at-daemon's jobs under inprof and under its Rust peers.
//!
//! The jobs are at-daemon's own (`jobs.rs` is compiled in from
//! rust-test-host by path, not copied). Each worker thread runs a fixed
//! number of rounds of the ten-job pattern PPPPHHHSSC (parse, hash, sort,
//! compress), so every run does the same work and wall/CPU times compare.
//!
//! ```text
//! rustbench run --profiler off|inprof|pprof [--hz H] [--heap-bytes B]
//!               [--threads T] [--rounds N] [--outdir DIR]
//! rustbench export --profiler off|inprof [--hz H] [--threads T]
//!               [--periods P] [--period-ms MS] [--outdir DIR]
//! rustbench heap [--heap-bytes B] [--rounds N]
//! ```
//!
//! `heap` measures the allocator hooks from Rust, in one process with the
//! variants interleaved: `System` alone, `ProfiledAllocator<System>` (the
//! inline fast path) and `System` plus the out-of-line C hooks
//! (`inprof_record_alloc`/`inprof_record_free` on every call, what the
//! wrapper did before the inline path), heap profiling on at B bytes (default
//! 512 KiB, CPU off): ns per alloc+free pair of 64 bytes, and the throughput
//! of an allocation-bound loop (mixed sizes, a 256-block working set).
//!
//! The global allocator is chosen at start by BENCH_ALLOC: `system`
//! (default), `inprof` (inprof's ProfiledAllocator over the system
//! allocator) or `jemalloc` (tikv-jemallocator, built with profiling;
//! `_RJEM_MALLOC_CONF=prof:true,lg_prof_sample:19` turns its sampling on).
//!
//! Every command prints one `RESULT key=value ...` line.

#[path = "../../../rust-test-host/at-daemon/src/jobs.rs"]
#[allow(dead_code)]
mod jobs;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use jobs::Kind;

// ------------------------------------------------------------ allocator

const ALLOC_UNSET: u8 = 0;
const ALLOC_SYSTEM: u8 = 1;
const ALLOC_INPROF: u8 = 2;
const ALLOC_JEMALLOC: u8 = 3;

static ALLOC_MODE: AtomicU8 = AtomicU8::new(ALLOC_UNSET);
static INPROF_ALLOC: inprof::ProfiledAllocator<System> = inprof::ProfiledAllocator::new(System);
static JEMALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Dispatches to one allocator for the whole life of the process. The mode
/// is read with getenv (which does not allocate) at the first allocation,
/// while the process is still single-threaded, so no block is ever freed by
/// another allocator than the one that made it.
struct Dispatch;

#[inline(always)]
fn alloc_mode() -> u8 {
    let m = ALLOC_MODE.load(Ordering::Relaxed);
    if m != ALLOC_UNSET {
        return m;
    }
    init_alloc_mode()
}

#[cold]
fn init_alloc_mode() -> u8 {
    let v = unsafe { libc::getenv(c"BENCH_ALLOC".as_ptr()) };
    let m = if v.is_null() {
        ALLOC_SYSTEM
    } else {
        match unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes() {
            b"inprof" => ALLOC_INPROF,
            b"jemalloc" => ALLOC_JEMALLOC,
            _ => ALLOC_SYSTEM,
        }
    };
    ALLOC_MODE.store(m, Ordering::Relaxed);
    m
}

unsafe impl GlobalAlloc for Dispatch {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        match alloc_mode() {
            ALLOC_INPROF => INPROF_ALLOC.alloc(l),
            ALLOC_JEMALLOC => JEMALLOC.alloc(l),
            _ => System.alloc(l),
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        match alloc_mode() {
            ALLOC_INPROF => INPROF_ALLOC.alloc_zeroed(l),
            ALLOC_JEMALLOC => JEMALLOC.alloc_zeroed(l),
            _ => System.alloc_zeroed(l),
        }
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        match alloc_mode() {
            ALLOC_INPROF => INPROF_ALLOC.dealloc(p, l),
            ALLOC_JEMALLOC => JEMALLOC.dealloc(p, l),
            _ => System.dealloc(p, l),
        }
    }
    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        match alloc_mode() {
            ALLOC_INPROF => INPROF_ALLOC.realloc(p, l, new),
            ALLOC_JEMALLOC => JEMALLOC.realloc(p, l, new),
            _ => System.realloc(p, l, new),
        }
    }
}

#[global_allocator]
static GLOBAL: Dispatch = Dispatch;

// ------------------------------------------------------------ measuring

fn tv_ns(tv: libc::timeval) -> u64 {
    tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000
}

/// user + system CPU of RUSAGE_SELF or RUSAGE_THREAD, in ns.
fn rusage_ns(who: libc::c_int) -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0;
    }
    tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime)
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const PATTERN: [Kind; 10] = [
    Kind::ParseRecords,
    Kind::ParseRecords,
    Kind::ParseRecords,
    Kind::ParseRecords,
    Kind::HashBlocks,
    Kind::HashBlocks,
    Kind::HashBlocks,
    Kind::SortBatches,
    Kind::SortBatches,
    Kind::CompressChunks,
];

fn round(seed: u64) -> u64 {
    let mut acc = 0u64;
    for (i, k) in PATTERN.iter().enumerate() {
        acc ^= std::hint::black_box(k.run(seed * 16 + i as u64));
    }
    acc
}

// ------------------------------------------------------------ arguments

struct Args {
    cmd: String,
    profiler: String,
    hz: u32,
    heap_bytes: u64,
    threads: usize,
    rounds: u64,
    periods: u32,
    period_ms: u64,
    outdir: Option<String>,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        cmd: it.next().unwrap_or_default(),
        profiler: "off".into(),
        hz: 99,
        heap_bytes: 0,
        threads: 2,
        rounds: 20,
        periods: 4,
        period_ms: 2000,
        outdir: None,
    };
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| die(&format!("{flag}: not a number: {v}")));
        match flag.as_str() {
            "--profiler" => a.profiler = v,
            "--hz" => a.hz = num(&v) as u32,
            "--heap-bytes" => a.heap_bytes = num(&v),
            "--threads" => a.threads = num(&v) as usize,
            "--rounds" => a.rounds = num(&v),
            "--periods" => a.periods = num(&v) as u32,
            "--period-ms" => a.period_ms = num(&v),
            "--outdir" => a.outdir = Some(v),
            _ => die(&format!("unknown argument {flag}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("rustbench: {msg}");
    std::process::exit(2)
}

fn start_inprof(a: &Args, heap_bytes: u64) -> inprof::Profiler {
    let mut cfg = inprof::Config::new()
        .service("rustbench")
        .cpu_hz(a.hz)
        .heap_sample_bytes(heap_bytes)
        .upload(inprof::Upload::Off)
        .upload_period(Duration::from_secs(3600));
    if let Some(d) = &a.outdir {
        cfg = cfg.output_dir(d);
    }
    cfg.start().unwrap_or_else(|e| die(&format!("inprof: {e}")))
}

fn alloc_name() -> &'static str {
    match alloc_mode() {
        ALLOC_INPROF => "inprof",
        ALLOC_JEMALLOC => "jemalloc",
        _ => "system",
    }
}

/// jemalloc's own view of its profiling options (proves the sampling is on).
fn jemalloc_prof() -> String {
    if alloc_mode() != ALLOC_JEMALLOC {
        return String::new();
    }
    let prof: bool = unsafe { tikv_jemalloc_ctl::raw::read(b"opt.prof\0") }.unwrap_or(false);
    let lg: usize = unsafe { tikv_jemalloc_ctl::raw::read(b"opt.lg_prof_sample\0") }.unwrap_or(0);
    format!(" jemalloc_prof={} jemalloc_lg_prof_sample={}", prof as u8, lg)
}

// ------------------------------------------------------------ commands

/// Fixed work on `threads` workers; returns (wall, process CPU, workers' CPU).
fn run_workers(threads: usize, rounds: u64) -> (u64, u64, u64) {
    let wall0 = Instant::now();
    let cpu0 = rusage_ns(libc::RUSAGE_SELF);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            thread::Builder::new()
                .name(format!("bw-{i}"))
                .spawn(move || {
                    let mut acc = 0u64;
                    for r in 0..rounds {
                        acc ^= round(1 + i as u64 * 1_000_003 + r);
                    }
                    std::hint::black_box(acc);
                    rusage_ns(libc::RUSAGE_THREAD)
                })
                .unwrap()
        })
        .collect();
    let workers_cpu: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let wall = wall0.elapsed().as_nanos() as u64;
    (wall, rusage_ns(libc::RUSAGE_SELF) - cpu0, workers_cpu)
}

fn cmd_run(a: &Args) {
    let mut extra = String::new();
    match a.profiler.as_str() {
        "off" => {
            let (wall, cpu, wcpu) = run_workers(a.threads, a.rounds);
            let rss = status_kib("VmRSS");
            print_run(a, wall, cpu, wcpu, rss, &extra);
        }
        "inprof" => {
            let p = start_inprof(a, a.heap_bytes);
            let (wall, cpu, wcpu) = run_workers(a.threads, a.rounds);
            let rss = status_kib("VmRSS");
            let s = p.stats();
            extra = format!(
                " inprof_samples={} inprof_dropped={} inprof_overruns={} heap_samples={} heap_dropped={}",
                s.cpu_samples, s.cpu_samples_dropped, s.cpu_timer_overruns, s.heap_samples, s.heap_samples_dropped
            );
            p.stop(Duration::from_secs(30)).unwrap_or_else(|e| die(&format!("inprof stop: {e}")));
            print_run(a, wall, cpu, wcpu, rss, &extra);
        }
        "pprof" => {
            let guard = pprof::ProfilerGuardBuilder::default()
                .frequency(a.hz as i32)
                .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                .build()
                .unwrap_or_else(|e| die(&format!("pprof: {e}")));
            let (wall, cpu, wcpu) = run_workers(a.threads, a.rounds);
            let rss = status_kib("VmRSS");
            let report = guard.report().build_unresolved().unwrap_or_else(|e| die(&format!("pprof report: {e}")));
            drop(guard);
            let mut total = 0i64;
            let mut workers = 0i64;
            for (frames, n) in &report.data {
                total += *n as i64;
                let name = &frames.thread_name[..frames.thread_name_length];
                if name.starts_with(b"bw-") {
                    workers += *n as i64;
                }
            }
            extra = format!(" pprof_samples={total} pprof_worker_samples={workers}");
            print_run(a, wall, cpu, wcpu, rss, &extra);
        }
        other => die(&format!("unknown profiler {other}")),
    }
}

fn print_run(a: &Args, wall: u64, cpu: u64, wcpu: u64, rss: u64, extra: &str) {
    println!(
        "RESULT cmd=run profiler={} alloc={} hz={} heap_bytes={} threads={} rounds={} wall_ns={wall} \
         cpu_ns={cpu} workers_cpu_ns={wcpu} rss_kib={rss}{extra}{}",
        a.profiler,
        alloc_name(),
        a.hz,
        a.heap_bytes,
        a.threads,
        a.rounds,
        jemalloc_prof()
    );
}

/// Workers run jobs continuously; every period the main thread asks inprof
/// for an export and times it (symbolize + encode + gzip + write).
fn cmd_export(a: &Args) {
    let profiler = match a.profiler.as_str() {
        "inprof" => Some(start_inprof(a, if a.heap_bytes > 0 { a.heap_bytes } else { 524288 })),
        "off" => None,
        other => die(&format!("unknown profiler {other}")),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..a.threads)
        .map(|i| {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name(format!("bw-{i}"))
                .spawn(move || {
                    let mut r = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::black_box(round(1 + i as u64 * 1_000_003 + r));
                        r += 1;
                    }
                })
                .unwrap()
        })
        .collect();
    let mut flush_ns = Vec::new();
    let mut collector_cpu = Vec::new();
    for _ in 0..a.periods {
        thread::sleep(Duration::from_millis(a.period_ms));
        if let Some(p) = &profiler {
            let c0 = rusage_ns(libc::RUSAGE_SELF);
            let t0 = Instant::now();
            p.flush(Duration::from_secs(30)).unwrap_or_else(|e| die(&format!("inprof flush: {e}")));
            flush_ns.push(t0.elapsed().as_nanos() as u64);
            collector_cpu.push(rusage_ns(libc::RUSAGE_SELF) - c0);
        }
    }
    let rss = status_kib("VmRSS");
    let hwm = status_kib("VmHWM");
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let list = |v: &[u64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let mut extra = String::new();
    if let Some(p) = profiler {
        let s = p.stats();
        extra = format!(
            " flush_ns={} flush_cpu_ns={} profiles_written={} inprof_samples={} heap_samples={}",
            list(&flush_ns),
            list(&collector_cpu),
            s.profiles_written,
            s.cpu_samples,
            s.heap_samples
        );
        p.stop(Duration::from_secs(30)).unwrap_or_else(|e| die(&format!("inprof stop: {e}")));
    }
    println!(
        "RESULT cmd=export profiler={} alloc={} hz={} threads={} periods={} period_ms={} rss_kib={rss} hwm_kib={hwm}{extra}",
        a.profiler,
        alloc_name(),
        a.hz,
        a.threads,
        a.periods,
        a.period_ms
    );
}

fn main() {
    let a = parse_args();
    match a.cmd.as_str() {
        "run" => cmd_run(&a),
        "export" => cmd_export(&a),
        "heap" => cmd_heap(&a),
        _ => die("usage: rustbench run|export|heap [--profiler off|inprof|pprof] ..."),
    }
}

// ------------------------------------------------------------ heap hooks

/// `System` with the out-of-line C hooks on every call: the reference the
/// inline fast path of `ProfiledAllocator` is compared with.
struct Hooked;

unsafe impl GlobalAlloc for Hooked {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            inprof::sys::inprof_record_alloc(p.cast(), l.size());
        }
        p
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        inprof::sys::inprof_record_free(p.cast());
        System.dealloc(p, l)
    }
}

/// This thread's CPU time in ns: the pair loop is what this thread pays,
/// and the machine is shared (wall time mostly measures the scheduler).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// alloc+free pairs of 64 bytes through `a`; thread CPU ns for n pairs.
#[inline(never)]
fn heap_pairs<A: GlobalAlloc>(a: &A, n: u64) -> u64 {
    let l = Layout::from_size_align(64, 8).unwrap();
    let t0 = thread_cpu_ns();
    for _ in 0..n {
        // SAFETY: a valid layout; the block is freed with the same layout.
        unsafe {
            let p = a.alloc(l);
            std::hint::black_box(p);
            a.dealloc(p, l);
        }
    }
    thread_cpu_ns() - t0
}

/// An allocation-bound loop: each op frees a random block of a 256-block
/// working set and allocates a new one (78% 16..271 B, 20% up to 4 KiB, 2% up
/// to 64 KiB, as bench_heap), touching it. Returns this thread's CPU ns
/// (the sampled allocations' cost included; the profiler's collector, idle
/// here with CPU sampling off, is not).
#[inline(never)]
fn heap_mix<A: GlobalAlloc>(a: &A, ops: u64, seed: u64) -> u64 {
    let mut slots: [(*mut u8, usize); 256] = [(std::ptr::null_mut(), 0); 256];
    let mut s = seed | 1;
    let c0 = rusage_ns(libc::RUSAGE_THREAD);
    for _ in 0..ops {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let k = (s & 255) as usize;
        let top = (s >> 56) as u32;
        let n = if top < 200 {
            16 + (s % 256) as usize
        } else if top < 250 {
            256 + (s % 3840) as usize
        } else {
            4096 + (s % (60 * 1024)) as usize
        };
        // SAFETY: valid layouts; each block is freed once with its own layout.
        unsafe {
            let (old, on) = slots[k];
            if !old.is_null() {
                a.dealloc(old, Layout::from_size_align_unchecked(on, 8));
            }
            let p = a.alloc(Layout::from_size_align_unchecked(n, 8));
            if p.is_null() {
                die("out of memory");
            }
            *p = s as u8;
            slots[k] = (p, n);
        }
    }
    for (p, n) in slots {
        if !p.is_null() {
            // SAFETY: as above.
            unsafe { a.dealloc(p, Layout::from_size_align_unchecked(n, 8)) }
        }
    }
    rusage_ns(libc::RUSAGE_THREAD) - c0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn cmd_heap(a: &Args) {
    let rate = if a.heap_bytes > 0 { a.heap_bytes } else { 524288 };
    let rounds = a.rounds.clamp(3, 99) as usize;
    let mut cfg = a.clone_for_heap();
    cfg.hz = 0;
    let p = start_inprof(&cfg, rate);
    let inline = inprof::ProfiledAllocator::new(System);
    const PAIRS: u64 = 10_000_000;
    const OPS: u64 = 2_000_000;
    heap_pairs(&System, PAIRS / 4);
    heap_pairs(&inline, PAIRS / 4);
    heap_pairs(&Hooked, PAIRS / 4);
    let (mut d_inline, mut d_hooks, mut off) = (Vec::new(), Vec::new(), Vec::new());
    let (mut r_inline, mut r_hooks) = (Vec::new(), Vec::new());
    let s0 = p.stats();
    for r in 0..rounds {
        // Rotated order, so that drifts of the machine hit every variant.
        let mut t = [0u64; 3];
        for i in 0..3 {
            let v = (i + r) % 3;
            t[v] = match v {
                0 => heap_pairs(&System, PAIRS),
                1 => heap_pairs(&inline, PAIRS),
                _ => heap_pairs(&Hooked, PAIRS),
            };
        }
        off.push(t[0] as f64 / PAIRS as f64);
        d_inline.push((t[1] as f64 - t[0] as f64) / PAIRS as f64);
        d_hooks.push((t[2] as f64 - t[0] as f64) / PAIRS as f64);
        let seed = 0x9e3779b97f4a7c15u64.wrapping_mul(r as u64 + 1);
        let mut m = [0u64; 3];
        for i in 0..3 {
            let v = (i + r) % 3;
            m[v] = match v {
                0 => heap_mix(&System, OPS, seed),
                1 => heap_mix(&inline, OPS, seed),
                _ => heap_mix(&Hooked, OPS, seed),
            };
        }
        r_inline.push(m[0] as f64 / m[1] as f64);
        r_hooks.push(m[0] as f64 / m[2] as f64);
    }
    let s1 = p.stats();
    drop(p);
    println!(
        "RESULT cmd=heap heap_bytes={rate} rounds={rounds} off_ns_per_pair={:.3} inline_added_ns_per_pair={:.3} \
         hooks_added_ns_per_pair={:.3} mix_throughput_ratio_inline={:.4} mix_throughput_ratio_hooks={:.4} \
         heap_samples={} heap_dropped={}",
        median(&mut off),
        median(&mut d_inline),
        median(&mut d_hooks),
        median(&mut r_inline),
        median(&mut r_hooks),
        s1.heap_samples - s0.heap_samples,
        s1.heap_samples_dropped - s0.heap_samples_dropped
    );
}

impl Args {
    fn clone_for_heap(&self) -> Args {
        Args {
            cmd: self.cmd.clone(),
            profiler: "inprof".into(),
            hz: self.hz,
            heap_bytes: self.heap_bytes,
            threads: 1,
            rounds: self.rounds,
            periods: self.periods,
            period_ms: self.period_ms,
            outdir: self.outdir.clone(),
        }
    }
}
