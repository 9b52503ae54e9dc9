//! The venue's counterpart in tests: a `gapless-session` session on a `SocketTransport`, on
//! loopback, that checks the stream it receives and sends orders.

#![allow(dead_code)] // each test file uses part of it

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp, parse_u64};
use gapless_codec::{Decoded, Limits, decode};
use gapless_dict::Version;
use gapless_session::{DisconnectReason, Event, Instant, Now, Role, Session, SessionConfig, State};
use gapless_store::MemoryStore;
use gapless_transport::{ConnId, Event as NetEvent, SocketTransport, Transport, TransportConfig};
use gapless_venue::{RunError, Venue, VenueConfig, VenueReport};

/// What the peer saw of the venue's stream and answers.
#[derive(Debug, Default)]
pub struct Seen {
    /// The next stream ExecID expected.
    pub next_exec_id: u64,
    /// Stream reports whose ExecID was not the next one.
    pub out_of_order: Vec<(u64, u64)>,
    /// Answers per ClOrdID.
    pub replies: HashMap<String, u32>,
    pub business_rejects: u64,
    pub gaps: u64,
    pub logons: u64,
    pub disconnects: Vec<DisconnectReason>,
}

impl Seen {
    fn new() -> Self {
        Seen {
            next_exec_id: 1,
            ..Seen::default()
        }
    }

    fn on_event(&mut self, event: &Event<'_>) {
        match event {
            Event::Application { message, .. } => self.on_application(message),
            Event::GapDetected { .. } => self.gaps += 1,
            Event::LoggedOn { .. } => self.logons += 1,
            Event::Disconnect(reason) => self.disconnects.push(*reason),
            _ => {}
        }
    }

    fn on_application(&mut self, bytes: &[u8]) {
        let Decoded::Message(msg) = decode(bytes, &Limits::default()) else {
            panic!("the session delivered a message that does not frame");
        };
        match msg.msg_type() {
            b"8" => match msg.get(11) {
                Some(cl_ord_id) => {
                    let id = String::from_utf8_lossy(cl_ord_id).into_owned();
                    *self.replies.entry(id).or_default() += 1;
                }
                None => {
                    let exec_id = msg.get(17).and_then(|v| parse_u64(v).ok()).unwrap_or(0);
                    if exec_id != self.next_exec_id {
                        self.out_of_order.push((self.next_exec_id, exec_id));
                    }
                    self.next_exec_id = exec_id + 1;
                }
            },
            b"j" => self.business_rejects += 1,
            other => panic!("unexpected MsgType {}", String::from_utf8_lossy(other)),
        }
    }

    /// Starts checking a new stream (a restarted venue numbers from 1 again).
    pub fn restart_stream(&mut self) {
        self.next_exec_id = 1;
    }

    pub fn streamed(&self) -> u64 {
        self.next_exec_id - 1
    }
}

/// The test's side of the connection.
pub struct Peer {
    pub session: Session<MemoryStore>,
    pub seen: Seen,
    transport: SocketTransport,
    conn: Option<ConnId>,
    /// Whether `conn` is established (an initiator's may still be connecting).
    connected: bool,
    /// Initiator: where to connect. Acceptor: `None`.
    target: Option<SocketAddr>,
    pub reconnect: bool,
    /// Acceptor: close this many accepted connections at once, to make an initiator redial.
    pub refuse_connections: u32,
    origin: std::time::Instant,
}

impl Peer {
    fn config(version: Version, role: Role) -> SessionConfig {
        let mut config = SessionConfig::new(version, role, "GAPLESS", "VENUE");
        config.heartbeat_interval = Duration::from_secs(2);
        config
    }

    /// An initiator that connects to `venue` and reconnects whenever the connection fails.
    pub fn connect(venue: SocketAddr, version: Version) -> Peer {
        Peer::new(Peer::config(version, Role::Initiator), Some(venue))
    }

    /// An acceptor on a loopback port the system picks.
    pub fn listen(version: Version) -> (Peer, SocketAddr) {
        let mut peer = Peer::new(Peer::config(version, Role::Acceptor), None);
        let (_, addr) = peer
            .transport
            .listen("127.0.0.1:0".parse().unwrap())
            .expect("listen on loopback");
        (peer, addr)
    }

    fn new(config: SessionConfig, target: Option<SocketAddr>) -> Peer {
        Peer {
            session: Session::new(config, MemoryStore::new()),
            seen: Seen::new(),
            transport: SocketTransport::new(TransportConfig::default()),
            conn: None,
            connected: false,
            target,
            reconnect: true,
            refuse_connections: 0,
            origin: std::time::Instant::now(),
        }
    }

    /// The same session, connecting to another address (a restarted venue).
    pub fn reconnect_to(mut self, venue: SocketAddr) -> Peer {
        self.target = Some(venue);
        self.reconnect = true;
        self
    }

    pub fn now(&self) -> Now {
        let mono = self.origin.elapsed().as_nanos() as u64;
        let utc = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        Now::new(
            Instant::from_nanos(mono),
            UtcTimestamp::from_unix_nanos(utc),
        )
    }

    pub fn logged_on(&self) -> bool {
        self.session.state() == State::Active
    }

    /// One pass: connect, read, timers, write. Returns whether anything happened.
    pub fn step(&mut self) -> bool {
        let now = self.now();
        let mut work = self.transport.poll() > 0;
        if self.conn.is_none()
            && self.reconnect
            && let Some(target) = self.target
        {
            self.conn = self.transport.connect(target).ok();
            work = true;
        }
        while let Some(event) = self.transport.next_event() {
            work = true;
            match event {
                NetEvent::Accepted { conn, .. } if self.conn.is_none() => {
                    if self.refuse_connections > 0 {
                        self.refuse_connections -= 1;
                        self.transport.close(conn);
                        continue;
                    }
                    self.conn = Some(conn);
                    self.connected = true;
                    self.session.handle_connect(now);
                }
                NetEvent::Connected { conn } if Some(conn) == self.conn => {
                    self.connected = true;
                    self.session.handle_connect(now);
                }
                NetEvent::Closed { conn, .. } if Some(conn) == self.conn => {
                    self.read(now, conn);
                    self.drop_connection(now);
                }
                NetEvent::Accepted { conn, .. }
                | NetEvent::Connected { conn }
                | NetEvent::Closed { conn, .. } => self.transport.close(conn),
            }
        }
        if let Some(conn) = self.conn {
            work |= self.read(now, conn) > 0;
        }
        if self
            .session
            .poll_timeout()
            .is_some_and(|t| t <= now.instant)
        {
            self.session.handle_timeout(now);
            self.drain(now);
        }
        if let Some(conn) = self.conn {
            while let Some(bytes) = self.session.poll_transmit() {
                let n = self.transport.send(conn, bytes).unwrap_or(0);
                self.session.transmitted(n);
                work |= n > 0;
                if n == 0 {
                    break;
                }
            }
            if self.connected
                && self.session.state() == State::Disconnected
                && self.session.poll_transmit().is_none()
            {
                self.drop_connection(now);
            }
        }
        work
    }

    fn read(&mut self, now: Now, conn: ConnId) -> usize {
        let bytes = self.transport.received(conn);
        let seen = &mut self.seen;
        let used = self
            .session
            .handle_bytes(now, bytes, |event| seen.on_event(&event));
        self.transport.consume(conn, used);
        used
    }

    fn drain(&mut self, _now: Now) {
        while let Some(event) = self.session.poll_event() {
            self.seen.on_event(&event);
        }
    }

    /// Ends the connection; an initiator reconnects unless the session ended with a Logout
    /// handshake (a peer leaving on purpose).
    fn drop_connection(&mut self, now: Now) {
        if let Some(conn) = self.conn.take() {
            self.transport.close(conn);
        }
        self.connected = false;
        if self.seen.disconnects.last() == Some(&DisconnectReason::LoggedOut) {
            self.reconnect = false;
        }
        self.session.handle_disconnect(now);
    }

    /// Sends NewOrderSingle `cl_ord_id`.
    pub fn send_order(&mut self, cl_ord_id: &str) {
        let now = self.now();
        self.session
            .send(now, b"D", |body| {
                // HandlInst is required up to FIX.4.2 and optional later.
                body.field(11, cl_ord_id.as_bytes())
                    .char(21, b'1')
                    .uint(38, 100)
                    .char(40, b'2')
                    .decimal(44, Decimal::new(10_125, -2))
                    .char(54, b'1')
                    .field(55, b"AAPL")
                    .timestamp(60, now.utc, TimePrecision::Millis);
            })
            .expect("order sent");
    }

    pub fn logout(&mut self) {
        let now = self.now();
        self.session.logout(now, None);
    }
}

/// A venue running on its own thread, stopped (and joined) when dropped.
pub struct RunningVenue {
    pub addr: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<VenueReport, RunError>>>,
}

impl RunningVenue {
    pub fn start(config: &VenueConfig) -> RunningVenue {
        let venue = Venue::bind(config).expect("venue binds");
        let addr = venue.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || venue.run(&flag, |_| {}));
        RunningVenue {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn join(mut self) -> VenueReport {
        let thread = self.thread.take().expect("joined once");
        thread.join().expect("venue thread").expect("venue run")
    }
}

impl Drop for RunningVenue {
    fn drop(&mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Steps `peer` until `done` holds or `limit` passes; false on timeout. Yields between passes,
/// so that the venue's thread gets the core.
pub fn drive(peer: &mut Peer, limit: Duration, mut done: impl FnMut(&mut Peer) -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done(peer) {
            return true;
        }
        if !peer.step() {
            std::thread::yield_now();
        }
    }
    false
}
