//! The runtime's steady state allocates nothing: 100,000 inbound ExecutionReports through the
//! inline gateway (socket transport, framing, sequence checker, session with dictionary
//! validation, file store, application ring) to an embedded application, which sends an order
//! back for every tenth, counted by a per-thread counting allocator on the gateway's thread.
//!
//! The counterparty is a plain socket on another thread writing pre-encoded messages, so that
//! what it does is outside the count and the wire content is exactly known.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapless_client::{ChannelConfig, InboundRecord};
use gapless_codec::value::{TimePrecision, UtcTimestamp};
use gapless_codec::{Encoder, StandardHeader};
use gapless_dict::Version;
use gapless_runtime::{ChannelPlan, Endpoint, Gateway, SessionPlan, StorePlan, open_session};
use gapless_session::{Role, SessionConfig, State};
use gapless_store::Durability;
use gapless_testkit::{CountingAllocator, allocations_during, counts_allocations};
use gapless_transport::{SocketTransport, TransportConfig};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const MESSAGES: u64 = 100_000;

fn utc_now() -> UtcTimestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    UtcTimestamp::from_unix_nanos(nanos as i64)
}

/// `seq` as the venue would send it: a Logon for 1, ExecutionReports after.
fn venue_message(seq: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 512];
    let msg_type: &[u8] = if seq == 1 { b"A" } else { b"8" };
    let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", msg_type);
    let header = StandardHeader::new(b"VENUE", b"GW", seq, utc_now(), TimePrecision::Millis);
    encoder.header(&header);
    if seq == 1 {
        encoder.uint(98, 0).uint(108, 30);
    } else {
        let id = seq.to_string();
        encoder
            .field(6, b"0")
            .field(11, id.as_bytes())
            .field(14, b"0")
            .field(17, id.as_bytes())
            .field(37, id.as_bytes())
            .field(38, b"100")
            .field(39, b"0")
            .field(54, b"1")
            .field(55, b"EURUSD")
            .field(150, b"0")
            .field(151, b"100");
    }
    out.extend_from_slice(encoder.finish().unwrap());
}

/// The counterparty: logs on, streams the reports, and reads (and drops) what the gateway sends
/// until the gateway closes.
fn venue(addr: SocketAddr) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = stream.try_clone().unwrap();
        let drain = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0u64;
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            total
        });
        let mut batch = Vec::with_capacity(1 << 20);
        for seq in 1..=MESSAGES + 1 {
            venue_message(seq, &mut batch);
            if batch.len() > (1 << 20) - 512 || seq == MESSAGES + 1 {
                stream.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        drain.join().unwrap()
    })
}

#[test]
fn steady_state_through_the_runtime_allocates_nothing() {
    assert!(
        counts_allocations(),
        "the counting allocator is not installed"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = SessionConfig::new(Version::Fix44, Role::Acceptor, "GW", "VENUE");
    config.heartbeat_interval = Duration::from_secs(30);
    let plan = SessionPlan {
        name: "alloc".into(),
        session: config,
        endpoint: Endpoint::Accept {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_peers: Vec::new(),
        },
        store: StorePlan::File {
            path: dir.path().join("store"),
            durability: Durability::None,
        },
        channel: ChannelPlan {
            config: ChannelConfig {
                to_app_capacity: 1 << 22,
                ..ChannelConfig::default()
            },
            ..ChannelPlan::default()
        },
    };
    let mut opened = open_session(&plan).unwrap();
    let mut app = opened.client.take().unwrap();
    let transport = SocketTransport::new(TransportConfig::default());
    let mut gateway = Gateway::new(transport, vec![opened], None).unwrap();
    let addr = gateway.local_addr("alloc").unwrap();
    let venue = venue(addr);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while gateway.session_state("alloc") != Some(State::Active) {
        gateway.poll();
        assert!(std::time::Instant::now() < deadline, "no logon");
    }
    // Warm up: the first messages size the buffers (receive buffer, session output, store
    // segment) once.
    let mut received = 0u64;
    let mut last_seq = 1u64;
    let mut receive =
        |gateway: &mut Gateway<SocketTransport>, app: &mut gapless_client::AppEnd, until: u64| {
            while received < until {
                gateway.poll();
                while let Ok(Some(seq)) = app.try_recv(|record| match record {
                    InboundRecord::Application { seq, .. } => Some(seq),
                    InboundRecord::Event { .. } => None,
                }) {
                    let Some(seq) = seq else { continue };
                    assert_eq!(seq, last_seq + 1, "out of order");
                    last_seq = seq;
                    received += 1;
                    if received.is_multiple_of(10) {
                        let order = app.try_send(b"D", |body| {
                            body.field(11, b"O")
                                .field(55, b"EURUSD")
                                .char(54, b'1')
                                .uint(38, 100);
                        });
                        // The gateway takes orders every pass; the ring cannot fill here.
                        order.unwrap();
                    }
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "stalled at {received}"
                );
            }
        };
    receive(&mut gateway, &mut app, 1_000);
    let allocations = allocations_during(|| receive(&mut gateway, &mut app, MESSAGES));
    assert_eq!(received, MESSAGES);
    assert_eq!(allocations, 0, "the steady state allocated");

    gateway.begin_shutdown();
    while !gateway.is_shut_down() {
        gateway.poll();
        assert!(std::time::Instant::now() < deadline, "no clean shutdown");
    }
    assert!(gateway.finish().is_empty());
    let bytes_back = venue.join().unwrap();
    // Logon reply, about 10,000 orders, Logout: the orders reached the wire.
    assert!(
        bytes_back > 10_000 * 100,
        "only {bytes_back} bytes came back"
    );
}
