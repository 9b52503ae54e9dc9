//! The RTL checker in the gateway (feature `hwsim`): the verilated `hw/rtl/fix_seqcheck.v`
//! ([`gapless_hwsim::Rtl`]) classifies inbound messages, and the software checker runs beside it
//! as a shadow.
//!
//! Each item the runtime frames (a message, or a run of garbled bytes) is streamed to the model
//! as one chunk of its session, so the model sees exactly the bytes the runtime consumes, in the
//! same order relative to the commands. The model frames them itself. Its descriptors go into a
//! `gapless-shm` ring, one 64-byte record each in the descriptor layout of gapless-seqcheck, as
//! an FPGA's DMA engine would write them; the checker takes them from the ring and matches each
//! to the runtime's item by stream offset. The verdict the runtime acts on is the RTL's.
//!
//! The shadow gives its own verdict on every item; each RTL descriptor is compared with the
//! shadow's at the same offset, timestamps aside (the RTL's is its cycle counter). Any
//! difference, an RTL descriptor at an offset where the runtime framed no item, or an item the
//! RTL skipped, is a disagreement: logged and counted in the [`ShadowReport`], which tests
//! require to stay at zero. The RTL may need bytes beyond an item to decide on it (after
//! garbled input, its framing can wait for more, as the software checker called after each read
//! would); such an item gets no verdict now and takes the slow path, and its RTL descriptor is
//! compared when it comes. Items still without one when their connection ends are counted as
//! unconfirmed: the model drops them with the session's stream on the next Reset.
//!
//! What it is not: a model of the FPGA's timing or DMA, nor fast (a cycle-accurate simulation
//! runs about a byte per simulated lane per cycle); it is for tests and demonstrations.
//! [`SequenceChecker::state`] answers from the shadow, whose registers equal the RTL's whenever
//! every verdict has arrived and agreed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gapless_codec::{Limits, Message};
use gapless_hwsim::{Drive, MAX_MESSAGE_LEN, NUM_SESSIONS, Rtl, without_timestamp};
use gapless_seqcheck::{Checker, Command, DESCRIPTOR_LEN, Descriptor, Opcode, Verdict};
use gapless_shm::{Consumer, Producer, Ring};

use crate::checker::SequenceChecker;
use crate::gateway::StartError;

/// Bytes of the descriptor ring between the model and the runtime. When it fills, the checker
/// takes what is in it before the model writes more.
const RING_CAPACITY: usize = 64 * 1024;

/// The shadow's findings, shared with whoever started the run.
#[derive(Debug, Clone, Default)]
pub struct ShadowReport(Arc<ShadowCounts>);

#[derive(Debug, Default)]
struct ShadowCounts {
    compared: AtomicU64,
    garbled: AtomicU64,
    disagreements: AtomicU64,
    unconfirmed: AtomicU64,
}

impl ShadowReport {
    /// RTL descriptors that matched the shadow's.
    pub fn compared(&self) -> u64 {
        self.0.compared.load(Ordering::Relaxed)
    }

    /// Of those, verdicts on garbled bytes.
    pub fn garbled(&self) -> u64 {
        self.0.garbled.load(Ordering::Relaxed)
    }

    /// Verdicts on which the RTL and the shadow differed: each one is a bug.
    pub fn disagreements(&self) -> u64 {
        self.0.disagreements.load(Ordering::Relaxed)
    }

    /// Items whose connection ended before the RTL gave a verdict on them.
    pub fn unconfirmed(&self) -> u64 {
        self.0.unconfirmed.load(Ordering::Relaxed)
    }
}

impl std::fmt::Display for ShadowReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} RTL verdicts matched the software checker ({} on garbled bytes), {} disagreed, \
             {} unconfirmed",
            self.compared(),
            self.garbled(),
            self.disagreements(),
            self.unconfirmed()
        )
    }
}

/// The RTL checker with its software shadow. See the module documentation.
#[derive(Debug)]
pub(crate) struct RtlChecker {
    rtl: Rtl,
    to_ring: Producer,
    from_ring: Consumer,
    shadow: Checker,
    /// Per session, the shadow's verdicts the RTL has not given yet, oldest first.
    awaiting: Vec<VecDeque<Descriptor>>,
    report: ShadowReport,
}

impl RtlChecker {
    /// A model out of reset for sessions framed with `limits`, which must be the model's: at
    /// most [`NUM_SESSIONS`] sessions, each framed as the RTL frames.
    pub(crate) fn new(
        limits: &[(&str, Limits)],
        report: ShadowReport,
    ) -> Result<RtlChecker, StartError> {
        if limits.len() > usize::from(NUM_SESSIONS) {
            return Err(StartError::Invalid(format!(
                "checker \"hwsim\": {} sessions configured, the RTL model has {NUM_SESSIONS}",
                limits.len()
            )));
        }
        let rtl_limits = gapless_hwsim::limits();
        if let Some((name, theirs)) = limits.iter().find(|(_, l)| *l != rtl_limits) {
            return Err(StartError::Invalid(format!(
                "session {name}: checker \"hwsim\" needs the framing the RTL implements \
                 (max_message_len {}, resync {:?}), not {theirs:?}",
                rtl_limits.max_message_len, rtl_limits.resync
            )));
        }
        let (to_ring, from_ring) = Ring::anonymous(RING_CAPACITY)
            .map_err(|e| StartError::Invalid(format!("checker \"hwsim\": descriptor ring: {e}")))?;
        Ok(RtlChecker {
            rtl: Rtl::new(Drive::default()),
            to_ring,
            from_ring,
            shadow: Checker::new(limits.len() as u16, rtl_limits),
            awaiting: vec![VecDeque::new(); limits.len()],
            report,
        })
    }

    /// Streams an item to the model and returns the RTL's verdict on the item at `offset`, if
    /// it has given it; `shadow` is the software verdict on the same item.
    fn check(&mut self, shadow: Descriptor, bytes: &[u8]) -> Option<Descriptor> {
        let (session, offset, read_at) = (shadow.session, shadow.stream_offset, shadow.timestamp);
        let queue = self.awaiting.get_mut(usize::from(session))?;
        queue.push_back(shadow);
        // The model holds at most one message's bytes undecided, and every item is at least a
        // byte: an older item has been skipped, and waiting longer would only use memory.
        if queue.len() > MAX_MESSAGE_LEN
            && let Some(skipped) = queue.pop_front()
        {
            let what = "the RTL is further behind than its longest message";
            disagree(&self.report, what, Some(&skipped), None);
        }
        self.rtl.send(session, bytes);
        let mut verdict = None;
        for descriptor in self.rtl.descriptors() {
            let record = descriptor.to_bytes();
            if self.to_ring.try_push(&record).is_err() {
                take_from_ring(
                    &mut self.from_ring,
                    &mut self.awaiting,
                    &self.report,
                    (session, offset),
                    &mut verdict,
                );
                // The ring is empty now, and a record is far smaller than it.
                let _ = self.to_ring.try_push(&record);
            }
        }
        take_from_ring(
            &mut self.from_ring,
            &mut self.awaiting,
            &self.report,
            (session, offset),
            &mut verdict,
        );
        // The model's timestamp is its cycle counter; the runtime takes its verdicts on the
        // host's clock (when the bytes were read), as a driver for a card converts its
        // hardware timestamps.
        verdict.map(|rtl| Descriptor {
            timestamp: read_at,
            ..rtl
        })
    }
}

/// Takes every descriptor in the ring and matches it to the oldest awaited item of its session;
/// the one for `wanted` (session, offset) goes into `verdict`.
fn take_from_ring(
    ring: &mut Consumer,
    awaiting: &mut [VecDeque<Descriptor>],
    report: &ShadowReport,
    wanted: (u16, u64),
    verdict: &mut Option<Descriptor>,
) {
    while let Some(Some(rtl)) = ring.try_pop_with(|record| {
        <&[u8; DESCRIPTOR_LEN]>::try_from(record)
            .ok()
            .map(Descriptor::from_bytes)
    }) {
        let Some(queue) = awaiting.get_mut(usize::from(rtl.session)) else {
            disagree(
                report,
                "a session the runtime does not run",
                None,
                Some(&rtl),
            );
            continue;
        };
        while let Some(skipped) = queue
            .front()
            .filter(|d| d.stream_offset < rtl.stream_offset)
        {
            disagree(report, "none from the RTL", Some(skipped), Some(&rtl));
            queue.pop_front();
        }
        match queue.front() {
            Some(shadow) if shadow.stream_offset == rtl.stream_offset => {
                if without_timestamp(shadow) == without_timestamp(&rtl) {
                    report.0.compared.fetch_add(1, Ordering::Relaxed);
                    if rtl.verdict() == Some(Verdict::Garbled) {
                        report.0.garbled.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    disagree(report, "different verdicts", Some(shadow), Some(&rtl));
                }
                queue.pop_front();
            }
            other => disagree(report, "no item framed there", other, Some(&rtl)),
        }
        if (rtl.session, rtl.stream_offset) == wanted {
            *verdict = Some(rtl);
        }
    }
}

/// Counts a disagreement between the shadow's verdict and the RTL's (either may be missing),
/// and logs the first ones and then every power of two, so that a broken model cannot flood
/// the log.
fn disagree(
    report: &ShadowReport,
    what: &str,
    shadow: Option<&Descriptor>,
    rtl: Option<&Descriptor>,
) {
    let count = report.0.disagreements.fetch_add(1, Ordering::Relaxed) + 1;
    if count > 16 && !count.is_power_of_two() {
        return;
    }
    tracing::error!(
        count,
        ?shadow,
        ?rtl,
        "the RTL checker and the software checker disagree: {what}"
    );
}

impl SequenceChecker for RtlChecker {
    fn command(&mut self, command: &Command) {
        let applied = self.shadow.command(command).is_ok();
        self.rtl.command(command);
        if applied
            && command.opcode == Opcode::Reset as u8
            && let Some(queue) = self.awaiting.get_mut(usize::from(command.session))
        {
            // The model drops the old stream with whatever it had not decided on.
            let dropped = queue.len() as u64;
            queue.clear();
            self.report
                .0
                .unconfirmed
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }

    fn state(&self, session: u16) -> Option<(bool, u64)> {
        self.shadow.state(session)
    }

    fn check_message(
        &mut self,
        session: u16,
        stream_offset: u64,
        message: &Message<'_>,
        timestamp: u64,
    ) -> Option<Descriptor> {
        let shadow = self
            .shadow
            .check_message(session, stream_offset, message, timestamp)?;
        self.check(shadow, message.as_bytes())
    }

    fn check_garbled(
        &mut self,
        session: u16,
        stream_offset: u64,
        bytes: &[u8],
        timestamp: u64,
    ) -> Option<Descriptor> {
        let shadow = self
            .shadow
            .check_garbled(session, stream_offset, bytes.len(), timestamp)?;
        self.check(shadow, bytes)
    }
}

#[cfg(test)]
mod tests {
    use gapless_codec::{Decoded, decode};

    use super::*;

    const ORDER_1: &[u8] =
        b"8=FIX.4.4\x019=37\x0135=D\x0134=1\x0149=CLIENT\x0156=VENUE\x0111=ord1\x0110=110\x01";
    const ORDER_2: &[u8] =
        b"8=FIX.4.4\x019=37\x0135=D\x0134=2\x0149=CLIENT\x0156=VENUE\x0111=ord2\x0110=112\x01";

    fn checker(sessions: usize) -> (RtlChecker, ShadowReport) {
        let limits = vec![("s", gapless_hwsim::limits()); sessions];
        let report = ShadowReport::default();
        (RtlChecker::new(&limits, report.clone()).unwrap(), report)
    }

    fn message(checker: &mut RtlChecker, offset: u64, bytes: &[u8]) -> Option<Descriptor> {
        let Decoded::Message(msg) = decode(bytes, &Limits::default()) else {
            panic!("not a message");
        };
        checker.check_message(0, offset, &msg, 0)
    }

    #[test]
    fn armed_in_order_message_gets_the_rtl_fast_path_verdict() {
        let (mut checker, report) = checker(1);
        checker.command(&Command::arm(0, 1));
        let verdict = message(&mut checker, 0, ORDER_1).expect("a verdict at once");
        assert!(verdict.is_fast_path());
        assert_eq!((verdict.stream_offset, verdict.seq), (0, 1));
        assert_eq!(checker.state(0), Some((true, 2)));
        assert_eq!((report.compared(), report.disagreements()), (1, 0));
    }

    #[test]
    fn truncated_message_gets_its_garbled_verdict_with_the_next_message() {
        let (mut checker, report) = checker(1);
        checker.command(&Command::arm(0, 1));
        // The runtime saw the next message behind it; the model has not yet.
        let cut = &ORDER_1[..40];
        assert_eq!(checker.check_garbled(0, 0, cut, 0), None);
        let verdict = message(&mut checker, cut.len() as u64, ORDER_2).expect("a verdict");
        assert_eq!(verdict.verdict(), Some(Verdict::Gap));
        assert_eq!((report.compared(), report.disagreements()), (2, 0));
        assert_eq!(report.garbled(), 1);
    }

    #[test]
    fn reset_on_a_new_connection_drops_the_undecided_items() {
        let (mut checker, report) = checker(1);
        assert_eq!(checker.check_garbled(0, 0, &ORDER_1[..40], 0), None);
        checker.command(&Command::reset(0));
        checker.command(&Command::arm(0, 1));
        let verdict = message(&mut checker, 0, ORDER_1).expect("a verdict at once");
        assert!(verdict.is_fast_path());
        assert_eq!(report.unconfirmed(), 1);
        assert_eq!((report.compared(), report.disagreements()), (1, 0));
    }

    #[test]
    fn item_at_an_offset_the_rtl_did_not_frame_is_a_disagreement() {
        let (mut checker, report) = checker(1);
        // As if the runtime had consumed 5 bytes the model never saw.
        assert_eq!(message(&mut checker, 5, ORDER_1), None);
        assert_eq!(report.disagreements(), 1);
    }

    #[test]
    fn more_sessions_than_the_model_or_other_framing_is_refused() {
        let limits = vec![("s", gapless_hwsim::limits()); usize::from(NUM_SESSIONS) + 1];
        let error = RtlChecker::new(&limits, ShadowReport::default()).unwrap_err();
        assert!(error.to_string().contains("the RTL model has"), "{error}");
        let other = Limits {
            max_message_len: 1024,
            ..gapless_hwsim::limits()
        };
        let error = RtlChecker::new(&[("small", other)], ShadowReport::default()).unwrap_err();
        assert!(error.to_string().contains("session small"), "{error}");
    }
}
