//! The inline gateway: one thread polls the transport, frames and checks every inbound message,
//! runs the sessions and moves messages between them and the application channels.
//!
//! Per pass ([`Gateway::poll`]):
//!
//! 1. transport I/O and its events (accepted, connected, closed);
//! 2. per connected session, inbound: frame each message in place, classify it with the sequence
//!    checker, hand it to the session, and write what the session delivers straight from the
//!    receive buffer into the application ring;
//! 3. per session, outbound: take the application's orders from its ring while the session is
//!    logged on and the socket takes bytes, and write out what the session queued;
//! 4. timers, reconnections, counters.
//!
//! Back-pressure: a message is only framed into the session when the application ring has room
//! for it. If the ring is full the connection stops reading (the kernel's buffers fill and TCP
//! closes the peer's window) until the application catches up. Released held messages that do
//! not fit wait in a backlog, bounded by the session's hold limits, before anything else.

use std::net::SocketAddr;

use gapless_client::Orders;
use gapless_codec::{Decoded, Message, decode};
use gapless_seqcheck::Command;
use gapless_session::{Disposition, Now, State};
use gapless_transport::{ConnId, Event as NetEvent, ListenerId, Transport};

use crate::checker::{self, SequenceChecker};
use crate::clock::Clock;
use crate::config::{CheckerPlan, Endpoint};
use crate::log::{Direction, LogWriter};
use crate::outlet::Outlet;
use crate::session_io::{
    GatewaySession, Notice, Output, PendingConnections, Reconnect, SendProgress, Stats,
    drain_session, log_sequence_reset, log_tls_failure, route_first_message,
    take_application_record,
};

/// Orders are taken from the application only while less than this is waiting in the socket's
/// send queue, so a slow peer pushes back on the application instead of filling memory.
pub(crate) const MAX_UNSENT_BEFORE_TAKING: usize = 256 * 1024;

/// One configured session and everything the gateway keeps for it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: String,
    pub(crate) session: GatewaySession,
    endpoint: Endpoint,
    conn: Option<ConnId>,
    /// Bytes consumed from this connection's stream so far (the checker's stream offset).
    stream_offset: u64,
    outlet: Outlet,
    orders: Orders,
    stats: Stats,
    /// Whether the transport is reading this connection (false while the ring is full).
    reading: bool,
    /// An initiator's next connection attempt.
    reconnect: Reconnect,
    /// The session asked to disconnect: close once its last bytes are out.
    closing: bool,
    /// Whether the peer takes what we send.
    sending: SendProgress,
}

/// A listening socket and the configured address it serves.
#[derive(Debug)]
struct Listener {
    id: ListenerId,
    configured: SocketAddr,
    bound: SocketAddr,
}

/// Why the gateway could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A session's store could not be opened.
    Store {
        session: String,
        error: gapless_store::OpenError,
    },
    /// A session's application channel could not be created or opened.
    Channel {
        session: String,
        error: gapless_client::CreateError,
    },
    /// A listening address could not be bound.
    Listen {
        address: SocketAddr,
        error: gapless_transport::SetupError,
    },
    /// The message log could not be started.
    Log(std::io::Error),
    /// Two sessions share a name, or more sessions than the checker has registers for.
    Invalid(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Store { session, error } => {
                write!(f, "session {session}: cannot open the store: {error}")
            }
            StartError::Channel { session, error } => {
                write!(
                    f,
                    "session {session}: cannot open the application channel: {error}"
                )
            }
            StartError::Listen { address, error } => {
                write!(f, "cannot listen on {address}: {error}")
            }
            StartError::Log(error) => write!(f, "cannot start the message log: {error}"),
            StartError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StartError {}

/// The inline gateway over transport `T`. See the module documentation.
#[derive(Debug)]
pub struct Gateway<T: Transport> {
    transport: T,
    checker: Box<dyn SequenceChecker>,
    pub(crate) slots: Vec<Slot>,
    pending: PendingConnections,
    listeners: Vec<Listener>,
    clock: Clock,
    log: Option<LogWriter>,
    shutting_down: bool,
}

impl<T: Transport> Gateway<T> {
    /// A gateway running `sessions` (opened with [`crate::open_session`]) over `transport`,
    /// listening where acceptor sessions say and connecting initiators at once, with the
    /// software sequence checker.
    pub fn new(
        transport: T,
        sessions: Vec<crate::OpenedSession>,
        log: Option<LogWriter>,
    ) -> Result<Gateway<T>, StartError> {
        Gateway::with_checker(transport, sessions, log, &CheckerPlan::Software)
    }

    /// [`Gateway::new`] with the sequence checker `checker` names.
    pub fn with_checker(
        mut transport: T,
        sessions: Vec<crate::OpenedSession>,
        log: Option<LogWriter>,
        checker: &CheckerPlan,
    ) -> Result<Gateway<T>, StartError> {
        let limits: Vec<_> = sessions
            .iter()
            .map(|opened| (opened.name.as_str(), *opened.session.limits()))
            .collect();
        let checker = checker::build(checker, &limits)?;
        let first_message_timeout =
            PendingConnections::timeout_for(sessions.iter().map(|o| o.session.config()));
        let mut listeners: Vec<Listener> = Vec::new();
        let mut slots = Vec::with_capacity(sessions.len());
        for opened in sessions {
            if slots.iter().any(|slot: &Slot| slot.name == opened.name) {
                return Err(StartError::Invalid(format!(
                    "two sessions are named {}",
                    opened.name
                )));
            }
            if let Endpoint::Accept { listen, .. } = opened.endpoint
                && !listeners.iter().any(|l| l.configured == listen)
            {
                let (id, bound) = transport
                    .listen(listen)
                    .map_err(|error| StartError::Listen {
                        address: listen,
                        error,
                    })?;
                listeners.push(Listener {
                    id,
                    configured: listen,
                    bound,
                });
            }
            let stats = Stats::new(opened.channel.stats(), &opened.name);
            let (delivery, orders) = opened.channel.split();
            slots.push(Slot {
                name: opened.name,
                session: opened.session,
                endpoint: opened.endpoint,
                conn: None,
                stream_offset: 0,
                stats,
                outlet: Outlet::new(delivery),
                orders,
                reading: true,
                reconnect: Reconnect::now(),
                closing: false,
                sending: SendProgress::default(),
            });
        }
        Ok(Gateway {
            transport,
            checker,
            slots,
            pending: PendingConnections::new(first_message_timeout),
            listeners,
            clock: Clock::new(),
            log,
            shutting_down: false,
        })
    }

    /// The address a session's listener is bound to (useful with port 0).
    pub fn local_addr(&self, session: &str) -> Option<SocketAddr> {
        let slot = self.slots.iter().find(|slot| slot.name == session)?;
        let Endpoint::Accept { listen, .. } = slot.endpoint else {
            return None;
        };
        self.listeners
            .iter()
            .find(|l| l.configured == listen)
            .map(|l| l.bound)
    }

    /// A session's state, by name.
    pub fn session_state(&self, session: &str) -> Option<State> {
        self.slots
            .iter()
            .find(|slot| slot.name == session)
            .map(|slot| slot.session.state())
    }

    /// The sessions, for reading their state and counters.
    pub fn sessions(&self) -> impl Iterator<Item = (&str, &GatewaySession)> {
        self.slots
            .iter()
            .map(|slot| (slot.name.as_str(), &slot.session))
    }

    /// One pass over everything; returns whether it did any work.
    pub fn poll(&mut self) -> bool {
        let now = self.clock.now();
        let mut worked = self.transport.poll() > 0;
        while let Some(event) = self.transport.next_event() {
            worked = true;
            self.on_transport_event(now, event);
        }
        worked |= self.poll_pending(now);
        for index in 0..self.slots.len() {
            worked |= self.poll_slot(index, now);
        }
        worked
    }

    /// Starts a clean shutdown: every logged-on session sends its Logout, every other
    /// connection closes, and no new connection is accepted or made.
    pub fn begin_shutdown(&mut self) {
        let now = self.clock.now();
        self.shutting_down = true;
        self.pending.close_all(&mut self.transport);
        for slot in &mut self.slots {
            slot.reconnect.cancel();
            if slot.session.state() == State::Active {
                slot.session.logout(now, Some("gateway shutting down"));
            } else if slot.conn.is_some() {
                slot.session.handle_disconnect(now);
                slot.closing = true;
            }
        }
    }

    /// After [`Gateway::begin_shutdown`]: whether every connection is closed.
    pub fn is_shut_down(&self) -> bool {
        self.shutting_down && self.slots.iter().all(|slot| slot.conn.is_none())
    }

    /// Ends the run: closes what is still open and makes every store durable. Returns the
    /// sessions whose store could not be flushed.
    pub fn finish(mut self) -> Vec<(String, gapless_store::FlushError)> {
        let now = self.clock.now();
        let mut failures = Vec::new();
        for slot in &mut self.slots {
            if let Some(conn) = slot.conn.take() {
                slot.session.handle_disconnect(now);
                self.transport.close(conn);
            }
            slot.stats.publish(&slot.session, false, now);
            if let Err(error) = slot.session.flush_store() {
                failures.push((slot.name.clone(), error));
            }
        }
        failures
    }

    fn on_transport_event(&mut self, now: Now, event: NetEvent) {
        match event {
            NetEvent::Accepted {
                listener,
                conn,
                peer,
            } => {
                let listen = self.listeners.iter().find(|l| l.id == listener);
                match listen {
                    Some(listen) if !self.shutting_down => {
                        let transport = &mut self.transport;
                        self.pending
                            .add(transport, conn, listen.configured, peer, now)
                    }
                    _ => self.transport.close(conn),
                }
            }
            NetEvent::Connected { conn } => {
                if let Some(index) = self.slots.iter().position(|s| s.conn == Some(conn)) {
                    let slot = &mut self.slots[index];
                    tracing::info!(session = %slot.name, "connected");
                    slot.stream_offset = 0;
                    self.checker.command(&Command::reset(index as u16));
                    slot.session.handle_connect(now);
                }
            }
            NetEvent::Closed { conn, reason } => {
                let session = self.slots.iter().find(|s| s.conn == Some(conn));
                log_tls_failure(reason, session.map(|s| s.name.as_str()));
                if self.pending.remove(conn) {
                    self.transport.close(conn);
                    return;
                }
                let Some(index) = self.slots.iter().position(|s| s.conn == Some(conn)) else {
                    self.transport.close(conn);
                    return;
                };
                // What arrived before the close is still to be read: the peer's Logout, say.
                let slot = &mut self.slots[index];
                read_inbound(
                    &mut self.transport,
                    self.checker.as_mut(),
                    &mut self.log,
                    index as u16,
                    slot,
                    conn,
                    now,
                );
                if slot.session.state() != State::Disconnected {
                    tracing::warn!(session = %slot.name, ?reason, "connection lost");
                    slot.session.handle_disconnect(now);
                    let seq = slot.session.next_target_seq().saturating_sub(1);
                    slot.outlet.event(seq, Notice::ConnectionLost.event());
                }
                self.release_connection(index, now);
            }
        }
    }

    /// Routes accepted connections to their session by the CompIDs of their first message.
    fn poll_pending(&mut self, now: Now) -> bool {
        let mut worked = false;
        loop {
            let slots = &self.slots;
            let route = |listen, first: &Message<'_>| route(slots, listen, first);
            let Some((index, conn, peer)) =
                self.pending.next_routed(&mut self.transport, now, route)
            else {
                return worked;
            };
            worked = true;
            let slot = &mut self.slots[index];
            tracing::info!(session = %slot.name, %peer, "accepted");
            slot.conn = Some(conn);
            slot.stream_offset = 0;
            slot.reading = true;
            self.checker.command(&Command::reset(index as u16));
            slot.session.handle_connect_from(now, peer);
        }
    }

    fn poll_slot(&mut self, index: usize, now: Now) -> bool {
        let session_index = index as u16;
        let slot = &mut self.slots[index];
        let mut worked = slot.outlet.flush();
        if let Some(conn) = slot.conn {
            worked |= read_inbound(
                &mut self.transport,
                self.checker.as_mut(),
                &mut self.log,
                session_index,
                slot,
                conn,
                now,
            );
            worked |= take_orders(
                &mut self.transport,
                &mut self.log,
                session_index,
                slot,
                conn,
                now,
            );
        }
        if slot
            .session
            .poll_timeout()
            .is_some_and(|deadline| now.instant >= deadline)
        {
            slot.session.handle_timeout(now);
            drain_events(slot);
            worked = true;
        }
        if let Some(conn) = slot.conn {
            worked |= transmit(
                &mut self.transport,
                &mut self.log,
                session_index,
                slot,
                conn,
                now,
            );
            let unsent = self.transport.unsent(conn);
            let done = slot.closing && (unsent == 0 || self.shutting_down);
            if done || not_reading(slot, unsent, now) {
                self.release_connection(index, now);
                worked = true;
            }
        } else if self.slots[index].reconnect.is_due(now) && !self.shutting_down {
            self.connect(index, now);
            worked = true;
        }
        let slot = &mut self.slots[index];
        sync_checker(self.checker.as_mut(), session_index, &slot.session);
        if worked {
            slot.stats.publish(&slot.session, slot.conn.is_some(), now);
        }
        worked
    }

    /// Starts an initiator's connection attempt.
    fn connect(&mut self, index: usize, now: Now) {
        let slot = &mut self.slots[index];
        slot.reconnect.cancel();
        let Endpoint::Connect { addr, backoff } = slot.endpoint else {
            return;
        };
        match self.transport.connect(addr) {
            Ok(conn) => {
                tracing::info!(session = %slot.name, %addr, "connecting");
                slot.conn = Some(conn);
                slot.reading = true;
            }
            Err(error) => {
                tracing::warn!(session = %slot.name, %addr, %error, "cannot connect");
                slot.reconnect.schedule(backoff, now);
            }
        }
    }

    /// Closes a session's connection and, for an initiator, schedules the next attempt.
    fn release_connection(&mut self, index: usize, now: Now) {
        let slot = &mut self.slots[index];
        if let Some(conn) = slot.conn.take() {
            self.transport.close(conn);
        }
        slot.closing = false;
        slot.sending = SendProgress::default();
        if slot.session.state() != State::Disconnected {
            slot.session.handle_disconnect(now);
        }
        self.checker.command(&Command::disarm(index as u16));
        if let Endpoint::Connect { backoff, .. } = slot.endpoint
            && !self.shutting_down
        {
            slot.reconnect.schedule(backoff, now);
        }
        slot.stats.publish(&slot.session, false, now);
    }
}

/// The free acceptor session on `listen` that a first message's CompIDs name.
fn route(slots: &[Slot], listen: SocketAddr, first: &Message<'_>) -> Result<usize, &'static str> {
    let routes = slots.iter().map(|slot| match slot.endpoint {
        Endpoint::Accept { listen, .. } => {
            let config = slot.session.config();
            Some((
                listen,
                config.sender_comp_id.as_str(),
                config.target_comp_id.as_str(),
            ))
        }
        Endpoint::Connect { .. } => None,
    });
    let index = route_first_message(routes, listen, first).ok_or("no session for these CompIDs")?;
    if slots[index].conn.is_some() {
        return Err("session already connected");
    }
    Ok(index)
}

/// Frames, checks and hands to the session every complete message the connection has, as long
/// as the application ring has room. Returns whether it used any bytes.
fn read_inbound<T: Transport>(
    transport: &mut T,
    checker: &mut dyn SequenceChecker,
    log: &mut Option<LogWriter>,
    session_index: u16,
    slot: &mut Slot,
    conn: ConnId,
    now: Now,
) -> bool {
    let limits = *slot.session.limits();
    let unsent = transport.unsent(conn);
    let bytes = transport.received(conn);
    let mut used = 0;
    // A peer that does not take our answers is not read either, so that what it sends cannot
    // queue up answers without bound.
    let mut blocked = slot.outlet.is_blocked() || unsent >= MAX_UNSENT_BEFORE_TAKING;
    while !blocked && used < bytes.len() && !slot.closing {
        let rest = &bytes[used..];
        let offset = slot.stream_offset + used as u64;
        match decode(rest, &limits) {
            Decoded::Incomplete => break,
            Decoded::Garbled(garbled) => {
                checker.check_garbled(
                    session_index,
                    offset,
                    &rest[..garbled.skip],
                    now.instant.as_nanos(),
                );
                slot.stats.note_garbled(garbled.error);
                slot.session
                    .handle_frame_error(now, &rest[..garbled.skip], &garbled);
                used += garbled.skip;
            }
            Decoded::Message(msg) => {
                if !slot.outlet.has_room_for(msg.len()) {
                    blocked = true;
                    break;
                }
                let descriptor = checker
                    .check_message(session_index, offset, &msg, now.instant.as_nanos())
                    .unwrap_or_default();
                let expected = slot.session.next_target_seq();
                let disposition = slot.session.handle_message(now, &msg);
                let moved_to = slot.session.next_target_seq();
                log_sequence_reset(&slot.name, &msg, expected, moved_to);
                // The checker and the session judge the sequence independently: an in-order
                // message by the checker never opens a gap in the session.
                debug_assert!(
                    !descriptor.is_fast_path() || !slot.session.is_recovering(),
                    "checker and session disagree on {descriptor:?}"
                );
                if disposition == Disposition::Deliver {
                    slot.outlet.deliver(
                        msg.msg_seq_num().unwrap_or(0),
                        now.instant.as_nanos(),
                        msg.as_bytes(),
                    );
                }
                used += msg.len();
            }
        }
        drain_events(slot);
        if !descriptor_path_is_clean(slot) {
            sync_checker(checker, session_index, &slot.session);
        }
        blocked |= slot.outlet.is_blocked();
    }
    if used > 0 {
        if let Some(log) = log {
            log.record(session_index, Direction::Inbound, now.utc, &bytes[..used]);
        }
        transport.consume(conn, used);
        slot.stream_offset += used as u64;
    }
    if slot.reading == blocked {
        slot.reading = !blocked;
        transport.set_reading(conn, !blocked);
    }
    used > 0
}

/// Whether the session's peer has taken none of the bytes waiting for it for a whole heartbeat
/// interval (it keeps sending, or TCP would have ended the connection, but it does not read).
/// If so the session ends (the application hears of it unless it had ended already) and the
/// caller closes the connection.
fn not_reading(slot: &mut Slot, unsent: usize, now: Now) -> bool {
    let heartbeat = slot.session.heartbeat_interval();
    if !slot
        .sending
        .stalled(&slot.name, unsent, heartbeat, now.instant)
    {
        return false;
    }
    if slot.session.state() != State::Disconnected {
        slot.session.handle_disconnect(now);
        let seq = slot.session.next_target_seq().saturating_sub(1);
        slot.outlet.event(seq, Notice::ConnectionLost.event());
    }
    true
}

/// Whether the checker can stay as it is: the session is logged on and not recovering, so the
/// checker's own count keeps step with the session's.
fn descriptor_path_is_clean(slot: &Slot) -> bool {
    slot.session.state() == State::Active && !slot.session.is_recovering()
}

/// Arms the checker at the session's expected number while the session is logged on and has no
/// gap; disarms it otherwise, so that everything goes through the session.
fn sync_checker(checker: &mut dyn SequenceChecker, index: u16, session: &GatewaySession) {
    let wanted = (matches!(session.state(), State::Active | State::LogoutSent)
        && !session.is_recovering())
    .then(|| session.next_target_seq());
    let current = checker
        .state(index)
        .and_then(|(armed, expected)| armed.then_some(expected));
    if wanted != current {
        let command = match wanted {
            Some(expected) => Command::arm(index, expected),
            None => Command::disarm(index),
        };
        checker.command(&command);
    }
}

/// Takes the application's orders while the session is logged on and the socket keeps up.
fn take_orders<T: Transport>(
    transport: &mut T,
    log: &mut Option<LogWriter>,
    session_index: u16,
    slot: &mut Slot,
    conn: ConnId,
    now: Now,
) -> bool {
    let mut worked = false;
    while slot.session.state() == State::Active
        && !slot.closing
        && transport.unsent(conn) < MAX_UNSENT_BEFORE_TAKING
    {
        if !take_application_record(&mut slot.orders, &mut slot.session, &slot.name, now) {
            break;
        }
        worked = true;
        drain_events(slot);
        transmit(transport, log, session_index, slot, conn, now);
    }
    worked
}

/// Writes what the session has queued into the transport, as far as it takes it.
fn transmit<T: Transport>(
    transport: &mut T,
    log: &mut Option<LogWriter>,
    session_index: u16,
    slot: &mut Slot,
    conn: ConnId,
    now: Now,
) -> bool {
    let mut worked = false;
    while let Some(out) = slot.session.poll_transmit() {
        let Ok(sent) = transport.send(conn, out) else {
            break;
        };
        if sent == 0 {
            break;
        }
        if let Some(log) = log {
            log.record(session_index, Direction::Outbound, now.utc, &out[..sent]);
        }
        slot.sending.queued(sent);
        let all = sent == out.len();
        slot.session.transmitted(sent);
        worked = true;
        if !all {
            break;
        }
    }
    worked
}

/// Moves everything the session has to say into the application channel (or its backlog).
fn drain_events(slot: &mut Slot) {
    let Slot {
        session,
        outlet,
        name,
        stats,
        ..
    } = slot;
    let drained = drain_session(session, name, stats, |output| match output {
        Output::Deliver {
            seq,
            received_nanos,
            message,
        } => outlet.deliver(seq, received_nanos, message),
        Output::Notice { seq, notice } => outlet.event(seq, notice.event()),
    });
    if drained.logged_on {
        slot.reconnect.logged_on();
    }
    slot.closing |= drained.disconnecting;
}
