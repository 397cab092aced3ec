//! The session: [`start`], the [`Profiler`] handle that stops the library
//! when the last one goes, and the version check made before the first start.

use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{status_to_result, Error, ErrorKind};
use crate::stats::{stats, Stats};
use crate::sys;

/// How long dropping the last [`Profiler`] waits for the final export.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The library version this crate's declarations were written for.
pub const BUILT_FOR_VERSION: u32 = sys::INPROF_VERSION_NUM;

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
    // SAFETY: no arguments; callable at any time.
    unsafe { sys::inprof_is_running() != 0 }
}

/// The runtime library's version number (`major * 10000 + minor * 100 + patch`).
pub fn library_version() -> u32 {
    // SAFETY: no arguments; callable at any time.
    unsafe { sys::inprof_version() }
}

fn check_version() -> Result<(), Error> {
    let got = library_version();
    let want = BUILT_FOR_VERSION;
    // Same major and minor: patch releases keep the ABI.
    if got / 100 != want / 100 {
        return Err(Error::new(
            ErrorKind::Version,
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

/// Starts the library unless a handle is alive; `cfg` (already converted by
/// `Config::start`) must outlive the call, which copies what it needs.
pub(crate) fn start_session(cfg: Option<&sys::inprof_config>, stop_timeout: Duration) -> Result<Profiler, Error> {
    let mut n = handles();
    if *n == 0 {
        check_version()?;
        let p = cfg.map_or(ptr::null(), |c| c as *const _);
        // SAFETY: p is NULL or a complete config whose strings live past the call.
        status_to_result(unsafe { sys::inprof_start(p) })?;
    }
    *n += 1;
    Ok(Profiler { stop_timeout, released: false })
}

/// Milliseconds for the C API, rounded up so that a sub-millisecond timeout
/// is not "no wait at all", saturating at u32::MAX.
pub(crate) fn timeout_ms(d: Duration) -> u32 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// A handle on the running profiler. Dropping the last handle stops the
/// library, waiting at most its stop timeout ([`DEFAULT_STOP_TIMEOUT`] unless
/// set with [`Config::stop_timeout`](crate::Config::stop_timeout) or
/// [`Profiler::set_stop_timeout`]) for the final profile to be exported.
#[must_use = "profiling stops when the Profiler is dropped; bind it: `let _profiler = ...`"]
#[derive(Debug)]
pub struct Profiler {
    stop_timeout: Duration,
    released: bool,
}

impl Profiler {
    /// Exports what has been collected so far now, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        // SAFETY: plain integer argument.
        status_to_result(unsafe { sys::inprof_flush(timeout_ms(timeout)) })
    }

    /// The current period's profile so far, as uncompressed pprof bytes
    /// (`go tool pprof` reads them; gzip them to serve them the way Go's
    /// net/http/pprof does). The period is not ended: files and uploads
    /// go on unchanged. Waits at most `timeout` (`inprof_collect`).
    pub fn collect(&self, timeout: Duration) -> Result<Vec<u8>, Error> {
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut len: usize = 0;
        // SAFETY: both out-pointers are valid for writes; on success the
        // library hands over a buffer of len bytes that only
        // inprof_collect_free may release, which happens right after the copy.
        let st = unsafe { sys::inprof_collect(&mut buf, &mut len, timeout_ms(timeout)) };
        status_to_result(st)?;
        let bytes = if buf.is_null() {
            Vec::new()
        } else {
            // SAFETY: see above; buf holds len initialized bytes.
            let v = unsafe { std::slice::from_raw_parts(buf, len) }.to_vec();
            unsafe { sys::inprof_collect_free(buf) };
            v
        };
        Ok(bytes)
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
    // SAFETY: plain integer argument.
    status_to_result(unsafe { sys::inprof_stop(timeout_ms(timeout)) })
}
