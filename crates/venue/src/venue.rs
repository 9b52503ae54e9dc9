//! The venue's loop: one FIX session, one connection at a time, on `SocketTransport`.
//!
//! Each pass reads the clock once, polls the transport, feeds received bytes to the session,
//! answers orders, streams the next ExecutionReports if the connection has taken the previous
//! ones, and hands the session's output to the socket, through the fault stage when faults are
//! configured. The session journals every message before the venue sees its bytes, so whatever
//! the fault stage destroys, the peer can ask for again.

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::net::SocketAddr;

use gapless_codec::{Decoded, Message, decode, tag};
use gapless_dict::SessionDictionary;
use gapless_session::{
    Disposition, Event, Instant, Now, Role, SendError, Session, SessionConfig, State,
};
use gapless_sim::Wire;
use gapless_store::{AnyStore, Durability, FileStore, MemoryStore, StoreConfig};
use gapless_transport::{ConnId, Event as NetEvent, SocketTransport, Transport, TransportConfig};

use gapless_runtime::Clock;

use crate::config::{Backoff, OrderReply, VenueConfig};
use crate::error::{BindError, RunError, VenueError};
use crate::exec::{Order, OrderCheck, ReportFormat};
use crate::faults::FaultStage;
use crate::report::{EndReason, VenueProgress, VenueReport};

/// Stream messages queued per pass: enough to fill a socket buffer quickly, few enough that
/// the session's output never holds more than this.
const STREAM_BATCH: u64 = 64;

/// While the session holds more unsent bytes than this, the venue stops reading: a peer that
/// sends faster than it reads cannot make the venue queue without bound.
const READ_PAUSE_BACKLOG: usize = 1 << 20;

/// How long a closing connection may take to deliver its last bytes (a Logout).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A paced stream that fell this far behind (a reconnect, a slow peer) does not burst to catch up.
const PACING_SLACK: Duration = Duration::from_millis(100);

/// TestReqID of the TestRequest that asks the peer to confirm the whole stream, followed by
/// the TestRequest's own MsgSeqNum: the Heartbeat answering it says that the peer processed
/// everything up to that number.
const STREAM_DONE_ID: &[u8] = b"VENUE-STREAM-DONE-";

/// BusinessRejectReason (380) 3: unsupported message type.
const UNSUPPORTED_MESSAGE_TYPE: u32 = 3;

/// Runs a venue until it ends (see [`VenueConfig`]); `progress` is called every
/// `progress_interval`. [`Venue::bind`] then [`Venue::run`] does the same in two steps, for a
/// caller that needs the listening address first.
pub fn run(
    config: &VenueConfig,
    stop: &AtomicBool,
    progress: impl FnMut(&VenueProgress),
) -> Result<VenueReport, VenueError> {
    let venue = Venue::bind(config).map_err(VenueError::Bind)?;
    venue.run(stop, progress).map_err(VenueError::Run)
}

/// A venue ready to run: its store is open and, as acceptor, it is listening.
#[derive(Debug)]
pub struct Venue {
    config: VenueConfig,
    transport: SocketTransport,
    listening: Option<SocketAddr>,
    session: Session<AnyStore>,
    app: App,
    out: Outbound,
    link: Link,
    clock: Clock,
}

/// The connection, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// None. An initiator dials again at `retry_at`.
    Down { retry_at: Option<Instant> },
    /// An initiator's connect is in progress.
    Dialing(ConnId),
    /// Connected; `closing_since` once the session has ended and its last bytes are going out.
    Up {
        conn: ConnId,
        closing_since: Option<Instant>,
    },
}

impl Venue {
    /// Checks `config`, opens the store and, as acceptor, starts listening.
    pub fn bind(config: &VenueConfig) -> Result<Venue, BindError> {
        config.validate().map_err(BindError::Config)?;
        let store = match &config.store_dir {
            Some(dir) => AnyStore::File(
                FileStore::open(dir, StoreConfig::new(Durability::None))
                    .map_err(BindError::Store)?,
            ),
            None => AnyStore::Memory(MemoryStore::new()),
        };
        let mut session_config = SessionConfig::new(
            config.version,
            config.role,
            config.sender_comp_id.as_str(),
            config.target_comp_id.as_str(),
        );
        session_config.heartbeat_interval = config.heartbeat_interval;
        let mut transport = SocketTransport::new(TransportConfig::default());
        let listening = match config.role {
            Role::Acceptor => {
                let (_, bound) =
                    transport
                        .listen(config.addr)
                        .map_err(|error| BindError::Listen {
                            addr: config.addr,
                            error,
                        })?;
                Some(bound)
            }
            Role::Initiator => None,
        };
        let stage = (!config.faults.is_none())
            .then(|| FaultStage::new(&config.faults, SessionDictionary::new(config.version)));
        let mut clock = Clock::new();
        Ok(Venue {
            app: App::new(config, clock.now().instant),
            config: config.clone(),
            transport,
            listening,
            session: Session::new(session_config, store),
            out: Outbound {
                stage,
                pending: Vec::new(),
                sent: 0,
                release_delayed: false,
            },
            // An initiator dials at once.
            link: Link::Down {
                retry_at: (config.role == Role::Initiator).then(|| clock.now().instant),
            },
            clock,
        })
    }

    /// The address an acceptor listens on (with the port the system chose for port 0); `None`
    /// for an initiator.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listening
    }

    /// Runs until the stream is acknowledged, the peer logs out, `stop` is set or the duration
    /// elapses (see [`EndReason`]), logging out cleanly when logged on.
    pub fn run(
        mut self,
        stop: &AtomicBool,
        mut progress: impl FnMut(&VenueProgress),
    ) -> Result<VenueReport, RunError> {
        let started = self.clock.now().instant;
        let deadline = self.config.duration.map(|d| started.saturating_add(d));
        // The first report at once: it tells a command-line user the port it listens on.
        let mut next_progress = started;
        let mut end = None;
        loop {
            let now = self.clock.now();
            let mut work = self.transport.poll();
            work += self.handle_network_events(now);
            if let Link::Up { conn, .. } = self.link {
                work += self.read(now, conn);
            }
            if self
                .session
                .poll_timeout()
                .is_some_and(|at| at <= now.instant)
            {
                self.session.handle_timeout(now);
                self.drain_events(now);
                work += 1;
            }
            if let Some(error) = self.app.fatal.take() {
                return Err(error);
            }
            if end.is_none() {
                end = self.end_reason(now, stop, deadline);
                if end.is_some() && self.session.state() == State::Active {
                    self.session.logout(now, Some("venue closing"));
                    self.drain_events(now);
                }
            }
            if end.is_none() {
                work += self.stream(now)?;
                work += self.request_stream_ack(now)?;
            }
            work += self.write(now);
            self.close_when_done(now);
            if let Some(reason) = end {
                match self.link {
                    Link::Down { .. } | Link::Dialing(_) => {
                        return Ok(self.finish(reason, now.instant.saturating_since(started)));
                    }
                    // Not logged on yet: nothing to log out from. (A session that has ended is
                    // closed by `close_when_done` once its last bytes are out.)
                    Link::Up { .. }
                        if matches!(
                            self.session.state(),
                            State::AwaitingLogon | State::LogonSent
                        ) =>
                    {
                        self.drop_link(now);
                        continue;
                    }
                    Link::Up { .. } => {}
                }
            } else {
                work += self.dial_if_due(now);
            }
            if now.instant >= next_progress {
                progress(&self.progress(now.instant.saturating_since(started)));
                next_progress = now.instant.saturating_add(self.config.progress_interval);
            }
            self.config.idle.idle(work > 0);
        }
    }

    fn end_reason(
        &mut self,
        now: Now,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Option<EndReason> {
        if stop.load(Ordering::Relaxed) {
            Some(EndReason::Stopped)
        } else if deadline.is_some_and(|d| now.instant >= d) {
            Some(EndReason::DurationElapsed)
        } else if self.app.acknowledged_through > self.app.last_application_seq
            && self.app.streamed == self.config.messages
            && self.config.messages > 0
            // Orders the peer sent before its confirmation may still be missing here.
            && !self.session.is_recovering()
        {
            Some(EndReason::StreamAcknowledged)
        } else if self.app.peer_logged_out && self.config.end_on_peer_logout {
            Some(EndReason::PeerLoggedOut)
        } else {
            None
        }
    }

    fn handle_network_events(&mut self, now: Now) -> usize {
        let mut work = 0;
        while let Some(event) = self.transport.next_event() {
            work += 1;
            match event {
                // One session, one connection: a second one is refused until the first ends.
                NetEvent::Accepted { conn, peer, .. } if matches!(self.link, Link::Down { .. }) => {
                    self.link_up(now, conn, Some(peer));
                }
                NetEvent::Accepted { conn, .. } => self.transport.close(conn),
                NetEvent::Connected { conn } if self.link == Link::Dialing(conn) => {
                    self.link_up(now, conn, None);
                }
                NetEvent::Connected { conn } => self.transport.close(conn),
                NetEvent::Closed { conn, .. } => match self.link {
                    Link::Up { conn: up, .. } if up == conn => {
                        // What arrived before the close still counts (a Logout, say).
                        self.read(now, conn);
                        self.drop_link(now);
                    }
                    Link::Dialing(dialing) if dialing == conn => self.drop_link(now),
                    _ => self.transport.close(conn),
                },
            }
        }
        work
    }

    /// A connection is established: the session starts on it (an initiator's sends Logon).
    fn link_up(&mut self, now: Now, conn: ConnId, peer: Option<SocketAddr>) {
        self.link = Link::Up {
            conn,
            closing_since: None,
        };
        self.out.reset();
        self.app.new_connection();
        match peer {
            Some(peer) => self.session.handle_connect_from(now, peer),
            None => self.session.handle_connect(now),
        }
        self.drain_events(now);
    }

    /// Feeds the received bytes to the session.
    fn read(&mut self, now: Now, conn: ConnId) -> usize {
        let Venue {
            transport,
            session,
            app,
            ..
        } = self;
        let bytes = transport.received(conn);
        let limits = *session.limits();
        let mut used = 0;
        while session.state() != State::Disconnected {
            match decode(&bytes[used..], &limits) {
                Decoded::Message(msg) => {
                    used += msg.len();
                    app.inspect(&msg, session.state());
                    if session.handle_message(now, &msg) == Disposition::Deliver {
                        app.on_application(session, now, &msg);
                    }
                }
                Decoded::Garbled(garbled) => {
                    let skipped = &bytes[used..used + garbled.skip];
                    session.handle_frame_error(now, skipped, &garbled);
                    used += garbled.skip;
                }
                Decoded::Incomplete => break,
            }
            app.drain_events(session, now);
        }
        transport.consume(conn, used);
        used
    }

    fn drain_events(&mut self, now: Now) {
        self.app.drain_events(&mut self.session, now);
    }

    /// Queues the next stream messages, if logged on and the connection took the last ones.
    fn stream(&mut self, now: Now) -> Result<usize, RunError> {
        let open = matches!(
            self.link,
            Link::Up {
                closing_since: None,
                ..
            }
        );
        if !open
            || self.session.state() != State::Active
            || self.app.streamed >= self.config.messages
            || self.out.has_pending()
            || self.session.poll_transmit().is_some()
        {
            return Ok(0);
        }
        let room = (self.config.messages - self.app.streamed).min(STREAM_BATCH);
        let count = self.app.pacer.take(now.instant, room);
        for _ in 0..count {
            let index = self.app.streamed + 1;
            let format = self.app.format;
            let seq = self
                .session
                .send(now, b"8", |body| format.stream_report(body, index, now.utc))
                .map_err(RunError::Send)?;
            self.app.streamed = index;
            self.app.last_application_seq = seq;
            if self.config.faults.disconnect_after == Some(index)
                && let Some(stage) = self.out.stage.as_mut()
            {
                stage.cut_after(seq);
            }
        }
        // Nothing but heartbeats would follow a message held back from the last batch.
        self.out.release_delayed = self.app.streamed == self.config.messages;
        Ok(count as usize)
    }

    /// Once the stream is out, asks the peer to confirm it: again when the answer came but
    /// order replies went out since, and every heartbeat interval in case the request was
    /// lost with a cut connection.
    fn request_stream_ack(&mut self, now: Now) -> Result<usize, RunError> {
        if !self.config.logout_after_stream
            || self.config.messages == 0
            || self.app.streamed < self.config.messages
            || self.session.state() != State::Active
        {
            return Ok(0);
        }
        let retry = self
            .session
            .heartbeat_interval()
            .max(Duration::from_secs(1));
        let due = match self.app.ack_request {
            None => true,
            Some((seq, at)) => {
                self.app.acknowledged_through >= seq || now.instant.saturating_since(at) >= retry
            }
        };
        if !due {
            return Ok(0);
        }
        let mut id = STREAM_DONE_ID.to_vec();
        id.extend_from_slice(self.session.next_sender_seq().to_string().as_bytes());
        let seq = self
            .session
            .send(now, b"1", |body| {
                body.field(tag::TEST_REQ_ID, &id);
            })
            .map_err(RunError::Send)?;
        self.app.ack_request = Some((seq, now.instant));
        Ok(1)
    }

    /// Moves the session's output towards the socket; handles a cut from the fault stage.
    fn write(&mut self, now: Now) -> usize {
        let Link::Up { conn, .. } = self.link else {
            return 0;
        };
        let (work, cut) = self.out.write(&mut self.transport, conn, &mut self.session);
        if cut {
            self.drop_link(now);
            return work + 1;
        }
        let backlog = self.session.poll_transmit().map_or(0, <[u8]>::len);
        self.transport
            .set_reading(conn, backlog <= READ_PAUSE_BACKLOG);
        work
    }

    /// After the session ended, closes the connection once its last bytes are out.
    fn close_when_done(&mut self, now: Now) {
        let Link::Up {
            conn,
            closing_since,
        } = self.link
        else {
            return;
        };
        if !self.app.session_ended {
            return;
        }
        let since = closing_since.unwrap_or(now.instant);
        self.link = Link::Up {
            conn,
            closing_since: Some(since),
        };
        let flushed = !self.out.has_pending()
            && self.session.poll_transmit().is_none()
            && self.transport.unsent(conn) == 0;
        if flushed || now.instant.saturating_since(since) >= CLOSE_GRACE {
            self.drop_link(now);
        }
    }

    /// Ends the connection (or the attempt), and schedules the next attempt of an initiator.
    fn drop_link(&mut self, now: Now) {
        match self.link {
            Link::Up { conn, .. } | Link::Dialing(conn) => self.transport.close(conn),
            Link::Down { .. } => return,
        }
        self.session.handle_disconnect(now);
        self.out.reset();
        self.link = Link::Down {
            retry_at: (self.config.role == Role::Initiator).then(|| self.app.retry_at(now)),
        };
    }

    fn dial_if_due(&mut self, now: Now) -> usize {
        let Link::Down { retry_at: Some(at) } = self.link else {
            return 0;
        };
        if self.config.role != Role::Initiator || now.instant < at {
            return 0;
        }
        self.link = match self.transport.connect(self.config.addr) {
            Ok(conn) => Link::Dialing(conn),
            Err(_) => Link::Down {
                retry_at: Some(self.app.retry_at(now)),
            },
        };
        1
    }

    fn progress(&self, elapsed: Duration) -> VenueProgress {
        let counters = self.session.counters();
        VenueProgress {
            elapsed,
            listening: self.listening,
            logged_on: self.session.state() == State::Active,
            streamed: self.app.streamed,
            orders_received: self.app.orders_received,
            resend_requests_answered: counters.resend_requests_answered,
            messages_resent: counters.messages_resent,
            faults: self.out.stage.as_ref().map_or(0, |s| s.counts().total()),
            reconnects: self.app.logons.saturating_sub(1),
            next_sender_seq: self.session.next_sender_seq(),
            next_target_seq: self.session.next_target_seq(),
        }
    }

    fn finish(mut self, end: EndReason, duration: Duration) -> VenueReport {
        // A FileStore journals through the page cache; make the run's journal durable.
        let _ = self.session.flush_store();
        let counters = self.session.counters();
        VenueReport {
            end,
            streamed: self.app.streamed,
            faults: self
                .out
                .stage
                .as_ref()
                .map(FaultStage::counts)
                .unwrap_or_default(),
            resend_requests_answered: counters.resend_requests_answered,
            messages_resent: counters.messages_resent,
            gap_fills_sent: counters.gap_fills_sent,
            orders_received: self.app.orders_received,
            orders_acknowledged: self.app.orders_acknowledged,
            order_violations: self.app.check.violations(),
            other_messages: self.app.other_messages,
            logons: self.app.logons,
            reconnects: self.app.logons.saturating_sub(1),
            next_sender_seq: self.session.next_sender_seq(),
            next_target_seq: self.session.next_target_seq(),
            duration,
        }
    }
}

/// What the venue does as a FIX counterparty, apart from moving bytes.
#[derive(Debug)]
struct App {
    format: ReportFormat,
    order_reply: OrderReply,
    check: OrderCheck,
    pacer: Pacer,
    streamed: u64,
    orders_received: u64,
    orders_acknowledged: u64,
    other_messages: u64,
    logons: u64,
    /// The MsgSeqNum of the TestRequest asking to confirm the stream, and when it went out on
    /// this connection.
    ack_request: Option<(u64, Instant)>,
    /// The peer has processed everything we sent up to this MsgSeqNum.
    acknowledged_through: u64,
    /// The MsgSeqNum of the last application message sent (a report or a reject).
    last_application_seq: u64,
    peer_logged_out: bool,
    /// The session reported [`Event::Disconnect`] on this connection.
    session_ended: bool,
    reconnect: Backoff,
    /// The delay before the next connection attempt.
    backoff: Duration,
    fatal: Option<RunError>,
    /// A held message released by the session, copied so that it can be answered.
    released: Vec<u8>,
}

impl App {
    fn new(config: &VenueConfig, now: Instant) -> Self {
        App {
            format: ReportFormat::new(config.version),
            order_reply: config.order_reply,
            check: OrderCheck::default(),
            pacer: Pacer::new(config.rate, now),
            streamed: 0,
            orders_received: 0,
            orders_acknowledged: 0,
            other_messages: 0,
            logons: 0,
            ack_request: None,
            acknowledged_through: 0,
            last_application_seq: 0,
            peer_logged_out: false,
            session_ended: false,
            reconnect: config.reconnect,
            backoff: config.reconnect.initial,
            fatal: None,
            released: Vec::new(),
        }
    }

    fn new_connection(&mut self) {
        self.ack_request = None;
        self.session_ended = false;
    }

    /// When to make the next connection attempt; each one doubles the delay of the next.
    fn retry_at(&mut self, now: Now) -> Instant {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(self.reconnect.max);
        now.instant.saturating_add(delay)
    }

    /// Looks at an inbound message before the session does, for what the session consumes
    /// without telling: the Heartbeat that confirms the stream, and the peer's Logout.
    fn inspect(&mut self, msg: &Message<'_>, state: State) {
        match (msg.msg_type(), state) {
            (b"0", State::Active | State::LogoutSent) => {
                let through = msg
                    .get(tag::TEST_REQ_ID)
                    .and_then(|id| id.strip_prefix(STREAM_DONE_ID))
                    .and_then(|seq| gapless_codec::value::parse_u64(seq).ok());
                if let Some(through) = through {
                    self.acknowledged_through = self.acknowledged_through.max(through);
                }
            }
            (b"5", State::Active) => self.peer_logged_out = true,
            _ => {}
        }
    }

    fn drain_events(&mut self, session: &mut Session<AnyStore>, now: Now) {
        loop {
            let released = match session.poll_event() {
                None => return,
                Some(Event::Application { message, .. }) => {
                    self.released.clear();
                    self.released.extend_from_slice(message);
                    true
                }
                Some(Event::LoggedOn { .. }) => {
                    self.logons += 1;
                    self.backoff = self.reconnect.initial;
                    false
                }
                Some(Event::Disconnect(_)) => {
                    self.session_ended = true;
                    false
                }
                Some(_) => false,
            };
            if released {
                let released = core::mem::take(&mut self.released);
                if let Decoded::Message(msg) = decode(&released, session.limits()) {
                    self.on_application(session, now, &msg);
                }
                self.released = released;
            }
        }
    }

    /// An application message in sequence: answer an order, refuse anything else.
    fn on_application(&mut self, session: &mut Session<AnyStore>, now: Now, msg: &Message<'_>) {
        let sent = if msg.msg_type() == b"D" {
            self.orders_received += 1;
            match Order::read(msg) {
                Ok(order) => {
                    self.check.observe(order.cl_ord_id);
                    let (format, k, reply) = (self.format, self.orders_received, self.order_reply);
                    let sent = session.send(now, b"8", |body| {
                        format.order_reply(body, &order, k, reply, now.utc);
                    });
                    self.orders_acknowledged += u64::from(sent.is_ok());
                    sent
                }
                Err(_) => {
                    self.check.observe(b"");
                    session.send_business_reject(now, msg, 0, "order cannot be read")
                }
            }
        } else {
            self.other_messages += 1;
            session.send_business_reject(
                now,
                msg,
                UNSUPPORTED_MESSAGE_TYPE,
                "the venue accepts NewOrderSingle only",
            )
        };
        match sent {
            Ok(seq) => self.last_application_seq = seq,
            // Not logged on any more (a Logout crossed the order) is no failure of the venue.
            Err(SendError::NotLoggedOn) => {}
            Err(e) => {
                self.fatal.get_or_insert(RunError::Send(e));
            }
        }
    }
}

/// The session's output on its way to the socket.
#[derive(Debug)]
struct Outbound {
    stage: Option<FaultStage>,
    /// Bytes the fault stage passed that the transport has not taken yet: `pending[sent..]`.
    pending: Vec<u8>,
    sent: usize,
    /// Send messages held back for reordering as soon as the ones they wait for are pushed.
    release_delayed: bool,
}

impl Outbound {
    fn has_pending(&self) -> bool {
        self.sent < self.pending.len()
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.sent = 0;
        if let Some(stage) = self.stage.as_mut() {
            stage.reset();
        }
    }

    /// Writes as much as the transport takes. Returns the bytes moved and whether the fault
    /// stage cut the connection.
    fn write(
        &mut self,
        transport: &mut SocketTransport,
        conn: ConnId,
        session: &mut Session<AnyStore>,
    ) -> (usize, bool) {
        let mut work = 0;
        loop {
            if self.has_pending() {
                // Not connected any more: the Closed event follows.
                let n = transport
                    .send(conn, &self.pending[self.sent..])
                    .unwrap_or(0);
                self.sent += n;
                work += n;
                if self.has_pending() {
                    return (work, false);
                }
            }
            let Some(stage) = self.stage.as_mut() else {
                // No faults: straight from the session's buffer to the socket's.
                let Some(bytes) = session.poll_transmit() else {
                    return (work, false);
                };
                let len = bytes.len();
                let n = transport.send(conn, bytes).unwrap_or(0);
                session.transmitted(n);
                work += n;
                if n < len {
                    return (work, false);
                }
                continue;
            };
            match stage.pop() {
                Some(Wire::Data(bytes)) => {
                    self.pending = bytes;
                    self.sent = 0;
                }
                Some(Wire::Cut) => return (work, true),
                None => {
                    let Some(bytes) = session.poll_transmit() else {
                        return (work, false);
                    };
                    let len = bytes.len();
                    stage.push(bytes);
                    session.transmitted(len);
                    if self.release_delayed {
                        stage.flush_delayed();
                    }
                }
            }
        }
    }
}

/// Paces the stream at `rate` messages per second.
#[derive(Debug, Clone, Copy)]
struct Pacer {
    /// Nanoseconds between messages; 0 for no pacing.
    interval: u64,
    next: Instant,
}

impl Pacer {
    fn new(rate: u64, now: Instant) -> Self {
        Pacer {
            // Rate 0 means unpaced; a rate above 10^9 is one message per nanosecond.
            interval: 1_000_000_000u64.checked_div(rate).map_or(0, |i| i.max(1)),
            next: now,
        }
    }

    /// How many of `wanted` messages may go now.
    fn take(&mut self, now: Instant, wanted: u64) -> u64 {
        if self.interval == 0 {
            return wanted;
        }
        if now.saturating_since(self.next) > PACING_SLACK {
            self.next = now;
        }
        let mut count = 0;
        while count < wanted && self.next <= now {
            self.next = Instant::from_nanos(self.next.as_nanos() + self.interval);
            count += 1;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_backoff_doubles_up_to_max() {
        let config = VenueConfig {
            reconnect: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(300),
            },
            ..VenueConfig::default()
        };
        let mut app = App::new(&config, Instant::from_nanos(0));
        let now = Now::new(
            Instant::from_nanos(0),
            gapless_codec::value::UtcTimestamp::from_unix_nanos(0),
        );
        let delays: Vec<u64> = (0..4)
            .map(|_| app.retry_at(now).as_nanos() / 1_000_000)
            .collect();
        assert_eq!(delays, [100, 200, 300, 300]);
    }

    #[test]
    fn pacer_unpaced_gives_everything() {
        let mut pacer = Pacer::new(0, Instant::from_nanos(0));
        assert_eq!(pacer.take(Instant::from_nanos(0), 64), 64);
    }

    #[test]
    fn pacer_at_1000_per_second_gives_one_per_millisecond() {
        let mut pacer = Pacer::new(1_000, Instant::from_nanos(0));
        assert_eq!(pacer.take(Instant::from_nanos(0), 64), 1);
        assert_eq!(pacer.take(Instant::from_nanos(500_000), 64), 0);
        assert_eq!(pacer.take(Instant::from_nanos(10_000_000), 64), 10);
    }

    #[test]
    fn pacer_after_a_stall_does_not_burst() {
        let mut pacer = Pacer::new(1_000, Instant::from_nanos(0));
        let later = Instant::from_nanos(5_000_000_000);
        assert_eq!(pacer.take(later, 64), 1);
    }
}
