//! Byte layout of segment files, journal records and the seqnums file.
//!
//! Everything is little-endian; `FORMAT.md` describes the same layout for humans.

/// First eight bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"GLSTSEG\0";
/// First eight bytes of each seqnums slot.
pub(crate) const SEQNUM_MAGIC: [u8; 8] = *b"GLSTSEQ\0";
/// The only on-disk format version this crate reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

pub(crate) const SEGMENT_HEADER_LEN: usize = 64;
pub(crate) const RECORD_HEADER_LEN: usize = 32;
/// Records start on 8-byte boundaries; payloads are zero-padded up to one.
pub(crate) const RECORD_ALIGN: usize = 8;
/// Every segment keeps this much room after its last message for the seal record.
pub(crate) const SEAL_LEN: usize = RECORD_HEADER_LEN;

pub(crate) const KIND_MESSAGE: u32 = 1;
pub(crate) const KIND_SEAL: u32 = 2;

/// Byte offset of the CRC inside a record header, segment header and seqnums slot.
const RECORD_CRC_AT: usize = 28;
const HEADER_CRC_AT: usize = 60;

pub(crate) const SEQNUM_SLOT_LEN: usize = 64;
/// Slots sit in different 512-byte sectors so one torn sector write cannot damage both.
pub(crate) const SEQNUM_SLOT_STRIDE: u64 = 512;
pub(crate) const SEQNUM_FILE_LEN: u64 = 2 * SEQNUM_SLOT_STRIDE;

/// Smallest accepted segment size: header, one small record and the seal, with room to spare.
pub(crate) const MIN_SEGMENT_SIZE: u64 = 256;
/// Record offsets are kept as `u32` in the in-memory index.
pub(crate) const MAX_SEGMENT_SIZE: u64 = u32::MAX as u64 & !(RECORD_ALIGN as u64 - 1);

/// Largest payload that fits in a segment of `segment_size` bytes.
pub(crate) fn max_payload(segment_size: u64) -> usize {
    let overhead = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + SEAL_LEN) as u64;
    usize::try_from(segment_size.saturating_sub(overhead)).unwrap_or(usize::MAX)
}

/// Bytes a record with a `payload_len`-byte payload occupies, header and padding included.
pub(crate) fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len.next_multiple_of(RECORD_ALIGN)
}

pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

pub(crate) fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// The fixed 32-byte header in front of every journal record.
///
/// ```text
/// 0   u32 payload length        4   u32 kind (1 message, 2 seal)
/// 8   u64 MsgSeqNum             16  i64 SendingTime, ns since the Unix epoch
/// 24  u32 epoch                 28  u32 CRC32C of bytes 0..28 then the payload
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub(crate) payload_len: u32,
    pub(crate) kind: u32,
    pub(crate) seq: u64,
    pub(crate) sending_time_ns: i64,
    pub(crate) epoch: u32,
}

impl RecordHeader {
    pub(crate) fn message(seq: u64, sending_time_ns: i64, epoch: u32, payload_len: u32) -> Self {
        Self {
            payload_len,
            kind: KIND_MESSAGE,
            seq,
            sending_time_ns,
            epoch,
        }
    }

    pub(crate) fn seal(epoch: u32) -> Self {
        Self {
            payload_len: 0,
            kind: KIND_SEAL,
            seq: 0,
            sending_time_ns: 0,
            epoch,
        }
    }

    pub(crate) fn encode(&self, payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
        let mut out = [0; RECORD_HEADER_LEN];
        put(&mut out, 0, &self.payload_len.to_le_bytes());
        put(&mut out, 4, &self.kind.to_le_bytes());
        put(&mut out, 8, &self.seq.to_le_bytes());
        put(&mut out, 16, &self.sending_time_ns.to_le_bytes());
        put(&mut out, 24, &self.epoch.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out[..RECORD_CRC_AT]), payload);
        put(&mut out, RECORD_CRC_AT, &crc.to_le_bytes());
        out
    }

    /// Decodes the header fields at `at` without validating them.
    pub(crate) fn decode(buf: &[u8], at: usize) -> Self {
        Self {
            payload_len: read_u32(buf, at),
            kind: read_u32(buf, at + 4),
            seq: read_u64(buf, at + 8),
            sending_time_ns: read_u64(buf, at + 16) as i64,
            epoch: read_u32(buf, at + 24),
        }
    }
}

/// What sits at a record position of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An all-zero header: nothing was ever written here.
    End,
    /// A valid seal: the segment is complete.
    Seal,
    /// A valid message record; the next record starts at `next`.
    Message { header: RecordHeader, next: usize },
    /// Anything else: a torn write or corruption.
    Bad,
}

/// Classifies the record at `at` in `segment` (the whole mapped segment file).
pub(crate) fn read_slot(segment: &[u8], at: usize) -> Slot {
    let Some(header_end) = at
        .checked_add(RECORD_HEADER_LEN)
        .filter(|&e| e <= segment.len())
    else {
        return Slot::Bad;
    };
    let raw = &segment[at..header_end];
    if raw.iter().all(|&b| b == 0) {
        return Slot::End;
    }
    let header = RecordHeader::decode(segment, at);
    match header.kind {
        KIND_SEAL if header.payload_len == 0 && header.seq == 0 => {
            if header.encode(&[]) == *raw {
                Slot::Seal
            } else {
                Slot::Bad
            }
        }
        KIND_MESSAGE if header.seq != 0 => {
            let payload_len = header.payload_len as usize;
            let next = at.saturating_add(record_len(payload_len));
            // A message must leave room for the seal behind it.
            if next > segment.len().saturating_sub(SEAL_LEN) {
                return Slot::Bad;
            }
            let payload = &segment[header_end..header_end + payload_len];
            if header.encode(payload)[RECORD_CRC_AT..] == raw[RECORD_CRC_AT..] {
                Slot::Message { header, next }
            } else {
                Slot::Bad
            }
        }
        _ => Slot::Bad,
    }
}

/// The 64-byte header at the start of every segment file.
///
/// ```text
/// 0   [u8; 8] magic "GLSTSEG\0"   8   u32 format version (1)   12  u32 reserved, zero
/// 16  u64 segment number          24  u64 segment file length
/// 32  28 reserved zero bytes      60  u32 CRC32C of bytes 0..60
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) number: u64,
    pub(crate) len: u64,
}

/// Why a segment header was rejected, with the offset of the offending field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    Magic,
    Version(u32),
    Checksum,
}

impl HeaderProblem {
    pub(crate) fn offset(self) -> u64 {
        match self {
            Self::Magic => 0,
            Self::Version(_) => 8,
            Self::Checksum => HEADER_CRC_AT as u64,
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Self::Magic => "bad magic".to_owned(),
            Self::Version(v) => {
                format!("unsupported format version {v} (expected {FORMAT_VERSION})")
            }
            Self::Checksum => "header checksum mismatch".to_owned(),
        }
    }
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0; SEGMENT_HEADER_LEN];
        put(&mut out, 0, &SEGMENT_MAGIC);
        put(&mut out, 8, &FORMAT_VERSION.to_le_bytes());
        put(&mut out, 16, &self.number.to_le_bytes());
        put(&mut out, 24, &self.len.to_le_bytes());
        let crc = crc32c::crc32c(&out[..HEADER_CRC_AT]);
        put(&mut out, HEADER_CRC_AT, &crc.to_le_bytes());
        out
    }

    /// Decodes a header; `buf` must hold at least [`SEGMENT_HEADER_LEN`] bytes.
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, HeaderProblem> {
        if buf[..8] != SEGMENT_MAGIC {
            return Err(HeaderProblem::Magic);
        }
        let version = read_u32(buf, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderProblem::Version(version));
        }
        if crc32c::crc32c(&buf[..HEADER_CRC_AT]) != read_u32(buf, HEADER_CRC_AT) {
            return Err(HeaderProblem::Checksum);
        }
        Ok(Self {
            number: read_u64(buf, 16),
            len: read_u64(buf, 24),
        })
    }
}

/// The persisted session state in one seqnums slot.
///
/// ```text
/// 0   [u8; 8] magic "GLSTSEQ\0"   8   u32 format version (1)   12  u32 epoch
/// 16  u64 generation              24  u64 next sender seq      32  u64 next target seq
/// 40  20 reserved zero bytes      60  u32 CRC32C of bytes 0..60
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqnumSlot {
    pub(crate) epoch: u32,
    pub(crate) generation: u64,
    pub(crate) next_sender: u64,
    pub(crate) next_target: u64,
}

impl SeqnumSlot {
    pub(crate) fn encode(&self) -> [u8; SEQNUM_SLOT_LEN] {
        let mut out = [0; SEQNUM_SLOT_LEN];
        put(&mut out, 0, &SEQNUM_MAGIC);
        put(&mut out, 8, &FORMAT_VERSION.to_le_bytes());
        put(&mut out, 12, &self.epoch.to_le_bytes());
        put(&mut out, 16, &self.generation.to_le_bytes());
        put(&mut out, 24, &self.next_sender.to_le_bytes());
        put(&mut out, 32, &self.next_target.to_le_bytes());
        let crc = crc32c::crc32c(&out[..HEADER_CRC_AT]);
        put(&mut out, HEADER_CRC_AT, &crc.to_le_bytes());
        out
    }

    /// Decodes a slot; `buf` must hold at least [`SEQNUM_SLOT_LEN`] bytes.
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, HeaderProblem> {
        if buf[..8] != SEQNUM_MAGIC {
            return Err(HeaderProblem::Magic);
        }
        if crc32c::crc32c(&buf[..HEADER_CRC_AT]) != read_u32(buf, HEADER_CRC_AT) {
            return Err(HeaderProblem::Checksum);
        }
        let version = read_u32(buf, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderProblem::Version(version));
        }
        let slot = Self {
            epoch: read_u32(buf, 12),
            generation: read_u64(buf, 16),
            next_sender: read_u64(buf, 24),
            next_target: read_u64(buf, 32),
        };
        // Sequence numbers start at 1; a zero can only come from a bug or tampering.
        if slot.next_sender == 0 || slot.next_target == 0 {
            return Err(HeaderProblem::Checksum);
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_header_round_trips_and_validates() {
        let mut seg = vec![0u8; 256];
        let payload = b"8=FIX.4.4\x01";
        let header = RecordHeader::message(7, -3, 2, payload.len() as u32);
        seg[64..96].copy_from_slice(&header.encode(payload));
        seg[96..96 + payload.len()].copy_from_slice(payload);
        assert_eq!(
            read_slot(&seg, 64),
            Slot::Message {
                header,
                next: 64 + 32 + 16
            }
        );
        seg[97] ^= 1;
        assert_eq!(read_slot(&seg, 64), Slot::Bad);
    }

    #[test]
    fn zero_header_is_end_and_seal_is_recognised() {
        let mut seg = vec![0u8; 256];
        assert_eq!(read_slot(&seg, 64), Slot::End);
        seg[64..96].copy_from_slice(&RecordHeader::seal(1).encode(&[]));
        assert_eq!(read_slot(&seg, 64), Slot::Seal);
    }

    #[test]
    fn message_overlapping_the_seal_reserve_is_bad() {
        let mut seg = vec![0u8; 256];
        let payload = [b'x'; 150];
        let header = RecordHeader::message(1, 0, 1, payload.len() as u32);
        seg[64..96].copy_from_slice(&header.encode(&payload));
        seg[96..246].copy_from_slice(&payload);
        assert_eq!(read_slot(&seg, 64), Slot::Bad);
    }

    #[test]
    fn segment_header_rejects_bad_magic_version_and_checksum() {
        let good = SegmentHeader {
            number: 3,
            len: 4096,
        }
        .encode();
        assert_eq!(
            SegmentHeader::decode(&good),
            Ok(SegmentHeader {
                number: 3,
                len: 4096
            })
        );
        let mut bad = good;
        bad[0] = b'X';
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderProblem::Magic));
        let mut bad = good;
        bad[8] = 9;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderProblem::Version(9)));
        let mut bad = good;
        bad[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderProblem::Checksum));
    }
}
