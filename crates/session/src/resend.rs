//! Answering the peer's ResendRequests, streamed from the store.
//!
//! A ResendRequest starts a [`ResendCursor`]; [`Session::poll_transmit`] advances it a batch at a
//! time, so a request for a million messages never renders a million messages at once. Stored
//! application messages go out again with PossDupFlag=Y, OrigSendingTime (122) = their original
//! SendingTime, and a new SendingTime; admin messages, numbers missing from the store and
//! messages the application calls stale collapse into SequenceReset-GapFill runs. Messages the
//! application sends meanwhile wait behind the resend.

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{Decoded, Encoder, Message, decode, tag};
use gapless_store::MessageStore;

use crate::outbound::new_header;
use crate::session::{Hooks, Session};
use crate::time::{Instant, Now};

/// How far a resend has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResendCursor {
    /// The next MsgSeqNum to resend or gap-fill.
    next: u64,
    /// The last MsgSeqNum of the request.
    end: u64,
    /// The first MsgSeqNum of the GapFill run being collected.
    gap_fill_from: Option<u64>,
}

/// Header fields a resent message takes from the original, besides the standard ones.
const COPIED_HEADER_TAGS: [u32; 5] = [
    tag::SENDER_SUB_ID,
    tag::TARGET_SUB_ID,
    tag::ON_BEHALF_OF_COMP_ID,
    tag::DELIVER_TO_COMP_ID,
    tag::APPL_VER_ID,
];

/// Header fields a resent message writes anew.
const REWRITTEN_HEADER_TAGS: [u32; 7] = [
    tag::BEGIN_STRING,
    tag::BODY_LENGTH,
    tag::MSG_TYPE,
    tag::MSG_SEQ_NUM,
    tag::POSS_DUP_FLAG,
    tag::SENDING_TIME,
    tag::ORIG_SENDING_TIME,
];

impl<S: MessageStore, H: Hooks> Session<S, H> {
    /// A ResendRequest from the peer, answered at once (or counted and ignored past the rate
    /// limit).
    pub(crate) fn on_resend_request(&mut self, now: Now, msg: &Message<'_>, _seq: u64) {
        let Ok(begin) = msg.get_u64(tag::BEGIN_SEQ_NO) else {
            return;
        };
        let last_sent = self.store.next_sender_seq().saturating_sub(1);
        let end = match msg.get_u64(tag::END_SEQ_NO) {
            // 0, or 999999 in FIX.4.0/4.1, means "everything"; so does a number past our last.
            Ok(0) | Err(_) => last_sent,
            Ok(end) => end.min(last_sent),
        };
        if !self.resend_allowed(now.instant) {
            self.counters.resend_requests_throttled += 1;
            return;
        }
        self.counters.resend_requests_answered += 1;
        self.start_resend(now, begin.max(1), end);
    }

    /// The rate limit on answering ResendRequests: a fixed one-second window.
    fn resend_allowed(&mut self, now: Instant) -> bool {
        let (window_start, answered) = &mut self.resend_window;
        if now.saturating_since(*window_start).as_secs() >= 1 {
            *window_start = now;
            *answered = 0;
        }
        *answered += 1;
        *answered <= self.config.resend_limits.max_requests_per_second
    }

    /// Starts resending `begin..=end`; a resend in progress is replaced (the new request comes
    /// from a peer that knows better what it is missing).
    pub(crate) fn start_resend(&mut self, now: Now, begin: u64, end: u64) {
        self.last_now = now;
        if begin > end {
            return;
        }
        if self.resend.take().is_some() {
            // The new request replaces the old one; what was queued behind the old one goes
            // out first, as it would have.
            let deferred = core::mem::take(&mut self.deferred);
            self.out.extend_from_slice(&deferred);
        }
        self.resend = Some(ResendCursor {
            next: begin,
            end,
            gap_fill_from: None,
        });
        self.continue_resend();
    }

    /// Renders the next batch of the resend in progress into the transmit buffer.
    pub(crate) fn continue_resend(&mut self) {
        let Some(mut cursor) = self.resend else {
            return;
        };
        let budget = self.out.len() + 64 * 1024;
        let now = self.last_now;
        while cursor.next <= cursor.end && self.out.len() < budget {
            let seq = cursor.next;
            cursor.next += 1;
            let resendable = match self.store.get(seq) {
                Some(stored) => match decode(stored.bytes, self.limits()) {
                    Decoded::Message(msg) if !is_admin(msg.msg_type()) => {
                        !self.hooks.is_stale(seq, &msg)
                    }
                    _ => false,
                },
                None => false,
            };
            if !resendable {
                cursor.gap_fill_from.get_or_insert(seq);
                continue;
            }
            if let Some(from) = cursor.gap_fill_from.take() {
                self.write_gap_fill(now, from, seq);
            }
            self.write_resent(now, seq);
        }
        if cursor.next > cursor.end {
            if let Some(from) = cursor.gap_fill_from.take() {
                self.write_gap_fill(now, from, cursor.end + 1);
            }
            self.resend = None;
            let deferred = core::mem::take(&mut self.deferred);
            self.out.extend_from_slice(&deferred);
        } else {
            self.resend = Some(cursor);
        }
    }

    /// SequenceReset-GapFill numbered `seq`, moving the peer on to `new_seq`.
    fn write_gap_fill(&mut self, now: Now, seq: u64, new_seq: u64) {
        let mut header = new_header(&self.config, seq, now.utc);
        header.poss_dup = true;
        header.orig_sending_time = Some(now.utc);
        let mut encoder = Encoder::new(&mut self.scratch, self.begin_string, b"4");
        encoder
            .header(&header)
            .uint(tag::NEW_SEQ_NO, new_seq)
            .bool(tag::GAP_FILL_FLAG, true);
        if let Ok(bytes) = encoder.finish() {
            self.out.extend_from_slice(bytes);
            self.counters.gap_fills_sent += 1;
        }
    }

    /// The stored message `seq` again, as a possible duplicate.
    fn write_resent(&mut self, now: Now, seq: u64) {
        let Some(stored) = self.store.get(seq) else {
            return;
        };
        let Decoded::Message(original) = decode(stored.bytes, self.limits()) else {
            return;
        };
        let orig_sending_time = original
            .sending_time()
            .unwrap_or_else(|_| UtcTimestamp::from_unix_nanos(stored.sending_time_ns));
        let mut header = new_header(&self.config, seq, now.utc);
        header.poss_dup = true;
        header.orig_sending_time = Some(orig_sending_time);
        header.sender_sub_id = original.get(tag::SENDER_SUB_ID);
        header.target_sub_id = original.get(tag::TARGET_SUB_ID);
        header.on_behalf_of_comp_id = original.get(tag::ON_BEHALF_OF_COMP_ID);
        header.deliver_to_comp_id = original.get(tag::DELIVER_TO_COMP_ID);
        header.appl_ver_id = original.get(tag::APPL_VER_ID);

        let mut encoder = Encoder::new(&mut self.scratch, self.begin_string, original.msg_type());
        encoder.header(&header);
        encoder.copy_fields(original.fields().filter(|field| {
            !(REWRITTEN_HEADER_TAGS.contains(&field.tag)
                || COPIED_HEADER_TAGS.contains(&field.tag)
                || field.tag == tag::SENDER_COMP_ID
                || field.tag == tag::TARGET_COMP_ID
                || field.tag == tag::POSS_RESEND
                || field.tag == tag::CHECK_SUM)
        }));
        if let Ok(bytes) = encoder.finish() {
            self.out.extend_from_slice(bytes);
            self.counters.messages_resent += 1;
        }
    }
}

/// Session-level message types: never resent, always gap-filled.
pub(crate) fn is_admin(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
}
