//! In-process CPU and heap profiling for Rust services, backed by libinprof.
//!
//! One line in `main` is enough:
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _profiler = inprof::start()?; // defaults + environment (INPROF_*, DD_*)
//!     // ... the service runs; profiles are exported every period ...
//!     Ok(())
//! } // _profiler dropped: the last profile is exported, bounded by a timeout
//! ```
//!
//! or, configured from code:
//!
//! ```no_run
//! # fn main() -> Result<(), inprof::Error> {
//! use std::time::Duration;
//! let profiler = inprof::Config::from_env()?
//!     .service("my-daemon")
//!     .output_dir("/var/tmp/profiles")
//!     .upload_period(Duration::from_secs(30))
//!     .start()?;
//! println!("{:?}", profiler.stats());
//! # Ok(()) }
//! ```
//!
//! # Sessions
//!
//! The library is process-global: there is one profiler per process. The
//! first successful [`start`] (or [`Config::start`]) starts it; while any
//! [`Profiler`] handle is alive, further starts return `Ok` with another
//! handle on the same session and do not change its configuration (as the C
//! library's `inprof_start` does). The library stops when the last handle is
//! stopped or dropped; a later start begins a new session. Stopping a handle
//! while others are alive only releases that handle.
//!
//! Errors never take the host down: a failed start returns an [`Error`] with
//! the library's status and message, and the program goes on unprofiled.
//!
//! The raw C ABI is in [`sys`]. [`ProfiledAllocator`] adds heap profiling
//! when installed as the `#[global_allocator]`.

pub mod sys;

mod alloc;
pub use alloc::ProfiledAllocator;

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long dropping the last [`Profiler`] waits for the final export.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Number of live [`Profiler`] handles; the mutex also serializes the
/// library's start and stop calls made through this crate.
static HANDLES: Mutex<usize> = Mutex::new(0);

fn handles() -> MutexGuard<'static, usize> {
    // A panic while holding the lock cannot leave the counter inconsistent.
    HANDLES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts profiling with the defaults and the environment (`INPROF_*`,
/// `DD_*`; see the README). Returns a handle that stops the profiler when
/// dropped. See [the crate documentation](crate#sessions) for what a second
/// start does.
pub fn start() -> Result<Profiler, Error> {
    start_session(None, DEFAULT_STOP_TIMEOUT)
}

/// True while the library is profiling (in this process, started by anyone).
pub fn is_running() -> bool {
    unsafe { sys::inprof_is_running() != 0 }
}

/// The runtime library's version number (`major * 10000 + minor * 100 + patch`).
pub fn library_version() -> u32 {
    unsafe { sys::inprof_version() }
}

/// The library version this crate's declarations were written for.
pub const BUILT_FOR_VERSION: u32 = sys::INPROF_VERSION_NUM;

fn check_version() -> Result<(), Error> {
    let got = library_version();
    let want = BUILT_FOR_VERSION;
    // Same major and minor: patch releases keep the ABI.
    if got / 100 != want / 100 {
        return Err(Error::new(
            sys::INPROF_ERR_VERSION,
            format!(
                "libinprof runtime version {} does not match the version this crate was built for ({})",
                fmt_version(got),
                fmt_version(want)
            ),
        ));
    }
    Ok(())
}

fn fmt_version(v: u32) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

fn start_session(cfg: Option<&sys::inprof_config>, stop_timeout: Duration) -> Result<Profiler, Error> {
    let mut n = handles();
    if *n == 0 {
        check_version()?;
        let p = cfg.map_or(ptr::null(), |c| c as *const _);
        let st = unsafe { sys::inprof_start(p) };
        if st != sys::INPROF_OK {
            return Err(Error::from_status(st));
        }
    }
    *n += 1;
    Ok(Profiler { stop_timeout, released: false })
}

fn timeout_ms(d: Duration) -> u32 {
    // Round up so that a sub-millisecond timeout is not "no wait at all".
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// A handle on the running profiler. Dropping the last handle stops the
/// library, waiting at most its stop timeout ([`DEFAULT_STOP_TIMEOUT`] unless
/// set with [`Config::stop_timeout`] or [`Profiler::set_stop_timeout`]) for
/// the final profile to be exported.
#[must_use = "profiling stops when the Profiler is dropped; bind it: `let _profiler = ...`"]
#[derive(Debug)]
pub struct Profiler {
    stop_timeout: Duration,
    released: bool,
}

impl Profiler {
    /// Exports what has been collected so far now, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        status_to_result(unsafe { sys::inprof_flush(timeout_ms(timeout)) })
    }

    /// The library's counters (process-wide, monotonic across sessions).
    /// All zero if the library refuses the request (it does not today).
    pub fn stats(&self) -> Stats {
        stats().unwrap_or_default()
    }

    /// True while the library profiles (false after a start with
    /// `enabled(false)` / `DD_PROFILING_ENABLED=false`).
    pub fn is_running(&self) -> bool {
        is_running()
    }

    /// The timeout used when this handle is dropped.
    pub fn set_stop_timeout(&mut self, timeout: Duration) {
        self.stop_timeout = timeout;
    }

    /// Releases this handle; if it was the last one, stops the library,
    /// exporting the last profile and waiting at most `timeout`.
    pub fn stop(mut self, timeout: Duration) -> Result<(), Error> {
        self.released = true;
        release(timeout)
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        if !self.released {
            // Nowhere to report a failure to from drop; the library logs it.
            let _ = release(self.stop_timeout);
        }
    }
}

fn release(timeout: Duration) -> Result<(), Error> {
    let mut n = handles();
    *n = n.saturating_sub(1);
    if *n > 0 {
        return Ok(());
    }
    status_to_result(unsafe { sys::inprof_stop(timeout_ms(timeout)) })
}

/// The library's counters; see `inprof_statistics` in include/inprof.h.
pub fn stats() -> Result<Stats, Error> {
    let mut raw = sys::inprof_statistics {
        struct_size: std::mem::size_of::<sys::inprof_statistics>() as u32,
        ..Default::default()
    };
    status_to_result(unsafe { sys::inprof_stats(&mut raw) })?;
    Ok(Stats::from(raw))
}

/// Counters since the process started profiling; monotonic across stop/start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Threads that currently have a CPU timer.
    pub threads_tracked: u32,
    /// CPU samples recorded, and lost because the sample buffer was full.
    pub cpu_samples: u64,
    pub cpu_samples_dropped: u64,
    /// Timer expirations merged by the kernel into an earlier signal.
    pub cpu_timer_overruns: u64,
    /// Threads that could not get a timer.
    pub threads_failed: u64,
    /// Heap samples recorded and lost; live sampled allocations now.
    pub heap_samples: u64,
    pub heap_samples_dropped: u64,
    pub heap_live_samples: u64,
    /// Profiles written to files, and files that could not be written.
    pub profiles_written: u64,
    pub profiles_failed: u64,
    /// Uploads accepted, failed, and dropped from a full queue.
    pub uploads_ok: u64,
    pub uploads_failed: u64,
    pub uploads_dropped: u64,
}

impl From<sys::inprof_statistics> for Stats {
    fn from(s: sys::inprof_statistics) -> Stats {
        Stats {
            threads_tracked: s.threads_tracked,
            cpu_samples: s.cpu_samples,
            cpu_samples_dropped: s.cpu_samples_dropped,
            cpu_timer_overruns: s.cpu_timer_overruns,
            threads_failed: s.threads_failed,
            heap_samples: s.heap_samples,
            heap_samples_dropped: s.heap_samples_dropped,
            heap_live_samples: s.heap_live_samples,
            profiles_written: s.profiles_written,
            profiles_failed: s.profiles_failed,
            uploads_ok: s.uploads_ok,
            uploads_failed: s.uploads_failed,
            uploads_dropped: s.uploads_dropped,
        }
    }
}

fn status_to_result(st: sys::inprof_status) -> Result<(), Error> {
    if st == sys::INPROF_OK {
        Ok(())
    } else {
        Err(Error::from_status(st))
    }
}

/// What went wrong, by the library's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or configuration value is invalid (the message names it).
    Invalid,
    Running,
    NotRunning,
    /// The profiling signal already has a handler that is not inprof's.
    SignalInUse,
    /// A system call failed (the message says which).
    System,
    NoMemory,
    Timeout,
    /// The output directory does not exist or is not writable.
    Output,
    /// A previous stop timed out and its collector has not finished yet.
    Busy,
    /// The library and this crate (or a struct) disagree on the version.
    Version,
    /// A status this crate does not know.
    Other(i32),
}

/// A failure reported by the library: its status code and message
/// (`inprof_last_error()`, or `inprof_strerror()` when that is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: sys::inprof_status,
    message: String,
}

impl Error {
    fn new(status: sys::inprof_status, message: String) -> Error {
        Error { status, message }
    }

    fn from_status(status: sys::inprof_status) -> Error {
        let message = unsafe { cstr_to_string(sys::inprof_last_error()) };
        let message = if message.is_empty() { strerror(status) } else { message };
        Error { status, message }
    }

    /// The library's status code (`INPROF_ERR_*`).
    pub fn status(&self) -> i32 {
        self.status
    }

    pub fn kind(&self) -> ErrorKind {
        match self.status {
            sys::INPROF_ERR_INVALID => ErrorKind::Invalid,
            sys::INPROF_ERR_RUNNING => ErrorKind::Running,
            sys::INPROF_ERR_NOT_RUNNING => ErrorKind::NotRunning,
            sys::INPROF_ERR_SIGNAL_IN_USE => ErrorKind::SignalInUse,
            sys::INPROF_ERR_SYSTEM => ErrorKind::System,
            sys::INPROF_ERR_NO_MEMORY => ErrorKind::NoMemory,
            sys::INPROF_ERR_TIMEOUT => ErrorKind::Timeout,
            sys::INPROF_ERR_OUTPUT => ErrorKind::Output,
            sys::INPROF_ERR_BUSY => ErrorKind::Busy,
            sys::INPROF_ERR_VERSION => ErrorKind::Version,
            other => ErrorKind::Other(other),
        }
    }

    /// The library's explanation, e.g. which environment variable is malformed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inprof: {} ({}, status {})", self.message, strerror(self.status), self.status)
    }
}

impl std::error::Error for Error {}

fn strerror(status: sys::inprof_status) -> String {
    unsafe { cstr_to_string(sys::inprof_strerror(status)) }
}

unsafe fn cstr_to_string(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Values of the `upload` setting (`INPROF_UPLOAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// Upload when an agent or agentless destination is configured, or when
    /// no output directory is set.
    Auto,
    On,
    Off,
}

// String settings, in the order of inprof_config.
#[derive(Clone, Copy)]
enum Str {
    Service,
    Env,
    Version,
    Tags,
    OutputDir,
    AgentUrl,
    Site,
    ApiKey,
    IntakeUrl,
    CaBundle,
}
const N_STR: usize = 10;
const ALL_STR: [Str; N_STR] = [
    Str::Service,
    Str::Env,
    Str::Version,
    Str::Tags,
    Str::OutputDir,
    Str::AgentUrl,
    Str::Site,
    Str::ApiKey,
    Str::IntakeUrl,
    Str::CaBundle,
];

/// Configuration built from code, optionally on top of the environment.
/// Unset values mean the library's defaults. Strings are owned here; the
/// library copies them at start.
#[derive(Clone)]
pub struct Config {
    raw: sys::inprof_config,
    strings: [Option<CString>; N_STR],
    invalid: Option<String>,
    stop_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |k: Str| self.strings[k as usize].as_ref().map(|c| c.to_string_lossy().into_owned());
        f.debug_struct("Config")
            .field("enabled", &self.raw.enabled)
            .field("cpu_hz", &self.raw.cpu_hz)
            .field("cpu_signal", &self.raw.cpu_signal)
            .field("heap_sample_bytes", &self.raw.heap_sample_bytes)
            .field("upload_period_ms", &self.raw.upload_period_ms)
            .field("max_frames", &self.raw.max_frames)
            .field("service", &s(Str::Service))
            .field("env", &s(Str::Env))
            .field("version", &s(Str::Version))
            .field("tags", &s(Str::Tags))
            .field("output_dir", &s(Str::OutputDir))
            .field("agent_url", &s(Str::AgentUrl))
            .field("agentless", &self.raw.agentless)
            .field("upload", &self.raw.upload)
            .field("site", &s(Str::Site))
            .field("api_key", &self.strings[Str::ApiKey as usize].as_ref().map(|_| "<redacted>"))
            .field("intake_url", &s(Str::IntakeUrl))
            .field("ca_bundle", &s(Str::CaBundle))
            .field("connect_timeout_ms", &self.raw.connect_timeout_ms)
            .field("upload_timeout_ms", &self.raw.upload_timeout_ms)
            .field("log_level", &self.raw.log_level)
            .finish()
    }
}

impl Config {
    /// The library's defaults, ignoring the environment.
    pub fn new() -> Config {
        let mut raw = std::mem::MaybeUninit::<sys::inprof_config>::zeroed();
        // Only fails for a NULL pointer.
        unsafe { sys::inprof_config_init(raw.as_mut_ptr()) };
        let mut raw = unsafe { raw.assume_init() };
        raw.struct_size = std::mem::size_of::<sys::inprof_config>() as u32;
        Config { raw, strings: Default::default(), invalid: None, stop_timeout: DEFAULT_STOP_TIMEOUT }
    }

    /// The defaults with the environment applied (what [`start`] uses).
    /// A malformed variable gives an [`ErrorKind::Invalid`] error naming it.
    pub fn from_env() -> Result<Config, Error> {
        let mut c = Config::new();
        status_to_result(unsafe { sys::inprof_config_from_env(&mut c.raw) })?;
        // The library points strings into the environment; own copies, so
        // that a later change of the environment cannot leave them dangling.
        for k in ALL_STR {
            let p = *c.slot(k);
            if !p.is_null() {
                c.strings[k as usize] = Some(unsafe { CStr::from_ptr(p) }.to_owned());
            }
            *c.slot(k) = ptr::null();
        }
        Ok(c)
    }

    fn slot(&mut self, k: Str) -> &mut *const std::ffi::c_char {
        let r = &mut self.raw;
        match k {
            Str::Service => &mut r.service,
            Str::Env => &mut r.env,
            Str::Version => &mut r.version,
            Str::Tags => &mut r.tags,
            Str::OutputDir => &mut r.output_dir,
            Str::AgentUrl => &mut r.agent_url,
            Str::Site => &mut r.site,
            Str::ApiKey => &mut r.api_key,
            Str::IntakeUrl => &mut r.intake_url,
            Str::CaBundle => &mut r.ca_bundle,
        }
    }

    fn set_bytes(mut self, k: Str, name: &str, bytes: &[u8]) -> Config {
        match CString::new(bytes) {
            Ok(c) => self.strings[k as usize] = Some(c),
            Err(_) => {
                self.invalid.get_or_insert_with(|| format!("{name} contains a NUL byte"));
            }
        }
        self
    }

    /// `false`: start succeeds and does nothing (`DD_PROFILING_ENABLED`).
    pub fn enabled(mut self, on: bool) -> Config {
        self.raw.enabled = on as u32;
        self
    }
    /// CPU samples per second of CPU time, per thread; 0 disables CPU profiling.
    pub fn cpu_hz(mut self, hz: u32) -> Config {
        self.raw.cpu_hz = hz;
        self
    }
    /// Signal used for CPU samples; 0 means SIGPROF.
    pub fn cpu_signal(mut self, signal: i32) -> Config {
        self.raw.cpu_signal = signal;
        self
    }
    /// Mean bytes between heap samples; 0 disables heap profiling.
    pub fn heap_sample_bytes(mut self, bytes: u64) -> Config {
        self.raw.heap_sample_bytes = bytes;
        self
    }
    /// Time between exported profiles (millisecond resolution).
    pub fn upload_period(mut self, period: Duration) -> Config {
        self.raw.upload_period_ms = timeout_ms(period);
        self
    }
    /// Deepest stack recorded, in frames (1..=`sys::INPROF_MAX_FRAMES_LIMIT`).
    pub fn max_frames(mut self, frames: u32) -> Config {
        self.raw.max_frames = frames;
        self
    }
    pub fn service(self, service: impl AsRef<str>) -> Config {
        self.set_bytes(Str::Service, "service", service.as_ref().as_bytes())
    }
    pub fn env(self, env: impl AsRef<str>) -> Config {
        self.set_bytes(Str::Env, "env", env.as_ref().as_bytes())
    }
    pub fn version(self, version: impl AsRef<str>) -> Config {
        self.set_bytes(Str::Version, "version", version.as_ref().as_bytes())
    }
    /// Extra tags, `"key:value,key2:value2"`; replaces earlier tags.
    pub fn tags(self, tags: impl AsRef<str>) -> Config {
        self.set_bytes(Str::Tags, "tags", tags.as_ref().as_bytes())
    }
    /// Appends one `key:value` tag.
    pub fn tag(self, key: impl AsRef<str>, value: impl AsRef<str>) -> Config {
        let mut all = self.strings[Str::Tags as usize]
            .as_ref()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !all.is_empty() {
            all.push(',');
        }
        all.push_str(key.as_ref());
        all.push(':');
        all.push_str(value.as_ref());
        self.tags(all)
    }
    /// Directory for `<service>-<pid>-<seq>.pprof.gz` files.
    pub fn output_dir(self, dir: impl AsRef<Path>) -> Config {
        self.set_bytes(Str::OutputDir, "output_dir", dir.as_ref().as_os_str().as_bytes())
    }
    /// Agent URL, `http://host:port` or `unix:///path`.
    pub fn agent_url(self, url: impl AsRef<str>) -> Config {
        self.set_bytes(Str::AgentUrl, "agent_url", url.as_ref().as_bytes())
    }
    /// Upload straight to the Datadog intake instead of the agent.
    pub fn agentless(mut self, on: bool) -> Config {
        self.raw.agentless = on as u32;
        self
    }
    pub fn upload(mut self, upload: Upload) -> Config {
        self.raw.upload = match upload {
            Upload::Auto => sys::INPROF_UPLOAD_AUTO,
            Upload::On => sys::INPROF_UPLOAD_ON,
            Upload::Off => sys::INPROF_UPLOAD_OFF,
        };
        self
    }
    /// Datadog site for agentless uploads, e.g. `datadoghq.eu`.
    pub fn site(self, site: impl AsRef<str>) -> Config {
        self.set_bytes(Str::Site, "site", site.as_ref().as_bytes())
    }
    /// API key for agentless uploads. Never logged.
    pub fn api_key(self, key: impl AsRef<str>) -> Config {
        self.set_bytes(Str::ApiKey, "api_key", key.as_ref().as_bytes())
    }
    /// Full intake URL overriding the one derived from the site.
    pub fn intake_url(self, url: impl AsRef<str>) -> Config {
        self.set_bytes(Str::IntakeUrl, "intake_url", url.as_ref().as_bytes())
    }
    /// CA bundle file used to verify TLS certificates.
    pub fn ca_bundle(self, file: impl AsRef<Path>) -> Config {
        self.set_bytes(Str::CaBundle, "ca_bundle", file.as_ref().as_os_str().as_bytes())
    }
    pub fn connect_timeout(mut self, t: Duration) -> Config {
        self.raw.connect_timeout_ms = timeout_ms(t);
        self
    }
    pub fn upload_timeout(mut self, t: Duration) -> Config {
        self.raw.upload_timeout_ms = timeout_ms(t);
        self
    }
    /// 0 off, 1 error, 2 warn, 3 info, 4 debug (messages go to stderr).
    pub fn log_level(mut self, level: u32) -> Config {
        self.raw.log_level = level;
        self
    }
    /// How long dropping the last [`Profiler`] waits for the final export.
    pub fn stop_timeout(mut self, t: Duration) -> Config {
        self.stop_timeout = t;
        self
    }

    /// Starts profiling with this configuration. While another [`Profiler`]
    /// is alive this returns a handle on that session and the configuration
    /// is not applied (see [the crate documentation](crate#sessions)).
    pub fn start(mut self) -> Result<Profiler, Error> {
        if let Some(msg) = self.invalid.take() {
            return Err(Error::new(sys::INPROF_ERR_INVALID, msg));
        }
        for k in ALL_STR {
            let p = self.strings[k as usize].as_ref().map_or(ptr::null(), |c| c.as_ptr());
            *self.slot(k) = p;
        }
        // `self` (and so every string) lives until start has copied them.
        start_session(Some(&self.raw), self.stop_timeout)
    }
}

// The raw struct holds pointers only into `strings`, which move with it.
unsafe impl Send for Config {}
unsafe impl Sync for Config {}
