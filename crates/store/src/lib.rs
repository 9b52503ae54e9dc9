//! Crash-safe message store for Gapless FIX sessions.
//!
//! A session journals every outbound message here before sending it, so it can answer a
//! ResendRequest, and persists its next sender and target MsgSeqNums, so a restart continues
//! where it stopped and never reuses a number.
//!
//! What it is:
//! - [`FileStore`]: an append-only journal in pre-allocated, memory-mapped segment files,
//!   with an in-memory MsgSeqNum index rebuilt on open, plus a small `seqnums` file. Opening
//!   validates everything, truncates a torn tail, and reports any other damage as a typed
//!   [`OpenError`] naming the file and byte offset.
//! - [`MemoryStore`]: the same [`MessageStore`] trait without persistence, for tests and
//!   sessions that want none.
//!
//! What it is not: it does not parse or validate FIX (the payload is opaque bytes), read a
//! clock (SendingTime is passed in), start threads, or share a directory between processes
//! (a store locks its directory). It does not verify checksums again on every read: records
//! are verified when the store is opened and are written only by the store afterwards.
//!
//! # Durability
//! [`Durability`] chooses when appends reach stable storage; [`Appended::durable_seq`] and
//! [`MessageStore::durable_seq`] report the highest MsgSeqNum that has. Whatever the policy,
//! data written before a *process* crash (even `SIGKILL`) survives, because it is in the
//! kernel's page cache; the policy only matters for power loss or a kernel crash. Writes of
//! the seqnums file follow the same policy, except [`reset`](MessageStore::reset), which is
//! always synced. A full segment is synced when it is sealed, whatever the policy.
//!
//! # Sequence numbers and resets
//! Within an epoch appended MsgSeqNums must strictly increase (gaps are allowed). After an
//! append, [`next_sender_seq`](MessageStore::next_sender_seq) is at least the MsgSeqNum
//! appended plus one, and on open it is recomputed from the journal as well as the seqnums
//! file, so a crash between an append and a `set_next_sender_seq` cannot cause reuse.
//! [`reset`](MessageStore::reset) starts a new epoch: both next seqs become 1 and previously
//! stored messages are no longer returned.
//!
//! # Allocation
//! Once a segment exists, `append` with [`Durability::None`] and `get`/`range` do not
//! allocate: each segment's index reserves room for the most records it can hold (virtual
//! memory only, committed as it is used).
//!
#![doc = include_str!("../FORMAT.md")]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod any;
mod error;
mod file_store;
mod format;
mod memory;
mod segment;
mod seqnums;

pub use any::{AnyRange, AnyStore};
pub use error::{AppendError, FlushError, IoError, OpenError, ResetError, SeqNumError};
pub use file_store::{FileRange, FileStore};
pub use memory::{MemoryRange, MemoryStore};

use format::{MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, RECORD_ALIGN};

/// One stored message, borrowed from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessage<'a> {
    pub seq: u64,
    /// SendingTime as given to `append`: nanoseconds since the Unix epoch.
    pub sending_time_ns: i64,
    /// The message exactly as appended.
    pub bytes: &'a [u8],
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The MsgSeqNum just appended.
    pub seq: u64,
    /// The highest MsgSeqNum of this epoch known to be on stable storage, 0 if none.
    pub durable_seq: u64,
}

impl Appended {
    /// Whether the message just appended is on stable storage.
    pub fn is_durable(&self) -> bool {
        self.durable_seq >= self.seq
    }
}

/// When appended messages are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Only on [`flush`](MessageStore::flush) (and when a segment fills up).
    None,
    /// After every `every` appends, and on [`flush`](MessageStore::flush).
    Batched { every: u32 },
    /// Before every `append` returns (msync, which on Linux is fdatasync of the range).
    PerMessage,
}

/// How a [`FileStore`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    durability: Durability,
    segment_size: u64,
}

impl StoreConfig {
    /// Segment size unless [`with_segment_size`](Self::with_segment_size) says otherwise.
    pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

    pub fn new(durability: Durability) -> Self {
        Self {
            durability,
            segment_size: Self::DEFAULT_SEGMENT_SIZE,
        }
    }

    /// Size of segment files created from now on: a multiple of 8, from 256 bytes to just
    /// under 4 GiB. Existing segments keep their size.
    pub fn with_segment_size(self, segment_size: u64) -> Self {
        Self {
            segment_size,
            ..self
        }
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn segment_size(&self) -> u64 {
        self.segment_size
    }

    /// Largest message this configuration can store.
    pub fn max_message_len(&self) -> usize {
        format::max_payload(self.segment_size)
    }

    fn validate(&self) -> Result<(), OpenError> {
        if !valid_segment_size(self.segment_size) {
            let what = "segment size must be a multiple of 8 between 256 bytes and 4 GiB";
            return Err(OpenError::InvalidConfig { what });
        }
        if self.durability == (Durability::Batched { every: 0 }) {
            return Err(OpenError::InvalidConfig {
                what: "batched durability needs every >= 1",
            });
        }
        Ok(())
    }
}

fn valid_segment_size(size: u64) -> bool {
    (MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size)
        && size.is_multiple_of(RECORD_ALIGN as u64)
}

/// The store operations a FIX session needs.
pub trait MessageStore {
    /// Iterator returned by [`range`](Self::range).
    type Range<'a>: Iterator<Item = StoredMessage<'a>>
    where
        Self: 'a;

    /// Journals `msg` as MsgSeqNum `seq`, which must exceed every seq appended in this epoch.
    /// Raises [`next_sender_seq`](Self::next_sender_seq) to at least `seq + 1`.
    fn append(
        &mut self,
        seq: u64,
        sending_time_ns: i64,
        msg: &[u8],
    ) -> Result<Appended, AppendError>;

    /// The message stored as `seq` in the current epoch.
    fn get(&self, seq: u64) -> Option<StoredMessage<'_>>;

    /// Stored messages with `begin <= seq <= end` in seq order; `end == 0` means no upper
    /// bound (FIX's EndSeqNo = 0). Streams from the store without collecting.
    fn range(&self, begin: u64, end: u64) -> Self::Range<'_>;

    /// The highest MsgSeqNum of this epoch known to be on stable storage, 0 if none.
    fn durable_seq(&self) -> u64;

    /// The highest MsgSeqNum appended in this epoch, 0 if none.
    fn last_seq(&self) -> u64;

    fn next_sender_seq(&self) -> u64;

    /// Sets the next outgoing MsgSeqNum; it must exceed [`last_seq`](Self::last_seq).
    fn set_next_sender_seq(&mut self, next: u64) -> Result<(), SeqNumError>;

    fn next_target_seq(&self) -> u64;

    fn set_next_target_seq(&mut self, next: u64) -> Result<(), SeqNumError>;

    /// Counts sequence resets; starts at 1.
    fn epoch(&self) -> u32;

    /// Sequence reset (ResetSeqNumFlag): both next seqs become 1, a new epoch starts, and
    /// messages stored before are no longer returned. Persisted before returning.
    fn reset(&mut self) -> Result<(), ResetError>;

    /// Forces everything appended or set so far to stable storage.
    fn flush(&mut self) -> Result<(), FlushError>;
}

/// The append preconditions shared by both stores.
fn check_append(seq: u64, last_seq: u64, len: usize, max: usize) -> Result<(), AppendError> {
    if seq == 0 {
        Err(AppendError::ZeroSeq)
    } else if seq <= last_seq {
        Err(AppendError::SeqNotIncreasing {
            seq,
            last: last_seq,
        })
    } else if len > max {
        Err(AppendError::TooLarge { len, max })
    } else {
        Ok(())
    }
}

/// The `set_next_sender_seq` preconditions shared by both stores.
fn check_next_sender(next: u64, last_seq: u64) -> Result<(), SeqNumError> {
    if next == 0 {
        Err(SeqNumError::Zero)
    } else if next <= last_seq {
        Err(SeqNumError::WouldReuse {
            requested: next,
            last_appended: last_seq,
        })
    } else {
        Ok(())
    }
}
