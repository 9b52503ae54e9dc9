//! # gapless-shm: single-producer single-consumer rings in shared memory
//!
//! What this crate is: the one ring layout Gapless uses between processes and between hardware
//! and software: the gateway's network core writes the gap-free message stream for a trading
//! process, the trading process writes its orders back, and an FPGA's DMA engine would write
//! verdict descriptors the same way. A ring lives in a memory-mapped file (`/dev/shm` by default,
//! hugetlbfs if configured), either alone ([`Ring::create`], [`Ring::open`]) or as one block of a
//! larger mapping ([`Ring::format_in`], [`Ring::attach_in`]: `gapless-client` puts two rings and
//! a counters block in one file), or in anonymous memory between two threads
//! ([`Ring::anonymous`]). Either side may be killed at any instant and restart from the
//! positions in the file: nothing committed is lost and nothing is read twice.
//!
//! What it is not: a multi-producer queue, a blocking queue (a full ring is an error value, an
//! empty one is `None`; waiting is the caller's idle strategy), or a transport between hosts.
//!
//! ## Layout of a ring block (all integers little-endian)
//!
//! | offset | size | field |
//! | ---: | ---: | --- |
//! | 0 | 8 | magic `GLSHRING` |
//! | 8 | 4 | layout version ([`VERSION`]) |
//! | 12 | 4 | reserved, 0 |
//! | 16 | 8 | capacity of the data area in bytes: a power of two, at least 256 |
//! | 24 | 104 | reserved, 0 |
//! | 128 | 8 | `tail`: bytes ever written (producer's cache line pair) |
//! | 256 | 8 | `head`: bytes ever consumed (consumer's cache line pair) |
//! | 264 | 8 | `progress`: a word the consumer publishes with `head` ([`Consumer::commit_with_progress`]) |
//! | 384 | capacity | data |
//!
//! A block starts at a multiple of 128 bytes in its mapping. `head` and `tail` sit 128 bytes
//! apart so that the producer and the consumer never write to the same pair of cache lines
//! (adjacent-line prefetch pairs lines on x86).
//!
//! ## Records
//!
//! A record is an 8-byte header, `length: u32` (payload bytes, 1 or more, or [`PADDING`] for
//! filler to the end of the data area) and a reserved `u32`, then the payload, padded to a
//! multiple of 8. A length of 0 means "nothing here yet". A record never wraps: if it does not fit
//! before the end of the data area, a padding record fills the rest and the record starts at
//! offset 0.
//!
//! The producer writes the payload, then zeroes the length word just past the record, then writes
//! the record's length with release ordering: a non-zero length read with acquire ordering means
//! the whole record is there, and the word after it is either 0 or the next record. A push
//! therefore needs 8 bytes beyond its record free, so the ring is never completely full and the
//! word at the end of the committed records is always 0. The consumer writes nothing in the data
//! area: consuming a record is one release store of `head`, so a consumer killed at any instant
//! has either consumed a record or not.
//!
//! `tail` is stored after each commit, so it may lag by the record being committed when the
//! producer dies. A restarted producer ([`Ring::producer`]) walks the committed records from
//! `max(tail, head)` to the zero word to find the true end.
//!
//! Version 1 had the consumer zero what it read; a consumer killed while zeroing left a zero
//! length at `head` with records behind it, and the ring stalled. Version 2 is the scheme above.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::MmapRaw;

/// Identifies a ring block.
pub const MAGIC: [u8; 8] = *b"GLSHRING";
/// The layout version this crate reads and writes.
pub const VERSION: u32 = 2;
/// Offset of the producer's position.
pub const TAIL_OFFSET: usize = 128;
/// Offset of the consumer's position.
pub const HEAD_OFFSET: usize = 256;
/// Offset of the consumer's progress word, published with `head`.
pub const PROGRESS_OFFSET: usize = 264;
/// Offset of the data area.
pub const DATA_OFFSET: usize = 384;
/// Size of a record header.
pub const RECORD_HEADER_LEN: usize = 8;
/// Records start on multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// The length of a padding record, which fills the data area to its end.
pub const PADDING: u32 = u32::MAX;
/// The smallest data area.
pub const MIN_CAPACITY: usize = 256;
/// The largest data area (1 TiB), far beyond any real ring, so offsets never overflow.
pub const MAX_CAPACITY: usize = 1 << 40;
/// A ring block starts at a multiple of this within its mapping (a cache line pair).
pub const BLOCK_ALIGN: usize = 128;

/// The bytes a ring block with a data area of `capacity` bytes occupies.
pub const fn block_len(capacity: usize) -> usize {
    DATA_OFFSET + capacity
}

/// Why a ring block could not be formatted or attached inside a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionError {
    /// The capacity is not a power of two between [`MIN_CAPACITY`] and [`MAX_CAPACITY`].
    InvalidCapacity(usize),
    /// The block does not start on a multiple of [`BLOCK_ALIGN`].
    Misaligned { offset: usize },
    /// The block does not fit in the mapping.
    OutOfBounds {
        offset: usize,
        len: usize,
        map_len: usize,
    },
    /// The block does not start with [`MAGIC`].
    BadMagic,
    /// The block has another layout version.
    UnsupportedVersion { found: u32 },
    /// The capacity in the header is not a valid capacity.
    BadCapacity { found: u64 },
}

impl RegionError {
    /// A short description for messages that name a file.
    pub fn what(&self) -> &'static str {
        match self {
            RegionError::InvalidCapacity(_) => "invalid ring capacity",
            RegionError::Misaligned { .. } => "ring block not aligned to 128 bytes",
            RegionError::OutOfBounds { .. } => "file too short for a ring",
            RegionError::BadMagic => "not a Gapless ring (bad magic)",
            RegionError::UnsupportedVersion { .. } => "unsupported ring layout version",
            RegionError::BadCapacity { .. } => "capacity does not match the file",
        }
    }
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::InvalidCapacity(c) => write!(
                f,
                "ring capacity {c} is not a power of two between {MIN_CAPACITY} and {MAX_CAPACITY}"
            ),
            RegionError::Misaligned { offset } => {
                write!(f, "ring block at {offset} is not aligned to {BLOCK_ALIGN}")
            }
            RegionError::OutOfBounds {
                offset,
                len,
                map_len,
            } => write!(
                f,
                "ring block of {len} bytes at {offset} exceeds the {map_len}-byte mapping"
            ),
            RegionError::BadMagic => f.write_str("not a Gapless ring (bad magic)"),
            RegionError::UnsupportedVersion { found } => {
                write!(f, "ring layout version {found}, expected {VERSION}")
            }
            RegionError::BadCapacity { found } => write!(f, "ring capacity {found} is invalid"),
        }
    }
}

impl std::error::Error for RegionError {}

/// Why a ring file could not be created or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The capacity is not a power of two of at least [`MIN_CAPACITY`] bytes, or too large.
    InvalidCapacity(usize),
    /// The file system refused.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not a ring of this layout.
    BadHeader { path: PathBuf, what: &'static str },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::InvalidCapacity(c) => {
                write!(
                    f,
                    "ring capacity {c} is not a power of two of at least {MIN_CAPACITY}"
                )
            }
            OpenError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            OpenError::BadHeader { path, what } => write!(f, "{}: {what}", path.display()),
        }
    }
}

impl std::error::Error for OpenError {}

/// Why a record was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// Not enough free space now; try again after the consumer has read.
    Full,
    /// The record could never fit in this ring.
    TooLarge { len: usize, max: usize },
    /// A record carries at least one byte: a length of 0 means "no record".
    Empty,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full => f.write_str("ring full"),
            PushError::TooLarge { len, max } => {
                write!(
                    f,
                    "record of {len} bytes exceeds the ring's maximum of {max}"
                )
            }
            PushError::Empty => f.write_str("empty record"),
        }
    }
}

impl std::error::Error for PushError {}

/// The ring holds a record header that no producer of this layout writes: something else wrote
/// into the mapping. The consumer stops there rather than read out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt {
    /// The consumer's position (bytes ever consumed) where the bad header is.
    pub position: u64,
    /// The length word found there.
    pub length_word: u32,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt ring: record length {:#x} at position {}",
            self.length_word, self.position
        )
    }
}

impl std::error::Error for Corrupt {}

/// One ring block in a mapping. Split it into a [`Producer`] or a [`Consumer`] (one of each
/// across all processes).
#[derive(Debug)]
pub struct Ring {
    map: Arc<MmapRaw>,
    /// Where the block starts in the mapping.
    base: usize,
    capacity: usize,
}

/// Space a record with `len` payload bytes occupies.
const fn record_len(len: usize) -> usize {
    (RECORD_HEADER_LEN + len).next_multiple_of(RECORD_ALIGN)
}

/// What the length word at a position says.
enum Slot {
    /// 0: nothing committed here yet.
    Empty,
    /// Filler to the end of the data area, of this many bytes.
    Padding(usize),
    /// A record with this many payload bytes.
    Record(usize),
    /// A value no producer writes.
    Corrupt(u32),
}

fn check_capacity(capacity: usize) -> Result<(), RegionError> {
    if capacity.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        Ok(())
    } else {
        Err(RegionError::InvalidCapacity(capacity))
    }
}

fn check_bounds(map: &MmapRaw, offset: usize, len: usize) -> Result<(), RegionError> {
    if !offset.is_multiple_of(BLOCK_ALIGN) {
        return Err(RegionError::Misaligned { offset });
    }
    let fits = offset.checked_add(len).is_some_and(|end| end <= map.len());
    if fits {
        Ok(())
    } else {
        Err(RegionError::OutOfBounds {
            offset,
            len,
            map_len: map.len(),
        })
    }
}

impl Ring {
    /// Creates (or truncates) a ring file with a data area of `capacity` bytes.
    pub fn create(path: impl AsRef<Path>, capacity: usize) -> Result<Ring, OpenError> {
        let path = path.as_ref();
        if check_capacity(capacity).is_err() {
            return Err(OpenError::InvalidCapacity(capacity));
        }
        let io = |error| OpenError::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        file.set_len(block_len(capacity) as u64).map_err(io)?;
        let map = MmapRaw::map_raw(&file).map_err(io)?;
        let ring =
            Ring::format_in(Arc::new(map), 0, capacity).map_err(|e| OpenError::BadHeader {
                path: path.to_path_buf(),
                what: e.what(),
            })?;
        ring.map.flush().map_err(io)?;
        Ok(ring)
    }

    /// Opens an existing ring file, checking its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Ring, OpenError> {
        let path = path.as_ref();
        let io = |error| OpenError::Io {
            path: path.to_path_buf(),
            error,
        };
        let bad = |what| OpenError::BadHeader {
            path: path.to_path_buf(),
            what,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        if len < block_len(MIN_CAPACITY) {
            return Err(bad("file too short for a ring"));
        }
        let map = MmapRaw::map_raw(&file).map_err(io)?;
        let ring = Ring::attach_in(Arc::new(map), 0).map_err(|e| bad(e.what()))?;
        if block_len(ring.capacity) != len {
            return Err(bad("capacity does not match the file"));
        }
        Ok(ring)
    }

    /// A ring in anonymous memory, for two threads of one process (the runtime's network core
    /// and session thread): its producer and consumer ends. An invalid capacity is an
    /// [`std::io::ErrorKind::InvalidInput`] error.
    pub fn anonymous(capacity: usize) -> std::io::Result<(Producer, Consumer)> {
        check_capacity(capacity)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        let map = memmap2::MmapOptions::new()
            .len(block_len(capacity))
            .map_anon()?;
        let map = Arc::new(MmapRaw::from(map));
        // Neither fails: the capacity is valid and the mapping is exactly one block.
        let producer =
            Ring::format_in(Arc::clone(&map), 0, capacity).map_err(std::io::Error::other)?;
        let consumer = Ring::attach_in(map, 0).map_err(std::io::Error::other)?;
        Ok((producer.producer(), consumer.consumer()))
    }

    /// Writes a fresh ring header at `offset` in `map` (positions 0, data area zeroed). The
    /// caller owns that part of the mapping: no other process may be using it.
    pub fn format_in(
        map: Arc<MmapRaw>,
        offset: usize,
        capacity: usize,
    ) -> Result<Ring, RegionError> {
        check_capacity(capacity)?;
        check_bounds(&map, offset, block_len(capacity))?;
        // SAFETY: the block is in bounds (checked above) and, as the caller promises, no other
        // party uses it while it is formatted.
        unsafe {
            let block = map.as_mut_ptr().add(offset);
            core::ptr::write_bytes(block, 0, block_len(capacity));
            core::ptr::copy_nonoverlapping(MAGIC.as_ptr(), block, MAGIC.len());
            core::ptr::copy_nonoverlapping(VERSION.to_le_bytes().as_ptr(), block.add(8), 4);
            core::ptr::copy_nonoverlapping(
                (capacity as u64).to_le_bytes().as_ptr(),
                block.add(16),
                8,
            );
        }
        Ok(Ring {
            map,
            base: offset,
            capacity,
        })
    }

    /// Attaches to the ring block at `offset` in `map`, checking its header; positions and
    /// records are kept.
    pub fn attach_in(map: Arc<MmapRaw>, offset: usize) -> Result<Ring, RegionError> {
        check_bounds(&map, offset, DATA_OFFSET)?;
        let mut header = [0u8; 24];
        // SAFETY: the header is in bounds (checked above); it is written only when a block is
        // formatted, which no party does while others use it.
        unsafe {
            core::ptr::copy_nonoverlapping(map.as_ptr().add(offset), header.as_mut_ptr(), 24);
        }
        if header[0..8] != MAGIC {
            return Err(RegionError::BadMagic);
        }
        let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if version != VERSION {
            return Err(RegionError::UnsupportedVersion { found: version });
        }
        let mut capacity_bytes = [0u8; 8];
        capacity_bytes.copy_from_slice(&header[16..24]);
        let found = u64::from_le_bytes(capacity_bytes);
        let capacity = usize::try_from(found).map_err(|_| RegionError::BadCapacity { found })?;
        check_capacity(capacity).map_err(|_| RegionError::BadCapacity { found })?;
        check_bounds(&map, offset, block_len(capacity))?;
        Ok(Ring {
            map,
            base: offset,
            capacity,
        })
    }

    /// The data area's size.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest payload a record can carry.
    pub fn max_payload(&self) -> usize {
        self.capacity / 2 - RECORD_HEADER_LEN
    }

    fn word64(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= DATA_OFFSET);
        // SAFETY: the block is in bounds of the mapping and starts 128-aligned in a
        // page-aligned map, so the header word is aligned and in bounds; the map lives as long
        // as `self`, and the word is only ever accessed atomically once the block is formatted.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(self.base + offset)
                .cast::<AtomicU64>()
        }
    }

    fn tail(&self) -> &AtomicU64 {
        self.word64(TAIL_OFFSET)
    }

    fn head(&self) -> &AtomicU64 {
        self.word64(HEAD_OFFSET)
    }

    /// The word the consumer last published with [`Consumer::commit_with_progress`] (0 if it
    /// never did). Read with acquire ordering after `head`, it is at least as recent as the
    /// `head` read.
    pub fn consumer_progress(&self) -> u64 {
        self.word64(PROGRESS_OFFSET).load(Ordering::Acquire)
    }

    /// The length word of the record header at data offset `at`.
    fn length_word(&self, at: usize) -> &AtomicU32 {
        debug_assert!(at.is_multiple_of(RECORD_ALIGN) && at + RECORD_HEADER_LEN <= self.capacity);
        // SAFETY: `at` is 8-aligned and leaves room for a header inside the data area, which is
        // in bounds and 8-aligned, so the word is aligned and in bounds; it is only accessed
        // atomically.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(self.base + DATA_OFFSET + at)
                .cast::<AtomicU32>()
        }
    }

    /// Reads the slot at `position` (bytes ever written or consumed) with acquire ordering.
    fn slot(&self, position: u64) -> Slot {
        let at = (position as usize) & (self.capacity - 1);
        match self.length_word(at).load(Ordering::Acquire) {
            0 => Slot::Empty,
            PADDING => Slot::Padding(self.capacity - at),
            len if (len as usize) <= self.max_payload()
                && at + record_len(len as usize) <= self.capacity =>
            {
                Slot::Record(len as usize)
            }
            word => Slot::Corrupt(word),
        }
    }

    /// The payload of the record at `position`, whose length word said `len`.
    ///
    /// # Safety
    ///
    /// The record must be committed (its length read with acquire ordering) and not yet
    /// released to the producer, so that nothing writes these bytes while they are borrowed.
    unsafe fn payload(&self, position: u64, len: usize) -> &[u8] {
        let at = (position as usize) & (self.capacity - 1);
        // SAFETY: `slot` checked that the record lies inside the data area; the caller promises
        // the bytes are written and stay unwritten while borrowed.
        unsafe {
            core::slice::from_raw_parts(
                self.map
                    .as_ptr()
                    .add(self.base + DATA_OFFSET + at + RECORD_HEADER_LEN),
                len,
            )
        }
    }

    /// Bytes written but not yet consumed.
    pub fn occupancy(&self) -> usize {
        let tail = self.tail().load(Ordering::Acquire);
        let head = self.head().load(Ordering::Acquire);
        tail.saturating_sub(head) as usize
    }

    /// The producing side of this ring. It finds the end of the committed records itself, so a
    /// producer killed between committing a record and storing `tail` loses nothing.
    pub fn producer(self) -> Producer {
        let head = self.head().load(Ordering::Acquire);
        let start = self.tail().load(Ordering::Acquire).max(head);
        let mut producer = Producer {
            ring: self,
            tail: start,
            head_cache: head,
        };
        producer.tail = producer.walk(start, |_| {});
        producer.ring.tail().store(producer.tail, Ordering::Release);
        producer
    }

    /// The consuming side of this ring, resuming where the last consumer stopped.
    pub fn consumer(self) -> Consumer {
        let head = self.head().load(Ordering::Acquire);
        Consumer {
            ring: self,
            head,
            peeked: 0,
        }
    }
}

/// Writes records. Only one producer may exist per ring, across all processes.
#[derive(Debug)]
pub struct Producer {
    ring: Ring,
    tail: u64,
    /// The consumer's position when last read: re-read only when space seems short.
    head_cache: u64,
}

impl Producer {
    /// Writes one record, or says why it cannot now. Never blocks.
    pub fn try_push(&mut self, payload: &[u8]) -> Result<(), PushError> {
        self.try_push_with(payload.len(), |dst| dst.copy_from_slice(payload))
    }

    /// Writes one record of `len` bytes, filled in place by `fill`: no intermediate copy.
    pub fn try_push_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), PushError> {
        if len == 0 {
            return Err(PushError::Empty);
        }
        self.try_push_upto(len, |dst| {
            fill(dst);
            len
        })
        .map(drop)
    }

    /// Claims room for a record of up to `max_len` bytes, lets `fill` write into it, and commits
    /// the first `n` bytes, where `n` is what `fill` returns; for writers that learn the length
    /// as they go. The claim needs `max_len` bytes free even if fewer are committed. `fill`
    /// returning 0 commits nothing, and so does a return beyond `max_len` (a bug in `fill`,
    /// reported as [`PushError::TooLarge`]). Returns the committed length.
    pub fn try_push_upto(
        &mut self,
        max_len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, PushError> {
        let capacity = self.ring.capacity;
        let max = self.ring.max_payload();
        if max_len > max {
            return Err(PushError::TooLarge { len: max_len, max });
        }
        let claimed = record_len(max_len);
        let at = (self.tail as usize) & (capacity - 1);
        let to_end = capacity - at;
        let padding = if claimed > to_end { to_end } else { 0 };
        // The record, and the next length word, which the commit zeroes.
        self.ensure_space(padding + claimed + RECORD_HEADER_LEN)?;
        let record_at = (at + padding) & (capacity - 1);
        let payload_start = self.ring.base + DATA_OFFSET + record_at + RECORD_HEADER_LEN;
        // SAFETY: `ensure_space` proved that these bytes are free: the consumer has released
        // them and reads nothing there until a length word published below says so, so this
        // process has exclusive access. They lie inside the data area (records never wrap).
        let dst = unsafe {
            core::slice::from_raw_parts_mut(self.ring.map.as_mut_ptr().add(payload_start), max_len)
        };
        let len = fill(dst);
        if len > max_len {
            return Err(PushError::TooLarge { len, max: max_len });
        }
        if len == 0 {
            return Ok(0);
        }
        if padding > 0 {
            // Publishing the padding zeroes offset 0 first, so the consumer never follows it
            // into last lap's bytes.
            self.publish(at, PADDING, 0);
        }
        let needed = record_len(len);
        self.publish(record_at, len as u32, record_at + needed);
        self.tail += (padding + needed) as u64;
        self.ring.tail().store(self.tail, Ordering::Release);
        Ok(len)
    }

    /// Zeroes the length word at data offset `next` (the slot after this one), then commits the
    /// slot at `at` by storing its length word with release ordering.
    fn publish(&self, at: usize, length_word: u32, next: usize) {
        let next = next & (self.ring.capacity - 1);
        self.ring.length_word(next).store(0, Ordering::Relaxed);
        self.ring
            .length_word(at)
            .store(length_word, Ordering::Release);
    }

    fn ensure_space(&mut self, bytes: usize) -> Result<(), PushError> {
        let capacity = self.ring.capacity as u64;
        if self.tail + bytes as u64 - self.head_cache > capacity {
            self.head_cache = self.ring.head().load(Ordering::Acquire);
            if self.tail + bytes as u64 - self.head_cache > capacity {
                return Err(PushError::Full);
            }
        }
        Ok(())
    }

    /// Walks committed records from `position` to the first empty (or corrupt) slot, calling
    /// `visit` on each record's payload; returns where the walk stopped.
    fn walk<'s>(&'s self, mut position: u64, mut visit: impl FnMut(&'s [u8])) -> u64 {
        // Bounded by a lap: the ring always keeps one empty word, so the walk ends before.
        let limit = position + self.ring.capacity as u64;
        while position < limit {
            match self.ring.slot(position) {
                Slot::Empty | Slot::Corrupt(_) => break,
                Slot::Padding(bytes) => position += bytes as u64,
                Slot::Record(len) => {
                    // SAFETY: the record is committed (acquire load in `slot`), and only this
                    // producer would overwrite it, which it does not do while walking.
                    visit(unsafe { self.ring.payload(position, len) });
                    position += record_len(len) as u64;
                }
            }
        }
        position
    }

    /// The payload of the last committed record the consumer has not consumed yet, if any.
    /// The consumer may be consuming meanwhile: the bytes stay intact until this producer
    /// writes again.
    pub fn last_unconsumed(&self) -> Option<&[u8]> {
        let head = self.ring.head().load(Ordering::Acquire);
        let mut last = None;
        self.walk(head, |payload| last = Some(payload));
        last
    }

    /// The ring, for occupancy and capacity.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

/// Reads records. Only one consumer may exist per ring, across all processes.
#[derive(Debug)]
pub struct Consumer {
    ring: Ring,
    head: u64,
    /// Bytes the record returned by the last [`Consumer::peek`] occupies; 0 if none.
    peeked: usize,
}

impl Consumer {
    /// The next record, left in place until [`Consumer::commit`]: a consumer killed before the
    /// commit sees it again when it restarts.
    pub fn peek(&mut self) -> Result<Option<&[u8]>, Corrupt> {
        loop {
            match self.ring.slot(self.head) {
                Slot::Empty => {
                    self.peeked = 0;
                    return Ok(None);
                }
                Slot::Padding(bytes) => self.advance(bytes),
                Slot::Record(len) => {
                    self.peeked = record_len(len);
                    // SAFETY: committed (acquire load in `slot`), and the producer does not
                    // write these bytes until `head` moves past them, which only `commit` does.
                    return Ok(Some(unsafe { self.ring.payload(self.head, len) }));
                }
                Slot::Corrupt(length_word) => {
                    self.peeked = 0;
                    return Err(Corrupt {
                        position: self.head,
                        length_word,
                    });
                }
            }
        }
    }

    /// Consumes the record the last [`Consumer::peek`] returned; false if it returned none.
    pub fn commit(&mut self) -> bool {
        let bytes = core::mem::take(&mut self.peeked);
        if bytes > 0 {
            self.advance(bytes);
        }
        bytes > 0
    }

    /// As [`Consumer::commit`], publishing `progress` (see [`Ring::consumer_progress`]) before
    /// `head`, so a reader that sees the new `head` sees this progress or later.
    pub fn commit_with_progress(&mut self, progress: u64) -> bool {
        if self.peeked == 0 {
            return false;
        }
        self.ring
            .word64(PROGRESS_OFFSET)
            .store(progress, Ordering::Release);
        self.commit()
    }

    /// Reads the next record in place, if there is one, and consumes it after `read` returns.
    /// A corrupt ring reads as empty here; [`Consumer::peek`] reports it.
    pub fn try_pop_with<R>(&mut self, read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let result = read(self.peek().ok()??);
        self.commit();
        Some(result)
    }

    /// Releases `bytes` to the producer: one release store of `head`.
    fn advance(&mut self, bytes: usize) {
        self.head += bytes as u64;
        self.ring.head().store(self.head, Ordering::Release);
    }

    /// Copies the next record into `out` (cleared first); false if there is none.
    pub fn try_pop_into(&mut self, out: &mut Vec<u8>) -> bool {
        self.try_pop_with(|payload| {
            out.clear();
            out.extend_from_slice(payload);
        })
        .is_some()
    }

    /// The ring, for occupancy and capacity.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_ring_carries_records_between_its_ends() {
        let (mut producer, mut consumer) = Ring::anonymous(1024).unwrap();
        producer.try_push(b"first").unwrap();
        producer.try_push(b"second").unwrap();
        assert_eq!(
            consumer.try_pop_with(|r| r.to_vec()),
            Some(b"first".to_vec())
        );
        assert_eq!(
            consumer.try_pop_with(|r| r.to_vec()),
            Some(b"second".to_vec())
        );
        assert_eq!(consumer.try_pop_with(|r| r.to_vec()), None);
        let invalid = Ring::anonymous(1000).map(drop).unwrap_err();
        assert_eq!(invalid.kind(), std::io::ErrorKind::InvalidInput);
    }

    fn ring(capacity: usize) -> (tempfile::TempDir, PathBuf, Ring) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let ring = Ring::create(&path, capacity).unwrap();
        (dir, path, ring)
    }

    #[test]
    fn empty_ring_pops_nothing() {
        let (_dir, _path, ring) = ring(256);
        let mut consumer = ring.consumer();
        assert_eq!(consumer.try_pop_with(|p| p.len()), None);
    }

    #[test]
    fn records_come_out_in_order_across_wraps() {
        let (_dir, path, ring) = ring(256);
        let mut producer = ring.producer();
        let mut consumer = Ring::open(&path).unwrap().consumer();
        let mut out = Vec::new();
        for i in 0..1_000u32 {
            let payload = vec![i as u8; (i % 61) as usize + 1];
            producer.try_push(&payload).unwrap();
            assert!(consumer.try_pop_into(&mut out));
            assert_eq!(out, payload, "record {i}");
        }
        assert_eq!(consumer.ring().occupancy(), 0);
    }

    #[test]
    fn full_ring_refuses_then_accepts_after_a_read() {
        let (_dir, path, ring) = ring(256);
        let mut producer = ring.producer();
        let mut pushed = 0;
        while producer.try_push(&[7; 24]).is_ok() {
            pushed += 1;
        }
        // 32 bytes a record, and 8 bytes always kept for the zero word.
        assert_eq!(pushed, 256 / 32 - 1);
        assert_eq!(producer.try_push(&[7; 24]), Err(PushError::Full));
        let mut consumer = Ring::open(&path).unwrap().consumer();
        assert_eq!(consumer.try_pop_with(|p| p.to_vec()), Some(vec![7; 24]));
        assert_eq!(producer.try_push(&[8; 24]), Ok(()));
    }

    #[test]
    fn oversized_record_is_too_large() {
        let (_dir, _path, ring) = ring(256);
        let max = ring.max_payload();
        let mut producer = ring.producer();
        assert_eq!(
            producer.try_push(&vec![0; max + 1]),
            Err(PushError::TooLarge { len: max + 1, max })
        );
        assert_eq!(producer.try_push(&vec![0; max]), Ok(()));
    }

    #[test]
    fn empty_record_is_refused() {
        let (_dir, _path, ring) = ring(256);
        let mut producer = ring.producer();
        assert_eq!(producer.try_push(&[]), Err(PushError::Empty));
        assert_eq!(producer.ring().occupancy(), 0);
    }

    #[test]
    fn restarted_consumer_resumes_where_it_stopped() {
        let (_dir, path, ring) = ring(1024);
        let mut producer = ring.producer();
        for i in 0..5u8 {
            producer.try_push(&[i; 10]).unwrap();
        }
        {
            let mut consumer = Ring::open(&path).unwrap().consumer();
            assert_eq!(consumer.try_pop_with(|p| p[0]), Some(0));
            assert_eq!(consumer.try_pop_with(|p| p[0]), Some(1));
        }
        let mut consumer = Ring::open(&path).unwrap().consumer();
        assert_eq!(consumer.try_pop_with(|p| p[0]), Some(2));
    }

    #[test]
    fn peeked_record_without_commit_is_seen_again() {
        let (_dir, path, ring) = ring(1024);
        ring.producer().try_push(b"once").unwrap();
        {
            let mut consumer = Ring::open(&path).unwrap().consumer();
            assert_eq!(consumer.peek().unwrap(), Some(&b"once"[..]));
        }
        let mut consumer = Ring::open(&path).unwrap().consumer();
        assert_eq!(consumer.peek().unwrap(), Some(&b"once"[..]));
        assert!(consumer.commit_with_progress(42));
        assert_eq!(consumer.peek().unwrap(), None);
        assert!(!consumer.commit());
        assert_eq!(consumer.ring().consumer_progress(), 42);
    }

    #[test]
    fn claim_commits_only_what_fill_wrote() {
        let (_dir, path, ring) = ring(1024);
        let mut producer = ring.producer();
        let n = producer
            .try_push_upto(100, |dst| {
                dst[..3].copy_from_slice(b"abc");
                3
            })
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(producer.try_push_upto(100, |_| 0), Ok(0));
        assert_eq!(
            producer.try_push_upto(10, |_| 11),
            Err(PushError::TooLarge { len: 11, max: 10 })
        );
        producer.try_push(b"d").unwrap();
        let mut consumer = Ring::open(&path).unwrap().consumer();
        assert_eq!(consumer.try_pop_with(|p| p.to_vec()), Some(b"abc".to_vec()));
        assert_eq!(consumer.try_pop_with(|p| p.to_vec()), Some(b"d".to_vec()));
        assert_eq!(consumer.try_pop_with(|p| p.to_vec()), None);
    }

    #[test]
    fn restarted_producer_finds_records_committed_after_the_stored_tail() {
        let (_dir, path, ring) = ring(1024);
        let mut producer = ring.producer();
        producer.try_push(b"first").unwrap();
        let stored_tail = producer.ring().tail().load(Ordering::Relaxed);
        producer.try_push(b"second").unwrap();
        // A producer killed after committing "second" but before storing `tail`.
        producer.ring().tail().store(stored_tail, Ordering::Relaxed);
        drop(producer);
        let mut producer = Ring::open(&path).unwrap().producer();
        assert_eq!(producer.last_unconsumed(), Some(&b"second"[..]));
        producer.try_push(b"third").unwrap();
        let mut consumer = Ring::open(&path).unwrap().consumer();
        let mut out = Vec::new();
        for expected in [&b"first"[..], b"second", b"third"] {
            assert!(consumer.try_pop_into(&mut out));
            assert_eq!(out, expected);
        }
        assert_eq!(producer.last_unconsumed(), None);
    }

    #[test]
    fn corrupt_length_is_reported_not_read() {
        let (_dir, path, ring) = ring(256);
        ring.producer().try_push(b"x").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[DATA_OFFSET..DATA_OFFSET + 4].copy_from_slice(&1000u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let mut consumer = Ring::open(&path).unwrap().consumer();
        assert_eq!(
            consumer.peek(),
            Err(Corrupt {
                position: 0,
                length_word: 1000
            })
        );
        assert_eq!(consumer.try_pop_with(|p| p.len()), None);
    }

    #[test]
    fn ring_in_mapping_lives_at_its_offset() {
        let map = Arc::new(MmapRaw::from(
            memmap2::MmapOptions::new().len(4096).map_anon().unwrap(),
        ));
        assert_eq!(
            Ring::format_in(map.clone(), 64, 256).unwrap_err(),
            RegionError::Misaligned { offset: 64 }
        );
        assert!(matches!(
            Ring::format_in(map.clone(), 3840, 256),
            Err(RegionError::OutOfBounds { .. })
        ));
        assert_eq!(
            Ring::attach_in(map.clone(), 1024).unwrap_err(),
            RegionError::BadMagic
        );
        let mut producer = Ring::format_in(map.clone(), 1024, 512).unwrap().producer();
        producer.try_push(b"inside").unwrap();
        let mut consumer = Ring::attach_in(map.clone(), 1024).unwrap().consumer();
        assert_eq!(consumer.ring().capacity(), 512);
        assert_eq!(
            consumer.try_pop_with(|p| p.to_vec()),
            Some(b"inside".to_vec())
        );
        // SAFETY: the test owns the mapping; nothing else reads it now.
        let first = unsafe { *map.as_ptr().add(1024 + DATA_OFFSET + 8) };
        assert_eq!(first, b'i');
    }

    #[test]
    fn open_rejects_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-ring");
        std::fs::write(&path, vec![0u8; DATA_OFFSET + 256]).unwrap();
        assert!(matches!(
            Ring::open(&path),
            Err(OpenError::BadHeader {
                what: "not a Gapless ring (bad magic)",
                ..
            })
        ));
        let mut old = vec![0u8; DATA_OFFSET + 256];
        old[0..8].copy_from_slice(&MAGIC);
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &old).unwrap();
        assert!(matches!(
            Ring::open(&path),
            Err(OpenError::BadHeader {
                what: "unsupported ring layout version",
                ..
            })
        ));
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            Ring::open(&path),
            Err(OpenError::BadHeader { .. })
        ));
        assert!(matches!(
            Ring::create(dir.path().join("r"), 300),
            Err(OpenError::InvalidCapacity(300))
        ));
    }

    #[test]
    fn header_layout_is_as_documented() {
        let (_dir, path, ring) = ring(512);
        let mut producer = ring.producer();
        producer.try_push(b"abc").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[0..8], b"GLSHRING");
        assert_eq!(&bytes[8..12], &2u32.to_le_bytes());
        assert_eq!(&bytes[16..24], &512u64.to_le_bytes());
        assert_eq!(&bytes[TAIL_OFFSET..TAIL_OFFSET + 8], &16u64.to_le_bytes());
        assert_eq!(&bytes[DATA_OFFSET..DATA_OFFSET + 4], &3u32.to_le_bytes());
        assert_eq!(&bytes[DATA_OFFSET + 8..DATA_OFFSET + 11], b"abc");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Pop,
        PeekOnly,
        RestartProducer,
        RestartConsumer,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (1usize..=120).prop_map(Op::Push),
            3 => Just(Op::Pop),
            1 => Just(Op::PeekOnly),
            1 => Just(Op::RestartProducer),
            1 => Just(Op::RestartConsumer),
        ]
    }

    proptest::proptest! {
        /// Any interleaving of pushes, pops, uncommitted peeks and restarts of either side
        /// delivers exactly the pushed records, in order, across many wrap-arounds.
        #[test]
        fn ring_matches_a_queue_model(ops in proptest::collection::vec(op(), 1..400)) {
            let map = Arc::new(MmapRaw::from(
                memmap2::MmapOptions::new().len(block_len(512)).map_anon().unwrap(),
            ));
            let mut producer = Ring::format_in(map.clone(), 0, 512).unwrap().producer();
            let mut consumer = Ring::attach_in(map.clone(), 0).unwrap().consumer();
            let mut model = std::collections::VecDeque::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(len) => {
                        let payload = vec![n as u8; len];
                        match producer.try_push(&payload) {
                            Ok(()) => model.push_back(payload),
                            Err(PushError::Full) => proptest::prop_assert!(!model.is_empty()),
                            Err(e) => proptest::prop_assert!(false, "{e}"),
                        }
                    }
                    Op::Pop => {
                        let got = consumer.try_pop_with(|p| p.to_vec());
                        proptest::prop_assert_eq!(got, model.pop_front());
                    }
                    Op::PeekOnly => {
                        let got = consumer.peek().unwrap().map(<[u8]>::to_vec);
                        proptest::prop_assert_eq!(got.as_ref(), model.front());
                    }
                    Op::RestartProducer => {
                        producer = Ring::attach_in(map.clone(), 0).unwrap().producer();
                        let last = producer.last_unconsumed().map(<[u8]>::to_vec);
                        proptest::prop_assert_eq!(last.as_ref(), model.back());
                    }
                    Op::RestartConsumer => {
                        consumer = Ring::attach_in(map.clone(), 0).unwrap().consumer();
                    }
                }
            }
            while let Some(expected) = model.pop_front() {
                proptest::prop_assert_eq!(consumer.try_pop_with(|p| p.to_vec()), Some(expected));
            }
            proptest::prop_assert_eq!(consumer.try_pop_with(|p| p.len()), None);
        }
    }
}
