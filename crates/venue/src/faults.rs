//! The fault stage between the venue's session and its socket.
//!
//! It frames the session's outbound bytes into messages and decides, per message, which faults
//! may apply: `gapless_sim`'s [`FaultInjector`] does the damage; this stage only chooses the
//! plan for each message (none for Logon, admin messages and resends; certain cut for the
//! `--disconnect-after` one) and drops the `--gap-at` ones itself. Everything it sees was
//! journaled by the session first, so whatever it destroys can be resent.

use std::collections::BTreeSet;

use gapless_codec::{Decoded, Limits, Message, decode};
use gapless_dict::SessionDictionary;
use gapless_sim::{Fault, FaultInjector, FaultPlan, Wire};

use crate::config::FaultConfig;
use crate::report::FaultCounts;

/// A plan that always cuts: the `--disconnect-after` fault.
const CUT: FaultPlan = FaultPlan {
    cut: 1.0,
    ..FaultPlan::NONE
};

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct FaultStage {
    injector: FaultInjector,
    plan: FaultPlan,
    /// MsgSeqNums still to drop the first time they go out (a set: a forced gap of 100,000
    /// messages must not cost a scan of the list per message sent).
    gap_at: BTreeSet<u64>,
    /// Cut at the first application message with a MsgSeqNum above this (once).
    cut_after: Option<u64>,
    fault_resends: bool,
    dictionary: SessionDictionary,
    limits: Limits,
    counts: FaultCounts,
}

impl FaultStage {
    pub(crate) fn new(config: &FaultConfig, dictionary: SessionDictionary) -> Self {
        // Our own messages may be a little over the peer's limit; framing them must not fail.
        let limits = Limits {
            max_message_len: 1 << 20,
            ..Limits::default()
        };
        FaultStage {
            injector: FaultInjector::new(config.plan, config.seed).with_limits(limits),
            plan: config.plan,
            gap_at: config.gap_at.iter().copied().collect(),
            cut_after: None,
            fault_resends: config.fault_resends,
            dictionary,
            limits,
            counts: FaultCounts::default(),
        }
    }

    pub(crate) fn counts(&self) -> FaultCounts {
        self.counts
    }

    /// Cuts the connection at the first application message sent after MsgSeqNum `seq`.
    pub(crate) fn cut_after(&mut self, seq: u64) {
        self.cut_after = Some(seq);
    }

    /// A new connection: nothing from the old one is sent on it.
    pub(crate) fn reset(&mut self) {
        self.injector.reset();
    }

    /// Releases messages held back for reordering, for when no later messages will come.
    pub(crate) fn flush_delayed(&mut self) {
        self.injector.flush_delayed();
    }

    /// What to put on the wire next.
    pub(crate) fn pop(&mut self) -> Option<Wire> {
        self.injector.pop()
    }

    /// Takes outbound bytes from the session (whole messages).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let mut used = 0;
        while used < bytes.len() {
            match decode(&bytes[used..], &self.limits) {
                Decoded::Message(msg) => {
                    used += msg.len();
                    self.push_message(&msg);
                }
                // The session only writes whole, well-formed messages; anything else passes
                // through unharmed, so that the peer sees exactly what the session wrote.
                Decoded::Garbled(_) | Decoded::Incomplete => {
                    self.injector.set_plan(FaultPlan::NONE);
                    self.injector.push_bytes(&bytes[used..], |_, _| {});
                    return;
                }
            }
        }
    }

    fn push_message(&mut self, msg: &Message<'_>) {
        let seq = msg.msg_seq_num().unwrap_or(0);
        let resent = msg.poss_dup() == Ok(true);
        let is_logon = msg.msg_type() == b"A";
        if !resent && !is_logon && self.take_gap_at(seq) {
            self.counts.forced_gaps += 1;
            return;
        }
        let application = !self.dictionary.is_admin(msg.msg_type());
        let forced_cut = application && !resent && self.cut_after.is_some_and(|after| seq > after);
        let plan = if forced_cut {
            self.cut_after = None;
            CUT
        } else if application && (!resent || self.fault_resends) {
            self.plan
        } else {
            FaultPlan::NONE
        };
        self.injector.set_plan(plan);
        match self.injector.push_message(msg.as_bytes()) {
            None | Some(Fault::AfterCut) => {}
            Some(Fault::Cut) if forced_cut => self.counts.forced_disconnects += 1,
            Some(Fault::Cut) => self.counts.cuts += 1,
            Some(Fault::Dropped) => self.counts.dropped += 1,
            Some(Fault::Corrupted { .. }) => self.counts.corrupted += 1,
            Some(Fault::Duplicated) => self.counts.duplicated += 1,
            Some(Fault::Delayed { .. }) => self.counts.delayed += 1,
        }
    }

    fn take_gap_at(&mut self, seq: u64) -> bool {
        self.gap_at.remove(&seq)
    }
}

#[cfg(test)]
mod tests {
    use gapless_codec::value::{TimePrecision, UtcTimestamp};
    use gapless_codec::{Encoder, StandardHeader};
    use gapless_dict::Version;

    use super::*;

    fn message(msg_type: &[u8], seq: u64, poss_dup: bool) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let now = UtcTimestamp::from_unix_nanos(1_795_500_455_000_000_000);
        let mut header = StandardHeader::new(b"VENUE", b"GAPLESS", seq, now, TimePrecision::Millis);
        header.poss_dup = poss_dup;
        header.orig_sending_time = poss_dup.then_some(now);
        let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", msg_type);
        encoder.header(&header);
        encoder.field(58, b"x");
        encoder.finish().unwrap().to_vec()
    }

    fn stage(plan: FaultPlan) -> FaultStage {
        let config = FaultConfig {
            plan,
            ..FaultConfig::none()
        };
        FaultStage::new(&config, SessionDictionary::new(Version::Fix44))
    }

    fn drain(stage: &mut FaultStage) -> Vec<Wire> {
        core::iter::from_fn(|| stage.pop()).collect()
    }

    const DROP_ALL: FaultPlan = FaultPlan {
        drop: 1.0,
        ..FaultPlan::NONE
    };

    #[test]
    fn drop_all_spares_logon_admin_and_resends() {
        let mut stage = stage(DROP_ALL);
        let logon = message(b"A", 1, false);
        let heartbeat = message(b"0", 2, false);
        let report = message(b"8", 3, false);
        let resent = message(b"8", 3, true);
        for bytes in [&logon, &heartbeat, &report, &resent] {
            stage.push(bytes);
        }
        assert_eq!(
            drain(&mut stage),
            [Wire::Data(logon), Wire::Data(heartbeat), Wire::Data(resent)]
        );
        assert_eq!(stage.counts().dropped, 1);
    }

    #[test]
    fn fault_resends_lets_the_plan_harm_possdup() {
        let config = FaultConfig {
            plan: DROP_ALL,
            fault_resends: true,
            ..FaultConfig::none()
        };
        let mut stage = FaultStage::new(&config, SessionDictionary::new(Version::Fix44));
        stage.push(&message(b"8", 3, true));
        assert_eq!(drain(&mut stage), []);
        assert_eq!(stage.counts().dropped, 1);
    }

    #[test]
    fn gap_at_drops_first_send_only() {
        let config = FaultConfig {
            gap_at: vec![3],
            ..FaultConfig::none()
        };
        let mut stage = FaultStage::new(&config, SessionDictionary::new(Version::Fix44));
        let mut batch = message(b"8", 2, false);
        batch.extend(message(b"8", 3, false));
        batch.extend(message(b"8", 4, false));
        stage.push(&batch);
        let resent = message(b"8", 3, true);
        stage.push(&resent);
        assert_eq!(
            drain(&mut stage),
            [
                Wire::Data(message(b"8", 2, false)),
                Wire::Data(message(b"8", 4, false)),
                Wire::Data(resent),
            ]
        );
        assert_eq!(stage.counts().forced_gaps, 1);
    }

    #[test]
    fn gap_at_never_drops_logon() {
        let config = FaultConfig {
            gap_at: vec![1],
            ..FaultConfig::none()
        };
        let mut stage = FaultStage::new(&config, SessionDictionary::new(Version::Fix44));
        stage.push(&message(b"A", 1, false));
        assert_eq!(drain(&mut stage), [Wire::Data(message(b"A", 1, false))]);
    }

    #[test]
    fn cut_after_cuts_once_at_next_application_message() {
        let mut stage = stage(FaultPlan::NONE);
        stage.cut_after(5);
        stage.push(&message(b"8", 5, false));
        stage.push(&message(b"0", 6, false));
        stage.push(&message(b"8", 7, false));
        assert_eq!(
            drain(&mut stage),
            [
                Wire::Data(message(b"8", 5, false)),
                Wire::Data(message(b"0", 6, false)),
                Wire::Cut,
            ]
        );
        assert_eq!(stage.counts().forced_disconnects, 1);
        stage.reset();
        stage.push(&message(b"8", 8, false));
        assert_eq!(drain(&mut stage), [Wire::Data(message(b"8", 8, false))]);
    }
}
