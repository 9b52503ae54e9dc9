//! The session state machine: inbound sequencing, logon, logout and timers.

use std::collections::VecDeque;
use std::net::SocketAddr;

use core::time::Duration;

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{
    Decoded, FieldSyntaxError, FrameError, Garbled, Limits, Message, SOH, decode, tag,
};
use gapless_dict::{SessionDictionary, SessionRejectReason, Version};
use gapless_store::MessageStore;

use crate::config::{QueueOverflow, Role, SessionConfig};
use crate::event::{Counters, DisconnectReason, Event};
use crate::hold::{Gap, HoldQueue};
use crate::outbound::RejectedMessage;
use crate::resend::ResendCursor;
use crate::screen::InboundScreen;
use crate::time::{Instant, Now, Timer, TimerTable};

/// Decisions the session leaves to the application.
pub trait Hooks {
    /// Whether to accept this Logon, for example by Username (553) and Password (554), or by
    /// the peer's address when the caller gave one ([`Session::handle_connect_from`]). A refused
    /// Logon closes the connection without a reply, revealing nothing.
    fn accept_logon(&mut self, logon: &Message<'_>, peer: Option<SocketAddr>) -> bool {
        let _ = (logon, peer);
        true
    }

    /// Whether a stored application message is too old to resend; a stale message is replaced by
    /// a SequenceReset-GapFill (an old order must not be re-sent into today's market, say).
    fn is_stale(&mut self, seq: u64, message: &Message<'_>) -> bool {
        let _ = (seq, message);
        false
    }
}

/// Hooks that accept every Logon and resend every application message.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHooks;

impl Hooks for DefaultHooks {}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No connection.
    Disconnected,
    /// Acceptor: connected, waiting for the peer's Logon.
    AwaitingLogon,
    /// Initiator: our Logon is out, waiting for the reply.
    LogonSent,
    /// Logged on.
    Active,
    /// Our Logout is out, waiting for the reply.
    LogoutSent,
}

/// What the caller does with a message it passed to [`Session::handle_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// An application message in sequence: hand it to the application now, before draining
    /// [`Session::poll_event`] (which may release messages that were held behind it).
    Deliver,
    /// The session consumed it: an admin message, a message held behind a gap, a duplicate, or
    /// a rejected message.
    Consumed,
}

/// Why [`Session::handle_fast_path`] refused a message: the checker and the session disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastPathError {
    pub seq: u64,
    pub expected: u64,
    pub state: State,
}

impl core::fmt::Display for FastPathError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "fast-path message {} while expecting {} in state {:?}",
            self.seq, self.expected, self.state
        )
    }
}

impl std::error::Error for FastPathError {}

/// Outbound bytes are generated from a resend in batches of about this size, so that answering
/// a ResendRequest streams from the store instead of rendering the whole range at once.
const RESEND_BATCH_BYTES: usize = 64 * 1024;

/// The most placeholders (answered ResendRequests held only for their numbers, a few dozen bytes
/// each) kept behind one gap: a few MiB at most, whatever the peer sends.
const MAX_PLACEHOLDERS: usize = 65_536;

/// The TestReqID we send when the line goes quiet.
const TEST_REQ_ID: &[u8] = b"TEST";

/// A FIX session, sans IO. See the crate documentation for the calling order.
#[derive(Debug)]
pub struct Session<S: MessageStore, H: Hooks = DefaultHooks> {
    pub(crate) config: SessionConfig,
    pub(crate) begin_string: &'static [u8],
    pub(crate) screen: InboundScreen,
    pub(crate) store: S,
    pub(crate) hooks: H,
    pub(crate) state: State,
    /// The connected peer's address, when the caller gave it.
    peer: Option<SocketAddr>,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) timers: TimerTable,
    test_request_outstanding: bool,
    pub(crate) hold: HoldQueue,
    pub(crate) gap: Option<Gap>,
    pub(crate) resend: Option<ResendCursor>,
    /// Bytes to send, `out[out_sent..]`.
    pub(crate) out: Vec<u8>,
    out_sent: usize,
    /// Messages created while a resend is streaming; they follow it on the wire.
    pub(crate) deferred: Vec<u8>,
    /// Where messages are encoded before being journaled and queued.
    pub(crate) scratch: Vec<u8>,
    pub(crate) events: VecDeque<Event<'static>>,
    /// The held application message last released through [`Session::poll_event`].
    released: Box<[u8]>,
    pub(crate) counters: Counters,
    /// When the current one-second window of answered ResendRequests began, and how many.
    pub(crate) resend_window: (Instant, u32),
    /// The time of the latest `handle_*` call, for work done later in `poll_*`.
    pub(crate) last_now: Now,
    pub(crate) limits: Limits,
}

impl<S: MessageStore> Session<S, DefaultHooks> {
    /// A session with [`DefaultHooks`].
    pub fn new(config: SessionConfig, store: S) -> Self {
        Session::with_hooks(config, store, DefaultHooks)
    }
}

impl<S: MessageStore, H: Hooks> Session<S, H> {
    /// A session whose application decisions are made by `hooks`.
    pub fn with_hooks(config: SessionConfig, store: S, hooks: H) -> Self {
        let limits = Limits {
            max_message_len: config.max_message_len,
            resync: config.resync,
        };
        Session {
            begin_string: config.version.begin_string().as_bytes(),
            screen: InboundScreen::new(&config, SessionDictionary::new(config.version)),
            heartbeat_interval: config.heartbeat_interval,
            scratch: vec![0; config.max_message_len + 256],
            config,
            store,
            hooks,
            state: State::Disconnected,
            peer: None,
            timers: TimerTable::default(),
            test_request_outstanding: false,
            hold: HoldQueue::default(),
            gap: None,
            resend: None,
            // Room for a resend batch and the messages queued beside it, so that the steady
            // state never grows it.
            out: Vec::with_capacity(4 * RESEND_BATCH_BYTES),
            out_sent: 0,
            deferred: Vec::new(),
            events: VecDeque::new(),
            released: Box::default(),
            counters: Counters::default(),
            resend_window: (Instant::default(), 0),
            last_now: Now::new(Instant::default(), UtcTimestamp::default()),
            limits,
        }
    }

    // ---- getters ----

    pub fn state(&self) -> State {
        self.state
    }

    /// The hooks, for an embedder that installs its checks after the session was built.
    pub fn hooks_mut(&mut self) -> &mut H {
        &mut self.hooks
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Ends the session object and hands back its store, for example to reopen it as a restarted
    /// process would.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Makes everything journaled so far durable, whatever the store's durability policy (at
    /// shutdown, say).
    pub fn flush_store(&mut self) -> Result<(), gapless_store::FlushError> {
        self.store.flush()
    }

    /// The MsgSeqNum the next inbound message should carry.
    pub fn next_target_seq(&self) -> u64 {
        self.store.next_target_seq()
    }

    /// The MsgSeqNum the next outbound message will carry.
    pub fn next_sender_seq(&self) -> u64 {
        self.store.next_sender_seq()
    }

    /// The negotiated HeartBtInt.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// Whether a gap is open.
    pub fn is_recovering(&self) -> bool {
        self.gap.is_some()
    }

    /// The decoding limits for this session's inbound bytes.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    // ---- input ----

    /// The transport is connected, from an address the caller knows: as
    /// [`Session::handle_connect`], and the address is shown to [`Hooks::accept_logon`].
    pub fn handle_connect_from(&mut self, now: Now, peer: SocketAddr) {
        self.handle_connect(now);
        self.peer = Some(peer);
    }

    /// The transport is connected. An initiator sends its Logon; an acceptor waits for one.
    pub fn handle_connect(&mut self, now: Now) {
        self.last_now = now;
        self.reset_connection_state();
        self.discard_output();
        self.peer = None;
        match self.config.role {
            Role::Initiator => {
                let reset = self.config.reset_on_logon;
                if reset && !self.reset_store() {
                    return;
                }
                self.send_logon(now, reset);
                self.state = State::LogonSent;
            }
            Role::Acceptor => self.state = State::AwaitingLogon,
        }
        self.timers.set(
            Timer::Logon,
            now.instant.saturating_add(self.config.logon_timeout),
        );
    }

    /// The transport closed.
    pub fn handle_disconnect(&mut self, now: Now) {
        self.last_now = now;
        self.discard_output();
        if self.state != State::Disconnected {
            self.reset_connection_state();
            self.state = State::Disconnected;
        }
    }

    /// Input that [`gapless_codec::decode`] found garbled. It is ignored and does not advance
    /// the expected MsgSeqNum; before logon it ends the connection without a reply.
    pub fn handle_garbled(&mut self, now: Now, garbled: &Garbled) {
        self.last_now = now;
        let _ = garbled;
        self.counters.garbled_dropped += 1;
        if self.state == State::AwaitingLogon {
            self.disconnect(DisconnectReason::InvalidLogon);
        }
    }

    /// A message whose framing holds (BodyLength and CheckSum are right, so the peer meant it as
    /// a message) but with a tag that is not a positive number, such as `0=` or `-1=`: the input
    /// [`gapless_codec::decode`] reports as garbled with `FieldSyntax(InvalidTag)`. After logon it
    /// is rejected like any invalid message (373=0, RefTagID as written) and uses its MsgSeqNum;
    /// without a readable MsgSeqNum, or before logon, it is garbled input.
    pub fn handle_invalid_tag(&mut self, now: Now, bytes: &[u8]) {
        self.last_now = now;
        let parts = LenientHeader::scan(bytes);
        let (Some(seq), Some(invalid_tag), State::Active | State::LogoutSent) =
            (parts.seq, parts.invalid_tag, self.state)
        else {
            self.counters.garbled_dropped += 1;
            if self.state == State::AwaitingLogon {
                self.disconnect(DisconnectReason::InvalidLogon);
            }
            return;
        };
        self.counters.messages_received += 1;
        self.arm_idle_timer(now);
        self.test_request_outstanding = false;
        self.consume_if_expected(seq);
        let rejected = RejectedMessage {
            seq,
            msg_type: parts.msg_type,
            route: &[],
        };
        let reason = SessionRejectReason::InvalidTagNumber;
        self.send_reject_of(
            now,
            &rejected,
            reason,
            Some(invalid_tag),
            reason.description(),
        );
    }

    /// An in-order application message that the runtime's network core checked with this
    /// session's [`InboundScreen`] and delivered itself: the session only accounts for it
    /// (expected number, idle timer, counters). The application has it, so the expected number
    /// advances even if the session has meanwhile ended. Refused, changing nothing, while a gap
    /// is open or unless the session expects exactly `seq`.
    pub fn handle_fast_path(&mut self, now: Now, seq: u64) -> Result<(), FastPathError> {
        let expected = self.store.next_target_seq();
        if self.gap.is_some() || seq != expected {
            return Err(FastPathError {
                seq,
                expected,
                state: self.state,
            });
        }
        self.last_now = now;
        self.counters.messages_received += 1;
        if matches!(self.state, State::Active | State::LogoutSent) {
            self.arm_idle_timer(now);
            self.test_request_outstanding = false;
        }
        self.advance_target(seq.saturating_add(1));
        Ok(())
    }

    /// A copy of the checks every inbound message passes, for a network core that delivers
    /// in-order application messages without the session (see [`Session::handle_fast_path`]).
    pub fn inbound_screen(&self) -> InboundScreen {
        self.screen.clone()
    }

    /// Bytes that [`gapless_codec::decode`] could not frame as a message (`bytes` is what it
    /// skipped): an invalid tag number is answered with a Reject, anything else is discarded as
    /// garbled. After it, drain [`Session::poll_event`].
    pub fn handle_frame_error(&mut self, now: Now, bytes: &[u8], garbled: &Garbled) {
        match garbled.error {
            FrameError::FieldSyntax(FieldSyntaxError::InvalidTag { .. }) => {
                self.handle_invalid_tag(now, bytes);
            }
            _ => self.handle_garbled(now, garbled),
        }
    }

    /// A message framed by [`gapless_codec::decode`]. After it, drain [`Session::poll_event`].
    pub fn handle_message(&mut self, now: Now, msg: &Message<'_>) -> Disposition {
        self.last_now = now;
        self.counters.messages_received += 1;
        match self.state {
            State::Disconnected => Disposition::Consumed,
            State::AwaitingLogon => {
                self.on_first_logon(now, msg);
                Disposition::Consumed
            }
            State::LogonSent => {
                self.on_logon_reply(now, msg);
                Disposition::Consumed
            }
            State::Active | State::LogoutSent => self.on_message(now, msg),
        }
    }

    /// Feeds raw bytes: decodes every complete message in `bytes`, handles it, and gives each
    /// application message in sequence to `deliver`, followed by the events it causes. Returns
    /// how many bytes were used; keep the rest and call again with more.
    ///
    /// This is the convenience path for simple loops and tests; the runtime calls
    /// [`Session::handle_message`] itself so that it can deliver without copying.
    pub fn handle_bytes(
        &mut self,
        now: Now,
        bytes: &[u8],
        mut on_event: impl FnMut(Event<'_>),
    ) -> usize {
        let mut used = 0;
        loop {
            match decode(&bytes[used..], &self.limits) {
                Decoded::Message(msg) => {
                    used += msg.len();
                    if self.handle_message(now, &msg) == Disposition::Deliver {
                        let seq = msg.msg_seq_num().unwrap_or(0);
                        on_event(Event::Application {
                            seq,
                            message: msg.as_bytes(),
                            received: now.instant,
                        });
                    }
                }
                Decoded::Garbled(garbled) => {
                    self.handle_frame_error(now, &bytes[used..used + garbled.skip], &garbled);
                    used += garbled.skip;
                }
                Decoded::Incomplete => return used,
            }
            while let Some(event) = self.poll_event() {
                on_event(event);
            }
            if self.state == State::Disconnected {
                return used;
            }
        }
    }

    /// Time passed: call when [`Session::poll_timeout`] is reached (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Now) {
        self.last_now = now;
        for timer in Timer::ALL {
            if !self.timers.is_due(timer, now.instant) {
                continue;
            }
            self.timers.stop(timer);
            match timer {
                Timer::Heartbeat => {
                    // While our TestRequest is unanswered the line is suspect: the next thing we
                    // send is nothing, or the disconnect.
                    if self.state == State::Active && !self.test_request_outstanding {
                        self.send_heartbeat(now, None);
                    } else if self.state == State::Active {
                        self.timers.set(
                            Timer::Heartbeat,
                            now.instant.saturating_add(self.heartbeat_interval),
                        );
                    }
                }
                Timer::Idle => self.on_idle(now),
                Timer::Logon => {
                    if matches!(self.state, State::AwaitingLogon | State::LogonSent) {
                        self.disconnect(DisconnectReason::LogonTimeout);
                    }
                }
                Timer::Logout => {
                    if self.state == State::LogoutSent {
                        self.disconnect(DisconnectReason::LogoutTimeout);
                    }
                }
                Timer::Recovery => {
                    if self.gap.is_some() {
                        let expected = self.store.next_target_seq();
                        self.request_resend(now, expected);
                    }
                }
            }
        }
    }

    /// Starts the Logout handshake.
    pub fn logout(&mut self, now: Now, text: Option<&str>) {
        self.last_now = now;
        if self.state == State::Active {
            self.send_logout(now, text);
            self.state = State::LogoutSent;
            self.timers.set(
                Timer::Logout,
                now.instant.saturating_add(self.config.logout_timeout),
            );
        }
    }

    // ---- output ----

    /// The next event, if any. Call until `None` after every `handle_*` call: held messages are
    /// released here, one per call, in MsgSeqNum order.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        loop {
            if !matches!(self.state, State::Active | State::LogoutSent) {
                return None;
            }
            let seq = self.store.next_target_seq();
            let held = self.hold.take(seq)?;
            self.note_held_count();
            if held.handled {
                self.advance_target(seq.saturating_add(1));
                self.check_recovered();
                if let Some(event) = self.events.pop_front() {
                    return Some(event);
                }
                continue;
            }
            let now = self.last_now;
            let Decoded::Message(msg) = decode(&held.bytes, &self.limits) else {
                // It decoded when it arrived; the bytes are unchanged.
                continue;
            };
            if self.on_in_sequence(now, &msg, seq) == Disposition::Deliver {
                self.check_recovered();
                self.released = held.bytes;
                if let Some(event) = self.events.pop_front() {
                    // Keep order: events the release caused come after the message.
                    self.events.push_front(event);
                }
                return Some(Event::Application {
                    seq,
                    message: &self.released,
                    received: held.received,
                });
            }
            self.check_recovered();
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
        }
    }

    /// Bytes to send, if any. After writing some of them, report how many with
    /// [`Session::transmitted`].
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        }
        if self.out.len() - self.out_sent < RESEND_BATCH_BYTES {
            self.continue_resend();
        }
        (self.out_sent < self.out.len()).then(|| &self.out[self.out_sent..])
    }

    /// `n` bytes of what [`Session::poll_transmit`] returned were written.
    pub fn transmitted(&mut self, n: usize) {
        self.out_sent = (self.out_sent + n).min(self.out.len());
    }

    /// The next time [`Session::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    // ---- inbound state machine ----

    fn on_first_logon(&mut self, now: Now, msg: &Message<'_>) {
        // Anything wrong with the first message closes the connection without a reply: a
        // peer that is not who it claims to be learns nothing.
        let acceptable = msg.msg_type() == b"A"
            && self.screen.begin_string_ok(msg)
            && self.screen.comp_ids_match(msg)
            && self.screen.sending_time_ok(now, msg)
            && self.screen.dictionary_accepts(msg).is_ok()
            && (!self.screen.dictionary().is_fixt() || msg.get(tag::DEFAULT_APPL_VER_ID).is_some())
            && msg.get_u64(tag::HEART_BT_INT).is_ok()
            && msg.msg_seq_num().is_ok()
            && self.hooks.accept_logon(msg, self.peer);
        if !acceptable {
            self.disconnect(DisconnectReason::InvalidLogon);
            return;
        }
        let peer_reset = msg.get_bool(tag::RESET_SEQ_NUM_FLAG) == Ok(true);
        if (peer_reset || self.config.reset_on_logon) && !self.reset_store() {
            return;
        }
        // A Logon below the expected number is answered with a Logout alone.
        let expected = self.store.next_target_seq();
        let seq = msg.msg_seq_num().unwrap_or(0);
        if seq < expected {
            self.too_low(now, expected, seq);
            return;
        }
        self.heartbeat_interval = Duration::from_secs(msg.get_u64(tag::HEART_BT_INT).unwrap_or(30));
        self.send_logon(now, peer_reset);
        self.complete_logon(now, msg, peer_reset);
    }

    fn on_logon_reply(&mut self, now: Now, msg: &Message<'_>) {
        let acceptable = msg.msg_type() == b"A"
            && self.screen.begin_string_ok(msg)
            && self.screen.comp_ids_match(msg)
            && msg.msg_seq_num().is_ok();
        if !acceptable {
            self.disconnect(DisconnectReason::InvalidLogon);
            return;
        }
        let reset = self.config.reset_on_logon;
        self.complete_logon(now, msg, reset);
    }

    /// Logon accepted in either role: sequence the Logon itself and go active.
    fn complete_logon(&mut self, now: Now, logon: &Message<'_>, reset: bool) {
        self.timers.stop(Timer::Logon);
        self.state = State::Active;
        self.arm_idle_timer(now);
        self.events.push_back(Event::LoggedOn { reset });
        let seq = logon.msg_seq_num().unwrap_or(0);
        let expected = self.store.next_target_seq();
        if seq < expected {
            self.too_low(now, expected, seq);
            return;
        }
        // The peer may say what it expects from us (789): resend what it missed.
        if let Ok(next_expected) = logon.get_u64(tag::NEXT_EXPECTED_MSG_SEQ_NUM) {
            let next_sender = self.store.next_sender_seq();
            if next_expected < next_sender && next_expected > 0 {
                self.start_resend(now, next_expected, next_sender - 1);
            }
        }
        if seq == expected {
            self.advance_target(seq.saturating_add(1));
        } else {
            // The Logon is handled; only its number is left to account for.
            self.hold.insert(seq, logon.as_bytes(), true, now.instant);
            self.note_held_count();
            self.open_gap(now, expected, seq);
        }
    }

    /// Every message after logon.
    fn on_message(&mut self, now: Now, msg: &Message<'_>) -> Disposition {
        self.arm_idle_timer(now);
        self.test_request_outstanding = false;
        if !self.screen.begin_string_ok(msg) {
            self.send_logout(now, Some("Incorrect BeginString"));
            self.disconnect(DisconnectReason::HeaderProblem);
            return Disposition::Consumed;
        }
        let Ok(seq) = msg.msg_seq_num() else {
            self.send_logout(now, Some("MsgSeqNum (34) missing or invalid"));
            self.disconnect(DisconnectReason::HeaderProblem);
            return Disposition::Consumed;
        };
        // The message's form is judged before what it says: a TargetCompID that is missing or
        // empty is a malformed message (Reject 373=1 or 4), not a CompID mismatch. A message the
        // dictionary rejects is not held behind a gap either: holding it would only delay the
        // same Reject.
        if let Err(rejection) = self.screen.dictionary_accepts(msg) {
            self.consume_if_expected(seq);
            self.reject_invalid(now, msg, seq, rejection);
            return Disposition::Consumed;
        }
        if !self.screen.comp_ids_match(msg) {
            self.consume_if_expected(seq);
            self.reject_header(
                now,
                msg,
                seq,
                SessionRejectReason::CompIdProblem,
                "CompID problem",
            );
            return Disposition::Consumed;
        }
        if !self.screen.sending_time_ok(now, msg) {
            self.consume_if_expected(seq);
            self.reject_header(
                now,
                msg,
                seq,
                SessionRejectReason::SendingTimeAccuracyProblem,
                "SendingTime accuracy problem",
            );
            return Disposition::Consumed;
        }
        if is_sequence_reset(msg) && msg.get_bool(tag::GAP_FILL_FLAG) != Ok(true) {
            self.on_sequence_reset(now, msg, seq);
            return Disposition::Consumed;
        }
        if msg.msg_type() == b"A" && msg.get_bool(tag::RESET_SEQ_NUM_FLAG) == Ok(true) {
            self.on_session_reset(now, msg);
            return Disposition::Consumed;
        }
        let expected = self.store.next_target_seq();
        if seq > expected && msg.msg_type() == b"5" {
            // The peer is leaving and will not resend: answer now. The expected number stays,
            // so the gap is recovered at the next logon.
            self.on_logout(now);
            return Disposition::Consumed;
        }
        if seq > expected {
            self.on_too_high(now, msg, seq, expected);
            return Disposition::Consumed;
        }
        if seq < expected {
            self.on_too_low(now, msg, seq, expected);
            return Disposition::Consumed;
        }
        let disposition = self.on_in_sequence(now, msg, seq);
        self.check_recovered();
        disposition
    }

    /// A message whose MsgSeqNum is above the expected one: a gap. Hold it and ask for the
    /// missing range, unless it is already asked for.
    fn on_too_high(&mut self, now: Now, msg: &Message<'_>, seq: u64, expected: u64) {
        // A ResendRequest is answered at once, even past a gap: if both sides are recovering
        // from each other, each must answer before it can be answered.
        let handled = msg.msg_type() == b"2";
        if handled {
            self.on_resend_request(now, msg, seq);
        }
        if !self.hold.insert(seq, msg.as_bytes(), handled, now.instant) {
            self.counters.duplicates_dropped += 1;
            return;
        }
        self.counters.messages_held += 1;
        self.note_held_count();
        if self.hold.placeholders() > MAX_PLACEHOLDERS {
            // Placeholders are small and never dropped, but a peer sending ResendRequests
            // without end during a gap must not grow them without bound either.
            self.counters.hold_overflows += 1;
            self.send_logout(now, Some("Too many ResendRequests held behind a gap"));
            self.disconnect(DisconnectReason::HoldQueueOverflow);
            return;
        }
        if self.hold_overflowed() {
            self.counters.hold_overflows += 1;
            match self.config.hold_limits.overflow {
                QueueOverflow::Disconnect => {
                    self.send_logout(now, Some("Too many messages held behind a gap"));
                    self.disconnect(DisconnectReason::HoldQueueOverflow);
                    return;
                }
                QueueOverflow::DropAndRerequest => {
                    // Everything dropped will come again: ask from the expected number onwards.
                    self.hold.drop_messages();
                    self.note_held_count();
                    if let Some(gap) = self.gap.as_mut() {
                        gap.requested_to = Some(expected.saturating_sub(1));
                    }
                }
            }
        }
        self.open_gap(now, expected, seq);
    }

    /// Records a gap up to `seq` and sends a ResendRequest for what is not yet asked for.
    fn open_gap(&mut self, now: Now, expected: u64, seq: u64) {
        match self.gap.as_mut() {
            Some(gap) => gap.highest_seen = gap.highest_seen.max(seq),
            None => {
                self.counters.gaps_detected += 1;
                self.events.push_back(Event::GapDetected {
                    begin: expected,
                    end: seq - 1,
                });
                self.gap = Some(Gap {
                    detected_at: now.instant,
                    requested_to: None,
                    answered_through: seq,
                    highest_seen: seq,
                });
                self.request_resend(now, expected);
                return;
            }
        }
        // A request to infinity covers every later gap; a chunked one may need extending.
        if let Some(gap) = self.gap
            && gap.requested_to.is_some_and(|to| to < expected)
        {
            self.request_resend(now, expected);
        }
    }

    /// Sends a ResendRequest from `begin`: to infinity, or one chunk.
    fn request_resend(&mut self, now: Now, begin: u64) {
        let end = match self.config.resend_limits.request_chunk {
            Some(chunk) if chunk > 0 => Some(begin + chunk - 1),
            _ => None,
        };
        if let Some(gap) = self.gap.as_mut() {
            gap.requested_to = end;
            gap.answered_through = end.unwrap_or(gap.highest_seen);
        }
        let end_seq_no = end.unwrap_or(self.config.infinite_end_seq_no());
        self.send_resend_request(now, begin, end_seq_no);
        self.arm_recovery_timer();
    }

    /// (Re)starts the wait for progress on the open gap; see [`Timer::Recovery`].
    fn arm_recovery_timer(&mut self) {
        if !self.heartbeat_interval.is_zero() {
            let at = self
                .last_now
                .instant
                .saturating_add(self.heartbeat_interval);
            self.timers.set(Timer::Recovery, at);
        }
    }

    /// A message at the expected MsgSeqNum: check it, count it, act on it.
    fn on_in_sequence(&mut self, now: Now, msg: &Message<'_>, seq: u64) -> Disposition {
        if msg.poss_dup() == Ok(true) && !is_sequence_reset(msg) {
            match self.check_orig_sending_time(now, msg, seq) {
                PossDupCheck::Accepted => {}
                PossDupCheck::Rejected => {
                    self.advance_target(seq.saturating_add(1));
                    return Disposition::Consumed;
                }
                PossDupCheck::Disconnected => return Disposition::Consumed,
            }
        }
        self.advance_target(seq.saturating_add(1));
        match msg.msg_type() {
            b"0" => {}
            b"1" => {
                let id = msg.get(tag::TEST_REQ_ID);
                self.send_heartbeat(now, id);
            }
            b"2" => self.on_resend_request(now, msg, seq),
            b"3" => {
                let ref_seq = msg.get_u64(tag::REF_SEQ_NUM).unwrap_or(0);
                self.events.push_back(Event::RejectReceived { ref_seq });
            }
            b"4" => self.on_gap_fill(now, msg, seq),
            b"5" => self.on_logout(now),
            b"A" => {} // a second Logon without a reset changes nothing
            _ => return Disposition::Deliver,
        }
        Disposition::Consumed
    }

    /// SequenceReset-GapFill at the expected MsgSeqNum.
    fn on_gap_fill(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        match msg.get_u64(tag::NEW_SEQ_NO) {
            Ok(new_seq) if new_seq > seq => {
                self.advance_target(new_seq);
                self.hold.purge_below(new_seq);
                self.note_held_count();
            }
            Ok(new_seq) => {
                let text = format!(
                    "Attempt to lower sequence number, invalid value NewSeqNo(36)={new_seq}"
                );
                self.send_reject(
                    now,
                    msg,
                    seq,
                    SessionRejectReason::ValueIsIncorrect,
                    Some(tag::NEW_SEQ_NO),
                    &text,
                );
            }
            Err(_) => self.reject_missing_new_seq_no(now, msg, seq),
        }
    }

    /// SequenceReset-Reset: its own MsgSeqNum does not matter.
    fn on_sequence_reset(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let expected = self.store.next_target_seq();
        match msg.get_u64(tag::NEW_SEQ_NO) {
            Ok(new_seq) if new_seq > expected => {
                self.advance_target(new_seq);
                self.hold.purge_below(new_seq);
                self.note_held_count();
                self.check_recovered();
            }
            Ok(new_seq) if new_seq == expected => {}
            // The message as a whole is refused (it would move the sequence backwards), so no
            // RefTagID, as QuickFIX-style peers expect.
            Ok(_) => {
                let reason = SessionRejectReason::ValueIsIncorrect;
                self.send_reject(now, msg, seq, reason, None, reason.description());
            }
            Err(_) => self.reject_missing_new_seq_no(now, msg, seq),
        }
    }

    /// A Logon with ResetSeqNumFlag=Y after logon: both sides start again from 1.
    fn on_session_reset(&mut self, now: Now, msg: &Message<'_>) {
        if !self.reset_store() {
            return;
        }
        self.hold.clear();
        self.gap = None;
        self.resend = None;
        self.note_held_count();
        self.send_logon(now, true);
        let seq = msg.msg_seq_num().unwrap_or(1);
        if seq == self.store.next_target_seq() {
            self.advance_target(seq.saturating_add(1));
        }
        self.events.push_back(Event::LoggedOn { reset: true });
    }

    fn on_logout(&mut self, now: Now) {
        if self.state != State::LogoutSent {
            self.send_logout(now, None);
        }
        self.disconnect(DisconnectReason::LoggedOut);
    }

    /// Nothing heard for a while: probe with a TestRequest, then give up.
    fn on_idle(&mut self, now: Now) {
        if !matches!(self.state, State::Active | State::LogoutSent) {
            return;
        }
        if self.test_request_outstanding {
            self.disconnect(DisconnectReason::HeartbeatTimeout);
            return;
        }
        self.send_test_request(now, TEST_REQ_ID);
        self.test_request_outstanding = true;
        self.timers.set(
            Timer::Idle,
            now.instant.saturating_add(self.idle_interval()),
        );
    }

    /// A message below the expected MsgSeqNum. A possible duplicate is checked and dropped. A
    /// Logout or a ResendRequest is acted on all the same (the peer is leaving, or asking for
    /// what it missed, whatever it thinks our numbers are); the expected number stays. Anything
    /// else means the peer has lost track: Logout.
    fn on_too_low(&mut self, now: Now, msg: &Message<'_>, seq: u64, expected: u64) {
        match msg.msg_type() {
            b"5" => self.on_logout(now),
            b"2" => self.on_resend_request(now, msg, seq),
            _ if msg.poss_dup() == Ok(true) => {
                if self.check_orig_sending_time(now, msg, seq) == PossDupCheck::Accepted {
                    self.counters.duplicates_dropped += 1;
                }
            }
            _ => self.too_low(now, expected, seq),
        }
    }

    /// The OrigSendingTime (122) of a possible duplicate: required, and not after SendingTime.
    fn check_orig_sending_time(&mut self, now: Now, msg: &Message<'_>, seq: u64) -> PossDupCheck {
        match msg.get_timestamp(tag::ORIG_SENDING_TIME) {
            Err(_) => {
                let reason = SessionRejectReason::RequiredTagMissing;
                let ref_tag = Some(tag::ORIG_SENDING_TIME);
                self.send_reject(now, msg, seq, reason, ref_tag, reason.description());
                PossDupCheck::Rejected
            }
            Ok(orig) if msg.sending_time().is_ok_and(|sent| orig > sent) => {
                let reason = SessionRejectReason::SendingTimeAccuracyProblem;
                self.send_reject(now, msg, seq, reason, None, reason.description());
                self.send_logout(now, None);
                self.disconnect(DisconnectReason::HeaderProblem);
                PossDupCheck::Disconnected
            }
            Ok(_) => PossDupCheck::Accepted,
        }
    }

    /// A Reject for what the dictionary found. RefTagID names a field at fault; an unknown
    /// MsgType is the whole message's fault, so it has none.
    fn reject_invalid(
        &mut self,
        now: Now,
        msg: &Message<'_>,
        seq: u64,
        rejection: gapless_dict::Rejection,
    ) {
        let ref_tag = match rejection.reason {
            SessionRejectReason::InvalidMsgType => None,
            _ => rejection.ref_tag,
        };
        let text = rejection.reason.description();
        self.send_reject(now, msg, seq, rejection.reason, ref_tag, text);
    }

    /// MsgSeqNum below the expected one without PossDupFlag: the peer has lost track. Log out.
    fn too_low(&mut self, now: Now, expected: u64, seq: u64) {
        let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
        self.send_logout(now, Some(&text));
        self.disconnect(DisconnectReason::SeqNumTooLow);
    }

    // ---- helpers ----

    /// 1.2 × HeartBtInt, the silence that prompts a TestRequest.
    fn idle_interval(&self) -> Duration {
        self.heartbeat_interval * 6 / 5
    }

    fn arm_idle_timer(&mut self, now: Now) {
        if !self.heartbeat_interval.is_zero() {
            self.timers.set(
                Timer::Idle,
                now.instant.saturating_add(self.idle_interval()),
            );
        }
    }

    fn hold_overflowed(&self) -> bool {
        let limits = &self.config.hold_limits;
        self.hold.len() > limits.max_messages || self.hold.bytes() > limits.max_bytes
    }

    pub(crate) fn note_held_count(&mut self) {
        self.counters.held_now = self.hold.len() as u64;
        self.counters.held_bytes_now = self.hold.bytes() as u64;
    }

    /// A SequenceReset without NewSeqNo (36).
    fn reject_missing_new_seq_no(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        let reason = SessionRejectReason::RequiredTagMissing;
        let text = "NewSeqNo (36) required";
        self.send_reject(now, msg, seq, reason, Some(tag::NEW_SEQ_NO), text);
    }

    /// A header the session cannot trust (CompIDs, SendingTime): Reject, Logout, disconnect.
    fn reject_header(
        &mut self,
        now: Now,
        msg: &Message<'_>,
        seq: u64,
        reason: SessionRejectReason,
        text: &str,
    ) {
        self.send_reject(now, msg, seq, reason, None, text);
        self.send_logout(now, None);
        self.disconnect(DisconnectReason::HeaderProblem);
    }

    /// A message rejected at the expected number still used that number.
    fn consume_if_expected(&mut self, seq: u64) {
        if seq == self.store.next_target_seq() {
            self.advance_target(seq.saturating_add(1));
        }
    }

    pub(crate) fn advance_target(&mut self, next: u64) {
        if self.store.set_next_target_seq(next).is_err() {
            self.disconnect(DisconnectReason::StoreFailure);
        } else if self.gap.is_some() {
            // Progress on the gap: the ResendRequest is being answered.
            self.arm_recovery_timer();
        }
    }

    /// Ends the gap once the expected number has passed everything seen and nothing is held;
    /// extends a chunked request when its chunk is done.
    fn check_recovered(&mut self) {
        let Some(gap) = self.gap else { return };
        let expected = self.store.next_target_seq();
        if self.hold.is_empty() && expected > gap.highest_seen {
            let after = self.last_now.instant.saturating_since(gap.detected_at);
            let nanos = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
            self.counters.recoveries += 1;
            self.counters.recovery_nanos_total += nanos;
            self.counters.recovery_nanos_max = self.counters.recovery_nanos_max.max(nanos);
            self.gap = None;
            self.timers.stop(Timer::Recovery);
            self.events.push_back(Event::Recovered { after });
        } else if expected > gap.answered_through && !self.hold.contains(expected) {
            // What was asked for has arrived and the next number is still missing.
            let now = self.last_now;
            self.request_resend(now, expected);
        }
    }

    /// Sequence reset: both numbers back to 1. False (and disconnected) if the store failed.
    fn reset_store(&mut self) -> bool {
        if self.store.reset().is_err() {
            self.disconnect(DisconnectReason::StoreFailure);
            return false;
        }
        true
    }

    /// Forgets everything that belongs to one connection.
    fn reset_connection_state(&mut self) {
        self.timers.stop_all();
        self.test_request_outstanding = false;
        self.hold.clear();
        self.gap = None;
        self.resend = None;
        self.note_held_count();
        self.deferred.clear();
        self.heartbeat_interval = self.config.heartbeat_interval;
    }

    /// Drops bytes queued for a connection that is gone: they must never reach the next one (a
    /// Logout that did not make it out would otherwise open the next connection).
    fn discard_output(&mut self) {
        self.out.clear();
        self.out_sent = 0;
    }

    /// Ends the session: queued bytes may still be sent, then the caller closes the connection.
    pub(crate) fn disconnect(&mut self, reason: DisconnectReason) {
        if self.state == State::Disconnected {
            return;
        }
        self.reset_connection_state();
        self.state = State::Disconnected;
        let _ = self.store.flush();
        self.events.push_back(Event::Disconnect(reason));
    }

    /// Whether the peer's version has SessionRejectReason value `code` (FIX.4.2 knows 0 to 11,
    /// FIX.4.3 and later more; FIX.4.0 and 4.1 have no 373 at all).
    pub(crate) fn version_has_reject_reason(&self, code: u32) -> bool {
        let mut digits = [0u8; 20];
        let len = gapless_codec::value::write_u64(u64::from(code), &mut digits);
        self.config.version > Version::Fix41
            && self
                .screen
                .dictionary()
                .transport()
                .is_allowed_value(tag::SESSION_REJECT_REASON, &digits[20 - len..])
                .unwrap_or(false)
    }
}

/// What can be read from a message whose fields do not all parse: MsgSeqNum, MsgType and the
/// first tag that is not a positive number, as written.
#[derive(Debug, Default)]
struct LenientHeader<'a> {
    seq: Option<u64>,
    msg_type: &'a [u8],
    invalid_tag: Option<&'a [u8]>,
}

impl<'a> LenientHeader<'a> {
    fn scan(bytes: &'a [u8]) -> Self {
        let mut parts = LenientHeader::default();
        for field in bytes.split(|&b| b == SOH) {
            let Some(equals) = field.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (tag_text, value) = (&field[..equals], &field[equals + 1..]);
            if tag_text.is_empty() {
                // Nothing to quote in RefTagID.
                continue;
            }
            match parse_tag(tag_text) {
                Some(tag::MSG_SEQ_NUM) => {
                    parts.seq = core::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse().ok());
                }
                Some(tag::MSG_TYPE) => parts.msg_type = value,
                Some(_) => {}
                None => {
                    parts.invalid_tag.get_or_insert(tag_text);
                }
            }
        }
        parts
    }
}

/// A tag as FIX writes it: a positive number without a leading zero.
fn parse_tag(text: &[u8]) -> Option<u32> {
    if text.first().is_none_or(|&b| b == b'0') || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(text).ok()?.parse().ok()
}

/// The outcome of the OrigSendingTime check of a possible duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PossDupCheck {
    Accepted,
    /// Rejected; the session goes on.
    Rejected,
    /// Rejected, logged out and disconnected.
    Disconnected,
}

fn is_sequence_reset(msg: &Message<'_>) -> bool {
    msg.msg_type() == b"4"
}
