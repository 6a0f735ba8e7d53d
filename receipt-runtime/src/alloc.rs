//! An optional counting global allocator: install it to get allocated bytes per stage.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: receipt_runtime::alloc::CountingAlloc = receipt_runtime::alloc::CountingAlloc;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// Wraps the system allocator and counts the bytes each thread allocates.
///
/// Without it, allocated bytes are recorded as unavailable.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` unchanged; counting has no effect on the
// returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        crate::measure::note_alloc(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we forward.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        crate::measure::note_alloc(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (we forward every allocation).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        crate::measure::note_alloc(new_size.saturating_sub(layout.size()));
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
