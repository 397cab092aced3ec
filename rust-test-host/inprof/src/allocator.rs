//! [`ProfiledAllocator`]: a `GlobalAlloc` wrapper that reports every
//! allocation and free to libinprof's heap profiler.
//!
//! Each call forwards to the inner allocator and to the C hooks
//! `inprof_record_alloc` / `inprof_record_free`. The hooks are safe at any
//! time (before the profiler starts, after it stops, from any thread) and cost
//! a few instructions unless the allocation is sampled (on average one per
//! `heap_sample_bytes` allocated bytes, 512 KiB by default); a sampled one
//! records its stack in C, using C's malloc, never this allocator. Nothing
//! here allocates, panics or unwinds (unwinding out of an allocator is
//! undefined behaviour).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

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

#[inline(always)]
fn record_alloc(ptr: *mut u8, size: usize) {
    if !ptr.is_null() {
        // SAFETY: the hook only reads its arguments and never dereferences ptr.
        unsafe { sys::inprof_record_alloc(ptr.cast::<c_void>(), size) }
    }
}

#[inline(always)]
fn record_free(ptr: *mut u8) {
    // SAFETY: as above; called before the block is handed back.
    unsafe { sys::inprof_record_free(ptr.cast::<c_void>()) }
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
