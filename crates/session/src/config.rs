//! What a session is configured with. The runtime fills this from the TOML configuration.

use core::time::Duration;

use gapless_codec::Resync;
use gapless_codec::value::TimePrecision;
use gapless_dict::{ValidationOptions, Version};

/// Which side opens the connection and sends the first Logon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Acceptor,
}

/// What to do when the messages held during a gap exceed their bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOverflow {
    /// Drop every held message and ask for everything from the expected MsgSeqNum again: memory
    /// stays bounded and nothing is lost, at the cost of a larger resend.
    DropAndRerequest,
    /// Log out and disconnect: recovery resumes at the next logon.
    Disconnect,
}

/// Bounds on the messages held while a gap is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub overflow: QueueOverflow,
}

impl Default for HoldLimits {
    fn default() -> Self {
        HoldLimits {
            max_messages: 100_000,
            max_bytes: 64 << 20,
            overflow: QueueOverflow::DropAndRerequest,
        }
    }
}

/// Bounds on how the session answers the peer's ResendRequests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendLimits {
    /// At most this many ResendRequests are answered per second; more are counted and ignored, so
    /// a peer stuck in a loop cannot make us replay the journal without end.
    pub max_requests_per_second: u32,
    /// When set, our own ResendRequests ask for at most this many messages at a time, and the
    /// next range once the previous one has arrived.
    pub request_chunk: Option<u64>,
}

impl Default for ResendLimits {
    fn default() -> Self {
        ResendLimits {
            max_requests_per_second: 100,
            request_chunk: None,
        }
    }
}

/// The Username (553) and Password (554) we send in our Logon. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct LogonCredentials {
    pub username: String,
    pub password: String,
}

impl core::fmt::Debug for LogonCredentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LogonCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A session's configuration.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// FIX.4.0 to FIX.4.4, or FIX.5.0/SP1/SP2 over FIXT.1.1 (sent as DefaultApplVerID, 1137).
    pub version: Version,
    pub role: Role,
    pub sender_comp_id: String,
    pub target_comp_id: String,
    /// The HeartBtInt an initiator proposes; an acceptor takes the peer's.
    pub heartbeat_interval: Duration,
    /// How long to wait for the Logon (acceptor) or the Logon reply (initiator).
    pub logon_timeout: Duration,
    /// How long to wait for the reply to our Logout before disconnecting.
    pub logout_timeout: Duration,
    /// Start both sequence numbers at 1 on every logon, and say so with ResetSeqNumFlag (141=Y).
    pub reset_on_logon: bool,
    /// Send NextExpectedMsgSeqNum (789) on Logon (FIX.4.4 and FIXT.1.1).
    pub send_next_expected_msg_seq_num: bool,
    /// Reject messages whose SendingTime differs from ours by more than this (373=10).
    pub max_sending_time_skew: Option<Duration>,
    /// Reject messages whose SenderCompID or TargetCompID do not match (373=9).
    pub check_comp_ids: bool,
    /// Validate every message against the data dictionary; `None` turns the dictionary off.
    pub validation: Option<ValidationOptions>,
    /// Precision of the SendingTime we write. FIX.4.0 and 4.1 allow only seconds, whatever this
    /// says.
    pub time_precision: TimePrecision,
    pub hold_limits: HoldLimits,
    pub resend_limits: ResendLimits,
    /// The largest message accepted from the peer.
    pub max_message_len: usize,
    /// Where decoding resumes after a message with a wrong BodyLength.
    pub resync: Resync,
    /// Username and Password to send in our Logon (initiators, usually); `None` sends neither.
    /// The Logon is journaled like every message we send, so the store holds them too.
    pub logon_credentials: Option<LogonCredentials>,
}

impl SessionConfig {
    /// A configuration with the usual defaults: 30 s heartbeats, 10 s logon and 2 s logout
    /// timeouts, 120 s SendingTime tolerance, CompID checks and full validation.
    pub fn new(
        version: Version,
        role: Role,
        sender_comp_id: impl Into<String>,
        target_comp_id: impl Into<String>,
    ) -> Self {
        SessionConfig {
            version,
            role,
            sender_comp_id: sender_comp_id.into(),
            target_comp_id: target_comp_id.into(),
            heartbeat_interval: Duration::from_secs(30),
            logon_timeout: Duration::from_secs(10),
            logout_timeout: Duration::from_secs(2),
            reset_on_logon: false,
            send_next_expected_msg_seq_num: false,
            max_sending_time_skew: Some(Duration::from_secs(120)),
            check_comp_ids: true,
            validation: Some(ValidationOptions::default()),
            time_precision: TimePrecision::Millis,
            hold_limits: HoldLimits::default(),
            resend_limits: ResendLimits::default(),
            max_message_len: 64 * 1024,
            resync: Resync::NextBeginString,
            logon_credentials: None,
        }
    }

    /// The SendingTime precision this version allows.
    pub(crate) fn effective_time_precision(&self) -> TimePrecision {
        if self.version <= Version::Fix41 {
            TimePrecision::Seconds
        } else {
            self.time_precision
        }
    }

    /// EndSeqNo (16) meaning "everything after BeginSeqNo": 999999 in FIX.4.0 and 4.1, 0 later.
    pub(crate) fn infinite_end_seq_no(&self) -> u64 {
        if self.version <= Version::Fix41 {
            999_999
        } else {
            0
        }
    }
}
