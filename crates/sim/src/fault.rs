//! Fault injection on one direction of a FIX connection, whole messages at a time.
//!
//! A [`FaultInjector`] sits between a sender and the wire. It takes the sender's bytes (or
//! already framed messages), decides per message, with a seeded [`Rng`], whether to pass it,
//! drop it, duplicate it, corrupt one byte, hold it back behind later messages, or cut the
//! connection, and queues what goes on the wire. It knows nothing of time or sockets, so the
//! simulator, the simulated venue and a FIX-aware proxy can all drive it.

use std::collections::VecDeque;

use gapless_codec::{Decoded, Limits, decode};

use crate::rng::Rng;

/// How often each fault happens, as a probability per message. At most one fault applies to a
/// message; they are tried in the order of the fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    /// The connection breaks: this message and everything after it on this connection is lost.
    pub cut: f64,
    /// The message is lost.
    pub drop: f64,
    /// One byte of the message is changed, so the receiver sees it garbled.
    pub corrupt: f64,
    /// The message is sent twice in a row.
    pub duplicate: f64,
    /// The message is sent after up to `max_delay_messages` later ones: a reordering.
    pub delay: f64,
    pub max_delay_messages: u32,
}

impl FaultPlan {
    /// No faults: every message passes unchanged and in order.
    pub const NONE: FaultPlan = FaultPlan {
        cut: 0.0,
        drop: 0.0,
        corrupt: 0.0,
        duplicate: 0.0,
        delay: 0.0,
        max_delay_messages: 0,
    };

    pub fn is_none(&self) -> bool {
        let FaultPlan {
            cut,
            drop,
            corrupt,
            duplicate,
            delay,
            max_delay_messages,
        } = *self;
        cut <= 0.0
            && drop <= 0.0
            && corrupt <= 0.0
            && duplicate <= 0.0
            && (delay <= 0.0 || max_delay_messages == 0)
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::NONE
    }
}

/// What the injector did to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Cut,
    Dropped,
    /// The byte at this offset was changed.
    Corrupted {
        at: usize,
    },
    Duplicated,
    /// The message goes out after this many later messages.
    Delayed {
        by: u32,
    },
    /// The connection was already cut; the message went nowhere.
    AfterCut,
}

/// What goes on the wire, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// Bytes to send: one whole message, or bytes that did not frame as one (passed on as they
    /// came; judging them is the receiver's job).
    Data(Vec<u8>),
    /// Close the connection now. Nothing more comes until [`FaultInjector::reset`].
    Cut,
}

/// A message held back by a [`Fault::Delayed`].
#[derive(Debug)]
struct Delayed {
    /// How many more messages must pass before it.
    remaining: u32,
    bytes: Vec<u8>,
}

/// Applies a [`FaultPlan`] to one direction of one connection. See the module documentation.
#[derive(Debug)]
pub struct FaultInjector {
    plan: FaultPlan,
    rng: Rng,
    limits: Limits,
    /// Bytes given to [`FaultInjector::push_bytes`] that do not yet make a whole message.
    unframed: Vec<u8>,
    delayed: Vec<Delayed>,
    output: VecDeque<Wire>,
    cut: bool,
}

impl FaultInjector {
    /// An injector whose decisions follow `seed`.
    pub fn new(plan: FaultPlan, seed: u64) -> Self {
        FaultInjector {
            plan,
            rng: Rng::new(seed),
            limits: Limits::default(),
            unframed: Vec::new(),
            delayed: Vec::new(),
            output: VecDeque::new(),
            cut: false,
        }
    }

    /// Frames messages with these limits (the receiver's, so that what it would call garbled
    /// passes through untouched).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn plan(&self) -> FaultPlan {
        self.plan
    }

    /// Changes the plan from the next message on; messages already delayed stay delayed.
    pub fn set_plan(&mut self, plan: FaultPlan) {
        self.plan = plan;
    }

    /// Whether a [`Fault::Cut`] has happened since the last [`FaultInjector::reset`].
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// A new connection: forgets partial input, delayed messages, queued output and the cut.
    /// The random sequence carries on.
    pub fn reset(&mut self) {
        self.unframed.clear();
        self.delayed.clear();
        self.output.clear();
        self.cut = false;
    }

    /// Stream input: frames whole messages out of `bytes` (keeping an incomplete tail for the
    /// next call) and pushes each, calling `observe` with every message and its fault.
    pub fn push_bytes(&mut self, bytes: &[u8], mut observe: impl FnMut(&[u8], Option<Fault>)) {
        self.unframed.extend_from_slice(bytes);
        let mut used = 0;
        let unframed = core::mem::take(&mut self.unframed);
        loop {
            match decode(&unframed[used..], &self.limits) {
                Decoded::Message(msg) => {
                    used += msg.len();
                    let fault = self.push_message(msg.as_bytes());
                    observe(msg.as_bytes(), fault);
                }
                Decoded::Garbled(garbled) => {
                    let skipped = &unframed[used..used + garbled.skip];
                    used += garbled.skip;
                    if !self.cut {
                        self.output.push_back(Wire::Data(skipped.to_vec()));
                    }
                }
                Decoded::Incomplete => break,
            }
        }
        self.unframed = unframed;
        self.unframed.drain(..used);
    }

    /// One whole message: decides its fate and queues what goes on the wire.
    pub fn push_message(&mut self, message: &[u8]) -> Option<Fault> {
        if self.cut {
            return Some(Fault::AfterCut);
        }
        let plan = self.plan;
        let rng = &mut self.rng;
        let fault = if rng.chance(plan.cut) {
            Fault::Cut
        } else if rng.chance(plan.drop) {
            Fault::Dropped
        } else if rng.chance(plan.corrupt) && !message.is_empty() {
            Fault::Corrupted {
                at: rng.below(message.len() as u64) as usize,
            }
        } else if rng.chance(plan.duplicate) {
            Fault::Duplicated
        } else if plan.max_delay_messages > 0 && rng.chance(plan.delay) {
            Fault::Delayed {
                by: rng.between(1, u64::from(plan.max_delay_messages)) as u32,
            }
        } else {
            self.pass(message.to_vec());
            return None;
        };
        match fault {
            Fault::Cut => {
                self.cut = true;
                self.delayed.clear();
                self.output.push_back(Wire::Cut);
            }
            Fault::Dropped | Fault::AfterCut => {}
            Fault::Corrupted { at } => {
                let mut bytes = message.to_vec();
                // XOR with a non-zero value always changes the byte, so the checksum no longer
                // matches (or the framing breaks).
                bytes[at] ^= self.rng.between(1, 255) as u8;
                self.pass(bytes);
            }
            Fault::Duplicated => {
                self.pass(message.to_vec());
                self.pass(message.to_vec());
            }
            Fault::Delayed { by } => self.delayed.push(Delayed {
                remaining: by,
                bytes: message.to_vec(),
            }),
        }
        Some(fault)
    }

    /// Sends every delayed message now, in the order they were delayed. For when the faults
    /// stop and nothing may stay stuck behind messages that will never come.
    pub fn flush_delayed(&mut self) {
        if !self.cut {
            self.output
                .extend(self.delayed.drain(..).map(|d| Wire::Data(d.bytes)));
        }
    }

    /// The next thing to put on the wire.
    pub fn pop(&mut self) -> Option<Wire> {
        self.output.pop_front()
    }

    /// Whether delayed messages are waiting for later ones.
    pub fn has_delayed(&self) -> bool {
        !self.delayed.is_empty()
    }

    /// Queues `bytes`, then every delayed message whose turn has come.
    fn pass(&mut self, bytes: Vec<u8>) {
        self.output.push_back(Wire::Data(bytes));
        for delayed in &mut self.delayed {
            delayed.remaining -= 1;
        }
        while let Some(i) = self.delayed.iter().position(|d| d.remaining == 0) {
            let due = self.delayed.remove(i);
            self.output.push_back(Wire::Data(due.bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> Vec<u8> {
        let body = format!("35=0\x0134={n}\x01");
        let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
        let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
        format!("{head}10={sum:03}\x01").into_bytes()
    }

    fn drain(injector: &mut FaultInjector) -> Vec<Wire> {
        core::iter::from_fn(|| injector.pop()).collect()
    }

    fn data(messages: &[u8]) -> Vec<Wire> {
        messages.iter().map(|&n| Wire::Data(message(n))).collect()
    }

    #[test]
    fn no_faults_pass_everything_in_order() {
        let mut injector = FaultInjector::new(FaultPlan::NONE, 1);
        for n in 1..=5 {
            assert_eq!(injector.push_message(&message(n)), None);
        }
        assert_eq!(drain(&mut injector), data(&[1, 2, 3, 4, 5]));
        assert!(FaultPlan::NONE.is_none());
    }

    #[test]
    fn drop_and_duplicate() {
        let drop_all = FaultPlan {
            drop: 1.0,
            ..FaultPlan::NONE
        };
        let mut injector = FaultInjector::new(drop_all, 1);
        assert_eq!(injector.push_message(&message(1)), Some(Fault::Dropped));
        assert_eq!(drain(&mut injector), []);

        injector.set_plan(FaultPlan {
            duplicate: 1.0,
            ..FaultPlan::NONE
        });
        assert_eq!(injector.push_message(&message(2)), Some(Fault::Duplicated));
        assert_eq!(drain(&mut injector), data(&[2, 2]));
    }

    #[test]
    fn delay_reorders_behind_later_messages() {
        let delay = FaultPlan {
            delay: 1.0,
            max_delay_messages: 1,
            ..FaultPlan::NONE
        };
        let mut injector = FaultInjector::new(delay, 1);
        assert_eq!(
            injector.push_message(&message(1)),
            Some(Fault::Delayed { by: 1 })
        );
        assert!(injector.has_delayed());
        injector.set_plan(FaultPlan::NONE);
        injector.push_message(&message(2));
        injector.push_message(&message(3));
        assert_eq!(drain(&mut injector), data(&[2, 1, 3]));

        injector.set_plan(delay);
        injector.push_message(&message(4));
        injector.flush_delayed();
        assert_eq!(drain(&mut injector), data(&[4]));
    }

    #[test]
    fn corruption_garbles_the_message() {
        let corrupt = FaultPlan {
            corrupt: 1.0,
            ..FaultPlan::NONE
        };
        let mut injector = FaultInjector::new(corrupt, 3);
        for n in 1..=50 {
            let Some(Fault::Corrupted { at }) = injector.push_message(&message(n)) else {
                panic!("not corrupted");
            };
            let Some(Wire::Data(bytes)) = injector.pop() else {
                panic!("nothing sent");
            };
            assert_ne!(bytes[at], message(n)[at]);
            assert!(!matches!(
                decode(&bytes, &Limits::default()),
                Decoded::Message(m) if m.len() == bytes.len()
            ));
        }
    }

    #[test]
    fn cut_loses_everything_until_reset() {
        let cut = FaultPlan {
            cut: 1.0,
            ..FaultPlan::NONE
        };
        let mut injector = FaultInjector::new(cut, 1);
        assert_eq!(injector.push_message(&message(1)), Some(Fault::Cut));
        assert!(injector.is_cut());
        injector.set_plan(FaultPlan::NONE);
        assert_eq!(injector.push_message(&message(2)), Some(Fault::AfterCut));
        assert_eq!(drain(&mut injector), [Wire::Cut]);
        injector.reset();
        injector.push_message(&message(3));
        assert_eq!(drain(&mut injector), data(&[3]));
    }

    #[test]
    fn push_bytes_frames_a_split_stream_and_passes_garbage_through() {
        let mut injector = FaultInjector::new(FaultPlan::NONE, 1);
        let mut stream = b"junk".to_vec();
        stream.extend(message(1));
        stream.extend(message(2));
        let (first, second) = stream.split_at(20);
        let mut seen = Vec::new();
        injector.push_bytes(first, |m, f| seen.push((m.to_vec(), f)));
        injector.push_bytes(second, |m, f| seen.push((m.to_vec(), f)));
        assert_eq!(seen, [(message(1), None), (message(2), None)]);
        let mut expected = vec![Wire::Data(b"junk".to_vec())];
        expected.extend(data(&[1, 2]));
        assert_eq!(drain(&mut injector), expected);
    }

    #[test]
    fn same_seed_same_faults() {
        let plan = FaultPlan {
            cut: 0.01,
            drop: 0.1,
            corrupt: 0.1,
            duplicate: 0.1,
            delay: 0.1,
            max_delay_messages: 3,
        };
        let run = |seed| {
            let mut injector = FaultInjector::new(plan, seed);
            (1..=100)
                .map(|n| injector.push_message(&message(n)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
