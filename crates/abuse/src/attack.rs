//! The attacks, as data ([`ATTACKS`]), and the one runner per kind of plan.
//!
//! Every attack is bounded: a number of connections and bytes fixed by its [`Scale`], and a
//! deadline per connection. Each one checks what the gateway must do about it, from the peer's
//! side: close a connection it cannot use, keep a session it can use answering (a TestRequest
//! probe after the abuse), or answer no more than its rate limit allows.

use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gapless_codec::tag;
use gapless_sim::Rng;

use crate::peer::{Ending, Identity, Peer, PeerError, encode, is_closed};

/// A count for the short form (CI) and for `--long`.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub short: u64,
    pub long: u64,
}

const fn scale(short: u64, long: u64) -> Scale {
    Scale { short, long }
}

/// What an attack does.
#[derive(Debug, Clone, Copy)]
pub enum Plan {
    /// Each corpus input as the first bytes of its own connection: every one must be closed.
    CorpusBeforeLogon,
    /// Each corpus input after a Logon on its own connection: the gateway either closes or the
    /// session still answers a TestRequest behind it.
    CorpusAfterLogon,
    /// `connections` connections send `bytes` random bytes before a Logon (must be closed), and
    /// one logged-on connection per connection count sends them after (must still answer).
    RandomBytes { connections: Scale, bytes: Scale },
    /// A header whose BodyLength is each of `lengths`, followed by filler: before a Logon it
    /// must be closed, after one the session must resynchronise and answer.
    HugeBodyLength { lengths: &'static [&'static str] },
    /// A well-framed message (correct BodyLength and CheckSum) whose body is `body` bytes,
    /// beyond the gateway's maximum: the same checks as [`Plan::HugeBodyLength`].
    Oversized { body: Scale },
    /// `connections` connections send a Logon one byte every `interval`: each must be closed
    /// before it completes. Then one logs on with HeartBtInt=1 and sends a message one byte
    /// every `interval`: it must be closed for its silence.
    Slowloris {
        connections: Scale,
        interval: Duration,
    },
    /// `unknown` Logons from CompIDs no session has, and `silent` connections that send
    /// nothing, `concurrency` at a time: every one must be closed without an answer.
    LogonFlood {
        unknown: Scale,
        silent: Scale,
        concurrency: u64,
    },
    /// `requests` ResendRequests for everything, as fast as the socket takes them: no more may
    /// be answered than the rate limit allows, and the session must still answer afterwards.
    ResendStorm { requests: Scale },
    /// SequenceReset-Reset to each number of `to` in turn (each followed by a probe at that
    /// number), then a message with a number too low: the session must follow the resets and
    /// then log out.
    SequenceReset { to: &'static [u64] },
    /// Logs on with a tiny receive buffer, then sends TestRequests (each answered by a
    /// Heartbeat it never reads) for at most `limit`: the gateway must close it.
    NeverRead { limit: Duration },
}

/// One attack: a name for the command line and the logs, and its plan.
#[derive(Debug, Clone, Copy)]
pub struct Attack {
    pub name: &'static str,
    pub what: &'static str,
    pub plan: Plan,
}

/// Every attack, in the order the campaign runs them.
pub const ATTACKS: &[Attack] = &[
    Attack {
        name: "corpus-before-logon",
        what: "the fuzz corpus and its mutations, each as a connection's first bytes",
        plan: Plan::CorpusBeforeLogon,
    },
    Attack {
        name: "corpus-after-logon",
        what: "the fuzz corpus and its mutations, each after a Logon",
        plan: Plan::CorpusAfterLogon,
    },
    Attack {
        name: "random-bytes",
        what: "random bytes before and after a Logon",
        plan: Plan::RandomBytes {
            connections: scale(8, 200),
            bytes: scale(64 * 1024, 4 * 1024 * 1024),
        },
    },
    Attack {
        name: "huge-body-length",
        what: "BodyLength of 2^31, 2^64 and beyond, negative",
        plan: Plan::HugeBodyLength {
            lengths: &[
                "2147483648",
                "18446744073709551616",
                "-1",
                "99999999999999999999999",
            ],
        },
    },
    Attack {
        name: "oversized",
        what: "a well-framed message larger than the maximum",
        plan: Plan::Oversized {
            body: scale(256 * 1024, 16 * 1024 * 1024),
        },
    },
    Attack {
        name: "slowloris",
        what: "a Logon, and a message after one, at one byte per second",
        plan: Plan::Slowloris {
            connections: scale(4, 64),
            interval: Duration::from_secs(1),
        },
    },
    Attack {
        name: "logon-flood",
        what: "Logons from unknown CompIDs, and silent connections",
        plan: Plan::LogonFlood {
            unknown: scale(300, 5000),
            silent: scale(300, 1000),
            concurrency: 150,
        },
    },
    Attack {
        name: "resend-storm",
        what: "ResendRequests for everything, back to back",
        plan: Plan::ResendStorm {
            requests: scale(5000, 200_000),
        },
    },
    Attack {
        name: "sequence-reset",
        what: "SequenceReset to 2^63 and to 2^64-1, then a MsgSeqNum too low",
        plan: Plan::SequenceReset {
            to: &[1 << 63, u64::MAX],
        },
    },
    Attack {
        name: "never-read",
        what: "a peer that sends TestRequests and never reads the answers",
        plan: Plan::NeverRead {
            limit: Duration::from_secs(60),
        },
    },
];

/// The attack named `name`.
pub fn find(name: &str) -> Option<&'static Attack> {
    ATTACKS.iter().find(|attack| attack.name == name)
}

/// Where and how to attack.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The acceptor session attacked: its CompIDs and version.
    pub identity: Identity,
    /// The long variants.
    pub long: bool,
    pub seed: u64,
    /// The corpus inputs (with their mutations).
    pub corpus: Vec<Vec<u8>>,
    /// How long the gateway may take to close a connection it should close: its logon timeout
    /// (which bounds the wait for a first message) and some slack.
    pub close_within: Duration,
    /// The session's limit on ResendRequests answered per second.
    pub resend_limit: u64,
}

impl Target {
    fn count(&self, scale: Scale) -> u64 {
        if self.long { scale.long } else { scale.short }
    }

    fn peer(&self) -> Result<Peer, PeerError> {
        Ok(Peer::connect(
            self.addr,
            &self.identity,
            Duration::from_secs(5),
        )?)
    }

    /// A peer logged on to the attacked session. The gateway may still be releasing the last
    /// connection, so a refused Logon is retried a few times.
    fn logged_on(&self, heartbeat: u32) -> Result<Peer, PeerError> {
        let mut last = PeerError::NoAnswer("Logon");
        for _ in 0..20 {
            let mut peer = self.peer()?;
            match peer.logon(heartbeat, Duration::from_secs(3)) {
                Ok(()) => return Ok(peer),
                Err(error) => last = error,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last)
    }

    /// A connection of another peer, which says it is `sender`.
    fn stranger(&self, sender: String) -> Identity {
        Identity {
            sender,
            ..self.identity.clone()
        }
    }
}

/// What an attack counted; `failures` says what the gateway did wrong.
#[derive(Debug, Default)]
pub struct Report {
    pub connections: u64,
    pub closed_by_gateway: u64,
    pub probes_answered: u64,
    pub resends_answered: u64,
    pub bytes_sent: u64,
    pub longest_close: Duration,
    pub failures: Vec<String>,
}

impl Report {
    fn closed(&mut self, ending: Ending, what: &str) {
        match ending {
            Ending::ClosedByGateway(after) => {
                self.closed_by_gateway += 1;
                self.longest_close = self.longest_close.max(after);
            }
            Ending::StillOpen => self.failures.push(format!("{what}: still open")),
        }
    }

    fn merge(&mut self, other: Report) {
        self.connections += other.connections;
        self.closed_by_gateway += other.closed_by_gateway;
        self.probes_answered += other.probes_answered;
        self.resends_answered += other.resends_answered;
        self.bytes_sent += other.bytes_sent;
        self.longest_close = self.longest_close.max(other.longest_close);
        self.failures.extend(other.failures);
    }

    fn fail(&mut self, what: impl std::fmt::Display) {
        self.failures.push(what.to_string());
    }
}

/// Runs `attack` against `target`.
pub fn run(attack: &Attack, target: &Target) -> Report {
    let mut report = Report::default();
    let result = match attack.plan {
        Plan::CorpusBeforeLogon => before_logon_each(target, &target.corpus, &mut report),
        Plan::CorpusAfterLogon => corpus_after_logon(target, &mut report),
        Plan::RandomBytes { connections, bytes } => random_bytes(
            target,
            target.count(connections),
            target.count(bytes),
            &mut report,
        ),
        Plan::HugeBodyLength { lengths } => huge_body_length(target, lengths, &mut report),
        Plan::Oversized { body } => oversized(target, target.count(body), &mut report),
        Plan::Slowloris {
            connections,
            interval,
        } => slowloris(target, target.count(connections), interval, &mut report),
        Plan::LogonFlood {
            unknown,
            silent,
            concurrency,
        } => logon_flood(
            target,
            target.count(unknown),
            target.count(silent),
            concurrency,
            &mut report,
        ),
        Plan::ResendStorm { requests } => resend_storm(target, target.count(requests), &mut report),
        Plan::SequenceReset { to } => sequence_reset(target, to, &mut report),
        Plan::NeverRead { limit } => never_read(target, limit, &mut report),
    };
    if let Err(error) = result {
        report.fail(error);
    }
    report
}

/// Inputs sent as first bytes on their own connections, this many at a time.
const CONCURRENT_INPUTS: usize = 32;

/// Each input as the first bytes of its own connection, [`CONCURRENT_INPUTS`] at a time; every
/// connection must be closed by the gateway.
fn before_logon_each(
    target: &Target,
    inputs: &[Vec<u8>],
    report: &mut Report,
) -> Result<(), PeerError> {
    let shared = Mutex::new(Report::default());
    for batch in inputs.chunks(CONCURRENT_INPUTS) {
        std::thread::scope(|scope| {
            for (index, input) in batch.iter().enumerate() {
                let shared = &shared;
                scope.spawn(move || {
                    let mut own = Report::default();
                    if let Err(error) = first_bytes(target, input, &mut own) {
                        own.fail(format!("input {index}: {error}"));
                    }
                    lock(shared).merge(own);
                });
            }
        });
    }
    report.merge(shared.into_inner().unwrap_or_else(|e| e.into_inner()));
    Ok(())
}

fn first_bytes(target: &Target, input: &[u8], report: &mut Report) -> Result<(), PeerError> {
    let mut peer = target.peer()?;
    report.connections += 1;
    match peer.write_raw(input) {
        Ok(()) => report.bytes_sent += input.len() as u64,
        // Closed while we wrote: the gateway has already refused it.
        Err(error) if is_closed(&error) => {
            report.closed(Ending::ClosedByGateway(Duration::ZERO), "");
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    }
    let ending = peer.wait_closed(target.close_within)?;
    report.closed(ending, &format!("{}-byte first input", input.len()));
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// After `bytes` that may have broken the session's framing: the gateway either closes the
/// connection, or the session answers a TestRequest (two tries: the first may be swallowed by
/// an incomplete message the abuse left). Then the peer logs out.
fn closed_or_answering(
    peer: &mut Peer,
    target: &Target,
    what: &str,
    must_answer: bool,
    report: &mut Report,
) -> Result<(), PeerError> {
    let mut last = None;
    for _ in 0..2 {
        match peer.probe(Duration::from_secs(3)) {
            Ok(()) => {
                report.probes_answered += 1;
                let ending = peer.logout(target.close_within)?;
                report.closed(ending, &format!("{what}: Logout"));
                return Ok(());
            }
            Err(PeerError::Closed(_)) if !must_answer => {
                report.closed(Ending::ClosedByGateway(Duration::ZERO), what);
                return Ok(());
            }
            Err(PeerError::Io(error)) if is_closed(&error) && !must_answer => {
                report.closed(Ending::ClosedByGateway(Duration::ZERO), what);
                return Ok(());
            }
            Err(error) => last = Some(error),
        }
    }
    if let Some(error) = last {
        report.fail(format!("{what}: {error}"));
    }
    Ok(())
}

fn corpus_after_logon(target: &Target, report: &mut Report) -> Result<(), PeerError> {
    for (index, input) in target.corpus.iter().enumerate() {
        let mut peer = target.logged_on(30)?;
        report.connections += 1;
        match peer.write_raw(input) {
            Ok(()) => report.bytes_sent += input.len() as u64,
            Err(error) if is_closed(&error) => {
                report.closed(Ending::ClosedByGateway(Duration::ZERO), "");
                continue;
            }
            Err(error) => return Err(error.into()),
        }
        closed_or_answering(&mut peer, target, &format!("input {index}"), false, report)?;
    }
    Ok(())
}

fn random(rng: &mut Rng, len: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len as usize + 8);
    while (bytes.len() as u64) < len {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(len as usize);
    // Random bytes almost never hold "8=FIX"; make sure none does, so that the session's
    // resynchronisation is what is tested, not the odds.
    for at in 0..bytes.len().saturating_sub(4) {
        if &bytes[at..at + 5] == b"8=FIX" {
            bytes[at] = b'7';
        }
    }
    bytes
}

fn random_bytes(
    target: &Target,
    connections: u64,
    bytes: u64,
    report: &mut Report,
) -> Result<(), PeerError> {
    let mut rng = Rng::new(target.seed);
    let inputs: Vec<Vec<u8>> = (0..connections).map(|_| random(&mut rng, bytes)).collect();
    before_logon_each(target, &inputs, report)?;
    for (index, input) in inputs.iter().enumerate() {
        let mut peer = target.logged_on(30)?;
        report.connections += 1;
        peer.write_raw(input)?;
        report.bytes_sent += input.len() as u64;
        let what = format!("random bytes {index} after Logon");
        closed_or_answering(&mut peer, target, &what, true, report)?;
    }
    Ok(())
}

/// A header claiming `body_length`, then `filler` bytes of body.
fn bad_header(target: &Target, body_length: &str, filler: usize) -> Vec<u8> {
    let mut bytes = format!(
        "8={}\x019={body_length}\x0135=D\x0149={}\x0156={}\x0134=2\x0158=",
        target.identity.begin_string, target.identity.sender, target.identity.target
    )
    .into_bytes();
    bytes.resize(bytes.len() + filler, b'x');
    bytes
}

fn huge_body_length(
    target: &Target,
    lengths: &[&str],
    report: &mut Report,
) -> Result<(), PeerError> {
    let inputs: Vec<Vec<u8>> = lengths
        .iter()
        .map(|l| bad_header(target, l, 4096))
        .collect();
    before_logon_each(target, &inputs, report)?;
    for (length, input) in lengths.iter().zip(&inputs) {
        let mut peer = target.logged_on(30)?;
        report.connections += 1;
        peer.write_raw(input)?;
        report.bytes_sent += input.len() as u64;
        let what = format!("BodyLength {length} after Logon");
        closed_or_answering(&mut peer, target, &what, true, report)?;
    }
    Ok(())
}

fn oversized(target: &Target, body: u64, report: &mut Report) -> Result<(), PeerError> {
    let text = vec![b'x'; body as usize];
    let logon = encode(&target.identity, 1, b"A", &[(tag::TEXT, &text)])?;
    before_logon_each(target, &[logon], report)?;
    let mut peer = target.logged_on(30)?;
    report.connections += 1;
    let seq = peer.next_seq();
    peer.send(b"B", &[(148, b"oversized"), (tag::TEXT, &text)])?;
    report.bytes_sent += body;
    // The oversized message is garbled input: it never used its number.
    peer.set_next_seq(seq);
    closed_or_answering(
        &mut peer,
        target,
        "oversized message after Logon",
        true,
        report,
    )
}

fn slowloris(
    target: &Target,
    connections: u64,
    interval: Duration,
    report: &mut Report,
) -> Result<(), PeerError> {
    let shared = Mutex::new(Report::default());
    std::thread::scope(|scope| {
        for index in 0..connections {
            let shared = &shared;
            scope.spawn(move || {
                let mut own = Report::default();
                if let Err(error) = slow_logon(target, interval, &mut own) {
                    own.fail(format!("slow Logon {index}: {error}"));
                }
                lock(shared).merge(own);
            });
        }
    });
    report.merge(shared.into_inner().unwrap_or_else(|e| e.into_inner()));

    // After a Logon, a message one byte at a time: the session hears nothing whole and ends it
    // for a heartbeat timeout.
    let mut peer = target.logged_on(1)?;
    report.connections += 1;
    let message = peer.encode(b"1", &[(tag::TEST_REQ_ID, b"slow")])?;
    let start = Instant::now();
    for byte in &message {
        if peer.write_raw(std::slice::from_ref(byte)).is_err() {
            break;
        }
        report.bytes_sent += 1;
        let alive = peer.drain(interval, |_, _| {})?;
        if !alive {
            report.closed(Ending::ClosedByGateway(start.elapsed()), "");
            return Ok(());
        }
    }
    report.fail("slow message after Logon: still open after its last byte");
    Ok(())
}

fn slow_logon(target: &Target, interval: Duration, report: &mut Report) -> Result<(), PeerError> {
    let mut peer = target.peer()?;
    report.connections += 1;
    let logon = peer.encode(
        b"A",
        &[
            (tag::ENCRYPT_METHOD, b"0"),
            (tag::HEART_BT_INT, b"30"),
            (tag::RESET_SEQ_NUM_FLAG, b"Y"),
        ],
    )?;
    let start = Instant::now();
    for byte in &logon {
        match peer.write_raw(std::slice::from_ref(byte)) {
            Ok(()) => report.bytes_sent += 1,
            Err(error) if is_closed(&error) => break,
            Err(error) => return Err(error.into()),
        }
        if let Ending::ClosedByGateway(_) = peer.wait_closed(interval)? {
            break;
        }
        if start.elapsed() > target.close_within {
            report.fail("slow Logon: still open past the logon timeout");
            return Ok(());
        }
    }
    if report.bytes_sent >= logon.len() as u64 {
        report.fail("slow Logon: every byte was taken");
        return Ok(());
    }
    report.closed(Ending::ClosedByGateway(start.elapsed()), "");
    Ok(())
}

fn logon_flood(
    target: &Target,
    unknown: u64,
    silent: u64,
    concurrency: u64,
    report: &mut Report,
) -> Result<(), PeerError> {
    let shared = Mutex::new(Report::default());
    let total = unknown + silent;
    let mut next = 0;
    while next < total {
        let batch = next..(next + concurrency).min(total);
        next = batch.end;
        std::thread::scope(|scope| {
            for index in batch {
                let shared = &shared;
                scope.spawn(move || {
                    let mut own = Report::default();
                    if let Err(error) = flood_one(target, index, index < unknown, &mut own) {
                        own.fail(format!("flood connection {index}: {error}"));
                    }
                    lock(shared).merge(own);
                });
            }
        });
    }
    report.merge(shared.into_inner().unwrap_or_else(|e| e.into_inner()));
    // The session itself still takes its peer.
    let mut peer = target.logged_on(30)?;
    report.connections += 1;
    closed_or_answering(&mut peer, target, "Logon after the flood", true, report)
}

fn flood_one(
    target: &Target,
    index: u64,
    logon: bool,
    report: &mut Report,
) -> Result<(), PeerError> {
    let identity = target.stranger(format!("UNKNOWN{index}"));
    let mut peer = Peer::connect(target.addr, &identity, Duration::from_secs(5))?;
    report.connections += 1;
    if logon {
        let bytes = peer.encode(
            b"A",
            &[(tag::ENCRYPT_METHOD, b"0"), (tag::HEART_BT_INT, b"30")],
        )?;
        if let Err(error) = peer.write_raw(&bytes) {
            if is_closed(&error) {
                report.closed(Ending::ClosedByGateway(Duration::ZERO), "");
                return Ok(());
            }
            return Err(error.into());
        }
        report.bytes_sent += bytes.len() as u64;
    }
    let mut answered = 0;
    let open = peer.drain(target.close_within, |_, _| answered += 1)?;
    if answered > 0 {
        report.fail(format!(
            "connection {index}: the gateway answered a stranger"
        ));
    }
    let ending = if open {
        peer.wait_closed(target.close_within)?
    } else {
        Ending::ClosedByGateway(Duration::ZERO)
    };
    report.closed(ending, &format!("flood connection {index}"));
    Ok(())
}

fn resend_storm(target: &Target, requests: u64, report: &mut Report) -> Result<(), PeerError> {
    let mut peer = target.logged_on(30)?;
    report.connections += 1;
    let start = Instant::now();
    let mut answered = 0;
    let mut count = |msg_type: &[u8], _: &[u8]| {
        if msg_type == b"4" {
            answered += 1;
        }
    };
    for sent in 0..requests {
        peer.send(b"2", &[(tag::BEGIN_SEQ_NO, b"1"), (tag::END_SEQ_NO, b"0")])?;
        if sent % 100 == 99 {
            peer.drain(Duration::from_millis(1), &mut count)?;
        }
    }
    // What the last requests caused.
    peer.drain(Duration::from_millis(500), &mut count)?;
    let elapsed = start.elapsed();
    report.resends_answered = answered;
    // A fixed one-second window: at most the limit per started second, plus one window.
    let allowed = target.resend_limit * (elapsed.as_secs() + 2);
    if answered > allowed {
        report.fail(format!(
            "{answered} ResendRequests answered in {elapsed:?}; the limit allows {allowed}"
        ));
    }
    if answered == 0 {
        report.fail("no ResendRequest answered at all");
    }
    closed_or_answering(&mut peer, target, "after the storm", true, report)
}

fn sequence_reset(target: &Target, to: &[u64], report: &mut Report) -> Result<(), PeerError> {
    let mut peer = target.logged_on(30)?;
    report.connections += 1;
    for &new_seq in to {
        let value = new_seq.to_string();
        peer.send(b"4", &[(tag::NEW_SEQ_NO, value.as_bytes())])?;
        peer.set_next_seq(new_seq);
        if let Err(error) = peer.probe(Duration::from_secs(3)) {
            report.fail(format!("probe at MsgSeqNum {new_seq}: {error}"));
            return Ok(());
        }
        report.probes_answered += 1;
    }
    // Back to a small number: too low, which ends the session.
    peer.set_next_seq(3);
    peer.send(b"0", &[])?;
    let ending = peer.wait_closed(target.close_within)?;
    report.closed(ending, "MsgSeqNum too low after the resets");
    Ok(())
}

/// The never-reading peer's HeartBtInt: short, so that the campaign is.
const NEVER_READ_HEARTBEAT: u32 = 2;

fn never_read(target: &Target, limit: Duration, report: &mut Report) -> Result<(), PeerError> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(target.addr),
        socket2::Type::STREAM,
        None,
    )?;
    // The kernel rounds this up to its minimum; the point is a window that fills at once.
    socket.set_recv_buffer_size(4096)?;
    socket.connect_timeout(&target.addr.into(), Duration::from_secs(5))?;
    let stream: TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_millis(200)))?;
    let mut peer = Peer::from_stream(stream, &target.identity);
    // The gateway gives a peer one heartbeat interval to take what it is sent.
    peer.logon(NEVER_READ_HEARTBEAT, Duration::from_secs(3))?;
    report.connections += 1;
    let start = Instant::now();
    let mut requests = Vec::new();
    while start.elapsed() < limit {
        // A batch of TestRequests, each answered by a Heartbeat that nobody reads.
        requests.clear();
        for _ in 0..64 {
            let id = format!("unread-{}", peer.next_seq());
            requests.extend(peer.encode(b"1", &[(tag::TEST_REQ_ID, id.as_bytes())])?);
            peer.set_next_seq(peer.next_seq() + 1);
        }
        match peer.write_raw(&requests) {
            Ok(()) => report.bytes_sent += requests.len() as u64,
            Err(error) if is_closed(&error) => {
                report.closed(Ending::ClosedByGateway(start.elapsed()), "");
                return Ok(());
            }
            // The gateway stopped reading us: keep pushing until the deadline.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => return Err(error.into()),
        }
    }
    // Never closed while we pushed: the last chance is a close already on its way.
    let ending = peer.wait_closed(Duration::from_secs(1))?;
    report.closed(ending, "a peer that never reads");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_attack_names_are_unique_and_found() {
        for attack in ATTACKS {
            assert_eq!(ATTACKS.iter().filter(|a| a.name == attack.name).count(), 1);
            assert!(find(attack.name).is_some_and(|a| a.name == attack.name));
        }
        assert!(find("no-such-attack").is_none());
    }

    #[test]
    fn test_random_bytes_never_hold_a_begin_string() {
        let mut rng = Rng::new(3);
        let bytes = random(&mut rng, 1 << 16);
        assert_eq!(bytes.len(), 1 << 16);
        assert!(!bytes.windows(5).any(|w| w == b"8=FIX"));
    }

    #[test]
    fn test_report_still_open_is_a_failure() {
        let mut report = Report::default();
        report.closed(Ending::ClosedByGateway(Duration::from_millis(5)), "a");
        report.closed(Ending::StillOpen, "b");
        assert_eq!(report.closed_by_gateway, 1);
        assert_eq!(report.longest_close, Duration::from_millis(5));
        assert_eq!(report.failures, vec!["b: still open".to_owned()]);
    }
}
