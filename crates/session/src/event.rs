//! What the session tells the application, and the counters it keeps.

use core::fmt;
use core::time::Duration;

use crate::time::Instant;

/// Something the application should know or act on. Returned by
/// [`Session::poll_event`](crate::Session::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// The Logon handshake completed; `reset` says whether sequence numbers started over.
    LoggedOn { reset: bool },
    /// An application message that had been held behind a gap, released in MsgSeqNum order;
    /// `received` is the `now` it arrived with.
    Application {
        seq: u64,
        message: &'a [u8],
        received: Instant,
    },
    /// A gap opened: messages `begin..=end` are missing (`end` is the last one seen minus one)
    /// and a ResendRequest went out.
    GapDetected { begin: u64, end: u64 },
    /// Every gap is filled and every held message released.
    Recovered { after: Duration },
    /// The session sent a Reject (35=3) for the peer's message `ref_seq`.
    RejectSent { ref_seq: u64, reason: u32 },
    /// The peer rejected our message `ref_seq` (35=3).
    RejectReceived { ref_seq: u64 },
    /// The session is over: close the connection. No more bytes will be queued.
    Disconnect(DisconnectReason),
}

/// Why the session ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The Logout handshake completed.
    LoggedOut,
    /// The first message was not an acceptable Logon (wrong type, BeginString, CompIDs, time,
    /// garbled, or refused by the application). Nothing was sent.
    InvalidLogon,
    /// No Logon, or no answer to ours, within the logon timeout.
    LogonTimeout,
    /// The peer did not answer our Logout in time.
    LogoutTimeout,
    /// Nothing received for too long, even after a TestRequest.
    HeartbeatTimeout,
    /// MsgSeqNum lower than expected without PossDupFlag.
    SeqNumTooLow,
    /// BeginString, CompID or SendingTime did not match after logon.
    HeaderProblem,
    /// The hold queue overflowed with the `Disconnect` policy.
    HoldQueueOverflow,
    /// The store failed; the session cannot keep its guarantees.
    StoreFailure,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DisconnectReason::LoggedOut => "logged out",
            DisconnectReason::InvalidLogon => "invalid logon",
            DisconnectReason::LogonTimeout => "logon timeout",
            DisconnectReason::LogoutTimeout => "logout timeout",
            DisconnectReason::HeartbeatTimeout => "heartbeat timeout",
            DisconnectReason::SeqNumTooLow => "MsgSeqNum too low",
            DisconnectReason::HeaderProblem => "header problem",
            DisconnectReason::HoldQueueOverflow => "hold queue overflow",
            DisconnectReason::StoreFailure => "store failure",
        })
    }
}

/// Per-session counters, plain integers the runtime copies into shared memory for `gapless stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Counters {
    pub messages_received: u64,
    pub messages_sent: u64,
    pub gaps_detected: u64,
    pub resend_requests_sent: u64,
    pub resend_requests_answered: u64,
    pub resend_requests_throttled: u64,
    pub messages_resent: u64,
    pub gap_fills_sent: u64,
    pub messages_held: u64,
    pub held_now: u64,
    pub held_bytes_now: u64,
    pub hold_overflows: u64,
    pub duplicates_dropped: u64,
    pub garbled_dropped: u64,
    pub rejects_sent: u64,
    pub recoveries: u64,
    /// Total and worst time from a gap's detection to the release of the last held message.
    pub recovery_nanos_total: u64,
    pub recovery_nanos_max: u64,
}
