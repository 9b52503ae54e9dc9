//! The persistent store: a directory of segment files plus the seqnums file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{AppendError, FlushError, IoError, OpenError, ResetError, SeqNumError};
use crate::format::{RecordHeader, max_payload, record_len};
use crate::segment::{self, ScanCursor, ScanEnd, Segment};
use crate::seqnums::{self, SeqState, SeqnumFile, sync_dir};
use crate::{Appended, Durability, MessageStore, StoreConfig, StoredMessage, check_append};

const LOCK_NAME: &str = "LOCK";

/// A crash-safe message journal and seqnums file in one directory.
///
/// Holds an exclusive lock on the directory for its lifetime. See the crate documentation
/// for the on-disk format and durability semantics.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    config: StoreConfig,
    seqnums: SeqnumFile,
    next_sender: u64,
    /// Segments holding this epoch's messages, oldest first; the last one is appended to.
    segments: Vec<Segment>,
    next_segment_number: u64,
    /// Highest MsgSeqNum journaled in this epoch, 0 if none.
    last_seq: u64,
    durable_seq: u64,
    /// Bytes of the last segment before this offset are on stable storage.
    synced_offset: usize,
    appends_since_sync: u32,
    /// Released (by the OS) when the store is dropped or the process dies.
    _lock: File,
}

impl FileStore {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Validates every segment, truncates a torn tail, finishes an interrupted
    /// [`reset`](MessageStore::reset), and syncs what it found so all of it is durable.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self, OpenError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(IoError::at(&dir, "create directory"))?;
        let lock = lock_directory(&dir)?;
        let segment_numbers = list_directory(&dir)?;
        let seqnums = SeqnumFile::open_or_create(&dir)?;
        let state = seqnums.state();

        let mut segments = Vec::with_capacity(segment_numbers.len());
        for (i, &number) in segment_numbers.iter().enumerate() {
            if i > 0 && number != segment_numbers[i - 1] + 1 {
                let missing = dir.join(segment::file_name(segment_numbers[i - 1] + 1));
                let what = "segment file is missing from the middle of the journal".to_owned();
                return Err(OpenError::Corrupt {
                    path: missing,
                    offset: 0,
                    what,
                });
            }
            segments.push(Segment::open(dir.join(segment::file_name(number)), number)?);
        }
        let cursor = scan_and_repair(&dir, &mut segments, state.epoch)?;
        drop_stale_segments(&dir, &mut segments)?;
        // Continue after the last segment kept, so numbering never leaves a gap.
        let next_segment_number = match segments.last() {
            Some(last) => last.number + 1,
            None => segment_numbers.last().map_or(1, |n| n + 1),
        };
        let mut max_seq = 0;
        for segment in &mut segments {
            if segment.has_messages() {
                max_seq = segment.seq_at(segment.len() - 1);
            }
            segment.max_seq = max_seq;
        }
        // A killed writer may have left appended records in the page cache only.
        let synced_offset = match segments.last() {
            Some(last) => {
                last.sync_from(0)?;
                last.write_offset
            }
            None => 0,
        };
        Ok(Self {
            dir,
            config,
            next_sender: state.next_sender.max(cursor.last_seq + 1),
            seqnums,
            segments,
            next_segment_number,
            last_seq: cursor.last_seq,
            durable_seq: cursor.last_seq,
            synced_offset,
            appends_since_sync: 0,
            _lock: lock,
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> StoreConfig {
        self.config
    }

    fn persist(&mut self, state: SeqState) -> Result<(), IoError> {
        let sync = self.config.durability() == Durability::PerMessage;
        self.seqnums.write(state, sync)
    }

    /// Makes every append and seqnums write so far durable.
    fn sync_all(&mut self) -> Result<(), IoError> {
        if let Some(active) = self.segments.last() {
            active.sync_from(self.synced_offset)?;
            self.synced_offset = active.write_offset;
        }
        self.seqnums.sync()?;
        self.durable_seq = self.last_seq;
        self.appends_since_sync = 0;
        Ok(())
    }

    /// Seals the active segment (if any) and starts a new one.
    fn roll_over(&mut self) -> Result<(), IoError> {
        let epoch = self.seqnums.state().epoch;
        if let Some(active) = self.segments.last_mut() {
            if !active.sealed {
                active.seal(epoch)?;
            }
            // Sealing synced the whole segment, and it held every record.
            self.durable_seq = self.last_seq;
            self.appends_since_sync = 0;
        }
        let segment = Segment::create(
            &self.dir,
            self.next_segment_number,
            self.config.segment_size(),
            self.last_seq,
        )?;
        self.next_segment_number += 1;
        self.synced_offset = segment.write_offset;
        self.segments.push(segment);
        Ok(())
    }

    /// Index of the first segment that may hold `seq` or a later one.
    fn first_segment_for(&self, seq: u64) -> usize {
        self.segments.partition_point(|s| s.max_seq < seq)
    }
}

impl MessageStore for FileStore {
    type Range<'a> = FileRange<'a>;

    fn append(
        &mut self,
        seq: u64,
        sending_time_ns: i64,
        msg: &[u8],
    ) -> Result<Appended, AppendError> {
        check_append(
            seq,
            self.last_seq,
            msg.len(),
            max_payload(self.config.segment_size()),
        )?;
        let len = record_len(msg.len());
        if !self.segments.last().is_some_and(|s| s.fits(len)) {
            self.roll_over()?;
        }
        let epoch = self.seqnums.state().epoch;
        let header = RecordHeader::message(seq, sending_time_ns, epoch, msg.len() as u32);
        let Some(active) = self.segments.last_mut() else {
            unreachable!("roll_over leaves an active segment");
        };
        active.write_message(header, msg, len);
        self.last_seq = seq;
        self.next_sender = self.next_sender.max(seq + 1);
        self.appends_since_sync += 1;
        let sync_now = match self.config.durability() {
            Durability::None => false,
            Durability::Batched { every } => self.appends_since_sync >= every,
            Durability::PerMessage => true,
        };
        if sync_now {
            self.sync_all()?;
        }
        Ok(Appended {
            seq,
            durable_seq: self.durable_seq,
        })
    }

    fn get(&self, seq: u64) -> Option<StoredMessage<'_>> {
        let segment = self.segments.get(self.first_segment_for(seq))?;
        let index = segment.lower_bound(seq);
        (index < segment.len() && segment.seq_at(index) == seq).then(|| segment.message_at(index))
    }

    fn range(&self, begin: u64, end: u64) -> FileRange<'_> {
        let begin = begin.max(1);
        let segment = self.first_segment_for(begin);
        let position = self
            .segments
            .get(segment)
            .map_or(0, |s| s.lower_bound(begin));
        let end = if end == 0 { u64::MAX } else { end };
        FileRange {
            segments: &self.segments,
            segment,
            position,
            end,
        }
    }

    fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }

    fn set_next_sender_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        crate::check_next_sender(next, self.last_seq)?;
        let state = SeqState {
            next_sender: next,
            ..self.seqnums.state()
        };
        self.persist(state)?;
        self.next_sender = next;
        Ok(())
    }

    fn next_target_seq(&self) -> u64 {
        self.seqnums.state().next_target
    }

    fn set_next_target_seq(&mut self, next: u64) -> Result<(), SeqNumError> {
        if next == 0 {
            return Err(SeqNumError::Zero);
        }
        let state = SeqState {
            next_target: next,
            ..self.seqnums.state()
        };
        self.persist(state)?;
        Ok(())
    }

    fn epoch(&self) -> u32 {
        self.seqnums.state().epoch
    }

    fn reset(&mut self) -> Result<(), ResetError> {
        let epoch = self
            .seqnums
            .state()
            .epoch
            .checked_add(1)
            .ok_or(ResetError::EpochExhausted)?;
        // Persisting the epoch is the commit point: from here on, old records are ignored
        // on open even if removing their segments below is interrupted.
        self.seqnums.write(
            SeqState {
                epoch,
                next_sender: 1,
                next_target: 1,
            },
            true,
        )?;
        self.next_sender = 1;
        self.last_seq = 0;
        self.durable_seq = 0;
        self.synced_offset = 0;
        self.appends_since_sync = 0;
        // Oldest first, so an interruption leaves a contiguous run of segments.
        for segment in std::mem::take(&mut self.segments) {
            let path = segment.path.clone();
            drop(segment);
            fs::remove_file(&path).map_err(IoError::at(&path, "remove"))?;
        }
        sync_dir(&self.dir)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FlushError> {
        Ok(self.sync_all()?)
    }
}

/// Iterator over stored messages in MsgSeqNum order, borrowing the mapped segments.
#[derive(Debug, Clone)]
pub struct FileRange<'a> {
    segments: &'a [Segment],
    segment: usize,
    position: usize,
    end: u64,
}

impl<'a> Iterator for FileRange<'a> {
    type Item = StoredMessage<'a>;

    fn next(&mut self) -> Option<StoredMessage<'a>> {
        while let Some(segment) = self.segments.get(self.segment) {
            if self.position < segment.len() {
                let message = segment.message_at(self.position);
                if message.seq > self.end {
                    self.segment = self.segments.len();
                    return None;
                }
                self.position += 1;
                return Some(message);
            }
            self.segment += 1;
            self.position = 0;
        }
        None
    }
}

fn lock_directory(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join(LOCK_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(IoError::at(&path, "open"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(OpenError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(IoError::new(&path, "flock", e).into()),
    }
}

/// Removes files a crash left half-created and returns the segment numbers, sorted.
fn list_directory(dir: &Path) -> Result<Vec<u64>, OpenError> {
    let mut numbers = Vec::new();
    let mut removed_any = false;
    for entry in fs::read_dir(dir).map_err(IoError::at(dir, "read directory"))? {
        let entry = entry.map_err(IoError::at(dir, "read directory"))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(number) = segment::parse_file_name(&name) {
            numbers.push(number);
        } else if name == seqnums::TEMP_NAME || segment::is_temp_file_name(&name) {
            let path = entry.path();
            fs::remove_file(&path).map_err(IoError::at(&path, "remove"))?;
            removed_any = true;
        }
    }
    if removed_any {
        sync_dir(dir)?;
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Scans all segments, truncating a torn tail: an unwritten or invalid position after which
/// no valid record exists. Such a position anywhere else is corruption.
fn scan_and_repair(
    dir: &Path,
    segments: &mut Vec<Segment>,
    epoch: u32,
) -> Result<ScanCursor, OpenError> {
    let mut cursor = ScanCursor {
        epoch,
        previous_epoch: 0,
        last_seq: 0,
    };
    for i in 0..segments.len() {
        let (at, invalid) = match segments[i].scan(&mut cursor)? {
            ScanEnd::Sealed => continue,
            ScanEnd::Unwritten(at) => (at, false),
            ScanEnd::Invalid(at) => (at, true),
        };
        let is_last = i + 1 == segments.len();
        // Unwritten space ends the last segment normally. Anywhere else, and after any
        // invalid record, valid records further on mean the damage is not a torn tail.
        if invalid || !is_last {
            let later = segments[i]
                .find_valid_record(at + 1)
                .map(|offset| (i, offset))
                .or_else(|| {
                    segments
                        .iter()
                        .enumerate()
                        .skip(i + 1)
                        .find_map(|(j, s)| s.find_valid_record(0).map(|offset| (j, offset)))
                });
            if let Some((j, offset)) = later {
                let what = format!(
                    "{} record is followed by a valid record in {} at offset {offset}",
                    if invalid { "invalid" } else { "unterminated" },
                    segments[j].path.display()
                );
                return Err(OpenError::Corrupt {
                    path: segments[i].path.clone(),
                    offset: at as u64,
                    what,
                });
            }
        }
        if invalid {
            segments[i].truncate(at)?;
        }
        // Later segments hold no valid record: a crash hit before their first one.
        for segment in segments.drain(i + 1..) {
            let path = segment.path.clone();
            drop(segment);
            fs::remove_file(&path).map_err(IoError::at(&path, "remove"))?;
        }
        if !is_last {
            sync_dir(dir)?;
        }
        break;
    }
    Ok(cursor)
}

/// Removes leading segments holding only records of earlier epochs: what an interrupted
/// `reset` had not yet removed.
fn drop_stale_segments(dir: &Path, segments: &mut Vec<Segment>) -> Result<(), OpenError> {
    let stale = segments
        .iter()
        .take_while(|s| s.stale_records > 0 && !s.has_messages())
        .count();
    if stale == 0 {
        return Ok(());
    }
    for segment in segments.drain(..stale) {
        let path = segment.path.clone();
        drop(segment);
        fs::remove_file(&path).map_err(IoError::at(&path, "remove"))?;
    }
    sync_dir(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;
    use crate::format::SegmentHeader;

    const SMALL: u64 = 1024;

    fn config(durability: Durability) -> StoreConfig {
        StoreConfig::new(durability).with_segment_size(SMALL)
    }

    fn open(dir: &Path) -> FileStore {
        FileStore::open(dir, config(Durability::None)).unwrap()
    }

    fn body(seq: u64) -> Vec<u8> {
        format!("35=D|34={seq}|58={}|", "x".repeat((seq % 13) as usize)).into_bytes()
    }

    fn append_seqs(store: &mut FileStore, seqs: impl IntoIterator<Item = u64>) {
        for seq in seqs {
            store.append(seq, seq as i64 * 1000, &body(seq)).unwrap();
        }
    }

    fn segment_path(dir: &Path, number: u64) -> PathBuf {
        dir.join(segment::file_name(number))
    }

    fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .write_all_at(bytes, offset)
            .unwrap();
    }

    fn seqs(store: &FileStore, begin: u64, end: u64) -> Vec<u64> {
        store.range(begin, end).map(|m| m.seq).collect()
    }

    #[test]
    fn append_then_get_returns_message_before_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=5);
        let expected = StoredMessage {
            seq: 3,
            sending_time_ns: 3000,
            bytes: &body(3),
        };
        assert_eq!(store.get(3), Some(expected));
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.get(3), Some(expected));
        assert_eq!(store.get(6), None);
        assert_eq!(store.get(0), None);
    }

    #[test]
    fn append_past_segment_end_rolls_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=100);
        assert!(
            store.segments.len() > 3,
            "{} segments",
            store.segments.len()
        );
        assert!(segment_path(dir.path(), 2).exists());
        drop(store);
        let store = open(dir.path());
        assert_eq!(seqs(&store, 1, 0), (1..=100).collect::<Vec<_>>());
        for seq in 1..=100 {
            assert_eq!(store.get(seq).unwrap().bytes, body(seq));
        }
    }

    #[test]
    fn range_honours_bounds_gaps_and_end_zero() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, (1..=60).filter(|s| s % 3 != 0));
        assert_eq!(seqs(&store, 10, 14), [10, 11, 13, 14]);
        assert_eq!(seqs(&store, 57, 0), [58, 59]);
        assert_eq!(seqs(&store, 0, 2), [1, 2]);
        assert!(seqs(&store, 61, 0).is_empty());
        assert!(seqs(&store, 9, 9).is_empty());
        assert_eq!(store.get(9), None);
    }

    #[test]
    fn append_larger_than_segment_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let max = store.config().max_message_len();
        let err = store.append(1, 0, &vec![b'a'; max + 1]).unwrap_err();
        assert!(matches!(err, AppendError::TooLarge { len, max: m } if len == max + 1 && m == max));
        store.append(1, 0, &vec![b'a'; max]).unwrap();
        store.append(2, 0, &vec![b'b'; max]).unwrap();
        assert_eq!(store.get(1).unwrap().bytes.len(), max);
    }

    #[test]
    fn append_with_non_increasing_seq_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, [5]);
        let err = store.append(5, 0, b"again").unwrap_err();
        assert!(matches!(
            err,
            AppendError::SeqNotIncreasing { seq: 5, last: 5 }
        ));
        assert!(matches!(
            store.append(0, 0, b"zero"),
            Err(AppendError::ZeroSeq)
        ));
    }

    #[test]
    fn reopen_continues_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=7);
        store.set_next_target_seq(42).unwrap();
        drop(store);
        let mut store = open(dir.path());
        // The journal says 7 was sent even though set_next_sender_seq was never called.
        assert_eq!((store.next_sender_seq(), store.next_target_seq()), (8, 42));
        store.set_next_sender_seq(20).unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.next_sender_seq(), 20);
    }

    #[test]
    fn set_next_sender_at_or_below_journal_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=3);
        assert!(matches!(
            store.set_next_sender_seq(3),
            Err(SeqNumError::WouldReuse {
                requested: 3,
                last_appended: 3
            })
        ));
        assert!(matches!(
            store.set_next_target_seq(0),
            Err(SeqNumError::Zero)
        ));
        assert_eq!(store.next_sender_seq(), 4);
    }

    #[test]
    fn open_with_torn_tail_truncates_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=3);
        let torn_at = store.segments[0].record_offset(2);
        drop(store);
        // Half of the last header was written, the rest not.
        write_at(&segment_path(dir.path(), 1), torn_at + 16, &[0; 16]);
        let mut store = open(dir.path());
        assert_eq!(seqs(&store, 1, 0), [1, 2]);
        assert_eq!(store.next_sender_seq(), 3);
        append_seqs(&mut store, [3, 4]);
        drop(store);
        assert_eq!(seqs(&open(dir.path()), 1, 0), [1, 2, 3, 4]);
    }

    #[test]
    fn open_with_crc_bad_last_payload_truncates_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=3);
        let last_at = store.segments[0].record_offset(2);
        drop(store);
        write_at(&segment_path(dir.path(), 1), last_at + 40, b"garbage");
        let store = open(dir.path());
        assert_eq!(seqs(&store, 1, 0), [1, 2]);
        assert_eq!(store.durable_seq(), 2);
    }

    #[test]
    fn open_with_bad_record_followed_by_good_ones_names_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=4);
        let bad_at = store.segments[0].record_offset(1);
        drop(store);
        let path = segment_path(dir.path(), 1);
        write_at(&path, bad_at + 8, &[0xFF]);
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(&err, OpenError::Corrupt { path: p, offset, .. } if *p == path && *offset == bad_at),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("journal-00000000000000000001.seg") && text.contains(&bad_at.to_string())
        );
    }

    #[test]
    fn open_with_bad_record_followed_by_good_segment_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=40);
        assert!(store.segments.len() >= 3);
        let bad_at = store.segments[0].record_offset(0);
        drop(store);
        write_at(&segment_path(dir.path(), 1), bad_at, &[0xAB; 4]);
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(err, OpenError::Corrupt { offset, .. } if offset == bad_at),
            "{err}"
        );
    }

    #[test]
    fn open_with_bad_magic_names_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, [1]);
        drop(store);
        let path = segment_path(dir.path(), 1);
        write_at(&path, 0, b"NOTMAGIC");
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(&err, OpenError::BadHeader { path: p, offset: 0, .. } if *p == path),
            "{err}"
        );
        assert!(err.to_string().contains("bad magic"), "{err}");
    }

    #[test]
    fn open_with_unsupported_version_is_bad_header() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        write_at(&dir.path().join(seqnums::FILE_NAME), 8, &7u32.to_le_bytes());
        write_at(
            &dir.path().join(seqnums::FILE_NAME),
            512 + 8,
            &7u32.to_le_bytes(),
        );
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        // The checksum no longer matches either, so this is reported as corruption.
        assert!(matches!(err, OpenError::Corrupt { offset: 0, .. }), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, [1]);
        drop(store);
        let path = segment_path(dir.path(), 1);
        let mut header = SegmentHeader {
            number: 1,
            len: SMALL,
        }
        .encode();
        header[8] = 2;
        write_at(&path, 0, &header);
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(err, OpenError::BadHeader { offset: 8, .. }),
            "{err}"
        );
    }

    #[test]
    fn open_with_truncated_segment_is_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, [1]);
        drop(store);
        let path = segment_path(dir.path(), 1);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(500)
            .unwrap();
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(&err, OpenError::Truncated { path: p, len: 500, expected: SMALL } if *p == path),
            "{err}"
        );
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(10)
            .unwrap();
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(matches!(err, OpenError::Truncated { len: 10, .. }), "{err}");
    }

    #[test]
    fn open_with_missing_middle_segment_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=60);
        drop(store);
        let missing = segment_path(dir.path(), 2);
        fs::remove_file(&missing).unwrap();
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(&err, OpenError::Corrupt { path, .. } if *path == missing),
            "{err}"
        );
    }

    #[test]
    fn open_with_empty_segment_after_rollover_crash_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=40);
        let segments = store.segments.len() as u64;
        // A crash right after creating a segment leaves one with no records.
        store.roll_over().unwrap();
        drop(store);
        let mut store = open(dir.path());
        assert_eq!(store.last_seq(), 40);
        append_seqs(&mut store, [41]);
        drop(store);
        let store = open(dir.path());
        assert_eq!(seqs(&store, 39, 0), [39, 40, 41]);
        assert!(segment_path(dir.path(), segments + 1).exists());
    }

    #[test]
    fn open_of_locked_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _store = open(dir.path());
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    }

    #[test]
    fn open_with_invalid_config_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        for config in [
            config(Durability::None).with_segment_size(100),
            config(Durability::None).with_segment_size(1001),
            config(Durability::Batched { every: 0 }),
        ] {
            let err = FileStore::open(dir.path(), config).unwrap_err();
            assert!(matches!(err, OpenError::InvalidConfig { .. }), "{err}");
        }
    }

    #[test]
    fn reset_hides_previous_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=30);
        store.set_next_target_seq(9).unwrap();
        store.reset().unwrap();
        assert_eq!(
            (
                store.epoch(),
                store.next_sender_seq(),
                store.next_target_seq()
            ),
            (2, 1, 1)
        );
        assert_eq!(store.get(1), None);
        assert!(seqs(&store, 1, 0).is_empty());
        store.append(1, 0, b"new epoch").unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.epoch(), 2);
        assert_eq!(store.get(1).unwrap().bytes, b"new epoch");
        assert_eq!(seqs(&store, 1, 0), [1]);
    }

    #[test]
    fn interrupted_reset_is_finished_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let saved = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        append_seqs(&mut store, 1..=30);
        let numbers: Vec<u64> = store.segments.iter().map(|s| s.number).collect();
        for &n in &numbers {
            fs::copy(
                segment_path(dir.path(), n),
                saved.path().join(segment::file_name(n)),
            )
            .unwrap();
        }
        store.reset().unwrap();
        drop(store);
        // As if the process died after persisting the new epoch but before removing segments.
        for &n in &numbers {
            fs::copy(
                saved.path().join(segment::file_name(n)),
                segment_path(dir.path(), n),
            )
            .unwrap();
        }
        let mut store = open(dir.path());
        assert_eq!(
            (store.epoch(), store.next_sender_seq(), store.last_seq()),
            (2, 1, 0)
        );
        assert!(seqs(&store, 1, 0).is_empty());
        assert!(
            numbers
                .iter()
                .all(|&n| !segment_path(dir.path(), n).exists())
        );
        append_seqs(&mut store, 1..=2);
        drop(store);
        assert_eq!(seqs(&open(dir.path()), 1, 0), [1, 2]);
    }

    #[test]
    fn open_with_record_epoch_ahead_of_seqnums_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let old_seqnums = fs::read(dir.path().join(seqnums::FILE_NAME)).unwrap();
        let mut store = open(dir.path());
        store.reset().unwrap();
        append_seqs(&mut store, [1]);
        drop(store);
        fs::write(dir.path().join(seqnums::FILE_NAME), old_seqnums).unwrap();
        let err = FileStore::open(dir.path(), config(Durability::None)).unwrap_err();
        assert!(
            matches!(&err, OpenError::Corrupt { offset: 64, .. }),
            "{err}"
        );
    }

    #[test]
    fn per_message_append_is_durable_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path(), config(Durability::PerMessage)).unwrap();
        for seq in 1..=20 {
            let appended = store.append(seq, 0, &body(seq)).unwrap();
            assert!(appended.is_durable());
            assert_eq!(store.durable_seq(), seq);
        }
    }

    #[test]
    fn batched_append_is_durable_every_n_and_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::new(Durability::Batched { every: 3 });
        let mut store = FileStore::open(dir.path(), config).unwrap();
        let durable: Vec<u64> = (1..=7)
            .map(|seq| store.append(seq, 0, b"m").unwrap().durable_seq)
            .collect();
        assert_eq!(durable, [0, 0, 3, 3, 3, 6, 6]);
        store.flush().unwrap();
        assert_eq!(store.durable_seq(), 7);
    }

    #[test]
    fn unsynced_append_is_durable_after_flush_or_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path(), StoreConfig::new(Durability::None)).unwrap();
        assert!(!store.append(1, 0, b"a").unwrap().is_durable());
        store.flush().unwrap();
        assert_eq!(store.durable_seq(), 1);
        store.append(2, 0, b"b").unwrap();
        assert_eq!(store.durable_seq(), 1);
        drop(store);
        let store = FileStore::open(dir.path(), StoreConfig::new(Durability::None)).unwrap();
        assert_eq!(store.durable_seq(), 2);
    }

    #[test]
    fn leftover_temporary_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let temp = dir.path().join("journal-00000000000000000001.seg.tmp");
        fs::write(&temp, b"half").unwrap();
        drop(open(dir.path()));
        assert!(!temp.exists());
    }
}
