//! [`ProfiledAllocator`]: a `GlobalAlloc` wrapper that reports every
//! allocation and free to libinprof's heap profiler.
//!
//! The unsampled cases are decided here, inline in the caller, with no call
//! into C (see inprof.h, "Inline fast path for allocator wrappers"):
//! - an allocation lowers a per-thread countdown of bytes to the next sample,
//!   kept in a Rust `thread_local!` with a `const` initializer (no lazy
//!   registration, no destructor, so it is usable from the allocator itself
//!   at any time, thread exit included). Only an allocation that reaches it
//!   calls `inprof_record_alloc_countdown`, which samples (or not, when the
//!   profiler is off) and draws the next distance into it. A countdown of
//!   its own, rather than C's thread-local: stable Rust cannot read a C
//!   thread-local without a call, and a separate countdown is its own
//!   Poisson process over the bytes it sees, so sampling stays exact.
//! - a free tests one bit of the library's free filter, read through the
//!   pointer `inprof_heap_free_filter` returns (fixed for the life of the
//!   process, cached here after the first call). The filter has no false
//!   negatives: a clear bit proves the block was never sampled; a set bit
//!   (a sampled block, or another block hashing to the same bit) calls
//!   `inprof_record_free`, which looks it up.
//!
//! A sampled allocation records its stack in C, using C's malloc, never this
//! allocator. Nothing here allocates, panics or unwinds (unwinding out of an
//! allocator is undefined behaviour).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::sys;

/// A `GlobalAlloc` that wraps another one (usually [`std::alloc::System`])
/// and feeds the heap profiler: alloc-samples/alloc-space for what is
/// allocated in each period, inuse-objects/inuse-space for what is still
/// live at each export.
///
/// ```no_run
/// use inprof::ProfiledAllocator;
/// use std::alloc::System;
///
/// #[global_allocator]
/// static GLOBAL: ProfiledAllocator<System> = ProfiledAllocator::new(System);
///
/// fn main() {
///     let _profiler = inprof::start().expect("profiler");
///     // heap samples appear in the exported profiles
/// }
/// ```
///
/// Only allocations made through this allocator are seen: memory that C
/// code gets from `malloc` directly is not profiled.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProfiledAllocator<A> {
    inner: A,
}

impl<A> ProfiledAllocator<A> {
    /// Wraps `inner`; usable in a `static`.
    pub const fn new(inner: A) -> Self {
        ProfiledAllocator { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

thread_local! {
    /// Bytes to this thread's next sample; 0 at thread start, so the first
    /// allocation asks C for a first distance (or, with the profiler off,
    /// for a recheck after 64 KiB).
    static COUNTDOWN: Cell<u64> = const { Cell::new(0) };
}

/// The library's free filter (`inprof_heap_free_filter`), once asked for.
static FILTER: AtomicPtr<AtomicU64> = AtomicPtr::new(core::ptr::null_mut());

/// Marks the branch that calls it as unlikely (stable Rust has no
/// `likely`): the sampled cases are laid out away from the fast path.
#[cold]
#[inline(always)]
fn cold() {}

#[inline(always)]
fn record_alloc(ptr: *mut u8, size: usize) {
    if ptr.is_null() {
        return;
    }
    let size64 = size as u64;
    // try_with: never fails for a const, destructor-less thread-local, but
    // it keeps any future change from panicking inside the allocator.
    let fast = COUNTDOWN
        .try_with(|c| {
            let left = c.get();
            if size64 < left {
                c.set(left - size64);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if !fast {
        cold();
        record_alloc_slow(ptr, size);
    }
}

/// The rare case: the countdown is reached. Inlined into the caller (so the
/// C function's caller is the allocating frame, as its stack skip expects),
/// but laid out as cold.
#[inline(always)]
fn record_alloc_slow(ptr: *mut u8, size: usize) {
    let done = COUNTDOWN.try_with(|c| {
        // SAFETY: the hook only reads ptr's value, and writes the countdown
        // through the pointer before returning; the Cell is this thread's
        // and no reference to its contents is alive across the call.
        unsafe { sys::inprof_record_alloc_countdown(ptr.cast::<c_void>(), size, c.as_ptr()) }
    });
    if done.is_err() {
        // SAFETY: as above (the library's own countdown).
        unsafe { sys::inprof_record_alloc(ptr.cast::<c_void>(), size) }
    }
}

#[inline(always)]
fn filter() -> *const AtomicU64 {
    let f = FILTER.load(Ordering::Relaxed);
    if !f.is_null() {
        return f;
    }
    cold();
    // SAFETY: no arguments; returns the address of a static array of
    // 2^INPROF_HEAP_FILTER_BITS bits, never NULL. AtomicU64 has u64's layout.
    let f = unsafe { sys::inprof_heap_free_filter() } as *mut AtomicU64;
    FILTER.store(f, Ordering::Relaxed);
    f
}

#[inline(always)]
fn record_free(ptr: *mut u8) {
    let h = (ptr as usize as u64).wrapping_mul(sys::INPROF_HEAP_FILTER_MULTIPLIER)
        >> (64 - sys::INPROF_HEAP_FILTER_BITS);
    // SAFETY: h < 2^INPROF_HEAP_FILTER_BITS, so the word index is inside the
    // filter; the C side writes the words atomically, so they are read with
    // an atomic load (relaxed: a block sampled by another thread was
    // published to this one by whatever handed it the pointer, which orders
    // the bit's setting before this load).
    let word = unsafe { (*filter().add((h >> 6) as usize)).load(Ordering::Relaxed) };
    if (word >> (h & 63)) & 1 != 0 {
        cold();
        // SAFETY: as in record_alloc_slow; called before the block is handed back.
        unsafe { sys::inprof_record_free(ptr.cast::<c_void>()) }
    }
}

// SAFETY: every method forwards to the inner allocator with the caller's
// arguments unchanged, so A's guarantees are ours; the hooks do not touch the
// memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for ProfiledAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc(layout);
        record_alloc(p, layout.size());
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc_zeroed(layout);
        record_alloc(p, layout.size());
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Before the block is released: once freed, another thread may get
        // the same address and record it.
        record_free(ptr);
        self.inner.dealloc(ptr, layout)
    }

    /// A free of the old block and an allocation of the new one, as the hooks
    /// expect. The free is recorded first for the same reason as in
    /// `dealloc`; if the inner realloc fails the old block is still the
    /// caller's, so it is recorded again (counted as an allocation of its
    /// size: the price of a failure path that never lets a live block go
    /// untracked).
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record_free(ptr);
        let p = self.inner.realloc(ptr, layout, new_size);
        if p.is_null() {
            record_alloc(ptr, layout.size());
        } else {
            record_alloc(p, new_size);
        }
        p
    }
}
