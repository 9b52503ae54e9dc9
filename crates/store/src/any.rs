//! [`AnyStore`]: either store behind one type, chosen at run time.

use crate::{
    AppendError, Appended, FileRange, FileStore, FlushError, MemoryRange, MemoryStore,
    MessageStore, ResetError, SeqNumError, StoredMessage,
};

/// A [`MemoryStore`] or a [`FileStore`], so that sessions configured either way share one
/// `Session` type.
#[derive(Debug)]
pub enum AnyStore {
    Memory(MemoryStore),
    File(FileStore),
}

/// The range iterator of an [`AnyStore`]: an enum, so that reading a range does not allocate.
#[derive(Debug)]
pub enum AnyRange<'a> {
    Memory(MemoryRange<'a>),
    File(FileRange<'a>),
}

impl<'a> Iterator for AnyRange<'a> {
    type Item = StoredMessage<'a>;

    fn next(&mut self) -> Option<StoredMessage<'a>> {
        match self {
            AnyRange::Memory(range) => range.next(),
            AnyRange::File(range) => range.next(),
        }
    }
}

/// Forwards a call to whichever store this is.
macro_rules! forward {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call,
            AnyStore::File($store) => $call,
        }
    };
}

impl MessageStore for AnyStore {
    type Range<'a> = AnyRange<'a>;

    fn append(
        &mut self,
        seq: u64,
        sending_time_ns: i64,
        msg: &[u8],
    ) -> Result<Appended, AppendError> {
        forward!(self, s => s.append(seq, sending_time_ns, msg))
    }

    fn get(&self, seq: u64) -> Option<StoredMessage<'_>> {
        forward!(self, s => s.get(seq))
    }

    fn range(&self, begin: u64, end: u64) -> AnyRange<'_> {
        match self {
            AnyStore::Memory(s) => AnyRange::Memory(s.range(begin, end)),
            AnyStore::File(s) => AnyRange::File(s.range(begin, end)),
        }
    }

    fn durable_seq(&self) -> u64 {
        forward!(self, s => s.durable_seq())
    }

    fn last_seq(&self) -> u64 {
        forward!(self, s => s.last_seq())
    }

    fn next_sender_seq(&self) -> u64 {
        forward!(self, s => s.next_sender_seq())
    }

    fn set_next_sender_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        forward!(self, s => s.set_next_sender_seq(next))
    }

    fn next_target_seq(&self) -> u64 {
        forward!(self, s => s.next_target_seq())
    }

    fn set_next_target_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        forward!(self, s => s.set_next_target_seq(next))
    }

    fn epoch(&self) -> u32 {
        forward!(self, s => s.epoch())
    }

    fn reset(&mut self) -> Result<(), ResetError> {
        forward!(self, s => s.reset())
    }

    fn flush(&mut self) -> Result<(), FlushError> {
        forward!(self, s => s.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, StoreConfig};

    #[test]
    fn any_store_forwards_to_either_kind() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileStore::open(dir.path(), StoreConfig::new(Durability::None)).unwrap();
        for mut store in [AnyStore::Memory(MemoryStore::new()), AnyStore::File(file)] {
            store.append(1, 10, b"one").unwrap();
            store.append(2, 20, b"two").unwrap();
            assert_eq!(store.get(2).map(|m| m.bytes), Some(&b"two"[..]));
            let seqs: Vec<u64> = store.range(1, 0).map(|m| m.seq).collect();
            assert_eq!(seqs, [1, 2]);
            assert_eq!((store.last_seq(), store.next_sender_seq()), (2, 3));
            store.set_next_target_seq(7).unwrap();
            store.reset().unwrap();
            assert_eq!((store.next_target_seq(), store.get(1)), (1, None));
        }
    }
}
