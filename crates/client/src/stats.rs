//! The live counters block: written by the gateway with plain stores, read by `gapless stat`
//! from another process without disturbing the writer.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::path::{Path, PathBuf};

use crate::channel::Shared;

/// Where the session is, as the gateway last published it (a `u64` code in the counters block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// No connection (code 0; also a channel no gateway has written to).
    Disconnected,
    /// Initiator: connecting (1).
    Connecting,
    /// Acceptor: connected, waiting for the peer's Logon (2).
    AwaitingLogon,
    /// Initiator: Logon sent, waiting for the reply (3).
    LogonSent,
    /// Logged on, in sequence (4).
    Active,
    /// Logged on, recovering a gap: later messages are held (5).
    Recovering,
    /// Logout sent, waiting for the reply (6).
    LogoutSent,
    /// A code this version does not know.
    Other(u64),
}

impl SessionState {
    /// The code in the counters block.
    pub const fn code(self) -> u64 {
        match self {
            SessionState::Disconnected => 0,
            SessionState::Connecting => 1,
            SessionState::AwaitingLogon => 2,
            SessionState::LogonSent => 3,
            SessionState::Active => 4,
            SessionState::Recovering => 5,
            SessionState::LogoutSent => 6,
            SessionState::Other(code) => code,
        }
    }

    /// The state a code stands for.
    pub const fn from_code(code: u64) -> SessionState {
        match code {
            0 => SessionState::Disconnected,
            1 => SessionState::Connecting,
            2 => SessionState::AwaitingLogon,
            3 => SessionState::LogonSent,
            4 => SessionState::Active,
            5 => SessionState::Recovering,
            6 => SessionState::LogoutSent,
            other => SessionState::Other(other),
        }
    }
}

/// A counter the gateway adds to. The discriminant is the counter's index in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Messages received from the counterparty, admin ones included.
    MessagesIn = 1,
    /// Messages sent to the counterparty, admin ones included.
    MessagesOut = 2,
    /// Application messages written to the application's ring (counted by
    /// [`GatewayEnd::try_deliver`](crate::GatewayEnd::try_deliver) itself).
    AppDelivered = 3,
    /// Gaps found in the inbound sequence.
    GapsDetected = 4,
    /// ResendRequests sent.
    ResendRequestsSent = 5,
    /// ResendRequests from the counterparty answered.
    ResendRequestsAnswered = 6,
}

/// Indices of the values that are not simple counters.
const STATE: usize = 0;
/// Messages held behind a gap now (a level, not a count).
const HELD: usize = 7;
const RECOVERIES: usize = 8;
const LAST_RECOVERY_NANOS: usize = 9;
const MAX_RECOVERY_NANOS: usize = 10;
const UPDATED_NANOS: usize = 11;

/// Bytes kept for the session name; longer names are cut.
pub const SESSION_NAME_LEN: usize = 64;
/// Bytes kept for each CompID; longer ones are cut.
pub const COMP_ID_LEN: usize = 32;

/// The counters block, at [`COUNTERS_OFFSET`](crate::COUNTERS_OFFSET): 384 bytes.
#[repr(C)]
pub(crate) struct Counters {
    /// 0 state, 1..=6 [`Counter`]s, 7 held, 8 recoveries, 9 last and 10 max recovery time in
    /// nanoseconds, 11 last update time (the gateway's clock, nanoseconds), 12..16 reserved.
    values: [AtomicU64; 16],
    session_name: [AtomicU8; SESSION_NAME_LEN],
    sender_comp_id: [AtomicU8; COMP_ID_LEN],
    target_comp_id: [AtomicU8; COMP_ID_LEN],
    reserved: [AtomicU64; 16],
}

const _: () = assert!(size_of::<Counters>() == 384);
const _: () = assert!(core::mem::offset_of!(Counters, session_name) == 128);
const _: () = assert!(core::mem::offset_of!(Counters, sender_comp_id) == 192);
const _: () = assert!(core::mem::offset_of!(Counters, target_comp_id) == 224);

fn store_name(dst: &[AtomicU8], name: &[u8]) {
    let name = &name[..name.len().min(dst.len())];
    for (i, slot) in dst.iter().enumerate() {
        slot.store(name.get(i).copied().unwrap_or(0), Ordering::Relaxed);
    }
}

fn load_name<const N: usize>(src: &[AtomicU8; N]) -> Name<N> {
    let mut name = Name { bytes: [0; N] };
    for (dst, src) in name.bytes.iter_mut().zip(src) {
        *dst = src.load(Ordering::Relaxed);
    }
    name
}

/// A fixed-size, zero-padded name from the counters block.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> Name<N> {
    /// The name without its padding.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.bytes.iter().position(|&b| b == 0).unwrap_or(N);
        &self.bytes[..len]
    }
}

impl<const N: usize> core::fmt::Debug for Name<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The gateway's handle on the counters block. Every value has one writing thread (the one the
/// runtime gives it), so updates are a load and a store, not a locked read-modify-write.
#[derive(Debug, Clone)]
pub struct StatsWriter {
    shared: Shared,
}

impl StatsWriter {
    pub(crate) fn new(shared: Shared) -> Self {
        StatsWriter { shared }
    }

    fn value(&self, index: usize) -> &AtomicU64 {
        &self.shared.counters().values[index]
    }

    fn bump(&self, index: usize, n: u64) {
        let value = self.value(index);
        value.store(
            value.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Adds `n` to a counter.
    pub fn add(&self, counter: Counter, n: u64) {
        self.bump(counter as usize, n);
    }

    /// Publishes the session state.
    pub fn set_state(&self, state: SessionState) {
        self.value(STATE).store(state.code(), Ordering::Release);
    }

    /// Publishes how many messages are held behind a gap now.
    pub fn set_held(&self, held: u64) {
        self.value(HELD).store(held, Ordering::Relaxed);
    }

    /// Records a completed gap recovery that took `nanos`.
    pub fn record_recovery(&self, nanos: u64) {
        self.bump(RECOVERIES, 1);
        self.value(LAST_RECOVERY_NANOS)
            .store(nanos, Ordering::Relaxed);
        let max = self.value(MAX_RECOVERY_NANOS);
        if nanos > max.load(Ordering::Relaxed) {
            max.store(nanos, Ordering::Relaxed);
        }
    }

    /// Publishes the time of this update (the gateway's clock, nanoseconds): a reader sees
    /// everything stored before it.
    pub fn touch(&self, now_nanos: u64) {
        self.value(UPDATED_NANOS)
            .store(now_nanos, Ordering::Release);
    }

    /// Writes the session name and CompIDs (cut to [`SESSION_NAME_LEN`] and [`COMP_ID_LEN`]).
    pub fn set_identity(&self, session_name: &[u8], sender_comp_id: &[u8], target_comp_id: &[u8]) {
        let counters = self.shared.counters();
        store_name(&counters.session_name, session_name);
        store_name(&counters.sender_comp_id, sender_comp_id);
        store_name(&counters.target_comp_id, target_comp_id);
    }
}

/// The counters as read at one moment. Each value is read once, so values written at nearly the
/// same time may come from either side of an update (as with aeron-stat): fine for monitoring,
/// not for arithmetic across values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub state: SessionState,
    pub messages_in: u64,
    pub messages_out: u64,
    pub app_delivered: u64,
    pub gaps_detected: u64,
    pub resend_requests_sent: u64,
    pub resend_requests_answered: u64,
    pub held: u64,
    pub recoveries: u64,
    pub last_recovery_nanos: u64,
    pub max_recovery_nanos: u64,
    pub updated_nanos: u64,
    /// Bytes written to the application's ring and not yet consumed.
    pub to_app_pending: u64,
    /// Bytes the application wrote and the gateway has not yet taken.
    pub from_app_pending: u64,
    pub session_name: Name<SESSION_NAME_LEN>,
    pub sender_comp_id: Name<COMP_ID_LEN>,
    pub target_comp_id: Name<COMP_ID_LEN>,
}

impl StatsSnapshot {
    pub(crate) fn read(shared: &Shared) -> StatsSnapshot {
        let counters = shared.counters();
        // The update time first, with acquire: the values after it are at least that recent.
        let updated_nanos = counters.values[UPDATED_NANOS].load(Ordering::Acquire);
        let value = |index: usize| counters.values[index].load(Ordering::Relaxed);
        StatsSnapshot {
            state: SessionState::from_code(counters.values[STATE].load(Ordering::Acquire)),
            messages_in: value(Counter::MessagesIn as usize),
            messages_out: value(Counter::MessagesOut as usize),
            app_delivered: value(Counter::AppDelivered as usize),
            gaps_detected: value(Counter::GapsDetected as usize),
            resend_requests_sent: value(Counter::ResendRequestsSent as usize),
            resend_requests_answered: value(Counter::ResendRequestsAnswered as usize),
            held: value(HELD),
            recoveries: value(RECOVERIES),
            last_recovery_nanos: value(LAST_RECOVERY_NANOS),
            max_recovery_nanos: value(MAX_RECOVERY_NANOS),
            updated_nanos,
            to_app_pending: shared.pending(crate::channel::Direction::ToApp),
            from_app_pending: shared.pending(crate::channel::Direction::FromApp),
            session_name: load_name(&counters.session_name),
            sender_comp_id: load_name(&counters.sender_comp_id),
            target_comp_id: load_name(&counters.target_comp_id),
        }
    }
}

/// The channel files (`*.chan`) in `dir`, sorted by name; for `gapless stat`.
pub fn list_channels(dir: impl AsRef<Path>) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|ext| ext == crate::CHANNEL_EXTENSION)
            && path.is_file()
        {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}
