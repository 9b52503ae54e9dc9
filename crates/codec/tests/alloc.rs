//! Proves the hot path allocation-free: framing, header lookup, typed reads and encoding over many
//! messages, counted by a global allocator that counts this thread's allocations.

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Encoder, Limits, StandardHeader, decode, tag};
use gapless_testkit::{CountingAllocator, allocations_during, counts_allocations};

mod common;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    assert!(counts_allocations());
}
