//! Proves the hot path allocation-free: framing, header lookup, typed reads and encoding over many
//! messages, counted by a global allocator that counts this thread's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Encoder, Limits, StandardHeader, decode, tag};

mod common;

struct CountingAllocator;

thread_local! {
    // Const-initialised, so reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // try_with: the allocator runs during thread teardown too, after the locals are gone.
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

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    work();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(|n| n.get())
}

const MESSAGES: u64 = 200_000;

#[test]
fn decode_lookup_and_encode_do_not_allocate() {
    // A stream of different messages, built before counting starts.
    let mut stream = Vec::new();
    for seq in 1..=1_000u64 {
        stream.extend_from_slice(&common::fix(
            "FIX.4.4",
            &format!(
                "35=8|34={seq}|49=VENUE|52=20261124-06:07:35.{:03}|56=CLIENT|6=101.25|11=ORD{seq}|\
                 14=100|17=EXEC{seq}|31=101.25|32=100|37=O{seq}|38=100|39=2|54=1|55=ACME|150=F|151=0|",
                seq % 1000
            ),
        ));
    }
    let limits = Limits::default();
    let mut out = vec![0u8; 512];
    let now = UtcTimestamp::from_unix_nanos(1_795_500_455_123_456_789);
    let mut checked = 0u64;

    let allocations = allocations_during(|| {
        let mut seq_sum = 0u64;
        while checked < MESSAGES {
            let mut rest = &stream[..];
            while let Decoded::Message(message) = decode(rest, &limits) {
                seq_sum += message.msg_seq_num().unwrap_or(0);
                assert!(message.get(tag::SENDER_COMP_ID).is_some());
                assert!(message.sending_time().is_ok());
                assert_eq!(
                    message.get_decimal(44),
                    Err(gapless_codec::FieldError::Missing { tag: 44 })
                );
                assert!(message.get_decimal(31).is_ok());
                assert!(message.fields().count() > 10);
                rest = &rest[message.len()..];

                let header = StandardHeader::new(
                    b"CLIENT",
                    b"VENUE",
                    checked + 1,
                    now,
                    TimePrecision::Micros,
                );
                let mut encoder = Encoder::new(&mut out, b"FIX.4.4", b"D");
                encoder
                    .header(&header)
                    .field(11, b"ORD1")
                    .decimal(38, Decimal::new(100, 0))
                    .char(40, b'2')
                    .decimal(44, Decimal::new(10_125, -2))
                    .char(54, b'1')
                    .field(55, b"ACME")
                    .timestamp(60, now, TimePrecision::Micros);
                assert!(encoder.finish().is_ok());
                checked += 1;
            }
        }
        assert!(seq_sum > 0);
    });

    assert_eq!(
        allocations, 0,
        "{allocations} allocations over {checked} messages"
    );
    assert!(checked >= MESSAGES);
}

#[test]
fn counting_allocator_sees_allocations() {
    // Guards the test above against an allocator that counts nothing.
    let n = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}
