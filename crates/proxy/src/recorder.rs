//! The durable record of what a test application received, and the exactly-once check.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use gapless_codec::{Decoded, Limits, decode, tag};

/// The id of an application message of the test streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppId {
    /// ClOrdID `O<n>` of a NewOrderSingle, or ExecID `<n>` of an ExecutionReport.
    Stream(u64),
    /// An ExecutionReport acknowledging order `O<n>` (ExecID `E<k>`, ClOrdID `O<n>`), as the
    /// simulated venue answers orders.
    Ack(u64),
}

fn number(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The id of a framed application message, or `None` if it is not one of the test streams'.
pub fn app_id(message: &[u8]) -> Option<AppId> {
    let Decoded::Message(message) = decode(message, &Limits::default()) else {
        return None;
    };
    match message.msg_type() {
        b"D" => Some(AppId::Stream(number(
            message.get(tag::CL_ORD_ID)?.strip_prefix(b"O")?,
        )?)),
        b"8" => {
            let exec_id = message.get(tag::EXEC_ID)?;
            if exec_id.starts_with(b"E") {
                let order = message.get(tag::CL_ORD_ID)?.strip_prefix(b"O")?;
                Some(AppId::Ack(number(order)?))
            } else {
                Some(AppId::Stream(number(exec_id)?))
            }
        }
        _ => None,
    }
}

/// Ids from here on are not tracked one by one (bounds the memory of [`Recorder::missing`]).
const MAX_TRACKED: u64 = 1 << 26;

/// What one received record was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The next id: the previous highest plus one.
    InOrder,
    /// An id at or below the highest already recorded.
    Duplicate,
    /// An id beyond the next: the ones between are missing (so far).
    Skipped,
    /// The record the application was processing when it was killed, seen again after its
    /// restart because it was recorded but not committed. Not recorded twice.
    Replayed,
    /// An application message without a test id.
    Foreign,
}

#[derive(Debug)]
pub enum RecordError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A line of an existing record file is not `<seq> <id>`.
    BadLine { path: PathBuf, line: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            RecordError::BadLine { path, line } => {
                write!(f, "{}: line {line} is not `<seq> <id>`", path.display())
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// One sequence of ids that must arrive as 1, 2, 3, ... exactly once.
#[derive(Debug, Clone, Default)]
pub struct IdStream {
    pub highest: u64,
    pub received: u64,
    /// Ids at or below the highest already received.
    pub duplicates: u64,
    /// Ids beyond the next one.
    pub skipped: u64,
    /// `seen[id]` for ids below [`MAX_TRACKED`].
    seen: Vec<bool>,
}

impl IdStream {
    fn account(&mut self, id: u64) -> Outcome {
        self.received += 1;
        let outcome = if id <= self.highest {
            self.duplicates += 1;
            Outcome::Duplicate
        } else if id == self.highest + 1 {
            Outcome::InOrder
        } else {
            self.skipped += 1;
            Outcome::Skipped
        };
        // Ids beyond the tracked range (a peer's nonsense) are counted but not tracked.
        if id < MAX_TRACKED {
            if id as usize >= self.seen.len() {
                self.seen.resize(id as usize + 1, false);
            }
            self.seen[id as usize] = true;
        }
        self.highest = self.highest.max(id);
        outcome
    }

    /// Ids from 1 to the highest never received.
    pub fn missing(&self) -> u64 {
        let tracked = self.highest.min(MAX_TRACKED - 1);
        (1..=tracked)
            .filter(|&id| !self.seen.get(id as usize).copied().unwrap_or(false))
            .count() as u64
    }

    /// Whether ids 1 to `expect` arrived exactly once, in order, and nothing else.
    pub fn exactly_once_in_order(&self, expect: u64) -> bool {
        self.received == expect
            && self.highest == expect
            && self.duplicates == 0
            && self.skipped == 0
    }
}

/// Every application message received, one `<MsgSeqNum> <id>` line each (`A<n>` for the
/// acknowledgement of order `n`), appended and flushed before the application commits the
/// channel record; counts derived from the whole file.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    file: File,
    /// The last line, for recognising the one record a killed application sees again.
    last_line: Option<(u64, AppId)>,
    /// Whether the next observation is the first since this process opened the file.
    first: bool,
    stream: IdStream,
    acks: IdStream,
    foreign: u64,
}

fn parse_id(word: &str) -> Option<AppId> {
    match word.strip_prefix('A') {
        Some(n) => n.parse().ok().map(AppId::Ack),
        None => word.parse().ok().map(AppId::Stream),
    }
}

impl Recorder {
    /// Opens (or creates) the record at `path`, reading back what an earlier run recorded.
    pub fn open(path: impl AsRef<Path>) -> Result<Recorder, RecordError> {
        let path = path.as_ref().to_path_buf();
        let io = |error| RecordError::Io {
            path: path.clone(),
            error,
        };
        let mut recorder = Recorder {
            file: OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?,
            path: path.clone(),
            last_line: None,
            first: true,
            stream: IdStream::default(),
            acks: IdStream::default(),
            foreign: 0,
        };
        let reader = BufReader::new(File::open(&path).map_err(io)?);
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(io)?;
            let bad = || RecordError::BadLine {
                path: path.clone(),
                line: index + 1,
            };
            let mut words = line.split_whitespace();
            let seq = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
            let id = words.next().and_then(parse_id).ok_or_else(bad)?;
            recorder.account(id);
            recorder.last_line = Some((seq, id));
        }
        Ok(recorder)
    }

    /// Records one application message delivered with channel `seq` (its MsgSeqNum). Call it
    /// before committing the record; the line is flushed to the file before it returns.
    pub fn observe(&mut self, seq: u64, message: &[u8]) -> Result<Outcome, RecordError> {
        let first = core::mem::replace(&mut self.first, false);
        let Some(id) = app_id(message) else {
            self.foreign += 1;
            return Ok(Outcome::Foreign);
        };
        if first && self.last_line == Some((seq, id)) {
            return Ok(Outcome::Replayed);
        }
        // One write call per line: a kill cannot leave half a line behind.
        let line = match id {
            AppId::Stream(n) => format!("{seq} {n}\n"),
            AppId::Ack(n) => format!("{seq} A{n}\n"),
        };
        self.file
            .write_all(line.as_bytes())
            .map_err(|error| RecordError::Io {
                path: self.path.clone(),
                error,
            })?;
        self.last_line = Some((seq, id));
        Ok(self.account(id))
    }

    fn account(&mut self, id: AppId) -> Outcome {
        match id {
            AppId::Stream(n) => self.stream.account(n),
            AppId::Ack(n) => self.acks.account(n),
        }
    }

    /// The stream's ids (orders `O<n>` or ExecutionReports `<n>`).
    pub fn stream(&self) -> &IdStream {
        &self.stream
    }

    /// The acknowledgements of orders.
    pub fn acks(&self) -> &IdStream {
        &self.acks
    }

    /// Application messages that were neither.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// One line: `received=N highest=H in_order=B duplicates=D skipped=S missing=M acks=A
    /// ack_highest=AH ack_duplicates=AD ack_skipped=AS ack_missing=AM foreign=F`.
    pub fn summary(&self) -> String {
        let (s, a) = (&self.stream, &self.acks);
        format!(
            "received={} highest={} in_order={} duplicates={} skipped={} missing={} acks={} ack_highest={} ack_duplicates={} ack_skipped={} ack_missing={} foreign={}",
            s.received,
            s.highest,
            s.duplicates == 0 && s.skipped == 0,
            s.duplicates,
            s.skipped,
            s.missing(),
            a.received,
            a.highest,
            a.duplicates,
            a.skipped,
            a.missing(),
            self.foreign
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(exec_id: u64) -> Vec<u8> {
        let body = format!("35=8\x0134={exec_id}\x0117={exec_id}\x01");
        let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
        let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
        format!("{head}10={sum:03}\x01").into_bytes()
    }

    fn order(n: u64) -> Vec<u8> {
        let body = format!("35=D\x0134={n}\x0111=O{n}\x01");
        let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
        let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
        format!("{head}10={sum:03}\x01").into_bytes()
    }

    fn ack(exec: u64, order: u64) -> Vec<u8> {
        let body = format!("35=8\x0134={exec}\x0117=E{exec}\x0111=O{order}\x01");
        let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
        let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
        format!("{head}10={sum:03}\x01").into_bytes()
    }

    #[test]
    fn ids_of_orders_reports_and_acks() {
        assert_eq!(app_id(&order(12)), Some(AppId::Stream(12)));
        assert_eq!(app_id(&report(7)), Some(AppId::Stream(7)));
        assert_eq!(app_id(&ack(3, 9)), Some(AppId::Ack(9)));
        assert_eq!(app_id(b"8=FIX.4.4\x019=5\x0135=0\x0110=163\x01"), None);
    }

    #[test]
    fn stream_in_order_then_duplicate_and_skip_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::open(dir.path().join("r")).unwrap();
        for n in 1..=3 {
            assert_eq!(recorder.observe(n, &report(n)).unwrap(), Outcome::InOrder);
        }
        assert!(recorder.stream().exactly_once_in_order(3));
        assert_eq!(recorder.observe(4, &report(2)).unwrap(), Outcome::Duplicate);
        assert_eq!(recorder.observe(5, &report(5)).unwrap(), Outcome::Skipped);
        assert!(!recorder.stream().exactly_once_in_order(5));
        assert_eq!(recorder.stream().missing(), 1);
    }

    #[test]
    fn acks_are_a_stream_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::open(dir.path().join("r")).unwrap();
        recorder.observe(1, &report(1)).unwrap();
        assert_eq!(recorder.observe(2, &ack(1, 1)).unwrap(), Outcome::InOrder);
        recorder.observe(3, &report(2)).unwrap();
        assert_eq!(recorder.observe(4, &ack(2, 1)).unwrap(), Outcome::Duplicate);
        assert!(recorder.stream().exactly_once_in_order(2));
        assert_eq!(recorder.acks().duplicates, 1);
    }

    #[test]
    fn reopened_record_skips_the_uncommitted_record_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        {
            let mut recorder = Recorder::open(&path).unwrap();
            recorder.observe(1, &report(1)).unwrap();
            recorder.observe(2, &ack(1, 1)).unwrap();
        }
        let mut recorder = Recorder::open(&path).unwrap();
        assert_eq!(recorder.stream().highest, 1);
        assert_eq!(recorder.acks().highest, 1);
        assert_eq!(recorder.observe(2, &ack(1, 1)).unwrap(), Outcome::Replayed);
        assert_eq!(recorder.observe(3, &report(2)).unwrap(), Outcome::InOrder);
        // Seen again later, it is a duplicate delivery.
        assert_eq!(recorder.observe(4, &report(2)).unwrap(), Outcome::Duplicate);
        assert!(!recorder.stream().exactly_once_in_order(2));
    }

    #[test]
    fn record_file_with_a_bad_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        std::fs::write(&path, "1 1\nrubbish\n").unwrap();
        assert!(matches!(
            Recorder::open(&path),
            Err(RecordError::BadLine { line: 2, .. })
        ));
    }
}
