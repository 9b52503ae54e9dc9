//! Threaded mode: a pinned network core and a session thread, joined per session by two
//! `gapless-shm` rings (the layout an FPGA's DMA engine writes descriptors into).
//!
//! **Network core** ([`NetCore`]): transport I/O, framing in place, the sequence checker, and
//! the fast path: an application message the checker finds in order, that passes the session's
//! [`InboundScreen`], goes straight from the receive buffer to the application ring, and only
//! its 64-byte descriptor goes to the session thread. Everything else (admin messages, gaps,
//! duplicates, possible duplicates, resets, garbled bytes) goes to the session thread as the
//! descriptor followed by the bytes. The network core also writes what the session thread asks
//! for: bytes to send, messages and events for the application (so the application ring keeps
//! one producer), checker commands, connects and closes.
//!
//! **Session thread** ([`SessionThread`]): the session state machines, their timers, the
//! application's outbound messages (the session stamps MsgSeqNum and journals before sending),
//! reconnection.
//!
//! **Arming the checker.** The session thread arms the checker at its expected MsgSeqNum when
//! the session is logged on with no gap, and disarms it otherwise; the checker disarms itself on
//! a gap, a reset, a Logon or a Logout. An Arm carries how many records the session thread has
//! read; if the network core has sent more since (messages in flight that the session has not
//! seen), arming at that number could be stale, so the network core refuses it, stops reading
//! that session until the session thread has caught up, and says so; the session thread then
//! arms again with the right number. Released held messages reach the application before the
//! checker is re-armed, because both travel in order on the same ring.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gapless_client::Orders;
use gapless_codec::{Decoded, Limits, Message, decode};
use gapless_seqcheck::{Command, DESCRIPTOR_LEN, Descriptor, MsgClass, Verdict};
use gapless_session::{Disposition, InboundScreen, Now, State};
use gapless_shm::{Consumer, Producer, Ring};
use gapless_transport::{ConnId, Event as NetEvent, ListenerId, Transport};

use crate::checker::{self, SequenceChecker};
use crate::clock::Clock;
use crate::config::{CheckerPlan, Endpoint, RuntimeConfig};
use crate::gateway::{MAX_UNSENT_BEFORE_TAKING, StartError};
use crate::log::{Direction, LogWriter};
use crate::outlet::Outlet;
use crate::session_io::{
    GatewaySession, Notice, Output, PendingConnections, Reconnect, SendProgress, Stats,
    drain_session, log_sequence_reset, log_tls_failure, route_first_message,
    take_application_record,
};
use crate::{OpenedSession, RunError};

/// Bytes in each ring between the threads, per session.
const RING_CAPACITY: usize = 8 << 20;
/// Record header on the rings between the threads: a kind byte, reserved to 8.
const KIND_LEN: usize = 8;

// Network core to session thread.
const FAST_PATH: u8 = 1;
const DIVERTED: u8 = 2;
const CONNECTED: u8 = 3;
const CLOSED: u8 = 4;
const ARM_REFUSED: u8 = 5;

// Session thread to network core.
const TRANSMIT: u8 = 1;
const DELIVER: u8 = 2;
const NOTICE: u8 = 3;
const CHECKER: u8 = 4;
const CLOSE: u8 = 5;
const CONNECT: u8 = 6;

/// A ring to the other thread with an overflow queue behind it, so that when the ring is full
/// nothing is lost and order holds. The overflow allocates; each side stops taking input while
/// it is not empty, so it stays small.
#[derive(Debug)]
struct Outbox {
    ring: Producer,
    overflow: VecDeque<Vec<u8>>,
}

impl Outbox {
    fn new(ring: Producer) -> Outbox {
        Outbox {
            ring,
            overflow: VecDeque::new(),
        }
    }

    /// Queues a record of `kind` made of `parts`, in the ring if it fits.
    fn push(&mut self, kind: u8, parts: &[&[u8]]) {
        if !self.try_push_now(kind, parts) {
            let mut record = vec![0; record_len(parts)];
            fill_record(&mut record, kind, parts);
            self.overflow.push_back(record);
        }
    }

    /// Puts a record in the ring if nothing waits and it fits; otherwise leaves it to the caller.
    fn try_push_now(&mut self, kind: u8, parts: &[&[u8]]) -> bool {
        self.overflow.is_empty()
            && self
                .ring
                .try_push_with(record_len(parts), |dst| fill_record(dst, kind, parts))
                .is_ok()
    }

    /// Moves waiting records into the ring, in order.
    fn flush(&mut self) -> bool {
        let mut moved = false;
        while let Some(front) = self.overflow.front() {
            if self.ring.try_push(front).is_err() {
                break;
            }
            self.overflow.pop_front();
            moved = true;
        }
        moved
    }

    fn is_blocked(&self) -> bool {
        !self.overflow.is_empty()
    }

    /// Bytes free in the ring.
    fn free(&self) -> usize {
        self.ring.ring().capacity() - self.ring.ring().occupancy()
    }
}

fn record_len(parts: &[&[u8]]) -> usize {
    KIND_LEN + parts.iter().map(|part| part.len()).sum::<usize>()
}

fn fill_record(dst: &mut [u8], kind: u8, parts: &[&[u8]]) {
    dst[..KIND_LEN].fill(0);
    dst[0] = kind;
    let mut at = KIND_LEN;
    for part in parts {
        dst[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
}

/// Runs the sessions in threaded mode until `stop`: the network core on a new thread pinned to
/// `network_cpu` (the transport is made there: some transports must stay on their thread), the
/// session thread on the calling thread, pinned to `session_cpu`.
pub(crate) fn run<T: Transport + 'static>(
    config: &RuntimeConfig,
    make_transport: impl FnOnce() -> Result<T, RunError> + Send + 'static,
    sessions: Vec<OpenedSession>,
    log: Option<LogWriter>,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let done = Arc::new(AtomicBool::new(false));
    let net_done = Arc::clone(&done);
    let network_cpu = config.network_cpu;
    let idle = config.idle;
    let checker = config.checker.clone();
    let (ready, started) = std::sync::mpsc::channel();
    let net_thread = std::thread::Builder::new()
        .name("gapless-net".into())
        .spawn(move || {
            pin(network_cpu, "network core");
            let halves = make_transport().and_then(|transport| {
                split(transport, sessions, log, &checker).map_err(RunError::Start)
            });
            let mut net = match halves {
                Ok((net, session_thread)) => {
                    let _ = ready.send(Ok(session_thread));
                    net
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            while !net_done.load(Ordering::Acquire) {
                let worked = net.poll();
                idle.idle(worked);
            }
            // The session thread has finished: write out what it left, then close.
            net.poll();
            net.close_all();
        })
        .map_err(RunError::Transport)?;
    let mut sessions = match started.recv() {
        Ok(Ok(sessions)) => sessions,
        Ok(Err(error)) => {
            let _ = net_thread.join();
            return Err(error);
        }
        Err(_) => {
            let _ = net_thread.join();
            return Err(RunError::Transport(std::io::Error::other(
                "the network core ended before starting",
            )));
        }
    };
    pin(config.session_cpu, "session thread");
    let mut deadline = None;
    loop {
        let worked = sessions.poll();
        if deadline.is_none() && stop.load(Ordering::Relaxed) {
            sessions.begin_shutdown();
            deadline = Some(std::time::Instant::now() + config.shutdown_timeout);
        }
        if let Some(deadline) = deadline
            && (sessions.is_shut_down() || std::time::Instant::now() >= deadline)
        {
            break;
        }
        config.idle.idle(worked);
    }
    // Let the network core write the last records (Logouts) before it closes.
    for _ in 0..1000 {
        if !sessions.poll() {
            break;
        }
    }
    done.store(true, Ordering::Release);
    let _ = net_thread.join();
    for (session, error) in sessions.finish() {
        tracing::error!(%session, %error, "store flush failed at shutdown");
    }
    Ok(())
}

fn pin(cpu: Option<usize>, what: &str) {
    if let Some(cpu) = cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
    {
        tracing::warn!(cpu, what, "cannot pin");
    }
}

/// Builds both halves from opened sessions; also what the tests drive directly.
pub(crate) fn split<T: Transport>(
    mut transport: T,
    sessions: Vec<OpenedSession>,
    log: Option<LogWriter>,
    checker: &CheckerPlan,
) -> Result<(NetCore<T>, SessionThread), StartError> {
    let limits: Vec<_> = sessions
        .iter()
        .map(|opened| (opened.name.as_str(), *opened.session.limits()))
        .collect();
    let checker = checker::build(checker, &limits)?;
    let mut net_slots = Vec::with_capacity(sessions.len());
    let mut session_slots = Vec::with_capacity(sessions.len());
    let mut listeners: Vec<(ListenerId, SocketAddr, SocketAddr)> = Vec::new();
    let first_message_timeout =
        PendingConnections::timeout_for(sessions.iter().map(|o| o.session.config()));
    for opened in sessions {
        let ring = |what| {
            Ring::anonymous(RING_CAPACITY).map_err(|error| {
                StartError::Invalid(format!("session {}: {what} ring: {error}", opened.name))
            })
        };
        let (to_session, from_net) = ring("network-to-session")?;
        let (to_net, from_session) = ring("session-to-network")?;
        let route = match opened.endpoint {
            Endpoint::Accept { listen, .. } => {
                if !listeners
                    .iter()
                    .any(|(_, configured, _)| *configured == listen)
                {
                    let (id, bound) =
                        transport
                            .listen(listen)
                            .map_err(|error| StartError::Listen {
                                address: listen,
                                error,
                            })?;
                    listeners.push((id, listen, bound));
                }
                let config = opened.session.config();
                Some((
                    listen,
                    config.sender_comp_id.clone(),
                    config.target_comp_id.clone(),
                ))
            }
            Endpoint::Connect { .. } => None,
        };
        let stats = Stats::new(opened.channel.stats(), &opened.name);
        let (delivery, orders) = opened.channel.split();
        net_slots.push(NetSlot {
            name: opened.name.clone(),
            heartbeat: opened.session.config().heartbeat_interval,
            configured_heartbeat: opened.session.config().heartbeat_interval,
            sending: SendProgress::default(),
            screen: opened.session.inbound_screen(),
            limits: *opened.session.limits(),
            route,
            conn: None,
            stream_offset: 0,
            reading: true,
            draining: false,
            sent_to_session: 0,
            outlet: Outlet::new(delivery),
            to_session: Outbox::new(to_session),
            from_session,
            transmitted_of_front: 0,
        });
        session_slots.push(SessionSlot {
            name: opened.name,
            session: opened.session,
            endpoint: opened.endpoint,
            orders,
            stats,
            to_net: Outbox::new(to_net),
            from_net,
            read_from_net: 0,
            checker_armed: false,
            arm_refused: false,
            connected: false,
            closing: false,
            reconnect: Reconnect::now(),
        });
    }
    Ok((
        NetCore {
            transport,
            checker,
            slots: net_slots,
            pending: PendingConnections::new(first_message_timeout),
            listeners,
            clock: Clock::new(),
            log,
        },
        SessionThread {
            slots: session_slots,
            clock: Clock::new(),
            shutting_down: false,
        },
    ))
}

/// The heartbeat interval an acceptor session will run with: the HeartBtInt of the peer's first
/// message (its Logon), else the configured one. The session thread checks the Logon; this is
/// only how long the network core lets the peer leave our bytes unread.
fn proposed_heartbeat(first: &[u8], slot: &NetSlot) -> std::time::Duration {
    match decode(first, &slot.limits) {
        Decoded::Message(logon) => logon
            .get_u64(gapless_codec::tag::HEART_BT_INT)
            .map_or(slot.configured_heartbeat, std::time::Duration::from_secs),
        _ => slot.configured_heartbeat,
    }
}

/// What the network core keeps per session.
#[derive(Debug)]
struct NetSlot {
    name: String,
    /// How long the peer may leave our bytes unread: the heartbeat interval of the connection.
    heartbeat: std::time::Duration,
    configured_heartbeat: std::time::Duration,
    /// Whether the peer takes what we send.
    sending: SendProgress,
    screen: InboundScreen,
    limits: Limits,
    /// Acceptors: the listening address, our CompID and the peer's.
    route: Option<(SocketAddr, String, String)>,
    conn: Option<ConnId>,
    stream_offset: u64,
    reading: bool,
    /// An Arm was refused: read nothing until the session thread has caught up.
    draining: bool,
    /// Records sent to the session thread, for matching Arms.
    sent_to_session: u64,
    outlet: Outlet,
    to_session: Outbox,
    from_session: Consumer,
    /// Bytes of the TRANSMIT record at the front of `from_session` already sent.
    transmitted_of_front: usize,
}

/// The network core. See the module documentation.
#[derive(Debug)]
pub(crate) struct NetCore<T: Transport> {
    transport: T,
    checker: Box<dyn SequenceChecker>,
    slots: Vec<NetSlot>,
    pending: PendingConnections,
    listeners: Vec<(ListenerId, SocketAddr, SocketAddr)>,
    clock: Clock,
    log: Option<LogWriter>,
}

impl<T: Transport> NetCore<T> {
    /// One pass; returns whether it did any work.
    pub(crate) fn poll(&mut self) -> bool {
        let now = self.clock.now();
        let mut worked = self.transport.poll() > 0;
        while let Some(event) = self.transport.next_event() {
            worked = true;
            self.on_transport_event(now, event);
        }
        worked |= self.route_pending(now);
        for index in 0..self.slots.len() {
            worked |= self.slots[index].to_session.flush();
            worked |= self.apply_session_records(index, now);
            worked |= self.slots[index].outlet.flush();
            worked |= self.read(index, now);
            worked |= self.close_if_not_reading(index, now);
        }
        worked
    }

    /// Closes a connection whose peer has taken none of our bytes for a heartbeat interval, and
    /// tells the session thread it is gone.
    fn close_if_not_reading(&mut self, index: usize, now: Now) -> bool {
        let slot = &mut self.slots[index];
        let Some(conn) = slot.conn else {
            return false;
        };
        let unsent = self.transport.unsent(conn);
        if !slot
            .sending
            .stalled(&slot.name, unsent, slot.heartbeat, now.instant)
        {
            return false;
        }
        self.release(index);
        push_control(&mut self.slots[index], CLOSED, None);
        true
    }

    fn on_transport_event(&mut self, now: Now, event: NetEvent) {
        match event {
            NetEvent::Accepted {
                listener,
                conn,
                peer,
            } => match self.listeners.iter().find(|(id, _, _)| *id == listener) {
                Some((_, listen, _)) => {
                    self.pending
                        .add(&mut self.transport, conn, *listen, peer, now)
                }
                None => self.transport.close(conn),
            },
            NetEvent::Connected { conn } => {
                if let Some(index) = self.slots.iter().position(|s| s.conn == Some(conn)) {
                    let slot = &mut self.slots[index];
                    slot.stream_offset = 0;
                    self.checker.command(&Command::reset(index as u16));
                    push_control(slot, CONNECTED, None);
                }
            }
            NetEvent::Closed { conn, reason } => {
                // The network core knows sessions by index; the session thread names them.
                log_tls_failure(reason, None);
                let pending = self.pending.remove(conn);
                if !pending
                    && let Some(index) = self.slots.iter().position(|s| s.conn == Some(conn))
                {
                    // What arrived before the close is still to be read: the peer's Logout, say.
                    self.read(index, now);
                    self.release(index);
                    push_control(&mut self.slots[index], CLOSED, None);
                }
                self.transport.close(conn);
            }
        }
    }

    /// Routes accepted connections to their session by the CompIDs of their first message.
    fn route_pending(&mut self, now: Now) -> bool {
        let mut worked = false;
        loop {
            let slots = &self.slots;
            let route = |listen, first: &Message<'_>| {
                let routes = slots.iter().map(|slot| {
                    slot.route
                        .as_ref()
                        .map(|(listen, ours, theirs)| (*listen, ours.as_str(), theirs.as_str()))
                });
                let index = route_first_message(routes, listen, first)
                    .ok_or("no session for these CompIDs")?;
                if slots[index].conn.is_some() {
                    return Err("session already connected");
                }
                Ok(index)
            };
            let Some((index, conn, peer)) =
                self.pending.next_routed(&mut self.transport, now, route)
            else {
                return worked;
            };
            worked = true;
            let proposed = proposed_heartbeat(self.transport.received(conn), &self.slots[index]);
            let slot = &mut self.slots[index];
            slot.conn = Some(conn);
            slot.stream_offset = 0;
            slot.reading = true;
            slot.draining = false;
            self.checker.command(&Command::reset(index as u16));
            slot.heartbeat = proposed;
            push_control(slot, CONNECTED, Some(peer));
        }
    }

    /// Carries out what the session thread sent, in order.
    fn apply_session_records(&mut self, index: usize, now: Now) -> bool {
        let mut worked = false;
        loop {
            let slot = &mut self.slots[index];
            let Ok(Some(record)) = slot.from_session.peek() else {
                return worked;
            };
            let (kind, body) = (record[0], &record[KIND_LEN..]);
            match kind {
                TRANSMIT => {
                    let Some(conn) = slot.conn else {
                        slot.transmitted_of_front = 0;
                        slot.from_session.commit();
                        continue;
                    };
                    let rest = &body[slot.transmitted_of_front..];
                    let sent = self.transport.send(conn, rest).unwrap_or(rest.len());
                    slot.sending.queued(sent);
                    if let Some(log) = &mut self.log {
                        log.record(index as u16, Direction::Outbound, now.utc, &rest[..sent]);
                    }
                    if sent < rest.len() {
                        slot.transmitted_of_front += sent;
                        return worked || sent > 0;
                    }
                    slot.transmitted_of_front = 0;
                }
                DELIVER => {
                    let (seq, received_nanos) = (u64_at(body, 0), u64_at(body, 8));
                    slot.outlet.deliver(seq, received_nanos, &body[16..]);
                }
                NOTICE => {
                    if let Some(notice) = Notice::from_bytes(&body[8..]) {
                        slot.outlet.event(u64_at(body, 0), notice.event());
                    }
                }
                CHECKER => {
                    let expected = u64_at(body, 0);
                    let read = u64_at(body, 8);
                    let arm = body[16] == 1;
                    let session = index as u16;
                    if !arm {
                        // Disarmed, the checker sends everything to the session thread: safe
                        // whatever is in flight.
                        self.checker.command(&Command::disarm(session));
                        slot.draining = false;
                    } else if read == slot.sent_to_session {
                        self.checker.command(&Command::arm(session, expected));
                        slot.draining = false;
                    } else {
                        // Messages are in flight to the session thread: stop reading until it
                        // has seen them, and let it arm again.
                        slot.draining = true;
                        slot.from_session.commit();
                        push_control(slot, ARM_REFUSED, None);
                        worked = true;
                        continue;
                    }
                }
                CLOSE => {
                    slot.from_session.commit();
                    self.release(index);
                    worked = true;
                    continue;
                }
                CONNECT => {
                    let addr = addr_from(body);
                    slot.from_session.commit();
                    match addr.map(|addr| self.transport.connect(addr)) {
                        Some(Ok(conn)) => {
                            let slot = &mut self.slots[index];
                            slot.conn = Some(conn);
                            slot.reading = true;
                            slot.draining = false;
                        }
                        _ => push_control(&mut self.slots[index], CLOSED, None),
                    }
                    worked = true;
                    continue;
                }
                _ => tracing::error!(kind, "unknown record from the session thread"),
            }
            self.slots[index].from_session.commit();
            worked = true;
        }
    }

    /// Frames, checks and routes the connection's complete messages while both the session
    /// thread's ring and the application ring have room.
    fn read(&mut self, index: usize, now: Now) -> bool {
        let slot = &mut self.slots[index];
        let Some(conn) = slot.conn else {
            return false;
        };
        let session = index as u16;
        let bytes = self.transport.received(conn);
        let mut used = 0;
        // A peer that does not take our answers is not read either, so that what it sends
        // cannot queue up answers without bound.
        let mut blocked = slot.draining
            || slot.outlet.is_blocked()
            || self.transport.unsent(conn) >= MAX_UNSENT_BEFORE_TAKING;
        while !blocked && used < bytes.len() {
            let rest = &bytes[used..];
            let offset = slot.stream_offset + used as u64;
            let at = now.instant.as_nanos();
            let (descriptor, len, fast) = match decode(rest, &slot.limits) {
                Decoded::Incomplete => break,
                Decoded::Garbled(garbled) => {
                    let d = self
                        .checker
                        .check_garbled(session, offset, &rest[..garbled.skip], at);
                    (d.unwrap_or_default(), garbled.skip, false)
                }
                Decoded::Message(msg) => {
                    // Room first: once the checker has seen a message it must go somewhere.
                    if !has_room(&slot.to_session, msg.len())
                        || !slot.outlet.has_room_for(msg.len())
                    {
                        blocked = true;
                        break;
                    }
                    let d = self
                        .checker
                        .check_message(session, offset, &msg, at)
                        .unwrap_or_default();
                    let fast = d.is_fast_path() && slot.screen.passes(now, &msg);
                    if fast {
                        slot.outlet.deliver(d.seq, at, msg.as_bytes());
                    }
                    (d, msg.len(), fast)
                }
            };
            if !fast && !has_room(&slot.to_session, len) {
                // Only garbled bytes get here without the check above.
                blocked = true;
                break;
            }
            let payload = if fast { &[][..] } else { &rest[..len] };
            push_descriptor(
                slot,
                if fast { FAST_PATH } else { DIVERTED },
                &descriptor,
                payload,
            );
            used += len;
        }
        if used > 0 {
            if let Some(log) = &mut self.log {
                log.record(session, Direction::Inbound, now.utc, &bytes[..used]);
            }
            self.transport.consume(conn, used);
            slot.stream_offset += used as u64;
        }
        if slot.reading == blocked {
            slot.reading = !blocked;
            self.transport.set_reading(conn, !blocked);
        }
        used > 0
    }

    /// Closes a session's connection (bytes already queued go out if the socket takes them).
    fn release(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if let Some(conn) = slot.conn.take() {
            self.transport.close(conn);
        }
        slot.draining = false;
        slot.transmitted_of_front = 0;
        slot.sending = SendProgress::default();
        self.checker.command(&Command::disarm(index as u16));
    }

    fn close_all(&mut self) {
        for index in 0..self.slots.len() {
            self.release(index);
        }
        self.pending.close_all(&mut self.transport);
        for _ in 0..100 {
            if self.transport.poll() == 0 {
                break;
            }
        }
    }
}

/// Whether the ring to the session thread has room for a descriptor and `len` bytes.
fn has_room(outbox: &Outbox, len: usize) -> bool {
    let record = (KIND_LEN + DESCRIPTOR_LEN + len + 16).next_multiple_of(8);
    !outbox.is_blocked() && outbox.free() >= 2 * record
}

fn push_descriptor(slot: &mut NetSlot, kind: u8, descriptor: &Descriptor, payload: &[u8]) {
    slot.to_session
        .push(kind, &[&descriptor.to_bytes(), payload]);
    slot.sent_to_session += 1;
}

/// A connection event for the session thread.
fn push_control(slot: &mut NetSlot, kind: u8, peer: Option<SocketAddr>) {
    let mut addr = [0u8; ADDR_LEN];
    let len = peer.map_or(0, |peer| addr_to(peer, &mut addr));
    slot.to_session.push(kind, &[&addr[..len]]);
    slot.sent_to_session += 1;
}

/// What the session thread keeps per session.
#[derive(Debug)]
struct SessionSlot {
    name: String,
    session: GatewaySession,
    endpoint: Endpoint,
    orders: Orders,
    stats: Stats,
    to_net: Outbox,
    from_net: Consumer,
    /// Records read from the network core, for matching Arms.
    read_from_net: u64,
    /// Whether the checker is armed (or an Arm is on its way), as far as this thread knows.
    checker_armed: bool,
    /// The network core refused an Arm and waits, not reading, for an answer.
    arm_refused: bool,
    /// A connection exists or is being made.
    connected: bool,
    closing: bool,
    reconnect: Reconnect,
}

/// The session thread. See the module documentation.
#[derive(Debug)]
pub(crate) struct SessionThread {
    slots: Vec<SessionSlot>,
    clock: Clock,
    shutting_down: bool,
}

/// Room the session thread keeps free in its ring to the network core before it reads more:
/// enough for a resend batch and the admin messages around it.
const TO_NET_HEADROOM: usize = 512 * 1024;

impl SessionThread {
    /// One pass; returns whether it did any work.
    pub(crate) fn poll(&mut self) -> bool {
        let now = self.clock.now();
        let mut worked = false;
        for slot in &mut self.slots {
            worked |= slot.poll(now, self.shutting_down);
        }
        worked
    }

    /// Logs every logged-on session out; closes the other connections.
    pub(crate) fn begin_shutdown(&mut self) {
        let now = self.clock.now();
        self.shutting_down = true;
        for slot in &mut self.slots {
            slot.reconnect.cancel();
            if slot.session.state() == State::Active {
                slot.session.logout(now, Some("gateway shutting down"));
            } else if slot.connected {
                slot.session.handle_disconnect(now);
                slot.closing = true;
            }
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutting_down && self.slots.iter().all(|slot| !slot.connected)
    }

    /// Makes every store durable; returns the sessions whose store could not be flushed.
    pub(crate) fn finish(mut self) -> Vec<(String, gapless_store::FlushError)> {
        let now = self.clock.now();
        let mut failures = Vec::new();
        for slot in &mut self.slots {
            slot.session.handle_disconnect(now);
            slot.stats.publish(&slot.session, false, now);
            if let Err(error) = slot.session.flush_store() {
                failures.push((slot.name.clone(), error));
            }
        }
        failures
    }
}

impl SessionSlot {
    fn poll(&mut self, now: Now, shutting_down: bool) -> bool {
        let mut worked = self.to_net.flush();
        worked |= self.read_network(now);
        if self.session.state() == State::Active && !self.closing {
            worked |= self.take_orders(now);
        }
        if self
            .session
            .poll_timeout()
            .is_some_and(|deadline| now.instant >= deadline)
        {
            self.session.handle_timeout(now);
            self.after_input(now);
            worked = true;
        }
        worked |= self.transmit();
        if self.closing && !self.to_net.is_blocked() && self.session.poll_transmit().is_none() {
            self.push(CLOSE, &[]);
            self.closing = false;
            self.connected = false;
            self.checker_armed = false;
            if let Endpoint::Connect { backoff, .. } = self.endpoint
                && !shutting_down
            {
                self.reconnect.schedule(backoff, now);
            }
            worked = true;
        }
        if !self.connected
            && !shutting_down
            && let Endpoint::Connect { addr, .. } = self.endpoint
            && self.reconnect.is_due(now)
        {
            let mut record = [0u8; ADDR_LEN];
            let len = addr_to(addr, &mut record);
            self.push(CONNECT, &record[..len]);
            self.reconnect.cancel();
            self.connected = true;
            tracing::info!(session = %self.name, %addr, "connecting");
            worked = true;
        }
        if worked {
            self.stats.publish(&self.session, self.connected, now);
        }
        worked
    }

    /// Handles what the network core sent, while the ring back has room for the answers.
    fn read_network(&mut self, now: Now) -> bool {
        let mut worked = false;
        while !self.to_net.is_blocked() && self.to_net.free() >= TO_NET_HEADROOM {
            let Ok(Some(record)) = self.from_net.peek() else {
                break;
            };
            let (kind, body) = (record[0], &record[KIND_LEN..]);
            match kind {
                FAST_PATH | DIVERTED => {
                    let Some(bytes) = body.get(..DESCRIPTOR_LEN) else {
                        break;
                    };
                    let descriptor =
                        Descriptor::from_bytes(bytes.try_into().unwrap_or(&[0; DESCRIPTOR_LEN]));
                    if checker_disarmed_itself(&descriptor) {
                        self.checker_armed = false;
                    }
                    if kind == FAST_PATH {
                        if let Err(error) = self.session.handle_fast_path(now, descriptor.seq) {
                            // The checker and the session disagree: trust neither the fast
                            // path nor this connection.
                            tracing::error!(session = %self.name, %error, "closing");
                            self.session.handle_disconnect(now);
                            self.closing = true;
                        }
                    } else {
                        let payload = &body[DESCRIPTOR_LEN..];
                        let limits = *self.session.limits();
                        match decode(payload, &limits) {
                            Decoded::Message(msg) => {
                                let expected = self.session.next_target_seq();
                                let disposition = self.session.handle_message(now, &msg);
                                let moved_to = self.session.next_target_seq();
                                log_sequence_reset(&self.name, &msg, expected, moved_to);
                                if disposition == Disposition::Deliver {
                                    let seq = msg.msg_seq_num().unwrap_or(0);
                                    let received_nanos = descriptor.timestamp;
                                    push_deliver(
                                        &mut self.to_net,
                                        seq,
                                        received_nanos,
                                        msg.as_bytes(),
                                    );
                                }
                            }
                            Decoded::Garbled(garbled) => {
                                self.stats.note_garbled(garbled.error);
                                self.session.handle_frame_error(now, payload, &garbled);
                            }
                            Decoded::Incomplete => {
                                // The network core framed it as garbled at the end of what it
                                // had; whole, it is garbled too.
                                tracing::warn!(session = %self.name, "garbled bytes dropped");
                            }
                        }
                    }
                }
                CONNECTED => {
                    match addr_from(body) {
                        Some(peer) => self.session.handle_connect_from(now, peer),
                        None => self.session.handle_connect(now),
                    }
                    self.connected = true;
                    self.checker_armed = false;
                }
                CLOSED => {
                    if self.session.state() != State::Disconnected {
                        tracing::warn!(session = %self.name, "connection lost");
                        self.session.handle_disconnect(now);
                        let seq = self.session.next_target_seq().saturating_sub(1);
                        push_notice(&mut self.to_net, seq, Notice::ConnectionLost);
                    }
                    self.connected = false;
                    self.closing = false;
                    self.checker_armed = false;
                    if let Endpoint::Connect { backoff, .. } = self.endpoint {
                        self.reconnect.schedule(backoff, now);
                    }
                }
                ARM_REFUSED => {
                    self.checker_armed = false;
                    self.arm_refused = true;
                }
                _ => tracing::error!(kind, "unknown record from the network core"),
            }
            self.from_net.commit();
            self.read_from_net += 1;
            self.after_input(now);
            // What the input made the session say (a ResendRequest, say) goes out now, not
            // after the rest of the backlog.
            self.transmit();
            worked = true;
        }
        worked
    }

    /// After any input: the session's output for the application, then the checker's state.
    fn after_input(&mut self, _now: Now) {
        let to_net = &mut self.to_net;
        let drained =
            drain_session(
                &mut self.session,
                &self.name,
                &self.stats,
                |output| match output {
                    Output::Deliver {
                        seq,
                        received_nanos,
                        message,
                    } => push_deliver(to_net, seq, received_nanos, message),
                    Output::Notice { seq, notice } => push_notice(to_net, seq, notice),
                },
            );
        if drained.logged_on {
            self.reconnect.logged_on();
        }
        self.closing |= drained.disconnecting;
        let wanted = matches!(self.session.state(), State::Active | State::LogoutSent)
            && !self.session.is_recovering();
        if wanted != self.checker_armed || self.arm_refused {
            let mut body = [0u8; 24];
            body[0..8].copy_from_slice(&self.session.next_target_seq().to_le_bytes());
            body[8..16].copy_from_slice(&self.read_from_net.to_le_bytes());
            body[16] = u8::from(wanted);
            self.push(CHECKER, &body);
            self.checker_armed = wanted;
            self.arm_refused = false;
        }
    }

    /// Sends the application's messages while the session is logged on and the ring to the
    /// network core has room.
    fn take_orders(&mut self, now: Now) -> bool {
        let mut worked = false;
        while !self.to_net.is_blocked()
            && self.to_net.free() >= TO_NET_HEADROOM + MAX_UNSENT_BEFORE_TAKING
        {
            if !take_application_record(&mut self.orders, &mut self.session, &self.name, now) {
                break;
            }
            worked = true;
            self.after_input(now);
            self.transmit();
        }
        worked
    }

    /// Moves the session's queued bytes into the ring to the network core; what does not fit
    /// stays in the session.
    fn transmit(&mut self) -> bool {
        let mut worked = false;
        let max = self.to_net.ring.ring().max_payload() / 4 - KIND_LEN;
        while let Some(out) = self.session.poll_transmit() {
            let chunk = &out[..out.len().min(max)];
            let n = chunk.len();
            if !self.to_net.try_push_now(TRANSMIT, &[chunk]) {
                break;
            }
            self.session.transmitted(n);
            worked = true;
        }
        worked
    }

    fn push(&mut self, kind: u8, body: &[u8]) {
        self.to_net.push(kind, &[body]);
    }
}

/// Whether the checker disarmed itself on this verdict (see the seqcheck contract).
fn checker_disarmed_itself(descriptor: &Descriptor) -> bool {
    match Verdict::from_code(descriptor.verdict) {
        Some(Verdict::Gap | Verdict::SequenceReset) => true,
        Some(Verdict::InOrder) => matches!(
            MsgClass::from_code(descriptor.msg_class),
            Some(MsgClass::Logon | MsgClass::Logout)
        ),
        _ => false,
    }
}

fn push_deliver(outbox: &mut Outbox, seq: u64, received_nanos: u64, message: &[u8]) {
    outbox.push(
        DELIVER,
        &[&seq.to_le_bytes(), &received_nanos.to_le_bytes(), message],
    );
}

fn push_notice(outbox: &mut Outbox, seq: u64, notice: Notice) {
    outbox.push(NOTICE, &[&seq.to_le_bytes(), &notice.to_bytes()]);
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// An encoded socket address: family (4 or 6), port, 16 address bytes.
const ADDR_LEN: usize = 20;

fn addr_to(addr: SocketAddr, out: &mut [u8]) -> usize {
    out[..ADDR_LEN].fill(0);
    out[2..4].copy_from_slice(&addr.port().to_le_bytes());
    match addr {
        SocketAddr::V4(v4) => {
            out[0] = 4;
            out[4..8].copy_from_slice(&v4.ip().octets());
        }
        SocketAddr::V6(v6) => {
            out[0] = 6;
            out[4..20].copy_from_slice(&v6.ip().octets());
        }
    }
    ADDR_LEN
}

fn addr_from(bytes: &[u8]) -> Option<SocketAddr> {
    let bytes = bytes.get(..ADDR_LEN)?;
    let port = u16::from_le_bytes([bytes[2], bytes[3]]);
    let ip: std::net::IpAddr = match bytes[0] {
        4 => <[u8; 4]>::try_from(&bytes[4..8]).ok()?.into(),
        6 => <[u8; 16]>::try_from(&bytes[4..20]).ok()?.into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for text in ["127.0.0.1:9878", "[::1]:443"] {
            let addr: SocketAddr = text.parse().unwrap();
            let mut buf = [0u8; ADDR_LEN];
            addr_to(addr, &mut buf);
            assert_eq!(addr_from(&buf), Some(addr));
        }
        assert_eq!(addr_from(&[0u8; ADDR_LEN]), None);
    }

    #[test]
    fn notices_round_trip() {
        let notices = [
            Notice::LoggedOn { reset: true },
            Notice::GapDetected { begin: 5, end: 9 },
            Notice::Recovered { after_nanos: 1234 },
            Notice::Ended(gapless_session::DisconnectReason::HeartbeatTimeout),
            Notice::ConnectionLost,
        ];
        for notice in notices {
            assert_eq!(Notice::from_bytes(&notice.to_bytes()), Some(notice));
        }
    }

    #[test]
    fn gap_and_logon_verdicts_disarm_the_checker() {
        let mut descriptor = Descriptor {
            verdict: Verdict::Gap as u8,
            ..Descriptor::default()
        };
        assert!(checker_disarmed_itself(&descriptor));
        descriptor.verdict = Verdict::InOrder as u8;
        descriptor.msg_class = MsgClass::Application as u8;
        assert!(!checker_disarmed_itself(&descriptor));
        descriptor.msg_class = MsgClass::Logout as u8;
        assert!(checker_disarmed_itself(&descriptor));
    }
}
