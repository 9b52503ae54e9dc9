//! The sequence checker as the runtime drives it, behind one small trait, so that both modes
//! run either backend: the software checker (`gapless_seqcheck::Checker`, the default) or, with
//! the `hwsim` feature, the verilated RTL of `hw/rtl` shadowed by the software checker
//! ([`crate::hwsim`]).
//!
//! The runtime frames each connection's bytes itself and asks the checker for a verdict on each
//! framed item, a message or a run of garbled bytes, with the item's offset in the connection's
//! stream (0 at the start of every connection). It sends [`Command::reset`] for each new
//! connection of a session, and arms and disarms the checker as the session's state says. The
//! session remains the authority on sequence numbers whatever the checker says: a verdict only
//! decides whether a message may take the fast path.

use gapless_codec::{Limits, Message};
use gapless_seqcheck::{Checker, Command, Descriptor};

use crate::config::CheckerPlan;
use crate::gateway::StartError;

/// What the runtime needs from a sequence checker. The descriptors follow gapless-seqcheck's
/// contract.
pub trait SequenceChecker: std::fmt::Debug {
    /// Applies a command from the recovery side; a refused command changes nothing.
    fn command(&mut self, command: &Command);

    /// Whether `session` is armed, and what it expects.
    fn state(&self, session: u16) -> Option<(bool, u64)>;

    /// The verdict on a message the runtime framed at `stream_offset`. `None` if the checker
    /// has no verdict on it (an unknown session, or a checker that needs bytes beyond this
    /// message to decide): the message then does not take the fast path.
    fn check_message(
        &mut self,
        session: u16,
        stream_offset: u64,
        message: &Message<'_>,
        timestamp: u64,
    ) -> Option<Descriptor>;

    /// The verdict on `bytes` at `stream_offset`, which the runtime's framing found garbled.
    /// `None` as for [`SequenceChecker::check_message`].
    fn check_garbled(
        &mut self,
        session: u16,
        stream_offset: u64,
        bytes: &[u8],
        timestamp: u64,
    ) -> Option<Descriptor>;
}

impl SequenceChecker for Checker {
    fn command(&mut self, command: &Command) {
        // Refused commands (an unknown session, Arm with 0) change nothing, as in the RTL.
        let _ = Checker::command(self, command);
    }

    fn state(&self, session: u16) -> Option<(bool, u64)> {
        Checker::state(self, session)
    }

    fn check_message(
        &mut self,
        session: u16,
        stream_offset: u64,
        message: &Message<'_>,
        timestamp: u64,
    ) -> Option<Descriptor> {
        Checker::check_message(self, session, stream_offset, message, timestamp)
    }

    fn check_garbled(
        &mut self,
        session: u16,
        stream_offset: u64,
        bytes: &[u8],
        timestamp: u64,
    ) -> Option<Descriptor> {
        Checker::check_garbled(self, session, stream_offset, bytes.len(), timestamp)
    }
}

/// The checker `plan` names, for sessions framed with `limits` (one per session, by index),
/// every session disarmed.
pub(crate) fn build(
    plan: &CheckerPlan,
    limits: &[(&str, Limits)],
) -> Result<Box<dyn SequenceChecker>, StartError> {
    let count = u16::try_from(limits.len())
        .map_err(|_| StartError::Invalid("more than 65,535 sessions".into()))?;
    let mut checker: Box<dyn SequenceChecker> = match plan {
        CheckerPlan::Software => Box::new(Checker::new(count, Limits::default())),
        #[cfg(feature = "hwsim")]
        CheckerPlan::Hwsim(report) => {
            Box::new(crate::hwsim::RtlChecker::new(limits, report.clone())?)
        }
    };
    for index in 0..count {
        checker.command(&Command::disarm(index));
    }
    Ok(checker)
}
