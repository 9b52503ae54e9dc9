//! Error types, one per operation. Each names the file involved and, where the problem is in
//! the file's contents, the byte offset.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An I/O call on a store file failed.
#[derive(Debug)]
pub struct IoError {
    path: PathBuf,
    op: &'static str,
    source: io::Error,
}

impl IoError {
    pub(crate) fn new(path: &Path, op: &'static str, source: io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// Returns a closure for `map_err` that wraps an `io::Error` about `path`.
    pub(crate) fn at<'p>(path: &'p Path, op: &'static str) -> impl FnOnce(io::Error) -> Self + 'p {
        move |source| Self::new(path, op, source)
    }

    /// The file or directory the call was about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operation that failed, e.g. `"msync"` or `"create"`.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The underlying OS error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Opening a [`FileStore`](crate::FileStore) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The configuration cannot be used.
    InvalidConfig { what: &'static str },
    /// Another `FileStore` (in this or another process) has the directory open.
    Locked { path: PathBuf },
    /// A file system call failed.
    Io(IoError),
    /// A file header is not one this crate wrote: wrong magic, version or checksum.
    BadHeader {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// A file is shorter (or longer) than its header or the format says it must be.
    Truncated {
        path: PathBuf,
        len: u64,
        expected: u64,
    },
    /// Damage that is not a torn tail: an invalid record followed by valid ones, records out
    /// of order, a missing segment, or no readable seqnums slot.
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig { what } => write!(f, "invalid store configuration: {what}"),
            Self::Locked { path } => {
                write!(f, "store {} is already open elsewhere", path.display())
            }
            Self::Io(e) => e.fmt(f),
            Self::BadHeader { path, offset, what } => {
                write!(
                    f,
                    "bad header in {} at offset {offset}: {what}",
                    path.display()
                )
            }
            Self::Truncated {
                path,
                len,
                expected,
            } => write!(
                f,
                "truncated file {} at offset {len}: expected {expected} bytes",
                path.display()
            ),
            Self::Corrupt { path, offset, what } => {
                write!(f, "corrupt {} at offset {offset}: {what}", path.display())
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<IoError> for OpenError {
    fn from(e: IoError) -> Self {
        Self::Io(e)
    }
}

/// Appending a message failed; the store is unchanged unless the variant says otherwise.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppendError {
    /// MsgSeqNum 0 is never valid.
    ZeroSeq,
    /// Within an epoch MsgSeqNums must strictly increase; `last` was appended before.
    SeqNotIncreasing { seq: u64, last: u64 },
    /// The message cannot fit in one segment.
    TooLarge { len: usize, max: usize },
    /// Writing, syncing or creating a segment failed. The message may be in the page cache
    /// but is not reported durable.
    Io(IoError),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSeq => f.write_str("MsgSeqNum 0 cannot be stored"),
            Self::SeqNotIncreasing { seq, last } => {
                write!(f, "MsgSeqNum {seq} is not above the last stored {last}")
            }
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the {max}-byte segment limit"
                )
            }
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AppendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<IoError> for AppendError {
    fn from(e: IoError) -> Self {
        Self::Io(e)
    }
}

/// Setting a next sequence number failed; the previous value stays in force.
#[derive(Debug)]
#[non_exhaustive]
pub enum SeqNumError {
    /// Sequence numbers start at 1.
    Zero,
    /// The next sender seq must stay above every MsgSeqNum already journaled in this epoch.
    WouldReuse { requested: u64, last_appended: u64 },
    /// Writing the seqnums file failed.
    Io(IoError),
}

impl fmt::Display for SeqNumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero => f.write_str("sequence numbers start at 1"),
            Self::WouldReuse {
                requested,
                last_appended,
            } => write!(
                f,
                "next sender seq {requested} would reuse MsgSeqNum {last_appended}, already stored"
            ),
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SeqNumError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<IoError> for SeqNumError {
    fn from(e: IoError) -> Self {
        Self::Io(e)
    }
}

/// A sequence reset failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResetError {
    /// All 2^32 - 1 epochs have been used.
    EpochExhausted,
    /// Persisting the new epoch or removing old segments failed. If the seqnums file was
    /// written the reset has taken effect; reopening finishes removing old segments.
    Io(IoError),
}

impl fmt::Display for ResetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EpochExhausted => f.write_str("no sequence reset epochs left"),
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ResetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::EpochExhausted => None,
        }
    }
}

impl From<IoError> for ResetError {
    fn from(e: IoError) -> Self {
        Self::Io(e)
    }
}

/// Flushing to stable storage failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FlushError {
    /// msync or fdatasync failed.
    Io(IoError),
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FlushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
        }
    }
}

impl From<IoError> for FlushError {
    fn from(e: IoError) -> Self {
        Self::Io(e)
    }
}
