//! The hot path (`append` with `Durability::None`, `get`, `range`) must not allocate once
//! the segment exists. A counting global allocator checks that over 100,000 messages.

use gapless_store::{Durability, FileStore, MessageStore, StoreConfig};
use gapless_testkit::{CountingAllocator, allocations_during, counts_allocations};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const MESSAGES: u64 = 100_000;
const MESSAGE_LEN: usize = 120;

/// Writes `seq` into a fixed template without allocating.
fn fill(message: &mut [u8; MESSAGE_LEN], seq: u64) {
    message[..8].copy_from_slice(&seq.to_le_bytes());
}

#[test]
fn append_get_and_range_do_not_allocate_in_steady_state() {
    assert!(counts_allocations());
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
