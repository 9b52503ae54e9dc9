//! # gapless-shm: single-producer single-consumer rings in shared memory
//!
//! What this crate is: the one ring layout Gapless uses between processes and between hardware
//! and software: the gateway's network core writes the gap-free message stream for a trading
//! process, the trading process writes its orders back, and an FPGA's DMA engine would write
//! verdict descriptors the same way. A ring lives in a memory-mapped file (`/dev/shm` by default,
//! hugetlbfs if configured); either side may restart and find the other's position in the file.
//!
//! What it is not: a multi-producer queue, a blocking queue (a full ring is an error value, an
//! empty one is `None`; waiting is the caller's idle strategy), or a transport between hosts.
//!
//! ## Layout (all integers little-endian)
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
//! | 384 | capacity | data |
//!
//! `head` and `tail` sit 128 bytes apart so that the producer and the consumer never write to the
//! same pair of cache lines (adjacent-line prefetch pairs lines on x86).
//!
//! A record is an 8-byte header, `length: u32` (payload bytes, or [`PADDING`] for filler to the end
//! of the data area) and a reserved `u32`, then the payload, padded to a multiple of 8. The
//! producer writes the payload first and the length last, with release ordering: a non-zero length
//! read with acquire ordering means the whole record is there. The consumer zeroes what it has read
//! before it advances `head`, so that space is all zeros again when the producer comes round. A
//! record never wraps: if it does not fit before the end of the data area, a padding record fills
//! the rest and the record starts at offset 0.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

/// Identifies a ring file.
pub const MAGIC: [u8; 8] = *b"GLSHRING";
/// The layout version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Offset of the producer's position.
pub const TAIL_OFFSET: usize = 128;
/// Offset of the consumer's position.
pub const HEAD_OFFSET: usize = 256;
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
        }
    }
}

impl std::error::Error for PushError {}

/// A memory-mapped ring file. Split it into a [`Producer`] or a [`Consumer`] (one of each across
/// all processes).
#[derive(Debug)]
pub struct Ring {
    map: MmapMut,
    capacity: usize,
}

/// Space a record with `len` payload bytes occupies.
const fn record_len(len: usize) -> usize {
    (RECORD_HEADER_LEN + len).next_multiple_of(RECORD_ALIGN)
}

impl Ring {
    /// Creates (or truncates) a ring file with a data area of `capacity` bytes.
    pub fn create(path: impl AsRef<Path>, capacity: usize) -> Result<Ring, OpenError> {
        let path = path.as_ref();
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
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
        file.set_len((DATA_OFFSET + capacity) as u64).map_err(io)?;
        // SAFETY: the file was just created and sized by us; other processes that map it follow
        // this crate's protocol, touching shared words only through atomics.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(io)?;
        map[0..8].copy_from_slice(&MAGIC);
        map[8..12].copy_from_slice(&VERSION.to_le_bytes());
        map[16..24].copy_from_slice(&(capacity as u64).to_le_bytes());
        map.flush().map_err(io)?;
        Ok(Ring { map, capacity })
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
        if len < DATA_OFFSET + MIN_CAPACITY {
            return Err(bad("file too short for a ring"));
        }
        // SAFETY: as in `create`: every process mapping the file follows this crate's protocol.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(io)?;
        if map[0..8] != MAGIC {
            return Err(bad("not a Gapless ring (bad magic)"));
        }
        if map[8..12] != VERSION.to_le_bytes() {
            return Err(bad("unsupported ring layout version"));
        }
        let capacity = u64::from_le_bytes(map[16..24].try_into().unwrap_or([0; 8])) as usize;
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY || DATA_OFFSET + capacity != len {
            return Err(bad("capacity does not match the file"));
        }
        Ok(Ring { map, capacity })
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
        // SAFETY: the offset is 8-aligned within the header (the map is page-aligned), the map
        // lives as long as `self`, and the word is only ever accessed atomically.
        unsafe { &*self.map.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    fn tail(&self) -> &AtomicU64 {
        self.word64(TAIL_OFFSET)
    }

    fn head(&self) -> &AtomicU64 {
        self.word64(HEAD_OFFSET)
    }

    /// The length word of the record header at data offset `at`.
    fn length_word(&self, at: usize) -> &AtomicU32 {
        debug_assert!(at.is_multiple_of(RECORD_ALIGN) && at + RECORD_HEADER_LEN <= self.capacity);
        // SAFETY: `at` is 8-aligned and leaves room for a header inside the data area, so the
        // word is aligned and in bounds; it is only accessed atomically.
        unsafe { &*self.map.as_ptr().add(DATA_OFFSET + at).cast::<AtomicU32>() }
    }

    /// Bytes written but not yet consumed.
    pub fn occupancy(&self) -> usize {
        let tail = self.tail().load(Ordering::Acquire);
        let head = self.head().load(Ordering::Acquire);
        tail.saturating_sub(head) as usize
    }

    /// The producing side of this ring.
    pub fn producer(self) -> Producer {
        let tail = self.tail().load(Ordering::Acquire);
        let head = self.head().load(Ordering::Acquire);
        Producer {
            ring: self,
            tail,
            head_cache: head,
        }
    }

    /// The consuming side of this ring, resuming where the last consumer stopped.
    pub fn consumer(self) -> Consumer {
        let head = self.head().load(Ordering::Acquire);
        Consumer { ring: self, head }
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
        let capacity = self.ring.capacity;
        let max = self.ring.max_payload();
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let needed = record_len(len);
        let at = (self.tail as usize) & (capacity - 1);
        let to_end = capacity - at;
        let padding = if needed > to_end { to_end } else { 0 };
        self.ensure_space(padding + needed)?;
        if padding > 0 {
            self.ring.length_word(at).store(PADDING, Ordering::Release);
            self.tail += padding as u64;
        }
        let at = (self.tail as usize) & (capacity - 1);
        let payload_start = DATA_OFFSET + at + RECORD_HEADER_LEN;
        // SAFETY: `ensure_space` proved that `needed` bytes from `at` are free: the consumer has
        // zeroed them and will not read them until the length below is published, so this
        // process has exclusive access to them. They lie inside the data area (no wrap).
        let dst = unsafe {
            core::slice::from_raw_parts_mut(
                self.ring.map.as_ptr().add(payload_start).cast_mut(),
                len,
            )
        };
        fill(dst);
        // The length last: publishing it publishes the record.
        self.ring
            .length_word(at)
            .store(len as u32, Ordering::Release);
        self.tail += needed as u64;
        self.ring.tail().store(self.tail, Ordering::Release);
        Ok(())
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
}

impl Consumer {
    /// Reads the next record in place, if there is one, and releases its space afterwards.
    pub fn try_pop_with<R>(&mut self, read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let capacity = self.ring.capacity;
        loop {
            let at = (self.head as usize) & (capacity - 1);
            let len = self.ring.length_word(at).load(Ordering::Acquire);
            match len {
                0 => return None,
                PADDING => {
                    self.release(at, capacity - at);
                    continue;
                }
                len => {
                    let len = len as usize;
                    let start = DATA_OFFSET + at + RECORD_HEADER_LEN;
                    // SAFETY: the acquire load of a non-zero length saw the producer's release
                    // store, so the `len` payload bytes are written and stay untouched until
                    // `release` below advances `head`; they lie inside the data area.
                    let payload = unsafe {
                        core::slice::from_raw_parts(self.ring.map.as_ptr().add(start), len)
                    };
                    let result = read(payload);
                    self.release(at, record_len(len));
                    return Some(result);
                }
            }
        }
    }

    /// Zeroes `bytes` from data offset `at` for the producer's next lap, then advances `head`.
    fn release(&mut self, at: usize, bytes: usize) {
        // SAFETY: these bytes belong to records this consumer has finished with; the producer
        // does not write them again until `head` (stored below, with release) passes them.
        unsafe {
            core::ptr::write_bytes(
                self.ring.map.as_ptr().add(DATA_OFFSET + at).cast_mut(),
                0,
                bytes,
            );
        }
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
        assert_eq!(pushed, 256 / 32);
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
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[16..24], &512u64.to_le_bytes());
        assert_eq!(&bytes[TAIL_OFFSET..TAIL_OFFSET + 8], &16u64.to_le_bytes());
        assert_eq!(&bytes[DATA_OFFSET..DATA_OFFSET + 4], &3u32.to_le_bytes());
        assert_eq!(&bytes[DATA_OFFSET + 8..DATA_OFFSET + 11], b"abc");
    }
}
