//! Outbound messages: stamping, encoding, journaling and queueing for transmit.

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{EncodeError, Encoder, Field, Message, StandardHeader, tag};
use gapless_dict::{SessionRejectReason, Version};
use gapless_store::MessageStore;

use crate::config::SessionConfig;
use crate::event::{DisconnectReason, Event};
use crate::session::{Hooks, Session, State};
use crate::time::{Now, Timer};

/// Why an application message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is not logged on.
    NotLoggedOn,
    /// The message could not be encoded (too large, empty value, SOH in a value, ...).
    Encode(EncodeError),
    /// The store could not journal it; the session has disconnected.
    Store,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::NotLoggedOn => f.write_str("session is not logged on"),
            SendError::Encode(e) => write!(f, "cannot encode: {e}"),
            SendError::Store => f.write_str("store failure"),
        }
    }
}

impl std::error::Error for SendError {}

impl<S: MessageStore, H: Hooks> Session<S, H> {
    /// Sends an application message: the session stamps MsgSeqNum and SendingTime, `body`
    /// writes the body fields (in ascending tag order, groups in their defined order), and the
    /// message is journaled before it is queued. Returns its MsgSeqNum.
    pub fn send(
        &mut self,
        now: Now,
        msg_type: &[u8],
        body: impl FnOnce(&mut Encoder<'_>),
    ) -> Result<u64, SendError> {
        if self.state != State::Active {
            return Err(SendError::NotLoggedOn);
        }
        self.last_now = now;
        self.send_message(now, msg_type, body)
    }

    /// [`Session::send`] with header fields of the application's own: PossResend (97), routing
    /// (115, 128, ...), sub-IDs and the like, written in ascending tag order among the standard
    /// ones. Fields the session owns (BeginString, BodyLength, MsgType, MsgSeqNum, PossDupFlag,
    /// SenderCompID, SendingTime, TargetCompID, OrigSendingTime, CheckSum) are skipped.
    pub fn send_with_header(
        &mut self,
        now: Now,
        msg_type: &[u8],
        header: &[Field<'_>],
        body: impl FnOnce(&mut Encoder<'_>),
    ) -> Result<u64, SendError> {
        if self.state != State::Active {
            return Err(SendError::NotLoggedOn);
        }
        self.last_now = now;
        let mut extra: Vec<Field<'_>> = header
            .iter()
            .filter(|f| !SESSION_HEADER_TAGS.contains(&f.tag))
            .copied()
            .collect();
        extra.sort_by_key(|f| f.tag);
        self.send_routed(now, msg_type, &extra, body)
    }

    /// Refuses an application message the application does not support or cannot process:
    /// BusinessMessageReject (35=j) from FIX.4.2 on, a session Reject (35=3) before.
    pub fn send_business_reject(
        &mut self,
        now: Now,
        refused: &Message<'_>,
        reason: u32,
        text: &str,
    ) -> Result<u64, SendError> {
        if self.state != State::Active {
            return Err(SendError::NotLoggedOn);
        }
        let ref_seq = refused.msg_seq_num().unwrap_or(0);
        let route = reverse_route(refused);
        if self.config.version <= Version::Fix41 {
            return self.send_routed(now, b"3", &route, |body| {
                body.uint(tag::REF_SEQ_NUM, ref_seq)
                    .field(tag::TEXT, text.as_bytes());
            });
        }
        let ref_msg_type = refused.msg_type();
        self.send_routed(now, b"j", &route, |body| {
            body.uint(tag::REF_SEQ_NUM, ref_seq)
                .field(tag::TEXT, text.as_bytes())
                .field(tag::REF_MSG_TYPE, ref_msg_type)
                .uint(tag::BUSINESS_REJECT_REASON, u64::from(reason));
        })
    }

    /// Stamps, encodes, journals and queues one message.
    pub(crate) fn send_message(
        &mut self,
        now: Now,
        msg_type: &[u8],
        body: impl FnOnce(&mut Encoder<'_>),
    ) -> Result<u64, SendError> {
        self.send_routed(now, msg_type, &[], body)
    }

    /// [`Session::send_message`] with extra header fields, sorted by tag and none of them one
    /// the session owns.
    fn send_routed(
        &mut self,
        now: Now,
        msg_type: &[u8],
        extra_header: &[Field<'_>],
        body: impl FnOnce(&mut Encoder<'_>),
    ) -> Result<u64, SendError> {
        let seq = self.store.next_sender_seq();
        let header = new_header(&self.config, seq, now.utc);
        let mut encoder = Encoder::new(&mut self.scratch, self.begin_string, msg_type);
        write_header(&mut encoder, &header, extra_header);
        body(&mut encoder);
        let bytes = encoder.finish().map_err(SendError::Encode)?;
        let sending_time = now.utc.unix_nanos().unwrap_or(0);
        if self.store.append(seq, sending_time, bytes).is_err() {
            self.disconnect(DisconnectReason::StoreFailure);
            return Err(SendError::Store);
        }
        // Behind a resend in progress, new messages wait their turn.
        let queue = if self.resend.is_some() {
            &mut self.deferred
        } else {
            &mut self.out
        };
        queue.extend_from_slice(bytes);
        self.counters.messages_sent += 1;
        self.timers.set(
            Timer::Heartbeat,
            now.instant.saturating_add(self.heartbeat_interval),
        );
        Ok(seq)
    }

    /// Admin messages are ours to get right: an encoding failure here is a bug in Gapless, and
    /// a store failure has already disconnected the session.
    fn send_admin(&mut self, now: Now, msg_type: &[u8], body: impl FnOnce(&mut Encoder<'_>)) {
        let _ = self.send_message(now, msg_type, body);
    }

    pub(crate) fn send_logon(&mut self, now: Now, reset: bool) {
        let heartbeat = self.heartbeat_interval.as_secs();
        let next_expected = (self.config.send_next_expected_msg_seq_num
            && self.config.version >= Version::Fix44)
            .then(|| self.store.next_target_seq());
        let default_appl_ver_id = self
            .screen
            .dictionary()
            .is_fixt()
            .then(|| self.config.version.appl_ver_id())
            .flatten();
        let credentials = self.config.logon_credentials.clone();
        self.send_admin(now, b"A", |body| {
            body.uint(tag::ENCRYPT_METHOD, 0)
                .uint(tag::HEART_BT_INT, heartbeat);
            if reset {
                body.bool(tag::RESET_SEQ_NUM_FLAG, true);
            }
            if let Some(credentials) = &credentials {
                body.field(tag::USERNAME, credentials.username.as_bytes())
                    .field(tag::PASSWORD, credentials.password.as_bytes());
            }
            if let Some(next) = next_expected {
                body.uint(tag::NEXT_EXPECTED_MSG_SEQ_NUM, next);
            }
            if let Some(version) = default_appl_ver_id {
                body.field(tag::DEFAULT_APPL_VER_ID, version.as_bytes());
            }
        });
    }

    pub(crate) fn send_heartbeat(&mut self, now: Now, test_req_id: Option<&[u8]>) {
        self.send_admin(now, b"0", |body| {
            if let Some(id) = test_req_id.filter(|id| !id.is_empty()) {
                body.field(tag::TEST_REQ_ID, id);
            }
        });
    }

    pub(crate) fn send_test_request(&mut self, now: Now, id: &[u8]) {
        self.send_admin(now, b"1", |body| {
            body.field(tag::TEST_REQ_ID, id);
        });
    }

    pub(crate) fn send_resend_request(&mut self, now: Now, begin: u64, end: u64) {
        self.counters.resend_requests_sent += 1;
        self.send_admin(now, b"2", |body| {
            body.uint(tag::BEGIN_SEQ_NO, begin)
                .uint(tag::END_SEQ_NO, end);
        });
    }

    pub(crate) fn send_logout(&mut self, now: Now, text: Option<&str>) {
        self.send_admin(now, b"5", |body| {
            if let Some(text) = text {
                body.field(tag::TEXT, text.as_bytes());
            }
        });
    }

    /// A session-level Reject of the peer's message `seq`. RefTagID (371), RefMsgType (372) and
    /// SessionRejectReason (373) are written only where the version defines them.
    pub(crate) fn send_reject(
        &mut self,
        now: Now,
        rejected: &Message<'_>,
        seq: u64,
        reason: SessionRejectReason,
        ref_tag: Option<u32>,
        text: &str,
    ) {
        let route = reverse_route(rejected);
        let mut digits = [0u8; 20];
        let ref_tag = ref_tag.map(|t| {
            let len = gapless_codec::value::write_u64(u64::from(t), &mut digits);
            &digits[20 - len..]
        });
        let rejected = RejectedMessage {
            seq,
            msg_type: rejected.msg_type(),
            route: &route,
        };
        self.send_reject_of(now, &rejected, reason, ref_tag, text);
    }

    /// [`Session::send_reject`] for a message known only by its parts; `ref_tag` is RefTagID
    /// (371) as it is to be written (a tag that is not a number is quoted as it came).
    pub(crate) fn send_reject_of(
        &mut self,
        now: Now,
        rejected: &RejectedMessage<'_>,
        reason: SessionRejectReason,
        ref_tag: Option<&[u8]>,
        text: &str,
    ) {
        let detailed = self.config.version >= Version::Fix42;
        let code = reason.code();
        let with_reason = self.version_has_reject_reason(code);
        let seq = rejected.seq;
        let ref_msg_type = rejected.msg_type;
        self.counters.rejects_sent += 1;
        self.events.push_back(Event::RejectSent {
            ref_seq: seq,
            reason: code,
        });
        // An encoding failure is a bug of ours and a store failure has already disconnected.
        let _ = self.send_routed(now, b"3", rejected.route, |body| {
            body.uint(tag::REF_SEQ_NUM, seq)
                .field(tag::TEXT, text.as_bytes());
            if detailed {
                if let Some(ref_tag) = ref_tag {
                    body.field(tag::REF_TAG_ID, ref_tag);
                }
                if !ref_msg_type.is_empty() {
                    body.field(tag::REF_MSG_TYPE, ref_msg_type);
                }
                if with_reason {
                    body.uint(tag::SESSION_REJECT_REASON, u64::from(code));
                }
            }
        });
    }
}

/// What a Reject needs to know about the message it refuses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RejectedMessage<'a> {
    /// RefSeqNum (45).
    pub(crate) seq: u64,
    /// RefMsgType (372); empty when unknown.
    pub(crate) msg_type: &'a [u8],
    /// The routing header fields of the Reject, already reversed.
    pub(crate) route: &'a [Field<'a>],
}

/// Header fields the session writes itself, whatever the application asks for.
const SESSION_HEADER_TAGS: [u32; 10] = [
    tag::BEGIN_STRING,
    tag::BODY_LENGTH,
    tag::MSG_TYPE,
    tag::MSG_SEQ_NUM,
    tag::POSS_DUP_FLAG,
    tag::SENDER_COMP_ID,
    tag::SENDING_TIME,
    tag::TARGET_COMP_ID,
    tag::ORIG_SENDING_TIME,
    tag::CHECK_SUM,
];

/// Routing header fields and their counterparts: OnBehalfOfCompID (115) and DeliverToCompID
/// (128), OnBehalfOfSubID (116) and DeliverToSubID (129), OnBehalfOfLocationID (144) and
/// DeliverToLocationID (145). Sorted by the second tag.
const REVERSED_ROUTING: [(u32, u32); 6] = [
    (128, 115),
    (129, 116),
    (115, 128),
    (116, 129),
    (145, 144),
    (144, 145),
];

/// The routing fields of a reply to `msg`: each of its routing fields under its counterpart's
/// tag, so the reply goes back the way the message came. Empty values are not routes.
fn reverse_route<'m>(msg: &Message<'m>) -> Vec<Field<'m>> {
    REVERSED_ROUTING
        .iter()
        .filter_map(|&(from, to)| {
            let value = msg.get(from).filter(|v| !v.is_empty())?;
            Some(Field { tag: to, value })
        })
        .collect()
}

/// The standard header with `extra` fields (sorted by tag) merged in ascending tag order.
fn write_header(encoder: &mut Encoder<'_>, header: &StandardHeader<'_>, extra: &[Field<'_>]) {
    if extra.is_empty() {
        encoder.header(header);
        return;
    }
    // A new message's standard header is 34, 49, 52, 56 (see `new_header`).
    let mut rest = extra;
    let mut write_extra_below = |encoder: &mut Encoder<'_>, below: u32| {
        while let Some((field, tail)) = rest.split_first().filter(|(f, _)| f.tag < below) {
            encoder.field(field.tag, field.value);
            rest = tail;
        }
    };
    write_extra_below(encoder, tag::MSG_SEQ_NUM);
    encoder.uint(tag::MSG_SEQ_NUM, header.msg_seq_num);
    write_extra_below(encoder, tag::SENDER_COMP_ID);
    encoder.field(tag::SENDER_COMP_ID, header.sender_comp_id);
    write_extra_below(encoder, tag::SENDING_TIME);
    encoder.timestamp(
        tag::SENDING_TIME,
        header.sending_time,
        header.time_precision,
    );
    write_extra_below(encoder, tag::TARGET_COMP_ID);
    encoder.field(tag::TARGET_COMP_ID, header.target_comp_id);
    write_extra_below(encoder, u32::MAX);
}

/// The standard header of a new message from this session.
pub(crate) fn new_header(
    config: &SessionConfig,
    seq: u64,
    sending_time: UtcTimestamp,
) -> StandardHeader<'_> {
    StandardHeader::new(
        config.sender_comp_id.as_bytes(),
        config.target_comp_id.as_bytes(),
        seq,
        sending_time,
        config.effective_time_precision(),
    )
}
