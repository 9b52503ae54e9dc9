//! The FIX end-to-end run over kernel bypass: a Gapless session on the DPDK transport against a
//! counterparty on the kernel's TCP stack. `scripts/dpdk-e2e.sh` runs both sides, each in its
//! own network namespace.
//!
//! ```text
//! fix_e2e gateway --eal "<EAL arguments>" --ip 10.77.0.2/24 --peer 10.77.0.1:9876 [--port 0]
//! fix_e2e gateway --transport kernel --peer 10.77.0.1:9876     (baseline: kernel sockets)
//! fix_e2e counterparty --listen 10.77.0.1:9876 [--gap-at 5000]
//! ```
//!
//! The gateway (initiator, FIX.4.4) logs on and sends `--messages` News messages one at a time;
//! the counterparty answers each with a News carrying the same counter, so each side sends
//! `--messages` application messages. The counterparty forces one gap: its answer to message
//! `--gap-at` is journaled but not sent, and a TestRequest right behind it shows the gateway
//! the hole. The gateway must ask for a resend and receive every answer exactly once, in order.
//! It then logs out. Both sides exit 0 only if everything checked out; the gateway prints the
//! round trips (send of a request to delivery of its answer, the gap excluded).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{Decoded, Limits, decode, tag};
use gapless_dict::Version;
use gapless_net_dpdk::dpdk::{DpdkDevice, Eal, Port, PortConfig};
use gapless_net_dpdk::{StackConfig, TcpTransport};
use gapless_session::{DisconnectReason, Event, Instant, Now, Role, Session, SessionConfig};
use gapless_store::MemoryStore;
use gapless_transport::{ConnId, Event as NetEvent, SocketTransport, Transport, TransportConfig};

const HEADLINE: u32 = 148;
const LINES_OF_TEXT: u32 = 33;
/// Everything, logon to logout, must be over in this time.
const RUN_LIMIT: Duration = Duration::from_secs(120);

type Failure = String;

/// The monotonic and the UTC clock, read together.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Now {
        let nanos = u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let utc = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Now::new(
            Instant::from_nanos(nanos),
            UtcTimestamp::from_unix_nanos(utc),
        )
    }

    fn expired(&self) -> bool {
        self.0.elapsed() > RUN_LIMIT
    }
}

/// What the application saw, collected while the session is borrowed.
#[derive(Debug, Default)]
struct Seen {
    logged_on: bool,
    counters: Vec<u64>,
    gaps: u64,
    recoveries: Vec<Duration>,
    disconnect: Option<DisconnectReason>,
}

impl Seen {
    fn note(&mut self, event: Event<'_>) {
        match event {
            Event::LoggedOn { .. } => self.logged_on = true,
            Event::Application { message, .. } => self.counters.push(counter_of(message)),
            Event::GapDetected { .. } => self.gaps += 1,
            Event::Recovered { after } => self.recoveries.push(after),
            Event::Disconnect(reason) => self.disconnect = Some(reason),
            _ => {}
        }
    }
}

/// The counter in a News message's Text (58); 0 when absent, which the checks then catch.
fn counter_of(message: &[u8]) -> u64 {
    let Decoded::Message(msg) = decode(message, &Limits::default()) else {
        return 0;
    };
    msg.get(tag::TEXT)
        .and_then(|text| std::str::from_utf8(text).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// One session on one connection of any transport: the loop both sides share.
struct Peer<T: Transport> {
    transport: T,
    conn: ConnId,
    session: Session<MemoryStore>,
    clock: Clock,
    seen: Seen,
}

impl<T: Transport> Peer<T> {
    /// One turn: network I/O, received bytes into the session, timers, bytes out.
    fn turn(&mut self) -> Result<(), Failure> {
        if self.clock.expired() {
            return Err(format!("not done after {RUN_LIMIT:?}"));
        }
        self.transport.poll();
        while let Some(event) = self.transport.next_event() {
            if let NetEvent::Closed { reason, .. } = event
                && self.seen.disconnect.is_none()
            {
                return Err(format!("connection closed under the session: {reason:?}"));
            }
        }
        let now = self.clock.now();
        let seen = &mut self.seen;
        let used = self
            .session
            .handle_bytes(now, self.transport.received(self.conn), |e| seen.note(e));
        self.transport.consume(self.conn, used);
        if self
            .session
            .poll_timeout()
            .is_some_and(|t| t <= now.instant)
        {
            self.session.handle_timeout(now);
            while let Some(event) = self.session.poll_event() {
                self.seen.note(event);
            }
        }
        self.flush()
    }

    /// Writes what the session has to send, as far as the transport takes it.
    fn flush(&mut self) -> Result<(), Failure> {
        while let Some(bytes) = self.session.poll_transmit() {
            let len = bytes.len();
            let n = self
                .transport
                .send(self.conn, bytes)
                .map_err(|e| format!("send: {e}"))?;
            self.session.transmitted(n);
            if n < len {
                break;
            }
        }
        Ok(())
    }

    fn send_news(&mut self, counter: u64) -> Result<(), Failure> {
        let text = counter.to_string();
        self.session
            .send(self.clock.now(), b"B", |body| {
                body.field(HEADLINE, b"e2e")
                    .uint(LINES_OF_TEXT, 1)
                    .field(tag::TEXT, text.as_bytes());
            })
            .map(drop)
            .map_err(|e| format!("send News {counter}: {e}"))
    }

    /// Turns until the session has disconnected and its last bytes left, then closes.
    fn finish(&mut self) -> Result<DisconnectReason, Failure> {
        while self.seen.disconnect.is_none() {
            self.turn()?;
            std::thread::yield_now();
        }
        while self.session.poll_transmit().is_some() || self.transport.unsent(self.conn) > 0 {
            self.turn()?;
            std::thread::yield_now();
        }
        self.transport.close(self.conn);
        // Give the FIN a few polls to leave.
        for _ in 0..1000 {
            self.transport.poll();
        }
        Ok(self.seen.disconnect.unwrap_or(DisconnectReason::LoggedOut))
    }
}

/// Polls until the transport reports the connection (connect or accept), bounded.
fn wait_for_connection<T: Transport>(
    transport: &mut T,
    clock: &Clock,
) -> Result<(ConnId, Option<SocketAddr>), Failure> {
    loop {
        transport.poll();
        match transport.next_event() {
            Some(NetEvent::Connected { conn }) => return Ok((conn, None)),
            Some(NetEvent::Accepted { conn, peer, .. }) => return Ok((conn, Some(peer))),
            Some(NetEvent::Closed { reason, .. }) => {
                return Err(format!("connect failed: {reason:?}"));
            }
            None if clock.expired() => return Err("no connection".into()),
            None => std::thread::yield_now(),
        }
    }
}

fn session_config(role: Role, sender: &str, target: &str) -> SessionConfig {
    SessionConfig::new(Version::Fix44, role, sender, target)
}

/// Arguments as `--key value` pairs after the mode.
struct Args(Vec<(String, String)>);

impl Args {
    fn parse(raw: &[String]) -> Result<Args, Failure> {
        let mut pairs = Vec::new();
        let mut words = raw.iter();
        while let Some(key) = words.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --option, got {key:?}"))?;
            let value = words
                .next()
                .ok_or_else(|| format!("--{key} needs a value"))?;
            pairs.push((key.to_string(), value.clone()));
        }
        Ok(Args(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, key: &str) -> Result<&str, Failure> {
        self.get(key).ok_or_else(|| format!("--{key} is required"))
    }

    fn parsed<V: std::str::FromStr>(&self, key: &str, default: V) -> Result<V, Failure> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("--{key}: cannot parse {text:?}")),
        }
    }
}

/// The gateway side: initiator session on the DPDK transport (userspace TCP), or with
/// `--transport kernel` on kernel sockets, for a baseline on the same wire.
fn gateway(args: &Args) -> Result<(), Failure> {
    let messages: u64 = args.parsed("messages", 10_000)?;
    let peer: SocketAddr = args
        .required("peer")?
        .parse()
        .map_err(|e| format!("--peer: {e}"))?;
    if args.get("transport") == Some("kernel") {
        exchange(
            SocketTransport::new(TransportConfig::default()),
            peer,
            messages,
        )?;
        return Ok(());
    }
    let eal_args: Vec<&str> = std::iter::once("fix_e2e")
        .chain(args.required("eal")?.split_whitespace())
        .collect();
    let (ip, prefix) = args
        .required("ip")?
        .split_once('/')
        .ok_or("--ip wants address/prefix")?;
    let port_config = PortConfig {
        port_id: args.parsed("port", 0)?,
        ..PortConfig::default()
    };

    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    let port = Port::open(&eal, &port_config).map_err(|e| e.to_string())?;
    let mac = port.mac();
    println!("gateway: DPDK port {} up, MAC {mac:02x?}", port.id());
    let stack = StackConfig {
        mac,
        address: ip.parse().map_err(|e| format!("--ip: {e}"))?,
        prefix_len: prefix.parse().map_err(|e| format!("--ip prefix: {e}"))?,
        gateway: None,
        connect_timeout: Duration::from_secs(5),
        linger: Duration::from_secs(1),
        transport: TransportConfig::default(),
    };
    let transport = TcpTransport::new(DpdkDevice::new(port), stack).map_err(|e| e.to_string())?;
    let transport = exchange(transport, peer, messages)?;
    let stats = transport.device().stats();
    println!(
        "gateway: frames rx {} tx {}, gathered {}, tx dropped {}",
        stats.rx_frames, stats.tx_frames, stats.rx_gathered, stats.tx_dropped
    );
    Ok(())
}

/// Connects, logs on, sends `messages` requests one at a time and checks the answers, logs out.
/// Returns the transport for its statistics.
fn exchange<T: Transport>(mut transport: T, peer: SocketAddr, messages: u64) -> Result<T, Failure> {
    let clock = Clock(std::time::Instant::now());
    let conn = transport.connect(peer).map_err(|e| e.to_string())?;
    if wait_for_connection(&mut transport, &clock)?.0 != conn {
        return Err("the transport reported another connection".into());
    }
    println!("gateway: TCP connected to {peer}");

    let mut peer = Peer {
        transport,
        conn,
        session: Session::new(
            session_config(Role::Initiator, "GAPLESS", "VENUE"),
            MemoryStore::new(),
        ),
        clock,
        seen: Seen::default(),
    };
    peer.session.handle_connect(peer.clock.now());
    while !peer.seen.logged_on {
        peer.turn()?;
        std::thread::yield_now();
        if let Some(reason) = peer.seen.disconnect {
            return Err(format!("logon failed: {reason}"));
        }
    }
    println!("gateway: logged on");

    let mut round_trips = Vec::with_capacity(messages as usize);
    let started = std::time::Instant::now();
    for counter in 1..=messages {
        let sent_at = std::time::Instant::now();
        let gaps_before = peer.seen.gaps;
        peer.send_news(counter)?;
        peer.flush()?;
        while peer.seen.counters.len() < counter as usize {
            peer.turn()?;
            // Busy polling, but never starving the other side on a small machine.
            std::thread::yield_now();
            if let Some(reason) = peer.seen.disconnect {
                return Err(format!("disconnected at message {counter}: {reason}"));
            }
        }
        if peer.seen.gaps == gaps_before {
            round_trips.push(sent_at.elapsed());
        }
    }
    let elapsed = started.elapsed();
    peer.session.logout(peer.clock.now(), None);
    let reason = peer.finish()?;

    let expected: Vec<u64> = (1..=messages).collect();
    if peer.seen.counters != expected {
        return Err("the answers were not 1..=N exactly once in order".into());
    }
    if peer.seen.gaps != 1 || peer.seen.recoveries.len() != 1 {
        return Err(format!(
            "expected one gap and one recovery, saw {} and {}",
            peer.seen.gaps,
            peer.seen.recoveries.len()
        ));
    }
    if reason != DisconnectReason::LoggedOut {
        return Err(format!("ended with {reason}, not a clean logout"));
    }
    let counters = peer.session.counters();
    round_trips.sort_unstable();
    let pct =
        |p: f64| round_trips[((round_trips.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "gateway: {messages} sent, {} answers received in order; gaps {}, resend requests {}, recovered in {:?}",
        peer.seen.counters.len(),
        counters.gaps_detected,
        counters.resend_requests_sent,
        peer.seen.recoveries[0]
    );
    println!(
        "gateway: round trip over {} samples: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us; {:.0} round trips/s",
        round_trips.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        messages as f64 / elapsed.as_secs_f64()
    );
    println!("gateway: logged out cleanly");
    Ok(peer.transport)
}

/// The counterparty: kernel sockets, acceptor session, one forced gap.
fn counterparty(args: &Args) -> Result<(), Failure> {
    let messages: u64 = args.parsed("messages", 10_000)?;
    let gap_at: u64 = args.parsed("gap-at", 5_000)?;
    let listen: SocketAddr = args
        .required("listen")?
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let mut transport = SocketTransport::new(TransportConfig::default());
    transport.listen(listen).map_err(|e| e.to_string())?;
    println!("counterparty: listening on {listen} (kernel TCP)");
    let clock = Clock(std::time::Instant::now());
    let (conn, from) = wait_for_connection(&mut transport, &clock)?;
    let mut peer = Peer {
        transport,
        conn,
        session: Session::new(
            session_config(Role::Acceptor, "VENUE", "GAPLESS"),
            MemoryStore::new(),
        ),
        clock,
        seen: Seen::default(),
    };
    match from {
        Some(addr) => peer.session.handle_connect_from(peer.clock.now(), addr),
        None => peer.session.handle_connect(peer.clock.now()),
    }
    let mut answered = 0usize;
    while peer.seen.disconnect.is_none() {
        peer.turn()?;
        while answered < peer.seen.counters.len() {
            let counter = peer.seen.counters[answered];
            answered += 1;
            if counter == gap_at {
                force_gap(&mut peer, counter)?;
            } else {
                peer.send_news(counter)?;
            }
        }
        peer.flush()?;
        std::thread::yield_now();
    }
    let reason = peer.finish()?;
    let expected: Vec<u64> = (1..=messages).collect();
    if peer.seen.counters != expected {
        return Err(format!(
            "received {} requests, not 1..={messages} in order",
            peer.seen.counters.len()
        ));
    }
    let counters = peer.session.counters();
    if counters.resend_requests_answered == 0 {
        return Err("the gateway never asked for the withheld message".into());
    }
    println!(
        "counterparty: {} requests received, {} answered, withheld answer {gap_at} resent on request ({} resend requests answered); {reason}",
        peer.seen.counters.len(),
        answered,
        counters.resend_requests_answered
    );
    Ok(())
}

/// Journals the answer to `counter` without sending it, then sends a TestRequest whose
/// MsgSeqNum shows the gateway the hole at once.
fn force_gap(peer: &mut Peer<SocketTransport>, counter: u64) -> Result<(), Failure> {
    // Everything queued before must leave first, so that only the answer is held back.
    while peer.session.poll_transmit().is_some() {
        peer.flush()?;
        peer.transport.poll();
        std::thread::yield_now();
        if peer.clock.expired() {
            return Err("could not flush before the gap".into());
        }
    }
    peer.send_news(counter)?;
    let withheld = peer.session.poll_transmit().map_or(0, <[u8]>::len);
    peer.session.transmitted(withheld);
    println!("counterparty: answer {counter} journaled, {withheld} bytes not sent");
    peer.session
        .send(peer.clock.now(), b"1", |body| {
            body.field(tag::TEST_REQ_ID, b"GAP");
        })
        .map(drop)
        .map_err(|e| format!("TestRequest: {e}"))
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let result = match raw.split_first() {
        Some((mode, rest)) => Args::parse(rest).and_then(|args| match mode.as_str() {
            "gateway" => gateway(&args),
            "counterparty" => counterparty(&args),
            other => Err(format!("unknown mode {other:?}: gateway or counterparty")),
        }),
        None => Err("usage: fix_e2e gateway|counterparty --option value ...".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("fix_e2e: {why}");
            ExitCode::FAILURE
        }
    }
}
