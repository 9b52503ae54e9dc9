//! One direction of a proxied FIX connection: framing, deterministic drops, the seeded injector.

use std::collections::BTreeSet;

use gapless_codec::{Decoded, Limits, decode};
use gapless_sim::fault::{Fault, FaultInjector, FaultPlan, Wire};

/// What to do with the bytes just pushed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the other side.
    Data(Vec<u8>),
    /// Close both connections: the injector cut this one.
    Cut,
}

/// What one direction did, over every connection it carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Whole messages framed.
    pub messages: u64,
    /// Dropped because their MsgSeqNum was on the deterministic list.
    pub dropped_by_seq: u64,
    /// Faults of the seeded injector, by kind.
    pub dropped: u64,
    pub duplicated: u64,
    pub delayed: u64,
    pub corrupted: u64,
    pub cuts: u64,
    /// Bytes that did not frame as a message, passed on as they came.
    pub garbled_bytes: u64,
}

/// One direction of one proxied connection (and of the ones after it: the injector's random
/// sequence and the deterministic drops carry over a reconnection).
#[derive(Debug)]
pub struct Direction {
    injector: FaultInjector,
    plan: FaultPlan,
    /// MsgSeqNums still to drop, each once, when sent without PossDupFlag=Y.
    drop_seqs: BTreeSet<u64>,
    /// Whether the seeded faults also hit admin messages and resends (PossDupFlag=Y).
    spare: Spare,
    limits: Limits,
    unframed: Vec<u8>,
    stats: DirectionStats,
}

/// Which messages the seeded faults leave alone, as `gapless venue` does by default: with both
/// spared, every recovery converges, because whatever is lost comes back through a resend that
/// is never harmed. The deterministic drops apply regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spare {
    /// Session-level messages (Logon, Heartbeat, TestRequest, ResendRequest, Reject,
    /// SequenceReset, Logout).
    pub admin: bool,
    /// Messages with PossDupFlag=Y.
    pub resends: bool,
}

impl Spare {
    /// Every message is exposed to the faults.
    pub const NOTHING: Spare = Spare {
        admin: false,
        resends: false,
    };
}

impl Direction {
    /// A direction applying `plan` with decisions from `seed`, and dropping each of `drop_seqs`
    /// once.
    pub fn new(plan: FaultPlan, seed: u64, drop_seqs: impl IntoIterator<Item = u64>) -> Self {
        let limits = Limits::default();
        Direction {
            injector: FaultInjector::new(plan, seed).with_limits(limits),
            plan,
            drop_seqs: drop_seqs.into_iter().collect(),
            spare: Spare::NOTHING,
            limits,
            unframed: Vec::new(),
            stats: DirectionStats::default(),
        }
    }

    /// Leaves these messages out of the seeded faults.
    pub fn with_spare(mut self, spare: Spare) -> Self {
        self.spare = spare;
        self
    }

    pub fn stats(&self) -> DirectionStats {
        self.stats
    }

    /// MsgSeqNums on the deterministic list that have not been seen yet.
    pub fn pending_drops(&self) -> impl Iterator<Item = u64> + '_ {
        self.drop_seqs.iter().copied()
    }

    /// A new connection: forgets partial input and whatever the injector held back.
    pub fn reset(&mut self) {
        self.unframed.clear();
        self.injector.reset();
    }

    /// Stream input: frames whole messages (keeping an incomplete tail), decides each one's
    /// fate and appends what goes on the wire to `out`. After a [`Output::Cut`] nothing more
    /// comes until [`Direction::reset`].
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Output>) {
        self.unframed.extend_from_slice(bytes);
        let unframed = core::mem::take(&mut self.unframed);
        let mut used = 0;
        loop {
            match decode(&unframed[used..], &self.limits) {
                Decoded::Message(message) => {
                    used += message.len();
                    self.stats.messages += 1;
                    let resent = message.poss_dup().unwrap_or(false);
                    let chosen = match message.msg_seq_num() {
                        Ok(seq) if !resent => self.drop_seqs.remove(&seq),
                        _ => false,
                    };
                    let admin = matches!(
                        message.msg_type(),
                        b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A"
                    );
                    let spared = (admin && self.spare.admin) || (resent && self.spare.resends);
                    // The one injector decides: for a chosen message with a plan that drops
                    // everything, for a spared one with no faults (it still counts as a later
                    // message for what is delayed, so the order stays the injector's).
                    if chosen {
                        self.injector.set_plan(FaultPlan {
                            drop: 1.0,
                            ..FaultPlan::NONE
                        });
                    } else if spared {
                        self.injector.set_plan(FaultPlan::NONE);
                    }
                    let fault = self.injector.push_message(message.as_bytes());
                    if chosen || spared {
                        self.injector.set_plan(self.plan);
                    }
                    if chosen {
                        self.stats.dropped_by_seq += 1;
                    } else {
                        self.count(fault);
                    }
                }
                Decoded::Garbled(garbled) => {
                    // Passed on untouched, after what the injector already queued; judging it
                    // is the receiver's job.
                    self.drain(out);
                    if !self.injector.is_cut() {
                        out.push(Output::Data(unframed[used..used + garbled.skip].to_vec()));
                    }
                    self.stats.garbled_bytes += garbled.skip as u64;
                    used += garbled.skip;
                }
                Decoded::Incomplete => break,
            }
        }
        self.unframed = unframed;
        self.unframed.drain(..used);
        self.drain(out);
    }

    fn count(&mut self, fault: Option<Fault>) {
        let stats = &mut self.stats;
        match fault {
            None | Some(Fault::AfterCut) => {}
            Some(Fault::Dropped) => stats.dropped += 1,
            Some(Fault::Duplicated) => stats.duplicated += 1,
            Some(Fault::Delayed { .. }) => stats.delayed += 1,
            Some(Fault::Corrupted { .. }) => stats.corrupted += 1,
            Some(Fault::Cut) => stats.cuts += 1,
        }
    }

    fn drain(&mut self, out: &mut Vec<Output>) {
        while let Some(wire) = self.injector.pop() {
            out.push(match wire {
                Wire::Data(bytes) => Output::Data(bytes),
                Wire::Cut => Output::Cut,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, poss_dup: bool) -> Vec<u8> {
        let dup = if poss_dup { "43=Y\x01" } else { "" };
        let body = format!("35=D\x0134={seq}\x01{dup}11=O{seq}\x01");
        let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
        let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
        format!("{head}10={sum:03}\x01").into_bytes()
    }

    fn data(out: &[Output]) -> Vec<Vec<u8>> {
        out.iter()
            .map(|o| match o {
                Output::Data(bytes) => bytes.clone(),
                Output::Cut => b"CUT".to_vec(),
            })
            .collect()
    }

    #[test]
    fn chosen_seq_first_sent_is_dropped_and_its_resend_passes() {
        let mut direction = Direction::new(FaultPlan::NONE, 1, [3]);
        let mut stream = Vec::new();
        for seq in 1..=4 {
            stream.extend(message(seq, false));
        }
        stream.extend(message(3, true));
        stream.extend(message(3, false));
        let mut out = Vec::new();
        // Split mid-message: framing keeps the tail.
        let (a, b) = stream.split_at(50);
        direction.push(a, &mut out);
        direction.push(b, &mut out);
        assert_eq!(
            data(&out),
            [
                message(1, false),
                message(2, false),
                message(4, false),
                message(3, true),
                message(3, false)
            ]
        );
        assert_eq!(direction.stats().dropped_by_seq, 1);
        assert_eq!(direction.stats().messages, 6);
        assert_eq!(direction.pending_drops().count(), 0);
    }

    #[test]
    fn seeded_plan_resumes_after_a_chosen_drop() {
        let plan = FaultPlan {
            duplicate: 1.0,
            ..FaultPlan::NONE
        };
        let mut direction = Direction::new(plan, 9, [1]);
        let mut out = Vec::new();
        direction.push(&message(1, false), &mut out);
        direction.push(&message(2, false), &mut out);
        assert_eq!(data(&out), [message(2, false), message(2, false)]);
        assert_eq!(direction.stats().duplicated, 1);
    }

    #[test]
    fn spared_resends_and_admin_pass_a_plan_that_drops_everything_else() {
        let drop_all = FaultPlan {
            drop: 1.0,
            ..FaultPlan::NONE
        };
        let spare = Spare {
            admin: true,
            resends: true,
        };
        let heartbeat = |seq: u64| {
            let body = format!("35=0\x0134={seq}\x01");
            let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
            let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
            format!("{head}10={sum:03}\x01").into_bytes()
        };
        let mut direction = Direction::new(drop_all, 1, []).with_spare(spare);
        let mut out = Vec::new();
        direction.push(&message(1, false), &mut out);
        direction.push(&heartbeat(2), &mut out);
        direction.push(&message(1, true), &mut out);
        direction.push(&message(3, false), &mut out);
        assert_eq!(data(&out), [heartbeat(2), message(1, true)]);
        assert_eq!(direction.stats().dropped, 2);

        let mut exposed = Direction::new(drop_all, 1, []);
        out.clear();
        exposed.push(&heartbeat(1), &mut out);
        exposed.push(&message(2, true), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn garbage_between_messages_passes_in_order() {
        let mut direction = Direction::new(FaultPlan::NONE, 1, []);
        let mut stream = message(1, false);
        stream.extend(b"noise");
        stream.extend(message(2, false));
        let mut out = Vec::new();
        direction.push(&stream, &mut out);
        assert_eq!(
            data(&out),
            [message(1, false), b"noise".to_vec(), message(2, false)]
        );
        assert_eq!(direction.stats().garbled_bytes, 5);
    }

    #[test]
    fn cut_then_reset_carries_on_with_the_next_connection() {
        let cut = FaultPlan {
            cut: 1.0,
            ..FaultPlan::NONE
        };
        let mut direction = Direction::new(cut, 1, []);
        let mut out = Vec::new();
        direction.push(&message(1, false), &mut out);
        direction.push(&message(2, false), &mut out);
        assert_eq!(out, [Output::Cut]);
        direction.reset();
        // The plan still cuts: the next connection's first message cuts again.
        out.clear();
        direction.push(&message(3, false), &mut out);
        assert_eq!(out, [Output::Cut]);
        assert_eq!(direction.stats().cuts, 2);
    }
}
