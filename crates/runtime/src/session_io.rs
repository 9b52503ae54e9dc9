//! What both modes do the same way between a session and the rest of the gateway: the Logon
//! hooks, draining the session's events, telling the application about them, and publishing
//! counters.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gapless_client::{
    Counter, Orders, OutboundRecord, Reason, SessionEvent, SessionState, StatsWriter,
};
use gapless_codec::{Decoded, FrameError, Limits, Message, decode};
use gapless_session::{DisconnectReason, Event, Hooks, Instant, Now, Session, State};
use gapless_store::AnyStore;
use gapless_transport::{CloseReason, ConnId, Transport};

use crate::config::Backoff;

/// The session type the runtime runs.
pub(crate) type GatewaySession = Session<AnyStore, GatewayHooks>;

/// What the application's [`LogonCheck`] is shown of a Logon. `Debug` never shows the password.
#[derive(Clone, Copy)]
pub struct LogonRequest<'a> {
    /// The session's name in the configuration.
    pub session: &'a str,
    /// Username (553), if the Logon carries one.
    pub username: Option<&'a [u8]>,
    /// Password (554), if the Logon carries one.
    pub password: Option<&'a [u8]>,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
}

impl std::fmt::Debug for LogonRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogonRequest")
            .field("session", &self.session)
            .field("username", &self.username.map(String::from_utf8_lossy))
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("peer", &self.peer)
            .finish()
    }
}

/// The application's check of an acceptor's incoming Logon (Username and Password, say), after
/// the CompIDs and the source-address allowlist have passed. It runs on the thread that runs the
/// sessions, inside the poll loop: answer at once, never block. A refusal closes the connection
/// exactly as a failed CompID or address check does: no reply, nothing that says which check
/// failed; only our log names it.
pub trait LogonCheck: Send + Sync {
    fn check(&self, request: &LogonRequest<'_>) -> bool;
}

impl<F: Fn(&LogonRequest<'_>) -> bool + Send + Sync> LogonCheck for F {
    fn check(&self, request: &LogonRequest<'_>) -> bool {
        self(request)
    }
}

/// A [`LogonCheck`] shared by the sessions ([`crate::RuntimeConfig::logon_check`]).
#[derive(Clone)]
pub struct SharedLogonCheck(pub Arc<dyn LogonCheck>);

impl std::fmt::Debug for SharedLogonCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedLogonCheck")
    }
}

/// The gateway's session hooks: the source-address allowlist, then the application's
/// [`LogonCheck`]. A refusal is logged with its real reason.
#[derive(Debug, Clone, Default)]
pub struct GatewayHooks {
    session: String,
    allowed_peers: Vec<IpAddr>,
    check: Option<SharedLogonCheck>,
}

impl GatewayHooks {
    /// Hooks for session `session` that accept Logons only from `allowed_peers` (any address if
    /// empty), with no [`LogonCheck`].
    pub fn new(session: &str, allowed_peers: Vec<IpAddr>) -> GatewayHooks {
        GatewayHooks {
            session: session.to_string(),
            allowed_peers,
            check: None,
        }
    }

    /// Installs the application's check of Logons.
    pub fn set_logon_check(&mut self, check: SharedLogonCheck) {
        self.check = Some(check);
    }
}

impl Hooks for GatewayHooks {
    fn accept_logon(&mut self, logon: &Message<'_>, peer: Option<SocketAddr>) -> bool {
        let address_ok = self.allowed_peers.is_empty()
            || peer.is_some_and(|peer| self.allowed_peers.contains(&peer.ip()));
        let refused = if !address_ok {
            "source address not allowed"
        } else if let Some(SharedLogonCheck(check)) = &self.check
            && !check.check(&LogonRequest {
                session: &self.session,
                username: logon.get(gapless_codec::tag::USERNAME),
                password: logon.get(gapless_codec::tag::PASSWORD),
                peer,
            })
        {
            "credentials refused"
        } else {
            return true;
        };
        log_refusal(peer, Some(&self.session), refused);
        false
    }
}

/// The one log line of a refused connection, whichever check refused it; the peer is told
/// nothing.
pub(crate) fn log_refusal(peer: Option<SocketAddr>, session: Option<&str>, reason: &str) {
    match (peer, session) {
        (Some(peer), Some(session)) => {
            tracing::warn!(%peer, session, reason, "connection refused")
        }
        (Some(peer), None) => tracing::warn!(%peer, reason, "connection refused"),
        (None, Some(session)) => tracing::warn!(session, reason, "connection refused"),
        (None, None) => tracing::warn!(reason, "connection refused"),
    }
}

/// Logs a connection the transport ended for a TLS failure (a failed handshake, a plaintext
/// peer on a TLS port); other ends are logged where they matter to a session.
pub(crate) fn log_tls_failure(reason: CloseReason, session: Option<&str>) {
    if let CloseReason::Tls(failure) = reason {
        match session {
            Some(session) => tracing::warn!(session, ?failure, "TLS failed, connection closed"),
            None => tracing::warn!(?failure, "TLS failed, connection closed"),
        }
    }
}

/// A session event for the application, in a form that crosses a ring between threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    LoggedOn { reset: bool },
    GapDetected { begin: u64, end: u64 },
    Recovered { after_nanos: u64 },
    Ended(DisconnectReason),
    ConnectionLost,
}

/// The session's ways of ending, numbered for [`Notice::to_bytes`].
const ENDINGS: [DisconnectReason; 9] = [
    DisconnectReason::LoggedOut,
    DisconnectReason::InvalidLogon,
    DisconnectReason::LogonTimeout,
    DisconnectReason::LogoutTimeout,
    DisconnectReason::HeartbeatTimeout,
    DisconnectReason::SeqNumTooLow,
    DisconnectReason::HeaderProblem,
    DisconnectReason::HoldQueueOverflow,
    DisconnectReason::StoreFailure,
];

/// Bytes of an encoded [`Notice`]: kind, flag, then two `u64`s.
pub(crate) const NOTICE_LEN: usize = 24;

impl Notice {
    /// The record the application receives.
    pub(crate) fn event(self) -> SessionEvent<'static> {
        match self {
            Notice::LoggedOn { reset } => SessionEvent::LoggedOn { reset },
            Notice::GapDetected { begin, end } => SessionEvent::GapDetected { begin, end },
            Notice::Recovered { after_nanos } => SessionEvent::Recovered { after_nanos },
            Notice::Ended(reason) => ending_event(reason),
            Notice::ConnectionLost => SessionEvent::Disconnected {
                reason: Reason::TransportClosed,
                text: b"connection lost",
            },
        }
    }

    pub(crate) fn to_bytes(self) -> [u8; NOTICE_LEN] {
        let (kind, flag, a, b) = match self {
            Notice::LoggedOn { reset } => (1, u8::from(reset), 0, 0),
            Notice::GapDetected { begin, end } => (2, 0, begin, end),
            Notice::Recovered { after_nanos } => (3, 0, after_nanos, 0),
            Notice::Ended(reason) => {
                let index = ENDINGS.iter().position(|r| *r == reason).unwrap_or(0);
                (4, index as u8, 0, 0)
            }
            Notice::ConnectionLost => (5, 0, 0, 0),
        };
        let mut out = [0u8; NOTICE_LEN];
        out[0] = kind;
        out[1] = flag;
        out[8..16].copy_from_slice(&u64::to_le_bytes(a));
        out[16..24].copy_from_slice(&u64::to_le_bytes(b));
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Notice> {
        let bytes: &[u8; NOTICE_LEN] = bytes.get(..NOTICE_LEN)?.try_into().ok()?;
        let a = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
        let b = u64::from_le_bytes(bytes[16..24].try_into().ok()?);
        Some(match bytes[0] {
            1 => Notice::LoggedOn {
                reset: bytes[1] != 0,
            },
            2 => Notice::GapDetected { begin: a, end: b },
            3 => Notice::Recovered { after_nanos: a },
            4 => Notice::Ended(*ENDINGS.get(usize::from(bytes[1]))?),
            5 => Notice::ConnectionLost,
            _ => return None,
        })
    }
}

/// How the application hears of the session's end.
fn ending_event(reason: DisconnectReason) -> SessionEvent<'static> {
    let (code, text): (Reason, &'static [u8]) = match reason {
        DisconnectReason::LoggedOut => (Reason::Requested, b"logged out"),
        DisconnectReason::InvalidLogon => (Reason::LogonRejected, b"invalid logon"),
        DisconnectReason::LogonTimeout => (Reason::LogonRejected, b"logon timeout"),
        DisconnectReason::LogoutTimeout => (Reason::Timeout, b"logout timeout"),
        DisconnectReason::HeartbeatTimeout => (Reason::Timeout, b"heartbeat timeout"),
        DisconnectReason::SeqNumTooLow => (Reason::ProtocolError, b"MsgSeqNum too low"),
        DisconnectReason::HeaderProblem => (Reason::ProtocolError, b"header problem"),
        DisconnectReason::HoldQueueOverflow => (Reason::ProtocolError, b"hold queue overflow"),
        DisconnectReason::StoreFailure => (Reason::ProtocolError, b"store failure"),
        _ => (Reason::ProtocolError, b"session ended"),
    };
    if reason == DisconnectReason::LoggedOut {
        SessionEvent::LoggedOut { reason: code, text }
    } else {
        SessionEvent::Disconnected { reason: code, text }
    }
}

/// What draining a session produced for the application, in order.
#[derive(Debug)]
pub(crate) enum Output<'a> {
    /// `received_nanos`: when its bytes were read, on the host's monotonic clock.
    Deliver {
        seq: u64,
        received_nanos: u64,
        message: &'a [u8],
    },
    Notice {
        seq: u64,
        notice: Notice,
    },
}

/// What the caller must act on after [`drain_session`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Drained {
    /// The Logon handshake completed (an initiator's backoff starts over).
    pub(crate) logged_on: bool,
    /// The session ended: send what it queued, then close the connection.
    pub(crate) disconnecting: bool,
}

/// Takes every event from the session: application messages and notices go to `sink` in
/// order, rejects are logged, recoveries counted.
pub(crate) fn drain_session(
    session: &mut GatewaySession,
    name: &str,
    stats: &Stats,
    mut sink: impl FnMut(Output<'_>),
) -> Drained {
    let mut drained = Drained::default();
    while let Some(event) = session.poll_event() {
        let notice = match event {
            Event::Application {
                seq,
                message,
                received,
            } => {
                sink(Output::Deliver {
                    seq,
                    received_nanos: received.as_nanos(),
                    message,
                });
                continue;
            }
            Event::LoggedOn { reset } => {
                tracing::info!(session = %name, reset, "logged on");
                drained.logged_on = true;
                Notice::LoggedOn { reset }
            }
            Event::GapDetected { begin, end } => {
                tracing::info!(session = %name, begin, end, "gap detected");
                Notice::GapDetected { begin, end }
            }
            Event::Recovered { after } => {
                tracing::info!(session = %name, ?after, "recovered");
                let after_nanos = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
                stats.writer.record_recovery(after_nanos);
                Notice::Recovered { after_nanos }
            }
            Event::RejectSent { ref_seq, reason } => {
                tracing::warn!(session = %name, ref_seq, reason, "rejected a message");
                continue;
            }
            Event::RejectReceived { ref_seq } => {
                tracing::warn!(session = %name, ref_seq, "the peer rejected a message");
                continue;
            }
            Event::Disconnect(reason) => {
                tracing::info!(session = %name, %reason, "disconnecting");
                drained.disconnecting = true;
                Notice::Ended(reason)
            }
        };
        // Every message before the event went to the sink first: the event accounts for them.
        let seq = session.next_target_seq().saturating_sub(1);
        sink(Output::Notice { seq, notice });
    }
    drained
}

/// Logs a SequenceReset in reset mode (not a GapFill) that moved session `name`'s expected
/// inbound MsgSeqNum from `before` to `after`: the peer skipped numbers without sending them,
/// which is rare and worth a line.
pub(crate) fn log_sequence_reset(name: &str, msg: &Message<'_>, before: u64, after: u64) {
    if after != before
        && msg.msg_type() == b"4"
        && msg.get_bool(gapless_codec::tag::GAP_FILL_FLAG) != Ok(true)
    {
        tracing::warn!(
            session = %name,
            from = before,
            to = after,
            "SequenceReset moved the expected MsgSeqNum"
        );
    }
}

/// The acceptor session a connection's first message names by its CompIDs, among sessions
/// listening on `listen`: `(listen, our CompID, peer's CompID)` per session, `None` for
/// initiators.
pub(crate) fn route_first_message<'r>(
    routes: impl Iterator<Item = Option<(SocketAddr, &'r str, &'r str)>>,
    listen: SocketAddr,
    first: &Message<'_>,
) -> Option<usize> {
    let sender = first.get(gapless_codec::tag::SENDER_COMP_ID)?;
    let target = first.get(gapless_codec::tag::TARGET_COMP_ID)?;
    routes.enumerate().find_map(|(index, route)| {
        let (l, ours, theirs) = route?;
        (l == listen && sender == theirs.as_bytes() && target == ours.as_bytes()).then_some(index)
    })
}

/// Publishes a session's counters into its channel for `gapless stat`, as differences from what
/// was published before (each counter has this one writer), and warns in the log about the
/// counters a peer drives up by misbehaving.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) writer: StatsWriter,
    published: gapless_session::Counters,
    name: String,
    /// The framing error of the first garbled input since the last warning about it (what
    /// follows is often garbled because of it), for the next warning.
    first_garbled: Option<FrameError>,
    garbled: CounterWarning,
    resends_ignored: CounterWarning,
}

impl Stats {
    pub(crate) fn new(writer: StatsWriter, name: &str) -> Stats {
        Stats {
            writer,
            published: Default::default(),
            name: name.to_owned(),
            first_garbled: None,
            garbled: CounterWarning::default(),
            resends_ignored: CounterWarning::default(),
        }
    }

    /// Garbled input was handed to the session; the next warning names `error` if it is the
    /// first since the last one.
    pub(crate) fn note_garbled(&mut self, error: FrameError) {
        self.first_garbled.get_or_insert(error);
    }

    /// Warns, at most once per [`WARNING_INTERVAL`] each, about garbled input dropped and
    /// ResendRequests ignored over the rate limit since the last warning.
    fn warn_about_peer(&mut self, counters: &gapless_session::Counters, now: Instant) {
        if let Some(count) = self.garbled.due(counters.garbled_dropped, now) {
            let first = self.first_garbled.take();
            let error = first.as_ref().map_or(String::new(), ToString::to_string);
            tracing::warn!(session = %self.name, count, first = %error, "garbled input dropped");
        }
        if let Some(count) = self
            .resends_ignored
            .due(counters.resend_requests_throttled, now)
        {
            tracing::warn!(
                session = %self.name,
                count,
                "ResendRequests over the rate limit ignored"
            );
        }
    }

    pub(crate) fn publish(&mut self, session: &GatewaySession, connected: bool, now: Now) {
        let counters = *session.counters();
        self.warn_about_peer(&counters, now.instant);
        let before = self.published;
        let pairs = [
            (
                Counter::MessagesIn,
                counters.messages_received,
                before.messages_received,
            ),
            (
                Counter::MessagesOut,
                counters.messages_sent,
                before.messages_sent,
            ),
            (
                Counter::GapsDetected,
                counters.gaps_detected,
                before.gaps_detected,
            ),
            (
                Counter::ResendRequestsSent,
                counters.resend_requests_sent,
                before.resend_requests_sent,
            ),
            (
                Counter::ResendRequestsAnswered,
                counters.resend_requests_answered,
                before.resend_requests_answered,
            ),
        ];
        for (counter, now_value, was) in pairs {
            if now_value != was {
                self.writer.add(counter, now_value.wrapping_sub(was));
            }
        }
        self.published = counters;
        self.writer.set_held(counters.held_now);
        self.writer.set_state(match session.state() {
            State::Disconnected if connected => SessionState::Connecting,
            State::Disconnected => SessionState::Disconnected,
            State::AwaitingLogon => SessionState::AwaitingLogon,
            State::LogonSent => SessionState::LogonSent,
            State::Active if session.is_recovering() => SessionState::Recovering,
            State::Active => SessionState::Active,
            State::LogoutSent => SessionState::LogoutSent,
        });
        self.writer.touch(now.instant.as_nanos());
    }
}

/// How often at most a warning about a counter the peer drives up is logged.
const WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// A warning about a counter: due when the counter grew and the last warning is at least
/// [`WARNING_INTERVAL`] old, with how much it grew since.
#[derive(Debug, Default)]
struct CounterWarning {
    logged: u64,
    at: Option<Instant>,
}

impl CounterWarning {
    fn due(&mut self, value: u64, now: Instant) -> Option<u64> {
        if value < self.logged {
            // The counters started over (a new session object): so does the warning.
            self.logged = value;
        }
        if value == self.logged
            || self
                .at
                .is_some_and(|at| now.saturating_since(at) < WARNING_INTERVAL)
        {
            return None;
        }
        self.at = Some(now);
        let grew = value - self.logged;
        self.logged = value;
        Some(grew)
    }
}

/// Takes the application's next record, if any, and acts on it: a message is stamped, journaled
/// and queued by the session; a Logout starts the handshake. Returns whether there was one.
pub(crate) fn take_application_record(
    orders: &mut Orders,
    session: &mut GatewaySession,
    name: &str,
    now: Now,
) -> bool {
    let taken = orders.try_take(|record| match record {
        OutboundRecord::Send { msg_type, body } => {
            if let Err(error) = session.send(now, msg_type, |encoder| {
                encoder.encoded_fields(body);
            }) {
                tracing::warn!(session = %name, %error, "application message refused");
            }
        }
        OutboundRecord::Logout { text } => {
            let text = std::str::from_utf8(text).ok().filter(|t| !t.is_empty());
            session.logout(now, text);
        }
    });
    match taken {
        Ok(taken) => taken.is_some(),
        Err(error) => {
            // The malformed record was skipped; the next one may be fine.
            tracing::warn!(session = %name, %error, "unreadable record from the application");
            true
        }
    }
}

/// Whether a peer takes what we send. A connection whose send queue holds bytes and has written
/// none of them for [`SendProgress::stalled`]'s limit belongs to a peer that stopped reading: it
/// is closed rather than left to fill memory.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SendProgress {
    /// Bytes handed to the transport on this connection.
    queued: u64,
    /// Bytes the transport had written at the last check.
    written: u64,
    /// Since when nothing was written while bytes waited.
    waiting_since: Option<Instant>,
}

impl SendProgress {
    /// `n` more bytes went into the transport's send queue.
    pub(crate) fn queued(&mut self, n: usize) {
        self.queued += n as u64;
    }

    /// Compares with the transport's count of bytes still queued; returns how long bytes have
    /// waited without one of them being written (zero when nothing waits).
    pub(crate) fn waited(&mut self, unsent: usize, now: Instant) -> Duration {
        let written = self.queued.saturating_sub(unsent as u64);
        let progressed = written > self.written;
        self.written = written;
        self.waiting_since = match self.waiting_since {
            _ if unsent == 0 => None,
            Some(since) if !progressed => Some(since),
            _ => Some(now),
        };
        self.waiting_since
            .map_or(Duration::ZERO, |since| now.saturating_since(since))
    }

    /// Whether bytes have waited without progress for a heartbeat interval (at least
    /// [`MIN_SEND_STALL`]; [`NO_HEARTBEAT_SEND_STALL`] for a session without heartbeats); if
    /// so, logs that session `name`'s peer is not reading.
    pub(crate) fn stalled(
        &mut self,
        name: &str,
        unsent: usize,
        heartbeat: Duration,
        now: Instant,
    ) -> bool {
        let waited = self.waited(unsent, now);
        let limit = if heartbeat.is_zero() {
            NO_HEARTBEAT_SEND_STALL
        } else {
            heartbeat.max(MIN_SEND_STALL)
        };
        if waited < limit {
            return false;
        }
        tracing::warn!(
            session = %name,
            unsent,
            waited_secs = waited.as_secs(),
            "peer not reading: nothing we sent taken for a heartbeat interval; disconnecting"
        );
        true
    }
}

/// The shortest a peer may leave our bytes unread before it is disconnected, whatever its
/// heartbeat interval (which is the limit otherwise).
const MIN_SEND_STALL: Duration = Duration::from_secs(1);

/// How long a peer of a session without heartbeats (HeartBtInt 0) may leave our bytes unread.
const NO_HEARTBEAT_SEND_STALL: Duration = Duration::from_secs(30);

/// When an initiator connects next: at once at start, then after delays that double from the
/// backoff's initial delay up to its maximum, and start over after a logon.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reconnect {
    at: Option<Instant>,
    next_delay: Duration,
}

impl Reconnect {
    /// Due at once.
    pub(crate) fn now() -> Reconnect {
        Reconnect {
            at: Some(Instant::from_nanos(0)),
            next_delay: Duration::ZERO,
        }
    }

    pub(crate) fn is_due(&self, now: Now) -> bool {
        self.at.is_some_and(|at| now.instant >= at)
    }

    /// No attempt planned (connecting, connected, or shutting down).
    pub(crate) fn cancel(&mut self) {
        self.at = None;
    }

    /// Plans the next attempt after a failure or a lost connection.
    pub(crate) fn schedule(&mut self, backoff: Backoff, now: Now) {
        let delay = self.next_delay.max(backoff.initial);
        self.at = Some(now.instant.saturating_add(delay));
        self.next_delay = (delay * 2).min(backoff.max);
    }

    /// A logon succeeded: the next loss waits the initial delay again.
    pub(crate) fn logged_on(&mut self) {
        self.next_delay = Duration::ZERO;
    }
}

/// Connections accepted on a listener that have not yet said which session they are: at most
/// [`MAX_PENDING_CONNECTIONS`] at a time, each for at most the first-message timeout.
#[derive(Debug)]
pub(crate) struct PendingConnections {
    pending: Vec<Pending>,
    /// How long an accepted connection may take to send a whole first message.
    timeout: Duration,
}

#[derive(Debug)]
struct Pending {
    conn: ConnId,
    listen: SocketAddr,
    peer: SocketAddr,
    since: Instant,
}

/// The most connections waiting for their first message. Past it, a new connection pushes out
/// the oldest, so that a flood of silent or slow connections cannot lock out a real peer.
pub const MAX_PENDING_CONNECTIONS: usize = 256;

impl PendingConnections {
    /// Pending connections that must send a whole first message within `timeout`.
    pub(crate) fn new(timeout: Duration) -> PendingConnections {
        PendingConnections {
            pending: Vec::new(),
            timeout,
        }
    }

    /// The first-message timeout for `sessions`: the longest logon timeout among them (a
    /// connection's session is not known before its first message), 10 s without sessions.
    pub(crate) fn timeout_for<'s>(
        sessions: impl Iterator<Item = &'s gapless_session::SessionConfig>,
    ) -> Duration {
        sessions
            .map(|config| config.logon_timeout)
            .max()
            .unwrap_or(Duration::from_secs(10))
    }

    /// A connection just accepted on `listen`. At [`MAX_PENDING_CONNECTIONS`], the oldest pending connection
    /// is closed to make room.
    pub(crate) fn add<T: Transport>(
        &mut self,
        transport: &mut T,
        conn: ConnId,
        listen: SocketAddr,
        peer: SocketAddr,
        now: Now,
    ) {
        if self.pending.len() >= MAX_PENDING_CONNECTIONS {
            let oldest = self.pending.remove(0);
            tracing::warn!(
                peer = %oldest.peer,
                reason = "too many connections awaiting a first message",
                "connection refused"
            );
            transport.close(oldest.conn);
        }
        self.pending.push(Pending {
            conn,
            listen,
            peer,
            since: now.instant,
        });
    }

    /// Forgets a connection that closed before it said anything; whether it was pending.
    pub(crate) fn remove(&mut self, conn: ConnId) -> bool {
        let Some(at) = self.pending.iter().position(|p| p.conn == conn) else {
            return false;
        };
        let pending = self.pending.remove(at);
        tracing::info!(peer = %pending.peer, "connection closed before its first message");
        true
    }

    /// Closes every pending connection (shutdown).
    pub(crate) fn close_all<T: Transport>(&mut self, transport: &mut T) {
        for pending in self.pending.drain(..) {
            transport.close(pending.conn);
        }
    }

    /// The next connection whose first message names a session, as `(session, conn, peer)`.
    /// `route` names the session for a first message on a listening address, or says why none.
    /// Connections refused on the way (no session, garbled, too slow) are closed without a
    /// word: the peer learns nothing.
    pub(crate) fn next_routed<T: Transport>(
        &mut self,
        transport: &mut T,
        now: Now,
        route: impl Fn(SocketAddr, &Message<'_>) -> Result<usize, &'static str>,
    ) -> Option<(usize, ConnId, SocketAddr)> {
        let mut at = 0;
        while at < self.pending.len() {
            let pending = &self.pending[at];
            let verdict = match decode(transport.received(pending.conn), &Limits::default()) {
                Decoded::Incomplete
                    if now.instant.saturating_since(pending.since) < self.timeout =>
                {
                    at += 1;
                    continue;
                }
                Decoded::Incomplete => Err("no complete first message in time"),
                Decoded::Garbled(_) => Err("garbled first message"),
                Decoded::Message(first) => route(pending.listen, &first),
            };
            let pending = self.pending.remove(at);
            match verdict {
                Ok(index) => return Some((index, pending.conn, pending.peer)),
                Err(reason) => {
                    log_refusal(Some(pending.peer), None, reason);
                    transport.close(pending.conn);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> Instant {
        Instant::from_nanos(millis * 1_000_000)
    }

    #[test]
    fn test_send_progress_nothing_unsent_never_waits() {
        let mut progress = SendProgress::default();
        progress.queued(100);
        assert_eq!(progress.waited(0, at(0)), Duration::ZERO);
        assert_eq!(progress.waited(0, at(5_000)), Duration::ZERO);
        assert!(!progress.stalled("s", 0, Duration::from_secs(1), at(10_000)));
    }

    #[test]
    fn test_send_progress_unsent_without_progress_stalls_after_heartbeat() {
        let mut progress = SendProgress::default();
        progress.queued(1000);
        assert_eq!(progress.waited(1000, at(0)), Duration::ZERO);
        // More queued, none written: the wait goes on from the first check.
        progress.queued(500);
        assert_eq!(
            progress.waited(1500, at(1_500)),
            Duration::from_millis(1_500)
        );
        assert!(!progress.stalled("s", 1500, Duration::from_secs(2), at(1_900)));
        assert!(progress.stalled("s", 1500, Duration::from_secs(2), at(2_000)));
    }

    #[test]
    fn test_send_progress_unsent_with_progress_starts_over() {
        let mut progress = SendProgress::default();
        progress.queued(1000);
        progress.waited(1000, at(0));
        // 200 bytes went out, even though more were queued since: the peer reads.
        progress.queued(300);
        assert_eq!(progress.waited(1100, at(1_500)), Duration::ZERO);
        assert_eq!(progress.waited(1100, at(2_000)), Duration::from_millis(500));
    }

    #[test]
    fn test_send_progress_short_heartbeat_waits_at_least_the_minimum() {
        let mut progress = SendProgress::default();
        progress.queued(10);
        progress.waited(10, at(0));
        assert!(!progress.stalled("s", 10, Duration::from_millis(10), at(500)));
        assert!(progress.stalled("s", 10, Duration::from_millis(10), at(1_000)));
    }

    #[test]
    fn test_send_progress_no_heartbeats_waits_the_fixed_limit() {
        let mut progress = SendProgress::default();
        progress.queued(10);
        progress.waited(10, at(0));
        assert!(!progress.stalled("s", 10, Duration::ZERO, at(29_000)));
        assert!(progress.stalled("s", 10, Duration::ZERO, at(30_000)));
    }

    #[test]
    fn test_counter_warning_growth_is_due_once_per_interval_with_the_total() {
        let mut warning = CounterWarning::default();
        assert_eq!(warning.due(0, at(0)), None);
        assert_eq!(warning.due(3, at(10)), Some(3));
        assert_eq!(warning.due(50, at(500)), None);
        assert_eq!(warning.due(70, at(900)), None);
        assert_eq!(warning.due(70, at(1_010)), Some(67));
        assert_eq!(warning.due(70, at(5_000)), None);
    }

    #[test]
    fn test_counter_warning_counter_started_over_counts_from_there() {
        let mut warning = CounterWarning::default();
        assert_eq!(warning.due(10, at(0)), Some(10));
        assert_eq!(warning.due(2, at(2_000)), None);
        assert_eq!(warning.due(5, at(4_000)), Some(3));
    }
}
