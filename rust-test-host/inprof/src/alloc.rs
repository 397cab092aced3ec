//! Placeholder for the heap developer's allocator wrapper (issue 4); this
//! file is theirs and will be replaced. It forwards to the inner allocator and
//! reports allocations and frees to the library's hooks.

use core::alloc::{GlobalAlloc, Layout};

/// A `GlobalAlloc` wrapper that reports allocations to inprof.
pub struct ProfiledAllocator<A> {
    inner: A,
}

impl<A> ProfiledAllocator<A> {
    pub const fn new(inner: A) -> Self {
        ProfiledAllocator { inner }
    }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for ProfiledAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc(layout);
        if !p.is_null() {
            crate::sys::inprof_record_alloc(p.cast(), layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        crate::sys::inprof_record_free(ptr.cast());
        self.inner.dealloc(ptr, layout)
    }
}
