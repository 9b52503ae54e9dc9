//! Messages held behind a gap, and the state of the gap itself.

use std::collections::BTreeMap;

use crate::time::Instant;

/// A message received above the expected MsgSeqNum, kept until the gap before it is filled.
#[derive(Debug)]
pub(crate) struct Held {
    /// The message; empty for a placeholder.
    pub(crate) bytes: Box<[u8]>,
    /// A placeholder: the message was acted on when it arrived (a ResendRequest is answered at
    /// once, so that two sides recovering from each other cannot deadlock; a Logon is answered
    /// before its gap is asked for), so on release it only advances the sequence.
    pub(crate) handled: bool,
    /// When it arrived: the application learns how long it waited.
    pub(crate) received: Instant,
}

/// Held messages in MsgSeqNum order, with their total size.
///
/// Placeholders keep no bytes and are counted apart: the hold limits apply to messages, and an
/// overflow drops messages but keeps placeholders. Dropping them would make every recovery round
/// re-fetch the peer's ResendRequests while the peer, recovering too, sends new ones: with small
/// chunks and limits the gap then never closes (found by the simulation).
#[derive(Debug, Default)]
pub(crate) struct HoldQueue {
    messages: BTreeMap<u64, Held>,
    /// Bytes of the held messages.
    bytes: usize,
    placeholders: usize,
}

impl HoldQueue {
    /// Holds `bytes` as `seq`; returns false if `seq` is already held (a duplicate).
    pub(crate) fn insert(
        &mut self,
        seq: u64,
        bytes: &[u8],
        handled: bool,
        received: Instant,
    ) -> bool {
        if self.messages.contains_key(&seq) {
            return false;
        }
        let bytes: Box<[u8]> = if handled {
            self.placeholders += 1;
            Box::default()
        } else {
            self.bytes += bytes.len();
            bytes.into()
        };
        self.messages.insert(
            seq,
            Held {
                bytes,
                handled,
                received,
            },
        );
        true
    }

    fn forget(&mut self, held: &Held) {
        if held.handled {
            self.placeholders -= 1;
        } else {
            self.bytes -= held.bytes.len();
        }
    }

    /// Removes and returns the message held as `seq`, if any.
    pub(crate) fn take(&mut self, seq: u64) -> Option<Held> {
        let held = self.messages.remove(&seq)?;
        self.forget(&held);
        Some(held)
    }

    /// Drops every message below `seq`: a GapFill or Reset has made them irrelevant.
    pub(crate) fn purge_below(&mut self, seq: u64) {
        let kept = self.messages.split_off(&seq);
        let purged = core::mem::replace(&mut self.messages, kept);
        for held in purged.values() {
            self.forget(held);
        }
    }

    /// Drops every held message, keeping the placeholders.
    pub(crate) fn drop_messages(&mut self) {
        self.messages.retain(|_, held| held.handled);
        self.bytes = 0;
    }

    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.bytes = 0;
        self.placeholders = 0;
    }

    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.messages.contains_key(&seq)
    }

    /// Held messages, placeholders not included.
    pub(crate) fn len(&self) -> usize {
        self.messages.len() - self.placeholders
    }

    pub(crate) fn placeholders(&self) -> usize {
        self.placeholders
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// An open gap: what was requested, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) detected_at: Instant,
    /// The last MsgSeqNum our outstanding ResendRequest covers; `None` means "to infinity".
    pub(crate) requested_to: Option<u64>,
    /// The last MsgSeqNum the answer to our outstanding ResendRequest must reach: its end, or
    /// for a request to infinity the highest number seen when it was sent. Once the expected
    /// number passes it and is still missing, the answer is complete and something after it
    /// was lost too: ask again at once instead of waiting for the recovery timer.
    pub(crate) answered_through: u64,
    /// The highest MsgSeqNum seen from the peer: recovery is over when the expected number
    /// passes it and nothing is held.
    pub(crate) highest_seen: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_queue_counts_bytes_and_rejects_duplicates() {
        let mut q = HoldQueue::default();
        assert!(q.insert(5, b"five", false, Instant::from_nanos(0)));
        assert!(q.insert(7, b"seven", false, Instant::from_nanos(0)));
        assert!(!q.insert(5, b"again", false, Instant::from_nanos(0)));
        assert_eq!((q.len(), q.bytes()), (2, 9));
        assert!(q.take(6).is_none());
        assert_eq!(q.take(5).map(|h| h.bytes), Some((*b"five").into()));
        assert_eq!(q.bytes(), 5);
    }

    #[test]
    fn hold_queue_placeholders_are_kept_apart() {
        let mut q = HoldQueue::default();
        q.insert(3, b"three", false, Instant::from_nanos(0));
        q.insert(4, b"a resend request", true, Instant::from_nanos(0));
        assert_eq!((q.len(), q.placeholders(), q.bytes()), (1, 1, 5));
        q.drop_messages();
        assert_eq!((q.len(), q.placeholders(), q.bytes()), (0, 1, 0));
        assert!(q.take(4).is_some_and(|h| h.handled && h.bytes.is_empty()));
        assert!(q.is_empty());
        q.insert(5, b"", true, Instant::from_nanos(0));
        q.insert(6, b"six", false, Instant::from_nanos(0));
        q.purge_below(7);
        assert_eq!((q.len(), q.placeholders(), q.bytes()), (0, 0, 0));
    }

    #[test]
    fn hold_queue_purge_below_keeps_the_rest() {
        let mut q = HoldQueue::default();
        for seq in 1..=10 {
            q.insert(seq, &[0; 10], false, Instant::from_nanos(0));
        }
        q.purge_below(8);
        assert_eq!((q.len(), q.bytes()), (3, 30));
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }
}
