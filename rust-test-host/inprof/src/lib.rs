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
//! The raw C ABI is in [`sys`] (the `inprof-sys` crate, which also builds and
//! links the library). [`ProfiledAllocator`] adds heap profiling when
//! installed as the `#[global_allocator]`.
//!
//! # Modules
//!
//! The API is flat at the crate root; the code is split by concern:
//! `profiler` (sessions, [`Profiler`]), `config` ([`Config`]), `error`
//! ([`Error`], [`ErrorKind`]), `stats` ([`Stats`]), `allocator`
//! ([`ProfiledAllocator`]) and `context` (span ids, endpoints and custom
//! labels on samples: [`set_span`], [`set_endpoint`], [`count_endpoint`],
//! [`labels`], [`with_labels`]). With the `tracing` feature,
//! `tracing::ProfilingLayer` sets them from `tracing` spans.

/// The raw C API (`include/inprof.h`), re-exported from `inprof-sys`.
pub use inprof_sys as sys;

mod allocator;
mod config;
mod context;
mod error;
mod profiler;
mod stats;

pub use allocator::ProfiledAllocator;
pub use config::{Config, Upload};
pub use context::{count_endpoint, current_labels, labels, set_endpoint, set_span, with_labels, LabelGuard};
pub use error::{Error, ErrorKind};
pub use profiler::{is_running, library_version, start, Profiler, BUILT_FOR_VERSION, DEFAULT_STOP_TIMEOUT};
pub use stats::{stats, Stats};

/// A `tracing_subscriber` layer that gives samples the span context of
/// `tracing` spans (feature `tracing`).
#[cfg(feature = "tracing")]
pub mod tracing;
