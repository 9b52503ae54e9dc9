//! # gapless-hwsim: the FPGA sequence checker in simulation
//!
//! What this crate is: the Verilog checker of `hw/rtl` verilated (by `build.rs`) and driven from
//! Rust. [`Rtl`] feeds a scenario ([`Event`]s: chunks of a session's bytes, and commands) to the
//! model as AXI-Stream beats and collects the descriptors it writes; [`software`] runs the same
//! scenario through `gapless_seqcheck::Checker`, which is the contract. The differential test
//! compares the two; [`vector`] reads and writes scenarios as small text files (`hw/tb/vectors`).
//!
//! A chunk is what one read returns: the software checker is called after each chunk, and the
//! RTL sees the chunk's last beat with `tlast`. Descriptor timestamps differ by construction (the
//! caller's clock against the RTL's cycle counter), so comparisons mask them: see
//! [`without_timestamp`].
#![deny(unsafe_op_in_unsafe_fn)]

mod ffi;
mod rtl;
pub mod vector;

use gapless_codec::Limits;
use gapless_seqcheck::{Checker, Command, Descriptor, Opcode};

pub use rtl::{Drive, Rtl, VERDICT_LATENCY_CYCLES};

/// Sessions the verilated model has (its `NUM_SESSIONS` parameter).
pub const NUM_SESSIONS: u16 = parse_env(env!("HWSIM_NUM_SESSIONS")) as u16;
/// The largest message the model accepts (its `MAX_MSG_LEN` parameter).
pub const MAX_MESSAGE_LEN: usize = parse_env(env!("HWSIM_MAX_MSG_LEN")) as usize;

const fn parse_env(digits: &str) -> u32 {
    let bytes = digits.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// The limits the reference checker must use to match the model: the default resync policy
/// (the next `8=FIX`), which is the one the RTL implements.
pub fn limits() -> Limits {
    Limits {
        max_message_len: MAX_MESSAGE_LEN,
        ..Limits::default()
    }
}

/// Bytes of one session, as one read delivers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub session: u16,
    pub bytes: Vec<u8>,
    /// Offsets inside `bytes` where a beat must end (besides every eighth byte of a beat), so
    /// that messages are split across beats in chosen places.
    pub splits: Vec<usize>,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Chunk(Chunk),
    Command(Command),
}

/// The descriptor with its timestamp cleared, for comparing RTL and software.
pub fn without_timestamp(descriptor: &Descriptor) -> Descriptor {
    Descriptor {
        timestamp: 0,
        ..*descriptor
    }
}

/// The scenario through the software checker, called after every chunk until it has no more
/// whole messages; refused commands change nothing, as in the RTL, and a Reset also drops the
/// session's unread bytes and restarts its stream offset at 0 (a new connection).
pub fn software(events: &[Event]) -> Vec<Descriptor> {
    let mut checker = Checker::new(NUM_SESSIONS, limits());
    let mut unread: Vec<(u64, Vec<u8>)> = vec![(0, Vec::new()); usize::from(NUM_SESSIONS)];
    let mut descriptors = Vec::new();
    for event in events {
        match event {
            Event::Command(command) => {
                // Reset starts the session over: a new connection's stream, at offset 0.
                let applied = checker.command(command).is_ok();
                if applied
                    && command.opcode == Opcode::Reset as u8
                    && let Some(stream) = unread.get_mut(usize::from(command.session))
                {
                    *stream = (0, Vec::new());
                }
            }
            Event::Chunk(chunk) => {
                let Some((offset, buf)) = unread.get_mut(usize::from(chunk.session)) else {
                    continue;
                };
                buf.extend_from_slice(&chunk.bytes);
                while let Some(d) = checker.check(chunk.session, *offset, buf, 0) {
                    let len = d.length as usize;
                    buf.drain(..len);
                    *offset += len as u64;
                    descriptors.push(d);
                }
            }
        }
    }
    descriptors
}

/// The first descriptor on which the RTL and the software checker disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Position in the descriptor sequence.
    pub index: usize,
    /// Timestamps masked; `None` where that side wrote fewer descriptors.
    pub software: Option<Descriptor>,
    pub rtl: Option<Descriptor>,
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "descriptor {}: software {:?}, RTL {:?}",
            self.index, self.software, self.rtl
        )
    }
}

/// Runs the scenario through a fresh model and the software checker; on agreement, returns the
/// descriptors (timestamps masked).
pub fn differential(events: &[Event], drive: Drive) -> Result<Vec<Descriptor>, Box<Mismatch>> {
    let software: Vec<Descriptor> = software(events).iter().map(without_timestamp).collect();
    let rtl: Vec<Descriptor> = Rtl::new(drive)
        .run(events)
        .iter()
        .map(without_timestamp)
        .collect();
    match (0..software.len().max(rtl.len())).find(|&i| software.get(i) != rtl.get(i)) {
        None => Ok(software),
        Some(index) => Err(Box::new(Mismatch {
            index,
            software: software.get(index).copied(),
            rtl: rtl.get(index).copied(),
        })),
    }
}
