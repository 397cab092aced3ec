//! Raw declarations of libinprof, mirroring `include/inprof.h` one to one,
//! and the native library itself: the build script compiles the C sources
//! shipped in this package (or links a prebuilt or system copy, see below) and
//! links it into whatever depends on this crate. Use the safe `inprof` crate
//! unless you need the C ABI itself.
//!
//! Names, types, field order and constant values are those of the C header;
//! the `inprof-abi` tests run cbindgen over this file and compare the result
//! with the header, and compare sizes, alignments and field offsets with a
//! compiled C program. Keep this file free of anything that is not in the
//! header, so that the comparison stays exact.
//!
//! # Where the library comes from
//!
//! - By default, the C sources in this package are built with CMake (target
//!   `inprof_static`, tests off, optimized) and linked statically, and so are
//!   its dependencies: libcurl from `curl-sys` (compiled from source, rustls),
//!   zlib from `libz-sys`, the others from the system's static archives. Needs
//!   cmake, a C compiler, pkg-config, protoc-c and the development packages of
//!   protobuf-c, zlib, zstd, elfutils (libdw, libelf), xz, bzip2 and
//!   libiberty. The `system-libs` feature or `INPROF_SYS_DYNAMIC=1` links the
//!   system's shared libraries instead (and needs libcurl's development
//!   package).
//! - `INPROF_LIB_DIR=/path`: a prebuilt `libinprof.a` from that directory,
//!   with `inprof.pc` beside it or in `pkgconfig/` (a CMake build directory
//!   or an install's lib directory).
//! - The `pkg-config` feature or `INPROF_SYS_USE_PKG_CONFIG=1`: the installed
//!   library found by pkg-config (`inprof.pc`); shared unless
//!   `INPROF_STATIC=1`.
//!
//! Dependents' build scripts get the header's directory as
//! `DEP_INPROF_INCLUDE` and the library's as `DEP_INPROF_LIB_DIR` (when known).
//!
//! Everything here is `unsafe` to call in the usual FFI sense (raw pointers);
//! the library itself accepts any call at any time.

#![no_std]
#![allow(non_camel_case_types)]

// The static libcurl and zlib that libinprof.a is linked with by default (see
// build.rs); without this reference rustc would not link these crates.
#[cfg(inprof_static_deps)]
extern crate curl_sys as _;
#[cfg(inprof_static_deps)]
extern crate libz_sys as _;

use core::ffi::{c_char, c_void};

/// Library version: major * 10000 + minor * 100 + patch.
pub const INPROF_VERSION_MAJOR: u32 = 0;
pub const INPROF_VERSION_MINOR: u32 = 1;
pub const INPROF_VERSION_PATCH: u32 = 0;
pub const INPROF_VERSION_NUM: u32 = 100;

/// Status codes. Values are part of the ABI and are never renumbered.
pub type inprof_status = i32;
pub const INPROF_OK: inprof_status = 0;
/// An argument or configuration value is invalid; inprof_last_error() names it.
pub const INPROF_ERR_INVALID: inprof_status = 1;
/// The profiler is already running (returned by nothing today: start is idempotent).
pub const INPROF_ERR_RUNNING: inprof_status = 2;
/// The profiler is not running (flush without start).
pub const INPROF_ERR_NOT_RUNNING: inprof_status = 3;
/// The profiling signal already has a handler that is not ours.
pub const INPROF_ERR_SIGNAL_IN_USE: inprof_status = 4;
/// A system call failed (timer, thread, file); inprof_last_error() says which.
pub const INPROF_ERR_SYSTEM: inprof_status = 5;
/// Memory could not be reserved.
pub const INPROF_ERR_NO_MEMORY: inprof_status = 6;
/// An operation did not finish within its timeout.
pub const INPROF_ERR_TIMEOUT: inprof_status = 7;
/// The output directory does not exist or is not writable.
pub const INPROF_ERR_OUTPUT: inprof_status = 8;
/// A previous stop timed out and its collector has not finished yet.
pub const INPROF_ERR_BUSY: inprof_status = 9;
/// The caller's struct is older or newer than this library understands.
pub const INPROF_ERR_VERSION: inprof_status = 10;
/// A fixed capacity was reached: this thread already has INPROF_MAX_LABELS
/// labels, or the process-wide label table is full (inprof_set_label).
pub const INPROF_ERR_LIMIT: inprof_status = 11;

/// Version of inprof_config and inprof_statistics understood by this header.
pub const INPROF_CONFIG_VERSION: u32 = 1;

/// Values of inprof_config.upload.
pub const INPROF_UPLOAD_AUTO: u32 = 0;
pub const INPROF_UPLOAD_ON: u32 = 1;
pub const INPROF_UPLOAD_OFF: u32 = 2;

/// Defaults used by inprof_config_init().
pub const INPROF_DEFAULT_CPU_HZ: u32 = 99;
pub const INPROF_DEFAULT_HEAP_SAMPLE_BYTES: u64 = 524288;
pub const INPROF_DEFAULT_UPLOAD_PERIOD_MS: u32 = 60000;
pub const INPROF_DEFAULT_MAX_FRAMES: u32 = 128;
pub const INPROF_MAX_FRAMES_LIMIT: u32 = 512;

/// Limits of inprof_set_label: labels per thread, key and value lengths in
/// bytes (without the terminating NUL).
pub const INPROF_MAX_LABELS: u32 = 4;
pub const INPROF_MAX_LABEL_KEY_BYTES: u32 = 63;
pub const INPROF_MAX_LABEL_VALUE_BYTES: u32 = 127;
/// The free filter's size and hash (inprof_heap_free_filter).
pub const INPROF_HEAP_FILTER_BITS: u32 = 16;
pub const INPROF_HEAP_FILTER_MULTIPLIER: u64 = 0x9E3779B97F4A7C15;

/// Configuration. Fill it with inprof_config_init() first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct inprof_config {
    pub struct_size: u32,
    pub enabled: u32,
    pub cpu_hz: u32,
    pub cpu_signal: i32,
    pub heap_sample_bytes: u64,
    pub upload_period_ms: u32,
    pub max_frames: u32,
    pub service: *const c_char,
    pub env: *const c_char,
    pub version: *const c_char,
    pub tags: *const c_char,
    pub output_dir: *const c_char,
    pub agent_url: *const c_char,
    pub agentless: u32,
    pub upload: u32,
    pub site: *const c_char,
    pub api_key: *const c_char,
    pub intake_url: *const c_char,
    pub ca_bundle: *const c_char,
    pub connect_timeout_ms: u32,
    pub upload_timeout_ms: u32,
    pub log_level: u32,
    pub reserved0: u32,
    pub inlined_frames: u32,
    pub symbolizer_max_mb: u32,
    pub debug_dirs: *const c_char,
    pub timeline_enabled: u32,
    pub wall_hz: u32,
    pub wall_threads_per_tick: u32,
}

/// Counters since the process started profiling; monotonic across stop/start.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct inprof_statistics {
    pub struct_size: u32,
    pub threads_tracked: u32,
    pub cpu_samples: u64,
    pub cpu_samples_dropped: u64,
    pub cpu_timer_overruns: u64,
    pub threads_failed: u64,
    pub heap_samples: u64,
    pub heap_samples_dropped: u64,
    pub heap_live_samples: u64,
    pub profiles_written: u64,
    pub profiles_failed: u64,
    pub uploads_ok: u64,
    pub uploads_failed: u64,
    pub uploads_dropped: u64,
    pub unwind_unknown_pc: u64,
    pub unwind_no_stack_room: u64,
    pub symbolizer_cap_hits: u64,
    pub timeline_samples_aggregated: u64,
    pub labels_table_full: u64,
    pub endpoint_counts_dropped: u64,
}

// build.rs names the library (static from the bundled sources or
// INPROF_LIB_DIR, as pkg-config says otherwise) and everything it needs.
extern "C" {
    pub fn inprof_config_init(cfg: *mut inprof_config) -> inprof_status;
    pub fn inprof_config_from_env(cfg: *mut inprof_config) -> inprof_status;
    pub fn inprof_start(cfg: *const inprof_config) -> inprof_status;
    pub fn inprof_stop(timeout_ms: u32) -> inprof_status;
    pub fn inprof_flush(timeout_ms: u32) -> inprof_status;
    pub fn inprof_collect(out: *mut *mut u8, out_len: *mut usize, timeout_ms: u32) -> inprof_status;
    pub fn inprof_collect_free(profile: *mut u8);
    pub fn inprof_stats(out: *mut inprof_statistics) -> inprof_status;
    pub fn inprof_is_running() -> u32;
    pub fn inprof_version() -> u32;
    pub fn inprof_strerror(status: inprof_status) -> *const c_char;
    pub fn inprof_last_error() -> *const c_char;
    pub fn inprof_record_alloc(ptr: *mut c_void, size: usize);
    pub fn inprof_record_free(ptr: *mut c_void);
    pub fn inprof_record_alloc_countdown(ptr: *mut c_void, size: usize, countdown: *mut u64);
    pub fn inprof_heap_free_filter() -> *const u64;
    pub fn inprof_set_span(local_root_span_id: u64, span_id: u64);
    pub fn inprof_set_endpoint(local_root_span_id: u64, endpoint: *const c_char);
    pub fn inprof_count_endpoint(endpoint: *const c_char, count: u64);
    pub fn inprof_set_label(key: *const c_char, value: *const c_char) -> inprof_status;
    pub fn inprof_clear_labels();
}
