//! The hot path (`append` with `Durability::None`, `get`, `range`) must not allocate once
//! the segment exists. A counting global allocator checks that over 100,000 messages.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use gapless_store::{Durability, FileStore, MessageStore, StoreConfig};

struct CountingAllocator;

thread_local! {
    /// Allocations made by this thread while counting; other harness threads don't count.
    static ALLOCATIONS: Cell<Option<u64>> = const { Cell::new(None) };
}

fn note_allocation() {
    // `try_with` because the allocator also runs while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get().map(|n| n + 1)));
}

// SAFETY: every method forwards to `System` unchanged; counting has no effect on memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` via this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` and `layout` came from `System` via this allocator; the caller
        // upholds the rest of `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|count| count.set(Some(0)));
    f();
    ALLOCATIONS.with(|count| count.replace(None)).unwrap_or(0)
}

const MESSAGES: u64 = 100_000;
const MESSAGE_LEN: usize = 120;

/// Writes `seq` into a fixed template without allocating.
fn fill(message: &mut [u8; MESSAGE_LEN], seq: u64) {
    message[..8].copy_from_slice(&seq.to_le_bytes());
}

#[test]
fn append_get_and_range_do_not_allocate_in_steady_state() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![0u8; 16]))) > 0);
    let dir = tempfile::tempdir().unwrap();
    // 100,000 records of 32 + 120 bytes need 15.2 MB: one 16 MiB segment holds them all.
    let config = StoreConfig::new(Durability::None).with_segment_size(16 << 20);
    let mut store = FileStore::open(dir.path(), config).unwrap();
    let mut message = [b'x'; MESSAGE_LEN];
    fill(&mut message, 1);
    // The first append creates the segment, which may allocate.
    store.append(1, 1, &message).unwrap();

    let appends = allocations_during(|| {
        for seq in 2..=MESSAGES {
            fill(&mut message, seq);
            store.append(seq, seq as i64, &message).unwrap();
        }
    });
    let mut checked = 0;
    let reads = allocations_during(|| {
        for seq in 1..=MESSAGES {
            fill(&mut message, seq);
            let stored = store.get(seq).unwrap();
            assert!(stored.bytes == message && stored.sending_time_ns == seq as i64);
        }
        for (stored, seq) in store.range(1, 0).zip(1..) {
            fill(&mut message, seq);
            assert!(stored.seq == seq && stored.bytes == message);
            checked += 1;
        }
        checked += store.range(500, 600).count();
    });
    assert_eq!(checked as u64, MESSAGES + 101);
    assert_eq!(
        (appends, reads),
        (0, 0),
        "allocations during (appends, reads)"
    );
}
