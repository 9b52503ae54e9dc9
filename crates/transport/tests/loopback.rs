//! The same contract tests run against every backend, over loopback: echo, peer close, connect
//! failure and back-pressure.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gapless_transport::{
    CloseReason, ConnId, Event, SocketTransport, Transport, TransportConfig, UringTransport,
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

contract_tests!(socket, SocketTransport::new(config()));
contract_tests!(
    uring,
    UringTransport::new(config(), Default::default()).expect("io_uring available")
);
