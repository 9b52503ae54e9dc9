//! The record encodings of both rings: a fixed little-endian header, then bytes. The crate doc
//! has the tables; this module is their one implementation.

use core::fmt;

/// Bytes before the variable part of a gateway-to-application record.
pub const INBOUND_HEADER_LEN: usize = 16;
/// Bytes before the message in an application record: the header, then the time it was read.
pub const APPLICATION_HEADER_LEN: usize = INBOUND_HEADER_LEN + 8;
/// Bytes before the MsgType of an application-to-gateway record.
pub const OUTBOUND_HEADER_LEN: usize = 8;
/// The longest MsgType an application may send.
pub const MAX_MSG_TYPE_LEN: usize = 16;
/// The longest reason text a LoggedOut or Disconnected event carries; longer text is cut.
pub const MAX_REASON_TEXT_LEN: usize = 120;

const KIND_APPLICATION: u8 = 1;
const KIND_LOGGED_ON: u8 = 2;
const KIND_GAP_DETECTED: u8 = 3;
const KIND_RECOVERED: u8 = 4;
const KIND_LOGGED_OUT: u8 = 5;
const KIND_DISCONNECTED: u8 = 6;

const KIND_SEND: u8 = 1;
const KIND_LOGOUT: u8 = 2;

/// Why a session ended, as carried by [`SessionEvent::LoggedOut`] and
/// [`SessionEvent::Disconnected`] (one byte on the ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The application or the operator asked (code 1).
    Requested,
    /// The counterparty sent Logout first (2).
    PeerLogout,
    /// No heartbeat or TestRequest answer in time (3).
    Timeout,
    /// The Logon was refused or its reply never came (4).
    LogonRejected,
    /// MsgSeqNum lower than expected without PossDupFlag, or another fatal session error (5).
    ProtocolError,
    /// The connection closed or failed (6).
    TransportClosed,
    /// The gateway is stopping (7).
    Shutdown,
    /// A code this version does not know.
    Other(u8),
}

impl Reason {
    /// The byte on the ring.
    pub const fn code(self) -> u8 {
        match self {
            Reason::Requested => 1,
            Reason::PeerLogout => 2,
            Reason::Timeout => 3,
            Reason::LogonRejected => 4,
            Reason::ProtocolError => 5,
            Reason::TransportClosed => 6,
            Reason::Shutdown => 7,
            Reason::Other(code) => code,
        }
    }

    /// The reason a byte on the ring stands for.
    pub const fn from_code(code: u8) -> Reason {
        match code {
            1 => Reason::Requested,
            2 => Reason::PeerLogout,
            3 => Reason::Timeout,
            4 => Reason::LogonRejected,
            5 => Reason::ProtocolError,
            6 => Reason::TransportClosed,
            7 => Reason::Shutdown,
            other => Reason::Other(other),
        }
    }
}

/// A change in the session the application should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent<'a> {
    /// Logon completed; `reset` if sequence numbers were reset (ResetSeqNumFlag).
    LoggedOn { reset: bool },
    /// Messages `begin..=end` are missing; messages after them are held until they arrive.
    GapDetected { begin: u64, end: u64 },
    /// The gap is filled and held messages are released, `after_nanos` after it was detected.
    Recovered { after_nanos: u64 },
    /// The session logged out.
    LoggedOut { reason: Reason, text: &'a [u8] },
    /// The connection ended without a Logout exchange.
    Disconnected { reason: Reason, text: &'a [u8] },
}

/// One record from the gateway. `seq` is the inbound MsgSeqNum the session had reached when the
/// gateway wrote the record: an application message's own MsgSeqNum, or for an event the last
/// inbound MsgSeqNum accounted for (the Logon's for `LoggedOn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundRecord<'a> {
    /// An application message, the whole of it as received (`8=...` to `10=nnn<SOH>`),
    /// in MsgSeqNum order with no gaps and no duplicates. `received_nanos` is when the gateway
    /// read its last byte from the network, on the host's monotonic clock
    /// ([`monotonic_nanos`](crate::monotonic_nanos)); for a message held behind a gap, when it
    /// first arrived.
    Application {
        seq: u64,
        received_nanos: u64,
        message: &'a [u8],
    },
    /// A session event.
    Event { seq: u64, event: SessionEvent<'a> },
}

impl InboundRecord<'_> {
    /// The inbound MsgSeqNum this record carries.
    pub fn seq(&self) -> u64 {
        match *self {
            InboundRecord::Application { seq, .. } | InboundRecord::Event { seq, .. } => seq,
        }
    }
}

/// One record from the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundRecord<'a> {
    /// Send a message of type `msg_type` with these body fields (`tag=value<SOH>...`, no header
    /// or trailer): the gateway stamps 8, 9, 34, 35, 49, 52, 56 and 10.
    Send { msg_type: &'a [u8], body: &'a [u8] },
    /// Log the session out, with an optional Text(58).
    Logout { text: &'a [u8] },
}

/// A record whose bytes do not follow the encoding: written by a peer of another version or a
/// buggy one. It is consumed (skipped) when reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Shorter than its kind's fixed part.
    Truncated { len: usize },
    /// A kind byte this version does not know.
    UnknownKind(u8),
    /// A fixed-size kind with extra bytes, or a length field beyond the record.
    BadLength { kind: u8, len: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { len } => write!(f, "record of {len} bytes is truncated"),
            RecordError::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            RecordError::BadLength { kind, len } => {
                write!(f, "record kind {kind} cannot be {len} bytes long")
            }
        }
    }
}

impl std::error::Error for RecordError {}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The length of the inbound record for `event`.
pub(crate) fn event_len(event: &SessionEvent<'_>) -> usize {
    INBOUND_HEADER_LEN
        + match event {
            SessionEvent::LoggedOn { .. } => 0,
            SessionEvent::GapDetected { .. } => 16,
            SessionEvent::Recovered { .. } => 8,
            SessionEvent::LoggedOut { text, .. } | SessionEvent::Disconnected { text, .. } => {
                text.len().min(MAX_REASON_TEXT_LEN)
            }
        }
}

fn put_inbound_header(dst: &mut [u8], kind: u8, flag: u8, seq: u64) {
    dst[0] = kind;
    dst[1] = flag;
    dst[2..8].fill(0);
    dst[8..16].copy_from_slice(&seq.to_le_bytes());
}

/// Writes an application message record into `dst`, which is exactly
/// `APPLICATION_HEADER_LEN + message.len()` bytes.
pub(crate) fn encode_application(dst: &mut [u8], seq: u64, received_nanos: u64, message: &[u8]) {
    put_inbound_header(dst, KIND_APPLICATION, 0, seq);
    dst[INBOUND_HEADER_LEN..APPLICATION_HEADER_LEN].copy_from_slice(&received_nanos.to_le_bytes());
    dst[APPLICATION_HEADER_LEN..].copy_from_slice(message);
}

/// Writes an event record into `dst`, which is exactly [`event_len`] bytes.
pub(crate) fn encode_event(dst: &mut [u8], seq: u64, event: &SessionEvent<'_>) {
    let (head, rest) = dst.split_at_mut(INBOUND_HEADER_LEN);
    match *event {
        SessionEvent::LoggedOn { reset } => {
            put_inbound_header(head, KIND_LOGGED_ON, u8::from(reset), seq);
        }
        SessionEvent::GapDetected { begin, end } => {
            put_inbound_header(head, KIND_GAP_DETECTED, 0, seq);
            rest[..8].copy_from_slice(&begin.to_le_bytes());
            rest[8..16].copy_from_slice(&end.to_le_bytes());
        }
        SessionEvent::Recovered { after_nanos } => {
            put_inbound_header(head, KIND_RECOVERED, 0, seq);
            rest.copy_from_slice(&after_nanos.to_le_bytes());
        }
        SessionEvent::LoggedOut { reason, text } => {
            put_inbound_header(head, KIND_LOGGED_OUT, reason.code(), seq);
            rest.copy_from_slice(&text[..rest.len()]);
        }
        SessionEvent::Disconnected { reason, text } => {
            put_inbound_header(head, KIND_DISCONNECTED, reason.code(), seq);
            rest.copy_from_slice(&text[..rest.len()]);
        }
    }
}

/// Reads a gateway-to-application record.
pub fn decode_inbound(bytes: &[u8]) -> Result<InboundRecord<'_>, RecordError> {
    if bytes.len() < INBOUND_HEADER_LEN {
        return Err(RecordError::Truncated { len: bytes.len() });
    }
    let (kind, flag, seq) = (bytes[0], bytes[1], u64_at(bytes, 8));
    let rest = &bytes[INBOUND_HEADER_LEN..];
    let fixed = |len: usize| {
        if rest.len() == len {
            Ok(())
        } else {
            Err(RecordError::BadLength {
                kind,
                len: bytes.len(),
            })
        }
    };
    let event = match kind {
        KIND_APPLICATION => {
            if bytes.len() <= APPLICATION_HEADER_LEN {
                return Err(RecordError::BadLength {
                    kind,
                    len: bytes.len(),
                });
            }
            return Ok(InboundRecord::Application {
                seq,
                received_nanos: u64_at(rest, 0),
                message: &bytes[APPLICATION_HEADER_LEN..],
            });
        }
        KIND_LOGGED_ON => {
            fixed(0)?;
            SessionEvent::LoggedOn { reset: flag != 0 }
        }
        KIND_GAP_DETECTED => {
            fixed(16)?;
            SessionEvent::GapDetected {
                begin: u64_at(rest, 0),
                end: u64_at(rest, 8),
            }
        }
        KIND_RECOVERED => {
            fixed(8)?;
            SessionEvent::Recovered {
                after_nanos: u64_at(rest, 0),
            }
        }
        KIND_LOGGED_OUT | KIND_DISCONNECTED if rest.len() > MAX_REASON_TEXT_LEN => {
            return Err(RecordError::BadLength {
                kind,
                len: bytes.len(),
            });
        }
        KIND_LOGGED_OUT => SessionEvent::LoggedOut {
            reason: Reason::from_code(flag),
            text: rest,
        },
        KIND_DISCONNECTED => SessionEvent::Disconnected {
            reason: Reason::from_code(flag),
            text: rest,
        },
        other => return Err(RecordError::UnknownKind(other)),
    };
    Ok(InboundRecord::Event { seq, event })
}

/// Writes the fixed part of a Send record, with `msg_type` (checked by the caller to be 1 to
/// [`MAX_MSG_TYPE_LEN`] bytes), into the front of `dst`; returns where the body starts.
pub(crate) fn encode_send_header(dst: &mut [u8], msg_type: &[u8]) -> usize {
    dst[0] = KIND_SEND;
    dst[1] = msg_type.len() as u8;
    dst[2..OUTBOUND_HEADER_LEN].fill(0);
    let body = OUTBOUND_HEADER_LEN + msg_type.len();
    dst[OUTBOUND_HEADER_LEN..body].copy_from_slice(msg_type);
    body
}

/// Writes a Logout record into `dst`, which is exactly `OUTBOUND_HEADER_LEN + text.len()` bytes.
pub(crate) fn encode_logout(dst: &mut [u8], text: &[u8]) {
    dst[0] = KIND_LOGOUT;
    dst[1..OUTBOUND_HEADER_LEN].fill(0);
    dst[OUTBOUND_HEADER_LEN..].copy_from_slice(text);
}

/// Reads an application-to-gateway record.
pub fn decode_outbound(bytes: &[u8]) -> Result<OutboundRecord<'_>, RecordError> {
    if bytes.len() < OUTBOUND_HEADER_LEN {
        return Err(RecordError::Truncated { len: bytes.len() });
    }
    let kind = bytes[0];
    let rest = &bytes[OUTBOUND_HEADER_LEN..];
    match kind {
        KIND_SEND => {
            let msg_type_len = usize::from(bytes[1]);
            if msg_type_len == 0 || msg_type_len > MAX_MSG_TYPE_LEN || msg_type_len > rest.len() {
                return Err(RecordError::BadLength {
                    kind,
                    len: bytes.len(),
                });
            }
            let (msg_type, body) = rest.split_at(msg_type_len);
            Ok(OutboundRecord::Send { msg_type, body })
        }
        KIND_LOGOUT => Ok(OutboundRecord::Logout { text: rest }),
        other => Err(RecordError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inbound_bytes(seq: u64, event: &SessionEvent<'_>) -> Vec<u8> {
        let mut bytes = vec![0xAA; event_len(event)];
        encode_event(&mut bytes, seq, event);
        bytes
    }

    #[test]
    fn application_record_layout_is_as_documented() {
        let mut bytes = vec![0xAA; APPLICATION_HEADER_LEN + 3];
        encode_application(&mut bytes, 0x0102, 0x0304, b"8=F");
        assert_eq!(
            bytes,
            b"\x01\0\0\0\0\0\0\0\x02\x01\0\0\0\0\0\0\x04\x03\0\0\0\0\0\08=F".to_vec()
        );
    }

    #[test]
    fn application_record_without_a_message_is_an_error() {
        let mut bytes = vec![0xAA; APPLICATION_HEADER_LEN + 1];
        encode_application(&mut bytes, 1, 2, b"8");
        for len in [
            INBOUND_HEADER_LEN,
            INBOUND_HEADER_LEN + 4,
            APPLICATION_HEADER_LEN,
        ] {
            assert_eq!(
                decode_inbound(&bytes[..len]),
                Err(RecordError::BadLength {
                    kind: KIND_APPLICATION,
                    len
                })
            );
        }
    }

    #[test]
    fn logged_out_text_is_cut_to_the_maximum() {
        let text = [b'x'; 200];
        let event = SessionEvent::LoggedOut {
            reason: Reason::PeerLogout,
            text: &text,
        };
        let bytes = inbound_bytes(9, &event);
        assert_eq!(bytes.len(), INBOUND_HEADER_LEN + MAX_REASON_TEXT_LEN);
        assert_eq!(
            decode_inbound(&bytes),
            Ok(InboundRecord::Event {
                seq: 9,
                event: SessionEvent::LoggedOut {
                    reason: Reason::PeerLogout,
                    text: &text[..MAX_REASON_TEXT_LEN]
                }
            })
        );
    }

    #[test]
    fn malformed_inbound_records_are_errors() {
        assert_eq!(
            decode_inbound(&[1; 5]),
            Err(RecordError::Truncated { len: 5 })
        );
        let mut bytes = inbound_bytes(1, &SessionEvent::Recovered { after_nanos: 5 });
        bytes[0] = 99;
        assert_eq!(decode_inbound(&bytes), Err(RecordError::UnknownKind(99)));
        bytes[0] = KIND_GAP_DETECTED;
        assert_eq!(
            decode_inbound(&bytes),
            Err(RecordError::BadLength {
                kind: KIND_GAP_DETECTED,
                len: 24
            })
        );
        assert!(decode_inbound(&bytes[..INBOUND_HEADER_LEN]).is_err());
    }

    #[test]
    fn malformed_outbound_records_are_errors() {
        assert_eq!(
            decode_outbound(&[1; 3]),
            Err(RecordError::Truncated { len: 3 })
        );
        let mut bytes = [0u8; 10];
        bytes[0] = KIND_SEND;
        bytes[1] = 3;
        assert!(matches!(
            decode_outbound(&bytes),
            Err(RecordError::BadLength { .. })
        ));
        bytes[1] = 0;
        assert!(matches!(
            decode_outbound(&bytes),
            Err(RecordError::BadLength { .. })
        ));
        bytes[0] = 7;
        assert_eq!(decode_outbound(&bytes), Err(RecordError::UnknownKind(7)));
    }

    fn reason() -> impl Strategy<Value = Reason> {
        any::<u8>().prop_map(Reason::from_code)
    }

    fn event(text: Vec<u8>) -> impl Strategy<Value = SessionEvent<'static>> {
        // The text is leaked so that the strategy can hand out borrowed events; tests only.
        let text: &'static [u8] = Vec::leak(text);
        prop_oneof![
            any::<bool>().prop_map(|reset| SessionEvent::LoggedOn { reset }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(begin, end)| SessionEvent::GapDetected { begin, end }),
            any::<u64>().prop_map(|after_nanos| SessionEvent::Recovered { after_nanos }),
            reason().prop_map(move |reason| SessionEvent::LoggedOut { reason, text }),
            reason().prop_map(move |reason| SessionEvent::Disconnected { reason, text }),
        ]
    }

    proptest! {
        #[test]
        fn application_records_round_trip(
            seq: u64,
            received_nanos: u64,
            message in prop::collection::vec(any::<u8>(), 1..300),
        ) {
            let mut bytes = vec![0; APPLICATION_HEADER_LEN + message.len()];
            encode_application(&mut bytes, seq, received_nanos, &message);
            prop_assert_eq!(
                decode_inbound(&bytes),
                Ok(InboundRecord::Application { seq, received_nanos, message: &message })
            );
        }

        #[test]
        fn event_records_round_trip(
            seq: u64,
            event in prop::collection::vec(any::<u8>(), 0..MAX_REASON_TEXT_LEN).prop_flat_map(event),
        ) {
            let bytes = inbound_bytes(seq, &event);
            prop_assert_eq!(decode_inbound(&bytes), Ok(InboundRecord::Event { seq, event }));
        }

        #[test]
        fn send_records_round_trip(
            msg_type in prop::collection::vec(any::<u8>(), 1..=MAX_MSG_TYPE_LEN),
            body in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut bytes = vec![0; OUTBOUND_HEADER_LEN + msg_type.len() + body.len()];
            let start = encode_send_header(&mut bytes, &msg_type);
            bytes[start..].copy_from_slice(&body);
            prop_assert_eq!(
                decode_outbound(&bytes),
                Ok(OutboundRecord::Send { msg_type: &msg_type, body: &body })
            );
        }

        #[test]
        fn logout_records_round_trip(text in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = vec![0; OUTBOUND_HEADER_LEN + text.len()];
            encode_logout(&mut bytes, &text);
            prop_assert_eq!(decode_outbound(&bytes), Ok(OutboundRecord::Logout { text: &text }));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_inbound(&bytes);
            let _ = decode_outbound(&bytes);
        }
    }
}
