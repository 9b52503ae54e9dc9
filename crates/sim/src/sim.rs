//! The simulator: two sessions, a faulty link, restarts and reconnects, all on a virtual clock.
//!
//! One seed decides everything: the FIX version, the session settings, the link latency, the
//! fault plan, when the applications send, when either side restarts. The run has two phases:
//! faults, during which the link misbehaves and the sides restart; then quiet, in which nothing
//! fails and the sessions must settle within [`QUIET_LIMIT`]. See [`run`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use core::time::Duration;

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{Decoded, Limits, Message, decode, tag};
use gapless_dict::Version;
use gapless_session::{
    Disposition, Event, HoldLimits, Instant, Now, QueueOverflow, Role, Session, SessionConfig,
    State,
};
use gapless_store::{AnyStore, Durability, FileStore, MemoryStore, StoreConfig};

use crate::fault::{FaultInjector, FaultPlan, Wire};
use crate::rng::Rng;

/// Headline (148) and LinesOfText (33): application fields, so not among the codec's tags.
const HEADLINE: u32 = 148;
const LINES_OF_TEXT: u32 = 33;

/// The versions a seed picks from, uniformly: every FIX version the session supports.
const VERSIONS: [Version; 8] = [
    Version::Fix44,
    Version::Fix42,
    Version::Fix50Sp2,
    Version::Fix40,
    Version::Fix41,
    Version::Fix43,
    Version::Fix50,
    Version::Fix50Sp1,
];

/// After the faults stop, the sessions must be settled within this much virtual time: enough for
/// a heartbeat timeout, a logon timeout, a reconnect and a full resend, several times over.
pub const QUIET_LIMIT: Duration = Duration::from_secs(180);

/// A run that does more than this many steps is spinning (a livelock) whatever its clock says.
const MAX_STEPS: u64 = 2_000_000;

/// 2026-11-24T06:00:00Z: virtual UTC at virtual instant zero.
const START_UTC_NANOS: i64 = 1_795_413_600_000_000_000;

const INITIATOR: usize = 0;
const ACCEPTOR: usize = 1;

/// How hard the link is hit during the faulty phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intensity {
    /// Per-message probabilities up to a few percent: what CI runs, and what must always pass.
    Normal,
    /// Up to 20% loss and long reorderings: finds the edges of the configuration space (see
    /// docs/testing.md for the known livelocks there).
    Heavy,
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub version: Version,
    /// Application messages sent by the initiator and by the acceptor.
    pub app_messages: [u64; 2],
    /// Faults the injectors applied, in both directions.
    pub faults: u64,
    pub connections: u64,
    pub restarts: u64,
    /// How long after the faults stopped the sessions were seen settled.
    pub settled_after: Duration,
}

/// A broken invariant, with what led to it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub at: Duration,
    pub reason: String,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "seed {} failed at {:.3}s: {}",
            self.seed,
            self.at.as_secs_f64(),
            self.reason
        )
    }
}

/// Runs one seed. With `trace`, every message, fault, timeout and event is written there as it
/// happens, one line each.
pub fn run(seed: u64, intensity: Intensity, trace: Option<&mut String>) -> Result<Report, Failure> {
    let mut sim = Sim::new(seed, intensity, trace);
    let outcome = sim.run();
    if let Some(trace) = sim.trace.as_deref_mut() {
        match &outcome {
            Ok(report) => writeln!(trace, "ok: {report:?}"),
            Err(failure) => writeln!(trace, "FAILED: {failure}"),
        }
        .expect("writing to a String");
    }
    outcome
}

/// Settings one seed draws.
#[derive(Debug)]
struct Scenario {
    version: Version,
    /// Journal to real file stores (reopened on restart) rather than in memory.
    file_stores: bool,
    latency: Duration,
    faults: FaultPlan,
    /// How long the faulty phase lasts.
    fault_phase: Duration,
    /// Mean time between an application's sends.
    send_interval: Duration,
    /// Chance that an application step is a Logout instead of a send.
    logout_chance: f64,
    restarts: u64,
}

impl Scenario {
    fn draw(rng: &mut Rng, intensity: Intensity) -> Self {
        let version = VERSIONS[rng.below(VERSIONS.len() as u64) as usize];
        // A fault-free seed now and then shows that the faults, not the sim, cause what fails.
        let faulty = rng.below(20) != 0;
        let p = |rng: &mut Rng, max_permille: u64| {
            if faulty {
                rng.below(max_permille + 1) as f64 / 1000.0
            } else {
                0.0
            }
        };
        let faults = match intensity {
            Intensity::Normal => FaultPlan {
                cut: p(rng, 8),
                drop: p(rng, 60),
                corrupt: p(rng, 20),
                duplicate: p(rng, 30),
                delay: p(rng, 60),
                max_delay_messages: rng.between(1, 4) as u32,
            },
            Intensity::Heavy => FaultPlan {
                cut: p(rng, 30),
                drop: p(rng, 200),
                corrupt: p(rng, 100),
                duplicate: p(rng, 100),
                delay: p(rng, 200),
                max_delay_messages: rng.between(1, 20) as u32,
            },
        };
        Scenario {
            version,
            file_stores: rng.below(8) == 0,
            latency: Duration::from_micros(rng.between(100, 20_000)),
            faults,
            fault_phase: Duration::from_secs(rng.between(10, 60)),
            send_interval: Duration::from_millis(rng.between(20, 500)),
            logout_chance: if rng.below(4) == 0 { 0.01 } else { 0.0 },
            restarts: if faulty { rng.below(4) } else { 0 },
        }
    }

    fn session_config(&self, role: Role, rng: &mut Rng) -> SessionConfig {
        let (us, them) = match role {
            Role::Initiator => ("CLIENT", "VENUE"),
            Role::Acceptor => ("VENUE", "CLIENT"),
        };
        let mut config = SessionConfig::new(self.version, role, us, them);
        // Sequence numbers must survive reconnects and restarts for recovery to be tested.
        config.reset_on_logon = false;
        config.heartbeat_interval = Duration::from_secs(rng.between(1, 3));
        config.logon_timeout = Duration::from_secs(rng.between(2, 5));
        config.logout_timeout = Duration::from_secs(rng.between(1, 2));
        config.send_next_expected_msg_seq_num = rng.below(2) == 0;
        if rng.below(3) == 0 {
            config.resend_limits.request_chunk = Some(rng.between(1, 10));
        }
        if rng.below(2) == 0 {
            let tiny = HoldLimits {
                max_messages: rng.between(2, 32) as usize,
                max_bytes: rng.between(1_000, 16_000) as usize,
                overflow: if rng.below(2) == 0 {
                    QueueOverflow::DropAndRerequest
                } else {
                    QueueOverflow::Disconnect
                },
            };
            // Any limits, however small, must recover: held placeholders of answered
            // ResendRequests are kept apart from the limits (see the session's hold queue).
            config.hold_limits = tiny;
        }
        config
    }
}

/// A store for one side: in memory, or a file store in a new temporary directory with small
/// segments, so that runs roll segments over too.
fn new_store(in_files: bool) -> (AnyStore, Option<tempfile::TempDir>) {
    if !in_files {
        return (AnyStore::Memory(MemoryStore::new()), None);
    }
    let dir = tempfile::tempdir().expect("a temporary directory for the store");
    let config = StoreConfig::new(Durability::None).with_segment_size(64 * 1024);
    let store = FileStore::open(dir.path(), config).expect("a new store opens");
    (AnyStore::File(store), Some(dir))
}

/// One end of the link: a session, its application's record, and the injector on what it sends.
#[derive(Debug)]
struct Side {
    name: &'static str,
    config: SessionConfig,
    session: Session<AnyStore>,
    /// Where a file store lives: held only so that the directory is removed with the side.
    _store_dir: Option<tempfile::TempDir>,
    /// The connection this side is on, if any.
    conn: Option<u64>,
    /// Received bytes of the current connection not yet framed.
    inbox: Vec<u8>,
    injector: FaultInjector,
    /// When the last byte this side sent arrives: a connection delivers in order.
    last_arrival: u64,
    /// MsgSeqNum of each application message sent, indexed by the counter it carries.
    sent: Vec<u64>,
    /// How many of the peer's application messages were delivered, which is also the counter
    /// the next one must carry.
    delivered: u64,
}

/// Something scheduled on the virtual clock.
#[derive(Debug)]
enum Action {
    /// Bytes arrive at `to` over connection `conn`.
    Arrive {
        to: usize,
        conn: u64,
        bytes: Vec<u8>,
    },
    /// `to` sees connection `conn` close.
    Close { to: usize, conn: u64 },
    /// The initiator connects.
    Connect,
    /// The application of `side` sends (or logs out).
    AppStep { side: usize },
    /// `side` crashes and starts again from its store.
    Restart { side: usize },
    /// The faulty phase ends.
    StopFaults,
}

#[derive(Debug)]
struct Scheduled {
    at: u64,
    /// Ties at the same instant run in the order they were scheduled.
    order: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

struct Sim<'t> {
    seed: u64,
    scenario: Scenario,
    rng: Rng,
    sides: [Side; 2],
    queue: BinaryHeap<Reverse<Scheduled>>,
    scheduled: u64,
    /// Virtual time in nanoseconds.
    now: u64,
    quiet: bool,
    quiet_deadline: u64,
    next_conn: u64,
    reconnect_pending: bool,
    /// Arrivals still in the queue: the link is empty when this is zero.
    in_flight: u64,
    faults: u64,
    restarts: u64,
    trace: Option<&'t mut String>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn peer(side: usize) -> usize {
    1 - side
}

/// `34=seq 35=type` of a message, for the trace.
fn describe(bytes: &[u8]) -> String {
    match decode(bytes, &Limits::default()) {
        Decoded::Message(msg) => {
            let mut text = format!(
                "34={} 35={}",
                msg.msg_seq_num().unwrap_or(0),
                String::from_utf8_lossy(msg.msg_type())
            );
            if msg.poss_dup() == Ok(true) {
                text.push_str(" 43=Y");
            }
            for (tag, name) in [
                (tag::NEW_SEQ_NO, "36"),
                (tag::BEGIN_SEQ_NO, "7"),
                (tag::END_SEQ_NO, "16"),
                (tag::TEXT, "58"),
            ] {
                if let Some(value) = msg.get(tag) {
                    let _ = write!(text, " {name}={}", String::from_utf8_lossy(value));
                }
            }
            text
        }
        _ => format!("{} garbled bytes", bytes.len()),
    }
}

/// The counter an application message carries in Text (58).
fn counter_of(msg: &Message<'_>) -> Option<u64> {
    core::str::from_utf8(msg.get(tag::TEXT)?).ok()?.parse().ok()
}

impl<'t> Sim<'t> {
    fn new(seed: u64, intensity: Intensity, trace: Option<&'t mut String>) -> Self {
        let mut rng = Rng::new(seed);
        let scenario = Scenario::draw(&mut rng, intensity);
        let mut side = |name, role| {
            let config = scenario.session_config(role, &mut rng);
            let (store, store_dir) = new_store(scenario.file_stores);
            Side {
                name,
                session: Session::new(config.clone(), store),
                _store_dir: store_dir,
                config,
                conn: None,
                inbox: Vec::new(),
                injector: FaultInjector::new(scenario.faults, rng.next_u64()),
                last_arrival: 0,
                sent: Vec::new(),
                delivered: 0,
            }
        };
        let sides = [side("I", Role::Initiator), side("A", Role::Acceptor)];
        Sim {
            seed,
            scenario,
            rng,
            sides,
            queue: BinaryHeap::new(),
            scheduled: 0,
            now: 0,
            quiet: false,
            quiet_deadline: u64::MAX,
            next_conn: 1,
            reconnect_pending: false,
            in_flight: 0,
            faults: 0,
            restarts: 0,
            trace,
        }
    }

    fn virtual_now(&self) -> Now {
        Now::new(
            Instant::from_nanos(self.now),
            UtcTimestamp::from_unix_nanos(START_UTC_NANOS + self.now as i64),
        )
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_deref_mut() {
            let _ = writeln!(trace, "{:>10.6}s {}", self.now as f64 / 1e9, line());
        }
    }

    fn fail(&self, reason: impl Into<String>) -> Failure {
        Failure {
            seed: self.seed,
            at: Duration::from_nanos(self.now),
            reason: reason.into(),
        }
    }

    fn schedule(&mut self, at: u64, action: Action) {
        if matches!(action, Action::Arrive { .. }) {
            self.in_flight += 1;
        }
        self.scheduled += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            order: self.scheduled,
            action,
        }));
    }

    fn run(&mut self) -> Result<Report, Failure> {
        let scenario = format!("{:?}", self.scenario);
        self.note(|| format!("scenario {scenario}"));
        for side in [INITIATOR, ACCEPTOR] {
            let side = &self.sides[side];
            let c = &side.config;
            let line = format!(
                "{} heartbeat={:?} logon_timeout={:?} next_expected={} chunk={:?} hold={:?}",
                side.name,
                c.heartbeat_interval,
                c.logon_timeout,
                c.send_next_expected_msg_seq_num,
                c.resend_limits.request_chunk,
                c.hold_limits
            );
            self.note(|| line);
        }
        let fault_phase = nanos(self.scenario.fault_phase);
        self.schedule(0, Action::Connect);
        self.reconnect_pending = true;
        for side in [INITIATOR, ACCEPTOR] {
            let first = self.send_delay();
            self.schedule(first, Action::AppStep { side });
        }
        for _ in 0..self.scenario.restarts {
            let at = self.rng.below(fault_phase);
            let side = self.rng.below(2) as usize;
            self.schedule(at, Action::Restart { side });
        }
        self.schedule(fault_phase, Action::StopFaults);

        for _ in 0..MAX_STEPS {
            if self.quiet && self.settled()? {
                return Ok(Report {
                    version: self.scenario.version,
                    app_messages: [
                        self.sides[INITIATOR].sent.len() as u64,
                        self.sides[ACCEPTOR].sent.len() as u64,
                    ],
                    faults: self.faults,
                    connections: self.next_conn - 1,
                    restarts: self.restarts,
                    settled_after: Duration::from_nanos(
                        self.now - (self.quiet_deadline - nanos(QUIET_LIMIT)),
                    ),
                });
            }
            let next_action = self.queue.peek().map(|s| s.0.at);
            let next_timer = self
                .sides
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((s.session.poll_timeout()?.as_nanos(), i)))
                .min();
            let timer_first = match (next_timer, next_action) {
                (Some((timer, _)), Some(action)) => timer <= action,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return Err(self.fail(self.stuck("nothing left to happen"))),
            };
            let at = if timer_first {
                next_timer.map(|t| t.0)
            } else {
                next_action
            }
            .unwrap_or(self.now);
            if at > self.quiet_deadline {
                return Err(self.fail(self.stuck("not settled after the faults stopped")));
            }
            // Timers may be armed in the past (a deadline of "now"); the clock never goes back.
            self.now = self.now.max(at);
            if timer_first {
                let side = next_timer.map_or(0, |t| t.1);
                let name = self.sides[side].name;
                self.note(|| format!("{name} timeout"));
                let now = self.virtual_now();
                self.sides[side].session.handle_timeout(now);
                self.pump(side)?;
            } else if let Some(Reverse(scheduled)) = self.queue.pop() {
                self.act(scheduled.action)?;
            }
            self.check_hold_limits()?;
        }
        Err(self.fail(self.stuck("too many steps: livelock")))
    }

    fn send_delay(&mut self) -> u64 {
        // Uniform in 0..2×mean: bursts and lulls, with the mean the scenario asked for.
        self.now + self.rng.below(2 * nanos(self.scenario.send_interval)) + 1
    }

    fn act(&mut self, action: Action) -> Result<(), Failure> {
        match action {
            Action::Arrive { to, conn, bytes } => {
                self.in_flight -= 1;
                if self.sides[to].conn == Some(conn) {
                    self.arrive(to, &bytes)?;
                }
            }
            Action::Close { to, conn } => {
                if self.sides[to].conn == Some(conn) {
                    let name = self.sides[to].name;
                    self.note(|| format!("{name} sees the connection close"));
                    self.drop_connection(to)?;
                }
            }
            Action::Connect => self.connect()?,
            Action::AppStep { side } => {
                if !self.quiet {
                    self.app_step(side)?;
                    let next = self.send_delay();
                    self.schedule(next, Action::AppStep { side });
                }
            }
            Action::Restart { side } => {
                if !self.quiet {
                    self.restart(side);
                }
            }
            Action::StopFaults => {
                self.note(|| "faults stop".into());
                self.quiet = true;
                self.quiet_deadline = self.now + nanos(QUIET_LIMIT);
                for side in [INITIATOR, ACCEPTOR] {
                    self.sides[side].injector.set_plan(FaultPlan::NONE);
                    self.sides[side].injector.flush_delayed();
                    self.put_on_wire(side)?;
                }
            }
        }
        Ok(())
    }

    /// Bytes from the peer: frame them and hand each message to the session.
    fn arrive(&mut self, to: usize, bytes: &[u8]) -> Result<(), Failure> {
        let mut inbox = core::mem::take(&mut self.sides[to].inbox);
        inbox.extend_from_slice(bytes);
        let mut used = 0;
        let limits = *self.sides[to].session.limits();
        let name = self.sides[to].name;
        while self.sides[to].conn.is_some() {
            let now = self.virtual_now();
            match decode(&inbox[used..], &limits) {
                Decoded::Message(msg) => {
                    used += msg.len();
                    self.note(|| format!("{name} recv {}", describe(msg.as_bytes())));
                    let side = &mut self.sides[to];
                    if side.session.handle_message(now, &msg) == Disposition::Deliver {
                        let seq = msg.msg_seq_num().unwrap_or(0);
                        self.deliver(to, seq, counter_of(&msg))?;
                    }
                }
                Decoded::Garbled(garbled) => {
                    used += garbled.skip;
                    self.note(|| format!("{name} recv {} garbled bytes", garbled.skip));
                    self.sides[to].session.handle_garbled(now, &garbled);
                }
                Decoded::Incomplete => break,
            }
            self.pump(to)?;
        }
        if self.sides[to].conn.is_some() {
            inbox.drain(..used);
            self.sides[to].inbox = inbox;
        }
        Ok(())
    }

    /// The application of `to` receives the peer's message `seq`: it must be the next one.
    fn deliver(&mut self, to: usize, seq: u64, counter: Option<u64>) -> Result<(), Failure> {
        let from = peer(to);
        let expected = self.sides[to].delivered;
        let sent_as = self.sides[from].sent.get(expected as usize).copied();
        let name = self.sides[to].name;
        self.note(|| format!("{name} deliver 34={seq} counter {counter:?}"));
        if counter != Some(expected) || sent_as != Some(seq) {
            return Err(self.fail(format!(
                "{} delivered 34={seq} with counter {counter:?}, but the next message {} sent \
                 is counter {expected} as 34={sent_as:?}",
                self.sides[to].name, self.sides[from].name
            )));
        }
        self.sides[to].delivered += 1;
        Ok(())
    }

    /// After every input to a session: drain its events, then put its output on the wire.
    fn pump(&mut self, side: usize) -> Result<(), Failure> {
        let mut disconnected = false;
        loop {
            let name = self.sides[side].name;
            let Some(event) = self.sides[side].session.poll_event() else {
                break;
            };
            let delivery = match &event {
                Event::Application { seq, message, .. } => {
                    let counter = match decode(message, &Limits::default()) {
                        Decoded::Message(msg) => counter_of(&msg),
                        _ => None,
                    };
                    Some((*seq, counter))
                }
                Event::Disconnect(_) => {
                    disconnected = true;
                    None
                }
                _ => None,
            };
            if let Some(trace) = self.trace.as_deref_mut() {
                let what = match (&event, delivery) {
                    (Event::Application { .. }, Some((seq, _))) => format!("released 34={seq}"),
                    _ => format!("{event:?}"),
                };
                let _ = writeln!(
                    trace,
                    "{:>10.6}s {name} event {what}",
                    self.now as f64 / 1e9
                );
            }
            if let Some((seq, counter)) = delivery {
                self.deliver(side, seq, counter)?;
            }
        }
        self.put_on_wire(side)?;
        if disconnected {
            self.hang_up(side);
        }
        Ok(())
    }

    /// Moves what the session has to send through the injector and onto the link.
    fn put_on_wire(&mut self, side: usize) -> Result<(), Failure> {
        let Side {
            name,
            session,
            conn,
            injector,
            ..
        } = &mut self.sides[side];
        let mut faults = 0;
        while let Some(bytes) = session.poll_transmit() {
            let n = bytes.len();
            if conn.is_some() {
                injector.push_bytes(bytes, |msg, fault| {
                    if fault.is_some() {
                        faults += 1;
                    }
                    if let Some(trace) = self.trace.as_deref_mut() {
                        let fault = fault.map(|f| format!(" [{f:?}]")).unwrap_or_default();
                        let _ = writeln!(
                            trace,
                            "{:>10.6}s {name} send {}{fault}",
                            self.now as f64 / 1e9,
                            describe(msg)
                        );
                    }
                });
            }
            session.transmitted(n);
        }
        self.faults += faults;
        let Some(conn) = self.sides[side].conn else {
            return Ok(());
        };
        let to = peer(side);
        let mut cut = false;
        while let Some(wire) = self.sides[side].injector.pop() {
            match wire {
                Wire::Data(bytes) => {
                    let at = (self.now + nanos(self.scenario.latency))
                        .max(self.sides[side].last_arrival);
                    self.sides[side].last_arrival = at;
                    self.schedule(at, Action::Arrive { to, conn, bytes });
                }
                Wire::Cut => cut = true,
            }
        }
        if cut {
            self.note(|| format!("connection {conn} cut"));
            for s in [INITIATOR, ACCEPTOR] {
                if self.sides[s].conn == Some(conn) {
                    self.drop_connection(s)?;
                }
            }
        }
        Ok(())
    }

    /// `side` closes its connection after its last bytes; the peer sees the close when they
    /// have arrived.
    fn hang_up(&mut self, side: usize) {
        let Some(conn) = self.sides[side].conn.take() else {
            return;
        };
        self.sides[side].inbox.clear();
        let at = (self.now + nanos(self.scenario.latency)).max(self.sides[side].last_arrival);
        self.schedule(
            at,
            Action::Close {
                to: peer(side),
                conn,
            },
        );
        self.reconnect_later(side);
    }

    /// The connection is gone under `side`: tell its session.
    fn drop_connection(&mut self, side: usize) -> Result<(), Failure> {
        self.sides[side].conn = None;
        self.sides[side].inbox.clear();
        let now = self.virtual_now();
        self.sides[side].session.handle_disconnect(now);
        self.pump(side)?;
        self.reconnect_later(side);
        Ok(())
    }

    /// The initiator dials again after a backoff whenever it has lost its connection.
    fn reconnect_later(&mut self, side: usize) {
        if side == INITIATOR && !self.reconnect_pending {
            self.reconnect_pending = true;
            let at = self.now + self.rng.between(100_000_000, 3_000_000_000);
            self.schedule(at, Action::Connect);
        }
    }

    fn connect(&mut self) -> Result<(), Failure> {
        self.reconnect_pending = false;
        if self.sides[INITIATOR].conn.is_some() {
            return Ok(());
        }
        if self.sides[ACCEPTOR].conn.is_some() {
            // The acceptor still holds the old connection; the new one replaces it.
            self.note(|| "A drops its old connection for the new one".into());
            self.drop_connection(ACCEPTOR)?;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        self.note(|| format!("connection {conn} opens"));
        let now = self.virtual_now();
        for side in [ACCEPTOR, INITIATOR] {
            let s = &mut self.sides[side];
            s.conn = Some(conn);
            s.inbox.clear();
            s.injector.reset();
            s.last_arrival = self.now;
            s.session.handle_connect(now);
            self.pump(side)?;
        }
        Ok(())
    }

    fn app_step(&mut self, side: usize) -> Result<(), Failure> {
        if self.sides[side].session.state() != State::Active {
            return Ok(());
        }
        let now = self.virtual_now();
        let name = self.sides[side].name;
        if self.rng.chance(self.scenario.logout_chance) {
            self.note(|| format!("{name} logs out"));
            self.sides[side]
                .session
                .logout(now, Some("simulated logout"));
            return self.pump(side);
        }
        let s = &mut self.sides[side];
        let counter = s.sent.len() as u64;
        let mut digits = [0u8; 20];
        let len = gapless_codec::value::write_u64(counter, &mut digits);
        let text = &digits[20 - len..];
        let with_headline = self.scenario.version > Version::Fix40;
        let sent = s.session.send(now, b"B", |body| {
            // News as every version defines it; FIX.4.0 has no Headline.
            if with_headline {
                body.field(HEADLINE, b"sim");
            }
            body.uint(LINES_OF_TEXT, 1).field(tag::TEXT, text);
        });
        match sent {
            Ok(seq) => {
                s.sent.push(seq);
                self.note(|| format!("{name} app sends counter {counter} as 34={seq}"));
            }
            Err(e) => self.note(|| format!("{name} app send failed: {e}")),
        }
        self.pump(side)
    }

    /// The process of `side` dies and starts again: a new session on the same store, and its
    /// connection, if any, closed under the peer.
    fn restart(&mut self, side: usize) {
        self.restarts += 1;
        let name = self.sides[side].name;
        self.note(|| format!("{name} restarts"));
        let s = &mut self.sides[side];
        let stand_in = Session::new(s.config.clone(), AnyStore::Memory(MemoryStore::new()));
        // The process dies: its session state is lost, its store is not. A file store is closed
        // and opened again from its files, as a new process would.
        let store = match std::mem::replace(&mut s.session, stand_in).into_store() {
            AnyStore::File(file) => {
                let (dir, config) = (file.dir().to_path_buf(), file.config());
                drop(file);
                AnyStore::File(
                    FileStore::open(&dir, config).expect("a store reopens after a restart"),
                )
            }
            memory => memory,
        };
        s.session = Session::new(s.config.clone(), store);
        self.hang_up(side);
    }

    /// Both sessions logged on with nothing outstanding and the link empty. Once they are, every
    /// application message must have been delivered.
    fn settled(&self) -> Result<bool, Failure> {
        let [i, a] = &self.sides;
        let quiet_side = |s: &Side| {
            s.session.state() == State::Active
                && !s.session.is_recovering()
                && s.session.counters().held_now == 0
                && !s.injector.has_delayed()
        };
        let settled = self.in_flight == 0
            && quiet_side(i)
            && quiet_side(a)
            && i.session.next_target_seq() == a.session.next_sender_seq()
            && a.session.next_target_seq() == i.session.next_sender_seq();
        if !settled {
            return Ok(false);
        }
        for (to, from) in [(i, a), (a, i)] {
            if to.delivered != from.sent.len() as u64 {
                return Err(self.fail(format!(
                    "settled, but {} delivered {} of the {} messages {} sent",
                    to.name,
                    to.delivered,
                    from.sent.len(),
                    from.name
                )));
            }
        }
        Ok(true)
    }

    fn check_hold_limits(&self) -> Result<(), Failure> {
        for s in &self.sides {
            let limits = s.config.hold_limits;
            let counters = s.session.counters();
            if counters.held_now > limits.max_messages as u64
                || counters.held_bytes_now > limits.max_bytes as u64
            {
                return Err(self.fail(format!(
                    "{} holds {} messages, {} bytes: over {limits:?}",
                    s.name, counters.held_now, counters.held_bytes_now
                )));
            }
        }
        Ok(())
    }

    /// Why the run is stuck, with the state of both sides.
    fn stuck(&self, what: &str) -> String {
        let mut text = what.to_string();
        for s in &self.sides {
            let _ = write!(
                text,
                "; {}: {:?} conn={:?} next_sender={} next_target={} recovering={} held={} \
                 delivered={} sent={}",
                s.name,
                s.session.state(),
                s.conn,
                s.session.next_sender_seq(),
                s.session.next_target_seq(),
                s.session.is_recovering(),
                s.session.counters().held_now,
                s.delivered,
                s.sent.len()
            );
        }
        text
    }
}
