//! One pre-allocated, memory-mapped segment file of the journal and its in-memory index.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::StoredMessage;
use crate::error::{IoError, OpenError};
use crate::format::{
    RECORD_ALIGN, RECORD_HEADER_LEN, RecordHeader, SEAL_LEN, SEGMENT_HEADER_LEN, SegmentHeader,
    Slot, read_slot, read_u32, read_u64,
};
use crate::seqnums::sync_dir;

const NAME_PREFIX: &str = "journal-";
const NAME_SUFFIX: &str = ".seg";
pub(crate) const TEMP_SUFFIX: &str = ".seg.tmp";

/// `journal-<number, 20 decimal digits>.seg`, so names sort in segment order.
pub(crate) fn file_name(number: u64) -> String {
    format!("{NAME_PREFIX}{number:020}{NAME_SUFFIX}")
}

/// The segment number encoded in a file name, if it is a segment file name.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `name` is a segment that a crash left half-created.
pub(crate) fn is_temp_file_name(name: &str) -> bool {
    name.starts_with(NAME_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// How scanning a segment's records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// A valid seal record: the segment is complete.
    Sealed,
    /// An all-zero header at this offset: nothing was written from here on.
    Unwritten(usize),
    /// An invalid record at this offset.
    Invalid(usize),
}

/// Sequencing state carried from one segment's scan to the next.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanCursor {
    /// The epoch in force (from the seqnums file).
    pub(crate) epoch: u32,
    /// Epoch of the previous record scanned, of any epoch.
    pub(crate) previous_epoch: u32,
    /// Highest MsgSeqNum seen in the current epoch, 0 if none.
    pub(crate) last_seq: u64,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) number: u64,
    map: MmapMut,
    /// Where the next record goes.
    pub(crate) write_offset: usize,
    pub(crate) sealed: bool,
    /// Offsets of the current epoch's message records, in MsgSeqNum order.
    offsets: Vec<u32>,
    /// Records of earlier epochs found when scanning.
    pub(crate) stale_records: usize,
    /// The highest MsgSeqNum in this segment, or if it holds none, in the segments before it.
    /// Non-decreasing across segments, so it can be binary-searched.
    pub(crate) max_seq: u64,
}

impl Segment {
    /// A segment whose records are not yet indexed: writing starts after the header.
    fn unscanned(path: PathBuf, number: u64, map: MmapMut, len: u64, max_seq: u64) -> Self {
        Self {
            path,
            number,
            map,
            write_offset: SEGMENT_HEADER_LEN,
            sealed: false,
            offsets: Vec::with_capacity(index_capacity(len)),
            stale_records: 0,
            max_seq,
        }
    }

    /// Creates `dir/journal-<number>.seg` of `len` bytes: written under a temporary name,
    /// allocated on disk (so a full disk fails here, not as SIGBUS in a later store), given
    /// its header, fsynced, renamed into place.
    pub(crate) fn create(dir: &Path, number: u64, len: u64, max_seq: u64) -> Result<Self, IoError> {
        let path = dir.join(file_name(number));
        let temp = path.with_extension(&TEMP_SUFFIX[1..]);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(IoError::at(&temp, "create"))?;
        allocate(&file, len).map_err(IoError::at(&temp, "posix_fallocate"))?;
        let mut map = map(&file).map_err(IoError::at(&temp, "mmap"))?;
        map[..SEGMENT_HEADER_LEN].copy_from_slice(&SegmentHeader { number, len }.encode());
        map.flush().map_err(IoError::at(&temp, "msync"))?;
        fs::rename(&temp, &path).map_err(IoError::at(&path, "rename"))?;
        sync_dir(dir)?;
        Ok(Self::unscanned(path, number, map, len, max_seq))
    }

    /// Maps an existing segment and validates its header; records are read by [`Self::scan`].
    pub(crate) fn open(path: PathBuf, number: u64) -> Result<Self, OpenError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(IoError::at(&path, "open"))?;
        let len = file.metadata().map_err(IoError::at(&path, "stat"))?.len();
        if len < SEGMENT_HEADER_LEN as u64 {
            return Err(OpenError::Truncated {
                path,
                len,
                expected: SEGMENT_HEADER_LEN as u64,
            });
        }
        let map = map(&file).map_err(IoError::at(&path, "mmap"))?;
        let header = match SegmentHeader::decode(&map) {
            Ok(header) => header,
            Err(problem) => {
                return Err(OpenError::BadHeader {
                    path,
                    offset: problem.offset(),
                    what: problem.describe(),
                });
            }
        };
        if header.number != number {
            let what = format!(
                "header says segment {} but the name says {number}",
                header.number
            );
            return Err(OpenError::BadHeader {
                path,
                offset: 16,
                what,
            });
        }
        if header.len != len {
            return Err(OpenError::Truncated {
                path,
                len,
                expected: header.len,
            });
        }
        if !crate::valid_segment_size(len) {
            let what = format!("segment length {len} is not a supported size");
            return Err(OpenError::BadHeader {
                path,
                offset: 24,
                what,
            });
        }
        Ok(Self::unscanned(path, number, map, len, 0))
    }

    /// Indexes the records of the cursor's epoch until the seal, unwritten space or an
    /// invalid record, and leaves `write_offset` there. Errors on valid records that break
    /// ordering: an epoch ahead of the seqnums file, epochs or MsgSeqNums going backwards.
    pub(crate) fn scan(&mut self, cursor: &mut ScanCursor) -> Result<ScanEnd, OpenError> {
        let mut at = SEGMENT_HEADER_LEN;
        loop {
            self.write_offset = at;
            let (header, next) = match read_slot(&self.map, at) {
                Slot::End => return Ok(ScanEnd::Unwritten(at)),
                Slot::Bad => return Ok(ScanEnd::Invalid(at)),
                Slot::Seal => {
                    self.sealed = true;
                    return Ok(ScanEnd::Sealed);
                }
                Slot::Message { header, next } => (header, next),
            };
            let problem = if header.epoch > cursor.epoch {
                Some(format!(
                    "record epoch {} is ahead of the seqnums file's epoch {}",
                    header.epoch, cursor.epoch
                ))
            } else if header.epoch < cursor.previous_epoch {
                Some(format!(
                    "record epoch {} follows epoch {}",
                    header.epoch, cursor.previous_epoch
                ))
            } else if header.epoch == cursor.epoch && header.seq <= cursor.last_seq {
                Some(format!(
                    "MsgSeqNum {} follows {}",
                    header.seq, cursor.last_seq
                ))
            } else {
                None
            };
            if let Some(what) = problem {
                return Err(OpenError::Corrupt {
                    path: self.path.clone(),
                    offset: at as u64,
                    what,
                });
            }
            cursor.previous_epoch = header.epoch;
            if header.epoch == cursor.epoch {
                cursor.last_seq = header.seq;
                self.offsets.push(at as u32);
            } else {
                self.stale_records += 1;
            }
            at = next;
        }
    }

    /// Offset of the first valid record (message or seal) at or after `from`, if any.
    pub(crate) fn find_valid_record(&self, from: usize) -> Option<usize> {
        let start = from.max(SEGMENT_HEADER_LEN).next_multiple_of(RECORD_ALIGN);
        let last = self.map.len().checked_sub(RECORD_HEADER_LEN)?;
        (start..=last)
            .step_by(RECORD_ALIGN)
            .find(|&at| matches!(read_slot(&self.map, at), Slot::Message { .. } | Slot::Seal))
    }

    /// Zeroes everything from `from` to the end (skipping pages already zero, to keep a
    /// sparse tail cheap), syncs it, and makes `from` the write position.
    pub(crate) fn truncate(&mut self, from: usize) -> Result<(), IoError> {
        for chunk in self.map[from..].chunks_mut(4096) {
            if chunk.iter().any(|&b| b != 0) {
                chunk.fill(0);
            }
        }
        self.map.flush().map_err(IoError::at(&self.path, "msync"))?;
        self.write_offset = from;
        self.sealed = false;
        Ok(())
    }

    /// Whether a record of `len` bytes fits before the seal reserve.
    pub(crate) fn fits(&self, len: usize) -> bool {
        !self.sealed && self.write_offset + len <= self.map.len() - SEAL_LEN
    }

    /// Writes a message record at the write position (payload first, header last, so a
    /// process killed mid-copy most often leaves an all-zero header) and indexes it.
    /// The caller has checked [`Self::fits`] for `record_len` bytes.
    pub(crate) fn write_message(&mut self, header: RecordHeader, msg: &[u8], record_len: usize) {
        let at = self.write_offset;
        let payload_start = at + RECORD_HEADER_LEN;
        self.map[payload_start..payload_start + msg.len()].copy_from_slice(msg);
        // The padding may hold bytes of a record torn before a previous open.
        self.map[payload_start + msg.len()..at + record_len].fill(0);
        self.map[at..payload_start].copy_from_slice(&header.encode(msg));
        self.offsets.push(at as u32);
        self.write_offset = at + record_len;
        self.max_seq = header.seq;
    }

    /// Writes the seal record at the write position and syncs the whole segment.
    pub(crate) fn seal(&mut self, epoch: u32) -> Result<(), IoError> {
        let at = self.write_offset;
        self.map[at..at + RECORD_HEADER_LEN]
            .copy_from_slice(&RecordHeader::seal(epoch).encode(&[]));
        self.sealed = true;
        self.offsets.shrink_to_fit();
        self.map.flush().map_err(IoError::at(&self.path, "msync"))
    }

    /// msyncs bytes `from..write_offset` (msync rounds to pages; on Linux it is an fdatasync
    /// of that file range).
    pub(crate) fn sync_from(&self, from: usize) -> Result<(), IoError> {
        if self.write_offset > from {
            self.map
                .flush_range(from, self.write_offset - from)
                .map_err(IoError::at(&self.path, "msync"))?;
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.len()
    }

    pub(crate) fn has_messages(&self) -> bool {
        !self.offsets.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn record_offset(&self, index: usize) -> u64 {
        u64::from(self.offsets[index])
    }

    pub(crate) fn seq_at(&self, index: usize) -> u64 {
        read_u64(&self.map, self.offsets[index] as usize + 8)
    }

    pub(crate) fn message_at(&self, index: usize) -> StoredMessage<'_> {
        let at = self.offsets[index] as usize;
        let len = read_u32(&self.map, at) as usize;
        let payload = at + RECORD_HEADER_LEN;
        StoredMessage {
            seq: read_u64(&self.map, at + 8),
            sending_time_ns: read_u64(&self.map, at + 16) as i64,
            bytes: &self.map[payload..payload + len],
        }
    }

    /// Index of the first message with MsgSeqNum >= `seq` (`len()` if none).
    pub(crate) fn lower_bound(&self, seq: u64) -> usize {
        // Seqs are usually consecutive, so try the direct position before searching.
        if let Some(&first) = self.offsets.first() {
            let first_seq = read_u64(&self.map, first as usize + 8);
            if let Some(guess) = seq
                .checked_sub(first_seq)
                .and_then(|d| usize::try_from(d).ok())
                && guess < self.offsets.len()
                && self.seq_at(guess) == seq
            {
                return guess;
            }
        }
        let (mut low, mut high) = (0, self.offsets.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.seq_at(mid) < seq {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }
}

/// Index entries reserved per segment: enough for the smallest possible records, so the
/// index never reallocates while a segment fills. Untouched capacity costs no memory.
fn index_capacity(segment_len: u64) -> usize {
    usize::try_from(segment_len).unwrap_or(usize::MAX) / RECORD_HEADER_LEN
}

fn map(file: &File) -> std::io::Result<MmapMut> {
    // SAFETY: the store holds an exclusive lock on its directory (see `FileStore::open`), so
    // no cooperating process maps, writes or truncates this file while the map lives; the
    // file's length is fixed at creation and this crate never changes it afterwards.
    unsafe { MmapMut::map_mut(file) }
}

fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor belongs to `file`, which is open for writing and outlives the call.
    let status = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_sort_numerically() {
        assert_eq!(file_name(7), "journal-00000000000000000007.seg");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("journal-7.seg"), None);
        assert_eq!(
            parse_file_name("journal-00000000000000000007.seg.tmp"),
            None
        );
        assert!(is_temp_file_name("journal-00000000000000000007.seg.tmp"));
        assert!(file_name(9) < file_name(10));
    }
}
