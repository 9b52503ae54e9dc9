//! The same contract tests run against every backend and every io_uring configuration (plain,
//! registered buffers, multishot receive, both), over loopback: echo, peer close, connect failure
//! and back-pressure. Then tests of the io_uring paths themselves: multishot with many small
//! messages through few provided buffers, a full contiguous buffer under multishot, and
//! connection churn beyond the registered-buffer slots.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gapless_transport::{
    CloseReason, ConnId, Event, FeatureChoice, SocketTransport, Transport, TransportConfig,
    UringConfig, UringTransport,
};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn config() -> TransportConfig {
    TransportConfig {
        recv_buffer: 64 * 1024,
        send_buffer: 64 * 1024,
        busy_poll_micros: None,
    }
}

/// Polls until `done` or a 20-second deadline.
fn poll_until<T: Transport>(t: &mut T, what: &str, mut done: impl FnMut(&mut T) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(t) {
        t.poll();
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// Listens and connects to itself; returns (client, server) connection ids.
fn pair<T: Transport>(t: &mut T) -> (ConnId, ConnId) {
    let (_, addr) = t.listen(loopback()).unwrap();
    let client = t.connect(addr).unwrap();
    let (mut connected, mut server) = (false, None);
    poll_until(t, "connection", |t| {
        while let Some(event) = t.next_event() {
            match event {
                Event::Connected { conn } if conn == client => connected = true,
                Event::Accepted { conn, .. } => server = Some(conn),
                other => panic!("unexpected {other:?}"),
            }
        }
        connected && server.is_some()
    });
    (client, server.unwrap())
}

fn echo_round_trips<T: Transport>(mut t: T) {
    let (client, server) = pair(&mut t);
    let message: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut echoed) = (0usize, Vec::with_capacity(message.len()));
    poll_until(&mut t, "echo", |t| {
        if sent < message.len() {
            let end = (sent + 10_000).min(message.len());
            sent += t.send(client, &message[sent..end]).unwrap();
        }
        let incoming = t.received(server).to_vec();
        let accepted = t.send(server, &incoming).unwrap();
        t.consume(server, accepted);
        let back = t.received(client).len();
        echoed.extend_from_slice(t.received(client));
        t.consume(client, back);
        echoed.len() == message.len()
    });
    assert_eq!(echoed, message);
    assert_eq!(t.unsent(client), 0);
}

fn peer_close_keeps_received_bytes<T: Transport>(mut t: T) {
    let (client, server) = pair(&mut t);
    t.send(client, b"last words").unwrap();
    poll_until(&mut t, "flush", |t| t.unsent(client) == 0);
    t.close(client);
    let mut closed = false;
    poll_until(&mut t, "close", |t| {
        while let Some(event) = t.next_event() {
            if event
                == (Event::Closed {
                    conn: server,
                    reason: CloseReason::PeerClosed,
                })
            {
                closed = true;
            }
        }
        closed
    });
    assert_eq!(t.received(server), b"last words");
    t.close(server);
    assert_eq!(t.received(server), b"");
    assert!(t.send(server, b"x").is_err());
}

fn connect_to_nothing_fails<T: Transport>(mut t: T) {
    // Bind then drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = t.connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let mut failed = false;
    poll_until(&mut t, "connect failure", |t| {
        while let Some(event) = t.next_event() {
            if let Event::Closed {
                conn: c,
                reason: CloseReason::ConnectFailed(_),
            } = event
            {
                failed = c == conn;
            }
        }
        failed
    });
}

fn stopped_reading_pushes_back<T: Transport>(mut t: T) {
    let (client, server) = pair(&mut t);
    t.set_reading(server, false);
    let chunk = vec![7u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(20);
    // Keep sending until the send queue stops draining: the kernel buffers and TCP's window
    // are full, and nothing was lost or blocked.
    let mut stalled_polls = 0;
    let mut total = 0usize;
    while stalled_polls < 200 {
        total += t.send(client, &chunk).unwrap();
        let before = t.unsent(client);
        t.poll();
        stalled_polls = if t.unsent(client) >= before && before > 0 {
            stalled_polls + 1
        } else {
            0
        };
        assert!(Instant::now() < deadline, "sender never filled up");
    }
    assert_eq!(t.received(server).len(), 0);
    t.set_reading(server, true);
    let mut got = 0usize;
    poll_until(&mut t, "drain", |t| {
        let n = t.received(server).len();
        t.consume(server, n);
        got += n;
        got == total
    });
}

macro_rules! contract_tests {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn echo_round_trips_a_megabyte() {
                echo_round_trips($make);
            }

            #[test]
            fn peer_close_keeps_received_bytes_readable() {
                peer_close_keeps_received_bytes($make);
            }

            #[test]
            fn connect_to_a_closed_port_fails() {
                connect_to_nothing_fails($make);
            }

            #[test]
            fn stopped_reading_pushes_back_without_loss() {
                stopped_reading_pushes_back($make);
            }
        }
    };
}

/// An io_uring transport with exactly these features (`On` fails where the kernel lacks one,
/// so a test cannot silently pass on the plain path).
fn uring(registered: bool, multishot: bool, base: TransportConfig) -> UringTransport {
    let pick = |on| {
        if on {
            FeatureChoice::On
        } else {
            FeatureChoice::Off
        }
    };
    let t = UringTransport::new(
        base,
        UringConfig {
            registered_buffers: pick(registered),
            multishot_recv: pick(multishot),
            ..UringConfig::default()
        },
    )
    .expect("io_uring with the requested features");
    let features = t.features();
    assert_eq!(features.registered_buffers, registered);
    assert_eq!(features.multishot_recv, multishot);
    // The test harness ignores SIGPIPE, as Rust programs do, so fixed writes are allowed.
    assert_eq!(features.registered_sends, registered);
    t
}

#[test]
fn uring_with_a_provided_buffer_count_not_a_power_of_two_is_refused() {
    let result = UringTransport::new(
        config(),
        UringConfig {
            multishot_recv: FeatureChoice::On,
            provided_buffers: 100,
            ..UringConfig::default()
        },
    );
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

contract_tests!(socket, SocketTransport::new(config()));
contract_tests!(uring_plain, uring(false, false, config()));
contract_tests!(uring_registered, uring(true, false, config()));
contract_tests!(uring_multishot, uring(false, true, config()));
contract_tests!(uring_registered_multishot, uring(true, true, config()));

/// Sends `message` from client to server in pieces of at most `piece` bytes, reading the server
/// side only when `read_now` says so; returns what the server received.
fn one_way<T: Transport>(
    t: &mut T,
    client: ConnId,
    server: ConnId,
    message: &[u8],
    piece: usize,
) -> Vec<u8> {
    let (mut sent, mut got) = (0usize, Vec::with_capacity(message.len()));
    poll_until(t, "one-way transfer", |t| {
        if sent < message.len() {
            let end = (sent + piece).min(message.len());
            sent += t.send(client, &message[sent..end]).unwrap();
        }
        let n = t.received(server).len();
        got.extend_from_slice(t.received(server));
        t.consume(server, n);
        got.len() == message.len()
    });
    got
}

#[test]
fn multishot_with_few_provided_buffers_delivers_many_small_messages_in_order() {
    let mut t = UringTransport::new(
        config(),
        UringConfig {
            registered_buffers: FeatureChoice::Off,
            multishot_recv: FeatureChoice::On,
            provided_buffers: 4,
            provided_buffer_len: 128,
            ..UringConfig::default()
        },
    )
    .unwrap();
    let (client, server) = pair(&mut t);
    let mut message = Vec::new();
    for i in 0..20_000u32 {
        message.extend_from_slice(format!("msg {i:07} ").as_bytes());
    }
    // 48-byte pieces: many completions, each provided buffer reused thousands of times, and
    // ENOBUFS whenever the four are all held.
    let got = one_way(&mut t, client, server, &message, 48);
    assert_eq!(got, message);
}

#[test]
fn multishot_with_a_full_contiguous_buffer_holds_the_rest_until_consumed() {
    let small = TransportConfig {
        recv_buffer: 4096,
        ..config()
    };
    let mut t = UringTransport::new(
        small,
        UringConfig {
            registered_buffers: FeatureChoice::Off,
            multishot_recv: FeatureChoice::On,
            provided_buffers: 8,
            provided_buffer_len: 1024,
            ..UringConfig::default()
        },
    )
    .unwrap();
    let (client, server) = pair(&mut t);
    let message: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let mut sent = 0;
    // Fill without consuming: the contiguous buffer fills to its capacity and stops there.
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.received(server).len() < 4096 {
        if sent < message.len() {
            sent += t.send(client, &message[sent..]).unwrap();
        }
        t.poll();
        assert!(Instant::now() < deadline, "buffer never filled");
    }
    for _ in 0..100 {
        t.poll();
    }
    assert_eq!(t.received(server), &message[..4096]);
    // Consuming a little lets exactly the next bytes in, in order.
    t.consume(server, 1000);
    poll_until(&mut t, "refill", |t| t.received(server).len() == 4096);
    assert_eq!(t.received(server), &message[1000..5096]);
    t.consume(server, 4096);
    let mut got = message[..5096].to_vec();
    poll_until(&mut t, "rest", |t| {
        if sent < message.len() {
            sent += t.send(client, &message[sent..]).unwrap();
        }
        let n = t.received(server).len();
        got.extend_from_slice(t.received(server));
        t.consume(server, n);
        got.len() == message.len()
    });
    assert_eq!(got, message);
}

#[test]
fn registered_slots_exhausted_by_churn_fall_back_and_are_reused() {
    let mut t = UringTransport::new(
        config(),
        UringConfig {
            registered_buffers: FeatureChoice::On,
            registered_slots: 2,
            multishot_recv: FeatureChoice::Off,
            ..UringConfig::default()
        },
    )
    .unwrap();
    let message: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    for round in 0..4 {
        // Three pairs: six connections over two slots, so four run unregistered.
        let pairs: Vec<(ConnId, ConnId)> = (0..3).map(|_| pair(&mut t)).collect();
        assert_eq!(t.registered_connections(), 2, "round {round}");
        for &(client, server) in &pairs {
            assert_eq!(one_way(&mut t, client, server, &message, 7_000), message);
            assert_eq!(one_way(&mut t, server, client, &message, 7_000), message);
        }
        for (client, server) in pairs {
            t.close(client);
            t.close(server);
        }
        poll_until(&mut t, "release", |t| {
            while t.next_event().is_some() {}
            t.registered_connections() == 0
        });
    }
}
