//! Driving the verilated model: beats in, commands in, descriptors out.

use gapless_seqcheck::{Command, DESCRIPTOR_LEN, Descriptor};

use crate::ffi::{Inputs, Model, Outputs};
use crate::{Chunk, Event};

/// Bytes per beat (the model's `DATA_W` is 64).
const BEAT_BYTES: usize = 8;
/// Cycles without a handshake after which the model is taken to be hung. A replay of a whole
/// failed message takes one cycle per byte, so this is well above the largest message.
const WATCHDOG_CYCLES: u64 = 1 << 20;
/// Cycles from the edge that accepts a message's last beat to its descriptor on `m_desc_valid`
/// (an empty FIFO): the framing, field and verdict stages (see `hw/rtl/fix_seqcheck.v`).
pub const VERDICT_LATENCY_CYCLES: u64 = 3;

/// How the testbench drives the handshakes around the stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drive {
    /// Seed of the pseudo-random stalls below.
    pub seed: u64,
    /// Chance in 256 that the descriptor consumer is not ready in a cycle.
    pub consumer_stall: u8,
    /// Chance in 256 of an idle cycle before a beat (otherwise beats are back to back).
    pub producer_idle: u8,
}

/// The verilated sequence checker.
#[derive(Debug)]
pub struct Rtl {
    model: Model,
    drive: Drive,
    rng: u64,
    cycles: u64,
    descriptors: Vec<Descriptor>,
}

impl Rtl {
    /// A model just out of reset: every session disarmed, expecting 1, at stream offset 0.
    pub fn new(drive: Drive) -> Rtl {
        Rtl {
            model: Model::new(),
            drive,
            rng: drive.seed | 1,
            cycles: 0,
            descriptors: Vec::new(),
        }
    }

    /// Clock cycles run so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Runs the scenario to the end and returns every descriptor written, in order.
    pub fn run(&mut self, events: &[Event]) -> Vec<Descriptor> {
        for event in events {
            match event {
                Event::Chunk(chunk) => self.send_chunk(chunk),
                Event::Command(command) => self.command(command),
            }
        }
        self.drain();
        std::mem::take(&mut self.descriptors)
    }

    /// Presents a command until the model takes it (between beats).
    pub fn command(&mut self, command: &Command) {
        let mut inputs = Inputs {
            cmd_valid: 1,
            ..Inputs::default()
        };
        inputs.cmd[0] = command.opcode;
        inputs.cmd[1] = command.reserved0;
        inputs.cmd[2..4].copy_from_slice(&command.session.to_le_bytes());
        inputs.cmd[4..8].copy_from_slice(&command.reserved1.to_le_bytes());
        inputs.cmd[8..16].copy_from_slice(&command.expected.to_le_bytes());
        self.until_accepted(&inputs, |out| out.cmd_ready != 0);
    }

    /// Streams one chunk of `session`'s bytes (one read: `tlast` on its last beat), then cycles
    /// until every descriptor it gave is out of the model; take them with
    /// [`Rtl::descriptors`].
    pub fn send(&mut self, session: u16, bytes: &[u8]) {
        self.send_beats(session, bytes, &[]);
        self.drain();
    }

    /// The descriptors collected so far, oldest first, removed as they are read.
    pub fn descriptors(&mut self) -> std::vec::Drain<'_, Descriptor> {
        self.descriptors.drain(..)
    }

    fn send_chunk(&mut self, chunk: &Chunk) {
        let mut splits = chunk.splits.clone();
        splits.sort_unstable();
        self.send_beats(chunk.session, &chunk.bytes, &splits);
    }

    /// Beats of at most eight bytes, also ending at each of the sorted `splits`.
    fn send_beats(&mut self, session: u16, bytes: &[u8], splits: &[usize]) {
        let mut start = 0;
        while start < bytes.len() {
            let mut end = (start + BEAT_BYTES).min(bytes.len());
            if let Some(&split) = splits.iter().find(|&&s| s > start && s < end) {
                end = split;
            }
            let mut lanes = [0u8; BEAT_BYTES];
            lanes[..end - start].copy_from_slice(&bytes[start..end]);
            let inputs = Inputs {
                tdata: u64::from_le_bytes(lanes),
                tkeep: ((1u16 << (end - start)) - 1) as u8,
                tlast: u8::from(end == bytes.len()),
                tuser: session,
                tvalid: 1,
                ..Inputs::default()
            };
            if self.chance(self.drive.producer_idle) {
                self.cycle(&Inputs::default());
            }
            self.until_accepted(&inputs, |out| out.tready != 0);
            start = end;
        }
    }

    /// Cycles until the pipeline and the descriptor FIFO are empty: no descriptor for
    /// [`VERDICT_LATENCY_CYCLES`] cycles in a row.
    fn drain(&mut self) {
        let idle = Inputs::default();
        let mut waited = 0;
        let mut quiet = 0;
        while quiet < VERDICT_LATENCY_CYCLES {
            if self.cycle(&idle).desc_valid != 0 {
                quiet = 0;
            } else {
                quiet += 1;
            }
            waited += 1;
            assert!(waited < WATCHDOG_CYCLES, "descriptors never drained");
        }
    }

    fn until_accepted(&mut self, inputs: &Inputs, accepted: impl Fn(&Outputs) -> bool) {
        let mut waited = 0;
        while !accepted(&self.cycle(inputs)) {
            waited += 1;
            assert!(
                waited < WATCHDOG_CYCLES,
                "the model accepted nothing for {WATCHDOG_CYCLES} cycles"
            );
        }
    }

    /// One cycle; collects the descriptor handed over in it, if any.
    fn cycle(&mut self, inputs: &Inputs) -> Outputs {
        let ready = !self.chance(self.drive.consumer_stall);
        let inputs = Inputs {
            desc_ready: u8::from(ready),
            ..*inputs
        };
        let out = self.model.cycle(&inputs);
        self.cycles += 1;
        if ready && out.desc_valid != 0 {
            let bytes: &[u8; DESCRIPTOR_LEN] = &out.desc;
            self.descriptors.push(Descriptor::from_bytes(bytes));
        }
        out
    }

    /// True with probability `in_256` / 256 (xorshift64).
    fn chance(&mut self, in_256: u8) -> bool {
        if in_256 == 0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng & 0xff) < u64::from(in_256)
    }
}
