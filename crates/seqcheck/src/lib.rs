//! # gapless-seqcheck: the sequence-checker contract, and the checker in software
//!
//! What this crate is: the contract between whatever classifies inbound FIX messages (this
//! crate's software [`Checker`] on the network core, or the Verilog checker on an FPGA) and the
//! Rust recovery thread that runs the session. For every inbound message the checker writes one
//! 64-byte [`Descriptor`]; the recovery side steers the checker with 16-byte [`Command`]s. Both
//! layouts are `#[repr(C)]`, little-endian, and documented here bit for bit, because the RTL must
//! produce identical bytes.
//!
//! What it is not: the session. The checker decides one thing on its own, the fast path: an
//! application message at exactly the expected MsgSeqNum, not a possible duplicate, may go
//! straight to the application. Everything else it only describes; the session decides (and
//! stays the authority on sequence numbers, re-arming the checker with the number it expects).
//! No I/O, no clock (timestamps are passed in), no allocation per message.
//!
//! ## The descriptor (64 bytes)
//!
//! | offset | size | field | meaning |
//! | ---: | ---: | --- | --- |
//! | 0 | 8 | `stream_offset` | byte offset of the message's first byte in the session's inbound stream |
//! | 8 | 4 | `length` | bytes the message occupies; for [`Verdict::Garbled`], bytes to discard |
//! | 12 | 2 | `session` | session (flow) index |
//! | 14 | 1 | `verdict` | [`Verdict`] code |
//! | 15 | 1 | `flags` | bit 0 [`FLAG_POSS_DUP`] (43=Y), bit 1 [`FLAG_ADMIN`] (session-level MsgType), bit 2 [`FLAG_GAP_FILL`] (123=Y); other bits 0 |
//! | 16 | 8 | `seq` | MsgSeqNum (34); 0 when garbled or invalid |
//! | 24 | 8 | `expected` | the checker's expected MsgSeqNum when the message arrived |
//! | 32 | 8 | `new_seq_no` | NewSeqNo (36) of a SequenceReset; 0 otherwise |
//! | 40 | 1 | `msg_class` | [`MsgClass`] code |
//! | 41 | 7 | reserved | 0 |
//! | 48 | 8 | `timestamp` | when the message's last byte was seen: the caller's clock in software, the cycle counter in hardware |
//! | 56 | 8 | reserved | 0 |
//!
//! A descriptor of all zeros is never valid (no verdict is 0), so a ring slot not yet written is
//! recognisable.
//!
//! ## Verdicts, in precedence order
//!
//! The first rule that applies gives the verdict:
//!
//! 1. [`Verdict::Garbled`]: the framing or the checksum is wrong ([`gapless_codec::decode`]'s
//!    rules); `length` is how many bytes to discard.
//! 2. [`Verdict::Invalid`]: well framed, but MsgSeqNum is missing or not a number.
//! 3. [`Verdict::Diverted`]: the session's checker is disarmed (no logon yet, a gap is open, or a
//!    message that changes sequencing was seen); no comparison is made.
//! 4. [`Verdict::SequenceReset`]: 35=4 without GapFillFlag=Y, whose MsgSeqNum does not count. The
//!    checker disarms.
//! 5. [`Verdict::Gap`]: MsgSeqNum above expected. The checker disarms: everything after it is
//!    diverted until the recovery side re-arms it.
//! 6. [`Verdict::Duplicate`]: MsgSeqNum below expected.
//! 7. [`Verdict::InOrder`]: MsgSeqNum equals expected. Expected becomes MsgSeqNum + 1 (saturating
//!    at 2^64 - 1), or NewSeqNo for a GapFill whose NewSeqNo is higher. A Logon or Logout in order disarms the checker, since
//!    either can change what comes next.
//!
//! The fast path is exactly: `InOrder`, class [`MsgClass::Application`], no [`FLAG_POSS_DUP`].
//!
//! ## The command (16 bytes)
//!
//! | offset | size | field | meaning |
//! | ---: | ---: | --- | --- |
//! | 0 | 1 | `opcode` | [`Opcode`] code |
//! | 1 | 1 | reserved | 0 |
//! | 2 | 2 | `session` | session index |
//! | 4 | 4 | reserved | 0 |
//! | 8 | 8 | `expected` | for [`Opcode::Arm`], the MsgSeqNum expected next |
#![forbid(unsafe_code)]

use core::fmt;

use gapless_codec::{Decoded, Limits, Message, decode, tag};

/// What the checker found. See the crate documentation for the precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verdict {
    InOrder = 1,
    Gap = 2,
    Duplicate = 3,
    SequenceReset = 4,
    Diverted = 5,
    Invalid = 6,
    Garbled = 7,
}

impl Verdict {
    /// The verdict a descriptor's code names.
    pub fn from_code(code: u8) -> Option<Verdict> {
        Some(match code {
            1 => Verdict::InOrder,
            2 => Verdict::Gap,
            3 => Verdict::Duplicate,
            4 => Verdict::SequenceReset,
            5 => Verdict::Diverted,
            6 => Verdict::Invalid,
            7 => Verdict::Garbled,
            _ => return None,
        })
    }
}

/// The MsgType classes the checker tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgClass {
    /// Any MsgType that is not session-level.
    Application = 0,
    Heartbeat = 1,
    TestRequest = 2,
    ResendRequest = 3,
    Reject = 4,
    SequenceReset = 5,
    Logout = 6,
    Logon = 7,
    /// Garbled input has no MsgType.
    None = 0xFF,
}

impl MsgClass {
    /// The class of a MsgType (35) value.
    pub fn of(msg_type: &[u8]) -> MsgClass {
        match msg_type {
            b"0" => MsgClass::Heartbeat,
            b"1" => MsgClass::TestRequest,
            b"2" => MsgClass::ResendRequest,
            b"3" => MsgClass::Reject,
            b"4" => MsgClass::SequenceReset,
            b"5" => MsgClass::Logout,
            b"A" => MsgClass::Logon,
            _ => MsgClass::Application,
        }
    }

    /// The class a descriptor's code names.
    pub fn from_code(code: u8) -> Option<MsgClass> {
        Some(match code {
            0 => MsgClass::Application,
            1 => MsgClass::Heartbeat,
            2 => MsgClass::TestRequest,
            3 => MsgClass::ResendRequest,
            4 => MsgClass::Reject,
            5 => MsgClass::SequenceReset,
            6 => MsgClass::Logout,
            7 => MsgClass::Logon,
            0xFF => MsgClass::None,
            _ => return None,
        })
    }
}

/// PossDupFlag (43) is Y.
pub const FLAG_POSS_DUP: u8 = 1 << 0;
/// The MsgType is session-level (class other than Application).
pub const FLAG_ADMIN: u8 = 1 << 1;
/// GapFillFlag (123) is Y.
pub const FLAG_GAP_FILL: u8 = 1 << 2;

/// One message's verdict. Layout in the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Descriptor {
    pub stream_offset: u64,
    pub length: u32,
    pub session: u16,
    pub verdict: u8,
    pub flags: u8,
    pub seq: u64,
    pub expected: u64,
    pub new_seq_no: u64,
    pub msg_class: u8,
    pub reserved0: [u8; 7],
    pub timestamp: u64,
    pub reserved1: u64,
}

/// The descriptor's size, fixed by the contract.
pub const DESCRIPTOR_LEN: usize = 64;
const _: () = assert!(core::mem::size_of::<Descriptor>() == DESCRIPTOR_LEN);

impl Descriptor {
    /// The verdict, if the code is one.
    pub fn verdict(&self) -> Option<Verdict> {
        Verdict::from_code(self.verdict)
    }

    /// The class, if the code is one.
    pub fn msg_class(&self) -> Option<MsgClass> {
        MsgClass::from_code(self.msg_class)
    }

    /// Whether the message may go straight to the application.
    pub fn is_fast_path(&self) -> bool {
        self.verdict == Verdict::InOrder as u8
            && self.msg_class == MsgClass::Application as u8
            && self.flags & FLAG_POSS_DUP == 0
    }

    /// The little-endian bytes of the contract.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_LEN] {
        let mut out = [0u8; DESCRIPTOR_LEN];
        out[0..8].copy_from_slice(&self.stream_offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.length.to_le_bytes());
        out[12..14].copy_from_slice(&self.session.to_le_bytes());
        out[14] = self.verdict;
        out[15] = self.flags;
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.expected.to_le_bytes());
        out[32..40].copy_from_slice(&self.new_seq_no.to_le_bytes());
        out[40] = self.msg_class;
        out[41..48].copy_from_slice(&self.reserved0);
        out[48..56].copy_from_slice(&self.timestamp.to_le_bytes());
        out[56..64].copy_from_slice(&self.reserved1.to_le_bytes());
        out
    }

    /// Reads the contract's bytes back.
    pub fn from_bytes(bytes: &[u8; DESCRIPTOR_LEN]) -> Descriptor {
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
        Descriptor {
            stream_offset: u64_at(0),
            length: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            session: u16::from_le_bytes([bytes[12], bytes[13]]),
            verdict: bytes[14],
            flags: bytes[15],
            seq: u64_at(16),
            expected: u64_at(24),
            new_seq_no: u64_at(32),
            msg_class: bytes[40],
            reserved0: bytes[41..48].try_into().unwrap_or([0; 7]),
            timestamp: u64_at(48),
            reserved1: u64_at(56),
        }
    }
}

/// What a [`Command`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// Expect `expected` next and classify again (after logon, or after recovery).
    Arm = 1,
    /// Divert every message to the recovery side until armed again.
    Disarm = 2,
    /// Back to the initial state: disarmed, expecting 1. The runtime sends it for each new
    /// connection of the session, which starts a new stream: a checker that frames the stream
    /// itself (the RTL of `hw/rtl`) also drops any partial message it holds for the session and
    /// restarts its stream offset at 0. The software checker is handed framed messages with
    /// their offsets, so for it only the registers change.
    Reset = 3,
}

/// A control command from the recovery side. Layout in the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Command {
    pub opcode: u8,
    pub reserved0: u8,
    pub session: u16,
    pub reserved1: u32,
    pub expected: u64,
}

/// The command's size, fixed by the contract.
pub const COMMAND_LEN: usize = 16;
const _: () = assert!(core::mem::size_of::<Command>() == COMMAND_LEN);

impl Command {
    pub fn arm(session: u16, expected: u64) -> Command {
        Command {
            opcode: Opcode::Arm as u8,
            session,
            expected,
            ..Command::default()
        }
    }

    pub fn disarm(session: u16) -> Command {
        Command {
            opcode: Opcode::Disarm as u8,
            session,
            ..Command::default()
        }
    }

    pub fn reset(session: u16) -> Command {
        Command {
            opcode: Opcode::Reset as u8,
            session,
            ..Command::default()
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    UnknownOpcode(u8),
    UnknownSession(u16),
    /// MsgSeqNum 0 does not exist.
    ZeroExpected,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            CommandError::UnknownSession(s) => write!(f, "unknown session {s}"),
            CommandError::ZeroExpected => f.write_str("expected MsgSeqNum must be at least 1"),
        }
    }
}

impl std::error::Error for CommandError {}

/// One session's checker state: two registers in hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionRegisters {
    expected: u64,
    armed: bool,
}

impl SessionRegisters {
    const INITIAL: SessionRegisters = SessionRegisters {
        expected: 1,
        armed: false,
    };
}

/// The software sequence checker for a fixed number of sessions.
#[derive(Debug, Clone)]
pub struct Checker {
    sessions: Box<[SessionRegisters]>,
    limits: Limits,
}

impl Checker {
    /// A checker for `sessions` sessions, all disarmed and expecting 1.
    pub fn new(sessions: u16, limits: Limits) -> Checker {
        Checker {
            sessions: vec![SessionRegisters::INITIAL; usize::from(sessions)].into_boxed_slice(),
            limits,
        }
    }

    /// Applies a command from the recovery side.
    pub fn command(&mut self, command: &Command) -> Result<(), CommandError> {
        let registers = self
            .sessions
            .get_mut(usize::from(command.session))
            .ok_or(CommandError::UnknownSession(command.session))?;
        match command.opcode {
            op if op == Opcode::Arm as u8 => {
                if command.expected == 0 {
                    return Err(CommandError::ZeroExpected);
                }
                *registers = SessionRegisters {
                    expected: command.expected,
                    armed: true,
                };
            }
            op if op == Opcode::Disarm as u8 => registers.armed = false,
            op if op == Opcode::Reset as u8 => *registers = SessionRegisters::INITIAL,
            op => return Err(CommandError::UnknownOpcode(op)),
        }
        Ok(())
    }

    /// Whether `session` is armed, and what it expects.
    pub fn state(&self, session: u16) -> Option<(bool, u64)> {
        self.sessions
            .get(usize::from(session))
            .map(|r| (r.armed, r.expected))
    }

    /// Classifies the message at the start of `stream` (the session's unread inbound bytes, the
    /// first of which is at `stream_offset`). `None` if the bytes do not yet hold a whole message,
    /// or if `session` is unknown.
    pub fn check(
        &mut self,
        session: u16,
        stream_offset: u64,
        stream: &[u8],
        timestamp: u64,
    ) -> Option<Descriptor> {
        match decode(stream, &self.limits) {
            Decoded::Incomplete => None,
            Decoded::Garbled(garbled) => {
                self.check_garbled(session, stream_offset, garbled.skip, timestamp)
            }
            Decoded::Message(message) => {
                self.check_message(session, stream_offset, &message, timestamp)
            }
        }
    }

    /// [`Checker::check`] for a message the caller has already framed, so that a software
    /// pipeline decodes each message once. `None` if `session` is unknown.
    pub fn check_message(
        &mut self,
        session: u16,
        stream_offset: u64,
        message: &Message<'_>,
        timestamp: u64,
    ) -> Option<Descriptor> {
        let registers = self.sessions.get_mut(usize::from(session))?;
        let mut descriptor = Descriptor {
            stream_offset,
            session,
            expected: registers.expected,
            timestamp,
            length: message.len() as u32,
            ..Descriptor::default()
        };
        classify(registers, message, &mut descriptor);
        Some(descriptor)
    }

    /// [`Checker::check`] for `skipped` bytes the caller's framing found garbled.
    pub fn check_garbled(
        &mut self,
        session: u16,
        stream_offset: u64,
        skipped: usize,
        timestamp: u64,
    ) -> Option<Descriptor> {
        let registers = self.sessions.get(usize::from(session))?;
        Some(Descriptor {
            stream_offset,
            session,
            expected: registers.expected,
            timestamp,
            length: skipped as u32,
            verdict: Verdict::Garbled as u8,
            msg_class: MsgClass::None as u8,
            ..Descriptor::default()
        })
    }
}

/// Fills in the verdict of a well-framed message and updates the session's registers.
fn classify(registers: &mut SessionRegisters, message: &Message<'_>, d: &mut Descriptor) {
    let class = MsgClass::of(message.msg_type());
    let is_yes = |tag| message.get(tag) == Some(&b"Y"[..]);
    d.msg_class = class as u8;
    d.flags = if is_yes(tag::POSS_DUP_FLAG) {
        FLAG_POSS_DUP
    } else {
        0
    } | if class != MsgClass::Application {
        FLAG_ADMIN
    } else {
        0
    } | if is_yes(tag::GAP_FILL_FLAG) {
        FLAG_GAP_FILL
    } else {
        0
    };
    if class == MsgClass::SequenceReset {
        d.new_seq_no = message.get_u64(tag::NEW_SEQ_NO).unwrap_or(0);
    }
    let Ok(seq) = message.msg_seq_num() else {
        d.verdict = Verdict::Invalid as u8;
        return;
    };
    d.seq = seq;
    let gap_fill = d.flags & FLAG_GAP_FILL != 0;
    let verdict = if !registers.armed {
        Verdict::Diverted
    } else if class == MsgClass::SequenceReset && !gap_fill {
        registers.armed = false;
        Verdict::SequenceReset
    } else if seq > registers.expected {
        registers.armed = false;
        Verdict::Gap
    } else if seq < registers.expected {
        Verdict::Duplicate
    } else {
        registers.expected = if gap_fill && d.new_seq_no > seq {
            d.new_seq_no
        } else {
            // Saturating: a peer can push the sequence to the top of the range (SequenceReset
            // to 2^64-1), and the checker must not overflow on what a peer sends.
            seq.saturating_add(1)
        };
        if matches!(class, MsgClass::Logon | MsgClass::Logout) {
            registers.armed = false;
        }
        Verdict::InOrder
    };
    d.verdict = verdict as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(body: &str) -> Vec<u8> {
        let body = body.replace('|', "\x01");
        let mut msg = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
        let sum = gapless_codec::checksum(&msg);
        msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        msg
    }

    fn armed_checker(expected: u64) -> Checker {
        let mut checker = Checker::new(2, Limits::default());
        checker.command(&Command::arm(0, expected)).unwrap();
        checker
    }

    fn verdict_of(checker: &mut Checker, body: &str) -> Descriptor {
        checker
            .check(0, 0, &fix(body), 7)
            .expect("complete message")
    }

    #[test]
    fn armed_in_order_application_message_is_fast_path() {
        let mut checker = armed_checker(5);
        let d = verdict_of(&mut checker, "35=D|34=5|49=A|56=B|");
        assert_eq!(d.verdict(), Some(Verdict::InOrder));
        assert!(d.is_fast_path());
        assert_eq!((d.seq, d.expected, d.timestamp), (5, 5, 7));
        assert_eq!(checker.state(0), Some((true, 6)));
    }

    #[test]
    fn armed_gap_disarms_and_diverts_what_follows() {
        let mut checker = armed_checker(5);
        let d = verdict_of(&mut checker, "35=D|34=8|49=A|56=B|");
        assert_eq!((d.verdict(), d.seq, d.expected), (Some(Verdict::Gap), 8, 5));
        let d = verdict_of(&mut checker, "35=D|34=5|43=Y|49=A|56=B|");
        assert_eq!(d.verdict(), Some(Verdict::Diverted));
        assert_eq!(d.flags & FLAG_POSS_DUP, FLAG_POSS_DUP);
        checker.command(&Command::arm(0, 9)).unwrap();
        assert!(verdict_of(&mut checker, "35=D|34=9|49=A|56=B|").is_fast_path());
    }

    #[test]
    fn armed_in_order_at_the_top_of_the_range_saturates() {
        let mut checker = armed_checker(u64::MAX);
        let d = verdict_of(&mut checker, "35=D|34=18446744073709551615|49=A|56=B|");
        assert_eq!(d.verdict(), Some(Verdict::InOrder));
        assert_eq!(checker.state(0), Some((true, u64::MAX)));
    }

    #[test]
    fn armed_lower_seq_is_duplicate() {
        let mut checker = armed_checker(5);
        let d = verdict_of(&mut checker, "35=D|34=4|43=Y|49=A|56=B|");
        assert_eq!(d.verdict(), Some(Verdict::Duplicate));
        assert!(!d.is_fast_path());
        assert_eq!(checker.state(0), Some((true, 5)));
    }

    #[test]
    fn armed_gap_fill_at_expected_moves_expected_to_new_seq_no() {
        let mut checker = armed_checker(5);
        let d = verdict_of(&mut checker, "35=4|34=5|43=Y|49=A|56=B|36=9|123=Y|");
        assert_eq!(d.verdict(), Some(Verdict::InOrder));
        assert_eq!(d.flags, FLAG_POSS_DUP | FLAG_ADMIN | FLAG_GAP_FILL);
        assert_eq!(
            (d.new_seq_no, d.msg_class()),
            (9, Some(MsgClass::SequenceReset))
        );
        assert_eq!(checker.state(0), Some((true, 9)));
    }

    #[test]
    fn armed_sequence_reset_disarms_whatever_its_seq() {
        let mut checker = armed_checker(5);
        let d = verdict_of(&mut checker, "35=4|34=1|49=A|56=B|36=20|");
        assert_eq!(
            (d.verdict(), d.new_seq_no),
            (Some(Verdict::SequenceReset), 20)
        );
        assert_eq!(checker.state(0), Some((false, 5)));
    }

    #[test]
    fn armed_logon_or_logout_in_order_disarms() {
        for body in ["35=5|34=5|49=A|56=B|", "35=A|34=5|49=A|56=B|98=0|108=30|"] {
            let mut checker = armed_checker(5);
            let d = verdict_of(&mut checker, body);
            assert_eq!(d.verdict(), Some(Verdict::InOrder));
            assert_eq!(checker.state(0), Some((false, 6)));
        }
    }

    #[test]
    fn garbled_and_invalid_take_precedence() {
        let mut checker = armed_checker(5);
        let mut bad = fix("35=D|34=5|49=A|56=B|");
        let n = bad.len();
        bad[n - 2] ^= 1;
        let d = checker.check(0, 100, &bad, 0).unwrap();
        assert_eq!(
            (d.verdict(), d.length as usize),
            (Some(Verdict::Garbled), n)
        );
        assert_eq!(d.msg_class(), Some(MsgClass::None));
        let d = verdict_of(&mut checker, "35=D|34=x|49=A|56=B|");
        assert_eq!(d.verdict(), Some(Verdict::Invalid));
        assert_eq!(checker.state(0), Some((true, 5)));
    }

    #[test]
    fn disarmed_initially_and_after_reset() {
        let mut checker = Checker::new(1, Limits::default());
        assert_eq!(
            verdict_of(&mut checker, "35=A|34=1|49=A|56=B|98=0|108=30|").verdict(),
            Some(Verdict::Diverted)
        );
        checker.command(&Command::arm(0, 3)).unwrap();
        checker.command(&Command::reset(0)).unwrap();
        assert_eq!(checker.state(0), Some((false, 1)));
        checker.command(&Command::arm(0, 3)).unwrap();
        checker.command(&Command::disarm(0)).unwrap();
        assert_eq!(checker.state(0), Some((false, 3)));
    }

    #[test]
    fn bad_commands_are_refused() {
        let mut checker = Checker::new(1, Limits::default());
        assert_eq!(
            checker.command(&Command::arm(1, 3)),
            Err(CommandError::UnknownSession(1))
        );
        assert_eq!(
            checker.command(&Command::arm(0, 0)),
            Err(CommandError::ZeroExpected)
        );
        let bogus = Command {
            opcode: 9,
            ..Command::default()
        };
        assert_eq!(checker.command(&bogus), Err(CommandError::UnknownOpcode(9)));
    }

    #[test]
    fn incomplete_input_gives_no_descriptor() {
        let mut checker = armed_checker(1);
        let msg = fix("35=D|34=1|49=A|56=B|");
        assert!(checker.check(0, 0, &msg[..msg.len() - 1], 0).is_none());
        assert!(checker.check(5, 0, &msg, 0).is_none());
    }

    #[test]
    fn descriptor_bytes_follow_the_documented_layout() {
        let d = Descriptor {
            stream_offset: 0x0102_0304_0506_0708,
            length: 0x1112_1314,
            session: 0x2122,
            verdict: Verdict::Gap as u8,
            flags: FLAG_POSS_DUP | FLAG_GAP_FILL,
            seq: 42,
            expected: 40,
            new_seq_no: 0,
            msg_class: MsgClass::SequenceReset as u8,
            reserved0: [0; 7],
            timestamp: 99,
            reserved1: 0,
        };
        let bytes = d.to_bytes();
        assert_eq!(&bytes[0..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&bytes[8..12], &[0x14, 0x13, 0x12, 0x11]);
        assert_eq!(&bytes[12..14], &[0x22, 0x21]);
        assert_eq!((bytes[14], bytes[15]), (2, 0b101));
        assert_eq!(bytes[16], 42);
        assert_eq!(bytes[24], 40);
        assert_eq!(bytes[40], 5);
        assert_eq!(bytes[48], 99);
        assert_eq!(Descriptor::from_bytes(&bytes), d);
    }

    #[test]
    fn verdict_and_class_codes_round_trip() {
        for code in 0..=255u8 {
            if let Some(v) = Verdict::from_code(code) {
                assert_eq!(v as u8, code);
            }
            if let Some(c) = MsgClass::from_code(code) {
                assert_eq!(c as u8, code);
            }
        }
        assert_eq!(Verdict::from_code(0), None);
    }
}
