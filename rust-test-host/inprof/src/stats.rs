//! [`Stats`]: the library's counters (`inprof_stats`) as a Rust struct.

use crate::error::{status_to_result, Error};
use crate::sys;

/// The library's counters; see `inprof_statistics` in include/inprof.h.
pub fn stats() -> Result<Stats, Error> {
    let mut raw = sys::inprof_statistics {
        struct_size: std::mem::size_of::<sys::inprof_statistics>() as u32,
        ..Default::default()
    };
    // SAFETY: raw is a valid, writable struct of the size it declares.
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
    /// Stack walks that stopped at a PC in no known object.
    pub unwind_unknown_pc: u64,
    /// Samples whose stack was not walked for lack of stack space.
    pub unwind_no_stack_room: u64,
    /// Objects whose debug info the symbolizer's memory cap kept out.
    pub symbolizer_cap_hits: u64,
    /// CPU samples aggregated because the period's timeline was full.
    pub timeline_samples_aggregated: u64,
    /// `set_label` calls refused because the process-wide label table was full.
    pub labels_table_full: u64,
    /// `count_endpoint` calls not counted: the period had too many endpoints.
    pub endpoint_counts_dropped: u64,
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
            unwind_unknown_pc: s.unwind_unknown_pc,
            unwind_no_stack_room: s.unwind_no_stack_room,
            symbolizer_cap_hits: s.symbolizer_cap_hits,
            timeline_samples_aggregated: s.timeline_samples_aggregated,
            labels_table_full: s.labels_table_full,
            endpoint_counts_dropped: s.endpoint_counts_dropped,
        }
    }
}
