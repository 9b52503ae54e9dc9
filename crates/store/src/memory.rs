//! A [`MessageStore`] that keeps everything in memory and persists nothing.

use std::slice;

use crate::error::{AppendError, FlushError, ResetError, SeqNumError};
use crate::{Appended, MessageStore, StoredMessage, check_append, check_next_sender};

/// Same limit as a record's 32-bit length field in the file store.
const MAX_MESSAGE_LEN: usize = u32::MAX as usize;

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    sending_time_ns: i64,
    start: usize,
    len: usize,
}

/// An in-memory store with the semantics of [`FileStore`](crate::FileStore) minus
/// persistence. Having no stable storage to wait for, it reports every append as durable.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    /// This epoch's messages in seq order; their bytes are concatenated in `data`.
    entries: Vec<Entry>,
    data: Vec<u8>,
    epoch: u32,
    next_sender: u64,
    next_target: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            data: Vec::new(),
            epoch: 1,
            next_sender: 1,
            next_target: 1,
        }
    }

    fn message(&self, entry: &Entry) -> StoredMessage<'_> {
        message(&self.data, entry)
    }
}

fn message<'a>(data: &'a [u8], entry: &Entry) -> StoredMessage<'a> {
    StoredMessage {
        seq: entry.seq,
        sending_time_ns: entry.sending_time_ns,
        bytes: &data[entry.start..entry.start + entry.len],
    }
}

impl MessageStore for MemoryStore {
    type Range<'a> = MemoryRange<'a>;

    fn append(
        &mut self,
        seq: u64,
        sending_time_ns: i64,
        msg: &[u8],
    ) -> Result<Appended, AppendError> {
        check_append(seq, self.last_seq(), msg.len(), MAX_MESSAGE_LEN)?;
        self.entries.push(Entry {
            seq,
            sending_time_ns,
            start: self.data.len(),
            len: msg.len(),
        });
        self.data.extend_from_slice(msg);
        self.next_sender = self.next_sender.max(seq + 1);
        Ok(Appended {
            seq,
            durable_seq: seq,
        })
    }

    fn get(&self, seq: u64) -> Option<StoredMessage<'_>> {
        let index = self.entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        Some(self.message(&self.entries[index]))
    }

    fn range(&self, begin: u64, end: u64) -> MemoryRange<'_> {
        let start = self.entries.partition_point(|e| e.seq < begin);
        let end = if end == 0 { u64::MAX } else { end };
        MemoryRange {
            entries: self.entries[start..].iter(),
            data: &self.data,
            end,
        }
    }

    fn durable_seq(&self) -> u64 {
        self.last_seq()
    }

    fn last_seq(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq)
    }

    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }

    fn set_next_sender_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        check_next_sender(next, self.last_seq())?;
        self.next_sender = next;
        Ok(())
    }

    fn next_target_seq(&self) -> u64 {
        self.next_target
    }

    fn set_next_target_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        if next == 0 {
            return Err(SeqNumError::Zero);
        }
        self.next_target = next;
        Ok(())
    }

    fn epoch(&self) -> u32 {
        self.epoch
    }

    fn reset(&mut self) -> Result<(), ResetError> {
        self.epoch = self
            .epoch
            .checked_add(1)
            .ok_or(ResetError::EpochExhausted)?;
        self.entries.clear();
        self.data.clear();
        self.next_sender = 1;
        self.next_target = 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FlushError> {
        Ok(())
    }
}

/// Iterator over a [`MemoryStore`]'s messages in seq order.
#[derive(Debug, Clone)]
pub struct MemoryRange<'a> {
    entries: slice::Iter<'a, Entry>,
    data: &'a [u8],
    end: u64,
}

impl<'a> Iterator for MemoryRange<'a> {
    type Item = StoredMessage<'a>;

    fn next(&mut self) -> Option<StoredMessage<'a>> {
        let entry = self.entries.next().filter(|e| e.seq <= self.end)?;
        Some(message(self.data, entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_then_get_and_range_return_messages() {
        let mut store = MemoryStore::new();
        for seq in [1, 2, 5] {
            store
                .append(seq, seq as i64 * 10, format!("m{seq}").as_bytes())
                .unwrap();
        }
        assert_eq!(store.get(5).unwrap().bytes, b"m5");
        assert_eq!(store.get(3), None);
        let seqs: Vec<u64> = store.range(2, 0).map(|m| m.seq).collect();
        assert_eq!(seqs, [2, 5]);
        assert_eq!(store.next_sender_seq(), 6);
    }

    #[test]
    fn reset_hides_previous_epoch() {
        let mut store = MemoryStore::new();
        store.append(1, 0, b"old").unwrap();
        store.reset().unwrap();
        assert_eq!(store.get(1), None);
        assert_eq!(
            (
                store.epoch(),
                store.next_sender_seq(),
                store.next_target_seq()
            ),
            (2, 1, 1)
        );
        store.append(1, 0, b"new").unwrap();
        assert_eq!(store.get(1).unwrap().bytes, b"new");
    }

    #[test]
    fn append_with_non_increasing_seq_is_rejected() {
        let mut store = MemoryStore::new();
        store.append(3, 0, b"x").unwrap();
        assert!(matches!(
            store.append(3, 0, b"y"),
            Err(AppendError::SeqNotIncreasing { .. })
        ));
        assert!(matches!(
            store.append(0, 0, b"y"),
            Err(AppendError::ZeroSeq)
        ));
        assert!(matches!(
            store.set_next_sender_seq(2),
            Err(SeqNumError::WouldReuse { .. })
        ));
    }
}
