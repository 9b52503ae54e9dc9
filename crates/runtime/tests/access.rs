//! Access control as the peer sees it: a Logon with CompIDs no session has, one from an address
//! not on the session's allowlist, and one whose Username and Password the application's
//! `LogonCheck` refuses are closed the same way (no byte in reply, the same orderly end, well
//! inside the timeouts), while our log names the real reason of each and never a password. A
//! Logon that passes all three is answered. Both modes.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_codec::value::{TimePrecision, UtcTimestamp};
use gapless_codec::{Encoder, StandardHeader};
use gapless_dict::Version;
use gapless_runtime::{
    Endpoint, IdleStrategy, LogonRequest, Mode, RuntimeConfig, SessionPlan, SharedLogonCheck,
    StorePlan, open_session, run_sessions,
};
use gapless_session::{Role, SessionConfig};
use gapless_transport::{SocketTransport, TransportConfig};

/// Everything the runtime logs, from every thread of this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn captured_log() -> String {
    static LOG: OnceLock<Captured> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = Captured::default();
        tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .init();
        log
    });
    String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned()
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn logon(sender: &str, username: &str, password: &str) -> Vec<u8> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let now = UtcTimestamp::from_unix_nanos(nanos as i64);
    let mut buf = [0u8; 512];
    let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", b"A");
    let header = StandardHeader::new(sender.as_bytes(), b"GW", 1, now, TimePrecision::Millis);
    encoder.header(&header);
    encoder
        .uint(98, 0)
        .uint(108, 30)
        .field(553, username.as_bytes())
        .field(554, password.as_bytes());
    encoder.finish().unwrap().to_vec()
}

/// What the peer can observe of one attempt: the bytes it got back, how the stream ended, and
/// how long that took.
#[derive(Debug)]
struct Observed {
    reply: Vec<u8>,
    ending: Result<(), std::io::ErrorKind>,
    after: Duration,
}

/// Connects from `source`, sends `logon` and reads until the gateway ends the connection, or for
/// `read_for` if it does not.
fn attempt(gateway: SocketAddr, source: IpAddr, logon: &[u8], read_for: Duration) -> Observed {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SockAddr::from(SocketAddr::new(source, 0)))
        .unwrap();
    socket.connect(&SockAddr::from(gateway)).unwrap();
    let mut stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(read_for)).unwrap();
    stream.write_all(logon).unwrap();
    let start = Instant::now();
    let mut reply = Vec::new();
    let ending = stream
        .read_to_end(&mut reply)
        .map(|_| ())
        .map_err(|e| e.kind());
    Observed {
        reply,
        ending,
        after: start.elapsed(),
    }
}

fn refusals_look_alike(mode: Mode) {
    let log_before = captured_log().len();
    let addr = free_port();
    let mut session = SessionConfig::new(Version::Fix44, Role::Acceptor, "GW", "CLIENT");
    session.logon_timeout = Duration::from_secs(10);
    let plan = SessionPlan {
        name: format!("access-{mode:?}"),
        session,
        endpoint: Endpoint::Accept {
            listen: addr,
            allowed_peers: vec!["127.0.0.1".parse().unwrap()],
        },
        store: StorePlan::Memory,
        channel: Default::default(),
    };
    let mut config = RuntimeConfig::new(vec![plan.clone()]);
    config.mode = mode;
    config.idle = IdleStrategy::Yield;
    config.shutdown_timeout = Duration::from_millis(500);
    let check = |request: &LogonRequest<'_>| {
        request.username == Some(b"trader") && request.password == Some(b"s3cret-pw")
    };
    config.logon_check = Some(SharedLogonCheck(Arc::new(check)));
    let mut opened = open_session(&plan).unwrap();
    let _app = opened.client.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let transport = TransportConfig::default();
            run_sessions(
                &config,
                vec![opened],
                move || Ok(SocketTransport::new(transport)),
                &stop,
            )
            .unwrap();
        })
    };
    // The listener is up once a connection succeeds.
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the gateway does not listen");
        std::thread::sleep(Duration::from_millis(10));
    }

    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let elsewhere: IpAddr = "127.0.0.2".parse().unwrap();
    let wait = Duration::from_secs(15);
    let wrong_comp_ids = attempt(
        addr,
        loopback,
        &logon("INTRUDER", "trader", "s3cret-pw"),
        wait,
    );
    let wrong_address = attempt(
        addr,
        elsewhere,
        &logon("CLIENT", "trader", "s3cret-pw"),
        wait,
    );
    let wrong_password = attempt(addr, loopback, &logon("CLIENT", "trader", "guess-pw"), wait);
    let refusals = [&wrong_comp_ids, &wrong_address, &wrong_password];
    for observed in refusals {
        assert!(observed.reply.is_empty(), "{mode:?}: a reply: {observed:?}");
        assert_eq!(observed.ending, Ok(()), "{mode:?}: not an orderly end");
        // Promptly, not by the first-message or logon timeout (10 s): the same class for all.
        assert!(
            observed.after < Duration::from_secs(5),
            "{mode:?}: {observed:?}"
        );
    }

    // The right Logon from the right place is answered with a Logon.
    let accepted = attempt(
        addr,
        loopback,
        &logon("CLIENT", "trader", "s3cret-pw"),
        Duration::from_millis(500),
    );
    let reply = String::from_utf8_lossy(&accepted.reply).into_owned();
    assert!(reply.starts_with("8=FIX.4.4\x01"), "{mode:?}: {reply:?}");
    assert!(reply.contains("\x0135=A\x01"), "{mode:?}: {reply:?}");

    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap();
    let log = captured_log()[log_before..].to_string();
    for reason in [
        "no session for these CompIDs",
        "source address not allowed",
        "credentials refused",
    ] {
        assert!(log.contains(reason), "{mode:?}: no {reason:?} in\n{log}");
    }
    assert!(
        !log.contains("s3cret-pw") && !log.contains("guess-pw"),
        "a password in\n{log}"
    );
}

#[test]
fn test_awaiting_logon_refusals_are_indistinguishable_inline() {
    refusals_look_alike(Mode::Inline);
}

#[test]
fn test_awaiting_logon_refusals_are_indistinguishable_threaded() {
    refusals_look_alike(Mode::Threaded);
}
