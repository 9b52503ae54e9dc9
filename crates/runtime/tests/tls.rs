//! Two gateways over TLS, with a certificate rcgen generates here: an inline acceptor (a
//! `Gateway` over `TlsTransport`, polled by the test so that it can be killed mid-stream) and an
//! initiator started by `gapless_runtime::run` with `RuntimeConfig::tls`, in each mode. Orders
//! go one way and ExecutionReports come back; the acceptor is dropped while orders sit unread
//! in its socket and started again on its store, so the initiator reconnects, the acceptor finds
//! a gap and the resent orders arrive through TLS. Both applications must see every message once
//! and in order. Then an initiator that trusts another CA never logs on, and a plaintext peer
//! on the TLS port gets no FIX reply.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gapless_client::{AppEnd, BodyWriter, ChannelConfig, InboundRecord, SessionEvent, Start};
use gapless_codec::{Decoded, Limits, decode, tag};
use gapless_dict::Version;
use gapless_runtime::{
    Backoff, ChannelPlan, Endpoint, Gateway, IdleStrategy, Mode, RuntimeConfig, SessionPlan,
    StorePlan, open_session, run,
};
use gapless_session::{Role, SessionConfig, State};
use gapless_store::Durability;
use gapless_transport::{
    SocketTransport, TlsClientFiles, TlsServerFiles, TlsSettings, TlsTransport, TransportConfig,
};

const BEFORE_GAP: u64 = 40;
const IN_GAP: u64 = 30;
const TOTAL: u64 = 120;
const TIME_LIMIT: Duration = Duration::from_secs(60);

type Acceptor = Gateway<TlsTransport<SocketTransport>>;

/// The tests spin; on a small machine they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A self-signed certificate for `localhost`, as PEM files in `dir`.
fn certificate(dir: &Path, stem: &str) -> TlsServerFiles {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    TlsServerFiles {
        cert,
        key,
        client_ca: None,
    }
}

fn acceptor_plan(dir: &Path, listen: SocketAddr) -> SessionPlan {
    SessionPlan {
        name: "acceptor".into(),
        session: SessionConfig::new(Version::Fix44, Role::Acceptor, "GW", "CLIENT"),
        endpoint: Endpoint::Accept {
            listen,
            allowed_peers: Vec::new(),
        },
        store: StorePlan::File {
            path: dir.join("acceptor-store"),
            durability: Durability::None,
        },
        channel: ChannelPlan::default(),
    }
}

/// Starts (or restarts, on the same store) the acceptor; returns it and its application.
fn start_acceptor(dir: &Path, listen: SocketAddr, server: &TlsServerFiles) -> (Acceptor, AppEnd) {
    let mut opened = open_session(&acceptor_plan(dir, listen)).unwrap();
    let app = opened.client.take().unwrap();
    let mut settings = TlsSettings::default();
    settings.add_server(listen, server.load().unwrap()).unwrap();
    let config = TransportConfig::default();
    let transport = TlsTransport::new(SocketTransport::new(config), config, settings);
    (Gateway::new(transport, vec![opened], None).unwrap(), app)
}

fn initiator_config(
    dir: &Path,
    peer: SocketAddr,
    client: &TlsClientFiles,
    mode: Mode,
) -> RuntimeConfig {
    let plan = SessionPlan {
        name: "initiator".into(),
        session: SessionConfig::new(Version::Fix44, Role::Initiator, "CLIENT", "GW"),
        endpoint: Endpoint::Connect {
            addr: peer,
            backoff: Backoff {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(200),
            },
        },
        store: StorePlan::File {
            path: dir.join("initiator-store"),
            durability: Durability::None,
        },
        channel: ChannelPlan {
            path: Some(dir.join("initiator.chan")),
            config: ChannelConfig::default(),
            start: Start::Fresh,
        },
    };
    let mut config = RuntimeConfig::new(vec![plan]);
    config.mode = mode;
    config.idle = IdleStrategy::Yield;
    config.shutdown_timeout = Duration::from_millis(500);
    config.tls.add_client(peer, client.load().unwrap()).unwrap();
    config
}

/// Starts `run` on its own thread; returns the stop flag and the thread.
fn start_initiator(config: RuntimeConfig) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || run(&config, &flag).unwrap());
    (stop, thread)
}

fn attach(path: &Path, deadline: Instant) -> AppEnd {
    loop {
        if let Ok(app) = AppEnd::attach(path) {
            return app;
        }
        assert!(
            Instant::now() < deadline,
            "the initiator's channel never appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a message of `msg_type` whose body `fill` writes, waiting (bounded) while the ring is
/// full.
fn send_until_taken(app: &mut AppEnd, msg_type: &[u8], fill: impl Fn(&mut BodyWriter<'_>)) {
    let deadline = Instant::now() + TIME_LIMIT;
    while app.try_send(msg_type, |body| fill(body)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the ring to the gateway stays full"
        );
        std::thread::yield_now();
    }
}

fn send_order(app: &mut AppEnd, id: u64) {
    let id = id.to_string();
    send_until_taken(app, b"D", |body| {
        body.field(tag::CL_ORD_ID, id.as_bytes())
            .field(21, b"1")
            .field(38, b"100")
            .field(40, b"1")
            .field(54, b"1")
            .field(55, b"EURUSD")
            .field(60, b"20261124-12:00:00.000");
    });
}

fn send_report(app: &mut AppEnd, id: &[u8]) {
    send_until_taken(app, b"8", |body| {
        body.field(6, b"0")
            .field(tag::CL_ORD_ID, id)
            .field(14, b"0")
            .field(17, id)
            .field(37, id)
            .field(38, b"100")
            .field(39, b"0")
            .field(54, b"1")
            .field(55, b"EURUSD")
            .field(150, b"0")
            .field(151, b"100");
    });
}

/// What an application has seen: the ClOrdIDs of its application messages, in order, and
/// whether a gap was reported.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<u64>,
    gap: bool,
}

impl Seen {
    /// Takes every record waiting; an acceptor answers each order with a report.
    fn take(&mut self, app: &mut AppEnd, reply: bool) {
        let mut replies = Vec::new();
        while let Ok(Some(())) = app.try_recv(|record| match record {
            InboundRecord::Application { message, .. } => {
                let Decoded::Message(message) = decode(message, &Limits::default()) else {
                    panic!("undecodable delivery");
                };
                let id = message.get(tag::CL_ORD_ID).unwrap();
                self.ids
                    .push(std::str::from_utf8(id).unwrap().parse().unwrap());
                if reply {
                    replies.push(id.to_vec());
                }
            }
            InboundRecord::Event {
                event: SessionEvent::GapDetected { .. },
                ..
            } => self.gap = true,
            InboundRecord::Event { .. } => {}
        }) {}
        for id in replies {
            send_report(app, &id);
        }
    }
}

/// Polls the acceptor and both applications until `done`, or fails after the time limit.
fn drive(
    acceptor: &mut Acceptor,
    acceptor_app: &mut AppEnd,
    orders: &mut Seen,
    initiator_app: &mut AppEnd,
    reports: &mut Seen,
    what: &str,
    done: impl Fn(&Acceptor, &Seen, &Seen) -> bool,
) {
    let deadline = Instant::now() + TIME_LIMIT;
    while !done(acceptor, orders, reports) {
        acceptor.poll();
        orders.take(acceptor_app, true);
        reports.take(initiator_app, false);
        assert!(
            Instant::now() < deadline,
            "timed out: {what}; {orders:?} {reports:?}"
        );
        std::thread::yield_now();
    }
}

fn exchange_through_gap_and_reconnect(mode: Mode) {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let server = certificate(dir.path(), "server");
    let client = TlsClientFiles {
        ca: server.cert.clone(),
        server_name: "localhost".into(),
        client_cert: None,
    };
    let listen = free_port();
    let (mut acceptor, mut acceptor_app) = start_acceptor(dir.path(), listen, &server);
    let (stop, initiator) = start_initiator(initiator_config(dir.path(), listen, &client, mode));
    let mut initiator_app = attach(
        &dir.path().join("initiator.chan"),
        Instant::now() + TIME_LIMIT,
    );
    let (mut orders, mut reports) = (Seen::default(), Seen::default());

    let logged_on =
        |a: &Acceptor, _: &Seen, _: &Seen| a.session_state("acceptor") == Some(State::Active);
    drive(
        &mut acceptor,
        &mut acceptor_app,
        &mut orders,
        &mut initiator_app,
        &mut reports,
        "logon",
        logged_on,
    );
    for id in 1..=BEFORE_GAP {
        send_order(&mut initiator_app, id);
    }
    drive(
        &mut acceptor,
        &mut acceptor_app,
        &mut orders,
        &mut initiator_app,
        &mut reports,
        "first orders",
        |_, o, r| o.ids.len() as u64 == BEFORE_GAP && r.ids.len() as u64 == BEFORE_GAP,
    );

    // Orders the acceptor never reads: they reach its socket, then it dies.
    for id in BEFORE_GAP + 1..=BEFORE_GAP + IN_GAP {
        send_order(&mut initiator_app, id);
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(acceptor);
    drop(acceptor_app);
    let (mut acceptor, mut acceptor_app) = start_acceptor(dir.path(), listen, &server);
    for id in BEFORE_GAP + IN_GAP + 1..=TOTAL {
        send_order(&mut initiator_app, id);
    }
    drive(
        &mut acceptor,
        &mut acceptor_app,
        &mut orders,
        &mut initiator_app,
        &mut reports,
        "all orders",
        |_, o, r| o.ids.len() as u64 >= TOTAL && r.ids.len() as u64 >= TOTAL,
    );
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(orders.ids, expected, "{mode:?}: orders at the acceptor");
    assert_eq!(reports.ids, expected, "{mode:?}: reports at the initiator");
    assert!(orders.gap, "{mode:?}: the restarted acceptor saw no gap");

    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + TIME_LIMIT;
    while !initiator.is_finished() {
        acceptor.poll();
        assert!(Instant::now() < deadline, "the initiator does not stop");
    }
    initiator.join().unwrap();
}

#[test]
fn test_active_over_tls_recovers_gap_after_reconnect_inline() {
    exchange_through_gap_and_reconnect(Mode::Inline);
}

#[test]
fn test_active_over_tls_recovers_gap_after_reconnect_threaded() {
    exchange_through_gap_and_reconnect(Mode::Threaded);
}

#[test]
fn test_connecting_with_other_ca_never_logs_on() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let server = certificate(dir.path(), "server");
    let other = certificate(dir.path(), "other");
    let client = TlsClientFiles {
        ca: other.cert,
        server_name: "localhost".into(),
        client_cert: None,
    };
    let listen = free_port();
    let (mut acceptor, mut acceptor_app) = start_acceptor(dir.path(), listen, &server);
    let (stop, initiator) =
        start_initiator(initiator_config(dir.path(), listen, &client, Mode::Inline));
    // Several attempts (the backoff is 50 to 200 ms), none of which may log on.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        acceptor.poll();
        assert_ne!(acceptor.session_state("acceptor"), Some(State::Active));
        std::thread::yield_now();
    }
    let mut nothing = Seen::default();
    nothing.take(&mut acceptor_app, false);
    assert!(nothing.ids.is_empty());
    stop.store(true, Ordering::Relaxed);
    initiator.join().unwrap();
}

#[test]
fn test_awaiting_first_message_plaintext_peer_gets_no_fix() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let server = certificate(dir.path(), "server");
    let listen = free_port();
    let (mut acceptor, _app) = start_acceptor(dir.path(), listen, &server);
    let mut peer = TcpStream::connect(listen).unwrap();
    peer.write_all(
        b"8=FIX.4.4\x019=67\x0135=A\x0134=1\x0149=CLIENT\x0152=20261124-12:00:00\x0156=GW\x0198=0\x01108=30\x0110=000\x01",
    )
    .unwrap();
    peer.set_nonblocking(true).unwrap();
    let mut reply = Vec::new();
    let deadline = Instant::now() + TIME_LIMIT;
    loop {
        acceptor.poll();
        let mut chunk = [0u8; 512];
        match peer.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        assert!(
            Instant::now() < deadline,
            "the plaintext peer is never closed"
        );
        std::thread::yield_now();
    }
    assert!(
        !reply.windows(5).any(|w| w == b"8=FIX"),
        "a FIX reply in {reply:?}"
    );
    assert_ne!(acceptor.session_state("acceptor"), Some(State::Active));
}
