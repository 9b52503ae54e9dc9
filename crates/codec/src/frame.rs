//! Framing: finding complete messages in a byte stream.
//!
//! [`decode`] looks at the start of a receive buffer and answers one of three things: a complete,
//! well-framed [`Message`] is there; more bytes are needed; or the bytes are garbled and a given
//! number of them must be discarded. FIX's rule for garbled input is to drop it and resynchronise
//! on the next `8=`, so [`Garbled::skip`] points just past the garbled bytes, at the next `8=FIX`
//! if there is one. [`Resync::BodyLength`] changes that for a wrong BodyLength only, to frame as
//! QuickFIX does.

use core::fmt;

use memchr::memmem;

use crate::SOH;
use crate::message::{FieldSyntaxError, Message};

/// Bounds on what the decoder accepts, and how it resumes after garbled input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message accepted, in bytes from `8=` to the SOH after the checksum. A
    /// BodyLength that would exceed it makes the message garbled, so memory stays bounded.
    pub max_message_len: usize,
    /// Where decoding resumes after a message whose CheckSum is not where its BodyLength says.
    pub resync: Resync,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_len: 64 * 1024,
            resync: Resync::NextBeginString,
        }
    }
}

/// Where decoding resumes after a message with a wrong BodyLength ([`FrameError::ChecksumNotLast`]).
/// Other garbled input always resumes at the next `8=FIX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resync {
    /// At the next `8=FIX`: a message right behind one whose BodyLength is too large survives.
    #[default]
    NextBeginString,
    /// Past the first CheckSum field (`<SOH>10=...<SOH>`) at or beyond where BodyLength says the
    /// body ends, as QuickFIX frames: BodyLength is trusted, so when it is too large the message
    /// it runs into is discarded with it (sequencing recovers it by resend). Waits for that
    /// CheckSum field up to [`Limits::max_message_len`] bytes.
    BodyLength,
}

/// BeginString values are short (`FIXT.1.1` is the longest standard one); anything much longer
/// is garbage, not a header still arriving.
const MAX_BEGIN_STRING_LEN: usize = 16;
/// Nine digits hold every BodyLength a [`Limits`] can sensibly allow and cannot overflow.
const MAX_BODY_LENGTH_DIGITS: usize = 9;
/// `10=nnn<SOH>`
const TRAILER_LEN: usize = 7;
/// `35=x<SOH>`, the shortest body there is.
const MIN_BODY_LEN: usize = 5;

/// What [`decode`] found at the start of the buffer.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    /// A complete message, `message.len()` bytes long.
    Message(Message<'a>),
    /// The buffer holds the beginning of what may be a message; read more and call again.
    Incomplete,
    /// The first bytes are garbled: discard `skip` bytes and call again.
    Garbled(Garbled),
}

/// Garbled input to discard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garbled {
    /// How many bytes to discard: up to the next `8=FIX`, or, if there is none, all but a tail
    /// that may begin one. Always at least 1.
    pub skip: usize,
    /// What was wrong.
    pub error: FrameError,
}

/// Why input is garbled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The bytes do not start with `8=`.
    BeginStringNotFirst,
    /// BeginString is empty, or no SOH ends it within a few bytes.
    InvalidBeginString,
    /// The second field is not BodyLength (`9=`).
    BodyLengthNotSecond,
    /// BodyLength is empty, not a number, or has too many digits.
    InvalidBodyLength,
    /// BodyLength would make the message longer than [`Limits::max_message_len`].
    TooLarge {
        body_length: usize,
        max_message_len: usize,
    },
    /// The third field is not MsgType (`35=`).
    MsgTypeNotThird,
    /// `10=` is not where BodyLength says the body ends (so BodyLength is wrong), or the trailer
    /// is not `10=` with three digits and an SOH.
    ChecksumNotLast,
    /// The checksum does not match the bytes.
    ChecksumMismatch { computed: u8, received: u16 },
    /// The message is framed correctly but its fields are not `tag=value<SOH>`.
    FieldSyntax(FieldSyntaxError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BeginStringNotFirst => f.write_str("message does not start with 8="),
            FrameError::InvalidBeginString => f.write_str("invalid BeginString (8)"),
            FrameError::BodyLengthNotSecond => {
                f.write_str("BodyLength (9) is not the second field")
            }
            FrameError::InvalidBodyLength => f.write_str("invalid BodyLength (9)"),
            FrameError::TooLarge {
                body_length,
                max_message_len,
            } => write!(
                f,
                "BodyLength {body_length} exceeds the maximum message size of {max_message_len}"
            ),
            FrameError::MsgTypeNotThird => f.write_str("MsgType (35) is not the third field"),
            FrameError::ChecksumNotLast => {
                f.write_str("CheckSum (10) is not where BodyLength (9) says the body ends")
            }
            FrameError::ChecksumMismatch { computed, received } => {
                write!(f, "CheckSum is {received}, computed {computed:03}")
            }
            FrameError::FieldSyntax(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FrameError {}

/// The FIX checksum: the sum of the bytes, modulo 256.
#[inline]
pub fn checksum(bytes: &[u8]) -> u8 {
    // Wrapping u8 addition is the modulo; written this way the loop vectorises.
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// Decodes the message at the start of `buf`. See the module documentation.
///
/// Never panics and never allocates, whatever `buf` holds.
pub fn decode<'a>(buf: &'a [u8], limits: &Limits) -> Decoded<'a> {
    match frame(buf, limits) {
        Ok(Some(frame)) => {
            let bytes = &buf[..frame.end];
            match Message::index(
                bytes,
                frame.begin_string_end,
                frame.body_start,
                frame.trailer_start,
            ) {
                Ok(message) => Decoded::Message(message),
                // Framing holds, so only this message is lost: skip exactly its bytes.
                Err(e) => Decoded::Garbled(Garbled {
                    skip: frame.end,
                    error: FrameError::FieldSyntax(e),
                }),
            }
        }
        Ok(None) => Decoded::Incomplete,
        Err(error) => {
            let by_length = match (error, limits.resync) {
                (FrameError::ChecksumNotLast, Resync::BodyLength) => body_length_skip(buf),
                _ => None,
            };
            match by_length {
                Some(skip) => Decoded::Garbled(Garbled { skip, error }),
                // The CheckSum field may be still to come, unless the buffer is already full.
                None if error == FrameError::ChecksumNotLast
                    && limits.resync == Resync::BodyLength
                    && buf.len() < limits.max_message_len =>
                {
                    Decoded::Incomplete
                }
                None => match resync_point(buf) {
                    0 => Decoded::Incomplete,
                    skip => Decoded::Garbled(Garbled { skip, error }),
                },
            }
        }
    }
}

/// For [`Resync::BodyLength`]: the end of the first `<SOH>10=...<SOH>` at or after the SOH that
/// BodyLength says ends the body, or `None` if the buffer does not hold one yet. Called only
/// after [`frame`] has read BodyLength, so the header parses.
fn body_length_skip(buf: &[u8]) -> Option<usize> {
    let length_field = memmem::find(buf, b"\x019=")? + 3;
    let digits_end = length_field + memchr::memchr(SOH, &buf[length_field..])?;
    let body_length: usize = core::str::from_utf8(&buf[length_field..digits_end])
        .ok()?
        .parse()
        .ok()?;
    let body_end = (digits_end + 1 + body_length).checked_sub(1)?;
    let checksum_field = body_end + memmem::find(buf.get(body_end..)?, b"\x0110=")?;
    let value_start = checksum_field + 4;
    let end = value_start + memchr::memchr(SOH, buf.get(value_start..)?)?;
    Some(end + 1)
}

/// Offsets of a framed message.
struct Frame {
    begin_string_end: usize,
    body_start: usize,
    trailer_start: usize,
    end: usize,
}

/// Checks the framing; `Ok(None)` means the bytes so far are a valid prefix.
#[inline]
fn frame(buf: &[u8], limits: &Limits) -> Result<Option<Frame>, FrameError> {
    // 8=<BeginString><SOH>
    match buf {
        [] | [b'8'] => return Ok(None),
        [b'8', b'=', ..] => {}
        _ => return Err(FrameError::BeginStringNotFirst),
    }
    let search_end = buf.len().min(2 + MAX_BEGIN_STRING_LEN + 1);
    let begin_string_end = match memchr::memchr(SOH, &buf[2..search_end]) {
        Some(0) => return Err(FrameError::InvalidBeginString),
        Some(n) => 2 + n,
        None if search_end < 2 + MAX_BEGIN_STRING_LEN + 1 => return Ok(None),
        None => return Err(FrameError::InvalidBeginString),
    };
    // 9=<BodyLength><SOH>
    let length_start = begin_string_end + 1;
    match buf.get(length_start..length_start + 2) {
        Some(b"9=") => {}
        Some(_) => return Err(FrameError::BodyLengthNotSecond),
        None => {
            let available = &buf[length_start..];
            return if b"9=".starts_with(available) {
                Ok(None)
            } else {
                Err(FrameError::BodyLengthNotSecond)
            };
        }
    }
    let digits_start = length_start + 2;
    let mut body_length = 0usize;
    let mut i = digits_start;
    loop {
        match buf.get(i) {
            None => return Ok(None),
            Some(&SOH) if i > digits_start => break,
            Some(&b) if b.is_ascii_digit() && i - digits_start < MAX_BODY_LENGTH_DIGITS => {
                body_length = body_length * 10 + usize::from(b - b'0');
                i += 1;
            }
            Some(_) => return Err(FrameError::InvalidBodyLength),
        }
    }
    let body_start = i + 1;
    let trailer_start = body_start + body_length;
    let end = trailer_start + TRAILER_LEN;
    if end > limits.max_message_len {
        return Err(FrameError::TooLarge {
            body_length,
            max_message_len: limits.max_message_len,
        });
    }
    // 35= must open the body; say so as soon as the bytes are there, not when the body is.
    let available = &buf[body_start.min(buf.len())..buf.len().min(body_start + 3)];
    if !b"35=".starts_with(available) {
        return Err(FrameError::MsgTypeNotThird);
    }
    if buf.len() < end {
        return Ok(None);
    }
    if body_length < MIN_BODY_LEN {
        return Err(FrameError::ChecksumNotLast);
    }
    // The body ends with an SOH, then 10=nnn<SOH>.
    let trailer = &buf[trailer_start..end];
    let well_formed_trailer = buf[trailer_start - 1] == SOH
        && trailer.starts_with(b"10=")
        && trailer[3..6].iter().all(u8::is_ascii_digit)
        && trailer[6] == SOH;
    if !well_formed_trailer {
        return Err(FrameError::ChecksumNotLast);
    }
    let received = trailer[3..6]
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let computed = checksum(&buf[..trailer_start]);
    if received != u16::from(computed) {
        return Err(FrameError::ChecksumMismatch { computed, received });
    }
    Ok(Some(Frame {
        begin_string_end,
        body_start,
        trailer_start,
        end,
    }))
}

/// Every standard BeginString starts with `FIX` (`FIX.4.2`, `FIXT.1.1`), so this is where a
/// message can start.
const MESSAGE_START: &[u8] = b"8=FIX";

/// Where to resume after garbled bytes at the start of `buf`: the next `8=FIX` after offset 0.
/// It need not follow an SOH, because garbage is often a truncated message with the next message
/// right behind it. Without one, everything is garbage except a tail that may be the beginning of
/// `8=FIX` completed by the next read.
fn resync_point(buf: &[u8]) -> usize {
    let search_from = 1.min(buf.len());
    if let Some(i) = memmem::find(&buf[search_from..], MESSAGE_START) {
        return search_from + i;
    }
    let kept_tail = (1..MESSAGE_START.len())
        .rev()
        .find(|&n| n < buf.len() && buf.ends_with(&MESSAGE_START[..n]))
        .unwrap_or(0);
    buf.len() - kept_tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a message with a correct BodyLength and CheckSum from `|`-separated fields.
    fn fix(begin_string: &str, body: &str) -> Vec<u8> {
        let body = body.replace('|', "\x01");
        let mut msg = format!("8={begin_string}\x019={}\x01{body}", body.len()).into_bytes();
        let sum = checksum(&msg);
        msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        msg
    }

    fn garbled(buf: &[u8]) -> Garbled {
        match decode(buf, &Limits::default()) {
            Decoded::Garbled(g) => g,
            other => panic!("expected garbled, got {other:?}"),
        }
    }

    const HEARTBEAT: &str = "35=0|34=2|49=TW|52=20261124-06:07:35.123|56=ISLD|";

    #[test]
    fn complete_message_decodes() {
        let msg = fix("FIX.4.2", HEARTBEAT);
        let Decoded::Message(m) = decode(&msg, &Limits::default()) else {
            panic!("not decoded");
        };
        assert_eq!(m.len(), msg.len());
        assert_eq!(m.begin_string(), b"FIX.4.2");
        assert_eq!(m.msg_type(), b"0");
        assert_eq!(m.msg_seq_num(), Ok(2));
    }

    #[test]
    fn every_proper_prefix_is_incomplete() {
        let msg = fix("FIXT.1.1", HEARTBEAT);
        for n in 0..msg.len() {
            assert!(
                matches!(decode(&msg[..n], &Limits::default()), Decoded::Incomplete),
                "prefix of {n} bytes"
            );
        }
    }

    #[test]
    fn bad_checksum_is_garbled_and_skips_the_message() {
        let mut msg = fix("FIX.4.4", HEARTBEAT);
        let n = msg.len();
        msg[n - 2] = if msg[n - 2] == b'9' { b'0' } else { b'9' };
        let next = fix("FIX.4.4", HEARTBEAT);
        msg.extend_from_slice(&next);
        let g = garbled(&msg);
        assert!(matches!(g.error, FrameError::ChecksumMismatch { .. }));
        assert_eq!(g.skip, n);
    }

    #[test]
    fn body_length_too_short_is_garbled() {
        let body = HEARTBEAT.replace('|', "\x01");
        let bad = format!("8=FIX.4.2\x019={}\x01{body}10=000\x01", body.len() - 8);
        assert_eq!(garbled(bad.as_bytes()).error, FrameError::ChecksumNotLast);
    }

    #[test]
    fn body_length_not_numeric_is_garbled() {
        let buf = b"8=FIX.4.2\x019=4x\x0135=0\x0110=000\x01";
        let g = garbled(buf);
        assert_eq!(g.error, FrameError::InvalidBodyLength);
        assert_eq!(g.skip, buf.len());
    }

    const BODY_LENGTH_RESYNC: Limits = Limits {
        max_message_len: 64 * 1024,
        resync: Resync::BodyLength,
    };

    #[test]
    fn body_length_resync_drops_the_message_a_long_body_length_runs_into() {
        let first = fix("FIX.4.2", HEARTBEAT);
        let second = fix("FIX.4.2", HEARTBEAT);
        let third = fix("FIX.4.2", HEARTBEAT);
        // BodyLength 20 bytes too large: the claimed end falls inside the second message.
        let claimed = HEARTBEAT.len() + 20;
        let mut buf = String::from_utf8(first)
            .unwrap()
            .replacen(
                &format!("9={}", HEARTBEAT.len()),
                &format!("9={claimed}"),
                1,
            )
            .into_bytes();
        let first_len = buf.len();
        buf.extend_from_slice(&second);
        // Until the second message's CheckSum arrives, the end is not known.
        assert!(matches!(
            decode(&buf[..first_len + 10], &BODY_LENGTH_RESYNC),
            Decoded::Incomplete
        ));
        buf.extend_from_slice(&third);
        let Decoded::Garbled(g) = decode(&buf, &BODY_LENGTH_RESYNC) else {
            panic!("a wrong BodyLength decoded");
        };
        assert_eq!(g.error, FrameError::ChecksumNotLast);
        assert_eq!(g.skip, first_len + second.len());
        assert!(matches!(
            decode(&buf[g.skip..], &BODY_LENGTH_RESYNC),
            Decoded::Message(_)
        ));
        // The default resumes at the second message.
        assert_eq!(garbled(&buf).skip, first_len);
    }

    #[test]
    fn body_length_resync_with_a_short_body_length_drops_only_that_message() {
        let msg = fix("FIX.4.2", HEARTBEAT);
        let short = String::from_utf8(msg.clone())
            .unwrap()
            .replacen(&format!("9={}", HEARTBEAT.len()), "9=10", 1)
            .into_bytes();
        let mut buf = short.clone();
        buf.extend_from_slice(&msg);
        let Decoded::Garbled(g) = decode(&buf, &BODY_LENGTH_RESYNC) else {
            panic!("a wrong BodyLength decoded");
        };
        assert_eq!(g.skip, short.len());
    }

    #[test]
    fn huge_body_length_is_garbled_not_allocated() {
        let g = garbled(b"8=FIX.4.2\x019=2147483648\x0135=0\x01");
        assert_eq!(g.error, FrameError::InvalidBodyLength);
        let g = garbled(b"8=FIX.4.2\x019=99999999\x0135=0\x01");
        assert!(matches!(
            g.error,
            FrameError::TooLarge {
                body_length: 99_999_999,
                ..
            }
        ));
    }

    #[test]
    fn oversized_message_is_garbled() {
        let body = format!("35=0|58={}|", "x".repeat(200));
        let msg = fix("FIX.4.2", &body);
        let limits = Limits {
            max_message_len: 100,
            ..Limits::default()
        };
        let Decoded::Garbled(g) = decode(&msg, &limits) else {
            panic!("accepted an oversized message");
        };
        assert!(matches!(g.error, FrameError::TooLarge { .. }));
    }

    #[test]
    fn first_three_fields_out_of_order_are_garbled() {
        assert_eq!(
            garbled(b"35=0\x018=FIX.4.2\x01").error,
            FrameError::BeginStringNotFirst
        );
        assert_eq!(garbled(b"35=0\x018=FIX.4.2\x01").skip, 5);
        assert_eq!(
            garbled(b"8=FIX.4.2\x0135=0\x019=5\x01").error,
            FrameError::BodyLengthNotSecond
        );
        assert_eq!(
            garbled(b"8=FIX.4.2\x019=5\x0134=1\x01").error,
            FrameError::MsgTypeNotThird
        );
    }

    #[test]
    fn checksum_not_last_is_garbled() {
        let msg = fix("FIX.4.2", HEARTBEAT);
        let text = String::from_utf8(msg).unwrap();
        // Same length, but the trailer is not 10=.
        let bad = text.replacen("10=", "11=", 1);
        assert_eq!(garbled(bad.as_bytes()).error, FrameError::ChecksumNotLast);
    }

    #[test]
    fn missing_soh_in_begin_string_is_garbled() {
        let g = garbled(b"8=FIX.4.2FIX.4.2FIX.4.2FIX.4.2");
        assert_eq!(g.error, FrameError::InvalidBeginString);
        assert_eq!(g.skip, 30);
    }

    #[test]
    fn garbage_then_message_resynchronises() {
        let mut buf = b"garbage\x01more garbage\x01".to_vec();
        let msg = fix("FIX.4.2", HEARTBEAT);
        buf.extend_from_slice(&msg);
        let g = garbled(&buf);
        assert_eq!(g.skip, 21);
        assert!(matches!(
            decode(&buf[g.skip..], &Limits::default()),
            Decoded::Message(_)
        ));
    }

    #[test]
    fn truncated_message_then_message_resynchronises_on_the_second() {
        let first = fix("FIX.4.2", HEARTBEAT);
        let mut buf = first[..first.len() - 20].to_vec();
        let cut = buf.len();
        buf.extend_from_slice(&first);
        let g = garbled(&buf);
        assert_eq!(g.skip, cut);
        assert!(matches!(
            decode(&buf[cut..], &Limits::default()),
            Decoded::Message(_)
        ));
    }

    #[test]
    fn garbage_keeps_a_tail_that_may_start_a_message() {
        assert_eq!(garbled(b"\x01").skip, 1);
        assert_eq!(garbled(b"\x018=FIX.4.2\x01").skip, 1);
        assert_eq!(garbled(b"xyz8").skip, 3);
        assert_eq!(garbled(b"xyz8=FI").skip, 3);
        assert!(matches!(
            decode(b"8=FI", &Limits::default()),
            Decoded::Incomplete
        ));
    }

    #[test]
    fn data_field_with_soh_parses_by_length() {
        let msg = fix(
            "FIX.4.2",
            "35=B|49=A|56=B|34=3|95=7|96=ab\x01cd=e|58=after|",
        );
        let Decoded::Message(m) = decode(&msg, &Limits::default()) else {
            panic!("not decoded");
        };
        assert_eq!(m.get(96), Some(&b"ab\x01cd=e"[..]));
        assert_eq!(m.get(58), Some(&b"after"[..]));
        let tags: Vec<u32> = m.fields().map(|f| f.tag).collect();
        assert_eq!(tags, [8, 9, 35, 49, 56, 34, 95, 96, 58, 10]);
    }

    #[test]
    fn data_length_beyond_message_is_garbled() {
        let msg = fix("FIX.4.2", "35=B|95=70|96=abc|");
        let g = garbled(&msg);
        assert!(matches!(
            g.error,
            FrameError::FieldSyntax(FieldSyntaxError::DataLengthMismatch { tag: 96, .. })
        ));
        assert_eq!(g.skip, msg.len());
    }

    #[test]
    fn malformed_field_is_garbled() {
        for body in ["35=0|34x=1|", "35=0|=1|", "35=0|034=1|", "35=0|34|"] {
            let msg = fix("FIX.4.2", body);
            assert!(
                matches!(garbled(&msg).error, FrameError::FieldSyntax(_)),
                "{body}"
            );
        }
    }
}
