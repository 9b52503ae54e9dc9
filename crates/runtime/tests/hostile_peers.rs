//! Peers that abuse an inline gateway's acceptor, over loopback with real sockets: connections
//! that never send a first message, more of them than the gateway keeps, and a logged-on peer
//! that never reads what it is sent. The gateway is polled on the test's thread; each peer runs
//! on its own, and every wait is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_codec::value::{TimePrecision, UtcTimestamp};
use gapless_codec::{Encoder, StandardHeader, tag};
use gapless_dict::Version;
use gapless_runtime::{
    ChannelPlan, Endpoint, Gateway, MAX_PENDING_CONNECTIONS, SessionPlan, StorePlan, open_session,
};
use gapless_session::{Role, SessionConfig, State};
use gapless_transport::{SocketTransport, TransportConfig};

const NAME: &str = "client";

/// An inline gateway with one acceptor session (GAPLESS, peer CLIENT) on a free port.
fn gateway(logon_timeout: Duration) -> (Gateway<SocketTransport>, SocketAddr) {
    let mut session = SessionConfig::new(Version::Fix44, Role::Acceptor, "GAPLESS", "CLIENT");
    session.logon_timeout = logon_timeout;
    session.reset_on_logon = true;
    let plan = SessionPlan {
        name: NAME.into(),
        session,
        endpoint: Endpoint::Accept {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_peers: Vec::new(),
        },
        store: StorePlan::Memory,
        channel: ChannelPlan::default(),
    };
    let opened = open_session(&plan).unwrap();
    let transport = SocketTransport::new(TransportConfig::default());
    let gateway = Gateway::new(transport, vec![opened], None).unwrap();
    let addr = gateway.local_addr(NAME).unwrap();
    (gateway, addr)
}

/// Polls `gateway` while `peer` runs (at most `limit`), then returns what the peer returned.
fn with_peer<R: Send>(
    gateway: &mut Gateway<SocketTransport>,
    limit: Duration,
    peer: impl FnOnce() -> R + Send,
) -> R {
    let deadline = Instant::now() + limit;
    std::thread::scope(|scope| {
        let handle = scope.spawn(peer);
        while !handle.is_finished() {
            assert!(Instant::now() < deadline, "the peer did not finish in time");
            if !gateway.poll() {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        handle.join().unwrap()
    })
}

/// Reads until the gateway closes; returns how long that took, or `None` at `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut scratch = [0u8; 4096];
    while start.elapsed() < limit {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        match stream.read(&mut scratch) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// A message from CLIENT to GAPLESS.
fn message(seq: u64, msg_type: &[u8], body: &[(u32, &[u8])]) -> Vec<u8> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let time = UtcTimestamp::from_unix_nanos(i64::try_from(nanos).unwrap());
    let mut buf = [0u8; 512];
    let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", msg_type);
    encoder.header(&StandardHeader::new(
        b"CLIENT",
        b"GAPLESS",
        seq,
        time,
        TimePrecision::Millis,
    ));
    for (tag, value) in body {
        encoder.field(*tag, value);
    }
    encoder.finish().unwrap().to_vec()
}

#[test]
fn test_pending_silent_connection_closed_at_logon_timeout() {
    let (mut gateway, addr) = gateway(Duration::from_secs(1));
    let closed = with_peer(&mut gateway, Duration::from_secs(10), || {
        let mut stream = TcpStream::connect(addr).unwrap();
        closed_within(&mut stream, Duration::from_secs(5))
    });
    let closed = closed.expect("a silent connection is closed");
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
}

#[test]
fn test_pending_at_limit_new_connection_pushes_out_the_oldest() {
    let (mut gateway, addr) = gateway(Duration::from_secs(30));
    let (oldest, newest) = with_peer(&mut gateway, Duration::from_secs(20), || {
        let mut streams: Vec<TcpStream> = Vec::new();
        for _ in 0..MAX_PENDING_CONNECTIONS {
            streams.push(TcpStream::connect(addr).unwrap());
        }
        // Every one of them is pending before the one too many arrives.
        std::thread::sleep(Duration::from_millis(500));
        streams.push(TcpStream::connect(addr).unwrap());
        let oldest = closed_within(&mut streams[0], Duration::from_secs(5));
        let newest = closed_within(streams.last_mut().unwrap(), Duration::from_millis(500));
        (oldest, newest)
    });
    assert!(oldest.is_some(), "the oldest pending connection is closed");
    assert_eq!(newest, None, "the newest stays");
}

#[test]
fn test_active_peer_never_reading_is_disconnected() {
    let (mut gateway, addr) = gateway(Duration::from_secs(5));
    let ended_by_gateway = with_peer(&mut gateway, Duration::from_secs(40), || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let logon = message(
            1,
            b"A",
            &[
                (tag::ENCRYPT_METHOD, b"0"),
                (tag::HEART_BT_INT, b"1"),
                (tag::RESET_SEQ_NUM_FLAG, b"Y"),
            ],
        );
        stream.write_all(&logon).unwrap();
        // Read the Logon's answer, then nothing more.
        let mut answer = [0u8; 512];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert!(stream.read(&mut answer).unwrap() > 0);
        stream
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let mut seq = 2;
        while start.elapsed() < Duration::from_secs(30) {
            let mut batch = Vec::new();
            for _ in 0..64 {
                let id = seq.to_string();
                batch.extend(message(seq, b"1", &[(tag::TEST_REQ_ID, id.as_bytes())]));
                seq += 1;
            }
            match stream.write_all(&batch) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    });
    assert!(ended_by_gateway, "the gateway closed the connection");
    assert_eq!(gateway.session_state(NAME), Some(State::Disconnected));
}
