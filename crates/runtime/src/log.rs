//! The FIX message log: one line per message, written by a logger thread off the hot path.
//!
//! The polling thread copies the bytes it reads and writes into an `rtrb` byte ring with a small
//! header, and never waits: when the ring is full the chunk is dropped and counted (the log says
//! so). The logger thread reassembles each session's two byte streams, frames them into
//! messages, and appends `<UTC timestamp> : <message>` lines, the format FIX engines' file logs
//! use, to `<dir>/<session>.messages.log`.
//! Password (554) and NewPassword (925) are written as `***`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use gapless_codec::value::{TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Limits, decode};

/// Which way the bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound = 0,
    Outbound = 1,
}

/// `session: u16, direction: u8, reserved: u8, len: u32, utc_nanos: i64`.
const CHUNK_HEADER_LEN: usize = 16;

/// The hot-path side: hands byte chunks to the logger thread without blocking or allocating.
#[derive(Debug)]
pub struct LogWriter {
    producer: rtrb::Producer<u8>,
    dropped_chunks: u64,
}

impl LogWriter {
    /// Queues `bytes`, seen at `at`, for the log of session `session`.
    pub fn record(&mut self, session: u16, direction: Direction, at: UtcTimestamp, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let Ok(len) = u32::try_from(bytes.len()) else {
            self.dropped_chunks += 1;
            return;
        };
        let Ok(mut chunk) = self.producer.write_chunk(CHUNK_HEADER_LEN + bytes.len()) else {
            self.dropped_chunks += 1;
            return;
        };
        let mut header = [0u8; CHUNK_HEADER_LEN];
        header[0..2].copy_from_slice(&session.to_le_bytes());
        header[2] = direction as u8;
        header[4..8].copy_from_slice(&len.to_le_bytes());
        header[8..16].copy_from_slice(&at.unix_nanos().unwrap_or(0).to_le_bytes());
        let (first, second) = chunk.as_mut_slices();
        let mut source = header.iter().chain(bytes.iter());
        for slot in first.iter_mut().chain(second.iter_mut()) {
            // The chunk is exactly as long as the header and the bytes together.
            *slot = source.next().copied().unwrap_or(0);
        }
        chunk.commit_all();
    }

    /// Chunks dropped because the logger fell behind.
    pub fn dropped_chunks(&self) -> u64 {
        self.dropped_chunks
    }
}

/// The logger thread. Dropping the [`LogWriter`] ends it once everything queued is written.
#[derive(Debug)]
pub struct Logger {
    thread: JoinHandle<io::Result<()>>,
}

impl Logger {
    /// Starts a logger writing into `dir` (created if missing), one file per session name, with
    /// a queue of `capacity` bytes.
    pub fn start(
        dir: &Path,
        session_names: Vec<String>,
        capacity: usize,
    ) -> io::Result<(LogWriter, Logger)> {
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::with_capacity(session_names.len());
        for name in &session_names {
            let path = dir.join(format!("{name}.messages.log"));
            files.push(SessionLog::open(path)?);
        }
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let thread = std::thread::Builder::new()
            .name("gapless-log".into())
            .spawn(move || drain(consumer, files))?;
        Ok((
            LogWriter {
                producer,
                dropped_chunks: 0,
            },
            Logger { thread },
        ))
    }

    /// Waits for the thread (after the writer is dropped) and returns its result.
    pub fn join(self) -> io::Result<()> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("logger thread panicked")))
    }
}

/// One session's log file and the partial messages of its two streams.
#[derive(Debug)]
struct SessionLog {
    file: BufWriter<File>,
    partial: [Vec<u8>; 2],
}

impl SessionLog {
    fn open(path: PathBuf) -> io::Result<SessionLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(SessionLog {
            file: BufWriter::new(file),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Appends a chunk to its stream and writes every message it completes.
    fn append(&mut self, direction: usize, at: UtcTimestamp, bytes: &[u8]) -> io::Result<()> {
        let stream = &mut self.partial[direction];
        stream.extend_from_slice(bytes);
        let limits = Limits::default();
        let mut used = 0;
        let mut stamp = [0u8; 30];
        let stamp_len = at.write(TimePrecision::Micros, &mut stamp).unwrap_or(0);
        loop {
            match decode(&stream[used..], &limits) {
                Decoded::Message(message) => {
                    self.file.write_all(&stamp[..stamp_len])?;
                    self.file.write_all(b" : ")?;
                    write_redacted(&mut self.file, message.as_bytes())?;
                    self.file.write_all(b"\n")?;
                    used += message.len();
                }
                Decoded::Garbled(garbled) => {
                    writeln!(
                        self.file,
                        "{} : garbled {} bytes ({:?})",
                        String::from_utf8_lossy(&stamp[..stamp_len]),
                        garbled.skip,
                        garbled.error
                    )?;
                    used += garbled.skip;
                }
                Decoded::Incomplete => break,
            }
        }
        stream.drain(..used);
        Ok(())
    }
}

/// Fields whose values never reach the log: Password (554) and NewPassword (925).
const SECRET_FIELDS: [&[u8]; 2] = [b"554=", b"925="];

/// Writes a message with the values of [`SECRET_FIELDS`] replaced by `***` (the CheckSum then no
/// longer matches, which marks the line as edited).
fn write_redacted(out: &mut impl Write, message: &[u8]) -> io::Result<()> {
    for field in message.split_inclusive(|&b| b == gapless_codec::SOH) {
        match SECRET_FIELDS
            .iter()
            .find(|prefix| field.starts_with(prefix))
        {
            Some(prefix) => {
                out.write_all(prefix)?;
                out.write_all(b"***\x01")?;
            }
            None => out.write_all(field)?,
        }
    }
    Ok(())
}

fn drain(mut consumer: rtrb::Consumer<u8>, mut logs: Vec<SessionLog>) -> io::Result<()> {
    let mut chunk = Vec::new();
    loop {
        let mut header = [0u8; CHUNK_HEADER_LEN];
        if consumer.slots() < CHUNK_HEADER_LEN {
            if consumer.is_abandoned() && consumer.is_empty() {
                break;
            }
            for log in &mut logs {
                log.file.flush()?;
            }
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let Ok(read) = consumer.read_chunk(CHUNK_HEADER_LEN) else {
            continue;
        };
        let (first, second) = read.as_slices();
        header[..first.len()].copy_from_slice(first);
        header[first.len()..].copy_from_slice(second);
        read.commit_all();
        let session = usize::from(u16::from_le_bytes([header[0], header[1]]));
        let direction = usize::from(header[2] & 1);
        let len = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default()) as usize;
        let at = UtcTimestamp::from_unix_nanos(i64::from_le_bytes(
            header[8..16].try_into().unwrap_or_default(),
        ));
        // The producer commits a header and its bytes together, so the bytes are there.
        let Ok(read) = consumer.read_chunk(len) else {
            return Err(io::Error::other("message log queue out of step"));
        };
        chunk.clear();
        let (first, second) = read.as_slices();
        chunk.extend_from_slice(first);
        chunk.extend_from_slice(second);
        read.commit_all();
        if let Some(log) = logs.get_mut(session) {
            log.append(direction, at, &chunk)?;
        }
    }
    for log in &mut logs {
        log.file.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> Vec<u8> {
        let body = format!("35=0\x0134={seq}\x0149=A\x0152=20261124-09:00:00\x0156=B\x01");
        let mut msg = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
        let sum = gapless_codec::checksum(&msg);
        msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        msg
    }

    #[test]
    fn split_chunks_become_one_line_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, logger) =
            Logger::start(dir.path(), vec!["S1".into(), "S2".into()], 1 << 16).unwrap();
        let at = UtcTimestamp::from_unix_nanos(1_795_500_000_000_000_000);
        let mut stream = message(1);
        stream.extend_from_slice(&message(2));
        let (head, tail) = stream.split_at(30);
        writer.record(1, Direction::Inbound, at, head);
        writer.record(1, Direction::Outbound, at, &message(7));
        writer.record(1, Direction::Inbound, at, tail);
        drop(writer);
        logger.join().unwrap();
        let text = std::fs::read_to_string(dir.path().join("S2.messages.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("34=7\x01"), "{text}");
        assert!(lines[1].contains("34=1\x01") && lines[2].contains("34=2\x01"));
        assert!(lines[1].starts_with("2026") && lines[1].contains(" : 8=FIX.4.4"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("S1.messages.log")).unwrap(),
            ""
        );
    }

    #[test]
    fn logon_with_password_is_written_redacted() {
        let mut out = Vec::new();
        let logon =
            b"8=FIX.4.4\x019=40\x0135=A\x01553=trader\x01554=hunter2\x01925=next1\x0110=000\x01";
        write_redacted(&mut out, logon).unwrap();
        assert_eq!(
            out,
            b"8=FIX.4.4\x019=40\x0135=A\x01553=trader\x01554=***\x01925=***\x0110=000\x01"
        );
    }

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        let (producer, _consumer) = rtrb::RingBuffer::new(64);
        let mut writer = LogWriter {
            producer,
            dropped_chunks: 0,
        };
        let at = UtcTimestamp::from_unix_nanos(0);
        writer.record(0, Direction::Inbound, at, &[b'x'; 40]);
        writer.record(0, Direction::Inbound, at, &[b'x'; 40]);
        assert_eq!(writer.dropped_chunks(), 1);
    }
}
