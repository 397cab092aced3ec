//! at-daemon: a job-runner daemon standing in for an inprof user's service.
//!
//! A scheduler thread dispatches jobs (see `jobs.rs` for the kinds and their
//! designed CPU split) to `--threads` workers for `--duration` seconds. Each
//! worker measures every job with its thread CPU clock; at exit the daemon
//! prints per-kind totals, one `JOB ...` line per kind, so that tests can
//! compare a profile with the daemon's own measurement and with the design.
//!
//! Built with `--features profiling`, the daemon links inprof, starts it
//! with one line in `main` and routes Rust allocations through
//! `inprof::ProfiledAllocator` (heap profiling). Configure it with the
//! environment: INPROF_OUTPUT_DIR, DD_SERVICE, DD_PROFILING_UPLOAD_PERIOD, ...
//!
//! Built with `--features tracing` (which implies `profiling`), the daemon
//! also installs inprof's `tracing` layer: each worker runs the jobs it
//! finds queued as one batch in a root span `batch`, and each job in a span
//! named after its kind, so profiles carry `span name` (the kind), span ids
//! and `trace endpoint` = `batch` on every job sample.

mod jobs;

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use jobs::Kind;

#[cfg(feature = "profiling")]
#[global_allocator]
static GLOBAL: inprof::ProfiledAllocator<std::alloc::System> = inprof::ProfiledAllocator::new(std::alloc::System);

/// This thread's CPU time, without a libc crate (the daemon has no
/// dependencies besides the optional inprof and tracing).
mod cpuclock {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;

    fn read(clock: i32) -> u64 {
        let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
        // Cannot fail for these clocks on Linux.
        unsafe { clock_gettime(clock, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
    pub fn thread_ns() -> u64 {
        read(CLOCK_THREAD_CPUTIME_ID)
    }
    pub fn process_ns() -> u64 {
        read(CLOCK_PROCESS_CPUTIME_ID)
    }
}

struct Args {
    threads: usize,
    duration: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { threads: 2, duration: Duration::from_secs(10) };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| it.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--threads" | "-t" => {
                let v = value("--threads")?;
                args.threads = v.parse().map_err(|_| format!("--threads: not a number: {v}"))?;
                if args.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            "--duration" | "-d" => {
                let v = value("--duration")?;
                let secs: f64 = v.parse().map_err(|_| format!("--duration: not a number of seconds: {v}"))?;
                if !(secs.is_finite() && secs >= 0.0) {
                    return Err(format!("--duration: invalid: {v}"));
                }
                args.duration = Duration::from_secs_f64(secs);
            }
            "--help" | "-h" => {
                println!("usage: at-daemon [--threads N] [--duration SECONDS]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument: {other} (try --help)")),
        }
    }
    Ok(args)
}

/// Per-kind accounting shared by the scheduler and the workers.
#[derive(Default)]
struct KindStats {
    cpu_ns: AtomicU64,
    done: AtomicU64,
    queued: AtomicU64,
}

/// The scheduler tops up every worker's queue to this many jobs (about
/// 25 ms of work) and then sleeps for DISPATCH_PERIOD.
const QUEUE_PER_WORKER: usize = 50;
const DISPATCH_PERIOD: Duration = Duration::from_millis(10);

struct Job {
    kind: Kind,
    seed: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    #[cfg(feature = "tracing")]
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(inprof::tracing::ProfilingLayer::new());
        tracing::subscriber::set_global_default(subscriber)?;
    }
    // A profiler that cannot start must not take the daemon down: say why and run on.
    #[cfg(feature = "profiling")]
    let _profiler = inprof::start().inspect_err(|e| eprintln!("at-daemon: profiling off: {e}")).ok();

    let args = parse_args()?;
    let stats: Arc<[KindStats; 4]> = Arc::new(Default::default());
    let wall = Instant::now();
    let cpu0 = cpuclock::process_ns();

    // Each worker has its own queue, filled in batches by the scheduler, so
    // a busy worker never blocks or wakes anyone between jobs. (With one
    // shared queue, every job handed over woke a thread; on a loaded machine
    // the workers then ran in sub-millisecond bursts, and CPU timers, which
    // the kernel checks at ticks, rarely fired inside them.)
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for i in 0..args.threads {
        let (tx, rx) = channel::<Job>();
        let backlog = Arc::new(AtomicU64::new(0));
        senders.push((tx, Arc::clone(&backlog)));
        let stats = Arc::clone(&stats);
        workers.push(
            thread::Builder::new().name(format!("worker-{i}")).spawn(move || worker(&rx, &backlog, &stats))?,
        );
    }

    let sched_stats = Arc::clone(&stats);
    let duration = args.duration;
    let scheduler = thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || {
            let deadline = Instant::now() + duration;
            let mut seed = 1u64;
            let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ std::process::id() as u64;
            while Instant::now() < deadline {
                for (tx, backlog) in &senders {
                    while backlog.load(Ordering::Relaxed) < QUEUE_PER_WORKER as u64 {
                        let kind = next_kind(&sched_stats, &mut rng);
                        sched_stats[kind.index()].queued.fetch_add(1, Ordering::Relaxed);
                        backlog.fetch_add(1, Ordering::Relaxed);
                        seed += 1;
                        if tx.send(Job { kind, seed }).is_err() {
                            return;
                        }
                    }
                }
                thread::sleep(DISPATCH_PERIOD.min(deadline.saturating_duration_since(Instant::now())));
            }
            // Dropping the senders lets the workers finish their queues and exit.
        })?;
    scheduler.join().map_err(|_| "scheduler panicked")?;
    for w in workers {
        w.join().map_err(|_| "worker panicked")?;
    }

    report(&args, &stats, wall.elapsed(), cpuclock::process_ns() - cpu0);
    Ok(())
}

fn worker(rx: &Receiver<Job>, backlog: &AtomicU64, stats: &[KindStats; 4]) {
    // A batch: up to QUEUE_PER_WORKER jobs found queued, run back to back
    // (one root span each with the `tracing` feature). The cap keeps
    // batches short: the scheduler tops the queue up before it runs dry.
    while let Ok(first) = rx.recv() {
        #[cfg(feature = "tracing")]
        let _batch = tracing::info_span!("batch").entered();
        run_job(&first, backlog, stats);
        for _ in 1..QUEUE_PER_WORKER {
            match rx.try_recv() {
                Ok(job) => run_job(&job, backlog, stats),
                Err(_) => break,
            }
        }
    }
}

fn run_job(job: &Job, backlog: &AtomicU64, stats: &[KindStats; 4]) {
    // Span names are static in `tracing`: one call site per kind.
    #[cfg(feature = "tracing")]
    let _span = match job.kind {
        Kind::ParseRecords => tracing::info_span!("parse_records"),
        Kind::HashBlocks => tracing::info_span!("hash_blocks"),
        Kind::SortBatches => tracing::info_span!("sort_batches"),
        Kind::CompressChunks => tracing::info_span!("compress_chunks"),
    }
    .entered();
    let t0 = cpuclock::thread_ns();
    std::hint::black_box(job.kind.run(job.seed));
    let dt = cpuclock::thread_ns() - t0;
    let s = &stats[job.kind.index()];
    s.cpu_ns.fetch_add(dt, Ordering::Relaxed);
    s.done.fetch_add(1, Ordering::Relaxed);
    s.queued.fetch_sub(1, Ordering::Relaxed);
    backlog.fetch_sub(1, Ordering::Relaxed);
}

/// The next job kind: random among the kinds at or below their designed
/// share (queued jobs counted at the kind's average cost so far), weighted
/// by share. The feedback holds the split; the randomness keeps the job
/// sequence from forming a pattern that a periodic sampler could alias with.
fn next_kind(stats: &[KindStats; 4], rng: &mut u64) -> Kind {
    let mut committed = [0f64; 4];
    for k in Kind::ALL {
        let s = &stats[k.index()];
        let cpu = s.cpu_ns.load(Ordering::Relaxed) as f64;
        let done = s.done.load(Ordering::Relaxed);
        // Before the first job finishes, assume a millisecond per job.
        let avg = if done > 0 { cpu / done as f64 } else { 1e6 };
        committed[k.index()] = cpu + s.queued.load(Ordering::Relaxed) as f64 * avg;
    }
    let total: f64 = committed.iter().sum();
    let eligible: Vec<Kind> =
        Kind::ALL.into_iter().filter(|k| committed[k.index()] / k.design_share() <= total).collect();
    // xorshift64; the kind with the lowest committed/share is always eligible.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let weight: f64 = eligible.iter().map(|k| k.design_share()).sum();
    let mut x = (*rng >> 11) as f64 / (1u64 << 53) as f64 * weight;
    for &k in &eligible {
        x -= k.design_share();
        if x < 0.0 {
            return k;
        }
    }
    *eligible.last().unwrap_or(&Kind::ParseRecords)
}

fn report(args: &Args, stats: &[KindStats; 4], wall: Duration, process_cpu_ns: u64) {
    let total: u64 = stats.iter().map(|s| s.cpu_ns.load(Ordering::Relaxed)).sum();
    println!(
        "at-daemon: threads={} duration={:.2}s wall={:.2}s process_cpu_ms={} job_cpu_ms={}",
        args.threads,
        args.duration.as_secs_f64(),
        wall.as_secs_f64(),
        process_cpu_ns / 1_000_000,
        total / 1_000_000
    );
    for k in Kind::ALL {
        let s = &stats[k.index()];
        let cpu = s.cpu_ns.load(Ordering::Relaxed);
        let share = if total > 0 { cpu as f64 / total as f64 } else { 0.0 };
        println!(
            "JOB name={} jobs={} cpu_ns={} share={:.4} design={:.4}",
            k.name(),
            s.done.load(Ordering::Relaxed),
            cpu,
            share,
            k.design_share()
        );
    }
}
