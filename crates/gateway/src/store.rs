//! The store a configured session journals to: in memory or in files, chosen at run time.

use gapless_store::{
    AppendError, Appended, FileStore, FlushError, MemoryStore, MessageStore, OpenError, ResetError,
    SeqNumError, StoreConfig, StoredMessage,
};

use crate::config::StoreKind;

/// Either store kind behind one type, so every session has the same `Session` type.
#[derive(Debug)]
pub enum SessionStore {
    Memory(MemoryStore),
    File(FileStore),
}

impl SessionStore {
    pub fn open(kind: &StoreKind) -> Result<SessionStore, OpenError> {
        Ok(match kind {
            StoreKind::Memory => SessionStore::Memory(MemoryStore::new()),
            StoreKind::File { path, durability } => {
                SessionStore::File(FileStore::open(path, StoreConfig::new(*durability))?)
            }
        })
    }
}

impl MessageStore for SessionStore {
    type Range<'a> = Box<dyn Iterator<Item = StoredMessage<'a>> + 'a>;

    fn append(
        &mut self,
        seq: u64,
        sending_time_ns: i64,
        msg: &[u8],
    ) -> Result<Appended, AppendError> {
        match self {
            SessionStore::Memory(s) => s.append(seq, sending_time_ns, msg),
            SessionStore::File(s) => s.append(seq, sending_time_ns, msg),
        }
    }

    fn get(&self, seq: u64) -> Option<StoredMessage<'_>> {
        match self {
            SessionStore::Memory(s) => s.get(seq),
            SessionStore::File(s) => s.get(seq),
        }
    }

    fn range(&self, begin: u64, end: u64) -> Self::Range<'_> {
        match self {
            SessionStore::Memory(s) => Box::new(s.range(begin, end)),
            SessionStore::File(s) => Box::new(s.range(begin, end)),
        }
    }

    fn durable_seq(&self) -> u64 {
        match self {
            SessionStore::Memory(s) => s.durable_seq(),
            SessionStore::File(s) => s.durable_seq(),
        }
    }

    fn last_seq(&self) -> u64 {
        match self {
            SessionStore::Memory(s) => s.last_seq(),
            SessionStore::File(s) => s.last_seq(),
        }
    }

    fn next_sender_seq(&self) -> u64 {
        match self {
            SessionStore::Memory(s) => s.next_sender_seq(),
            SessionStore::File(s) => s.next_sender_seq(),
        }
    }

    fn set_next_sender_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        match self {
            SessionStore::Memory(s) => s.set_next_sender_seq(next),
            SessionStore::File(s) => s.set_next_sender_seq(next),
        }
    }

    fn next_target_seq(&self) -> u64 {
        match self {
            SessionStore::Memory(s) => s.next_target_seq(),
            SessionStore::File(s) => s.next_target_seq(),
        }
    }

    fn set_next_target_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        match self {
            SessionStore::Memory(s) => s.set_next_target_seq(next),
            SessionStore::File(s) => s.set_next_target_seq(next),
        }
    }

    fn epoch(&self) -> u32 {
        match self {
            SessionStore::Memory(s) => s.epoch(),
            SessionStore::File(s) => s.epoch(),
        }
    }

    fn reset(&mut self) -> Result<(), ResetError> {
        match self {
            SessionStore::Memory(s) => s.reset(),
            SessionStore::File(s) => s.reset(),
        }
    }

    fn flush(&mut self) -> Result<(), FlushError> {
        match self {
            SessionStore::Memory(s) => s.flush(),
            SessionStore::File(s) => s.flush(),
        }
    }
}
