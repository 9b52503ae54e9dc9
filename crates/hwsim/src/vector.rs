//! Scenario files (`hw/tb/vectors/*.vec`): a line per event, readable and hand-writable.
//!
//! ```text
//! # comment
//! arm <session> <expected>
//! disarm <session>
//! reset <session>
//! command <opcode> <session> <expected>     any command, refused ones included
//! chunk <session> <splits> <bytes>
//! ```
//!
//! `<splits>` is `-` or comma-separated offsets in the chunk where a beat must end. `<bytes>` is
//! the rest of the line: SOH is written `|`, printable ASCII as itself, and any other byte
//! (space, `|` and `\` included) as `\xHH`.

use gapless_seqcheck::Command;

use crate::{Chunk, Event};

/// Why a vector file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Writes bytes in the file's escaped form.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            0x01 => out.push('|'),
            b'|' | b'\\' => out.push_str(&format!("\\x{b:02x}")),
            0x21..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Reads bytes written by [`escape`].
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'|' => out.push(0x01),
            b'\\' => {
                let hex = text
                    .get(i + 2..i + 4)
                    .filter(|_| bytes.get(i + 1) == Some(&b'x'))
                    .ok_or_else(|| format!("bad escape at column {}", i + 1))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| format!("bad escape: {e}"))?);
                i += 3;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// The scenario as a vector file, headed by `comment` lines.
pub fn write(events: &[Event], comment: &str) -> String {
    let mut out = String::new();
    for line in comment.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    for event in events {
        match event {
            Event::Command(c) => out.push_str(&match (c.opcode, c.reserved0, c.reserved1) {
                (1, 0, 0) => format!("arm {} {}\n", c.session, c.expected),
                (2, 0, 0) if c.expected == 0 => format!("disarm {}\n", c.session),
                (3, 0, 0) if c.expected == 0 => format!("reset {}\n", c.session),
                _ => format!("command {} {} {}\n", c.opcode, c.session, c.expected),
            }),
            Event::Chunk(chunk) => {
                let splits = if chunk.splits.is_empty() {
                    "-".to_string()
                } else {
                    let list: Vec<String> = chunk.splits.iter().map(usize::to_string).collect();
                    list.join(",")
                };
                out.push_str(&format!(
                    "chunk {} {splits} {}\n",
                    chunk.session,
                    escape(&chunk.bytes)
                ));
            }
        }
    }
    out
}

/// Reads a vector file.
pub fn parse(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let error = |message: String| ParseError {
            line: index + 1,
            message,
        };
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.splitn(4, ' ');
        let keyword = words.next().unwrap_or_default();
        let mut number = |what: &str| -> Result<u64, ParseError> {
            let word = words
                .next()
                .ok_or_else(|| error(format!("missing {what}")))?;
            word.parse()
                .map_err(|e| error(format!("{what} {word:?}: {e}")))
        };
        let event = match keyword {
            "arm" => {
                let session = number("session")?;
                Event::Command(Command::arm(session as u16, number("expected")?))
            }
            "disarm" => Event::Command(Command::disarm(number("session")? as u16)),
            "reset" => Event::Command(Command::reset(number("session")? as u16)),
            "command" => Event::Command(Command {
                opcode: number("opcode")? as u8,
                session: number("session")? as u16,
                expected: number("expected")?,
                ..Command::default()
            }),
            "chunk" => {
                let session = number("session")? as u16;
                let splits_word = words.next().ok_or_else(|| error("missing splits".into()))?;
                let splits = if splits_word == "-" {
                    Vec::new()
                } else {
                    splits_word
                        .split(',')
                        .map(|s| s.parse().map_err(|e| error(format!("split {s:?}: {e}"))))
                        .collect::<Result<_, _>>()?
                };
                let bytes = unescape(words.next().unwrap_or_default()).map_err(error)?;
                Event::Chunk(Chunk {
                    session,
                    bytes,
                    splits,
                })
            }
            other => return Err(error(format!("unknown keyword {other:?}"))),
        };
        events.push(event);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unescape(&escape(&bytes)).unwrap(), bytes);
        assert_eq!(escape(b"8=FIX\x01a b|"), "8=FIX|a\\x20b\\x7c");
    }

    #[test]
    fn scenarios_round_trip() {
        let events = vec![
            Event::Command(Command::arm(1, 7)),
            Event::Chunk(Chunk {
                session: 1,
                bytes: b"8=FIX.4.4\x019=5\x01".to_vec(),
                splits: vec![3, 9],
            }),
            Event::Command(Command {
                opcode: 9,
                session: 2,
                expected: 4,
                ..Command::default()
            }),
            Event::Command(Command::disarm(0)),
            Event::Command(Command::reset(3)),
        ];
        let text = write(&events, "a comment\nover two lines");
        assert_eq!(parse(&text).unwrap(), events);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("arm 1 1\nchunk x - abc\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
