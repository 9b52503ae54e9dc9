//! # gapless-testkit: test support shared by the crates
//!
//! What this crate is: the counting allocator behind the zero-allocation tests of the codec, the
//! store, the session and the runtime. A test binary installs it and measures a closure:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: gapless_testkit::CountingAllocator = gapless_testkit::CountingAllocator;
//!
//! let allocations = gapless_testkit::allocations_during(|| hot_path());
//! assert_eq!(allocations, 0);
//! ```
//!
//! What it is not: a dependency of anything but tests. Its one `unsafe` is the allocator
//! trait, which forwards to the system allocator.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the allocations each thread makes while it is measuring.
#[derive(Debug)]
pub struct CountingAllocator;

thread_local! {
    // Const-initialised, so reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // try_with: the allocator also runs during thread teardown, after the locals are gone.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the only addition is a thread-local counter update, which does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout, which the GlobalAlloc contract makes valid.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout, which the GlobalAlloc contract makes valid.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout, as the contract requires.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; `ptr` and `layout` come from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// How many allocations (and reallocations) this thread made while `work` ran. Meaningful only in
/// a binary whose global allocator is [`CountingAllocator`]; [`counts_allocations`] checks that.
pub fn allocations_during(work: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    work();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(|n| n.get())
}

/// Whether allocations are being counted: one deliberate allocation must register, so that a
/// zero-allocation test cannot pass because nothing counts.
pub fn counts_allocations() -> bool {
    allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
        std::hint::black_box(v);
    }) == 1
}
