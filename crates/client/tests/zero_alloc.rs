//! 100,000 round trips through both rings (application sends an order, the gateway takes it and
//! delivers an execution report, the application receives it) allocate nothing.

use gapless_client::{Channel, ChannelConfig, InboundRecord, OutboundRecord};
use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};

#[global_allocator]
static GLOBAL: gapless_testkit::CountingAllocator = gapless_testkit::CountingAllocator;

const ROUND_TRIPS: u64 = 100_000;

#[test]
fn round_trips_allocate_nothing() {
    assert!(gapless_testkit::counts_allocations());
    let (mut gateway, mut app) = Channel::anonymous(&ChannelConfig {
        to_app_capacity: 1 << 16,
        from_app_capacity: 1 << 16,
        max_body_len: 1024,
    })
    .unwrap();
    let report =
        b"8=FIX.4.4\x019=40\x0135=8\x0134=1\x0111=O1\x0117=E1\x01150=0\x0139=0\x0110=000\x01";
    let mut checksum = 0u64;
    let allocations = gapless_testkit::allocations_during(|| {
        for seq in 1..=ROUND_TRIPS {
            app.try_send(b"D", |body| {
                body.uint(11, seq)
                    .field(55, b"EURUSD")
                    .char(54, b'1')
                    .decimal(38, Decimal::new(1_000_000, 0))
                    .char(40, b'2')
                    .decimal(44, Decimal::new(10_842, -4))
                    .timestamp(
                        60,
                        UtcTimestamp::from_unix_nanos(seq as i64),
                        TimePrecision::Micros,
                    );
            })
            .unwrap();
            let taken = gateway
                .try_take(|record| match record {
                    OutboundRecord::Send { body, .. } => body.len() as u64,
                    OutboundRecord::Logout { .. } => 0,
                })
                .unwrap()
                .unwrap();
            gateway.try_deliver(seq, 0, report).unwrap();
            let received = app
                .try_recv(|record| match record {
                    InboundRecord::Application { seq, message, .. } => seq + message.len() as u64,
                    InboundRecord::Event { .. } => 0,
                })
                .unwrap()
                .unwrap();
            assert_eq!(received, seq + report.len() as u64);
            checksum += taken;
        }
    });
    assert_eq!(allocations, 0);
    assert!(checksum > ROUND_TRIPS * 60);
}
