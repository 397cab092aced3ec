//! Rust panics still unwind and are caught by `catch_unwind` in a binary that
//! links libinprof while the profiler is sampling: a CPU-timer signal
//! arriving in the middle of an unwind (libgcc_s installing a landing pad)
//! must not break it, and the profiler's walker must not crash there.

use std::ffi::{c_char, c_void, CStr};
use std::panic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[inline(never)]
fn deep(n: u32, payload: u64) -> u64 {
    if n == 0 {
        std::panic::panic_any(payload);
    }
    // Keeps the recursion from being turned into a loop.
    std::hint::black_box(deep(n - 1, payload)) + 1
}

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> i32;
}
#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

/// The object that provides `name` to this process (global lookup order,
/// which is what the executable's own references bind to).
fn provider_of(name: &CStr) -> String {
    unsafe {
        let p = dlsym(std::ptr::null_mut(), name.as_ptr()); // RTLD_DEFAULT
        assert!(!p.is_null(), "{name:?} not found");
        let mut info = DlInfo {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        };
        assert!(dladdr(p, &mut info) != 0);
        CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned()
    }
}

#[test]
fn rust_unwinding_stays_with_libgcc_s() {
    // Make sure the library really is linked into this binary.
    assert_eq!(inprof::library_version(), inprof::BUILT_FOR_VERSION);
    for sym in [c"_Unwind_RaiseException", c"_Unwind_Resume", c"_Unwind_Backtrace"] {
        let lib = provider_of(sym);
        assert!(lib.contains("libgcc_s"), "{sym:?} comes from {lib}, not libgcc_s: libunwind took over unwinding");
    }
}

struct Guard<'a>(&'a AtomicU64);
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // Destructors run during unwinding: count them.
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn catch_unwind_works_while_profiling() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A high rate so that many signals land while frames are being unwound.
    let profiler = inprof::Config::new()
        .cpu_hz(1000)
        .output_dir(&dir)
        .upload(inprof::Upload::Off)
        .start()
        .expect("start");
    panic::set_hook(Box::new(|_| {})); // thousands of expected panics: keep stderr quiet
    let drops = AtomicU64::new(0);
    let caught = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (drops, caught) = (&drops, &caught);
            s.spawn(move || {
                let end = Instant::now() + Duration::from_millis(1500);
                let mut i = 0u64;
                while Instant::now() < end {
                    let payload = t << 32 | i;
                    let r = panic::catch_unwind(|| {
                        let _g = Guard(drops);
                        deep(24, payload)
                    });
                    let p = r.expect_err("deep() always panics");
                    assert_eq!(p.downcast_ref::<u64>(), Some(&payload), "wrong payload");
                    caught.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
    });
    let _ = panic::take_hook();
    let caught = caught.load(Ordering::Relaxed);
    assert!(caught > 100, "only {caught} panics caught");
    assert_eq!(drops.load(Ordering::Relaxed), caught, "every unwind must run the destructor");
    let stats = profiler.stats();
    assert!(stats.cpu_samples > 50, "the profiler was not sampling: {stats:?}");
    assert!(inprof::is_running());
    profiler.stop(Duration::from_secs(10)).expect("stop");
}
