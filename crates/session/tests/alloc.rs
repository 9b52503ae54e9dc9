//! The session's steady state allocates nothing: two logged-on sessions exchanging application
//! messages (send, journal to a file store, transmit, decode, validate, deliver, heartbeat
//! timers) for many messages, counted by a per-thread counting allocator.

use std::time::Duration;

use gapless_codec::value::UtcTimestamp;
use gapless_dict::Version;
use gapless_session::{Event, Instant, Now, Role, Session, SessionConfig, State};
use gapless_store::{Durability, FileStore, StoreConfig};
use gapless_testkit::{CountingAllocator, allocations_during, counts_allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Moves everything `from` has to send into `to`, delivering application messages.
fn pump(
    from: &mut Session<FileStore>,
    to: &mut Session<FileStore>,
    now: Now,
    wire: &mut Vec<u8>,
    delivered: &mut u64,
) {
    while let Some(bytes) = from.poll_transmit() {
        let n = bytes.len();
        wire.extend_from_slice(bytes);
        from.transmitted(n);
    }
    let used = to.handle_bytes(now, wire, |event| {
        if let Event::Application { .. } = event {
            *delivered += 1;
        }
    });
    wire.drain(..used);
}

fn session(dir: &std::path::Path, role: Role, sender: &str, target: &str) -> Session<FileStore> {
    let store = FileStore::open(dir, StoreConfig::new(Durability::None)).expect("store opens");
    let config = SessionConfig::new(Version::Fix44, role, sender, target);
    Session::new(config, store)
}

const MESSAGES: u64 = 100_000;

#[test]
fn steady_state_exchange_does_not_allocate() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut client = session(dirs.0.path(), Role::Initiator, "CLIENT", "VENUE");
    let mut venue = session(dirs.1.path(), Role::Acceptor, "VENUE", "CLIENT");
    let mut now = Now::new(
        Instant::from_nanos(1),
        UtcTimestamp::from_unix_nanos(1_795_413_600_000_000_000),
    );
    let mut wire = Vec::with_capacity(1 << 20);
    let mut delivered = 0u64;

    client.handle_connect(now);
    venue.handle_connect(now);
    pump(&mut client, &mut venue, now, &mut wire, &mut delivered);
    pump(&mut venue, &mut client, now, &mut wire, &mut delivered);
    assert_eq!(
        (client.state(), venue.state()),
        (State::Active, State::Active)
    );
    while client.poll_event().is_some() {}
    while venue.poll_event().is_some() {}

    let news = |body: &mut gapless_codec::Encoder<'_>| {
        body.field(148, b"Headline").uint(33, 1).field(58, b"line");
    };
    // Warm up: buffers reach their working size before counting starts.
    for _ in 0..1_000 {
        client.send(now, b"B", news).unwrap();
        pump(&mut client, &mut venue, now, &mut wire, &mut delivered);
    }

    let allocations = allocations_during(|| {
        for i in 0..MESSAGES {
            now = now.advanced(Duration::from_micros(10));
            client.send(now, b"B", news).unwrap();
            pump(&mut client, &mut venue, now, &mut wire, &mut delivered);
            if i % 1_000 == 0 {
                // Time passes on both sides: heartbeats go out and are received.
                now = now.advanced(Duration::from_secs(31));
                client.handle_timeout(now);
                venue.handle_timeout(now);
                pump(&mut client, &mut venue, now, &mut wire, &mut delivered);
                pump(&mut venue, &mut client, now, &mut wire, &mut delivered);
            }
        }
    });

    assert!(counts_allocations());
    assert_eq!(delivered, 1_000 + MESSAGES);
    assert_eq!(venue.next_target_seq(), client.next_sender_seq());
    assert_eq!(
        allocations, 0,
        "{allocations} allocations over {MESSAGES} messages"
    );
}
